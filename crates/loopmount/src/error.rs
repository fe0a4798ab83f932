//! The crate's error type, with hints that say what to do next.

use std::io;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while attaching, mounting or releasing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused for lack of privilege (EPERM/EACCES).
    #[error("{op}: permission denied (needs root or CAP_SYS_ADMIN)")]
    NotRoot {
        /// What was attempted.
        op: &'static str,
    },
    /// `/dev/loop-control` does not exist.
    #[error("{} does not exist: no loop driver here", path.display())]
    NoLoopControl {
        /// The missing path.
        path: PathBuf,
    },
    /// The kernel handed out a free loop device that has no node in this `/dev`.
    #[error("loop device {} is free but has no device node here", path.display())]
    NoLoopNode {
        /// The missing node.
        path: PathBuf,
        /// Its number.
        number: u32,
    },
    /// Every free loop device was taken by someone else before we could bind it.
    #[error("no free loop device after {attempts} attempts")]
    NoFreeLoop {
        /// How many devices were tried.
        attempts: u32,
    },
    /// The filesystem type is not in `/proc/filesystems` and cannot be loaded.
    #[error("filesystem type {fstype} is not available in this kernel (not in /proc/filesystems)")]
    FsNotInKernel {
        /// The requested type.
        fstype: String,
    },
    /// The requested range lies outside the backing file.
    #[error(
        "range {offset}+{size} is outside {} ({len} bytes)", path.display()
    )]
    OutOfRange {
        /// The backing file.
        path: PathBuf,
        /// Requested offset.
        offset: u64,
        /// Requested size (0: to the end).
        size: u64,
        /// The file's length.
        len: u64,
    },
    /// The mount point is not a directory.
    #[error("mount point {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Nothing is mounted at the path.
    #[error("{} is not a mount point", path.display())]
    NotMounted {
        /// The path.
        path: PathBuf,
    },
    /// mount(2) failed.
    #[error("mounting {} ({fstype}, options \"{options}\") on {} failed: {source}", device.display(), mountpoint.display())]
    Mount {
        /// The loop device.
        device: PathBuf,
        /// The mount point.
        mountpoint: PathBuf,
        /// Filesystem type.
        fstype: String,
        /// Options passed.
        options: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// umount2(2) failed.
    #[error("unmounting {} failed: {source}", mountpoint.display())]
    Unmount {
        /// The mount point.
        mountpoint: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// Another system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The container flags that make loop devices usable, for hints.
pub const CONTAINER_FLAGS: &str = "docker run --cap-add SYS_ADMIN --device /dev/loop-control --device /dev/loop0 --device /dev/loop1";

impl Error {
    /// What to do about it, in one line.
    pub fn hint(&self) -> Option<String> {
        let errno = |e: &io::Error| e.raw_os_error();
        Some(match self {
            Error::NotRoot { .. } => format!(
                "run as root; in a container add the flags: {CONTAINER_FLAGS} (and --security-opt \
                 apparmor=unconfined on AppArmor hosts)"
            ),
            Error::NoLoopControl { .. } => format!(
                "inside a container, pass the loop devices: {CONTAINER_FLAGS}; on a host, load the \
                 loop driver (modprobe loop)"
            ),
            Error::NoLoopNode { number, .. } => format!(
                "inside a container, add --device /dev/loop{number} (the kernel chose loop{number}), \
                 or create the node: mknod /dev/loop{number} b 7 {number}"
            ),
            Error::NoFreeLoop { .. } => "detach unused loop devices (losetup -D) and retry".into(),
            Error::FsNotInKernel { fstype } => format!(
                "this kernel cannot mount {fstype}: a userspace route is needed (a FUSE driver or \
                 pverescue's userspace file reader)"
            ),
            Error::Mount { source, .. } if errno(source) == Some(libc::EBUSY) => {
                "already mounted? a btrfs with the same UUID may be mounted elsewhere".into()
            }
            Error::Mount { source, .. } if errno(source) == Some(libc::EINVAL) => {
                "wrong filesystem type or offset, or a damaged superblock: see `dmesg`".into()
            }
            Error::Unmount { mountpoint, source } if errno(source) == Some(libc::EBUSY) => format!(
                "files under {} are still in use: see `fuser -vm {}`",
                mountpoint.display(),
                mountpoint.display()
            ),
            _ => return None,
        })
    }

    /// Maps a failed system call to `NotRoot` on EPERM/EACCES, else to `Io`.
    pub(crate) fn from_io(op: &'static str, path: impl Into<PathBuf>, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => Error::NotRoot { op },
            _ => Error::Io {
                op,
                path: path.into(),
                source: e,
            },
        }
    }
}
