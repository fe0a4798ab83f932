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

/// One command of an rdiff delta, with its operands already checked against the basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// The end of the delta (nothing follows it).
    End,
    /// `len` bytes follow in the delta.
    Literal(u64),
    /// `len` bytes of the basis from `start`; never empty, never past the basis end.
    Copy {
        /// Basis offset.
        start: u64,
        /// Byte count.
        len: u64,
    },
}

/// Reads the magic at the start of a delta.
fn read_magic<R: Read>(input: &mut DeltaInput<R>) -> Result<()> {
    let magic = read_be(input, 4, "rdiff magic", 0)? as u32;
    if magic != DELTA_MAGIC {
        return Err(Error::RdiffBadMagic { found: magic });
    }
    Ok(())
}

/// Reads the next command; copies are checked against `basis_len` and END against trailing
/// bytes.
fn next_command<R: Read>(input: &mut DeltaInput<R>, basis_len: u64) -> Result<Command> {
    let at = input.offset();
    let op = input.u8("rdiff command", at)?;
    match op {
        OP_END => {
            if !input.at_eof()? {
                return Err(Error::RdiffTrailing { at: input.offset() });
            }
            Ok(Command::End)
        }
        1..=OP_LITERAL_MAX_IMMEDIATE => Ok(Command::Literal(u64::from(op))),
        OP_LITERAL_N1..OP_COPY_FIRST => {
            let width = WIDTHS[usize::from(op - OP_LITERAL_N1)];
            Ok(Command::Literal(read_be(
                input,
                width,
                "rdiff literal length",
                at,
            )?))
        }
        OP_COPY_FIRST..=OP_COPY_LAST => {
            let k = usize::from(op - OP_COPY_FIRST);
            let start = read_be(input, WIDTHS[k / 4], "rdiff copy start", at)?;
            let len = read_be(input, WIDTHS[k % 4], "rdiff copy length", at)?;
            if len == 0 || start.checked_add(len).is_none_or(|end| end > basis_len) {
                return Err(Error::RdiffBadCopy {
                    at,
                    start,
                    len,
                    basis_len,
                });
            }
            Ok(Command::Copy { start, len })
        }
        _ => Err(Error::RdiffBadOpcode { at, opcode: op }),
    }
}

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
    read_magic(&mut input)?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut written: u64 = 0;
    loop {
        match next_command(&mut input, basis_len)? {
            Command::End => {
                out.flush().map_err(|source| Error::OutputIo {
                    at: written,
                    source,
                })?;
                return Ok(written);
            }
            Command::Literal(len) => {
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
            Command::Copy { start, len } => {
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
        }
    }
}

/// Where the bytes of one [`Patched`] segment come from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Offset into the kept literal bytes.
    Literal(usize),
    /// Offset in the basis.
    Basis(u64),
}

/// A run of output bytes with one origin.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Output offset of the first byte.
    out: u64,
    len: u64,
    from: Origin,
}

/// The result of an rdiff delta as a random-access file, without writing it anywhere.
///
/// [`Patched::new`] reads the whole delta once, keeping its literal bytes in memory (so memory
/// is about the delta's literal size) and a map of the copies; reads are then served from the
/// literals and the basis. Because a `Patched` is itself [`Read`] + [`Seek`], it can be the
/// basis of the next delta: a chain of rdiff deltas is applied without any intermediate file.
///
/// ```
/// use std::io::{Cursor, Read};
/// // Literal "ab", then 3 bytes of the basis from offset 1, then END.
/// let delta = [0x72, 0x73, 0x02, 0x36, 0x02, b'a', b'b', 0x45, 1, 3, 0x00];
/// let mut patched = vcdiff::rdiff::Patched::new(Cursor::new(&b"wxyz"[..]), &delta[..])?;
/// assert_eq!(patched.len(), 5);
/// let mut out = String::new();
/// patched.read_to_string(&mut out)?;
/// assert_eq!(out, "abxyz");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Patched<B> {
    basis: B,
    /// Where the basis is positioned, if known.
    basis_pos: Option<u64>,
    literals: Vec<u8>,
    segments: Vec<Segment>,
    len: u64,
    pos: u64,
}

impl<B: Read + Seek> Patched<B> {
    /// Reads and checks the whole `delta` against `basis` (copies past the basis end, unknown
    /// commands, a missing END and trailing bytes are errors).
    pub fn new<D: Read>(basis: B, delta: D) -> Result<Self> {
        Self::with_limit(basis, delta, u64::MAX)
    }

    /// [`Patched::new`], refusing ([`Error::RdiffTooLarge`]) a delta whose literal bytes, which
    /// are held in memory, add up to more than `max_literal_bytes`.
    pub fn with_limit<D: Read>(mut basis: B, delta: D, max_literal_bytes: u64) -> Result<Self> {
        let basis_len = basis
            .seek(SeekFrom::End(0))
            .map_err(|source| Error::SourceIo { at: 0, source })?;
        let mut input = DeltaInput::new(delta);
        read_magic(&mut input)?;
        let mut literals = Vec::new();
        let mut segments: Vec<Segment> = Vec::new();
        let mut len: u64 = 0;
        loop {
            let at = input.offset();
            let (n, from) = match next_command(&mut input, basis_len)? {
                Command::End => break,
                Command::Literal(n) => {
                    let needed = (literals.len() as u64).saturating_add(n);
                    if needed > max_literal_bytes {
                        return Err(Error::RdiffTooLarge {
                            at,
                            needed,
                            limit: max_literal_bytes,
                        });
                    }
                    let from = Origin::Literal(literals.len());
                    input.read_into(&mut literals, n, "rdiff literal")?;
                    (n, from)
                }
                Command::Copy { start, len } => (len, Origin::Basis(start)),
            };
            let out = len;
            len = len.checked_add(n).ok_or(Error::LimitExceeded {
                what: "rdiff output length",
                at,
                value: n,
                limit: u64::MAX - out,
            })?;
            // Contiguous runs of the same origin become one segment.
            if let Some(last) = segments.last_mut() {
                let joined = match (last.from, from) {
                    (Origin::Basis(a), Origin::Basis(b)) => a + last.len == b,
                    (Origin::Literal(a), Origin::Literal(b)) => a as u64 + last.len == b as u64,
                    _ => false,
                };
                if joined {
                    last.len += n;
                    continue;
                }
            }
            segments.push(Segment { out, len: n, from });
        }
        Ok(Patched {
            basis,
            basis_pos: None,
            literals,
            segments,
            len,
            pos: 0,
        })
    }

