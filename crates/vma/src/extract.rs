//! Extraction to a directory compatible with `vma extract` (spec §7.4 and §8), and to other targets.
//!
//! [`extract_to_dir`] writes configs as `DIR/<name>`; each selected disk is written to
//! `DIR/tmp-disk-<devname>.raw` and renamed to `DIR/disk-<devname>.raw` only once the whole archive has
//! been read and proven complete; a vmstate device becomes `DIR/vmstate.bin`. Zero blocks stay holes
//! unless [`ExtractOptions::write_zeroes`] is set. On any failure everything this run created is removed
//! again.
//!
//! [`extract`] generalises this with [`Outputs`]: each disk may instead go to a [`Target`] of its own,
//! in the same single pass over the archive:
//!
//! - [`Target::File`]: a path. A new file is written under a temporary name next to it and renamed
//!   when complete (and removed on failure); an existing regular file is truncated to the disk size and
//!   rewritten in place, zero blocks staying holes.
//! - [`Target::Device`]: an opened block device (a bare-metal restore). Every byte of the disk is
//!   written: zero blocks as zeros, coalesced into large runs and handed to [`ZeroOut`] (the caller's
//!   `BLKZEROOUT`) when given, else written from a zero buffer. Bytes past the disk size are untouched.
//! - [`Target::Skip`]: read and verified, written nowhere.
//!
//! With [`Outputs::digest`], a [`DiskDigest`] of every written disk is computed while writing, so the
//! caller can re-read the target later and compare.
//!
//! # How disks are written
//!
//! The archive is parsed on the calling thread and the disks are written on a second one, a few
//! extents behind ([`Reader::next_extent`] hands over each extent with its own buffer). The stored
//! runs of an extent go out as one vectored write per contiguous stretch, straight from that buffer,
//! with direct I/O (`O_DIRECT`) where the target allows it: no copy into the page cache, no
//! gigabytes of dirty pages on the rescue machine, nothing left for the final sync. Targets that
//! refuse direct I/O (some filesystems) are written through the page cache, with writeback
//! started every 32 MiB; a disk's last partial block always is.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::BLOCK_SIZE;
use crate::digest::{DigestBuilder, DiskDigest};
use crate::error::{Error, Result};
use crate::read::{DATA_ALIGN, Device, Extent, Progress, Reader, Summary};

/// Largest zero run collected before it is zeroed.
const ZERO_COALESCE_LIMIT: u64 = 64 << 20;
/// Most buffers one vectored write takes (`IOV_MAX` on Linux).
const IOV_MAX: usize = 1024;

/// Source of explicit zero writes, aligned for direct I/O like the extent buffer.
#[repr(align(4096))]
struct Zeros([u8; 1 << 20]);
static ZEROS: Zeros = Zeros([0; 1 << 20]);
const _: () = assert!(std::mem::align_of::<Zeros>() == DATA_ALIGN);

/// What to extract and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Devices to extract into the directory by name (`drive-scsi0`, or the short form `scsi0`); `None`
    /// extracts all. Disks with a [`Target`] in [`Outputs::targets`] are written there regardless.
    pub drives: Option<Vec<String>>,
    /// Write zero blocks explicitly instead of leaving holes.
    pub write_zeroes: bool,
    /// Allow an existing directory and overwrite existing files.
    pub force: bool,
}

/// Zeroes `len` bytes at an offset of an opened block device, e.g. with `BLKZEROOUT`. `Ok(false)`
/// means "not possible here": the extractor then writes zeros itself.
pub type ZeroOut = fn(&File, u64, u64) -> std::io::Result<bool>;

/// Where one disk is written.
#[derive(Debug)]
pub enum Target {
    /// Read and verify the disk, write it nowhere.
    Skip,
    /// A new file (temporary name, renamed when complete) or an existing regular file (truncated to
    /// the disk size and rewritten in place).
    File(PathBuf),
    /// An opened block device; it must hold at least the disk size.
    Device {
        /// The device path, for messages.
        path: PathBuf,
        /// The device, opened for writing.
        file: File,
        /// How to zero ranges, when the device can do it better than by writing zeros.
        zero_out: Option<ZeroOut>,
    },
}

