//! Extraction to a directory compatible with `vma extract` (spec §7.4 and §8), and to other targets.
//!
//! This module is what is VMA about a restore: which device goes where ([`ExtractOptions`],
//! [`Outputs`]), the file names of `vma extract`, and turning extents into writes. Where the bytes
//! go, and how outputs are created and published, is the `sink` crate's, shared with every other
//! source.
//!
//! [`extract_to_dir`] writes configs as `DIR/<name>` and each selected disk as
//! `DIR/disk-<devname>.raw` (a vmstate device as `DIR/vmstate.bin`). Every output is written under
//! a temporary name (`.NAME.partial-PID`, created with `O_EXCL|O_NOFOLLOW`) and published by a
//! rename that never replaces (with [`ExtractOptions::force`], one that replaces a file, never
//! through a link); disks are published only once the whole archive has been read and proven
//! complete. Zero blocks stay holes unless [`ExtractOptions::write_zeroes`] is set. On any failure,
//! and on SIGINT/SIGTERM when the binary installed the `cleanup` handler, everything this run
//! created is removed again.
//!
//! [`extract`] generalises this with [`Outputs`]: each disk may instead go to a [`Target`] of its
//! own (a file, a block device, or nowhere), in the same single pass over the archive.
//!
//! The archive is parsed on the calling thread and the disks are written on a second one, a few
//! extents behind ([`Reader::next_extent`] hands over each extent with its own buffer); the stored
//! runs of an extent go out as one vectored write per contiguous stretch, straight from that
//! buffer, with direct I/O where the target allows it.

use std::io::{IoSlice, Read};
use std::path::PathBuf;

use sink::{Created, Disk, DiskWriter, OutDir, Part, WriteOptions};

pub use sink::{Target, TargetKind, WrittenDisk, ZeroOut};

use crate::BLOCK_SIZE;
use crate::error::{Error, Result};
use crate::read::{Device, Extent, Reader, Summary};

/// What to extract and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Devices to extract into the directory by name (`drive-scsi0`, or the short form `scsi0`); `None`
    /// extracts all. Disks with a [`Target`] in [`Outputs::targets`] are written there regardless.
    pub drives: Option<Vec<String>>,
    /// Write zero blocks explicitly instead of leaving holes.
    pub write_zeroes: bool,
    /// Allow an existing directory and replace the files this restore writes in it.
    pub force: bool,
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
    /// Compute a [`sink::DiskDigest`] of every written disk while writing it.
    pub digest: bool,
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

/// The result of a successful extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Configs written, in slot order.
    pub configs: Vec<WrittenConfig>,
    /// Images written, in dev_id order ([`WrittenDisk::id`] is the dev_id).
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
    dir: &std::path::Path,
    opts: &ExtractOptions,
    progress: &mut dyn sink::Progress,
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
    mut reader: Reader<R>,
    opts: &ExtractOptions,
    outputs: Outputs,
    progress: &mut dyn sink::Progress,
) -> Result<Report> {
    let plan = plan(
        &reader.header().devices,
        opts,
        outputs.targets,
        outputs.dir.is_some(),
    )?;
    if outputs.dir.is_some() {
        check_names(&reader, &plan)?;
    }
    let created = Created::new();
    let dir = match &outputs.dir {
        Some(d) => Some(OutDir::create(d, opts.force, &created)?),
        None => None,
    };
    let wopts = WriteOptions {
        write_zeroes: opts.write_zeroes,
        replace: opts.force,
        digest: outputs.digest,
    };

    let mut configs = Vec::new();
    if let Some(dir) = &dir {
        for c in &reader.header().configs {
            let path = dir.write_new(c.name.as_ref(), &c.data, opts.force, &created)?;
            configs.push(WrittenConfig {
                name: c.name.clone(),
                path,
                size: c.data.len() as u64,
            });
        }
    }

    let mut writers: Vec<Option<DiskWriter>> = Vec::new();
    let mut slot_of = [usize::MAX; 256];
    let mut skipped = Vec::new();
    for (d, planned) in plan {
        let disk = Disk {
            id: u32::from(d.id),
            name: d.name.clone(),
            size: d.size,
        };
        let writer = match planned {
            Planned::Target(Target::Skip) => None,
            Planned::Dir => {
                let dir = dir.as_ref().ok_or_else(|| sink::Error::InvalidTarget {
                    reason: format!("{} has no target and no directory was given", d.name),
                })?;
                let name = image_name(&d);
                Some(DiskWriter::new_in_dir(
                    disk,
                    dir,
                    name.as_ref(),
                    wopts,
                    &created,
                )?)
            }
            Planned::Target(t) => DiskWriter::for_target(disk, t, wopts, &created)?,
        };
        match writer {
            Some(w) => {
                slot_of[usize::from(d.id)] = writers.len();
                writers.push(Some(w));
            }
            None => skipped.push(d.name.clone()),
        }
    }

    let writers = pipeline(&mut reader, writers, &slot_of, progress)?;
    let summary = reader.finish()?;
    progress.read(summary.bytes_read);

    let mut disks = Vec::new();
    for w in writers.into_iter().flatten() {
        disks.push(w.finish(&created)?);
    }
    created.commit();
    Ok(Report {
        configs,
        disks,
        skipped,
        summary,
    })
}

