//! [`Archive`]: a full backup or a differential, opened as one stream of the full archive.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use vcdiff::{Decoder, ForwardSource, SeekableSource, SourceRead};

use crate::error::{DeltaError, Error, Result};
use crate::name;
use crate::pipe::{self, Pipe};

/// Offset of the ustar magic in a tar header.
const USTAR_AT: usize = 257;
/// Bytes looked at to recognise the content.
const PEEK: usize = 512;
/// Bytes of a differential read ahead to parse its header (app headers are short).
const HEADER_PEEK: usize = 4096;

/// How to open differentials.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The full a differential was made against; default: found by the naming rule.
    pub base: Option<PathBuf>,
    /// Source window of the VCDIFF decoder, in bytes.
    pub source_window: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            base: None,
            source_window: vcdiff::DEFAULT_SOURCE_WINDOW,
        }
    }
}

/// What the (reconstructed) archive holds, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A VMA archive (QEMU guests).
    Vma,
    /// A tar archive (LXC and OpenVZ containers).
    Tar,
    /// Something else.
    Unknown,
}

impl Content {
    /// Recognises the content from its first bytes (up to 512).
    pub fn sniff(head: &[u8]) -> Content {
        if head.starts_with(&vma::format::HEADER_MAGIC) {
            Content::Vma
        } else if head.get(USTAR_AT..USTAR_AT + 5) == Some(b"ustar") {
            Content::Tar
        } else {
            Content::Unknown
        }
    }

    /// Lower-case name: `vma`, `tar`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Content::Vma => "vma",
            Content::Tar => "tar",
            Content::Unknown => "unknown",
        }
    }
}

/// What is known about a differential and its full.
#[derive(Debug, Clone)]
pub struct DiffInfo {
    /// The full used as the base.
    pub base: PathBuf,
    /// True when the base was found by the naming rule rather than given.
    pub base_by_name: bool,
    /// Outer compression of the full.
    pub base_format: unpack::Format,
    /// xdelta3's application header, if the delta has one.
    pub app_header: Option<vcdiff::AppHeader>,
    /// Secondary compressor declared by the delta.
    pub secondary: Option<vcdiff::SecondaryId>,
}

enum Stream {
    Plain(Peeked<unpack::Input>),
    Delta(Pipe),
}

/// A full backup or a differential, read as the full archive it stands for.
///
/// [`Archive::open`] undoes the outer compression; when the content is a VCDIFF delta it finds
/// the full (by the naming rule or [`OpenOptions::base`]), undoes the full's compression too,
/// and decodes on a worker thread: unpack(full) → vcdiff(unpack(diff)) in one pass, nothing
/// written to disk. Reading yields the VMA or tar archive; [`Archive::content`] says which.
pub struct Archive {
    name: String,
    format: unpack::Format,
    compressed_len: Option<u64>,
    counter: Arc<AtomicU64>,
    diff: Option<DiffInfo>,
    content: Content,
    head: Vec<u8>,
    head_pos: usize,
    early_error: bool,
    stream: Stream,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("diff", &self.diff)
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

impl Archive {
    /// Opens `path` (or standard input for `-`).
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Archive> {
        let input = unpack::open(path)?;
        let name = input.name().to_owned();
        let format = input.format();
        let compressed_len = input.compressed_len();
        let counter = input.counter();
        let mut input = Peeked::new(input);
        // A read error here comes back on the next read (the input repeats its errors), where
        // the reader of the archive reports it in context.
        let early_error = input.fill(4).is_err();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let (stream, diff) = if vcdiff::sniff(input.head()) == Some(vcdiff::DeltaKind::Vcdiff) {
            let (pipe, info) = open_delta(path, &name, input, opts, &warnings)?;
            (Stream::Delta(pipe), Some(info))
        } else {
            (Stream::Plain(input), None)
        };
        let mut archive = Archive {
            name,
            format,
            compressed_len,
            counter,
            diff,
            content: Content::Unknown,
            head: Vec::new(),
            head_pos: 0,
            early_error,
            stream,
            warnings,
        };
        // Recognise the content from its first block, then serve that block again.
        let mut head = vec![0u8; PEEK];
        let mut n = 0;
        while n < PEEK {
            match archive.stream_read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if archive.diff.is_some() => {
                    return Err(read_err(
                        &archive.name,
                        "cannot reconstruct the start of the archive",
                        e,
                    ));
                }
                Err(_) => {
                    archive.early_error = true;
                    break;
                }
            }
        }
        head.truncate(n);
        archive.content = Content::sniff(&head);
        archive.head = head;
        Ok(archive)
    }

