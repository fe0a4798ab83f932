//! Block device facts and ioctls for writing a restored disk straight onto a device.
//!
//! A bare-metal restore overwrites a whole disk, so before a single byte is written the caller
//! must know what the target is and that nothing uses it. [`inspect`] answers that for a path
//! without writing anything, in a [`TargetInfo`]:
//!
//! - its [`Kind`]: block device, regular file, or nothing yet;
//! - its size (`BLKGETSIZE64` for devices), and for devices a [`DeviceInfo`] with the kernel
//!   name, the model from `/sys/class/block/<name>/device/{vendor,model}` (a loop device names its
//!   backing file), the logical sector size, the read-only flag and the partitions the kernel
//!   knows;
//! - every [`Use`] that makes overwriting unsafe: the device or one of its partitions mounted
//!   (matched by `major:minor` in `/proc/self/mountinfo`, so bind mounts and mounts under other
//!   names count too), held by another device (`/sys/class/block/<name>/holders`, e.g.
//!   device-mapper or md), active swap (`/proc/swaps`), or, for a regular file, backing a loop
//!   device.
//!
//! [`TargetInfo::check`] turns that into a decision for a disk of a given size, with errors that
//! name the mount point or the holder ([`Error::hint`] says what to do). [`open_exclusive`] then
//! opens the device with `O_EXCL`, which makes the kernel itself refuse a device that got mounted
//! in the meantime. While writing, [`zero_out`] zeroes ranges with `BLKZEROOUT` (the device may
//! unmap them; the kernel falls back to writing zero pages), and before a verifying re-read
//! [`flush_buffers`] (`BLKFLSBUF`) drops the buffer cache so the bytes come from the device.
//!
//! # Why a private ioctl module
//!
//! The five ioctls (`BLKGETSIZE64`, `BLKSSZGET`, `BLKROGET`, `BLKZEROOUT`, `BLKFLSBUF`) are
//! part of the kernel's stable ABI (`linux/fs.h`) and need no bindings generator. The private `sys` module declares them with `libc`; it is the only place in the
//! crate with `unsafe`, and every block says why it is sound.
//!
//! # Non-goals
//!
//! Partition parsing (the `partitions` crate), loop devices and mounting (`loopmount`), and
//! anything that changes a device's configuration.
//!
//! # Example
//!
//! ```
//! use blockdev::{Kind, inspect};
//!
//! let dir = std::env::temp_dir().join(format!("blockdev-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let file = dir.join("disk.raw");
//! assert_eq!(inspect(&file)?.kind, Kind::Missing);
//!
//! std::fs::write(&file, [0u8; 4096])?;
//! let t = inspect(&file)?;
//! assert_eq!((t.kind, t.size), (Kind::RegularFile, 4096));
//! // A regular file is resized to the disk, so any size will do.
//! t.check(1 << 30)?;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![allow(unsafe_code)] // Only in the private `sys` module; see the essay above.

mod error;
mod inspect;
mod sys;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub use error::{Error, Result};
pub use inspect::{DeviceInfo, Kind, TargetInfo, Use, inspect, loop_backing, unescape};

/// Opens a block device for writing with `O_EXCL`: the kernel refuses (as [`Error::Busy`]) when
/// the device is mounted, held, or opened exclusively by anyone else, and keeps others from
/// claiming it while the file is open.
pub fn open_exclusive(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => Error::Busy {
                path: path.to_path_buf(),
            },
            _ => Error::Io {
                op: "open for writing",
                path: path.to_path_buf(),
                source: e,
            },
        })
}

/// Zeroes `len` bytes at `offset` of the block device behind `file` with `BLKZEROOUT`.
///
/// Returns `Ok(false)` when the ioctl is not available here (not a block device, or the range is
/// not aligned to the logical sector size), so the caller writes zeros itself.
pub fn zero_out(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    match sys::zero_out(file, offset, len) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTTY | libc::EINVAL | libc::EOPNOTSUPP)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Writes back and drops the buffer cache of the block device behind `file` (`BLKFLSBUF`), so
/// that a following read comes from the device and not from memory.
pub fn flush_buffers(file: &File) -> io::Result<()> {
    sys::flush_buffers(file)
}

/// The size in bytes of the block device behind `file` (`BLKGETSIZE64`).
pub fn device_size(file: &File) -> io::Result<u64> {
    sys::size64(file)
}
