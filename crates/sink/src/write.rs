//! Writing one disk: to a new sparse file, an existing file rewritten in place, or a block device.
//!
//! A [`DiskWriter`] takes writes in any order (`write_gathered` for data, `zero` for known-zero
//! ranges) and writes them with direct I/O (`O_DIRECT`) where the target allows it: no copy into
//! the page cache, no gigabytes of dirty pages on the rescue machine, nothing left for the final
//! sync. Targets that refuse direct I/O (some file systems) are written through the page cache,
//! with writeback started every 32 MiB on a helper thread; a disk's last partial block always is.
//! Zero ranges stay holes in files unless zeros are asked for; block devices always get them,
//! coalesced into large runs and handed to a [`ZeroOut`] (the caller's `BLKZEROOUT`) when given.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{IoSlice, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use rustix::fs::OFlags;

use crate::digest::{DigestBuilder, DiskDigest};
use crate::error::{Error, Result, file_err};
use crate::publish::{Created, NewFile, OutDir};

/// Alignment of buffers and offsets for direct I/O.
pub const DATA_ALIGN: usize = 4096;
/// Largest zero run collected before it is zeroed.
const ZERO_COALESCE_LIMIT: u64 = 64 << 20;
/// Most buffers one vectored write takes (`IOV_MAX` on Linux).
const IOV_MAX: usize = 1024;
/// Bytes written between two requests for early writeback.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// Source of explicit zero writes, aligned for direct I/O.
#[repr(align(4096))]
struct Zeros([u8; 1 << 20]);
static ZEROS: Zeros = Zeros([0; 1 << 20]);
const _: () = assert!(std::mem::align_of::<Zeros>() == DATA_ALIGN);

/// Zeroes `len` bytes at an offset of an opened block device, e.g. with `BLKZEROOUT`. `Ok(false)`
/// means "not possible here": the writer then writes zeros itself.
pub type ZeroOut = fn(&File, u64, u64) -> std::io::Result<bool>;

/// Where one disk is written.
#[derive(Debug)]
pub enum Target {
    /// Read and verify the disk, write it nowhere.
    Skip,
    /// A new file (temporary name, published when complete, never replacing anything) or an
    /// existing regular file (truncated to the disk size and rewritten in place). A link is
    /// refused.
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

impl TargetKind {
    /// How the kind is named in output ("new file", "existing file", "block device").
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::NewFile => "new file",
            TargetKind::ExistingFile => "existing file",
            TargetKind::Device => "block device",
        }
    }
}

/// A disk as a source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The source's id for the disk (a VMA device id, an index).
    pub id: u32,
    /// The disk's name (`drive-scsi0`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// How disks are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Write zero ranges explicitly into files instead of leaving holes.
    pub write_zeroes: bool,
    /// Replace existing outputs in a directory (`--force`).
    pub replace: bool,
    /// Compute a [`DiskDigest`] while writing.
    pub digest: bool,
}

/// A disk that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDisk {
    /// The source's id for the disk.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Final path of the image or device.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes of data written.
    pub stored_bytes: u64,
    /// Bytes that were zero ranges (holes unless zeros were written).
    pub sparse_bytes: u64,
    /// What kind of target it went to.
    pub kind: TargetKind,
    /// The digest computed while writing, with [`WriteOptions::digest`].
    pub digest: Option<DiskDigest>,
}

/// The output of one disk (see the module documentation).
#[derive(Debug)]
pub struct DiskWriter {
    disk: Disk,
    file: File,
    /// The path being written (a temporary name for new files).
    writing: PathBuf,
    /// A new file, published when complete.
    new: Option<NewFile>,
    replace: bool,
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

impl DiskWriter {
    /// A new file `name` in `dir`, written under its temporary name and published by
    /// [`DiskWriter::finish`].
    pub fn new_in_dir(
        disk: Disk,
        dir: &OutDir,
        name: &OsStr,
        opts: WriteOptions,
        created: &Created,
    ) -> Result<DiskWriter> {
        dir.check_absent(name, opts.replace)?;
        let new = dir.create_temp(name, opts.replace, created)?;
        let writing = new.tmp_path();
        let file = new.file.try_clone().map_err(file_err("open", &writing))?;
        file.set_len(disk.size)
            .map_err(file_err("resize", &writing))?;
        Ok(DiskWriter::new(
            disk,
            file,
            writing,
            Some(new),
            TargetKind::NewFile,
            None,
            opts,
        ))
    }

    /// The writer for `target`, or `None` for [`Target::Skip`].
    pub fn for_target(
        disk: Disk,
        target: Target,
        opts: WriteOptions,
        created: &Created,
    ) -> Result<Option<DiskWriter>> {
        match target {
            Target::Skip => Ok(None),
            Target::File(path) => {
                let (dir, name) = OutDir::parent_of(&path)?;
                match dir.entry(&name)? {
                    None => {
                        // A mapped file is never replaced, whatever --force says.
                        let opts = WriteOptions {
                            replace: false,
                            ..opts
                        };
                        DiskWriter::new_in_dir(disk, &dir, &name, opts, created).map(Some)
                    }
                    Some(t) if t.is_symlink() => Err(Error::Symlink { path }),
                    Some(_) => {
                        let file = dir.open_existing(&name)?;
                        // Truncating first turns every old byte into a hole, so zero ranges need
                        // no writes.
                        file.set_len(0).map_err(file_err("truncate", &path))?;
                        file.set_len(disk.size).map_err(file_err("resize", &path))?;
                        Ok(Some(DiskWriter::new(
                            disk,
                            file,
                            path,
                            None,
                            TargetKind::ExistingFile,
                            None,
                            opts,
                        )))
                    }
                }
            }
            Target::Device {
                path,
                mut file,
                zero_out,
            } => {
                let size = file
                    .seek(SeekFrom::End(0))
                    .map_err(file_err("find the size of", &path))?;
                if size < disk.size {
                    return Err(Error::TargetTooSmall {
                        disk: disk.name,
                        path,
                        size,
                        needed: disk.size,
                    });
                }
                Ok(Some(DiskWriter::new(
                    disk,
                    file,
                    path,
                    None,
                    TargetKind::Device,
                    zero_out,
                    opts,
                )))
            }
        }
    }