/// Where the configs and disks of an archive go.
#[derive(Debug, Default)]
pub struct Outputs {
    /// The directory for configs and for every disk without an entry in `targets` (created; must not
    /// exist unless [`ExtractOptions::force`]). `None`: no configs are written, and every selected
    /// disk needs a target.
    pub dir: Option<PathBuf>,
    /// Per-disk targets by device name (full or short form).
    pub targets: Vec<(String, Target)>,
    /// Compute a [`DiskDigest`] of every written disk while writing it.
    pub digest: bool,
}

/// How a disk was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A new file (in the directory, or at a mapped path).
    NewFile,
    /// An existing regular file, rewritten in place.
    ExistingFile,
    /// A block device.
    Device,
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
    /// What kind of target it went to.
    pub kind: TargetKind,
    /// The digest computed while writing, with [`Outputs::digest`].
    pub digest: Option<DiskDigest>,
}

/// The result of a successful extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Configs written, in slot order.
    pub configs: Vec<WrittenConfig>,
    /// Images written, in dev_id order.
    pub disks: Vec<WrittenDisk>,
    /// Names of the devices read and verified but not written.
    pub skipped: Vec<String>,
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
    let outputs = Outputs {
        dir: Some(dir.to_path_buf()),
        ..Outputs::default()
    };
    extract(reader, opts, outputs, progress)
}

/// Extracts configs and disks of `reader` to the directory and targets of `outputs`, in one pass.
///
/// The whole stream is read and verified whatever is written. On failure, the files this run created
/// are removed; existing files and devices that were being rewritten keep what was written so far.
pub fn extract<R: Read>(
    reader: Reader<R>,
    opts: &ExtractOptions,
    outputs: Outputs,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let plan = plan(
        &reader.header().devices,
        opts,
        outputs.targets,
        outputs.dir.is_some(),
    )?;
    let mut created = Created::default();
    if let Some(dir) = &outputs.dir {
        match fs::create_dir(dir) {
            Ok(()) => created.dir = Some(dir.clone()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && opts.force && dir.is_dir() => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::TargetExists { path: dir.clone() });
            }
            Err(source) => {
                return Err(Error::File {
                    op: "create directory",
                    path: dir.clone(),
                    source,
                });
            }
        }
    }
    let result = run(
        reader,
        outputs.dir.as_deref(),
        opts,
        outputs.digest,
        plan,
        progress,
        &mut created,
    );
    if result.is_err() {
        created.remove();
    }
    result
}

/// Where each device goes, decided before anything is written.
enum Planned {
    Dir,
    Target(Target),
}

/// Matches a device against a requested name (full or short form).
fn matches(d: &Device, want: &str) -> bool {
    d.name == want || d.name.strip_prefix("drive-") == Some(want)
}

