//! [`ZstdFrames`]: a zstd decoder that knows where it is in the compressed input and which
//! frames carry a checksum.
//!
//! `zstd::stream::read::Decoder` reads 128 KiB of input ahead and decodes into the whole
//! buffer it is given, so a frame checksum that fails at the end of a frame also discards every
//! byte decoded by the same call, and the compressed offset it can report is where the read-ahead
//! stopped. Here the libzstd streaming decoder is driven directly: at most one block (128 KiB)
//! of output per call, so the data before a failure is delivered first; the compressed offset
//! is the exact count of bytes the decoder accepted; and each frame header is looked at before
//! it is decoded, to tell whether its data is covered by a content checksum (an optional flag,
//! `zstd --no-check` clears it).

use std::io::{self, Read};

use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use crate::error::Error;
use crate::sniff::Format;

/// Magic number of a zstd frame, little-endian on disk.
const FRAME_MAGIC: u32 = 0xFD2F_B528;
/// Content_Checksum_flag in the Frame_Header_Descriptor (RFC 8878, 3.1.1.1.1).
const CHECKSUM_FLAG: u8 = 0x04;
/// The largest zstd block: the most output one call produces.
const BLOCK_MAX: usize = 128 << 10;
/// Input buffer (libzstd's recommended input size is one block plus a block header).
const INPUT_LEN: usize = BLOCK_MAX + 3;

/// Decodes concatenated zstd frames (and skips skippable ones).
pub(crate) struct ZstdFrames<R> {
    inner: R,
    decoder: Decoder<'static>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Compressed bytes the decoder has accepted.
    consumed: u64,
    /// True between frames (and at the start): the next bytes are a frame header.
    at_frame_start: bool,
    /// True while a frame is being decoded (its end not reached yet).
    in_frame: bool,
    /// Offset of the current frame's magic.
    frame_at: u64,
    /// Whether the current frame has a content checksum.
    frame_checked: bool,
    unchecked: Unchecked,
}

/// Frames without a content checksum.
#[derive(Default)]
struct Unchecked {
    frames: u64,
    first_at: u64,
    bytes: u64,
}

impl<R: Read> ZstdFrames<R> {
    /// Starts decoding `inner`; windows up to 2 GiB are accepted (`zstd --long=31`).
    pub(crate) fn new(inner: R) -> io::Result<Self> {
        let mut decoder = Decoder::new()?;
        decoder.set_parameter(DParameter::WindowLogMax(31))?;
        Ok(ZstdFrames {
            inner,
            decoder,
            buf: vec![0; INPUT_LEN],
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
            at_frame_start: true,
            in_frame: false,
            frame_at: 0,
            frame_checked: true,
            unchecked: Unchecked::default(),
        })
    }

    /// Non-fatal findings: the frames whose data no checksum covered. Complete after the end.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let u = &self.unchecked;
        match u.frames {
            0 => Vec::new(),
            1 => vec![format!(
                "the zstd frame at compressed byte {} has no content checksum: its {} bytes \
                 of data were not covered by any checksum",
                u.first_at, u.bytes
            )],
            n => vec![format!(
                "{n} zstd frames (the first at compressed byte {}) have no content checksum: \
                 {} bytes of data were not covered by any checksum",
                u.first_at, u.bytes
            )],
        }
    }

    /// Reads more input, keeping what is left; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Looks at the frame header about to be decoded: does it carry a content checksum?
    fn frame_header(&mut self) -> io::Result<()> {
        while self.end - self.start < 5 && self.fill()? {}
        let head = &self.buf[self.start..self.end];
        self.frame_at = self.consumed;
        self.frame_checked = true;
        if let Some(magic) = head.get(..4) {
            let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
            // Skippable frames (no data) and garbage (the decoder rejects it) need no check.
            if magic == FRAME_MAGIC {
                self.frame_checked = head.get(4).is_some_and(|d| d & CHECKSUM_FLAG != 0);
                if !self.frame_checked {
                    if self.unchecked.frames == 0 {
                        self.unchecked.first_at = self.consumed;
                    }
                    self.unchecked.frames += 1;
                }
            }
        }
        self.at_frame_start = false;
        Ok(())
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.start == self.end && !self.fill()? {
                if self.in_frame {
                    // Classified by the worker as a truncated frame.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                return Ok(0);
            }
            if self.at_frame_start {
                self.frame_header()?;
                continue;
            }
            let limit = out.len().min(BLOCK_MAX);
            let mut input = InBuffer::around(&self.buf[self.start..self.end]);
            let mut output = OutBuffer::around(&mut out[..limit]);
            let hint = match self.decoder.run(&mut input, &mut output) {
                Ok(h) => h,
                Err(e) => {
                    return Err(Error::Corrupt {
                        format: Format::Zstd,
                        at: self.consumed,
                        detail: format!(
                            "{} (in the frame that starts at compressed byte {})",
                            crate::input::describe(&e),
                            self.frame_at
                        ),
                    }
                    .into_io());
                }
            };
            let (used, written) = (input.pos(), output.pos());
            self.start += used;
            self.consumed += used as u64;
            if !self.frame_checked {
                self.unchecked.bytes += written as u64;
            }
            self.in_frame = hint != 0;
            if hint == 0 {
                self.at_frame_start = true;
            }
            if written > 0 {
                return Ok(written);
            }
        }
    }
}
