//! DataBlobs: every chunk file and every `*.blob` (spec §3).
//!
//! A blob is a header (`magic[8] crc32 u32`, plus `iv[16] tag[16]` when encrypted) and a payload;
//! the CRC-32 covers the payload (for encrypted blobs, the ciphertext). [`Blob::parse`] checks the
//! magic, the length and the CRC — all a reader without the key can check — and
//! [`Blob::decode`] decrypts and decompresses, never producing more than a given limit.

use std::path::Path;

use crate::error::{Error, Result, hex};
use crate::format::{
    BLOB_ENCRYPTED, BLOB_ENCRYPTED_ZSTD, BLOB_HEADER, BLOB_PLAIN, BLOB_ZSTD, ENCRYPTED_BLOB_HEADER,
    MAX_BLOB_FILE,
};
use crate::key::Key;

/// The four kinds of blob, one per magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// Stored as is.
    Plain,
    /// zstd-compressed.
    Zstd,
    /// AES-256-GCM encrypted.
    Encrypted,
    /// zstd-compressed, then encrypted.
    EncryptedZstd,
}

impl BlobKind {
    /// The kind with this magic.
    pub fn from_magic(magic: &[u8]) -> Option<BlobKind> {
        match <[u8; 8]>::try_from(magic).ok()? {
            BLOB_PLAIN => Some(BlobKind::Plain),
            BLOB_ZSTD => Some(BlobKind::Zstd),
            BLOB_ENCRYPTED => Some(BlobKind::Encrypted),
            BLOB_ENCRYPTED_ZSTD => Some(BlobKind::EncryptedZstd),
            _ => None,
        }
    }

    /// True for the two encrypted kinds.
    pub fn is_encrypted(self) -> bool {
        matches!(self, BlobKind::Encrypted | BlobKind::EncryptedZstd)
    }

    /// True for the two compressed kinds.
    pub fn is_compressed(self) -> bool {
        matches!(self, BlobKind::Zstd | BlobKind::EncryptedZstd)
    }

    /// The header length.
    pub fn header_len(self) -> usize {
        if self.is_encrypted() {
            ENCRYPTED_BLOB_HEADER
        } else {
            BLOB_HEADER
        }
    }

    /// How the kind is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            BlobKind::Plain => "uncompressed",
            BlobKind::Zstd => "zstd-compressed",
            BlobKind::Encrypted => "encrypted",
            BlobKind::EncryptedZstd => "encrypted and compressed",
        }
    }
}

/// A blob whose magic, length and CRC-32 are checked.
#[derive(Debug, Clone, Copy)]
pub struct Blob<'a> {
    /// Its kind.
    pub kind: BlobKind,
    iv: [u8; 16],
    tag: [u8; 16],
    payload: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Checks the magic, the header length and the CRC-32 of `bytes` (a whole blob file; `file`
    /// names it in errors).
    pub fn parse(bytes: &'a [u8], file: &Path) -> Result<Blob<'a>> {
        if bytes.len() as u64 > MAX_BLOB_FILE {
            return Err(Error::Limit {
                file: file.to_path_buf(),
                what: "blob file size",
                at: 0,
                value: bytes.len() as u64,
                limit: MAX_BLOB_FILE,
            });
        }
        let magic = bytes
            .get(..8)
            .ok_or_else(|| truncated(file, "blob header", 0, BLOB_HEADER, bytes.len()))?;
        let kind = BlobKind::from_magic(magic).ok_or_else(|| Error::BadMagic {
            file: file.to_path_buf(),
            what: "blob",
            at: 0,
            expected: [BLOB_PLAIN, BLOB_ZSTD, BLOB_ENCRYPTED, BLOB_ENCRYPTED_ZSTD]
                .iter()
                .map(|m| hex(m))
                .collect::<Vec<_>>()
                .join(" or "),
            found: hex(magic),
        })?;
        let header = kind.header_len();
        let (Some(head), Some(payload)) = (bytes.get(..header), bytes.get(header..)) else {
            return Err(truncated(file, "blob header", 0, header, bytes.len()));
        };
        let stored = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(Error::Checksum {
                file: file.to_path_buf(),
                what: "blob CRC-32",
                at: 8,
                expected: format!("{stored:08x}"),
                found: format!("{computed:08x}"),
            });
        }
        let mut iv = [0u8; 16];
        let mut tag = [0u8; 16];
        if kind.is_encrypted() {
            iv.copy_from_slice(&head[12..28]);
            tag.copy_from_slice(&head[28..44]);
        }
        Ok(Blob {
            kind,
            iv,
            tag,
            payload,
        })
    }

    /// The stored payload (ciphertext for encrypted blobs).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The decoded data, at most `max_len` bytes: decrypted with `key` when the blob is
    /// encrypted (which then needs one), decompressed when compressed.
    pub fn decode(&self, key: Option<&Key>, max_len: usize, file: &Path) -> Result<Vec<u8>> {
        let header = self.kind.header_len() as u64;
        let mut plain = Vec::new();
        let data: &[u8] = if self.kind.is_encrypted() {
            let key = key.ok_or_else(|| Error::NeedKey {
                file: file.to_path_buf(),
                fingerprint: None,
                given: Vec::new(),
            })?;
            let mut buf = self.payload.to_vec();
            if !key.decrypt(&self.iv, &self.tag, &mut buf) {
                return Err(Error::Decrypt {
                    file: file.to_path_buf(),
                    at: header,
                    fingerprint: key.fingerprint().to_string(),
                });
            }
            plain = buf;
            &plain
        } else {
            self.payload
        };
        if self.kind.is_compressed() {
            decompress(data, max_len, file, header)
        } else if data.len() > max_len {
            Err(Error::Limit {
                file: file.to_path_buf(),
                what: "decoded blob size",
                at: header,
                value: data.len() as u64,
                limit: max_len as u64,
            })
        } else if self.kind.is_encrypted() {
            Ok(plain)
        } else {
            Ok(data.to_vec())
        }
    }
}

/// Decompresses one or more zstd frames into at most `max_len` bytes.
fn decompress(data: &[u8], max_len: usize, file: &Path, at: u64) -> Result<Vec<u8>> {
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(data)
        && n > max_len as u64
    {
        return Err(Error::Limit {
            file: file.to_path_buf(),
            what: "decoded blob size (zstd frame header)",
            at,
            value: n,
            limit: max_len as u64,
        });
    }
    // One decompression context per call: a bulk call handles concatenated frames and frames
    // without a content size, and never writes past the capacity.
    zstd::bulk::decompress(data, max_len).map_err(|e| Error::Decompress {
        file: file.to_path_buf(),
        at,
        reason: if e.to_string().contains("too small") {
            format!("it decodes to more than {max_len} bytes")
        } else {
            e.to_string()
        },
    })
}

pub(crate) fn truncated(
    file: &Path,
    what: &'static str,
    at: u64,
    needed: usize,
    len: usize,
) -> Error {
    Error::Truncated {
        file: file.to_path_buf(),
        what,
        at,
        needed: needed as u64,
        available: (len as u64).saturating_sub(at),
    }
}