fn plan(
    devices: &[Device],
    opts: &ExtractOptions,
    targets: Vec<(String, Target)>,
    have_dir: bool,
) -> Result<Vec<(Device, Planned)>> {
    let selected = select_devices(devices, opts.drives.as_deref())?;
    let mut mapped: Vec<(u8, Target)> = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for (want, target) in targets {
        let Some(d) = devices.iter().find(|d| matches(d, &want)) else {
            return Err(Error::UnknownDrive {
                name: want,
                available: devices.iter().map(|d| d.name.clone()).collect(),
            });
        };
        if mapped.iter().any(|(id, _)| *id == d.id) {
            return Err(Error::InvalidTarget {
                reason: format!("{} is mapped twice", d.name),
            });
        }
        if let Target::File(p) | Target::Device { path: p, .. } = &target {
            if paths.contains(p) {
                return Err(Error::InvalidTarget {
                    reason: format!("{} is the target of two disks", p.display()),
                });
            }
            paths.push(p.clone());
        }
        mapped.push((d.id, target));
    }
    let mut out = Vec::new();
    for d in devices {
        let planned = if let Some(i) = mapped.iter().position(|(id, _)| *id == d.id) {
            Planned::Target(mapped.swap_remove(i).1)
        } else if selected.iter().any(|s| s.id == d.id) {
            if !have_dir {
                return Err(Error::InvalidTarget {
                    reason: format!("{} has no target and no directory was given", d.name),
                });
            }
            Planned::Dir
        } else {
            Planned::Target(Target::Skip)
        };
        out.push((d.clone(), planned));
    }
    Ok(out)
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
    dir: Option<&Path>,
    opts: &ExtractOptions,
    digest: bool,
    plan: Vec<(Device, Planned)>,
    progress: &mut dyn Progress,
    created: &mut Created,
) -> Result<Report> {
    let mut configs = Vec::new();
    let config_dir = dir.map(|d| (d, &reader.header().configs));
    for (dir, c) in config_dir
        .iter()
        .flat_map(|(d, cs)| cs.iter().map(move |c| (*d, c)))
    {
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

    let mut sinks: Sinks = std::array::from_fn(|_| None);
    let mut skipped = Vec::new();
    for (d, planned) in plan {
        let sink = match planned {
            Planned::Target(Target::Skip) => {
                skipped.push(d.name.clone());
                continue;
            }
            Planned::Dir => {
                let dir = dir.ok_or_else(|| Error::InvalidTarget {
                    reason: format!("{} has no target and no directory was given", d.name),
                })?;
                let (tmp, path) = image_paths(dir, &d);
                check_absent(&path, opts.force)?;
                let file = create_file(&tmp, opts.force, created)?;
                file.set_len(d.size).map_err(file_err("resize", &tmp))?;
                Sink::new(d, file, tmp, Some(path), TargetKind::NewFile, None)
            }
            Planned::Target(Target::File(path)) => file_sink(d, path, created)?,
            Planned::Target(Target::Device {
                path,
                mut file,
                zero_out,
            }) => {
                let size = file
                    .seek(SeekFrom::End(0))
                    .map_err(file_err("find the size of", &path))?;
                if size < d.size {
                    return Err(Error::TargetTooSmall {
                        disk: d.name.clone(),
                        path,
                        size,
                        needed: d.size,
                    });
                }
                Sink::new(d, file, path, None, TargetKind::Device, zero_out)
            }
        };
        let mut sink = sink;
        sink.explicit_zeros = sink.kind == TargetKind::Device || opts.write_zeroes;
        if digest {
            sink.digest = Some(DigestBuilder::new(sink.device.size));
        }
        let id = usize::from(sink.device.id);
        sinks[id] = Some(sink);
    }

    let total = reader.header().total_clusters();
    let sinks = pipeline(&mut reader, sinks, total, progress)?;
    let summary = reader.finish()?;
    progress.clusters(summary.clusters, total);

    let mut disks = Vec::new();
    for mut sink in sinks.into_iter().flatten() {
        sink.finish_writes()?;
        sink.file
            .sync_all()
            .map_err(file_err("sync", &sink.writing))?;
        let path = match &sink.rename_to {
            Some(path) => {
                fs::rename(&sink.writing, path).map_err(file_err("rename", &sink.writing))?;
                created.files.retain(|f| f != &sink.writing);
                created.files.push(path.clone());
                path.clone()
            }
            None => sink.writing.clone(),
        };
        disks.push(WrittenDisk {
            dev_id: sink.device.id,
            name: sink.device.name.clone(),
            path,
            size: sink.device.size,
            stored_bytes: sink.stored_bytes,
            sparse_bytes: sink.device.size - sink.stored_bytes.min(sink.device.size),
            kind: sink.kind,
            digest: sink.digest.as_ref().map(DigestBuilder::finish),
        });
    }
    Ok(Report {
        configs,
        disks,
        skipped,
        summary,
    })
}

/// Extents in flight between the reading and the writing thread.
const EXTENTS_IN_FLIGHT: usize = 2;

/// Reads every extent on this thread and writes them out on another, so that parsing (and the
/// decompression feeding it) overlaps the writes. Returns the sinks with everything written.
fn pipeline<R: Read>(
    reader: &mut Reader<R>,
    mut sinks: Sinks,
    total: u64,
    progress: &mut dyn Progress,
) -> Result<Sinks> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Extent>(EXTENTS_IN_FLIGHT);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Extent>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<Sinks> {
            for extent in rx {
                write_extent(&mut sinks, &extent)?;
                // The reader may have finished already; its buffers are then simply freed.
                let _ = done_tx.send(extent);
            }
            for sink in sinks.iter_mut().flatten() {
                sink.flush_zero()?;
            }
            Ok(sinks)
        });
        let read = (|| {
            while let Some(extent) = reader.next_extent()? {
                progress.clusters(reader.summary().clusters, total);
                if tx.send(extent).is_err() {
                    // The writer stopped on an error, which it returns.
                    break;
                }
                while let Ok(extent) = done_rx.try_recv() {
                    reader.recycle(extent);
                }
            }
            Ok(())
        })();
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.and(written)
    })
}

