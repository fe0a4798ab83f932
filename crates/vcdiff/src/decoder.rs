//! The streaming decoder: reads the delta window by window and yields the target.

use std::io::{self, Read};

use crate::addr_cache::AddrCache;
use crate::error::{Error, Result};
use crate::header::FileHeader;
use crate::input::{DeltaInput, slice_varint};
use crate::secondary::{Secondary, Section};
use crate::source::{SourceRead, SourceWindow};
use crate::window::{self, MAX_TARGET_WINDOW, SectionRef, WindowHeader, section_limit};

/// Default size of the source window: twice xdelta3's default `-B` of 64 MiB.
pub const DEFAULT_SOURCE_WINDOW: usize = 128 * 1024 * 1024;
/// Smallest source window accepted; smaller requests are raised to it.
pub const MIN_SOURCE_WINDOW: usize = 64 * 1024;

/// Decoder settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Bytes of source kept behind the furthest source byte read (forward-only sources).
    /// Copies reaching further back fail with [`Error::SourceBehindWindow`].
    pub source_window: usize,
    /// Largest target window accepted, at most [`MAX_TARGET_WINDOW`].
    pub max_target_window: u64,
    /// Verify each window's Adler-32 when the delta carries one (on by default).
    pub verify_checksums: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source_window: DEFAULT_SOURCE_WINDOW,
            max_target_window: MAX_TARGET_WINDOW,
            verify_checksums: true,
        }
    }
}

impl Options {
    /// Sets the source window size in bytes.
    pub fn source_window(mut self, bytes: usize) -> Self {
        self.source_window = bytes;
        self
    }

    /// Lowers the largest accepted target window (useful to bound memory, e.g. when fuzzing).
    pub fn max_target_window(mut self, bytes: u64) -> Self {
        self.max_target_window = bytes;
        self
    }

    /// Turns the per-window Adler-32 check on or off.
    pub fn verify_checksums(mut self, on: bool) -> Self {
        self.verify_checksums = on;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Done,
    Failed,
}

/// A streaming VCDIFF decoder; reading it yields the reconstructed target.
///
/// `S` is the source ([`crate::ForwardSource`], [`crate::SeekableSource`] or
/// [`crate::NoSource`]), `D` the delta with any outer compression already removed. Output is
/// produced one target window at a time; memory is bounded by the source window plus a few
/// target windows, whatever the size of the image.
///
/// Errors from the [`Read`] implementation wrap an [`Error`]; get it back with
/// [`Error::from_io`]. After an error the decoder stays failed.
pub struct Decoder<S, D> {
    input: DeltaInput<D>,
    source: SourceWindow<S>,
    header: FileHeader,
    secondary: Option<Secondary>,
    max_target: u64,
    verify: bool,
    cache: AddrCache,
    windows: u64,
    stored: [Vec<u8>; 3],
    plain: [Vec<u8>; 3],
    out: Vec<u8>,
    out_pos: usize,
    total_out: u64,
    state: State,
}

impl<S: SourceRead, D: Read> Decoder<S, D> {
    /// Reads the file header of `delta` and prepares to decode it against `source`.
    pub fn new(source: S, delta: D, opts: Options) -> Result<Self> {
        let mut input = DeltaInput::new(delta);
        let header = FileHeader::read(&mut input)?;
        let secondary = header.secondary.map(Secondary::new);
        Ok(Decoder {
            input,
            source: SourceWindow::new(source, opts.source_window.max(MIN_SOURCE_WINDOW)),
            header,
            secondary,
            max_target: opts.max_target_window.min(MAX_TARGET_WINDOW),
            verify: opts.verify_checksums,
            cache: AddrCache::new(),
            windows: 0,
            stored: Default::default(),
            plain: Default::default(),
            out: Vec::new(),
            out_pos: 0,
            total_out: 0,
            state: State::Running,
        })
    }

    /// The file header, with the application header and the secondary compressor.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// Number of windows decoded so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Bytes of the delta consumed so far.
    pub fn delta_offset(&self) -> u64 {
        self.input.offset()
    }

    /// Bytes of target reconstructed so far (including bytes not yet read out).
    pub fn output_len(&self) -> u64 {
        self.total_out
    }

    /// True once the whole delta has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes the next window and returns its bytes, or `None` at the end of the delta.
    ///
    /// This is the zero-copy alternative to [`Read`]; bytes of the previous window not yet
    /// read through [`Read`] are dropped, so use one interface or the other.
    pub fn next_window(&mut self) -> Result<Option<&[u8]>> {
        match self.state {
            State::Done => return Ok(None),
            State::Failed => return Err(Error::Poisoned),
            State::Running => {}
        }
        match self.decode_window() {
            Ok(true) => Ok(Some(&self.out)),
            Ok(false) => {
                self.state = State::Done;
                self.out.clear();
                Ok(None)
            }
            Err(e) => {
                self.state = State::Failed;
                self.out.clear();
                Err(e)
            }
        }
    }

