//! Structural check of a tar archive (ustar, GNU and pax), as vzdump writes for containers.
//!
//! Every header's checksum is verified, every member's data is read to its declared end, the
//! two zero blocks that end an archive must be present, and whatever follows them (the padding
//! to the record size) must be zeros. File contents carry no checksum in tar, so this is the
//! most a reader can prove; it is what `tar t` proves, plus the end marker.

use std::io::{self, Read};

/// Size of a tar block.
pub const BLOCK: u64 = 512;
/// Largest pax extended header read into memory.
const MAX_PAX: u64 = 1 << 20;

/// Totals of a checked tar archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TarSummary {
    /// Members (files, directories, links, …), not counting long-name and pax headers.
    pub entries: u64,
    /// Bytes of member data.
    pub data_bytes: u64,
    /// Bytes of the whole archive, padding included.
    pub archive_bytes: u64,
}

/// What is wrong with a tar archive; offsets are in the (decompressed) archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TarError {
    /// Reading failed.
    #[error("i/o error at offset {at}: {source}")]
    Io {
        /// Archive offset.
        at: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The archive ends inside a header or member, or before its end marker.
    #[error("truncated at offset {at}: {what}")]
    Truncated {
        /// Archive offset.
        at: u64,
        /// What is missing.
        what: &'static str,
    },
    /// A header checksum does not match.
    #[error("header checksum mismatch at offset {at}: stored {expected}, computed {found}")]
    Checksum {
        /// Offset of the header.
        at: u64,
        /// Stored value.
        expected: u64,
        /// Computed value.
        found: u64,
    },
    /// A numeric header field is not a number.
    #[error("bad {field} field in the header at offset {at}")]
    BadField {
        /// The field.
        field: &'static str,
        /// Offset of the header.
        at: u64,
    },
    /// Non-zero bytes after the end-of-archive marker.
    #[error("data after the end of the archive at offset {at}")]
    Trailing {
        /// Offset of the first non-zero byte.
        at: u64,
    },
}

struct Blocks<R> {
    r: R,
    at: u64,
}

impl<R: Read> Blocks<R> {
    /// Reads one block; false at a clean end of input on a block boundary.
    fn block(
        &mut self,
        buf: &mut [u8; BLOCK as usize],
        what: &'static str,
    ) -> Result<bool, TarError> {
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TarError::Io {
                        at: self.at + n as u64,
                        source,
                    });
                }
            }
        }
        if n == 0 {
            return Ok(false);
        }
        if n < buf.len() {
            return Err(TarError::Truncated { at: self.at, what });
        }
        self.at += BLOCK;
        Ok(true)
    }

    /// Reads `len` bytes (rounded up to blocks), keeping the first `keep` of them.
    fn skip(&mut self, len: u64, keep: &mut Vec<u8>, keep_max: u64) -> Result<(), TarError> {
        let blocks = len.div_ceil(BLOCK);
        let mut buf = [0u8; BLOCK as usize];
        for i in 0..blocks {
            if !self.block(&mut buf, "member data")? {
                return Err(TarError::Truncated {
                    at: self.at,
                    what: "member data",
                });
            }
            let start = i * BLOCK;
            if start < keep_max.min(len) {
                let n = (keep_max.min(len) - start).min(BLOCK) as usize;
                keep.extend_from_slice(&buf[..n]);
            }
        }
        Ok(())
    }
}