    /// Length of the patched file in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the patched file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of literal data held in memory.
    pub fn literal_bytes(&self) -> usize {
        self.literals.len()
    }
}

impl<B: Read + Seek> Read for Patched<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        // The last segment starting at or before `pos`; segments cover [0, len) without gaps.
        let i = self
            .segments
            .partition_point(|s| s.out <= self.pos)
            .saturating_sub(1);
        let Some(seg) = self.segments.get(i).copied() else {
            return Ok(0);
        };
        let skip = self.pos - seg.out;
        let want = usize::try_from(seg.len - skip).map_or(buf.len(), |l| l.min(buf.len()));
        let n = match seg.from {
            Origin::Literal(off) => {
                let start = usize::try_from(skip).ok().and_then(|s| s.checked_add(off));
                let src = start
                    .and_then(|start| self.literals.get(start..start.checked_add(want)?))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "rdiff literal map is corrupt")
                    })?;
                buf[..want].copy_from_slice(src);
                want
            }
            Origin::Basis(start) => {
                let at = start + skip;
                if self.basis_pos != Some(at) {
                    self.basis.seek(SeekFrom::Start(at))?;
                }
                let n = self.basis.read(&mut buf[..want])?;
                if n == 0 {
                    self.basis_pos = None;
                    return Err(io::Error::from(Error::SourceIo {
                        at,
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the basis ended early (was it changed while being read?)",
                        ),
                    }));
                }
                self.basis_pos = Some(at + n as u64);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B: Read + Seek> Seek for Patched<B> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
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

    /// Literal "ab", copy 4 bytes from 2 (1-byte widths), literal N1 of 3, copy with 2-byte
    /// start and 4-byte length, end.
    const SAMPLE: [u8; 23] = [
        0x72, 0x73, 0x02, 0x36, 0x02, b'a', b'b', 0x45, 2, 4, 0x41, 3, b'x', b'y', b'z', 0x4b, 0,
        8, 0, 0, 0, 2, 0x00,
    ];

    #[test]
    fn commands() {
        let basis = b"0123456789";
        let delta = SAMPLE;
        assert_eq!(patch(basis, &delta).expect("valid"), b"ab2345xyz89");
    }

    /// SAMPLE holds 5 literal bytes: "ab" (command at byte 4), then "xyz" (command at byte 10).
    #[test]
    fn patched_holds_at_most_the_limit() {
        let basis = b"0123456789";
        assert!(Patched::with_limit(Cursor::new(&basis[..]), &SAMPLE[..], 5).is_ok());
        let err = Patched::with_limit(Cursor::new(&basis[..]), &SAMPLE[..], 4).expect_err("5 > 4");
        assert!(
            matches!(
                err,
                Error::RdiffTooLarge {
                    at: 10,
                    needed: 5,
                    limit: 4
                }
            ),
            "{err:?}"
        );
        assert!(err.hint().is_some_and(|h| h.contains("-o STEP")));
    }

    #[test]
    fn patched_matches_apply_and_chains() {
        let basis = b"0123456789";
        let delta = SAMPLE;
        let mut p = Patched::new(Cursor::new(&basis[..]), &delta[..]).expect("valid");
        let mut whole = Vec::new();
        p.read_to_end(&mut whole).expect("read");
        assert_eq!(whole, b"ab2345xyz89");
        // Random access across segment boundaries.
        p.seek(SeekFrom::Start(4)).expect("seek");
        let mut four = [0u8; 4];
        p.read_exact(&mut four).expect("read");
        assert_eq!(&four, b"45xy");
        // A second delta over the first result: copy 3 bytes from 6 ("xyz"), literal "!".
        let second = [0x72, 0x73, 0x02, 0x36, 0x45, 6, 3, 0x01, b'!', 0x00];
        p.seek(SeekFrom::Start(0)).expect("seek");
        assert_eq!(patch_seekable(p, &second), b"xyz!");
    }

    fn patch_seekable<B: Read + Seek>(basis: B, delta: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        apply(basis, delta, &mut out).expect("valid");
        out
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
        assert!(matches!(
            Patched::new(Cursor::new(basis), &with(&[0x45, 8, 3, 0])[..]),
            Err(Error::RdiffBadCopy { at: 4, .. })
        ));
        assert!(matches!(
            Patched::new(Cursor::new(basis), &with(&[0x02, b'a'])[..]),
            Err(Error::Truncated { .. })
        ));
        let sig = [0x72, 0x73, 0x01, 0x47, 0, 0];
        let err = patch(basis, &sig).expect_err("signature");
        assert!(err.to_string().contains("signature"), "{err}");
    }
}
