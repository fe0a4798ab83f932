//! The lzop file container: a streaming reader and a writer (`docs/formats/lzop.md`).
//!
//! The container is a magic, a variable header with its own checksum, then blocks of LZO1X data (or stored raw
//! bytes) each with optional Adler-32/CRC-32 words, ended by a zero length. All integers are big-endian. The
//! LZO1X codec comes from the `lzo` crate (decoding) and our own greedy encoder in `lzo1x.rs`; this module only
//! handles the container, written from the format notes without reference to lzop's (GPL) source.

use std::io::{self, Read, Write};

use crate::Format;
use crate::error::Error;
use crate::lzo1x::Lzo1x;
use crate::sniff::{LZOP_MAGIC, trailing_data};

// ---------------------------------------------------------------------------------------------------------------
// Format constants (docs/formats/lzop.md §3-§7). Do not change: they are what lzop 1.04 writes and reads.

/// Oldest header version we accept (lzop.md §3: reject < 0x0900).
const MIN_VERSION: u16 = 0x0900;
/// From this version on, the header has version_needed, level and mtime_high (lzop.md §3).
const VERSION_0940: u16 = 0x0940;
/// Newest version_needed we can honour: lzop 1.04 (lzop.md §3).
const MAX_VERSION_NEEDED: u16 = 0x1040;

/// Adler-32 of each block's uncompressed data.
const F_ADLER32_D: u32 = 0x0000_0001;
/// Adler-32 of each block's compressed data (only when compressed).
const F_ADLER32_C: u32 = 0x0000_0002;
/// The header is followed by an extra field.
const F_H_EXTRA_FIELD: u32 = 0x0000_0040;
/// CRC-32 of each block's uncompressed data.
const F_CRC32_D: u32 = 0x0000_0100;
/// CRC-32 of each block's compressed data (only when compressed).
const F_CRC32_C: u32 = 0x0000_0200;
/// Split-file support that lzop never implemented.
const F_MULTIPART: u32 = 0x0000_0400;
/// A filter id follows the flags.
const F_H_FILTER: u32 = 0x0000_0800;
/// The header checksum is CRC-32 rather than Adler-32.
const F_H_CRC32: u32 = 0x0000_1000;
/// Bits 14..19, unused by any lzop version (lzop.md §4): worth a warning.
const F_UNUSED: u32 = 0x000F_C000;

/// LZO1X-1, LZO1X-1(15) and LZO1X-999: one stream format, one decoder (lzop.md §5).
const METHODS: [u8; 3] = [1, 2, 3];

/// Largest block lzop accepts (`MAX_BLOCK_SIZE`, lzop.md §7); checked before allocating.
pub const MAX_BLOCK_LEN: u32 = 64 * 1024 * 1024;
/// A `dst_len` of all ones marks an unsupported split file (lzop.md §7).
const SPLIT_MARK: u32 = u32::MAX;
/// Block size of lzop's default, which the writer mirrors (lzop.md §10).
pub const WRITE_BLOCK_LEN: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Reader.

/// Where the reader is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first member's magic.
    Start,
    /// After a later member's magic, which the trailing-data check already consumed.
    HeaderAfterMagic,
    /// Between blocks.
    Blocks,
    /// After the last end marker (and any trailing bytes).
    Done,
    /// An error was returned; the stream cannot continue.
    Failed,
}

/// The parts of a member header that decoding needs.
#[derive(Debug, Clone, Copy)]
struct Header {
    flags: u32,
    /// Delta filter distance 1..=16, or 0 for none.
    filter: usize,
}

/// A streaming decoder for lzop files: `Read` in, decompressed bytes out.
///
/// Decodes every concatenated lzop member; bytes after an end marker that are not another member are counted and
/// reported through [`LzopReader::warnings`] instead of failing. One block (at most [`MAX_BLOCK_LEN`]) is
/// buffered at a time. Errors come out of `read` as an [`io::Error`] carrying an [`Error`]
/// ([`Error::from_io`] recovers it); read errors of the inner reader are passed through unchanged.
///
/// ```
/// use std::io::Read;
/// let mut file = Vec::new();
/// let mut w = unpack::LzopWriter::new(&mut file);
/// std::io::Write::write_all(&mut w, b"hello")?;
/// w.finish()?;
/// let mut out = Vec::new();
/// unpack::LzopReader::new(&file[..]).read_to_end(&mut out)?;
/// assert_eq!(out, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct LzopReader<R> {
    inner: R,
    /// Absolute offset of the next byte `inner` yields.
    pos: u64,
    state: State,
    header: Header,
    /// Offset of the current member's magic.
    member_at: u64,
    /// Blocks decoded completely, over all members.
    blocks: u64,
    out: Vec<u8>,
    out_pos: usize,
    payload: Vec<u8>,
    warnings: Vec<String>,
}

