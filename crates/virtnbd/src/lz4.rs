//! LZ4 frames inside data frames: walking their structure (to find where each ends without
//! decoding it) and decoding them with the reference liblz4 (through `lzzzz`), which checks the
//! block and content checksums.
//!
//! Frame layout (lz4_Frame_format.md): magic `04 22 4D 18`, FLG, BD, an optional 8-byte content
//! size, an optional 4-byte dictionary id, a header checksum byte; then blocks, each a
//! little-endian 4-byte size (high bit: stored uncompressed), the data and an optional 4-byte
//! checksum; a zero size ends the blocks, followed by an optional 4-byte content checksum.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use diskview::ReadAt;

use crate::error::{Error, Result};

/// The LZ4 frame magic number, little-endian.
pub const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Where one LZ4 frame lies and what its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameShape {
    /// Total length of the frame, bytes.
    pub len: u64,
    /// The content size from the header, when stored.
    pub content_size: Option<u64>,
}

/// Reads `buf.len()` bytes at `at`, naming `what` when the file ends first.
pub(crate) fn read_at(
    view: &dyn ReadAt,
    file: &Path,
    at: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<()> {
    view.read_exact_at(buf, at).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated {
                file: file.to_owned(),
                what,
                at,
                needed: buf.len() as u64,
                available: view.size().saturating_sub(at),
            }
        } else {
            Error::Io {
                op: "read",
                file: file.to_owned(),
                source: e,
            }
        }
    })
}

/// Walks the LZ4 frame starting at `at` (which must end by `end`) without decoding it.
pub fn walk(view: &dyn ReadAt, file: &Path, at: u64, end: u64) -> Result<FrameShape> {
    let bad = |what_at: u64, expected: &str, found: String| Error::Malformed {
        file: file.to_owned(),
        what: "LZ4 frame",
        at: what_at,
        expected: expected.to_owned(),
        found,
    };
    let avail = end.saturating_sub(at);
    if avail < 7 {
        return Err(Error::Truncated {
            file: file.to_owned(),
            what: "LZ4 frame header",
            at,
            needed: 7,
            available: avail,
        });
    }
    let mut head = [0u8; 6];
    read_at(view, file, at, &mut head, "LZ4 frame header")?;
    if head[..4] != MAGIC {
        return Err(bad(
            at,
            "the LZ4 frame magic 04 22 4d 18",
            crate::format::shown(&head[..4]),
        ));
    }
    let (flg, bd) = (head[4], head[5]);
    if flg >> 6 != 1 || flg & 0b10 != 0 || bd & 0x8f != 0 {
        return Err(bad(
            at + 4,
            "LZ4 frame version 01 and clear reserved bits",
            format!("FLG {flg:#04x} BD {bd:#04x}"),
        ));
    }
    let block_max: u64 = match (bd >> 4) & 7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        n => {
            return Err(bad(
                at + 5,
                "a block maximum size code of 4 to 7",
                n.to_string(),
            ));
        }
    };
    let block_checksum = flg & 0x10 != 0;
    let has_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    let has_dict = flg & 0x01 != 0;
    let mut pos = at + 6;
    let mut content_size = None;
    if has_size {
        let mut b = [0u8; 8];
        read_at(view, file, pos, &mut b, "LZ4 content size")?;
        content_size = Some(u64::from_le_bytes(b));
        pos += 8;
    }
    if has_dict {
        pos += 4;
    }
    pos += 1; // header checksum, checked by liblz4 when decoding
    loop {
        let mut b = [0u8; 4];
        if pos.checked_add(4).is_none_or(|p| p > end) {
            return Err(Error::Truncated {
                file: file.to_owned(),
                what: "LZ4 block size",
                at: pos,
                needed: 4,
                available: end.saturating_sub(pos),
            });
        }
        read_at(view, file, pos, &mut b, "LZ4 block size")?;
        pos += 4;
        let word = u32::from_le_bytes(b);
        if word == 0 {
            break;
        }
        let size = u64::from(word & 0x7fff_ffff);
        if size > block_max {
            return Err(bad(
                pos - 4,
                &format!("a block of at most {block_max} bytes"),
                size.to_string(),
            ));
        }
        pos += size + if block_checksum { 4 } else { 0 };
        if pos > end {
            return Err(Error::Truncated {
                file: file.to_owned(),
                what: "LZ4 block",
                at: pos - size,
                needed: size,
                available: end.saturating_sub(pos - size),
            });
        }
    }
    if content_checksum {
        pos += 4;
    }
    if pos > end {
        return Err(Error::Truncated {
            file: file.to_owned(),
            what: "LZ4 content checksum",
            at: pos - 4,
            needed: 4,
            available: end.saturating_sub(pos - 4),
        });
    }
    Ok(FrameShape {
        len: pos - at,
        content_size,
    })
}

