//! Loop devices with offset, size limit, read-only and autoclear.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::registry::{self, Registry};
use crate::sys::{self, LO_FLAGS_AUTOCLEAR, LO_FLAGS_READ_ONLY, LoopInfo64};

/// Where the loop control device lives.
pub const LOOP_CONTROL: &str = "/dev/loop-control";
/// How many free devices are tried when others grab them first.
const MAX_ATTEMPTS: u32 = 16;

/// How to attach a loop device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Byte offset into the backing file.
    pub offset: u64,
    /// Size limit in bytes; 0 means "to the end of the backing file".
    pub size_limit: u64,
    /// Read-only device (the default).
    pub read_only: bool,
    /// Detach automatically when the last user closes the device (the default).
    pub autoclear: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            offset: 0,
            size_limit: 0,
            read_only: true,
            autoclear: true,
        }
    }
}

impl AttachOptions {
    /// Read-only, autoclear, `size` bytes from `offset`.
    pub fn range(offset: u64, size: u64) -> Self {
        AttachOptions {
            offset,
            size_limit: size,
            ..Default::default()
        }
    }
}

/// An attached loop device; detached on drop.
#[derive(Debug)]
pub struct LoopDevice {
    file: Option<File>,
    number: u32,
    path: PathBuf,
    id: u64,
}

impl LoopDevice {
    /// Attaches `backing` as a new loop device (see [`AttachOptions`]).
    pub fn attach(backing: &Path, opts: &AttachOptions) -> Result<LoopDevice> {
        let mut reg = registry::lock();
        Self::attach_locked(&mut reg, backing, opts)
    }

    pub(crate) fn attach_locked(
        reg: &mut Registry,
        backing: &Path,
        opts: &AttachOptions,
    ) -> Result<LoopDevice> {
        let backing_file = OpenOptions::new()
            .read(true)
            .write(!opts.read_only)
            .custom_flags(libc::O_CLOEXEC)
            .open(backing)
            .map_err(|e| Error::from_io("open backing file", backing, e))?;
        check_range(&backing_file, backing, opts)?;
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(LOOP_CONTROL)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::NoLoopControl {
                    path: LOOP_CONTROL.into(),
                },
                _ => Error::from_io("open", LOOP_CONTROL, e),
            })?;
        let mut flags = 0;
        if opts.read_only {
            flags |= LO_FLAGS_READ_ONLY;
        }
        if opts.autoclear {
            flags |= LO_FLAGS_AUTOCLEAR;
        }
        let info = LoopInfo64::new(opts.offset, opts.size_limit, flags);
        for _ in 0..MAX_ATTEMPTS {
            let number = sys::ctl_get_free(&ctl)
                .map_err(|e| Error::from_io("LOOP_CTL_GET_FREE", LOOP_CONTROL, e))?;
            let path = PathBuf::from(format!("/dev/loop{number}"));
            let dev = match open_device(&path, opts.read_only) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::NoLoopNode { path, number });
                }
                Err(e) => return Err(Error::from_io("open loop device", path, e)),
            };
            match bind(&dev, &backing_file, &info) {
                Ok(()) => {
                    let id = reg.add(path.clone());
                    return Ok(LoopDevice {
                        file: Some(dev),
                        number,
                        path,
                        id,
                    });
                }
                // Someone else bound this device between GET_FREE and our call: take another.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
                Err(e) => return Err(Error::from_io("bind loop device", path, e)),
            }
        }
        Err(Error::NoFreeLoop {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// N of `/dev/loopN`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Offset, size limit and read-only flag as the kernel reports them.
    pub fn status(&self) -> Result<(u64, u64, bool)> {
        let f = self.file.as_ref().ok_or_else(|| Error::Io {
            op: "LOOP_GET_STATUS64",
            path: self.path.clone(),
            source: io::Error::from(io::ErrorKind::NotConnected),
        })?;
        let i =
            sys::get_status(f).map_err(|e| Error::from_io("LOOP_GET_STATUS64", &self.path, e))?;
        Ok((
            i.lo_offset,
            i.lo_sizelimit,
            i.lo_flags & LO_FLAGS_READ_ONLY != 0,
        ))
    }

    /// Detaches now, reporting errors (drop does the same silently).
    pub fn detach(mut self) -> Result<()> {
        let mut reg = registry::lock();
        self.detach_locked(&mut reg)
    }

    pub(crate) fn detach_locked(&mut self, reg: &mut Registry) -> Result<()> {
        reg.remove(self.id);
        match self.file.take() {
            Some(f) => match sys::clr_fd(&f) {
                // ENXIO: already unbound (autoclear got there first).
                Err(e) if e.raw_os_error() != Some(libc::ENXIO) => {
                    Err(Error::from_io("LOOP_CLR_FD", &self.path, e))
                }
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Closes our handle without detaching: with autoclear the kernel detaches the device when
    /// its last user (a mount) goes away.
    pub(crate) fn release_handle(&mut self, reg: &mut Registry) {
        reg.remove(self.id);
        self.file = None;
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.file.is_some() {
            let mut reg = registry::lock();
            let _ = self.detach_locked(&mut reg);
        }
    }
}

fn open_device(path: &Path, read_only: bool) -> io::Result<File> {
    let open = |write| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
    };
    match open(true) {
        Err(e) if read_only && matches!(e.raw_os_error(), Some(libc::EROFS | libc::EACCES)) => {
            open(false)
        }
        r => r,
    }
}

/// LOOP_CONFIGURE, or LOOP_SET_FD + LOOP_SET_STATUS64 on kernels older than 5.8.
fn bind(dev: &File, backing: &File, info: &LoopInfo64) -> io::Result<()> {
    match sys::configure(dev, backing, *info) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY)) => {
            sys::set_fd(dev, backing)?;
            if let Err(e) = sys::set_status(dev, info) {
                let _ = sys::clr_fd(dev);
                return Err(e);
            }
            Ok(())
        }
        r => r,
    }
}

fn check_range(backing: &File, path: &Path, opts: &AttachOptions) -> Result<()> {
    let meta = backing
        .metadata()
        .map_err(|e| Error::from_io("stat backing file", path, e))?;
    // Block devices report length 0 here; the kernel checks those itself.
    if !meta.is_file() {
        return Ok(());
    }
    let len = meta.len();
    let end = opts.offset.checked_add(opts.size_limit);
    if opts.offset >= len || end.is_none_or(|e| e > len) {
        return Err(Error::OutOfRange {
            path: path.into(),
            offset: opts.offset,
            size: opts.size_limit,
            len,
        });
    }
    Ok(())
}
