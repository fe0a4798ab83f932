//! The source (the base file, e.g. the unpacked full backup) and the sliding window over it.
//!
//! A forward-only source is read front to back into a ring buffer of fixed capacity (the
//! source window). Copies are served from the ring; reading further forward overwrites the
//! oldest bytes. A copy reaching behind the ring fails with [`Error::SourceBehindWindow`].
//! A seekable source uses the same ring but seeks instead of failing, and seeks over large
//! forward gaps instead of reading them.

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::{Error, Result};

/// Where the decoder reads source bytes from.
///
/// Use one of the wrappers: [`ForwardSource`] for any [`Read`] (a pipe, a decompressor),
/// [`SeekableSource`] for a [`Read`] + [`Seek`] (a plain file), or [`NoSource`] for deltas
/// made without a source.
pub trait SourceRead {
    /// Reads the next bytes of the source, like [`Read::read`].
    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Moves to absolute offset `pos`; `None` when the source cannot seek.
    fn seek_source(&mut self, pos: u64) -> Option<io::Result<()>> {
        let _ = pos;
        None
    }

    /// The length of the source, when it can tell without reading it; `None` otherwise. It may
    /// move the read position: the caller seeks afterwards.
    fn source_len(&mut self) -> Option<u64> {
        None
    }
}

/// A source read strictly front to back through the source window.
#[derive(Debug)]
pub struct ForwardSource<R>(pub R);

impl<R: Read> SourceRead for ForwardSource<R> {
    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// A source with random access: copies behind the source window seek back.
#[derive(Debug)]
pub struct SeekableSource<R>(pub R);

impl<R: Read + Seek> SourceRead for SeekableSource<R> {
    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn seek_source(&mut self, pos: u64) -> Option<io::Result<()>> {
        Some(self.0.seek(SeekFrom::Start(pos)).map(|_| ()))
    }

    fn source_len(&mut self) -> Option<u64> {
        self.0.seek(SeekFrom::End(0)).ok()
    }
}

/// The empty source, for deltas made without one (`xdelta3 -e` without `-s`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSource;

impl SourceRead for NoSource {
    fn read_source(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

impl<S: SourceRead + ?Sized> SourceRead for &mut S {
    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_source(buf)
    }

    fn seek_source(&mut self, pos: u64) -> Option<io::Result<()>> {
        (**self).seek_source(pos)
    }
    fn source_len(&mut self) -> Option<u64> {
        (**self).source_len()
    }
}

impl<S: SourceRead + ?Sized> SourceRead for Box<S> {
    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_source(buf)
    }

    fn seek_source(&mut self, pos: u64) -> Option<io::Result<()>> {
        (**self).seek_source(pos)
    }
    fn source_len(&mut self) -> Option<u64> {
        (**self).source_len()
    }
}

/// Smallest read issued against the source, so that a run of small copies does not turn
/// into many tiny reads.
const MIN_READ: usize = 256 * 1024;
/// Largest read issued against the source beyond what a copy needs, so that read-ahead
/// evicts little history.
const MAX_READ: usize = 8 * 1024 * 1024;

/// Window and delta position of the copy being served, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyContext {
    pub(crate) window: u64,
    pub(crate) at: u64,
}

/// A ring buffer over the source holding the bytes `[low, high)`.
pub(crate) struct SourceWindow<S> {
    src: S,
    /// Allocated on first use with the full capacity (zero pages cost nothing until touched).
    ring: Vec<u8>,
    cap: usize,
    low: u64,
    high: u64,
    /// The source reported end of file at `high`.
    eof: bool,
}

impl<S: SourceRead> SourceWindow<S> {
    pub(crate) fn new(src: S, cap: usize) -> Self {
        SourceWindow {
            src,
            ring: Vec::new(),
            cap,
            low: 0,
            high: 0,
            eof: false,
        }
    }

    /// Position of `at` inside the ring.
    #[inline]
    fn slot(&self, at: u64) -> usize {
        // The remainder is below `cap`, which is a usize.
        (at % self.cap as u64) as usize
    }

    /// Repositions a seekable source at `at`, emptying the ring; false if it cannot seek.
    fn reposition(&mut self, at: u64) -> Result<bool> {
        match self.src.seek_source(at) {
            None => Ok(false),
            Some(Ok(())) => {
                self.low = at;
                self.high = at;
                self.eof = false;
                Ok(true)
            }
            Some(Err(source)) => Err(Error::SourceIo { at, source }),
        }
    }