/// Where each device goes, decided before anything is written.
enum Planned {
    Dir,
    Target(Target),
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
        let Some(d) = devices.iter().find(|d| d.answers_to(&want)) else {
            return Err(Error::UnknownDrive {
                name: want,
                available: devices.iter().map(|d| d.name.clone()).collect(),
            });
        };
        if mapped.iter().any(|(id, _)| *id == d.id) {
            return Err(sink::Error::InvalidTarget {
                reason: format!("{} is mapped twice", d.name),
            }
            .into());
        }
        if let Target::File(p) | Target::Device { path: p, .. } = &target {
            if paths.contains(p) {
                return Err(sink::Error::InvalidTarget {
                    reason: format!("{} is the target of two disks", p.display()),
                }
                .into());
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
                return Err(sink::Error::InvalidTarget {
                    reason: format!("{} has no target and no directory was given", d.name),
                }
                .into());
            }
            Planned::Dir
        } else {
            Planned::Target(Target::Skip)
        };
        out.push((d.clone(), planned));
    }
    Ok(out)
}

/// Refuses, before anything is written, an archive whose config names collide with each other,
/// with the file names of its disks, or with a temporary name: with `--force` one output would
/// otherwise replace another, and the report would list files that no longer exist.
fn check_names<R: Read>(reader: &Reader<R>, plan: &[(Device, Planned)]) -> Result<()> {
    let mut taken: Vec<(String, String)> = plan
        .iter()
        .map(|(d, _)| (image_name(d), format!("the image of {}", d.name)))
        .collect();
    for c in &reader.header().configs {
        let what = format!("config {:?}", c.name);
        if sink::publish::is_temp_name(c.name.as_ref()) {
            return Err(sink::Error::NameCollision {
                what,
                name: c.name.clone(),
                other: "the form of pverescue's temporary names".into(),
            }
            .into());
        }
        if let Some((_, other)) = taken.iter().find(|(n, _)| *n == c.name) {
            return Err(sink::Error::NameCollision {
                what,
                name: c.name.clone(),
                other: other.clone(),
            }
            .into());
        }
        taken.push((c.name.clone(), what));
    }
    Ok(())
}

/// Extents in flight between the reading and the writing thread.
const EXTENTS_IN_FLIGHT: usize = 2;