impl<R: Read> LzopReader<R> {
    /// Wraps `inner`, which must start at an lzop magic.
    pub fn new(inner: R) -> Self {
        LzopReader {
            inner,
            pos: 0,
            state: State::Start,
            header: Header {
                flags: 0,
                filter: 0,
            },
            member_at: 0,
            blocks: 0,
            out: Vec::new(),
            out_pos: 0,
            payload: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Non-fatal findings so far: trailing bytes after the last member, unknown header flag bits.
    ///
    /// Complete once `read` has returned 0.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Blocks decoded completely so far, over all members.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Compressed bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Returns the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads until `buf` is full or the input ends; returns how many bytes were read.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pos += n as u64;
                    return Err(e);
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// Reads exactly `buf.len()` bytes or reports `what` as truncated at `at`.
    fn exact(&mut self, buf: &mut [u8], what: impl FnOnce() -> String, at: u64) -> io::Result<()> {
        if self.fill(buf)? < buf.len() {
            return Err(Error::Truncated {
                format: Format::Lzop,
                what: what(),
                at,
                complete_blocks: Some(self.blocks),
            }
            .into_io());
        }
        Ok(())
    }

    /// Reads `N` header bytes, appending them to `seen` for the header checksum.
    fn header_bytes<const N: usize>(&mut self, seen: &mut Vec<u8>) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        let at = self.member_at;
        self.exact(&mut b, || "the lzop header".to_owned(), at)?;
        seen.extend_from_slice(&b);
        Ok(b)
    }

    fn unsupported(&self, what: String) -> io::Error {
        Error::Unsupported {
            format: Format::Lzop,
            at: self.member_at,
            what,
        }
        .into_io()
    }

    /// Checks the magic at the current position (the first member only).
    fn read_magic(&mut self) -> io::Result<()> {
        let mut magic = [0u8; LZOP_MAGIC.len()];
        let n = self.fill(&mut magic)?;
        if magic[..n] != LZOP_MAGIC {
            return Err(Error::BadMagic {
                format: Format::Lzop,
                at: self.member_at,
                expected: LZOP_MAGIC.to_vec(),
                found: magic[..n].to_vec(),
            }
            .into_io());
        }
        Ok(())
    }

    /// Parses and verifies a member header; the magic has been consumed.
    fn read_header(&mut self) -> io::Result<()> {
        let mut seen = Vec::with_capacity(64);
        let version = u16::from_be_bytes(self.header_bytes(&mut seen)?);
        if version < MIN_VERSION {
            return Err(
                self.unsupported(format!("lzop version {version:#06x} is older than 0x0900"))
            );
        }
        let _lib_version = self.header_bytes::<2>(&mut seen)?;
        if version >= VERSION_0940 {
            let needed = u16::from_be_bytes(self.header_bytes(&mut seen)?);
            if needed > MAX_VERSION_NEEDED {
                return Err(self.unsupported(format!(
                    "the file needs lzop version {needed:#06x}, newer than 0x1040"
                )));
            }
        }
        let [method] = self.header_bytes(&mut seen)?;
        if version >= VERSION_0940 {
            let _level = self.header_bytes::<1>(&mut seen)?;
        }
        let flags = u32::from_be_bytes(self.header_bytes(&mut seen)?);
        let mut filter = 0;
        if flags & F_H_FILTER != 0 {
            let id = u32::from_be_bytes(self.header_bytes(&mut seen)?);
            match usize::try_from(id) {
                Ok(n @ 1..=16) => filter = n,
                _ => {
                    return Err(self.unsupported(format!(
                        "filter {id} (only the delta filters 1 to 16 exist)"
                    )));
                }
            }
        }
        let _mode = self.header_bytes::<4>(&mut seen)?;
        let _mtime_low = self.header_bytes::<4>(&mut seen)?;
        if version >= VERSION_0940 {
            let _mtime_high = self.header_bytes::<4>(&mut seen)?;
        }
        let [name_len] = self.header_bytes(&mut seen)?;
        let mut name = vec![0u8; usize::from(name_len)];
        let at = self.member_at;
        self.exact(&mut name, || "the lzop header".to_owned(), at)?;
        seen.extend_from_slice(&name);
        let stored = u32::from_be_bytes(self.header_bytes(&mut Vec::new())?);

        let crc = flags & F_H_CRC32 != 0;
        let (found, checksum) = if crc {
            (crc32fast::hash(&seen), "crc32 of the header")
        } else {
            (adler32(&seen), "adler32 of the header")
        };
        if found != stored {
            return Err(Error::ChecksumMismatch {
                format: Format::Lzop,
                what: "lzop header".to_owned(),
                checksum,
                at: self.member_at,
                expected: stored,
                found,
            }
            .into_io());
        }
        // Methods and flags are checked after the checksum so that a damaged header reads as damaged.
        if !METHODS.contains(&method) {
            return Err(self.unsupported(format!(
                "compression method {method} (only the LZO1X methods 1 to 3)"
            )));
        }
        if flags & F_MULTIPART != 0 {
            return Err(self.unsupported("a multipart (split) file".to_owned()));
        }
        if flags & F_UNUSED != 0 {
            self.warnings.push(format!(
                "lzop header at byte {} has unknown flag bits {:#010x} set",
                self.member_at,
                flags & F_UNUSED
            ));
        }
        if flags & F_H_EXTRA_FIELD != 0 {
            self.skip_extra_field(crc)?;
        }
        // `lzop -F` stores no checksum of the data; the compressed-data checksums alone leave the
        // blocks stored uncompressed unchecked.
        if flags & (F_ADLER32_D | F_CRC32_D) == 0 {
            let what = if flags & (F_ADLER32_C | F_CRC32_C) == 0 {
                "its data was not covered by any checksum"
            } else {
                "its blocks stored uncompressed were not covered by any checksum"
            };
            self.warnings.push(format!(
                "the lzop stream at byte {} has no checksum of its uncompressed data: {what}",
                self.member_at
            ));
        }
        self.header = Header { flags, filter };
        Ok(())
    }

    /// Verifies and skips the header's extra field: length, data, checksum over both (lzop.md §6).
    fn skip_extra_field(&mut self, crc: bool) -> io::Result<()> {
        let at = self.member_at;
        let what = || "the lzop header extra field".to_owned();
        let mut len = [0u8; 4];
        self.exact(&mut len, what, at)?;
        let mut adler = simd_adler32::Adler32::new();
        let mut crc32 = crc32fast::Hasher::new();
        adler.write(&len);
        crc32.update(&len);
        let mut left = u64::from(u32::from_be_bytes(len));
        let mut chunk = [0u8; 4096];
        while left > 0 {
            let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            self.exact(&mut chunk[..n], what, at)?;
            adler.write(&chunk[..n]);
            crc32.update(&chunk[..n]);
            left -= n as u64;
        }
        let mut stored = [0u8; 4];
        self.exact(&mut stored, what, at)?;
        let stored = u32::from_be_bytes(stored);
        let (found, checksum) = if crc {
            (crc32.finalize(), "crc32 of the header extra field")
        } else {
            (adler.finish(), "adler32 of the header extra field")
        };
        if found != stored {
            return Err(Error::ChecksumMismatch {
                format: Format::Lzop,
                what: "lzop header".to_owned(),
                checksum,
                at,
                expected: stored,
                found,
            }
            .into_io());
        }
        Ok(())
    }

    /// After an end marker: starts the next member, or reports trailing bytes and finishes.
    fn after_end_marker(&mut self) -> io::Result<()> {
        let at = self.pos;
        let mut magic = [0u8; LZOP_MAGIC.len()];
        let n = self.fill(&mut magic)?;
        if n == 0 {
            self.state = State::Done;
        } else if magic == LZOP_MAGIC {
            self.member_at = at;
            self.state = State::HeaderAfterMagic;
        } else {
            let rest = io::copy(&mut self.inner, &mut io::sink())?;
            self.pos += rest;
            self.warnings
                .push(trailing_data(Format::Lzop, n as u64 + rest, at));
            self.state = State::Done;
        }
        Ok(())
    }

    /// Decodes the next block: straight into `direct` when it fits there (returning its length),
    /// else into `out`. Leaves `out` empty and returns `None` at the end of the stream.
    fn next_block(&mut self, direct: &mut [u8]) -> io::Result<Option<usize>> {
        self.out.clear();
        self.out_pos = 0;
        loop {
            match self.state {
                State::Done | State::Failed => return Ok(None),
                State::Start => {
                    self.read_magic()?;
                    self.read_header()?;
                    self.state = State::Blocks;
                }
                State::HeaderAfterMagic => {
                    self.read_header()?;
                    self.state = State::Blocks;
                }
                State::Blocks => match self.block(direct)? {
                    Block::Direct(n) => return Ok(Some(n)),
                    Block::Buffered => return Ok(None),
                    Block::End => self.after_end_marker()?,
                },
            }
        }
    }

    /// Decodes one block, into `direct` when it fits there, else into `out`.
    fn block(&mut self, direct: &mut [u8]) -> io::Result<Block> {
        let at = self.pos;
        let index = self.blocks;
        let name = || format!("lzop block {index}");
        let corrupt = |detail: String| {
            Error::Corrupt {
                format: Format::Lzop,
                at,
                detail,
            }
            .into_io()
        };

        let mut word = [0u8; 4];
        if self.fill(&mut word)? < word.len() {
            return Err(Error::Truncated {
                format: Format::Lzop,
                what: "an lzop stream (no end marker)".to_owned(),
                at,
                complete_blocks: Some(self.blocks),
            }
            .into_io());
        }
        let dst_len = u32::from_be_bytes(word);
        if dst_len == 0 {
            return Ok(Block::End);
        }
        if dst_len == SPLIT_MARK {
            return Err(Error::Unsupported {
                format: Format::Lzop,
                at,
                what: format!("block {index} marks a split file"),
            }
            .into_io());
        }
        if dst_len > MAX_BLOCK_LEN {
            return Err(Error::LimitExceeded {
                format: Format::Lzop,
                what: format!("lzop block {index} uncompressed length"),
                at,
                value: u64::from(dst_len),
                limit: u64::from(MAX_BLOCK_LEN),
            }
            .into_io());
        }
        self.exact(&mut word, name, at)?;
        let src_len = u32::from_be_bytes(word);
        if src_len == 0 || src_len > dst_len {
            return Err(corrupt(format!(
                "block {index} has stored length {src_len} for uncompressed length {dst_len}"
            )));
        }
        let compressed = src_len < dst_len;
        let flags = self.header.flags;
        let mut want = |flag: u32, only_compressed: bool| -> io::Result<Option<u32>> {
            if flags & flag == 0 || (only_compressed && !compressed) {
                return Ok(None);
            }
            let mut w = [0u8; 4];
            self.exact(&mut w, name, at)?;
            Ok(Some(u32::from_be_bytes(w)))
        };
        let adler_d = want(F_ADLER32_D, false)?;
        let crc_d = want(F_CRC32_D, false)?;
        let adler_c = want(F_ADLER32_C, true)?;
        let crc_c = want(F_CRC32_C, true)?;

        // Both lengths are at most MAX_BLOCK_LEN, so they fit in usize.
        let dst = usize::try_from(dst_len)
            .map_err(|_| corrupt("block length does not fit in memory".to_owned()))?;
        let src = usize::try_from(src_len)
            .map_err(|_| corrupt("block length does not fit in memory".to_owned()))?;
        let mismatch = |checksum: &'static str, expected: u32, found: u32| {
            Error::ChecksumMismatch {
                format: Format::Lzop,
                what: name(),
                checksum,
                at,
                expected,
                found,
            }
            .into_io()
        };

        // A failure leaves the reader failed, so `out` need not survive an early return.
        let mut buffered = std::mem::take(&mut self.out);
        let (out, outcome) = match direct.get_mut(..dst) {
            Some(d) => (d, Block::Direct(dst)),
            None => {
                buffered.resize(dst, 0);
                (&mut buffered[..], Block::Buffered)
            }
        };
        if compressed {
            let mut payload = std::mem::take(&mut self.payload);
            payload.resize(src, 0);
            let read = self.exact(&mut payload, name, at);
            self.payload = payload;
            read?;
            if let Some(expected) = adler_c {
                let found = adler32(&self.payload);
                if found != expected {
                    return Err(mismatch("adler32 of compressed data", expected, found));
                }
            }
            if let Some(expected) = crc_c {
                let found = crc32fast::hash(&self.payload);
                if found != expected {
                    return Err(mismatch("crc32 of compressed data", expected, found));
                }
            }
            match lzo::decompress_into(&self.payload, out) {
                Ok(n) if n == dst => {}
                Ok(n) => {
                    return Err(corrupt(format!(
                        "block {index} decompresses to {n} bytes, its header says {dst_len}"
                    )));
                }
                Err(e) => return Err(corrupt(format!("block {index} does not decompress: {e}"))),
            }
        } else {
            self.exact(out, name, at)?;
        }
        undo_filter(out, self.header.filter);
        if let Some(expected) = adler_d {
            let found = adler32(out);
            if found != expected {
                return Err(mismatch("adler32 of uncompressed data", expected, found));
            }
        }
        if let Some(expected) = crc_d {
            let found = crc32fast::hash(out);
            if found != expected {
                return Err(mismatch("crc32 of uncompressed data", expected, found));
            }
        }
        self.out = buffered;
        self.blocks += 1;
        Ok(outcome)
    }
}

