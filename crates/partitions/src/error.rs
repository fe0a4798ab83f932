//! The crate's error type: every malformed-input variant names the structure and its absolute byte
//! offset in the scanned image.

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while scanning an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from the image failed.
    #[error("i/o error reading {len} bytes at byte {at}: {source}")]
    Io {
        /// Absolute byte offset of the read.
        at: u64,
        /// Length of the read.
        len: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A structure extends past the end of the image.
    #[error("{what} at byte {at} is truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Absolute byte offset of the structure.
        at: u64,
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes the image still has from `at`.
        available: u64,
    },
    /// A signature did not match.
    #[error("bad magic in {what} at byte {at}: expected {expected}, found {found}")]
    BadMagic {
        /// The structure being read.
        what: &'static str,
        /// Absolute byte offset of the magic.
        at: u64,
        /// The expected signature.
        expected: String,
        /// What the image holds there.
        found: String,
    },
    /// A stored checksum does not match the computed one.
    #[error(
        "checksum mismatch in {what} at byte {at}: stored {expected:#010x}, computed {found:#010x}"
    )]
    ChecksumMismatch {
        /// The structure being checked.
        what: &'static str,
        /// Absolute byte offset of the structure.
        at: u64,
        /// The checksum stored in the image.
        expected: u32,
        /// The checksum computed over the data.
        found: u32,
    },
    /// A value points outside the region it must stay in.
    #[error("{what} at byte {at} is out of range: {value} is beyond {limit}")]
    OutOfRange {
        /// The field or structure.
        what: &'static str,
        /// Absolute byte offset of the structure holding the value.
        at: u64,
        /// The offending value.
        value: u64,
        /// The bound it crossed.
        limit: u64,
    },
    /// A count or size exceeds one of this crate's safety limits.
    #[error("{what} at byte {at} exceeds a limit: {value} > {limit}")]
    LimitExceeded {
        /// The field or structure.
        what: &'static str,
        /// Absolute byte offset of the structure holding the value.
        at: u64,
        /// The value found.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A field holds a value that the format forbids.
    #[error("invalid {what} at byte {at}: {reason}")]
    Invalid {
        /// The field or structure.
        what: &'static str,
        /// Absolute byte offset of the structure.
        at: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The chain of extended boot records visits the same record twice.
    #[error("extended partition chain loops: the EBR at byte {at} was already visited")]
    ExtendedLoop {
        /// Absolute byte offset of the EBR visited twice.
        at: u64,
    },
    /// Neither the primary nor the backup GPT could be used.
    #[error("no usable GPT: primary: {primary}; backup: {backup}")]
    GptUnusable {
        /// Why the primary GPT was rejected.
        primary: Box<Error>,
        /// Why the backup GPT was rejected.
        backup: Box<Error>,
    },
    /// The LVM2 text metadata could not be parsed.
    #[error("lvm2 metadata at byte {at}, line {line}: {reason}")]
    LvmSyntax {
        /// Absolute byte offset of the metadata text.
        at: u64,
        /// Line number inside the text (1-based).
        line: u32,
        /// What the parser expected.
        reason: String,
    },
}

impl Error {
    /// A short hint on what to try next, where one is known.
    pub fn hint(&self) -> Option<String> {
        self.hint_text().map(str::to_owned)
    }

    /// The hint, as a constant.
    fn hint_text(&self) -> Option<&'static str> {
        match self {
            Error::GptUnusable { .. } => {
                Some("both GPT copies are damaged: `sgdisk -v` or `testdisk` may rebuild the table")
            }
            Error::Truncated { .. } => {
                Some("the image is shorter than its tables say: was the restore complete?")
            }
            Error::ExtendedLoop { .. } => {
                Some("the primary partitions are still listed; logical partitions need repair")
            }
            _ => None,
        }
    }
}