    /// Decodes one window into `self.out`; false at the end of the delta.
    fn decode_window(&mut self) -> Result<bool> {
        let window = self.windows;
        let Some(hdr) = WindowHeader::read(
            &mut self.input,
            window,
            self.max_target,
            self.secondary.is_some(),
        )?
        else {
            return Ok(false);
        };
        let mut stored_at = [0u64; 3];
        for (k, section) in Section::ALL.into_iter().enumerate() {
            stored_at[k] = self.input.offset();
            self.stored[k].clear();
            self.input
                .read_into(&mut self.stored[k], hdr.section_lens[k], section.name())?;
        }
        let mut compressed = [false; 3];
        for (k, section) in Section::ALL.into_iter().enumerate() {
            let at = stored_at[k];
            let stored = &self.stored[k];
            if hdr.delta_indicator & section.indicator_bit() == 0 {
                if let Some(secondary) = self.secondary.as_mut() {
                    secondary.stored_plain(section, stored);
                }
                continue;
            }
            compressed[k] = true;
            let mut pos = 0;
            let len = slice_varint(stored, &mut pos).ok_or(Error::Truncated {
                what: "compressed section length",
                at,
            })?;
            let limit = section_limit(section, hdr.target_len);
            if len > limit {
                return Err(Error::LimitExceeded {
                    what: "decompressed section length",
                    at,
                    value: len,
                    limit,
                });
            }
            // Capped by `limit`, far below usize::MAX.
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let plain = &mut self.plain[k];
            plain.clear();
            let Some(secondary) = self.secondary.as_mut() else {
                return Err(Error::SecondaryNotDeclared {
                    window,
                    at: hdr.delta_indicator_at,
                });
            };
            if let Err(e) = secondary.decompress(section, &stored[pos..], len, plain) {
                let payload_at = at + pos as u64;
                return Err(Error::Secondary {
                    name: secondary.name(),
                    section: section.name(),
                    window,
                    at: e.at.map_or(at, |p| payload_at + p as u64),
                    detail: e.detail,
                });
            }
        }
        let section = |k: usize| SectionRef {
            bytes: if compressed[k] {
                &self.plain[k]
            } else {
                &self.stored[k]
            },
            at: stored_at[k],
            exact: !compressed[k],
        };
        let (data, inst, addr) = (section(0), section(1), section(2));
        self.out.clear();
        self.out_pos = 0;
        window::execute(
            &hdr,
            window,
            &data,
            &inst,
            &addr,
            &mut self.cache,
            &mut self.source,
            &mut self.out,
        )?;
        if let (true, Some(expected)) = (self.verify, hdr.adler32) {
            let found = adler2::adler32_slice(&self.out);
            if found != expected {
                return Err(Error::ChecksumMismatch {
                    window,
                    at: hdr.at,
                    expected,
                    found,
                });
            }
        }
        self.windows += 1;
        self.total_out += self.out.len() as u64;
        Ok(true)
    }
}

impl<S: SourceRead, D: Read> Read for Decoder<S, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.out_pos == self.out.len() {
            if self.next_window()?.is_none() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

impl<S, D> std::fmt::Debug for Decoder<S, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("header", &self.header)
            .field("windows", &self.windows)
            .field("total_out", &self.total_out)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{ForwardSource, NoSource};

    const HEADER: [u8; 5] = [0xd6, 0xc3, 0xc4, 0x00, 0x00];

    fn delta(window: &[u8]) -> Vec<u8> {
        [&HEADER[..], window].concat()
    }

    fn run<S: SourceRead>(source: S, delta: &[u8]) -> Result<Vec<u8>> {
        let mut d = Decoder::new(source, delta, Options::default())?;
        let mut out = Vec::new();
        while let Some(w) = d.next_window()? {
            out.extend_from_slice(w);
        }
        assert_eq!(d.delta_offset(), delta.len() as u64);
        Ok(out)
    }

    /// ADD "abc", then COPY 6 from address 0 (SELF), overlapping its own output.
    const ABC: [u8; 15] = [
        0x00, 0x0b, 0x09, 0x00, 0x03, 0x02, 0x01, b'a', b'b', b'c', 0x04, 0x16, 0x00, 0, 0,
    ];

    #[test]
    fn hand_made_window() {
        let d = delta(&ABC[..13]);
        assert_eq!(run(NoSource, &d).expect("valid"), b"abcabcabc");
        // Two windows in a row, and the address cache reset between them.
        let d2 = [&d[..], &ABC[..13]].concat();
        assert_eq!(run(NoSource, &d2).expect("valid"), b"abcabcabcabcabcabc");
    }

