//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a path cannot be inspected or used as a restore target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call or sysfs read failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "read size of", …).
        op: &'static str,
        /// The file, device or sysfs path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The target holds fewer bytes than the disk needs.
    #[error(
        "{} is too small: it holds {size} bytes, the disk needs {needed} bytes ({} more)",
        path.display(), needed - size
    )]
    TooSmall {
        /// The target.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The disk size in bytes.
        needed: u64,
    },
    /// The device or one of its partitions is mounted.
    #[error("{} is in use: {device} is mounted on {}", path.display(), mountpoint.display())]
    Mounted {
        /// The target.
        path: PathBuf,
        /// The mounted device (the target or one of its partitions), kernel name.
        device: String,
        /// Where it is mounted.
        mountpoint: PathBuf,
    },
    /// Another device (device-mapper, md, bcache…) is built on the device or a partition.
    #[error("{} is in use: {device} is held by {holder}", path.display())]
    Held {
        /// The target.
        path: PathBuf,
        /// The held device (the target or one of its partitions), kernel name.
        device: String,
        /// The holder's kernel name (`dm-0`, `md127`…).
        holder: String,
    },
    /// The device or one of its partitions is active swap.
    #[error("{} is in use: {device} is active swap", path.display())]
    Swap {
        /// The target.
        path: PathBuf,
        /// The swap device's kernel name, or the swap file.
        device: String,
    },
    /// The target, a partition of it, or its backing file backs a loop device.
    #[error(
        "{} is in use: {} backs the loop device {loop_device} from offset {offset}",
        path.display(),
        device.as_deref().unwrap_or("it")
    )]
    LoopBacking {
        /// The target.
        path: PathBuf,
        /// What backs the loop device when it is not the target itself: a partition's kernel
        /// name, or "its backing file …".
        device: Option<String>,
        /// The loop device's kernel name.
        loop_device: String,
        /// Where the loop device starts in its backing, in bytes.
        offset: u64,
    },
    /// The device is read-only.
    #[error("{} is a read-only device", path.display())]
    ReadOnly {
        /// The target.
        path: PathBuf,
    },
    /// The path is neither a block device nor a regular file.
    #[error("{} is a {kind}, not a block device or a regular file", path.display())]
    Unsupported {
        /// The target.
        path: PathBuf,
        /// What it is ("directory", "character device"…).
        kind: &'static str,
    },
    /// The kernel refused an exclusive open: something uses the device.
    #[error("{} is busy: the kernel refused an exclusive open (mounted, held or opened exclusively elsewhere)", path.display())]
    Busy {
        /// The target.
        path: PathBuf,
    },
}

impl Error {
    /// A short piece of advice for the user, where one helps.
    pub fn hint(&self) -> Option<String> {
        self.hint_text().map(str::to_owned)
    }

    /// The hint, as a constant.
    fn hint_text(&self) -> Option<&'static str> {
        Some(match self {
            Error::TooSmall { .. } => "choose a target at least as large as the disk",
            Error::Mounted { .. } => {
                "unmount it first (umount), and make sure this is really the disk you mean to overwrite"
            }
            Error::Held { .. } => {
                "stop what is built on it first (dmsetup remove, mdadm --stop, vgchange -an)"
            }
            Error::Swap { .. } => "turn the swap off first (swapoff)",
            Error::LoopBacking { .. } => {
                "unmount what is mounted from the loop device (umount, or pverescue umount), then detach it (losetup -d)"
            }
            Error::ReadOnly { .. } => "make the device writable first (blockdev --setrw)",
            Error::Busy { .. } => "see lsblk, findmnt and fuser to find the user",
            _ => return None,
        })
    }
}
