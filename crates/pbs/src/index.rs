//! Fixed (`.fidx`) and dynamic (`.didx`) chunk indexes (spec §5).
//!
//! Both have a 4096-byte header (`magic uuid ctime index_csum`, then for `.fidx` the image size
//! and chunk size) followed by entries: a digest each for `.fidx`, `end u64` and a digest for
//! `.didx`. Parsing checks the magic, the sizes (validated before any division or allocation),
//! the entry count and the index checksum.

use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::blob::truncated;
use crate::error::{Error, Result, hex};
use crate::format::{
    DIDX, DIDX_ENTRY, FIDX, FIDX_ENTRY, INDEX_HEADER, MAX_FIXED_CHUNK, MAX_INDEX_FILE,
    MIN_FIXED_CHUNK, index_header as h,
};

/// What both index kinds share in their header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHeader {
    /// Random id of the index.
    pub uuid: [u8; 16],
    /// Creation time, seconds since the epoch.
    pub ctime: i64,
    /// SHA-256 over the entries; the manifest records it as the file's checksum.
    pub csum: [u8; 32],
}

/// A fixed-size chunk index: a disk image cut into `chunk_size` pieces.
#[derive(Debug, Clone)]
pub struct FixedIndex {
    /// The file it was read from.
    pub file: PathBuf,
    /// Its header.
    pub header: IndexHeader,
    /// The image size in bytes.
    pub size: u64,
    /// The chunk size (a power of two, 64 KiB to 4 MiB).
    pub chunk_size: u64,
    /// One digest per chunk.
    pub digests: Vec<[u8; 32]>,
}

/// A dynamic index: a stream cut at content-defined boundaries.
#[derive(Debug, Clone)]
pub struct DynamicIndex {
    /// The file it was read from.
    pub file: PathBuf,
    /// Its header.
    pub header: IndexHeader,
    /// `(end, digest)` per chunk; `end` is the chunk's exclusive end offset in the stream.
    pub entries: Vec<(u64, [u8; 32])>,
}

/// Reads an index file whole, refusing files larger than any index can be.
pub(crate) fn read_index_file(path: &Path) -> Result<Vec<u8>> {
    crate::store::read_bounded(path, MAX_INDEX_FILE, "index file size")
}

fn parse_header(
    bytes: &[u8],
    magic: [u8; 8],
    what: &'static str,
    file: &Path,
) -> Result<IndexHeader> {
    let head = bytes
        .get(..INDEX_HEADER)
        .ok_or_else(|| truncated(file, what, 0, INDEX_HEADER, bytes.len()))?;
    if head[..8] != magic {
        let other = if magic == FIDX { DIDX } else { FIDX };
        let found = hex(&head[..8]);
        return Err(Error::BadMagic {
            file: file.to_path_buf(),
            what,
            at: 0,
            expected: hex(&magic),
            found: if head[..8] == other {
                format!("{found} (the other index kind)")
            } else {
                found
            },
        });
    }
    let mut uuid = [0; 16];
    uuid.copy_from_slice(&head[h::UUID..h::UUID + 16]);
    let mut csum = [0; 32];
    csum.copy_from_slice(&head[h::CSUM..h::CSUM + 32]);
    Ok(IndexHeader {
        uuid,
        ctime: i64::from_le_bytes(le8(head, h::CTIME)),
        csum,
    })
}

fn le8(b: &[u8], at: usize) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    a
}

fn check_csum(header: &IndexHeader, computed: [u8; 32], file: &Path) -> Result<()> {
    if computed != header.csum {
        return Err(Error::Checksum {
            file: file.to_path_buf(),
            what: "index checksum",
            at: h::CSUM as u64,
            expected: hex(&header.csum),
            found: hex(&computed),
        });
    }
    Ok(())
}

impl FixedIndex {
    /// Reads and checks the `.fidx` file at `path`.
    pub fn open(path: &Path) -> Result<FixedIndex> {
        FixedIndex::parse(&read_index_file(path)?, path)
    }