/// What [`LzopReader::block`] did.
enum Block {
    /// Decoded this many bytes into the caller's buffer.
    Direct(usize),
    /// Decoded into `out`.
    Buffered,
    /// Read the end marker.
    End,
}

/// Adler-32 of `data` (SIMD where the CPU has it: it is checked over every decoded byte).
fn adler32(data: &[u8]) -> u32 {
    simd_adler32::adler32(&data)
}

/// Undoes lzop's delta filter in place: byte `i ≥ n` was stored as `b[i] − b[i−n]` (lzop.md §4).
fn undo_filter(block: &mut [u8], n: usize) {
    if n == 0 {
        return;
    }
    for i in n..block.len() {
        block[i] = block[i].wrapping_add(block[i - n]);
    }
}

impl<R: Read> Read for LzopReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.out_pos >= self.out.len() {
            if matches!(self.state, State::Done | State::Failed) {
                return Ok(0);
            }
            match self.next_block(buf) {
                Ok(Some(n)) => return Ok(n),
                Ok(None) => {}
                Err(e) => {
                    self.state = State::Failed;
                    self.out.clear();
                    self.out_pos = 0;
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Writer.

/// Header fields lzop 1.04 writes for piped input (lzop.md §10): version, lib_version, version_needed.
const WRITE_VERSIONS: [u8; 6] = [0x10, 0x40, 0x20, 0xA0, 0x09, 0x40];
/// Method LZO1X-1 and level 5 (informational; the stream format is the same for every LZO1X method).
const WRITE_METHOD_LEVEL: [u8; 2] = [1, 5];
/// OS = Unix, STDOUT, STDIN, ADLER32_D.
const WRITE_FLAGS: u32 = 0x0300_000D;

/// Writes an lzop file the way lzop 1.04 does from a pipe: 256 KiB blocks, Adler-32 of the uncompressed data,
/// blocks stored raw when compression does not shrink them.
///
/// Call [`LzopWriter::finish`] to write the last block and the end marker; dropping the writer without it leaves a
/// truncated file. Every compressed block is decoded again before it is written, and stored raw if that does not
/// give back the input, so that an encoder bug can cost space but never data.
#[derive(Debug)]
pub struct LzopWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    lzo: Lzo1x,
    packed: Vec<u8>,
    check: Vec<u8>,
    header_written: bool,
}

impl<W: Write> LzopWriter<W> {
    /// Wraps `inner`; nothing is written until the first block or [`LzopWriter::finish`].
    pub fn new(inner: W) -> Self {
        LzopWriter {
            inner,
            buf: Vec::with_capacity(WRITE_BLOCK_LEN),
            lzo: Lzo1x::new(),
            packed: Vec::new(),
            check: Vec::new(),
            header_written: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(&WRITE_VERSIONS);
        h.extend_from_slice(&WRITE_METHOD_LEVEL);
        h.extend_from_slice(&WRITE_FLAGS.to_be_bytes());
        h.extend_from_slice(&[0; 4]); // Mode: 0, as for a pipe.
        h.extend_from_slice(&[0; 8]); // Mtime low and high: 0, so that the output is reproducible.
        h.push(0); // Empty name.
        let checksum = adler32(&h);
        self.inner.write_all(&LZOP_MAGIC)?;
        self.inner.write_all(&h)?;
        self.inner.write_all(&checksum.to_be_bytes())?;
        self.header_written = true;
        Ok(())
    }

    /// Compresses and writes the buffered block.
    fn write_block(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.write_header()?;
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = &self.buf;
        let len =
            u32::try_from(data.len()).map_err(|_| io::Error::other("lzop block too large"))?;
        let adler = adler32(data);
        self.lzo.compress(data, &mut self.packed);
        self.check.resize(data.len(), 0);
        let packed = self.packed.len() < data.len()
            && matches!(lzo::decompress_into(&self.packed, &mut self.check), Ok(n) if n == data.len())
            && self.check == *data;
        let mut head = [0u8; 12];
        head[..4].copy_from_slice(&len.to_be_bytes());
        head[8..].copy_from_slice(&adler.to_be_bytes());
        if packed {
            let clen = u32::try_from(self.packed.len())
                .map_err(|_| io::Error::other("lzop block too large"))?;
            head[4..8].copy_from_slice(&clen.to_be_bytes());
            self.inner.write_all(&head)?;
            self.inner.write_all(&self.packed)?;
        } else {
            head[4..8].copy_from_slice(&len.to_be_bytes());
            self.inner.write_all(&head)?;
            self.inner.write_all(data)?;
        }
        self.buf.clear();
        Ok(())
    }

    /// Writes the last block and the end marker, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_block()?;
        self.inner.write_all(&0u32.to_be_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for LzopWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(WRITE_BLOCK_LEN - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == WRITE_BLOCK_LEN {
            self.write_block()?;
        }
        Ok(n)
    }

    /// Flushes the inner writer; a partly filled block stays buffered so that blocks keep their full size.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(data: &[u8]) -> Vec<u8> {
        let mut w = LzopWriter::new(Vec::new());
        w.write_all(data).expect("write to a Vec");
        w.finish().expect("finish into a Vec")
    }

    fn unpack(file: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        LzopReader::new(file).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn empty_round_trip() {
        let file = pack(b"");
        assert_eq!(file.len(), 38 + 4);
        assert_eq!(unpack(&file).expect("decodes"), b"");
    }

    #[test]
    fn round_trip_several_blocks() {
        let data: Vec<u8> = (0..700_000u32)
            .map(|i| (i / 7 % 251) as u8 ^ (i % 3) as u8)
            .collect();
        let file = pack(&data);
        assert!(file.len() < data.len());
        assert_eq!(unpack(&file).expect("decodes"), data);
    }

    /// Blocks are decoded straight into a caller's buffer that can hold them and through the
    /// internal buffer otherwise; every read size must give the same bytes.
    #[test]
    fn every_read_size_gives_the_same_bytes() {
        let mut data: Vec<u8> = (0..900_000u32).map(|i| (i / 5 % 241) as u8).collect();
        // An incompressible stretch, stored raw.
        let mut x = 0x1234_5678u32;
        for b in &mut data[300_000..600_000] {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let file = pack(&data);
        for size in [
            1,
            4095,
            WRITE_BLOCK_LEN - 1,
            WRITE_BLOCK_LEN,
            WRITE_BLOCK_LEN + 1,
            1 << 20,
        ] {
            let mut r = LzopReader::new(&file[..]);
            let mut out = Vec::new();
            let mut buf = vec![0u8; size];
            loop {
                let n = r.read(&mut buf).expect("decodes");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert!(out == data, "read size {size}: output differs");
        }
    }

    #[test]
    fn filter_undo() {
        let mut b = [1u8, 2, 3, 1, 1, 1, 0xFF];
        undo_filter(&mut b, 3);
        assert_eq!(b, [1, 2, 3, 2, 3, 4, 1]);
    }

    #[test]
    fn bad_magic() {
        let err = unpack(b"\x89LZX").expect_err("not lzop");
        let err = Error::from_io(&err).expect("an unpack error");
        assert_eq!(
            err.to_string(),
            "not lzop data at compressed byte 0: expected magic 89 4c 5a 4f 00 0d 0a 1a 0a found 89 4c 5a 58"
        );
    }

    /// A header like lzop 1.04's with the given method, flags and filter, and a correct Adler-32.
    fn header(method: u8, flags: u32, filter: Option<u32>) -> Vec<u8> {
        let mut h = vec![0x10, 0x40, 0x20, 0xA0, 0x09, 0x40, method, 5];
        h.extend_from_slice(&flags.to_be_bytes());
        if let Some(f) = filter {
            h.extend_from_slice(&f.to_be_bytes());
        }
        h.extend_from_slice(&[0; 13]);
        let sum = adler2::adler32_slice(&h);
        [&LZOP_MAGIC[..], &h, &sum.to_be_bytes()].concat()
    }

    fn message(file: &[u8]) -> String {
        let err = unpack(file).expect_err("must fail");
        Error::from_io(&err).expect("an unpack error").to_string()
    }

    #[test]
    fn unsupported_features_are_named() {
        assert_eq!(
            message(&header(0x1c, 0x0300_000D, None)),
            "unsupported lzop file at compressed byte 0: compression method 28 (only the LZO1X methods 1 to 3)"
        );
        assert_eq!(
            message(&header(1, 0x0300_040D, None)),
            "unsupported lzop file at compressed byte 0: a multipart (split) file"
        );
        assert_eq!(
            message(&header(1, 0x0300_080D, Some(17))),
            "unsupported lzop file at compressed byte 0: filter 17 (only the delta filters 1 to 16 exist)"
        );
    }

    #[test]
    fn impossible_block_lengths_are_corrupt() {
        let mut file = header(1, 0x0300_000C, None);
        file.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 5, 1, 2, 3, 4, 5]);
        assert_eq!(
            message(&file),
            "corrupt lzop data at compressed byte 38: block 0 has stored length 5 for uncompressed length 4"
        );
    }

    #[test]
    fn undecodable_lzo_data_is_corrupt() {
        // No checksums (lzop -F), and a payload that starts with a literal run of 20 bytes but holds only 2.
        let mut file = header(1, 0x0300_000C, None);
        file.extend_from_slice(&[0, 0, 0, 100, 0, 0, 0, 3, 17 + 20, b'a', b'b', 0, 0, 0, 0]);
        assert_eq!(
            message(&file),
            "corrupt lzop data at compressed byte 38: block 0 does not decompress: lzo: compressed input ended prematurely"
        );
    }

    #[test]
    fn compressed_data_checksum_is_checked_before_decoding() {
        // ADLER32_D and ADLER32_C (1 | 2), the latter wrong, for a compressed block.
        let mut file = header(1, 0x0300_000F, None);
        let payload = [0x11 + 3, b'a', b'b', b'c', 0x11, 0, 0];
        file.extend_from_slice(&100u32.to_be_bytes());
        file.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        file.extend_from_slice(&0u32.to_be_bytes()); // Adler-32 of uncompressed data: not reached.
        file.extend_from_slice(&1u32.to_be_bytes()); // Adler-32 of compressed data: wrong.
        file.extend_from_slice(&payload);
        let found = adler2::adler32_slice(&payload);
        assert_eq!(
            message(&file),
            format!(
                "lzop block 0 at byte 38: adler32 of compressed data expected 0x00000001 found {found:#010x}"
            )
        );
    }

    #[test]
    fn unknown_flag_bits_are_a_warning() {
        let mut file = header(1, 0x0300_400C, None);
        file.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0]);
        let mut r = LzopReader::new(&file[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("decodes");
        assert_eq!(out, b"hi");
        assert_eq!(
            r.warnings(),
            [
                "lzop header at byte 0 has unknown flag bits 0x00004000 set",
                // 0x0300400C sets none of the checksum flags (1, 2, 0x100, 0x200).
                "the lzop stream at byte 0 has no checksum of its uncompressed data: its data was \
                 not covered by any checksum"
            ]
        );
        assert_eq!(r.blocks(), 1);
    }

    #[test]
    fn oversized_block_is_refused_before_allocating() {
        let mut file = pack(b"");
        file.truncate(38);
        file.extend_from_slice(&(MAX_BLOCK_LEN + 1).to_be_bytes());
        let err = unpack(&file).expect_err("too large");
        assert_eq!(
            Error::from_io(&err).expect("an unpack error").to_string(),
            "lzop block 0 uncompressed length at compressed byte 38 is 67108865, more than the limit of 67108864"
        );
    }
}
