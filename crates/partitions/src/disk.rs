//! Bounded random access over any [`ReadAt`] view.

use diskview::ReadAt;

use crate::error::{Error, Result};

/// The largest single read this crate ever makes (GPT entry arrays, LVM metadata text).
pub(crate) const MAX_READ: u64 = 16 * 1024 * 1024;

/// A view with its length, read only through bounds-checked calls.
pub(crate) struct Disk<'a, R: ?Sized> {
    inner: &'a R,
    size: u64,
}

impl<'a, R: ReadAt + ?Sized> Disk<'a, R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: &'a R) -> Self {
        Disk {
            size: inner.size(),
            inner,
        }
    }

    /// Length of the image in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Reads exactly `len` bytes at `at`, or fails with `Truncated` naming `what`.
    pub(crate) fn read_exact_at(
        &mut self,
        what: &'static str,
        at: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        if len > MAX_READ {
            return Err(Error::LimitExceeded {
                what,
                at,
                value: len,
                limit: MAX_READ,
            });
        }
        let available = self.size.saturating_sub(at);
        if len > available {
            return Err(Error::Truncated {
                what,
                at,
                needed: len,
                available,
            });
        }
        self.read_raw(at, len)
    }

    /// Reads up to `len` bytes at `at`, fewer where the image ends.
    pub(crate) fn read_up_to(&mut self, at: u64, len: u64) -> Result<Vec<u8>> {
        let len = len.min(self.size.saturating_sub(at)).min(MAX_READ);
        self.read_raw(at, len)
    }

    fn read_raw(&mut self, at: u64, len: u64) -> Result<Vec<u8>> {
        let io = |source| Error::Io { at, len, source };
        let n = usize::try_from(len).map_err(|_| Error::LimitExceeded {
            what: "read length",
            at,
            value: len,
            limit: MAX_READ,
        })?;
        let mut buf = vec![0u8; n];
        self.inner.read_exact_at(&mut buf, at).map_err(io)?;
        Ok(buf)
    }
}