    /// Parses and checks a whole `.fidx` file (`file` names it in errors).
    pub fn parse(bytes: &[u8], file: &Path) -> Result<FixedIndex> {
        let header = parse_header(bytes, FIDX, "fixed index header", file)?;
        let size = u64::from_le_bytes(le8(bytes, h::SIZE));
        let chunk_size = u64::from_le_bytes(le8(bytes, h::CHUNK_SIZE));
        if !chunk_size.is_power_of_two()
            || !(MIN_FIXED_CHUNK..=MAX_FIXED_CHUNK).contains(&chunk_size)
        {
            return Err(Error::Invalid {
                file: file.to_path_buf(),
                what: "fixed index chunk size",
                at: h::CHUNK_SIZE as u64,
                expected: format!("a power of two from {MIN_FIXED_CHUNK} to {MAX_FIXED_CHUNK}"),
                found: chunk_size.to_string(),
            });
        }
        let count = size.div_ceil(chunk_size);
        let have = (bytes.len() - INDEX_HEADER) as u64;
        let needed = count.saturating_mul(FIDX_ENTRY as u64);
        if have != needed {
            if have < needed {
                return Err(Error::Truncated {
                    file: file.to_path_buf(),
                    what: "fixed index entries",
                    at: INDEX_HEADER as u64,
                    needed,
                    available: have,
                });
            }
            return Err(Error::Invalid {
                file: file.to_path_buf(),
                what: "fixed index length",
                at: 0,
                expected: format!(
                    "{} bytes ({count} entries for {size} bytes in chunks of {chunk_size})",
                    INDEX_HEADER as u64 + needed
                ),
                found: format!("{} bytes", bytes.len()),
            });
        }
        let body = &bytes[INDEX_HEADER..];
        let computed: [u8; 32] = Sha256::digest(body).into();
        check_csum(&header, computed, file)?;
        let digests = body
            .chunks_exact(FIDX_ENTRY)
            .map(|c| {
                let mut d = [0; 32];
                d.copy_from_slice(c);
                d
            })
            .collect();
        Ok(FixedIndex {
            file: file.to_path_buf(),
            header,
            size,
            chunk_size,
            digests,
        })
    }

    /// Number of chunks.
    pub fn count(&self) -> usize {
        self.digests.len()
    }

    /// The image bytes chunk `i` covers (the last one may be short).
    pub fn chunk_range(&self, i: usize) -> Range<u64> {
        let start = i as u64 * self.chunk_size;
        start..(start + self.chunk_size).min(self.size)
    }
}

impl DynamicIndex {
    /// Reads and checks the `.didx` file at `path`.
    pub fn open(path: &Path) -> Result<DynamicIndex> {
        DynamicIndex::parse(&read_index_file(path)?, path)
    }

    /// Parses and checks a whole `.didx` file (`file` names it in errors).
    pub fn parse(bytes: &[u8], file: &Path) -> Result<DynamicIndex> {
        let header = parse_header(bytes, DIDX, "dynamic index header", file)?;
        let body = &bytes[INDEX_HEADER..];
        if !body.len().is_multiple_of(DIDX_ENTRY) {
            return Err(Error::Truncated {
                file: file.to_path_buf(),
                what: "dynamic index entry",
                at: (INDEX_HEADER + body.len() / DIDX_ENTRY * DIDX_ENTRY) as u64,
                needed: DIDX_ENTRY as u64,
                available: (body.len() % DIDX_ENTRY) as u64,
            });
        }
        let computed: [u8; 32] = Sha256::digest(body).into();
        check_csum(&header, computed, file)?;
        let mut entries = Vec::with_capacity(body.len() / DIDX_ENTRY);
        let mut prev = 0u64;
        for (i, e) in body.chunks_exact(DIDX_ENTRY).enumerate() {
            let end = u64::from_le_bytes(le8(e, 0));
            if end <= prev {
                return Err(Error::Invalid {
                    file: file.to_path_buf(),
                    what: "dynamic index entry end offset",
                    at: (INDEX_HEADER + i * DIDX_ENTRY) as u64,
                    expected: format!("more than {prev} (the previous end)"),
                    found: end.to_string(),
                });
            }
            prev = end;
            let mut d = [0; 32];
            d.copy_from_slice(&e[8..40]);
            entries.push((end, d));
        }
        Ok(DynamicIndex {
            file: file.to_path_buf(),
            header,
            entries,
        })
    }

    /// The stream length (the last end offset).
    pub fn size(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.0)
    }

    /// Number of chunks.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// The stream bytes chunk `i` covers.
    pub fn chunk_range(&self, i: usize) -> Range<u64> {
        let start = if i == 0 { 0 } else { self.entries[i - 1].0 };
        start..self.entries[i].0
    }

    /// The chunk holding stream offset `offset`, if it is inside the stream.
    pub fn find(&self, offset: u64) -> Option<usize> {
        let i = self.entries.partition_point(|e| e.0 <= offset);
        (i < self.entries.len()).then_some(i)
    }
}
