//! The one error type of the crate.

use std::io;

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong reading a filesystem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying disk view failed.
    #[error("read of {len} bytes at byte {at} failed: {source}")]
    Io {
        /// Absolute byte offset in the filesystem.
        at: u64,
        /// Length of the read.
        len: usize,
        /// The view's error.
        source: io::Error,
    },
    /// The content is no filesystem this crate reads.
    #[error("{found}: not a filesystem that can be read without mounting")]
    Unsupported {
        /// What the content is (`xfs`, `btrfs`, `LUKS container`, `unknown data (first bytes …)`).
        found: String,
        /// Whether `pverescue mount` can read it (a kernel filesystem).
        mountable: bool,
    },
    /// A filesystem feature this crate cannot read.
    #[error("{fs}: the {feature} feature is not supported")]
    Feature {
        /// `ext4`, `fat`, `ntfs`.
        fs: &'static str,
        /// The feature's name as the filesystem's own tools spell it (`inline_data`, `encrypt`…).
        feature: String,
    },
    /// A path that does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// A directory was needed.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// A file with data was needed.
    #[error("{path}: is a {kind}, not a regular file")]
    NotAFile {
        /// The path as given.
        path: String,
        /// `directory`, `symlink`, `fifo`…
        kind: &'static str,
    },
    /// A malformed structure.
    #[error("{what} at byte {at}: {reason}")]
    Corrupt {
        /// The structure.
        what: &'static str,
        /// Absolute byte offset in the filesystem when known, else 0.
        at: u64,
        /// Expected against found.
        reason: String,
    },
    /// A limit that keeps hostile images from exhausting memory or time.
    #[error("{what}: {value} exceeds the limit of {limit}")]
    Limit {
        /// What was counted.
        what: String,
        /// The value found.
        value: u64,
        /// The limit.
        limit: u64,
    },
}

impl Error {
    /// What to do about it, in one line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unsupported {
                mountable: true, ..
            } => Some(
                "`pverescue mount` reads it through the kernel (needs root and the filesystem's \
                 driver)"
                    .into(),
            ),
            Error::Unsupported { found, .. } if found.contains("LUKS") => Some(
                "an encrypted container: open it with cryptsetup on a machine with device-mapper \
                 (see `pverescue mount`)"
                    .into(),
            ),
            Error::Unsupported { found, .. } if found.contains("LVM") => {
                Some("an LVM physical volume: name a logical volume with --lv VG/LV".into())
            }
            Error::Feature { .. } => Some(
                "`pverescue mount` reads it through the kernel (needs root and the filesystem's \
                 driver)"
                    .into(),
            ),
            Error::Corrupt { .. } => Some(
                "the filesystem is damaged: `pverescue mount` or fsck on a copy may get further"
                    .into(),
            ),
            _ => None,
        }
    }

    pub(crate) fn corrupt(what: &'static str, at: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            what,
            at,
            reason: reason.into(),
        }
    }
}
