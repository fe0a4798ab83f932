//! Extraction to a directory, compatible with `vma extract` (spec §7.4 and §8).
//!
//! Configs become `DIR/<name>`; each selected disk is written to `DIR/tmp-disk-<devname>.raw` and renamed to
//! `DIR/disk-<devname>.raw` only once the whole archive has been read and proven complete; a vmstate device
//! becomes `DIR/vmstate.bin`. Zero blocks stay holes unless [`ExtractOptions::write_zeroes`] is set. On any
//! failure everything this run created is removed again.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::BLOCK_SIZE;
use crate::error::{Error, Result};
use crate::read::{Device, Progress, Reader, Summary};

/// Largest contiguous run buffered before it is written (fewer, larger writes).
const COALESCE_LIMIT: usize = 1 << 20;

/// What to extract and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Devices to extract by name (`drive-scsi0`, or the short form `scsi0`); `None` extracts all.
    pub drives: Option<Vec<String>>,
    /// Write zero blocks explicitly instead of leaving holes.
    pub write_zeroes: bool,
    /// Allow an existing directory and overwrite existing files.
    pub force: bool,
}

/// A config file that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenConfig {
    /// Config name.
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// A disk (or vmstate) image that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDisk {
    /// Device id in the archive.
    pub dev_id: u8,
    /// Device name.
    pub name: String,
    /// Final path of the image.
    pub path: PathBuf,
    /// Image size in bytes (the device size).
    pub size: u64,
    /// Bytes of stored (non-zero) blocks written.
    pub stored_bytes: u64,
    /// Bytes that were zero blocks in the archive (holes unless zeroes were written).
    pub sparse_bytes: u64,
}

/// The result of a successful extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Configs written, in slot order.
    pub configs: Vec<WrittenConfig>,
    /// Images written, in dev_id order.
    pub disks: Vec<WrittenDisk>,
    /// Totals of the whole archive.
    pub summary: Summary,
}

