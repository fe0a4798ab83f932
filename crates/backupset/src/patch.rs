//! Applying a chain of deltas (VCDIFF or rdiff, sniffed) to a base file, as one stream.
//!
//! `base → delta 1 → delta 2 → …`: each delta's output is the next delta's base. VCDIFF
//! decoders read their source forward, so they chain as streams, each on its own thread. rdiff
//! deltas need random access to their basis: a plain base file is used as is, a chain of rdiff
//! deltas is composed in memory ([`vcdiff::rdiff::Patched`]) so no intermediate is written, and
//! only a stream (a compressed base, or a VCDIFF result) feeding an rdiff delta is spooled to
//! an unlinked temporary file, which the caller is told about.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use vcdiff::{Decoder, DeltaKind, ForwardSource, SeekableSource, SourceRead};

use crate::error::{Error, Result};
use crate::open::{Peeked, decode_into, delta_io_error};
use crate::pipe;

/// How to apply a chain.
#[derive(Debug, Clone)]
pub struct PatchOptions {
    /// Source window of the VCDIFF decoders, in bytes.
    pub source_window: usize,
    /// Where a stream that an rdiff delta needs random access to is spooled.
    pub spool_dir: PathBuf,
    /// Most literal bytes an rdiff delta before the last may hold in memory while it is composed
    /// ([`default_rdiff_memory`] is a sensible value).
    pub rdiff_memory: u64,
}

/// Half of the memory available now (`MemAvailable` in `/proc/meminfo`), at least 256 MiB; 1 GiB
/// when that cannot be read.
pub fn default_rdiff_memory() -> u64 {
    const MIB: u64 = 1 << 20;
    let available_kib = fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    match available_kib {
        Some(kib) => (kib.saturating_mul(1024) / 2).max(256 * MIB),
        None => 1024 * MIB,
    }
}

/// One applied delta.
#[derive(Debug, Clone)]
pub struct Step {
    /// The delta as named by the user.
    pub delta: String,
    /// Its format.
    pub kind: DeltaKind,
    /// Outer compression of the delta file.
    pub compression: unpack::Format,
    /// For VCDIFF, the source named in its app header.
    pub made_against: Option<String>,
}

/// Something the caller should tell the user.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A stream is being spooled to a temporary file because an rdiff delta needs random
    /// access to it.
    Spooling {
        /// What is spooled (the base, or the result of the previous delta).
        what: String,
        /// The directory of the (already unlinked) temporary file.
        dir: PathBuf,
    },
    /// A non-fatal finding, e.g. the first VCDIFF delta names another source file.
    Warning(String),
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

enum Current {
    Stream(Box<dyn Read + Send>),
    Seekable(Box<dyn ReadSeek>),
}

/// A prepared chain: read [`Chain::reader`] to get the final result.
pub struct Chain {
    /// The patched output.
    pub reader: Box<dyn Read + Send>,
    /// The deltas, in order.
    pub steps: Vec<Step>,
}