    fn stream_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(p) => p.read(buf),
            Stream::Delta(p) => p.read(buf),
        }
    }

    /// The input as named by the user (`<stdin>` for `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The outer compression of the file given (the differential's, for a differential).
    pub fn compression(&self) -> unpack::Format {
        self.format
    }

    /// The compressed length of the file given, when known.
    pub fn compressed_len(&self) -> Option<u64> {
        self.compressed_len
    }

    /// Compressed bytes of the file given consumed so far.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.counter)
    }

    /// The differential's details, or `None` for a full.
    pub fn diff(&self) -> Option<&DiffInfo> {
        self.diff.as_ref()
    }

    /// What the archive holds.
    pub fn content(&self) -> Content {
        self.content
    }

    /// True when reading failed within the first 512 bytes; reading the archive returns that
    /// error once the bytes before it have been read.
    pub fn failed_early(&self) -> bool {
        self.early_error
    }

    /// The first bytes of the (reconstructed) archive, up to 512.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Non-fatal findings: trailing data after a compressed stream, a differential made against
    /// a differently named full. Complete once the archive has been read to its end.
    pub fn warnings(&self) -> Vec<String> {
        let mut all = self
            .warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Stream::Plain(p) = &self.stream {
            all.extend(p.inner.warnings());
        }
        all
    }
}

impl Read for Archive {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head_pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.head_pos);
            buf[..n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            return Ok(n);
        }
        self.stream_read(buf)
    }
}

fn read_err(name: &str, step: &'static str, source: io::Error) -> Error {
    Error::Read {
        name: name.to_owned(),
        step,
        source,
    }
}

/// Finds and opens the base, starts the decoder on a thread.
fn open_delta(
    path: &Path,
    name: &str,
    delta: Peeked<unpack::Input>,
    opts: &OpenOptions,
    warnings: &Arc<Mutex<Vec<String>>>,
) -> Result<(Pipe, DiffInfo)> {
    let mut delta = delta;
    // The header is parsed from the first bytes before the base is opened, so that a missing
    // base can be reported with the name the differential was made against.
    delta
        .fill(HEADER_PEEK)
        .map_err(|source| read_err(name, "cannot read the vcdiff header", source))?;
    let header = match Decoder::new(vcdiff::NoSource, delta.head(), vcdiff::Options::default()) {
        Ok(d) => Some(d.header().clone()),
        // An app header longer than the peek: known once the real decoder starts.
        Err(vcdiff::Error::Truncated { .. }) => None,
        Err(source) => {
            return Err(Error::Delta {
                name: name.to_owned(),
                source,
            });
        }
    };
    let app_header = header.as_ref().and_then(|h| h.app_header.clone());
    let made_against = made_against(app_header.as_ref());
    let (base, base_by_name) = match &opts.base {
        Some(b) => (b.clone(), false),
        None => {
            let found = (path.as_os_str() != "-")
                .then(|| name::full_path_of(path))
                .flatten();
            let Some(found) = found else {
                return Err(Error::NoBase {
                    diff: name.to_owned(),
                    made_against,
                });
            };
            if !found.exists() {
                return Err(Error::BaseMissing {
                    diff: name.to_owned(),
                    base: found,
                    made_against,
                });
            }
            (found, true)
        }
    };
    let (source, base_format) = open_source(&base, warnings)?;
    let decoder = Decoder::new(
        source,
        Tap::new(delta, Arc::clone(warnings)),
        vcdiff::Options::default().source_window(opts.source_window),
    )
    .map_err(|source| Error::Delta {
        name: name.to_owned(),
        source,
    })?;
    let app_header = decoder.header().app_header.clone();
    let base_name = base.display().to_string();
    if let (Some(made), Some(given)) = (&made_against, base.file_name()) {
        let given = given.to_string_lossy();
        if name::strip_compression(made) != name::strip_compression(&given) {
            push(
                warnings,
                format!(
                    "the differential was made against {made} (its vcdiff app header), but the base used is {base_name}"
                ),
            );
        }
    }
    let info = DiffInfo {
        base,
        base_by_name,
        base_format,
        app_header,
        secondary: decoder.header().secondary,
    };
    let delta_name = name.to_owned();
    let pipe = pipe::spawn(&format!("vcdiff {name}"), move |w| {
        decode_into(decoder, w, &delta_name, &base_name, made_against, true)
    })
    .map_err(|source| read_err(name, "cannot start the decoder thread", source))?;
    Ok((pipe, info))
}