/// Extracts the configs and the selected devices of `reader` into `dir`.
///
/// The whole stream is read and verified even when only some drives are selected.
pub fn extract_to_dir<R: Read>(
    reader: Reader<R>,
    dir: &Path,
    opts: &ExtractOptions,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let selected = select_devices(&reader.header().devices, opts.drives.as_deref())?;
    let mut created = Created::default();
    match fs::create_dir(dir) {
        Ok(()) => created.dir = Some(dir.to_path_buf()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && opts.force && dir.is_dir() => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(Error::TargetExists {
                path: dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(Error::File {
                op: "create directory",
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    let result = run(reader, dir, opts, &selected, progress, &mut created);
    if result.is_err() {
        created.remove();
    }
    result
}

/// Everything this run created, for cleanup on failure.
#[derive(Debug, Default)]
struct Created {
    dir: Option<PathBuf>,
    files: Vec<PathBuf>,
}

impl Created {
    fn remove(&self) {
        // Best effort: the original error is what the caller needs to see.
        for f in self.files.iter().rev() {
            let _ = fs::remove_file(f);
        }
        if let Some(d) = &self.dir {
            let _ = fs::remove_dir(d);
        }
    }
}

fn run<R: Read>(
    mut reader: Reader<R>,
    dir: &Path,
    opts: &ExtractOptions,
    selected: &[Device],
    progress: &mut dyn Progress,
    created: &mut Created,
) -> Result<Report> {
    let mut configs = Vec::new();
    for c in &reader.header().configs {
        let path = dir.join(&c.name);
        let tmp = dir.join(format!(".tmp-config-{}", c.name));
        let mut f = create_file(&tmp, opts.force, created)?;
        f.write_all(&c.data).map_err(file_err("write", &tmp))?;
        drop(f);
        check_absent(&path, opts.force)?;
        fs::rename(&tmp, &path).map_err(file_err("rename", &tmp))?;
        created.files.pop();
        created.files.push(path.clone());
        configs.push(WrittenConfig {
            name: c.name.clone(),
            path,
            size: c.data.len() as u64,
        });
    }

    let mut sinks: [Option<Sink>; 256] = std::array::from_fn(|_| None);
    for d in selected {
        let (tmp, path) = image_paths(dir, d);
        check_absent(&path, opts.force)?;
        let file = create_file(&tmp, opts.force, created)?;
        file.set_len(d.size).map_err(file_err("resize", &tmp))?;
        sinks[usize::from(d.id)] = Some(Sink {
            device: d.clone(),
            file,
            tmp,
            path,
            pending_at: 0,
            pending: Vec::new(),
            stored_bytes: 0,
        });
    }

    let total = reader.header().total_clusters();
    let mut extents = 0;
    while let Some(c) = reader.next_cluster()? {
        if let Some(sink) = sinks[usize::from(c.dev_id)].as_mut() {
            let size = sink.device.size;
            if opts.write_zeroes {
                for (off, block) in c.blocks(size) {
                    let zeros = [0u8; BLOCK_SIZE as usize];
                    let len = (size - off).min(BLOCK_SIZE) as usize;
                    sink.push(off, block.unwrap_or(&zeros[..len]))?;
                }
            } else {
                for (off, run) in c.runs(size) {
                    sink.push(off, run)?;
                }
            }
            sink.stored_bytes += c.runs(size).map(|(_, r)| r.len() as u64).sum::<u64>();
        }
        let summary = reader.summary();
        if summary.extents != extents {
            extents = summary.extents;
            progress.clusters(summary.clusters, total);
        }
    }
    for sink in sinks.iter_mut().flatten() {
        sink.flush()?;
    }
    let summary = reader.finish()?;
    progress.clusters(summary.clusters, total);

    let mut disks = Vec::new();
    for sink in sinks.into_iter().flatten() {
        sink.file.sync_all().map_err(file_err("sync", &sink.tmp))?;
        fs::rename(&sink.tmp, &sink.path).map_err(file_err("rename", &sink.tmp))?;
        created.files.retain(|f| f != &sink.tmp);
        created.files.push(sink.path.clone());
        disks.push(WrittenDisk {
            dev_id: sink.device.id,
            name: sink.device.name.clone(),
            path: sink.path,
            size: sink.device.size,
            stored_bytes: sink.stored_bytes,
            sparse_bytes: sink.device.size - sink.stored_bytes.min(sink.device.size),
        });
    }
    Ok(Report {
        configs,
        disks,
        summary,
    })
}

/// The temporary and final paths of a device image.
fn image_paths(dir: &Path, d: &Device) -> (PathBuf, PathBuf) {
    if d.is_vmstate() {
        (dir.join("tmp-vmstate.bin"), dir.join("vmstate.bin"))
    } else {
        (
            dir.join(format!("tmp-disk-{}.raw", d.name)),
            dir.join(format!("disk-{}.raw", d.name)),
        )
    }
}

/// The devices to extract, in dev_id order.
fn select_devices(devices: &[Device], drives: Option<&[String]>) -> Result<Vec<Device>> {
    let Some(drives) = drives else {
        return Ok(devices.to_vec());
    };
    let mut chosen = Vec::new();
    for want in drives {
        let found = devices
            .iter()
            .find(|d| d.name == *want || d.name.strip_prefix("drive-") == Some(want.as_str()));
        match found {
            Some(d) => chosen.push(d.clone()),
            None => {
                return Err(Error::UnknownDrive {
                    name: want.clone(),
                    available: devices.iter().map(|d| d.name.clone()).collect(),
                });
            }
        }
    }
    chosen.sort_by_key(|d| d.id);
    chosen.dedup_by_key(|d| d.id);
    Ok(chosen)
}

/// Fails if `path` exists and overwriting is not allowed.
fn check_absent(path: &Path, force: bool) -> Result<()> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(Error::TargetExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Creates a new file (truncating an existing one only with `force`) and records it for cleanup.
fn create_file(path: &Path, force: bool, created: &mut Created) -> Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    match o.open(path) {
        Ok(f) => {
            created.files.push(path.to_path_buf());
            Ok(f)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(Error::TargetExists {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(Error::File {
            op: "create",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn file_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::File {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// An open output image with a buffer that coalesces adjacent runs into larger positioned writes.
struct Sink {
    device: Device,
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    pending_at: u64,
    pending: Vec<u8>,
    stored_bytes: u64,
}

impl Sink {
    /// Queues `bytes` for offset `at`, writing out the buffer when the run is not contiguous or is full.
    fn push(&mut self, at: u64, bytes: &[u8]) -> Result<()> {
        let contiguous = self.pending_at + self.pending.len() as u64 == at;
        if !self.pending.is_empty() && (!contiguous || self.pending.len() >= COALESCE_LIMIT) {
            self.flush()?;
        }
        if self.pending.is_empty() {
            self.pending_at = at;
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes out the buffered run.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.pending, self.pending_at)
            .map_err(file_err("write", &self.tmp))?;
        self.pending.clear();
        Ok(())
    }
}
