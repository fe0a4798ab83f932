//! The crate's error type.
//!
//! Every malformed-input variant names the format, the absolute byte offset in the *compressed* input and, for
//! checksums, the expected and found values. Messages are lower-case without a trailing period; the caller adds
//! which file and which step. I/O sources are kept in an [`Arc`] so that the error is [`Clone`]: the reader hands
//! the same error out again if it is polled after a failure.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::Format;

/// A specialised [`Result`](std::result::Result) for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while opening, sniffing, decompressing or compressing.
///
/// Errors raised on the decompression thread reach [`Input`](crate::Input)'s `read` as a [`std::io::Error`] whose
/// inner error is this type; see [`Error::from_io`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path (or stdin) could not be opened, or its first bytes could not be read.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path as given, or `<stdin>`.
        path: String,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// Reading the compressed input failed (a disk or pipe error, not corruption).
    #[error("read error in {format} input at compressed byte {at}: {source}")]
    Read {
        /// The format being decoded.
        format: Format,
        /// Compressed bytes consumed before the failing read.
        at: u64,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The input ends before the format's own end: the file was cut short.
    #[error(
        "the file ends in the middle of {what} at compressed byte {at}{}: the file is truncated (an interrupted backup or copy)",
        CompleteBlocks(*.complete_blocks)
    )]
    Truncated {
        /// The format being decoded.
        format: Format,
        /// The structure that was cut, e.g. "a zstd frame" or "lzop block 3".
        what: String,
        /// The compressed offset reached (for lzop: the start of the cut structure).
        at: u64,
        /// For lzop, how many blocks were decoded completely before the cut.
        complete_blocks: Option<u64>,
    },

    /// A stored checksum does not match the data.
    #[error("{what} at byte {at}: {checksum} expected {expected:#010x} found {found:#010x}")]
    ChecksumMismatch {
        /// The format being decoded.
        format: Format,
        /// The structure the checksum covers, e.g. "lzop block 3" or "lzop header".
        what: String,
        /// Which checksum, e.g. "adler32 of uncompressed data".
        checksum: &'static str,
        /// Absolute compressed offset of the structure's start (lzop: the block header).
        at: u64,
        /// The value stored in the file.
        expected: u32,
        /// The value computed over the data.
        found: u32,
    },

    /// The data violates the format (a decoder rejected it, or a length is impossible).
    #[error("corrupt {format} data at compressed byte {at}: {detail}")]
    Corrupt {
        /// The format being decoded.
        format: Format,
        /// Absolute compressed offset: the structure's start for lzop, the offset reached for the other formats.
        at: u64,
        /// What is wrong, usually the decoder's own message.
        detail: String,
    },

    /// The bytes at a place where a magic number must be are something else.
    #[error("not {format} data at compressed byte {at}: expected magic {} found {}", Hex(.expected), Hex(.found))]
    BadMagic {
        /// The format expected.
        format: Format,
        /// Absolute compressed offset of the magic.
        at: u64,
        /// The magic number.
        expected: Vec<u8>,
        /// The bytes present (possibly fewer at the end of the input).
        found: Vec<u8>,
    },

    /// A valid but unsupported feature: an unknown lzop method, a multipart file, a newer version.
    #[error("unsupported {format} file at compressed byte {at}: {what}")]
    Unsupported {
        /// The format being decoded.
        format: Format,
        /// Absolute compressed offset of the structure declaring the feature.
        at: u64,
        /// What is unsupported.
        what: String,
    },

    /// A length field exceeds a named limit, checked before allocating.
    #[error("{what} at compressed byte {at} is {value}, more than the limit of {limit}")]
    LimitExceeded {
        /// The format being decoded.
        format: Format,
        /// The field, e.g. "lzop block 3 uncompressed length".
        what: String,
        /// Absolute compressed offset of the structure holding the field.
        at: u64,
        /// The value found.
        value: u64,
        /// The limit.
        limit: u64,
    },

    /// Setting up a compressor failed.
    #[error("cannot set up the {compression} compressor: {source}")]
    Compressor {
        /// The compression requested.
        compression: crate::Format,
        /// The library's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The decompression thread ended without reporting an end or an error (it panicked).
    #[error("the {format} decompression thread stopped unexpectedly")]
    WorkerLost {
        /// The format being decoded.
        format: Format,
    },
}

impl Error {
    /// A sentence of guidance for the user, if there is one.
    pub fn hint(&self) -> Option<String> {
        self.hint_text().map(str::to_owned)
    }

    /// The hint, as a constant.
    fn hint_text(&self) -> Option<&'static str> {
        match self {
            Error::Open { .. } | Error::Read { .. } | Error::Compressor { .. } => None,
            Error::Truncated { .. } => Some(
                "the backup job or the copy did not finish: copy the file again from the backup storage, \
                 or check the vzdump log of that backup",
            ),
            Error::ChecksumMismatch { .. } | Error::Corrupt { .. } => Some(
                "the file was damaged after it was written (disk, memory or transfer error): \
                 try another copy of the backup",
            ),
            Error::BadMagic { .. } => {
                Some("the file is not what its first bytes claimed: it may be damaged")
            }
            Error::Unsupported { .. } => Some(
                "vzdump never writes this: decompress the file with the original tool first \
                 and pass the result",
            ),
            Error::LimitExceeded { .. } => {
                Some("a length field is implausible: the file is probably damaged")
            }
            Error::WorkerLost { .. } => Some("this is a bug in pverescue: please report it"),
        }
    }

    /// The format this error is about, if any.
    pub fn format(&self) -> Option<Format> {
        match self {
            Error::Read { format, .. }
            | Error::Truncated { format, .. }
            | Error::ChecksumMismatch { format, .. }
            | Error::Corrupt { format, .. }
            | Error::BadMagic { format, .. }
            | Error::Unsupported { format, .. }
            | Error::LimitExceeded { format, .. }
            | Error::WorkerLost { format } => Some(*format),
            Error::Open { .. } | Error::Compressor { .. } => None,
        }
    }

    /// Recovers an [`Error`] carried inside an [`io::Error`], as returned by [`Input`](crate::Input)'s `read`.
    ///
    /// Returns `None` when the I/O error did not come from this crate.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// Wraps this error in an [`io::Error`] of a fitting kind, so that it can travel through `Read`.
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Open { source, .. }
            | Error::Read { source, .. }
            | Error::Compressor { source, .. } => source.kind(),
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::ChecksumMismatch { .. }
            | Error::Corrupt { .. }
            | Error::BadMagic { .. }
            | Error::LimitExceeded { .. } => io::ErrorKind::InvalidData,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::WorkerLost { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// Renders ", after N complete blocks" when a count is known.
struct CompleteBlocks(Option<u64>);

impl fmt::Display for CompleteBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(1) => f.write_str(", after 1 complete block"),
            Some(n) => write!(f, ", after {n} complete blocks"),
            None => Ok(()),
        }
    }
}

/// Renders bytes as space-separated hex, or "nothing" for an empty slice.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing (end of input)");
        }
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