    #[test]
    fn source_copies() {
        // Segment of 3 bytes at source offset 2; COPY 3 from the segment, COPY 3 from target.
        let w = [
            0x01, 0x03, 0x02, 0x0b, 0x06, 0x00, 0x00, 0x04, 0x02, 19, 3, 19, 3, 0x00, 0x03,
        ];
        assert_eq!(
            run(ForwardSource(&b"xxabc"[..]), &delta(&w)).expect("valid"),
            b"abcabc"
        );
        let err = run(ForwardSource(&b"xxab"[..]), &delta(&w)).expect_err("short source");
        assert!(
            matches!(
                err,
                Error::SourceTooShort {
                    wanted: 4,
                    source_len: 4,
                    ..
                }
            ),
            "{err}"
        );
        // A copy of 4 from segment address 0 crosses the 3-byte segment end.
        let mut cross = w;
        cross[10] = 4;
        cross[4] = 7;
        let err = run(ForwardSource(&b"xxabcd"[..]), &delta(&cross)).expect_err("crosses");
        assert!(matches!(err, Error::BadInstruction { at: 14, .. }), "{err}");
    }

    fn with(patch: &[(usize, u8)]) -> Vec<u8> {
        let mut w = ABC[..13].to_vec();
        for &(i, v) in patch {
            w[i] = v;
        }
        delta(&w)
    }

    #[test]
    fn rejections() {
        let err = run(NoSource, &with(&[(0, 0x02)])).expect_err("vcd_target");
        assert!(
            matches!(err, Error::TargetWindowUnsupported { window: 0, at: 5 }),
            "{err}"
        );
        let err = run(NoSource, &with(&[(0, 0x08)])).expect_err("bits");
        assert!(
            matches!(
                err,
                Error::BadIndicator {
                    what: "window indicator",
                    ..
                }
            ),
            "{err}"
        );
        let err = run(NoSource, &with(&[(1, 0x0c)])).expect_err("length");
        assert!(
            matches!(
                err,
                Error::EncodingLength {
                    declared: 12,
                    found: 11,
                    ..
                }
            ),
            "{err}"
        );
        let err = run(NoSource, &with(&[(12, 0x05)])).expect_err("address");
        assert!(
            matches!(
                err,
                Error::BadInstruction {
                    window: 0,
                    at: 16,
                    ..
                }
            ),
            "{err}"
        );
        let err = run(NoSource, &with(&[(2, 0x0a)])).expect_err("short");
        assert!(
            matches!(
                err,
                Error::ShortWindow {
                    expected: 10,
                    found: 9,
                    ..
                }
            ),
            "{err}"
        );
        let err = run(NoSource, &with(&[(2, 0x08)])).expect_err("overflow");
        assert!(matches!(err, Error::BadInstruction { at: 16, .. }), "{err}");
        let err = run(NoSource, &with(&[(3, 0x01)])).expect_err("not declared");
        assert!(
            matches!(err, Error::SecondaryNotDeclared { at: 8, .. }),
            "{err}"
        );
        let err = run(NoSource, &with(&[(3, 0x08)])).expect_err("delta bits");
        assert!(
            matches!(
                err,
                Error::BadIndicator {
                    what: "delta indicator",
                    ..
                }
            ),
            "{err}"
        );
        // One more data byte than the instructions use.
        let mut w = ABC[..10].to_vec();
        w[1] = 0x0c;
        w[4] = 0x04;
        w.extend_from_slice(&[b'd', 0x04, 0x16, 0x00]);
        let err = run(NoSource, &delta(&w)).expect_err("extra data");
        assert!(
            matches!(
                err,
                Error::ExtraSectionBytes {
                    section: "data",
                    at: 12,
                    extra: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn checksum_and_poisoning() {
        // VCD_ADLER32 with a stored checksum of 0: the window is rebuilt, then rejected.
        let mut w = vec![0x04, 0x0f];
        w.extend_from_slice(&ABC[2..7]);
        w.extend_from_slice(&[0, 0, 0, 0]);
        w.extend_from_slice(&ABC[7..13]);
        let d = delta(&w);
        let mut dec = Decoder::new(NoSource, &d[..], Options::default()).expect("header");
        let err = dec.next_window().expect_err("mismatch");
        assert!(matches!(
            err,
            Error::ChecksumMismatch {
                window: 0,
                at: 5,
                expected: 0,
                ..
            }
        ));
        assert!(matches!(dec.next_window(), Err(Error::Poisoned)));
        let mut out = Vec::new();
        let mut dec = Decoder::new(NoSource, &d[..], Options::default().verify_checksums(false))
            .expect("header");
        dec.read_to_end(&mut out).expect("unchecked");
        assert_eq!(out, b"abcabcabc");
    }
}