/// Checks a whole tar archive read from `r`, to the end of input.
pub fn check<R: Read>(r: R) -> Result<TarSummary, TarError> {
    let mut b = Blocks { r, at: 0 };
    let mut s = TarSummary::default();
    let mut buf = [0u8; BLOCK as usize];
    let mut size_override: Option<u64> = None;
    loop {
        let at = b.at;
        if !b.block(&mut buf, "header")? {
            return Err(TarError::Truncated {
                at,
                what: "the end-of-archive marker (two zero blocks) is missing",
            });
        }
        if sink::is_zero(&buf) {
            // The end marker: a second zero block, then only zero padding.
            if !b.block(&mut buf, "end-of-archive marker")? || buf.iter().any(|&x| x != 0) {
                return Err(TarError::Truncated {
                    at,
                    what: "the end-of-archive marker has only one zero block",
                });
            }
            loop {
                let here = b.at;
                if !b.block(&mut buf, "padding")? {
                    break;
                }
                if let Some(i) = buf.iter().position(|&x| x != 0) {
                    return Err(TarError::Trailing {
                        at: here + i as u64,
                    });
                }
            }
            s.archive_bytes = b.at;
            return Ok(s);
        }
        let stored = octal(&buf[148..156]).ok_or(TarError::BadField {
            field: "checksum",
            at,
        })?;
        let mut sum: u64 = 0;
        let mut signed: i64 = 0;
        for (i, &x) in buf.iter().enumerate() {
            let x = if (148..156).contains(&i) { b' ' } else { x };
            sum += u64::from(x);
            signed += i64::from(x as i8);
        }
        if stored != sum && i64::try_from(stored).ok() != Some(signed) {
            return Err(TarError::Checksum {
                at,
                expected: stored,
                found: sum,
            });
        }
        let header_size = number(&buf[124..136]).ok_or(TarError::BadField { field: "size", at })?;
        let kind = buf[156];
        let mut size = match kind {
            b'1'..=b'6' => 0,
            _ => header_size,
        };
        if let Some(o) = size_override.take() {
            size = o;
        }
        // Old GNU sparse members list further sparse maps in extension blocks.
        if kind == b'S' && buf[482] != 0 {
            loop {
                if !b.block(&mut buf, "sparse header extension")? {
                    return Err(TarError::Truncated {
                        at: b.at,
                        what: "sparse header extension",
                    });
                }
                if buf[504] == 0 {
                    break;
                }
            }
        }
        let mut pax = Vec::new();
        let keep = if kind == b'x' { MAX_PAX } else { 0 };
        b.skip(size, &mut pax, keep)?;
        s.data_bytes += size;
        match kind {
            b'x' => size_override = pax_size(&pax),
            b'L' | b'K' | b'g' => {}
            _ => s.entries += 1,
        }
    }
}

/// Parses a NUL/space-terminated octal field, or GNU's base-256 form (high bit set).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&x| x & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &x in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(x))?;
        }
        return Some(v);
    }
    octal(field)
}

fn octal(field: &[u8]) -> Option<u64> {
    let text = field
        .iter()
        .skip_while(|&&c| c == b' ')
        .take_while(|&&c| c != 0 && c != b' ');
    // An empty field counts as zero, as GNU tar reads it.
    let mut v: u64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// The `size` record of a pax extended header, if any.
fn pax_size(data: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(data);
    let mut found = None;
    let mut rest: &str = &text;
    while let Some((len, _)) = rest.split_once(' ') {
        let n: usize = len.parse().ok()?;
        let record = rest.get(..n)?;
        if let Some(v) = record
            .split_once(' ')
            .and_then(|(_, kv)| kv.strip_prefix("size="))
        {
            found = v.trim_end_matches('\n').parse().ok();
        }
        rest = rest.get(n..)?;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: u64, kind: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        let sz = format!("{size:011o}\0");
        h[124..136].copy_from_slice(sz.as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&x| u64::from(x)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    #[test]
    fn checks_structure() {
        let mut t = Vec::new();
        t.extend_from_slice(&header("a", 5, b'0'));
        t.extend_from_slice(b"hello");
        t.resize(1024, 0);
        t.extend_from_slice(&header("d/", 0, b'5'));
        t.resize(t.len() + 1024 + 512, 0);
        let s = check(&t[..]).expect("valid");
        assert_eq!((s.entries, s.data_bytes, s.archive_bytes), (2, 5, 3072));

        assert!(matches!(
            check(&t[..1024]),
            Err(TarError::Truncated { at: 1024, .. })
        ));
        assert!(matches!(check(&t[..700]), Err(TarError::Truncated { .. })));
        let mut bad = t.clone();
        bad[0] = b'b';
        assert!(matches!(
            check(&bad[..]),
            Err(TarError::Checksum { at: 0, .. })
        ));
        let mut trailing = t.clone();
        trailing[3000] = 1;
        assert!(matches!(
            check(&trailing[..]),
            Err(TarError::Trailing { at: 3000 })
        ));
        let mut one_zero = t[..2048].to_vec();
        one_zero.extend_from_slice(&header("c", 0, b'0'));
        assert!(matches!(
            check(&one_zero[..]),
            Err(TarError::Truncated { .. })
        ));
        assert_eq!(pax_size(b"20 size=12345678901\n"), Some(12_345_678_901));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
    }
}
