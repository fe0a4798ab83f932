//! The bit order shared by DJW and FGK payloads.
//!
//! Bits are taken from each byte starting at the least significant one. A byte is fetched
//! only when its first bit is needed, so after the last symbol the reader has consumed
//! exactly the bytes the encoder wrote; unused high bits of the last byte are padding.
//! A fixed-width field of `n` bits is read most significant bit first: the first bit taken
//! is bit `n - 1` of the value.

use super::SecondaryError;

pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bytes fetched so far.
    pos: usize,
    /// Bits of the current byte not yet taken, lowest first.
    current: u8,
    /// How many bits of `current` are left.
    left: u8,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            pos: 0,
            current: 0,
            left: 0,
        }
    }

    /// Bytes consumed so far (the byte holding the last bit taken included).
    #[cfg(test)]
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }

    /// Offset of the byte the next bit comes from (or the end), for error messages.
    pub(crate) fn offset(&self) -> usize {
        if self.left == 0 {
            self.pos
        } else {
            self.pos - 1
        }
    }

    pub(crate) fn bit(&mut self) -> Result<u32, SecondaryError> {
        if self.left == 0 {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(SecondaryError::corrupt_at(
                    "payload ends in the middle of a code",
                    self.pos,
                ));
            };
            self.pos += 1;
            self.current = byte;
            self.left = 8;
        }
        let bit = u32::from(self.current & 1);
        self.current >>= 1;
        self.left -= 1;
        Ok(bit)
    }

    /// A fixed-width field of `width` (at most 16) bits, most significant bit first.
    pub(crate) fn field(&mut self, width: u32) -> Result<u32, SecondaryError> {
        debug_assert!(width <= 16);
        let mut value = 0;
        for _ in 0..width {
            value = (value << 1) | self.bit()?;
        }
        Ok(value)
    }

    /// Fails unless every payload byte has been consumed.
    pub(crate) fn finish(&self) -> Result<(), SecondaryError> {
        let unused = self.bytes.len() - self.pos;
        if unused == 0 {
            Ok(())
        } else {
            Err(SecondaryError::corrupt_at(
                format!("{unused} unused payload bytes after the last symbol"),
                self.pos,
            ))
        }
    }
}

/// Writes bits in the same order (tests only: the crate does not encode).
#[cfg(test)]
#[derive(Default)]
pub(crate) struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    used: u8,
}

#[cfg(test)]
impl BitWriter {
    pub(crate) fn bit(&mut self, bit: u32) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit != 0 {
            *self.bytes.last_mut().expect("pushed") |= 1 << self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    pub(crate) fn field(&mut self, width: u32, value: u32) {
        for k in (0..width).rev() {
            self.bit((value >> k) & 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsb_first_bytes_msb_first_fields() {
        // 0b1010_0110: bits taken 0,1,1,0,0,1,0,1.
        let mut r = BitReader::new(&[0b1010_0110, 0xff]);
        assert_eq!(r.field(3).expect("bits"), 0b011);
        assert_eq!(r.consumed(), 1);
        assert_eq!(r.field(5).expect("bits"), 0b00101);
        assert_eq!(r.consumed(), 1);
        assert!(r.finish().is_err());
        assert_eq!(r.bit().expect("bit"), 1);
        assert_eq!(r.consumed(), 2);
        assert!(r.finish().is_ok());
        let mut r = BitReader::new(&[]);
        assert!(r.bit().is_err());
    }

    #[test]
    fn writer_matches_reader() {
        let mut w = BitWriter::default();
        w.field(3, 5);
        w.field(13, 0x1abc);
        w.bit(1);
        let mut r = BitReader::new(&w.bytes);
        assert_eq!(r.field(3).expect("bits"), 5);
        assert_eq!(r.field(13).expect("bits"), 0x1abc);
        assert_eq!(r.bit().expect("bit"), 1);
        assert!(r.finish().is_ok());
    }
}