/// Opens `base` and every delta, and builds the chain. Errors name the file and the step;
/// decoding errors surface while reading [`Chain::reader`].
pub fn chain(
    base: &Path,
    deltas: &[PathBuf],
    opts: &PatchOptions,
    notify: &mut dyn FnMut(Notice),
) -> Result<Chain> {
    let base_input = unpack::open(base)?;
    let base_name = base_input.name().to_owned();
    let mut current = if base_input.format() == unpack::Format::Plain && base.as_os_str() != "-" {
        drop(base_input);
        let file = File::open(base).map_err(|source| Error::Io {
            op: "open",
            path: base.to_path_buf(),
            source,
        })?;
        Current::Seekable(Box::new(file))
    } else {
        Current::Stream(Box::new(base_input))
    };
    let mut current_name = base_name;
    let mut steps = Vec::new();
    let last = deltas.len().saturating_sub(1);
    for (i, path) in deltas.iter().enumerate() {
        let input = unpack::open(path)?;
        let name = input.name().to_owned();
        let compression = input.format();
        let mut input = Peeked::new(input);
        input.fill(4).map_err(|source| Error::Read {
            name: name.clone(),
            step: "cannot read the start",
            source,
        })?;
        let kind = vcdiff::sniff(input.head());
        let made_against;
        current = match kind {
            Some(DeltaKind::Vcdiff) => {
                let source: Box<dyn SourceRead + Send> = match current {
                    Current::Stream(r) => Box::new(ForwardSource(r)),
                    Current::Seekable(f) => Box::new(SeekableSource(f)),
                };
                let decoder = Decoder::new(
                    source,
                    input,
                    vcdiff::Options::default().source_window(opts.source_window),
                )
                .map_err(|source| Error::Delta {
                    name: name.clone(),
                    source,
                })?;
                made_against = crate::open::made_against(decoder.header().app_header.as_ref());
                if let (0, Some(made)) = (i, &made_against) {
                    let given = current_name.rsplit('/').next().unwrap_or(&current_name);
                    if crate::name::strip_compression(made) != crate::name::strip_compression(given)
                        && current_name != "/dev/null"
                    {
                        notify(Notice::Warning(format!(
                            "{name} was made against {made} (its vcdiff app header), but the base is {current_name}"
                        )));
                    }
                }
                let (delta, base, made) =
                    (name.clone(), current_name.clone(), made_against.clone());
                let pipe = pipe::spawn(&format!("vcdiff {i}"), move |w| {
                    decode_into(decoder, w, &delta, &base, made, false)
                })
                .map_err(|source| Error::Read {
                    name: name.clone(),
                    step: "cannot start the decoder thread",
                    source,
                })?;
                Current::Stream(Box::new(pipe))
            }
            Some(DeltaKind::Rdiff) => {
                made_against = None;
                let basis: Box<dyn ReadSeek> = match current {
                    Current::Seekable(f) => f,
                    Current::Stream(r) => {
                        notify(Notice::Spooling {
                            what: current_name.clone(),
                            dir: opts.spool_dir.clone(),
                        });
                        Box::new(spool(r, &current_name, &opts.spool_dir)?)
                    }
                };
                let rdiff_err = |source| Error::Delta {
                    name: name.clone(),
                    source,
                };
                if i == last {
                    // The last delta streams: its literals need not be held in memory.
                    let (delta, mut basis) = (input, basis);
                    let (dname, bname) = (name.clone(), current_name.clone());
                    let pipe = pipe::spawn(&format!("rdiff {i}"), move |w| {
                        vcdiff::rdiff::apply(&mut basis, delta, w)
                            .map(drop)
                            .map_err(|e| delta_io_error(e, &dname, &bname, None, false))
                    })
                    .map_err(|source| Error::Read {
                        name: name.clone(),
                        step: "cannot start the patch thread",
                        source,
                    })?;
                    Current::Stream(Box::new(pipe))
                } else {
                    Current::Seekable(Box::new(
                        vcdiff::rdiff::Patched::with_limit(basis, input, opts.rdiff_memory)
                            .map_err(rdiff_err)?,
                    ))
                }
            }
            Some(DeltaKind::RdiffSignature) => {
                return Err(Error::NotADelta {
                    name,
                    what: "this is an rdiff signature (made by `rdiff signature`)",
                });
            }
            _ => {
                return Err(Error::NotADelta {
                    name,
                    what: "neither VCDIFF (xdelta3) nor an rdiff delta",
                });
            }
        };
        steps.push(Step {
            delta: name.clone(),
            kind: kind.unwrap_or(DeltaKind::Vcdiff),
            compression,
            made_against,
        });
        current_name = name;
    }
    let reader: Box<dyn Read + Send> = match current {
        Current::Stream(r) => r,
        Current::Seekable(mut f) => {
            f.seek(SeekFrom::Start(0)).map_err(|source| Error::Read {
                name: current_name,
                step: "cannot rewind",
                source,
            })?;
            Box::new(f)
        }
    };
    Ok(Chain { reader, steps })
}

/// Copies a stream into an unlinked temporary file in `dir` and returns it, rewound.
fn spool(mut r: Box<dyn Read + Send>, what: &str, dir: &Path) -> Result<File> {
    let path = dir.join(format!(
        ".pverescue-spool-{}-{}",
        std::process::id(),
        unique()
    ));
    let io_err = |op, source| Error::Io {
        op,
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io_err("create", e))?;
    // Unlinked at once: nothing is left behind, even if the process is killed.
    fs::remove_file(&path).map_err(|e| io_err("remove", e))?;
    io::copy(&mut r, &mut file).map_err(|source| Error::Read {
        name: what.to_owned(),
        step: "cannot unpack into the temporary file",
        source,
    })?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_err("rewind", e))?;
    Ok(file)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
