//! The private ioctl and syscall module: the only place in the crate with `unsafe`.
//!
//! Constants and structure layouts are those of the Linux UAPI header `linux/loop.h` and the
//! mount(2)/umount2(2) system calls; they are part of the kernel's stable ABI.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `LOOP_SET_FD`: bind a backing file descriptor.
const LOOP_SET_FD: u64 = 0x4C00;
/// `LOOP_CLR_FD`: unbind the backing file.
const LOOP_CLR_FD: u64 = 0x4C01;
/// `LOOP_SET_STATUS64`: set offset, size limit and flags.
const LOOP_SET_STATUS64: u64 = 0x4C04;
/// `LOOP_GET_STATUS64`: read offset, size limit and flags.
const LOOP_GET_STATUS64: u64 = 0x4C05;
/// `LOOP_CONFIGURE` (Linux 5.8): bind and configure in one atomic call.
const LOOP_CONFIGURE: u64 = 0x4C0A;
/// `LOOP_CTL_GET_FREE` on `/dev/loop-control`: the number of a free loop device.
const LOOP_CTL_GET_FREE: u64 = 0x4C82;

/// `LO_FLAGS_READ_ONLY`.
pub(crate) const LO_FLAGS_READ_ONLY: u32 = 1;
/// `LO_FLAGS_AUTOCLEAR`: detach when the last user closes the device.
pub(crate) const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64` from `linux/loop.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct LoopInfo64 {
    pub lo_device: u64,
    pub lo_inode: u64,
    pub lo_rdevice: u64,
    pub lo_offset: u64,
    pub lo_sizelimit: u64,
    pub lo_number: u32,
    pub lo_encrypt_type: u32,
    pub lo_encrypt_key_size: u32,
    pub lo_flags: u32,
    pub lo_file_name: [u8; 64],
    pub lo_crypt_name: [u8; 64],
    pub lo_encrypt_key: [u8; 32],
    pub lo_init: [u64; 2],
}
const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);

impl LoopInfo64 {
    /// An all-zero structure with the given offset, size limit and flags.
    pub(crate) fn new(offset: u64, sizelimit: u64, flags: u32) -> Self {
        LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: offset,
            lo_sizelimit: sizelimit,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: flags,
            lo_file_name: [0; 64],
            lo_crypt_name: [0; 64],
            lo_encrypt_key: [0; 32],
            lo_init: [0; 2],
        }
    }
}

/// `struct loop_config` from `linux/loop.h`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `LOOP_CTL_GET_FREE`: the number of a free loop device (created on demand by the kernel).
pub(crate) fn ctl_get_free(ctl: &File) -> io::Result<u32> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument; the fd is a valid open file for the call.
    let n = check(unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE as libc::Ioctl) })?;
    u32::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `LOOP_CONFIGURE`: bind `backing` to `dev` with offset, size limit and flags in one call.
pub(crate) fn configure(dev: &File, backing: &File, info: LoopInfo64) -> io::Result<()> {
    let fd = u32::try_from(backing.as_raw_fd())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let config = LoopConfig {
        fd,
        block_size: 0,
        info,
        reserved: [0; 8],
    };
    // SAFETY: the pointer refers to a live, correctly laid out `loop_config` that the kernel only
    // reads during the call.
    check(unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE as libc::Ioctl,
            &config as *const LoopConfig,
        )
    })?;
    Ok(())
}

/// `LOOP_SET_FD`: the pre-5.8 way to bind a backing file (read-only when `backing` is).
pub(crate) fn set_fd(dev: &File, backing: &File) -> io::Result<()> {
    let fd = backing.as_raw_fd() as libc::c_ulong;
    // SAFETY: LOOP_SET_FD takes the backing fd by value; both fds are open for the call.
    check(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_SET_FD as libc::Ioctl, fd) })?;
    Ok(())
}

/// `LOOP_SET_STATUS64`: set offset, size limit and (settable) flags.
pub(crate) fn set_status(dev: &File, info: &LoopInfo64) -> io::Result<()> {
    // SAFETY: the pointer refers to a live `loop_info64` that the kernel only reads.
    check(unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_SET_STATUS64 as libc::Ioctl,
            info as *const LoopInfo64,
        )
    })?;
    Ok(())
}

/// `LOOP_GET_STATUS64`: read back offset, size limit and flags.
pub(crate) fn get_status(dev: &File) -> io::Result<LoopInfo64> {
    let mut info = LoopInfo64::new(0, 0, 0);
    // SAFETY: the pointer refers to a live, writable `loop_info64` of the size the kernel writes.
    check(unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_GET_STATUS64 as libc::Ioctl,
            &mut info as *mut LoopInfo64,
        )
    })?;
    Ok(info)
}

/// `LOOP_CLR_FD`: detach (deferred to the last close when the device is still open elsewhere).
pub(crate) fn clr_fd(dev: &File) -> io::Result<()> {
    // SAFETY: LOOP_CLR_FD takes no argument; the fd is open for the call.
    check(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CLR_FD as libc::Ioctl, 0) })?;
    Ok(())
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path or option"))
}

/// `MS_RDONLY`.
pub(crate) const MS_RDONLY: u64 = libc::MS_RDONLY;

/// mount(2).
pub(crate) fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: u64,
    data: &str,
) -> io::Result<()> {
    let (source, target, fstype, data) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: all four pointers are NUL-terminated strings that outlive the call; the kernel
    // copies them.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags as libc::c_ulong,
            data.as_ptr().cast(),
        )
    })?;
    Ok(())
}

/// `MNT_DETACH` for umount2: lazy unmount.
pub(crate) const MNT_DETACH: i32 = libc::MNT_DETACH;

/// umount2(2).
pub(crate) fn umount(target: &str, flags: i32) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: the pointer is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) })?;
    Ok(())
}
