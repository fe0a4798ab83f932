//! The crate's error type.
//!
//! Malformed-input errors name the structure, the absolute byte offset in the archive and what was
//! expected and found. Messages are lower-case without a trailing period; [`Error::hint`] adds guidance
//! where there is something useful to say.

use std::fmt;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading, writing or extracting a VMA archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the archive stream failed.
    #[error("i/o error on the {what} at offset {at}: {source}")]
    Io {
        /// What was being read or written.
        what: &'static str,
        /// Absolute archive offset of the operation.
        at: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A magic number is wrong.
    #[error(
        "bad {what} magic at offset {at}: expected {}, found {}",
        Bytes(expected),
        Bytes(found)
    )]
    BadMagic {
        /// The structure.
        what: &'static str,
        /// Absolute offset of the magic.
        at: u64,
        /// The magic the format requires.
        expected: [u8; 4],
        /// The bytes in the archive.
        found: [u8; 4],
    },
    /// An MD5 checksum does not match.
    #[error(
        "{what} checksum mismatch at offset {at}: stored md5 {}, computed {}",
        Bytes(expected),
        Bytes(found)
    )]
    ChecksumMismatch {
        /// The structure.
        what: &'static str,
        /// Absolute offset of the structure.
        at: u64,
        /// The checksum stored in the archive.
        expected: [u8; 16],
        /// The checksum of the bytes actually read.
        found: [u8; 16],
    },
    /// The archive ends inside a structure.
    #[error("truncated {what} at offset {at}: needed {needed} bytes, only {available} available")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Absolute offset of the structure.
        at: u64,
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes the stream still had.
        available: u64,
    },
    /// The format version is not 1.
    #[error("unsupported vma version at offset {at}: expected 1, found {found}")]
    UnsupportedVersion {
        /// Absolute offset of the version field.
        at: u64,
        /// The version in the archive.
        found: u32,
    },
    /// A numeric field is outside what the format allows.
    #[error("invalid {what} at offset {at}: expected {expected}, found {found}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Absolute offset of the field.
        at: u64,
        /// What the format requires.
        expected: &'static str,
        /// The value in the archive.
        found: u64,
    },
    /// A value exceeds a limit of the format or of this implementation.
    #[error("{what} at offset {at} is too large: {value} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The field.
        what: &'static str,
        /// Absolute offset of the field.
        at: u64,
        /// The value in the archive.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A blob pointer does not point at the start of a blob.
    #[error("{what} pointer at offset {at} is invalid: {pointer} is not the start of a blob")]
    BadBlobPointer {
        /// The pointer ("config 0 name", "device 1 name", …).
        what: String,
        /// Absolute offset of the pointer field.
        at: u64,
        /// The pointer value (relative to the blob area).
        pointer: u32,
    },
    /// A name blob is unusable as a name.
    #[error("invalid {what} at offset {at}: {reason} (found {name:?})")]
    BadName {
        /// "config name" or "device name".
        what: &'static str,
        /// Absolute offset of the blob.
        at: u64,
        /// The name as far as it could be decoded.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Two configs or two devices carry the same name.
    #[error("duplicate {what} {name:?} at offset {at}")]
    DuplicateName {
        /// "config name" or "device name".
        what: &'static str,
        /// Absolute offset of the second blob.
        at: u64,
        /// The repeated name.
        name: String,
    },
    /// The bytes after the last extent do not form an extent.
    #[error(
        "trailing garbage at offset {at}: expected an extent header (magic {}), found {}",
        Bytes(&crate::format::EXTENT_MAGIC),
        Bytes(found)
    )]
    TrailingGarbage {
        /// Absolute offset where an extent should start.
        at: u64,
        /// The first four bytes found there.
        found: [u8; 4],
    },
    /// An extent carries a different uuid than the archive header.
    #[error(
        "extent uuid mismatch at offset {at}: expected {}, found {}",
        Bytes(expected),
        Bytes(found)
    )]
    UuidMismatch {
        /// Absolute offset of the extent's uuid field.
        at: u64,
        /// The archive's uuid.
        expected: [u8; 16],
        /// The extent's uuid.
        found: [u8; 16],
    },
    /// A reserved field is not zero.
    #[error("reserved {what} at offset {at} is not zero: found {found}")]
    NonZeroReserved {
        /// The field.
        what: &'static str,
        /// Absolute offset of the field.
        at: u64,
        /// The value found.
        found: u64,
    },
    /// `block_count` disagrees with the number of set mask bits.
    #[error(
        "extent block count mismatch at offset {at}: the header declares {declared} blocks, the cluster masks add up to {counted}"
    )]
    BlockCountMismatch {
        /// Absolute offset of the extent.
        at: u64,
        /// `block_count` from the extent header.
        declared: u64,
        /// Σ popcount(mask) over the used entries.
        counted: u64,
    },
    /// An extent refers to a device the header does not declare.
    #[error("extent entry at offset {at} refers to unknown device {dev_id}")]
    UnknownDevice {
        /// The device id.
        dev_id: u8,
        /// Absolute offset of the blockinfo entry.
        at: u64,
    },
    /// A cluster number lies past the end of its device.
    #[error(
        "cluster {cluster} of device {device} at offset {at} is out of range: the device has {clusters} clusters"
    )]
    ClusterOutOfRange {
        /// Device name.
        device: String,
        /// The cluster number.
        cluster: u32,
        /// Number of clusters of the device.
        clusters: u64,
        /// Absolute offset of the blockinfo entry.
        at: u64,
    },
    /// A stored block starts at or past the end of its device.
    #[error(
        "cluster {cluster} of device {device} at offset {at} stores block {block}, which starts past the device end"
    )]
    BlockPastEnd {
        /// Device name.
        device: String,
        /// The cluster number.
        cluster: u32,
        /// Block index inside the cluster (0..16).
        block: u32,
        /// Absolute offset of the blockinfo entry.
        at: u64,
    },
    /// A cluster appears twice.
    #[error("duplicate cluster {cluster} of device {device} at offset {at}")]
    DuplicateCluster {
        /// Device name.
        device: String,
        /// The cluster number.
        cluster: u32,
        /// Absolute offset of the second blockinfo entry.
        at: u64,
    },
    /// vmstate clusters must come in order 0, 1, 2, …
    #[error(
        "out of order vmstate cluster at offset {at} of device {device}: expected {expected}, found {found}"
    )]
    VmstateOutOfOrder {
        /// Device name.
        device: String,
        /// The cluster that should come next.
        expected: u64,
        /// The cluster found.
        found: u32,
        /// Absolute offset of the blockinfo entry.
        at: u64,
    },
    /// A cluster never appeared (reported for the first missing one).
    #[error("missing cluster {cluster} of device {device}")]
    MissingCluster {
        /// Device name.
        device: String,
        /// The first cluster that never appeared.
        cluster: u64,
    },
    /// [`crate::Reader::finish`] was called while extents remained.
    #[error("the archive continues at offset {at}: finish() was called before the end")]
    NotAtEnd {
        /// Absolute offset of the unread extent.
        at: u64,
    },
    /// The reader was used again after it had returned an error.
    #[error("the reader already failed at offset {at}")]
    AfterError {
        /// Archive offset reached when the first error occurred.
        at: u64,
    },
    /// The description of a new archive is invalid.
    #[error("invalid archive description: {reason}")]
    InvalidArchive {
        /// What is wrong.
        reason: String,
    },
    /// A [`crate::Writer::write_cluster`] call is invalid.
    #[error("cannot write cluster {cluster} of device {dev_id}: {reason}")]
    InvalidCluster {
        /// Device id passed.
        dev_id: u8,
        /// Cluster number passed.
        cluster: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// [`crate::Writer::finish`] was called before every cluster was written.
    #[error("cluster {cluster} of device {device} was never written")]
    ClusterNotWritten {
        /// Device name.
        device: String,
        /// The first cluster not written.
        cluster: u64,
    },
    /// Writing an output failed (the `sink` crate's error, which names the path).
    #[error("{0}")]
    Sink(#[source] Box<sink::Error>),
    /// A requested drive is not in the archive.
    #[error("no drive named {name:?} in the archive (available: {})", available.join(", "))]
    UnknownDrive {
        /// The name requested.
        name: String,
        /// The device names in the archive.
        available: Vec<String>,
    },
}

impl From<sink::Error> for Error {
    fn from(e: sink::Error) -> Self {
        Error::Sink(Box::new(e))
    }
}

impl Error {
    /// A short piece of advice for the user, where one helps.
    pub fn hint(&self) -> Option<String> {
        if let Error::Sink(e) = self {
            return e.hint();
        }
        Some(match self {
            Error::MissingCluster { .. } => {
                "the archive is incomplete: the backup was probably interrupted"
            }
            Error::Truncated { .. } => {
                "the archive ends early: it was probably cut short by an interrupted backup or copy, or a full disk"
            }
            Error::BadMagic { at: 0, .. } => {
                "this is not an uncompressed vma archive: if it is compressed (.zst, .gz, .lzo), decompress it first"
            }
            Error::ChecksumMismatch { .. } => {
                "the archive is damaged; restore from another copy if one exists"
            }
            Error::TrailingGarbage { .. } => {
                "data follows the last extent: the file may be damaged or have something appended"
            }
            Error::UnknownDrive { .. } => {
                "drives are named as in the archive (drive-scsi0) or in short form (scsi0)"
            }
            Error::DuplicateCluster { .. } | Error::UuidMismatch { .. } => {
                "the archive mixes data from more than one backup or is damaged"
            }
            _ => return None,
        }
        .to_owned())
    }
}

/// Displays bytes as lower-case hex.
struct Bytes<'a, const N: usize>(&'a [u8; N]);

impl<const N: usize> fmt::Display for Bytes<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