/// The output of each device, by dev_id.
type Sinks = [Option<Sink>; 256];

/// Writes the clusters of one extent to their sinks: the stored runs of each disk gathered into
/// vectored writes, zero blocks queued as zero ranges where they are written explicitly.
fn write_extent(sinks: &mut Sinks, extent: &Extent) -> Result<()> {
    let mut gathers: Vec<Gather<'_>> = Vec::new();
    for c in extent.clusters() {
        let dev = usize::from(c.dev_id);
        let Some(sink) = sinks[dev].as_mut() else {
            continue;
        };
        let size = sink.device.size;
        if let Some(dg) = sink.digest.as_mut() {
            dg.add_cluster(&c);
        }
        if sink.explicit_zeros {
            for (off, block) in c.blocks(size) {
                match block {
                    Some(b) => gather(&mut gathers, dev, off, b),
                    None => sink.push_zero(off, (size - off).min(BLOCK_SIZE))?,
                }
            }
        } else {
            for (off, run) in c.runs(size) {
                gather(&mut gathers, dev, off, run);
            }
        }
        sink.stored_bytes += c.runs(size).map(|(_, r)| r.len() as u64).sum::<u64>();
    }
    for g in &gathers {
        if let Some(sink) = sinks[g.dev].as_mut() {
            sink.write_at(g.at, &g.slices)?;
        }
    }
    Ok(())
}

/// A sink for a [`Target::File`]: a new file under a temporary name, or an existing regular file.
fn file_sink(d: Device, path: PathBuf, created: &mut Created) -> Result<Sink> {
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => {
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(file_err("open", &path))?;
            // Truncating first turns every old byte into a hole, so zero blocks need no writes.
            file.set_len(0).map_err(file_err("truncate", &path))?;
            file.set_len(d.size).map_err(file_err("resize", &path))?;
            Ok(Sink::new(
                d,
                file,
                path,
                None,
                TargetKind::ExistingFile,
                None,
            ))
        }
        Ok(_) => Err(Error::InvalidTarget {
            reason: format!(
                "{} exists and is not a regular file (block devices are opened by the caller)",
                path.display()
            ),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Error::InvalidTarget {
                    reason: format!("{} has no file name", path.display()),
                })?;
            let tmp = path.with_file_name(format!(".{name}.pverescue-tmp"));
            let file = create_file(&tmp, false, created)?;
            file.set_len(d.size).map_err(file_err("resize", &tmp))?;
            Ok(Sink::new(
                d,
                file,
                tmp,
                Some(path),
                TargetKind::NewFile,
                None,
            ))
        }
        Err(source) => Err(Error::File {
            op: "inspect",
            path,
            source,
        }),
    }
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
        match devices.iter().find(|d| matches(d, want)) {
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

/// Adjacent stored runs of one disk within one extent, written with one vectored write.
struct Gather<'a> {
    /// Index of the disk's sink (its dev_id).
    dev: usize,
    /// Disk offset of the first byte.
    at: u64,
    /// Total length.
    len: u64,
    slices: Vec<IoSlice<'a>>,
}

/// Adds a stored run at `off` of the disk with sink index `dev`: to that disk's last gather when it
/// continues it, else as a new gather.
fn gather<'a>(gathers: &mut Vec<Gather<'a>>, dev: usize, off: u64, run: &'a [u8]) {
    if let Some(g) = gathers.iter_mut().rev().find(|g| g.dev == dev)
        && g.at + g.len == off
    {
        g.len += run.len() as u64;
        g.slices.push(IoSlice::new(run));
        return;
    }
    gathers.push(Gather {
        dev,
        at: off,
        len: run.len() as u64,
        slices: vec![IoSlice::new(run)],
    });
}

