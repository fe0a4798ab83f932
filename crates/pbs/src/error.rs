//! The crate's error type: every malformed-input error names the file, the byte offset, what was
//! expected and what was found.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error while finding, reading, decoding or checking part of a datastore.
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
    /// A structure does not start with its magic number.
    #[error("{}: {what} at byte {at}: expected magic {expected}, found {found}", file.display())]
    BadMagic {
        /// The file.
        file: PathBuf,
        /// The structure ("blob", "fixed index").
        what: &'static str,
        /// Offset of the magic.
        at: u64,
        /// The accepted magic(s), hex.
        expected: String,
        /// The bytes found, hex.
        found: String,
    },
    /// A checksum or digest does not match.
    #[error("{}: {what} at byte {at}: expected {expected}, found {found}", file.display())]
    Checksum {
        /// The file.
        file: PathBuf,
        /// What was checked ("blob CRC-32", "chunk digest", "index checksum", …).
        what: &'static str,
        /// Offset of the checked structure.
        at: u64,
        /// The value recorded on disk.
        expected: String,
        /// The value computed.
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
    /// A number read from disk is beyond what is accepted.
    #[error("{}: {what} at byte {at} is {value}, the limit is {limit}", file.display())]
    Limit {
        /// The file.
        file: PathBuf,
        /// The quantity ("chunk size", "decoded blob size").
        what: &'static str,
        /// Where it was read.
        at: u64,
        /// The value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A structure holds values that cannot be (sizes that do not add up, a bad name).
    #[error("{}: {what} at byte {at}: expected {expected}, found {found}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The structure or field.
        what: &'static str,
        /// Where.
        at: u64,
        /// What a valid file has there.
        expected: String,
        /// What this one has.
        found: String,
    },
    /// A zstd payload does not decompress.
    #[error("{}: zstd data at byte {at} does not decompress: {reason}", file.display())]
    Decompress {
        /// The file.
        file: PathBuf,
        /// Offset of the compressed payload.
        at: u64,
        /// What zstd said.
        reason: String,
    },
    /// An encrypted blob (or key file) does not decrypt with the key given: wrong key or damage.
    #[error("{}: the encrypted data at byte {at} does not decrypt with the key {fingerprint} (authentication tag mismatch)", file.display())]
    Decrypt {
        /// The file.
        file: PathBuf,
        /// Offset of the ciphertext.
        at: u64,
        /// Fingerprint of the key tried.
        fingerprint: String,
    },
    /// An encrypted blob or snapshot and no key for it.
    #[error(
        "{} is encrypted{}; {}",
        file.display(),
        fingerprint.as_ref().map(|f| format!(" with the key {f}")).unwrap_or_default(),
        if given.is_empty() { "no key was given".to_string() } else { format!("the keys given are {}", given.join(", ")) }
    )]
    NeedKey {
        /// The file.
        file: PathBuf,
        /// The key it needs, when the manifest says.
        fingerprint: Option<String>,
        /// Fingerprints of the keys that were given (none of them fits).
        given: Vec<String>,
    },
    /// A chunk's encryption does not match its index's crypt mode.
    #[error("{}: chunk {digest} is {found}, its index is {expected}", file.display())]
    CryptMode {
        /// The chunk file.
        file: PathBuf,
        /// The chunk digest, hex.
        digest: String,
        /// The index's crypt mode.
        expected: &'static str,
        /// What the chunk is.
        found: &'static str,
    },
    /// A chunk an index needs is not in the chunk store.
    #[error("{}: chunk {digest} (entry {entry} of {}) is missing", file.display(), index.display())]
    MissingChunk {
        /// Where the chunk should be.
        file: PathBuf,
        /// Its digest, hex.
        digest: String,
        /// The index that needs it.
        index: PathBuf,
        /// The entry number in that index.
        entry: u64,
    },
    /// A key file that cannot be used.
    #[error("{}: {reason}", file.display())]
    KeyFile {
        /// The key file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key file protected by a passphrase and none given.
    #[error("{} is protected by a passphrase; none was given", file.display())]
    NeedPassphrase {
        /// The key file.
        file: PathBuf,
    },
    /// The manifest's JSON is not a PBS manifest.
    #[error("{}: not a valid manifest: {reason}", file.display())]
    Manifest {
        /// The manifest file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// An archive file does not match its manifest entry.
    #[error("{}: {what} is {found}, the manifest says {expected}", file.display())]
    ManifestMismatch {
        /// The archive file.
        file: PathBuf,
        /// "size" or "checksum".
        what: &'static str,
        /// What the manifest says.
        expected: String,
        /// What the file has.
        found: String,
    },
    /// A signed manifest's signature does not match the key.
    #[error("{}: manifest signature is {found}, the key {fingerprint} gives {expected}", file.display())]
    Signature {
        /// The manifest.
        file: PathBuf,
        /// The key used.
        fingerprint: String,
        /// The signature computed with it.
        expected: String,
        /// The one stored.
        found: String,
    },
    /// Writing the restored disk failed.
    #[error(transparent)]
    Write(#[from] sink::Error),
    /// A path that is no datastore, snapshot or group.
    #[error("{}: {reason}", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
        /// What was looked for.
        reason: String,
    },
}

impl Error {
    /// What the user can do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NeedKey { fingerprint: Some(f), .. } => format!(
                "give the key file whose fingerprint is {f} (PVE keeps it as /etc/pve/priv/storage/<storage>.enc)"
            ),
            Error::NeedKey { fingerprint: None, .. } => {
                "give the key file the backup was encrypted with (PVE keeps it as /etc/pve/priv/storage/<storage>.enc)".into()
            }
            Error::Decrypt { .. } => "a wrong key or a damaged file: check that the key's fingerprint is the one the snapshot's manifest names (key-fingerprint); if it is, the file is damaged".into(),
            Error::NeedPassphrase { .. } => "give the passphrase the key was created with".into(),
            Error::MissingChunk { .. } => "copy the chunk from another copy of the datastore (same path under .chunks/), or restore around it with `pverescue extract --zero-fill` and check what the gap hits".into(),
            Error::Checksum { file, .. } if file.components().any(|c| c.as_os_str() == ".chunks") => {
                "the chunk is damaged: copy it from another copy of the datastore, or restore around it with `pverescue extract --zero-fill`".into()
            }
            Error::Checksum { what, .. } if what.starts_with("blob") => {
                "the file is damaged: copy it from another copy of the datastore".into()
            }
            Error::ManifestMismatch { .. } | Error::Checksum { .. } | Error::Truncated { .. } => {
                "the file was changed or damaged after the backup: copy it from another copy of the datastore".into()
            }
            Error::BadMagic { .. }
            | Error::Invalid { .. }
            | Error::Limit { .. }
            | Error::Decompress { .. }
            | Error::CryptMode { .. } => {
                "the file is damaged or is not what its name says: copy it from another copy of \
                 the datastore; damaged chunks can be restored around with --zero-fill"
                    .into()
            }
            Error::Signature { .. } => "the manifest was changed after the backup, or the key is not the one it was signed with".into(),
            Error::NotFound { .. } => "give a datastore (the directory holding .chunks), a group (vm/100) or a snapshot directory".into(),
            Error::Write(e) => return e.hint(),
            _ => return None,
        })
    }
}

/// An [`Error::Io`] builder for `map_err`.
pub(crate) fn io_err<'a>(
    op: &'static str,
    file: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        file: file.to_path_buf(),
        source,
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses 64 hex characters into 32 bytes.
pub(crate) fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}
