//! Buffered, strictly sequential reading of the delta with absolute offsets.

use std::io::{self, Read};

use crate::error::{Error, Result};

/// Size of the read buffer in front of the delta.
const BUF_SIZE: usize = 256 * 1024;

/// Longest varint accepted: ten groups of seven bits cover 64 bits.
const MAX_VARINT_LEN: usize = 10;

/// Reads the delta front to back, counting the absolute offset of every byte.
pub(crate) struct DeltaInput<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
}

impl<R: Read> DeltaInput<R> {
    pub(crate) fn new(inner: R) -> Self {
        DeltaInput {
            inner,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            filled: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        // `pos` is at most BUF_SIZE, so the conversion is lossless.
        self.base + self.pos as u64
    }

    /// Refills the buffer; returns false at end of input.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.filled {
            return Ok(true);
        }
        self.base += self.filled as u64;
        self.pos = 0;
        self.filled = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.filled = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::DeltaIo {
                        at: self.base,
                        source,
                    });
                }
            }
        }
    }

    /// True when the delta has no more bytes.
    pub(crate) fn at_eof(&mut self) -> Result<bool> {
        Ok(!self.fill()?)
    }

    /// Reads one byte; `what` names the structure for a truncation error starting at `start`.
    pub(crate) fn u8(&mut self, what: &'static str, start: u64) -> Result<u8> {
        if !self.fill()? {
            return Err(Error::Truncated { what, at: start });
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// Reads a VCDIFF variable-length integer (base 128, most significant group first).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64> {
        let at = self.offset();
        let mut value: u64 = 0;
        for _ in 0..MAX_VARINT_LEN {
            let b = self.u8(what, at)?;
            if value > (u64::MAX >> 7) {
                return Err(Error::BadVarint { what, at });
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::BadVarint { what, at })
    }

    /// Appends exactly `len` bytes to `out`, growing it as the bytes arrive (so a truncated
    /// delta never makes it allocate the declared length up front).
    pub(crate) fn read_into(
        &mut self,
        out: &mut Vec<u8>,
        len: u64,
        what: &'static str,
    ) -> Result<()> {
        let start = self.offset();
        let mut left = len;
        while left > 0 {
            if !self.fill()? {
                return Err(Error::Truncated { what, at: start });
            }
            let avail = self.filled - self.pos;
            let take = usize::try_from(left).map_or(avail, |l| l.min(avail));
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take as u64;
        }
        Ok(())
    }
}

/// Reads a varint from a byte slice at `*pos`, advancing it. Returns `None` when the slice
/// ends first or the value overflows 64 bits; the caller builds the error.
#[inline]
pub(crate) fn slice_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for _ in 0..MAX_VARINT_LEN {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        if value > (u64::MAX >> 7) {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let bytes = [0x00, 0x7f, 0x81, 0x00, 0x84, 0x80, 0x80, 0x00];
        let mut input = DeltaInput::new(&bytes[..]);
        assert_eq!(input.varint("x").ok(), Some(0));
        assert_eq!(input.varint("x").ok(), Some(127));
        assert_eq!(input.varint("x").ok(), Some(128));
        assert_eq!(input.varint("x").ok(), Some(8 << 20));
        assert!(input.at_eof().unwrap_or(false));
        let mut pos = 0;
        assert_eq!(slice_varint(&bytes, &mut pos), Some(0));
        assert_eq!(slice_varint(&bytes[4..], &mut 0), Some(8 << 20));
        assert_eq!(slice_varint(&[0x80], &mut 0), None);
        assert_eq!(slice_varint(&[0x80; 11], &mut 0), None);
    }

    #[test]
    fn varint_overflow_and_truncation() {
        let long = [0xffu8; 11];
        let mut input = DeltaInput::new(&long[..]);
        assert!(matches!(
            input.varint("size"),
            Err(Error::BadVarint { at: 0, .. })
        ));
        assert_eq!(slice_varint(&[0xff; 11], &mut 0), None);
        let mut input = DeltaInput::new(&[0x81u8][..]);
        assert!(matches!(
            input.varint("size"),
            Err(Error::Truncated { at: 0, .. })
        ));
    }
}