    fn new(
        disk: Disk,
        file: File,
        writing: PathBuf,
        new: Option<NewFile>,
        kind: TargetKind,
        zero_out: Option<ZeroOut>,
        opts: WriteOptions,
    ) -> DiskWriter {
        // Refused by file systems without direct I/O (e.g. tmpfs before Linux 6.6): page cache.
        let direct = set_direct(&file, true).is_ok();
        DiskWriter {
            digest: opts.digest.then(|| DigestBuilder::new(disk.size)),
            explicit_zeros: kind == TargetKind::Device || opts.write_zeroes,
            disk,
            file,
            writing,
            new,
            replace: opts.replace,
            kind,
            zero_out,
            direct,
            zero_at: 0,
            zero_len: 0,
            stored_bytes: 0,
            flusher: None,
        }
    }

    /// The disk being written.
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    /// The digest being computed, for a source that feeds it itself (with whole leaves).
    pub fn digest_mut(&mut self) -> Option<&mut DigestBuilder> {
        self.digest.as_mut()
    }

    /// True when zero ranges are written out (block devices, `write_zeroes`).
    pub fn writes_zeros(&self) -> bool {
        self.explicit_zeros
    }

    /// Writes data at disk offset `at` (one buffer), and adds it to the digest.
    pub fn write(&mut self, at: u64, data: &[u8]) -> Result<()> {
        if let Some(d) = self.digest.as_mut() {
            d.add_run(at, data);
        }
        self.write_gathered(at, &[IoSlice::new(data)])
    }

    /// Marks `len` bytes at `at` as zeros, and adds them to the digest: a hole in a file, zeros
    /// written on a device or with `write_zeroes`.
    pub fn zero(&mut self, at: u64, len: u64) -> Result<()> {
        if let Some(d) = self.digest.as_mut() {
            d.add_zero(at, len);
        }
        self.zero_undigested(at, len)
    }

    /// [`DiskWriter::zero`] for a source that digests by itself ([`DiskWriter::digest_mut`]).
    pub fn zero_undigested(&mut self, at: u64, len: u64) -> Result<()> {
        if self.explicit_zeros {
            self.push_zero(at, len)?;
        }
        Ok(())
    }

    /// Writes `slices` one after the other from disk offset `at`, without adding them to the
    /// digest (for a source that digests by itself).
    pub fn write_gathered(&mut self, at: u64, slices: &[IoSlice<'_>]) -> Result<()> {
        self.stored_bytes += total_len(slices);
        self.write_at(at, slices)
    }

    /// Completes the disk: pending zeros, writeback, sync, and for a new file its final name
    /// (never replacing a file that appeared meanwhile unless replacing was asked for).
    pub fn finish(mut self, created: &Created) -> Result<WrittenDisk> {
        self.flush_zero()?;
        self.finish_writes()?;
        self.file
            .sync_all()
            .map_err(file_err("sync", &self.writing))?;
        let path = match self.new.take() {
            Some(new) => new.publish(self.replace, created)?,
            None => self.writing.clone(),
        };
        Ok(WrittenDisk {
            id: self.disk.id,
            name: self.disk.name.clone(),
            path,
            size: self.disk.size,
            stored_bytes: self.stored_bytes,
            sparse_bytes: self.disk.size - self.stored_bytes.min(self.disk.size),
            kind: self.kind,
            digest: self.digest.as_ref().map(DigestBuilder::finish),
        })
    }

    /// Writes `slices` from disk offset `at`: in direct mode the aligned part goes straight to
    /// the disk and only an unaligned rest (a disk's last, partial block) through the page cache.
    /// If the target refuses a direct write (`EINVAL`: stricter alignment than 4 KiB), the rest of
    /// the disk is written through the page cache.
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
    pub fn flush_zero(&mut self) -> Result<()> {
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

/// Starts writeback of what has been written so far on a helper thread, so that the disk writes
/// overlap the rest of the restore and the final sync finds little left to do.
///
/// Without it, the whole image sits in the page cache until that final sync, which then waits for
/// all of it. Errors are not lost: the final `sync_all` reports any write-back failure again.
#[derive(Debug)]
pub struct Flusher {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    since: u64,
}

impl Flusher {
    /// A helper for `file` (its thread starts now; without a thread, [`Flusher::wrote`] does
    /// nothing and the final sync does all the work).
    pub fn new(file: &File) -> Flusher {
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
    pub fn wrote(&mut self, n: u64) {
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
    pub fn stop(&mut self) {
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
