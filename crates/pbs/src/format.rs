//! The on-disk format in constants: magics with their derivation, header layouts, limits.
//!
//! Every magic is the first 8 bytes of `SHA-256(label)` for the label written next to it; the
//! values are fixed by Proxmox Backup Server and must never change (a unit test recomputes them).
//! Layouts follow `shared/specs/pbs.md` §3 (blobs) and §5 (indexes); everything is little-endian.

/// "Proxmox Backup uncompressed blob v1.0": a plain DataBlob.
pub const BLOB_PLAIN: [u8; 8] = [0x42, 0xab, 0x38, 0x07, 0xbe, 0x83, 0x70, 0xa1];
/// "Proxmox Backup zstd compressed blob v1.0": a zstd-compressed DataBlob.
pub const BLOB_ZSTD: [u8; 8] = [0x31, 0xb9, 0x58, 0x42, 0x6f, 0xb6, 0xa3, 0x7f];
/// "Proxmox Backup encrypted blob v1.0": an AES-256-GCM encrypted DataBlob.
pub const BLOB_ENCRYPTED: [u8; 8] = [0x7b, 0x67, 0x85, 0xbe, 0x22, 0x2d, 0x4c, 0xf0];
/// "Proxmox Backup zstd compressed encrypted blob v1.0": compressed, then encrypted.
pub const BLOB_ENCRYPTED_ZSTD: [u8; 8] = [0xe6, 0x59, 0x1b, 0xbf, 0x0b, 0xbf, 0xd8, 0x0b];
/// "Proxmox Backup fixed sized chunk index v1.0": a `.fidx` file.
pub const FIDX: [u8; 8] = [0x2f, 0x7f, 0x41, 0xed, 0x91, 0xfd, 0x0f, 0xcd];
/// "Proxmox Backup dynamic sized chunk index v1.0": a `.didx` file.
pub const DIDX: [u8; 8] = [0x1c, 0x91, 0x4e, 0xa5, 0x19, 0xba, 0xb3, 0xcd];

/// Header of an unencrypted blob: `magic[8] crc32 u32`.
pub const BLOB_HEADER: usize = 12;
/// Header of an encrypted blob: `magic[8] crc32 u32 iv[16] tag[16]`.
pub const ENCRYPTED_BLOB_HEADER: usize = 44;
/// Header of both index kinds.
pub const INDEX_HEADER: usize = 4096;
/// One `.fidx` entry: a digest.
pub const FIDX_ENTRY: usize = 32;
/// One `.didx` entry: `end u64` and a digest.
pub const DIDX_ENTRY: usize = 40;

/// Offsets inside the index header.
pub mod index_header {
    /// `uuid[16]`.
    pub const UUID: usize = 8;
    /// `ctime i64`, seconds since the epoch.
    pub const CTIME: usize = 24;
    /// `index_csum[32]`.
    pub const CSUM: usize = 32;
    /// `.fidx` only: `size u64`, the image size.
    pub const SIZE: usize = 64;
    /// `.fidx` only: `chunk_size u64`.
    pub const CHUNK_SIZE: usize = 72;
}

/// Largest decoded chunk or blob accepted (PBS chunks are at most 16 MiB).
pub const MAX_BLOB_DATA: usize = 16 << 20;
/// Largest encoded blob file accepted: a maximal payload stored uncompressed, plus the header.
pub const MAX_BLOB_FILE: u64 = MAX_BLOB_DATA as u64 + ENCRYPTED_BLOB_HEADER as u64;
/// Smallest `.fidx` chunk size (64 KiB); the largest is [`MAX_FIXED_CHUNK`], a power of two.
pub const MIN_FIXED_CHUNK: u64 = 64 << 10;
/// Largest `.fidx` chunk size (4 MiB, what PVE writes).
pub const MAX_FIXED_CHUNK: u64 = 4 << 20;
/// Largest index file read (2^24 entries: 64 TiB of 4 MiB chunks).
pub const MAX_INDEX_FILE: u64 = INDEX_HEADER as u64 + (DIDX_ENTRY as u64) * (1 << 24);
/// Deepest namespace nesting PBS allows.
pub const MAX_NAMESPACE_DEPTH: usize = 7;
/// Largest `owner`/`notes`/key file read.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// SHA-256 of 4 MiB of zeros: the zero chunk most VM backups reference.
pub const ZERO_CHUNK_4M: [u8; 32] = [
    0xbb, 0x9f, 0x8d, 0xf6, 0x14, 0x74, 0xd2, 0x5e, 0x71, 0xfa, 0x00, 0x72, 0x23, 0x18, 0xcd, 0x38,
    0x73, 0x96, 0xca, 0x17, 0x36, 0x60, 0x5e, 0x12, 0x48, 0x82, 0x1c, 0xc0, 0xde, 0x3d, 0x3a, 0xf8,
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn magic(label: &str) -> [u8; 8] {
        let d = Sha256::digest(label.as_bytes());
        let mut m = [0; 8];
        m.copy_from_slice(&d[..8]);
        m
    }

    #[test]
    fn magics_are_the_labels_hashes() {
        assert_eq!(BLOB_PLAIN, magic("Proxmox Backup uncompressed blob v1.0"));
        assert_eq!(BLOB_ZSTD, magic("Proxmox Backup zstd compressed blob v1.0"));
        assert_eq!(BLOB_ENCRYPTED, magic("Proxmox Backup encrypted blob v1.0"));
        assert_eq!(
            BLOB_ENCRYPTED_ZSTD,
            magic("Proxmox Backup zstd compressed encrypted blob v1.0")
        );
        assert_eq!(FIDX, magic("Proxmox Backup fixed sized chunk index v1.0"));
        assert_eq!(DIDX, magic("Proxmox Backup dynamic sized chunk index v1.0"));
        assert_eq!(
            ZERO_CHUNK_4M,
            <[u8; 32]>::from(Sha256::digest(vec![0u8; 4 << 20]))
        );
    }
}
