//! The crate's error type: every malformed-input error names the file, the byte offset, what was
//! expected and what was found.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error while reading a virtnbdbackup directory, a stream file or a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", file.display())]
    Io {
        /// What was being done ("open", "read", "list").
        op: &'static str,
        /// The file or directory.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A structure of a stream file is not what the format allows.
    #[error("{}: {what} at byte {at}: expected {expected}, found {found}", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// The structure ("frame header", "meta JSON", "LZ4 frame", "trailer").
        what: &'static str,
        /// Absolute offset of the structure in the file.
        at: u64,
        /// What the format allows there.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A file ends before a structure does.
    #[error("{}: {what} at byte {at} needs {needed} bytes, the file has {available}", file.display())]
    Truncated {
        /// The file.
        file: PathBuf,
        /// The structure.
        what: &'static str,
        /// Where it starts.
        at: u64,
        /// Bytes it needs from there.
        needed: u64,
        /// Bytes there are from there.
        available: u64,
    },
    /// A number read from a file is beyond what is accepted.
    #[error("{}: {what} at byte {at} is {value}, the limit is {limit}", file.display())]
    Limit {
        /// The file.
        file: PathBuf,
        /// The quantity ("meta frame length", "trailer length").
        what: &'static str,
        /// Where it was read.
        at: u64,
        /// The value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// LZ4 refused a compressed frame (a checksum, a bad block) or it decoded to the wrong size.
    #[error("{}: LZ4 frame at byte {at} (data frame for disk offset {disk_offset}): {reason}", file.display())]
    Lz4 {
        /// The file.
        file: PathBuf,
        /// Offset of the LZ4 frame in the file.
        at: u64,
        /// The disk offset of the data frame it belongs to.
        disk_offset: u64,
        /// What went wrong.
        reason: String,
    },
    /// The directory holds no virtnbdbackup stream or data file.
    #[error("{}: no virtnbdbackup data files (*.data starting with a `meta` frame) in it", dir.display())]
    NotABackup {
        /// The directory.
        dir: PathBuf,
    },
    /// A point in time cannot be restored, or does not exist.
    #[error("{point}: {reason}")]
    Point {
        /// The point asked for (a checkpoint or file name).
        point: String,
        /// Why it cannot be restored.
        reason: String,
    },
}

impl Error {
    /// A line of advice for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Lz4 { .. } => Some(
                "the backup file is damaged (virtnbdbackup issue #134 shows the same as an LZ4 \
                 checksum error); an earlier point in time may still restore: see `pverescue list`"
                    .into(),
            ),
            Error::Truncated { .. } => Some(
                "the file was cut short (a copy that did not finish, a full disk); copy it again \
                 from the backup host if you can"
                    .into(),
            ),
            Error::Point { .. } => Some(
                "`pverescue list DIR` shows every restorable point with the files it needs".into(),
            ),
            Error::NotABackup { .. } => Some(
                "point at the directory virtnbdbackup wrote (with `-o DIR`), the one holding \
                 `<disk>.full.data`"
                    .into(),
            ),
            _ => None,
        }
    }
}