/// Reads every extent on this thread and writes them out on another, so that parsing (and the
/// decompression feeding it) overlaps the writes. Returns the writers with everything written.
fn pipeline<R: Read>(
    reader: &mut Reader<R>,
    mut writers: Vec<Option<DiskWriter>>,
    slot_of: &[usize; 256],
    progress: &mut dyn sink::Progress,
) -> Result<Vec<Option<DiskWriter>>> {
    let (tx, rx) = pipe::channel::<Extent, std::convert::Infallible>(EXTENTS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<Vec<Option<DiskWriter>>> {
            while let Some(Ok(extent)) = rx.recv() {
                write_extent(&mut writers, slot_of, &extent)?;
                // The reader may have finished already; its buffers are then simply freed.
                rx.recycle(extent);
            }
            for w in writers.iter_mut().flatten() {
                w.flush_zero()?;
            }
            Ok(writers)
        });
        let read = (|| {
            while let Some(extent) = reader.next_extent()? {
                progress.read(reader.summary().bytes_read);
                if tx.send(extent).is_err() {
                    // The writer stopped on an error, which it returns.
                    break;
                }
                while let Some(extent) = tx.recycled() {
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

/// Writes the clusters of one extent to their disks: the stored runs of each disk gathered into
/// vectored writes, zero blocks queued as zero ranges where they are written explicitly.
fn write_extent(
    writers: &mut [Option<DiskWriter>],
    slot_of: &[usize; 256],
    extent: &Extent,
) -> Result<()> {
    let mut gathers: Vec<Gather<'_>> = Vec::new();
    for c in extent.clusters() {
        let slot = slot_of[usize::from(c.dev_id)];
        let Some(w) = writers.get_mut(slot).and_then(Option::as_mut) else {
            continue;
        };
        let size = w.disk().size;
        if let Some(dg) = w.digest_mut() {
            dg.add_leaf_parts(
                u64::from(c.cluster),
                c.blocks(size).map(|(off, b)| match b {
                    Some(b) => Part::Data(b),
                    None => Part::Zero((size - off).min(BLOCK_SIZE)),
                }),
            );
        }
        if w.writes_zeros() {
            for (off, block) in c.blocks(size) {
                match block {
                    Some(b) => gather(&mut gathers, slot, off, b),
                    None => w.zero_undigested(off, (size - off).min(BLOCK_SIZE))?,
                }
            }
        } else {
            for (off, run) in c.runs(size) {
                gather(&mut gathers, slot, off, run);
            }
        }
    }
    for g in &gathers {
        if let Some(w) = writers.get_mut(g.slot).and_then(Option::as_mut) {
            w.write_gathered(g.at, &g.slices)?;
        }
    }
    Ok(())
}

/// The file name of a device's image in the directory, as `vma extract` names it.
fn image_name(d: &Device) -> String {
    if d.is_vmstate() {
        "vmstate.bin".into()
    } else {
        format!("disk-{}.raw", d.name)
    }
}

/// The devices to extract, in dev_id order.
fn select_devices(devices: &[Device], drives: Option<&[String]>) -> Result<Vec<Device>> {
    let Some(drives) = drives else {
        return Ok(devices.to_vec());
    };
    let mut chosen = Vec::new();
    for want in drives {
        match devices.iter().find(|d| d.answers_to(want)) {
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

/// Adjacent stored runs of one disk within one extent, written with one vectored write.
struct Gather<'a> {
    /// The disk's writer slot.
    slot: usize,
    /// Disk offset of the first byte.
    at: u64,
    /// Total length.
    len: u64,
    slices: Vec<IoSlice<'a>>,
}

/// Adds a stored run at `off` of the disk in writer slot `slot`: to that disk's last gather when it
/// continues it, else as a new gather.
fn gather<'a>(gathers: &mut Vec<Gather<'a>>, slot: usize, off: u64, run: &'a [u8]) {
    if let Some(g) = gathers.iter_mut().rev().find(|g| g.slot == slot)
        && g.at + g.len == off
    {
        g.len += run.len() as u64;
        g.slices.push(IoSlice::new(run));
        return;
    }
    gathers.push(Gather {
        slot,
        at: off,
        len: run.len() as u64,
        slices: vec![IoSlice::new(run)],
    });
}
