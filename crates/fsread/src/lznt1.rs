//! LZNT1, the compression of NTFS compressed files ([MS-XCA] section 2.5), which the `ntfs`
//! crate leaves to its user.
//!
//! A compressed stream is a run of chunks, each with a 16-bit little-endian header: the low 12
//! bits are the chunk's size minus 3 (header included), bit 15 says whether it is compressed.
//! An uncompressed chunk holds 4096 raw bytes. A compressed chunk is groups of one flag byte and
//! eight items: a clear bit is a literal byte, a set bit a 16-bit token copying `length` bytes
//! from `displacement` bytes back. How the token's 16 bits split between displacement and length
//! depends on how far into the 4096-byte chunk the output is: at position `p`, the displacement
//! takes the fewest bits (at least 4) that can reach back `p` bytes, the length the rest.
//! A zero header, or the end of the input, ends the stream.
//!
//! [MS-XCA]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-xca/
//!
//! ```
//! // One compressed chunk: "abc" as literals, then a token copying 6 bytes from 3 back.
//! // At position 3 the displacement takes 4 bits: token = (3 - 1) << 12 | (6 - 3).
//! let token: u16 = (2 << 12) | 3;
//! let mut data = vec![0b0000_1000, b'a', b'b', b'c'];
//! data.extend_from_slice(&token.to_le_bytes());
//! let header: u16 = 0xb000 | (data.len() as u16 + 2 - 3);
//! let mut stream = header.to_le_bytes().to_vec();
//! stream.extend_from_slice(&data);
//! let mut out = Vec::new();
//! fsread::lznt1::decompress(&stream, &mut out, 4096)?;
//! assert_eq!(out, b"abcabcabc");
//! # Ok::<(), fsread::Error>(())
//! ```

use crate::{Error, Result};

/// Uncompressed size of one chunk.
pub const CHUNK: usize = 4096;

/// Decompresses `input` onto the end of `out`, adding at most `limit` bytes.
pub fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let start = out.len();
    let mut i = 0;
    while i + 2 <= input.len() && out.len() - start < limit {
        let header = u16::from_le_bytes([input[i], input[i + 1]]);
        if header == 0 {
            break;
        }
        let size = usize::from(header & 0x0fff) + 1;
        let body = input.get(i + 2..i + 2 + size).ok_or_else(|| {
            Error::corrupt(
                "LZNT1 chunk",
                i as u64,
                format!(
                    "the header says {size} bytes, {} are left",
                    input.len() - i - 2
                ),
            )
        })?;
        let room = limit - (out.len() - start);
        if header & 0x8000 == 0 {
            // A stored chunk: its bytes as they are.
            out.extend_from_slice(&body[..body.len().min(room)]);
        } else {
            chunk(body, out, room.min(CHUNK), i as u64)?;
        }
        i += 2 + size;
    }
    Ok(())
}

/// One compressed chunk onto `out`, at most `room` bytes.
fn chunk(body: &[u8], out: &mut Vec<u8>, room: usize, at: u64) -> Result<()> {
    let base = out.len();
    let mut i = 0;
    while i < body.len() {
        let flags = body[i];
        i += 1;
        for bit in 0..8 {
            if i >= body.len() || out.len() - base >= room {
                return Ok(());
            }
            if flags & (1 << bit) == 0 {
                out.push(body[i]);
                i += 1;
                continue;
            }
            let Some(t) = body.get(i..i + 2) else {
                return Err(Error::corrupt(
                    "LZNT1 token",
                    at + 2 + i as u64,
                    "one byte where a two-byte token was expected",
                ));
            };
            let token = u16::from_le_bytes([t[0], t[1]]);
            i += 2;
            let pos = out.len() - base;
            let disp_bits = displacement_bits(pos);
            let disp = usize::from(token >> (16 - disp_bits)) + 1;
            let len = usize::from(token & (0xffff >> disp_bits)) + 3;
            if disp > pos {
                return Err(Error::corrupt(
                    "LZNT1 token",
                    at + i as u64,
                    format!("copies from {disp} bytes back, only {pos} are there"),
                ));
            }
            let len = len.min(room - pos);
            // Byte by byte: the copy may overlap what it writes.
            for _ in 0..len {
                let b = out[out.len() - disp];
                out.push(b);
            }
        }
    }
    Ok(())
}

/// Bits of a token that hold the displacement when `pos` bytes of the chunk are out: the
/// fewest, at least 4, such that `2^bits >= pos`, and at most 12.
fn displacement_bits(pos: usize) -> u32 {
    let mut bits = 4;
    while bits < 12 && (1usize << bits) < pos {
        bits += 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_the_position() {
        // From [MS-XCA] 2.5.1.1: 4 bits for positions up to 16, 12 bits from 2049 on.
        assert_eq!(displacement_bits(1), 4);
        assert_eq!(displacement_bits(16), 4);
        assert_eq!(displacement_bits(17), 5);
        assert_eq!(displacement_bits(2048), 11);
        assert_eq!(displacement_bits(2049), 12);
        assert_eq!(displacement_bits(4095), 12);
    }

    #[test]
    fn stored_chunk_and_end() {
        let mut s = (0x3000u16 | (4096 + 2 - 3)).to_le_bytes().to_vec();
        s.extend((0..4096).map(|i| (i % 251) as u8));
        s.extend([0, 0, 9, 9]);
        let mut out = Vec::new();
        decompress(&s, &mut out, 1 << 20).expect("ok");
        assert_eq!(out.len(), 4096);
        assert_eq!(out[300], (300 % 251) as u8);
    }

    #[test]
    fn hostile_tokens_are_errors() {
        // A token before any literal reaches back past the start.
        let s = [0x02, 0xb0, 0x01, 0x00, 0x00];
        let e = decompress(&s, &mut Vec::new(), 4096).expect_err("bad");
        assert!(e.to_string().contains("bytes back"), "{e}");
        // A header promising more than there is.
        let e = decompress(&[0xff, 0xbf, 0], &mut Vec::new(), 4096).expect_err("short");
        assert!(e.to_string().contains("are left"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_respects_the_limit(data: Vec<u8>, limit in 0usize..20_000) {
            let mut out = Vec::new();
            let _ = decompress(&data, &mut out, limit);
            proptest::prop_assert!(out.len() <= limit);
        }
    }
}