    /// Returns up to `want` (> 0) source bytes starting at absolute offset `at`, at least
    /// one.
    pub(crate) fn get(&mut self, at: u64, want: usize, ctx: CopyContext) -> Result<&[u8]> {
        if at < self.low {
            if !self.reposition(at)? {
                return Err(Error::SourceBehindWindow {
                    window: ctx.window,
                    at: ctx.at,
                    wanted: at,
                    window_start: self.low,
                    window_size: self.cap as u64,
                });
            }
        } else if at >= self.high.saturating_add(self.cap as u64) {
            // A gap larger than the window: seek over it when possible, but never past the end,
            // where a file system either refuses the offset (EINVAL) or reads nothing there.
            if let Some(len) = self.src.source_len().filter(|len| at >= *len) {
                // Asking for the length moved the read position: back to where the ring ends.
                if let Some(Err(source)) = self.src.seek_source(self.high) {
                    return Err(Error::SourceIo {
                        at: self.high,
                        source,
                    });
                }
                return Err(Error::SourceTooShort {
                    window: ctx.window,
                    at: ctx.at,
                    wanted: at,
                    source_len: len,
                });
            }
            self.reposition(at)?;
        }
        if self.ring.is_empty() {
            self.ring = vec![0; self.cap];
        }
        while self.high <= at {
            if self.eof {
                return Err(Error::SourceTooShort {
                    window: ctx.window,
                    at: ctx.at,
                    wanted: at,
                    source_len: self.high,
                });
            }
            let slot = self.slot(self.high);
            let needed = at.saturating_add(want as u64) - self.high;
            let chunk = usize::try_from(needed)
                .unwrap_or(MAX_READ)
                .clamp(MIN_READ, MAX_READ);
            let len = chunk.min(self.cap - slot);
            let n = loop {
                match self.src.read_source(&mut self.ring[slot..slot + len]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(Error::SourceIo {
                            at: self.high,
                            source,
                        });
                    }
                }
            };
            if n == 0 {
                self.eof = true;
                continue;
            }
            self.high += n as u64;
            self.low = self.low.max(self.high.saturating_sub(self.cap as u64));
        }
        let slot = self.slot(at);
        let avail = usize::try_from(self.high - at).unwrap_or(usize::MAX);
        let len = avail.min(self.cap - slot).min(want);
        Ok(&self.ring[slot..slot + len])
    }

    /// Appends `len` source bytes starting at `at` to `out`.
    pub(crate) fn copy_to(
        &mut self,
        mut at: u64,
        len: usize,
        out: &mut Vec<u8>,
        ctx: CopyContext,
    ) -> Result<()> {
        let mut left = len;
        while left > 0 {
            let chunk = self.get(at, left, ctx)?;
            out.extend_from_slice(chunk);
            at += chunk.len() as u64;
            left -= chunk.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const CTX: CopyContext = CopyContext { window: 0, at: 0 };

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn forward_window_slides_and_refuses_old_bytes() {
        let d = data(1 << 20);
        let mut w = SourceWindow::new(ForwardSource(&d[..]), 64 * 1024);
        let mut out = Vec::new();
        w.copy_to(1000, 5000, &mut out, CTX).expect("in range");
        assert_eq!(out, &d[1000..6000]);
        out.clear();
        w.copy_to(500_000, 100_000, &mut out, CTX).expect("forward");
        assert_eq!(out, &d[500_000..600_000]);
        let err = w.copy_to(1000, 10, &mut Vec::new(), CTX);
        assert!(matches!(
            err,
            Err(Error::SourceBehindWindow { wanted: 1000, .. })
        ));
        let err = w.copy_to((1 << 20) - 5, 10, &mut Vec::new(), CTX);
        assert!(matches!(
            err,
            Err(Error::SourceTooShort {
                source_len: 1_048_576,
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn ring_serves_exactly_the_requested_bytes(
            requests in proptest::collection::vec((0u64..1_500_000, 1usize..200_000), 1..30),
            cap in 65_536usize..400_000,
        ) {
            let d = data(1_200_000);
            let mut forward = SourceWindow::new(ForwardSource(&d[..]), cap);
            let mut seekable = SourceWindow::new(SeekableSource(Cursor::new(&d)), cap);
            for (at, len) in requests {
                let in_range = at as usize + len <= d.len();
                let mut out = Vec::new();
                match seekable.copy_to(at, len, &mut out, CTX) {
                    Ok(()) => proptest::prop_assert_eq!(&out[..], &d[at as usize..at as usize + len]),
                    Err(e) => proptest::prop_assert!(
                        !in_range && matches!(e, Error::SourceTooShort { .. }),
                        "{}", e
                    ),
                }
                let mut out = Vec::new();
                match forward.copy_to(at, len, &mut out, CTX) {
                    Ok(()) => proptest::prop_assert_eq!(&out[..], &d[at as usize..at as usize + len]),
                    Err(Error::SourceBehindWindow { wanted, window_start, .. }) => {
                        proptest::prop_assert!(wanted < window_start);
                    }
                    Err(e) => proptest::prop_assert!(
                        !in_range && matches!(e, Error::SourceTooShort { .. }),
                        "{}", e
                    ),
                }
            }
        }
    }

    /// A copy far past the end of a seekable source: the file system refused the seek (EINVAL on
    /// ext4) or, where it accepts the offset, the source seemed to end where the copy started.
    #[test]
    fn issue10_item13_copy_far_past_a_seekable_source_names_its_end() {
        let d = data(8000);
        let mut w = SourceWindow::new(SeekableSource(Cursor::new(&d)), 64 * 1024);
        let err = w
            .copy_to(1 << 62, 4, &mut Vec::new(), CTX)
            .expect_err("past the end");
        assert!(
            matches!(
                err,
                Error::SourceTooShort {
                    wanted: 4_611_686_018_427_387_904,
                    source_len: 8000,
                    ..
                }
            ),
            "{err}"
        );
        // Still usable afterwards.
        let mut out = Vec::new();
        w.copy_to(10, 5, &mut out, CTX).expect("in range");
        assert_eq!(out, &d[10..15]);
    }

    #[test]
    fn seekable_window_goes_back() {
        let d = data(1 << 20);
        let mut w = SourceWindow::new(SeekableSource(Cursor::new(&d)), 64 * 1024);
        for &(at, len) in &[(900_000, 70_000), (10, 100_000), (400_000, 1), (0, 1 << 20)] {
            let mut out = Vec::new();
            w.copy_to(at, len, &mut out, CTX).expect("seekable");
            assert_eq!(out, &d[at as usize..at as usize + len]);
        }
    }
}
