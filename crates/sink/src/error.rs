//! The crate's error type: what went wrong with a target, always naming the path.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error while creating, writing, publishing or re-reading an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation on a path failed.
    #[error("cannot {op} {}: {source}", path.display())]
    File {
        /// What was being done ("create", "rename", …).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A write into a disk image or device failed.
    #[error("cannot write {len} bytes at byte {at} of {}: {source}", path.display())]
    WriteAt {
        /// The file or device.
        path: PathBuf,
        /// Disk offset of the write.
        at: u64,
        /// Its length.
        len: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An output exists and overwriting was not asked for.
    #[error("{} already exists", path.display())]
    TargetExists {
        /// The existing path.
        path: PathBuf,
    },
    /// The output directory exists and holds temporary files of a run that was killed.
    #[error(
        "{} already exists and holds what an interrupted run left: {}",
        path.display(),
        files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Leftovers {
        /// The directory.
        path: PathBuf,
        /// The temporary files found in it.
        files: Vec<PathBuf>,
    },
    /// Something else created the output's name while it was being written; nothing was replaced.
    #[error(
        "{} appeared while it was being restored (something else created it); it was not replaced, \
         and the restored data is kept as {}",
        path.display(),
        kept.display()
    )]
    AppearedMeanwhile {
        /// The final name, now taken.
        path: PathBuf,
        /// Where the complete restored data was left.
        kept: PathBuf,
    },
    /// A link where an output or its directory should be; it is never followed.
    #[error("{} is a symbolic link; pverescue never writes through a link it did not create", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A target holds less than the disk.
    #[error(
        "{} is too small for {disk}: it holds {size} bytes, the disk needs {needed}",
        path.display()
    )]
    TargetTooSmall {
        /// The disk.
        disk: String,
        /// The target.
        path: PathBuf,
        /// The target's size.
        size: u64,
        /// The disk's size.
        needed: u64,
    },
    /// A target that cannot be used as asked.
    #[error("invalid restore target: {reason}")]
    InvalidTarget {
        /// Why.
        reason: String,
    },
    /// Two outputs of one restore would get the same name.
    #[error("{what} would be written as {name:?}, which is also {other}: refusing to write either")]
    NameCollision {
        /// The output that collides ("config \"…\"").
        what: String,
        /// The file name both would get.
        name: String,
        /// What else has that name.
        other: String,
    },
    /// The re-read of a written disk differs from what was written.
    #[error(
        "verify {disk}: {} reads back differently: digest {found}, written {expected}",
        path.display()
    )]
    VerifyMismatch {
        /// The disk.
        disk: String,
        /// Where it was written.
        path: PathBuf,
        /// The digest computed while writing.
        expected: String,
        /// The digest of what was read back.
        found: String,
    },
}

impl Error {
    /// What the user can do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::TargetExists { .. } => {
                "choose a name that does not exist yet, or add --force to reuse the directory and \
                 replace the files the restore writes"
                    .into()
            }
            Error::Leftovers { path, .. } => format!(
                "a restore into {} was killed before it could clean up; remove the directory                  (rm -r {}) and run again, or add --force to restore into it anyway",
                path.display(),
                path.display()
            ),
            Error::AppearedMeanwhile { path, kept } => format!(
                "check what created {}; if the restored data is what you want, move it into place \
                 with: mv -n {} {}",
                path.display(),
                kept.display(),
                path.display()
            ),
            Error::Symlink { .. } => {
                "remove the link, or give the path it points to if that is the real target".into()
            }
            Error::TargetTooSmall { .. } => "choose a target at least as large as the disk".into(),
            Error::WriteAt { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                "the target is full: restore where there is room for the disks' stored bytes \
                 (`stored_bytes` in `pverescue verify --json`; zero blocks take no space)"
                    .into()
            }
            Error::NameCollision { .. } => {
                "the archive's names clash with each other or with the restored disks' names; \
                 restore the disks with -d and print the configs with `pverescue config`"
                    .into()
            }
            Error::VerifyMismatch { .. } => {
                "the target does not hold what was written: check the disk (dmesg, smartctl) and \
                 restore again, or onto another disk"
                    .into()
            }
            _ => return None,
        })
    }
}

/// An [`Error::File`] builder for `map_err`.
pub(crate) fn file_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::File {
        op,
        path: path.to_path_buf(),
        source,
    }
}
