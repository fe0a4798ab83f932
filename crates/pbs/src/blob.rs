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
        // Zeroed memory is mapped lazily: a generous bound costs only what is written.
        let bound = if self.kind.is_compressed() {
            max_len
        } else {
            self.payload.len().min(max_len)
        };
        let mut out = vec![0u8; bound];
        let n = self.decode_into(key, &mut out, file)?;
        out.truncate(n);
        Ok(out)
    }

    /// Decodes into `out` (at most its length) and returns the decoded length.
    pub fn decode_into(&self, key: Option<&Key>, out: &mut [u8], file: &Path) -> Result<usize> {
        let header = self.kind.header_len() as u64;
        let limit = out.len() as u64;
        let too_long = |value: u64| Error::Limit {
            file: file.to_path_buf(),
            what: "decoded blob size",
            at: header,
            value,
            limit,
        };
        let key = match (self.kind.is_encrypted(), key) {
            (false, _) => None,
            (true, Some(k)) => Some(k),
            (true, None) => {
                return Err(Error::NeedKey {
                    file: file.to_path_buf(),
                    fingerprint: None,
                    given: Vec::new(),
                });
            }
        };
        let decrypt = |key: &Key, buf: &mut [u8]| {
            if key.decrypt(&self.iv, &self.tag, buf) {
                Ok(())
            } else {
                Err(Error::Decrypt {
                    file: file.to_path_buf(),
                    at: header,
                    fingerprint: key.fingerprint().to_string(),
                })
            }
        };
        if !self.kind.is_compressed() {
            let n = self.payload.len();
            let dst = out.get_mut(..n).ok_or_else(|| too_long(n as u64))?;
            dst.copy_from_slice(self.payload);
            if let Some(key) = key {
                decrypt(key, dst)?;
            }
            return Ok(n);
        }
        let plain;
        let data = match key {
            Some(key) => {
                let mut buf = self.payload.to_vec();
                decrypt(key, &mut buf)?;
                plain = buf;
                &plain[..]
            }
            None => self.payload,
        };
        decompress(data, out, file, header)
    }
}

/// Decompresses one or more zstd frames into `out`; returns the decoded length.
fn decompress(data: &[u8], out: &mut [u8], file: &Path, at: u64) -> Result<usize> {
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(data)
        && n > out.len() as u64
    {
        return Err(Error::Limit {
            file: file.to_path_buf(),
            what: "decoded blob size (zstd frame header)",
            at,
            value: n,
            limit: out.len() as u64,
        });
    }
    // A bulk call handles concatenated frames and frames without a content size, and never
    // writes past the end of `out`.
    let limit = out.len();
    // One decompression context per thread, reused: creating one costs more than decoding a
    // small chunk.
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let failed = |e: std::io::Error| Error::Decompress {
        file: file.to_path_buf(),
        at,
        reason: if e.to_string().contains("too small") {
            format!("it decodes to more than {limit} bytes")
        } else {
            e.to_string()
        },
    };
    DCTX.with_borrow_mut(|slot| {
        let z = match slot {
            Some(z) => z,
            None => slot.insert(zstd::bulk::Decompressor::new().map_err(failed)?),
        };
        z.decompress_to_buffer(data, out).map_err(failed)
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
