//! Applying librsync ("rdiff") deltas (spec section 9).
//!
//! A delta is the magic `72 73 02 36` followed by commands: LITERAL (bytes inline) and COPY
//! (an absolute basis range), ending with END. All integers are big-endian. There is no
//! checksum, and copies may address the basis in any order, so the basis must be seekable.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::input::DeltaInput;

/// Magic of an rdiff delta.
pub const DELTA_MAGIC: u32 = 0x7273_0236;
/// Magics of rdiff signatures (rollsum/RabinKarp × MD4/BLAKE2b).
pub const SIGNATURE_MAGICS: [u32; 4] = [0x7273_0136, 0x7273_0137, 0x7273_0146, 0x7273_0147];

/// Command byte: end of the delta.
const OP_END: u8 = 0x00;
/// Last command byte of a literal whose length is the byte itself.
const OP_LITERAL_MAX_IMMEDIATE: u8 = 0x40;
/// First literal command with a length operand (1, 2, 4, 8 bytes).
const OP_LITERAL_N1: u8 = 0x41;
/// First copy command; 16 follow, one per (start width, length width) pair.
const OP_COPY_FIRST: u8 = 0x45;
/// Last copy command.
const OP_COPY_LAST: u8 = 0x54;

/// Size of the buffer used to move copies and literals.
const BUF_SIZE: usize = 256 * 1024;

/// Operand widths in bytes for the width index 0..=3.
const WIDTHS: [u8; 4] = [1, 2, 4, 8];

/// Applies the rdiff `delta` to `basis`, writing the result to `out`; returns the number of
/// bytes written.
///
/// The delta and the output are streamed; the basis is read with seeks for each copy.
pub fn apply<B, D, W>(mut basis: B, delta: D, mut out: W) -> Result<u64>
where
    B: Read + Seek,
    D: Read,
    W: Write,
{
    let basis_len = basis
        .seek(SeekFrom::End(0))
        .map_err(|source| Error::SourceIo { at: 0, source })?;
    let mut basis_pos = basis_len;
    let mut input = DeltaInput::new(delta);
    let magic = read_be(&mut input, 4, "rdiff magic", 0)? as u32;
    if magic != DELTA_MAGIC {
        return Err(Error::RdiffBadMagic { found: magic });
    }
    let mut buf = vec![0u8; BUF_SIZE];
    let mut written: u64 = 0;
    loop {
        let at = input.offset();
        let op = input.u8("rdiff command", at)?;
        match op {
            OP_END => {
                if !input.at_eof()? {
                    return Err(Error::RdiffTrailing { at: input.offset() });
                }
                out.flush().map_err(|source| Error::OutputIo {
                    at: written,
                    source,
                })?;
                return Ok(written);
            }
            1..=OP_LITERAL_MAX_IMMEDIATE | OP_LITERAL_N1..OP_COPY_FIRST => {
                let len = if op <= OP_LITERAL_MAX_IMMEDIATE {
                    u64::from(op)
                } else {
                    let width = WIDTHS[usize::from(op - OP_LITERAL_N1)];
                    read_be(&mut input, width, "rdiff literal length", at)?
                };
                let mut left = len;
                while left > 0 {
                    let n = usize::try_from(left).map_or(BUF_SIZE, |l| l.min(BUF_SIZE));
                    // `read_into` appends, so reuse a cleared vector as the staging area.
                    buf.clear();
                    input.read_into(&mut buf, n as u64, "rdiff literal")?;
                    write_all(&mut out, &buf, written)?;
                    written += n as u64;
                    left -= n as u64;
                }
            }
            OP_COPY_FIRST..=OP_COPY_LAST => {
                let k = usize::from(op - OP_COPY_FIRST);
                let start = read_be(&mut input, WIDTHS[k / 4], "rdiff copy start", at)?;
                let len = read_be(&mut input, WIDTHS[k % 4], "rdiff copy length", at)?;
                let bad = Error::RdiffBadCopy {
                    at,
                    start,
                    len,
                    basis_len,
                };
                if len == 0 || start.checked_add(len).is_none_or(|end| end > basis_len) {
                    return Err(bad);
                }
                if basis_pos != start {
                    basis
                        .seek(SeekFrom::Start(start))
                        .map_err(|source| Error::SourceIo { at: start, source })?;
                }
                let mut left = len;
                let mut pos = start;
                buf.resize(BUF_SIZE, 0);
                while left > 0 {
                    let n = usize::try_from(left).map_or(BUF_SIZE, |l| l.min(BUF_SIZE));
                    basis
                        .read_exact(&mut buf[..n])
                        .map_err(|source| Error::SourceIo { at: pos, source })?;
                    write_all(&mut out, &buf[..n], written)?;
                    written += n as u64;
                    pos += n as u64;
                    left -= n as u64;
                }
                basis_pos = pos;
            }
            _ => return Err(Error::RdiffBadOpcode { at, opcode: op }),
        }
    }
}

fn write_all<W: Write>(out: &mut W, bytes: &[u8], at: u64) -> Result<()> {
    out.write_all(bytes)
        .map_err(|source: io::Error| Error::OutputIo { at, source })
}

/// Reads a big-endian integer of `width` (≤ 8) bytes.
fn read_be<R: Read>(
    input: &mut DeltaInput<R>,
    width: u8,
    what: &'static str,
    at: u64,
) -> Result<u64> {
    let mut v = 0u64;
    for _ in 0..width {
        v = (v << 8) | u64::from(input.u8(what, at)?);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn patch(basis: &[u8], delta: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        apply(Cursor::new(basis), delta, &mut out)?;
        Ok(out)
    }

    #[test]
    fn commands() {
        let basis = b"0123456789";
        // literal "ab", copy 4 bytes from 2 (1-byte widths), literal N1 of 3, copy with
        // 2-byte start and 4-byte length, end.
        let delta = [
            0x72, 0x73, 0x02, 0x36, 0x02, b'a', b'b', 0x45, 2, 4, 0x41, 3, b'x', b'y', b'z', 0x4b,
            0, 8, 0, 0, 0, 2, 0x00,
        ];
        assert_eq!(patch(basis, &delta).expect("valid"), b"ab2345xyz89");
    }

    #[test]
    fn rejections() {
        let basis = b"0123456789";
        let m = [0x72, 0x73, 0x02, 0x36];
        let with = |tail: &[u8]| [&m[..], tail].concat();
        assert!(matches!(
            patch(basis, &with(&[0x45, 8, 3, 0])),
            Err(Error::RdiffBadCopy { at: 4, .. })
        ));
        assert!(matches!(
            patch(basis, &with(&[0x45, 0, 0, 0])),
            Err(Error::RdiffBadCopy { .. })
        ));
        assert!(matches!(
            patch(basis, &with(&[0x55])),
            Err(Error::RdiffBadOpcode {
                at: 4,
                opcode: 0x55
            })
        ));
        assert!(matches!(
            patch(basis, &with(&[0x00, 0x00])),
            Err(Error::RdiffTrailing { at: 5 })
        ));
        assert!(matches!(
            patch(basis, &with(&[0x02, b'a'])),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            patch(basis, &with(&[0x01, b'a'])),
            Err(Error::Truncated { .. })
        ));
        let sig = [0x72, 0x73, 0x01, 0x47, 0, 0];
        let err = patch(basis, &sig).expect_err("signature");
        assert!(err.to_string().contains("signature"), "{err}");
    }
}