/// Reads `len` bytes of a view from `at` on, as a `Read`.
pub struct Section<V> {
    view: V,
    pos: u64,
    end: u64,
}

impl<V: ReadAt> Section<V> {
    /// The bytes `at..at + len` of `view`.
    pub fn new(view: V, at: u64, len: u64) -> Self {
        Section {
            view,
            pos: at,
            end: at.saturating_add(len),
        }
    }
}

impl<V: ReadAt> Read for Section<V> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.view.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Decodes one LZ4 frame, streaming: skips `skip` decoded bytes, then fills `out`, and with
/// `to_end` also decodes the rest of the frame and insists that it ends at exactly `expect_len`
/// decoded bytes (which checks the content checksum).
pub struct Decoder<V: ReadAt> {
    inner: lzzzz::lz4f::BufReadDecompressor<'static, BufReader<Section<V>>>,
    /// Decoded bytes handed out so far.
    pub pos: u64,
}

impl<V: ReadAt> Decoder<V> {
    /// A decoder of the LZ4 frame at `at`, `len` compressed bytes long.
    pub fn new(view: V, at: u64, len: u64) -> io::Result<Self> {
        let section = BufReader::with_capacity(256 << 10, Section::new(view, at, len));
        Ok(Decoder {
            inner: lzzzz::lz4f::BufReadDecompressor::new(section)?,
            pos: 0,
        })
    }

    /// Decodes up to `out.len()` bytes; 0 at the end of the frame.
    pub fn read_some(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.pos += n as u64;
        Ok(n)
    }

    /// Fills `out` completely; fails when the frame ends first.
    pub fn read_exact(&mut self, mut out: &mut [u8]) -> io::Result<()> {
        while !out.is_empty() {
            let n = self.inner.read(out)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the frame ends after {} decoded bytes", self.pos),
                ));
            }
            self.pos += n as u64;
            out = &mut out[n..];
        }
        Ok(())
    }

    /// Decodes and drops `n` bytes.
    pub fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the frame ends after {} decoded bytes", self.pos),
                ));
            }
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
            self.inner.consume(take);
            self.pos += take as u64;
            n -= take as u64;
        }
        Ok(())
    }

    /// Decodes to the end of the frame, which must come after exactly `total` decoded bytes.
    pub fn finish(&mut self, total: u64) -> io::Result<()> {
        let left = total
            .checked_sub(self.pos)
            .ok_or_else(|| io::Error::other("read past the end"))?;
        self.skip(left)?;
        let buf = self.inner.fill_buf()?;
        if !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the frame decodes to more than {total} bytes"),
            ));
        }
        Ok(())
    }

    /// Decodes the whole frame into memory, refusing more than `max` bytes.
    pub fn to_vec(&mut self, max: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(out);
            }
            if out.len() as u64 + buf.len() as u64 > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the frame decodes to more than {max} bytes"),
                ));
            }
            out.extend_from_slice(buf);
            let n = buf.len();
            self.inner.consume(n);
            self.pos += n as u64;
        }
    }
}
