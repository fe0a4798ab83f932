//! The private ioctl module: the only place in the crate with `unsafe`.
//!
//! Request numbers are those of the Linux UAPI header `linux/fs.h` (`_IO(0x12, n)` and
//! `_IOR(0x12, 114, size_t)`); they are part of the kernel's stable ABI.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `BLKROGET`: is the device read-only (`int *`).
const BLKROGET: libc::c_ulong = 0x125E;
/// `BLKFLSBUF`: write back and drop the device's buffer cache.
const BLKFLSBUF: libc::c_ulong = 0x1261;
/// `BLKSSZGET`: logical sector size (`int *`).
const BLKSSZGET: libc::c_ulong = 0x1268;
/// `BLKZEROOUT`: zero a byte range (`uint64_t[2]` = start, length).
const BLKZEROOUT: libc::c_ulong = 0x127F;
/// `BLKGETSIZE64`: size in bytes (`uint64_t *`), `_IOR(0x12, 114, size_t)` on 64-bit targets.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
const _: () = assert!(
    std::mem::size_of::<usize>() == 8,
    "BLKGETSIZE64 encodes an 8-byte size_t"
);

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size of the block device behind `file`, in bytes.
pub(crate) fn size64(file: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at a live local of
    // that type; the descriptor is owned by `file` and stays open for the call.
    check(unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) })?;
    Ok(size)
}

/// The logical sector size of the block device behind `file`.
pub(crate) fn sector_size(file: &File) -> io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which points at a live local int.
    check(unsafe { libc::ioctl(file.as_raw_fd(), BLKSSZGET, &mut size as *mut libc::c_int) })?;
    u32::try_from(size).map_err(|_| io::Error::other("negative sector size"))
}

/// Whether the block device behind `file` is read-only.
pub(crate) fn read_only(file: &File) -> io::Result<bool> {
    let mut ro: libc::c_int = 0;
    // SAFETY: BLKROGET writes one int through the pointer, which points at a live local int.
    check(unsafe { libc::ioctl(file.as_raw_fd(), BLKROGET, &mut ro as *mut libc::c_int) })?;
    Ok(ro != 0)
}

/// Zeroes `len` bytes at `start` (both multiples of the logical sector size).
pub(crate) fn zero_out(file: &File, start: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [start, len];
    // SAFETY: BLKZEROOUT reads two u64 from the pointer, which points at a live local array of
    // exactly two u64; the kernel does not keep the pointer.
    check(unsafe { libc::ioctl(file.as_raw_fd(), BLKZEROOUT, range.as_ptr()) })
}

/// Writes back and drops the buffer cache of the block device behind `file`.
pub(crate) fn flush_buffers(file: &File) -> io::Result<()> {
    // SAFETY: BLKFLSBUF takes no argument; the descriptor is valid for the call.
    check(unsafe { libc::ioctl(file.as_raw_fd(), BLKFLSBUF, 0) })
}
