//! The crate's error type: malformed-input errors name the archive, the byte offset, what was
//! expected and what was found.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Which stream of an archive an offset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The archive (`.pxar`) or its metadata stream (`.mpxar`).
    Meta,
    /// The payload stream of a split archive (`.ppxar`).
    Payload,
}

/// An error while reading or extracting a pxar archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the archive failed (a missing or damaged chunk of the stream, an I/O error).
    #[error("{archive}: cannot read {len} bytes at byte {at}{}: {source}", in_payload(*stream))]
    Read {
        /// The archive's name.
        archive: String,
        /// Which stream.
        stream: Stream,
        /// Where the read started.
        at: u64,
        /// How many bytes.
        len: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An item of another type than the grammar allows here.
    #[error("{archive}: at byte {at}{}: expected {expected}, found {found}", in_payload(*stream))]
    Unexpected {
        /// The archive's name.
        archive: String,
        /// Which stream.
        stream: Stream,
        /// Offset of the item header.
        at: u64,
        /// What the grammar allows.
        expected: String,
        /// What is there.
        found: String,
    },
    /// An item or structure reaches past its end (the archive's, its directory's, its parent's).
    #[error("{archive}: {what} at byte {at}{} needs {needed} bytes, {available} are left", in_payload(*stream))]
    Truncated {
        /// The archive's name.
        archive: String,
        /// Which stream.
        stream: Stream,
        /// The structure.
        what: &'static str,
        /// Where it starts.
        at: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes there are.
        available: u64,
    },
    /// A size or count beyond what is accepted.
    #[error("{archive}: {what} at byte {at} is {value}, the limit is {limit}")]
    Limit {
        /// The archive's name.
        archive: String,
        /// The quantity.
        what: &'static str,
        /// Where it was read.
        at: u64,
        /// The value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A file name that could lead out of the tree or is not a name at all.
    #[error("{archive}: file name at byte {at} is refused ({why}): {name:?}")]
    BadName {
        /// The archive's name.
        archive: String,
        /// Offset of the FILENAME item.
        at: u64,
        /// The name, lossily decoded.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A goodbye table that does not match its directory.
    #[error("{archive}: goodbye table at byte {at}: {why}")]
    Goodbye {
        /// The archive's name.
        archive: String,
        /// Offset of the GOODBYE item.
        at: u64,
        /// What does not match.
        why: String,
    },
    /// A file of a split archive whose payload reference is bad.
    #[error("{archive}: {path}: payload reference at byte {at} ({offset}+{size}): {why}")]
    BadPayloadRef {
        /// The archive's name.
        archive: String,
        /// The file's path in the archive.
        path: String,
        /// Offset of the PAYLOAD_REF item in the metadata stream.
        at: u64,
        /// The referenced offset in the payload stream.
        offset: u64,
        /// The referenced size.
        size: u64,
        /// What is wrong.
        why: String,
    },
    /// A split archive's metadata stream read without its payload stream.
    #[error(
        "{archive}: the file at byte {at} has its data in the payload stream (.ppxar), which was not given"
    )]
    NoPayloadStream {
        /// The archive's name.
        archive: String,
        /// Offset of the PAYLOAD_REF.
        at: u64,
    },
    /// A payload stream that does not start and end with its markers.
    #[error("{archive}: the payload stream {why}")]
    BadPayloadStream {
        /// The archive's name.
        archive: String,
        /// What is wrong.
        why: String,
    },
    /// A path looked up is not in the archive.
    #[error("{archive}: no entry {path:?} in the archive")]
    NotFound {
        /// The archive's name.
        archive: String,
        /// The path.
        path: String,
    },
    /// An operation on an entry of the wrong kind (reading a directory as a file).
    #[error("{archive}: {path:?} is {found}, not {expected}")]
    WrongKind {
        /// The archive's name.
        archive: String,
        /// The entry's path.
        path: String,
        /// What was asked for.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// Extraction: a file system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Extract {
        /// What was being done.
        op: &'static str,
        /// The path on disk (the temporary tree's name while extracting).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Extraction: two entries of one directory have the same name, or an entry's name is
    /// taken by something that is not ours.
    #[error("{archive}: {path:?} appears twice in the archive (second at byte {at})")]
    Duplicate {
        /// The archive's name.
        archive: String,
        /// The entry's path.
        path: String,
        /// Offset of the second entry.
        at: u64,
    },
    /// Extraction: the target directory already exists.
    #[error("{} already exists", path.display())]
    TargetExists {
        /// The path.
        path: PathBuf,
    },
    /// Extraction: the tree appeared under its final name meanwhile; ours is kept under the
    /// temporary name.
    #[error("{} appeared meanwhile; the restored tree is kept as {}", path.display(), kept.display())]
    AppearedMeanwhile {
        /// The final name.
        path: PathBuf,
        /// Where the restored tree is.
        kept: PathBuf,
    },
}

fn in_payload(s: Stream) -> &'static str {
    match s {
        Stream::Meta => "",
        Stream::Payload => " of the payload stream",
    }
}

impl Error {
    /// Advice for the user, when there is some.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::BadName { .. } | Error::Duplicate { .. } => Some(
                "the archive is damaged or was crafted to write outside the target; nothing was \
                 restored under the final name"
                    .into(),
            ),
            Error::Read { .. } => Some(
                "a chunk of the archive is missing or damaged: `pverescue verify` on the \
                 snapshot lists the bad chunks"
                    .into(),
            ),
            Error::NoPayloadStream { .. } => Some(
                "a split archive needs both X.mpxar.didx and X.ppxar.didx of one snapshot".into(),
            ),
            Error::TargetExists { .. } => Some(
                "choose another directory, or remove the existing tree first (it is never \
                 replaced)"
                    .into(),
            ),
            _ => None,
        }
    }

    /// True for errors that concern one file's data only (the rest of the tree can still be
    /// read): a bad payload reference or an unreadable range of its data.
    pub fn is_file_damage(&self) -> bool {
        matches!(self, Error::BadPayloadRef { .. } | Error::Read { .. })
    }
}