/// An open output, written with direct I/O when the target allows it (the data goes from the extent
/// buffer to the disk without a copy into the page cache, and there is no dirty data left for the
/// final sync), through the page cache otherwise. A pending zero range coalesces adjacent zero blocks.
struct Sink {
    device: Device,
    file: File,
    /// The path being written (a temporary name for new files).
    writing: PathBuf,
    /// Where to rename `writing` when complete.
    rename_to: Option<PathBuf>,
    kind: TargetKind,
    zero_out: Option<ZeroOut>,
    explicit_zeros: bool,
    /// `O_DIRECT` is set on `file`.
    direct: bool,
    zero_at: u64,
    zero_len: u64,
    stored_bytes: u64,
    digest: Option<DigestBuilder>,
    /// Early writeback of buffered writes, started with the first one.
    flusher: Option<Flusher>,
}

/// Bytes written between two requests for early writeback.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// Starts writeback of what has been written so far on a helper thread, so that the disk writes
/// overlap the rest of the restore and the final sync before the rename finds little left to do.
///
/// Without it, the whole image sits in the page cache until that final sync, which then waits for
/// all of it. Errors are not lost: the final `sync_all` reports any write-back failure again.
struct Flusher {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    since: u64,
}

impl Flusher {
    fn new(file: &File) -> Flusher {
        let Ok(clone) = file.try_clone() else {
            return Flusher {
                tx: None,
                thread: None,
                since: 0,
            };
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("writeback".into())
            .spawn(move || {
                for () in rx {
                    // A failure here shows up again in the final sync_all, which reports it.
                    if clone.sync_data().is_err() {
                        break;
                    }
                }
            })
            .ok();
        Flusher {
            tx: thread.as_ref().map(|_| tx),
            thread,
            since: 0,
        }
    }

    /// Notes `n` more bytes written; asks for writeback every [`WRITEBACK_EVERY`] bytes.
    fn wrote(&mut self, n: u64) {
        self.since += n;
        if self.since >= WRITEBACK_EVERY {
            self.since = 0;
            if let Some(tx) = &self.tx {
                // A request already pending covers these bytes too.
                let _ = tx.try_send(());
            }
        }
    }

    /// Stops the helper thread and waits for it.
    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Sink {
    fn new(
        device: Device,
        file: File,
        writing: PathBuf,
        rename_to: Option<PathBuf>,
        kind: TargetKind,
        zero_out: Option<ZeroOut>,
    ) -> Sink {
        // Refused by filesystems without direct I/O (e.g. tmpfs before Linux 6.6): page cache then.
        let direct = set_direct(&file, true).is_ok();
        Sink {
            flusher: None,
            device,
            file,
            writing,
            rename_to,
            kind,
            zero_out,
            explicit_zeros: false,
            direct,
            zero_at: 0,
            zero_len: 0,
            stored_bytes: 0,
            digest: None,
        }
    }

    /// Writes `slices` one after the other from disk offset `at`.
    ///
    /// In direct mode the aligned part goes straight to the disk and only an unaligned rest (a disk's
    /// last, partial block) through the page cache. If the target refuses a direct write (`EINVAL`:
    /// stricter alignment than 4 KiB), the rest of the disk is written through the page cache.
    fn write_at(&mut self, at: u64, slices: &[IoSlice<'_>]) -> Result<()> {
        let aligned = if self.direct && at.is_multiple_of(DATA_ALIGN as u64) {
            slices
                .iter()
                .position(|s| {
                    !(s.as_ptr() as usize).is_multiple_of(DATA_ALIGN)
                        || !s.len().is_multiple_of(DATA_ALIGN)
                })
                .unwrap_or(slices.len())
        } else {
            0
        };
        let (head, tail) = slices.split_at(aligned);
        if !head.is_empty() {
            match write_all_vectored_at(&self.file, head, at) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    self.set_direct(false)?;
                    return self.write_buffered(at, slices);
                }
                Err(source) => return Err(self.write_err(at, head, source)),
            }
        }
        if tail.is_empty() {
            return Ok(());
        }
        let at = at + total_len(head);
        if !self.direct {
            return self.write_buffered(at, tail);
        }
        self.set_direct(false)?;
        let written = self.write_buffered(at, tail);
        self.set_direct(true)?;
        written
    }

    /// Writes `slices` from disk offset `at` through the page cache, with early writeback.
    fn write_buffered(&mut self, at: u64, slices: &[IoSlice<'_>]) -> Result<()> {
        write_all_vectored_at(&self.file, slices, at)
            .map_err(|source| self.write_err(at, slices, source))?;
        self.flusher
            .get_or_insert_with(|| Flusher::new(&self.file))
            .wrote(total_len(slices));
        Ok(())
    }

    /// A failed write of `slices` at disk offset `at`.
    fn write_err(&self, at: u64, slices: &[IoSlice<'_>], source: std::io::Error) -> Error {
        Error::WriteAt {
            path: self.writing.clone(),
            at,
            len: total_len(slices),
            source,
        }
    }

    /// Sets or clears `O_DIRECT` on the file.
    fn set_direct(&mut self, on: bool) -> Result<()> {
        set_direct(&self.file, on)
            .map_err(|e| file_err("change the I/O mode of", &self.writing)(e.into()))?;
        self.direct = on;
        Ok(())
    }

    /// Ends the writing: stops the writeback helper and leaves the file in its normal (page-cache)
    /// mode, so that whoever holds it next reads it normally.
    fn finish_writes(&mut self) -> Result<()> {
        if let Some(mut f) = self.flusher.take() {
            f.stop();
        }
        if self.direct {
            self.set_direct(false)?;
        }
        Ok(())
    }

    /// Queues `len` zero bytes at `at`, zeroing the pending range when this one does not extend it.
    fn push_zero(&mut self, at: u64, len: u64) -> Result<()> {
        let contiguous = self.zero_at + self.zero_len == at;
        if self.zero_len > 0 && (!contiguous || self.zero_len >= ZERO_COALESCE_LIMIT) {
            self.flush_zero()?;
        }
        if self.zero_len == 0 {
            self.zero_at = at;
        }
        self.zero_len += len;
        Ok(())
    }

    /// Zeroes the pending zero range: through [`ZeroOut`] when it can, else by writing zeros.
    fn flush_zero(&mut self) -> Result<()> {
        let (mut at, mut len) = (self.zero_at, self.zero_len);
        self.zero_len = 0;
        if len == 0 {
            return Ok(());
        }
        let zeroed = match self.zero_out {
            Some(z) => z(&self.file, at, len).map_err(file_err("zero out", &self.writing))?,
            None => false,
        };
        if zeroed {
            return Ok(());
        }
        while len > 0 {
            let n = len.min(ZEROS.0.len() as u64);
            let chunk = ZEROS
                .0
                .get(..usize::try_from(n).unwrap_or(ZEROS.0.len()))
                .unwrap_or(&ZEROS.0);
            self.write_at(at, &[IoSlice::new(chunk)])?;
            at += chunk.len() as u64;
            len -= chunk.len() as u64;
        }
        Ok(())
    }
}

/// Total length of `slices`.
fn total_len(slices: &[IoSlice<'_>]) -> u64 {
    slices.iter().map(|s| s.len() as u64).sum()
}

/// Sets or clears `O_DIRECT` on an open file.
fn set_direct(file: &File, on: bool) -> rustix::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    let want = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    if want != flags {
        rustix::fs::fcntl_setfl(file, want)?;
    }
    Ok(())
}

/// Writes all of `slices`, one after the other, from file offset `at`, with as few system calls as
/// the kernel allows.
fn write_all_vectored_at(file: &File, slices: &[IoSlice<'_>], mut at: u64) -> std::io::Result<()> {
    for batch in slices.chunks(IOV_MAX) {
        let total = total_len(batch);
        let n = loop {
            match rustix::io::pwritev(file, batch, at) {
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        if (n as u64) < total {
            // A short write (rare): finish this batch buffer by buffer.
            let mut done = n;
            let mut pos = at;
            for s in batch {
                let skip = done.min(s.len());
                done -= skip;
                if let Some(rest) = s.get(skip..).filter(|r| !r.is_empty()) {
                    file.write_all_at(rest, pos + skip as u64)?;
                }
                pos += s.len() as u64;
            }
        }
        at += total;
    }
    Ok(())
}