/// The source file named in an app header, when it names a file: not stdin (`-`), and not a
/// bare number, which is what a pipe source (`-s <(zstd -dc FULL)`, `/dev/fd/63`) leaves.
pub(crate) fn made_against(app: Option<&vcdiff::AppHeader>) -> Option<String> {
    app.and_then(|a| a.source_name.clone())
        .filter(|s| !s.is_empty() && s != "-" && !s.bytes().all(|b| b.is_ascii_digit()))
}

/// Decodes window by window into `w`, wrapping decoder errors in a [`DeltaError`].
pub(crate) fn decode_into<S: SourceRead, D: Read>(
    mut decoder: Decoder<S, D>,
    w: &mut dyn io::Write,
    delta: &str,
    base: &str,
    made_against: Option<String>,
    backup: bool,
) -> io::Result<()> {
    loop {
        match decoder.next_window() {
            Ok(Some(bytes)) => w.write_all(bytes)?,
            Ok(None) => return w.flush(),
            Err(source) => return Err(delta_io_error(source, delta, base, made_against, backup)),
        }
    }
}

/// Wraps a decoder error in a [`DeltaError`] inside an [`io::Error`] of a fitting kind.
pub(crate) fn delta_io_error(
    source: vcdiff::Error,
    delta: &str,
    base: &str,
    made_against: Option<String>,
    backup: bool,
) -> io::Error {
    let kind = match &source {
        vcdiff::Error::DeltaIo { source, .. }
        | vcdiff::Error::SourceIo { source, .. }
        | vcdiff::Error::OutputIo { source, .. } => source.kind(),
        vcdiff::Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(
        kind,
        DeltaError {
            delta: delta.to_owned(),
            base: base.to_owned(),
            made_against,
            backup,
            source,
        },
    )
}

/// Opens the full as the decoder's source: a plain file with random access, a compressed one
/// forward only through the source window.
fn open_source(
    base: &Path,
    warnings: &Arc<Mutex<Vec<String>>>,
) -> Result<(Box<dyn SourceRead + Send>, unpack::Format)> {
    let input = unpack::open(base)?;
    let format = input.format();
    let name = input.name().to_owned();
    let mut input = Peeked::new(input);
    input
        .fill(4)
        .map_err(|source| read_err(&name, "cannot read the start", source))?;
    if vcdiff::sniff(input.head()) == Some(vcdiff::DeltaKind::Vcdiff) {
        return Err(Error::BaseIsDifferential { base: name });
    }
    if format == unpack::Format::Plain && base.as_os_str() != "-" {
        let file = File::open(base).map_err(|source| Error::Io {
            op: "open",
            path: base.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|m| m.is_file()) {
            return Ok((Box::new(SeekableSource(file)), format));
        }
    }
    Ok((
        Box::new(ForwardSource(Tap::new(input, Arc::clone(warnings)))),
        format,
    ))
}

fn push(warnings: &Arc<Mutex<Vec<String>>>, w: String) {
    warnings
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(w);
}

/// An [`unpack::Input`] with its first bytes read ahead (to recognise the content) and served
/// again.
pub(crate) struct Peeked<R> {
    head: Vec<u8>,
    pos: usize,
    pub(crate) inner: R,
}

impl<R: Read> Peeked<R> {
    pub(crate) fn new(inner: R) -> Self {
        Peeked {
            head: Vec::new(),
            pos: 0,
            inner,
        }
    }

    /// Reads ahead until `n` bytes are held or the input ends.
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<()> {
        let mut buf = [0u8; 64];
        while self.head.len() < n {
            let want = (n - self.head.len()).min(buf.len());
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(k) => self.head.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Collects an input's warnings when it reaches its end (the input itself moves into the
/// decoder thread).
pub(crate) struct Tap {
    input: Peeked<unpack::Input>,
    warnings: Arc<Mutex<Vec<String>>>,
    collected: bool,
}

impl Tap {
    pub(crate) fn new(input: Peeked<unpack::Input>, warnings: Arc<Mutex<Vec<String>>>) -> Self {
        Tap {
            input,
            warnings,
            collected: false,
        }
    }
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.collected {
            self.collected = true;
            let name = self.input.inner.name().to_owned();
            for w in self.input.inner.warnings() {
                push(&self.warnings, format!("{name}: {w}"));
            }
        }
        Ok(n)
    }
}
