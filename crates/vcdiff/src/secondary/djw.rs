//! DJW (xdelta3 secondary id 1): static Huffman coding with up to eight tables per section.
//!
//! # Format
//!
//! Written from a reading of xdelta3's format (`xdelta3-djw.h` describes it only through
//! its code); the decoder below is an independent implementation of this description.
//!
//! A DJW payload is self-contained: nothing carries over from earlier windows or from the
//! other sections. Bits come from each byte least significant first (see `bits.rs`);
//! fixed-width fields and Huffman codes are read most significant bit first. The payload
//! ends at the byte holding its last bit: a further byte is an error, padding bits are not
//! checked. An empty output is invalid.
//!
//! 1. **Groups**, 3 bits: the number of code tables minus one (1 to 8).
//! 2. **Sector size**, 5 bits, only with two or more tables: `(v + 1) × 5` bytes (5 to 160).
//!    The output is cut into sectors of that size (the last one may be shorter), and each
//!    sector is coded with one table. With one table the whole output is one sector.
//! 3. **Code-length code.** 4 bits `e`, then `e + 7` lengths of 4 bits each (0 = unused,
//!    up to 15) for the first `e + 7` of the 22 symbols of the code-length alphabet; the
//!    remaining symbols are unused. Symbols 0 and 1 are the run symbols (below); symbol
//!    `k ≥ 2` means "move-to-front position `k − 1`".
//! 4. **Code lengths of the tables**: `256 × groups` values (symbol 0 of table 0 first)
//!    coded with the code-length code through move-to-front and runs ("1-2 coding", below).
//!    The move-to-front list starts as `0, 4, 5, 6, 7, 8, 9, 10, 3, 11, 2, 12, 13, 1, 14,
//!    15, 16, 17, 18, 19, 20`. A length of 0 means the byte value never occurs. Tables after
//!    the first only code the byte values that have a non-zero length in the *previous*
//!    table: for the others the length is 0 without any bits, and this skip does not touch
//!    the move-to-front or run state.
//! 5. **Selectors**, only with two or more tables: `groups + 1` lengths of 3 bits (up to 7)
//!    for an alphabet of run symbols 0 and 1 and move-to-front positions 1 to `groups − 1`
//!    (symbol `k ≥ 2` is position `k − 1`), then one table number per sector, 1-2 coded
//!    with a move-to-front list starting as `0, 1, …, groups − 1`.
//! 6. **Data**: each sector's bytes, coded with its table.
//!
//! Every Huffman code is canonical: codes are handed out by increasing length and, within a
//! length, by increasing symbol, starting from all-zero bits; a code of length `n + 1`
//! starts at `(last code of length n + 1) << 1`. Data codes are at most 20 bits long.
//!
//! **1-2 coding** (David Wheeler's scheme, as in bzip2). A run of `r ≥ 1` copies of the
//! value at the front of the move-to-front list is written in bijective base 2, least
//! significant digit first: digit value 1 is symbol 0 and digit value 2 is symbol 1, so the
//! `i`-th consecutive run symbol adds `1 << i` or `2 << i` copies. A symbol for position
//! `p ≥ 1` moves the value at `p` to the front and emits it, and ends the run (the next run
//! symbol counts from `i = 0` again). Decoders emit a run's copies as its symbols arrive;
//! copies still owed when all values are out make the payload invalid.
//!
//! The encoder sizes its tables from the section: one table for small sections (and always
//! with the CLI's default `-S djw`, which is `djw6`), up to eight with `-S djw7`…`djw9`.

use super::SecondaryError;
use super::bits::BitReader;

/// Number of byte values.
const SYMBOLS: usize = 256;
/// Most tables a payload may declare.
const MAX_GROUPS: usize = 8;
/// Sector sizes are coded in units of this many bytes.
const SECTOR_UNIT: usize = 5;
/// Longest data code.
const MAX_DATA_LEN: usize = 20;
/// Longest code in the code-length code.
const MAX_CL_LEN: usize = 15;
/// Longest selector code.
const MAX_SELECTOR_LEN: usize = 7;
/// Symbols of the code-length alphabet: two run symbols and 20 move-to-front positions.
const CL_SYMBOLS: usize = 22;
/// Code-length symbols always described by the prefix.
const CL_ALWAYS: usize = 7;
/// Initial move-to-front order of code lengths.
const CL_MTF_START: [u8; 21] = [
    0, 4, 5, 6, 7, 8, 9, 10, 3, 11, 2, 12, 13, 1, 14, 15, 16, 17, 18, 19, 20,
];

/// A canonical Huffman decoding table.
struct Huffman {
    /// Number of codes of each length (index 0 unused).
    count: [u16; MAX_DATA_LEN + 1],
    /// Symbols ordered by (code length, symbol value).
    sorted: Vec<u16>,
    max_len: usize,
}

impl Huffman {
    /// Builds the table from one length per symbol (0 = symbol unused); every length must
    /// be at most `max_len`, which is at most [`MAX_DATA_LEN`].
    fn new(lengths: &[u8], max_len: usize) -> Huffman {
        let mut count = [0u16; MAX_DATA_LEN + 1];
        let mut sorted = Vec::with_capacity(lengths.len());
        for (len, n) in count.iter_mut().enumerate().take(max_len + 1).skip(1) {
            for (symbol, &l) in lengths.iter().enumerate() {
                if usize::from(l) == len {
                    *n += 1;
                    sorted.push(symbol as u16);
                }
            }
        }
        Huffman {
            count,
            sorted,
            max_len,
        }
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<usize, SecondaryError> {
        let at = bits.offset();
        // `first` is the first code of the current length, `index` the position of its
        // symbol in `sorted`.
        let mut code = 0u32;
        let mut first = 0u32;
        let mut index = 0usize;
        for len in 1..=self.max_len {
            code |= bits.bit()?;
            let count = u32::from(self.count[len]);
            if code.wrapping_sub(first) < count {
                let k = index + (code - first) as usize;
                if let Some(&symbol) = self.sorted.get(k) {
                    return Ok(usize::from(symbol));
                }
                break;
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(SecondaryError::corrupt_at("invalid huffman code", at))
    }
}

/// Decodes `out.len()` values coded with move-to-front and runs (see the module docs).
///
/// With `skip_after = Some(k)`, a value whose counterpart `k` places earlier is 0 is 0 and
/// takes no bits.
fn decode_mtf_runs(
    bits: &mut BitReader<'_>,
    code: &Huffman,
    mtf: &mut [u8],
    out: &mut [u8],
    skip_after: Option<usize>,
) -> Result<(), SecondaryError> {
    let mut owed = 0u64; // copies of mtf[0] still to emit
    let mut run_digit = 0u32; // index of the next run digit
    let mut n = 0;
    while n < out.len() {
        if let Some(k) = skip_after
            && n >= k
            && out[n - k] == 0
        {
            out[n] = 0;
            n += 1;
            continue;
        }
        if owed > 0 {
            out[n] = mtf[0];
            owed -= 1;
            n += 1;
            continue;
        }
        let at = bits.offset();
        let symbol = code.decode(bits)?;
        if symbol <= 1 {
            // Runs longer than the output are caught below; the cap only keeps the
            // arithmetic in range.
            if run_digit >= 40 {
                return Err(SecondaryError::corrupt_at("run too long", at));
            }
            owed = (symbol as u64 + 1) << run_digit;
            run_digit += 1;
        } else {
            run_digit = 0;
            let position = symbol - 1;
            if position >= mtf.len() {
                return Err(SecondaryError::corrupt_at(
                    format!("move-to-front position {position} out of range"),
                    at,
                ));
            }
            let value = mtf[position];
            mtf.copy_within(0..position, 1);
            mtf[0] = value;
            out[n] = value;
            n += 1;
        }
    }
    if owed > 0 {
        return Err(SecondaryError::corrupt_at(
            "a run goes past the end of the coded values",
            bits.offset(),
        ));
    }
    Ok(())
}

/// Decompresses one DJW payload, appending exactly `expected` bytes to `out`.
pub(crate) fn decompress(
    payload: &[u8],
    expected: usize,
    out: &mut Vec<u8>,
) -> Result<(), SecondaryError> {
    let mut bits = BitReader::new(payload);
    let groups = bits.field(3)? as usize + 1;
    let sector = if groups > 1 {
        (bits.field(5)? as usize + 1) * SECTOR_UNIT
    } else {
        expected
    };
    let sectors = expected.div_ceil(sector.max(1));

    // Code-length code, then the tables' code lengths.
    let described = bits.field(4)? as usize + CL_ALWAYS;
    let mut cl_lengths = [0u8; CL_SYMBOLS];
    for len in &mut cl_lengths[..described] {
        *len = bits.field(4)? as u8;
    }
    let cl_code = Huffman::new(&cl_lengths, MAX_CL_LEN);
    let mut lengths = [0u8; SYMBOLS * MAX_GROUPS];
    let lengths = &mut lengths[..SYMBOLS * groups];
    let mut mtf = CL_MTF_START;
    decode_mtf_runs(&mut bits, &cl_code, &mut mtf, lengths, Some(SYMBOLS))?;
    let tables: Vec<Huffman> = lengths
        .chunks(SYMBOLS)
        .map(|l| Huffman::new(l, MAX_DATA_LEN))
        .collect();

    // One table number per sector.
    let mut selectors = Vec::new();
    if groups > 1 {
        let mut sel_lengths = [0u8; MAX_GROUPS + 1];
        for len in &mut sel_lengths[..=groups] {
            *len = bits.field(3)? as u8;
        }
        let sel_code = Huffman::new(&sel_lengths[..=groups], MAX_SELECTOR_LEN);
        let mut mtf: Vec<u8> = (0..groups as u8).collect();
        // Each sector holds at least one output byte, so `sectors <= expected`: the
        // caller has bounded `expected`.
        selectors = vec![0u8; sectors];
        decode_mtf_runs(&mut bits, &sel_code, &mut mtf, &mut selectors, None)?;
    }

    out.reserve(expected);
    let goal = out.len() + expected;
    for s in 0..sectors {
        let table = &tables[usize::from(selectors.get(s).copied().unwrap_or(0))];
        let n = sector.min(goal - out.len());
        for _ in 0..n {
            let symbol = table.decode(&mut bits)?;
            out.push(symbol as u8);
        }
    }
    bits.finish()
}

#[cfg(test)]
mod tests {
    use super::super::bits::BitWriter;
    use super::*;

    /// Canonical codes for `lengths`, as (code, length) per symbol.
    fn codes(lengths: &[u8]) -> Vec<(u32, u32)> {
        let mut out = vec![(0, 0); lengths.len()];
        let mut code = 0u32;
        for len in 1..=20u8 {
            for (s, &l) in lengths.iter().enumerate() {
                if l == len {
                    out[s] = (code, u32::from(len));
                    code += 1;
                }
            }
            code <<= 1;
        }
        out
    }

    #[test]
    fn canonical_codes_decode() {
        let lengths = [2u8, 0, 1, 3, 3];
        let table = Huffman::new(&lengths, 20);
        let mut w = BitWriter::default();
        let codes = codes(&lengths);
        let message = [2usize, 0, 3, 4, 2, 2, 0];
        for &s in &message {
            w.field(codes[s].1, codes[s].0);
        }
        let mut r = BitReader::new(&w.bytes);
        for &s in &message {
            assert_eq!(table.decode(&mut r).expect("decodes"), s);
        }
        // An empty table never matches.
        let empty = Huffman::new(&[0; 4], 20);
        assert!(empty.decode(&mut BitReader::new(&[0; 4])).is_err());
    }

    /// A one-table payload: every byte value gets length 8 (so codes are the byte values).
    fn flat_payload(data: &[u8]) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.field(3, 0); // one group
        // Code-length code: describe 7 symbols; RUN_0 (0) and position 1..5 get lengths.
        w.field(4, 0);
        let cl_lengths = [2u8, 2, 3, 3, 3, 0, 3];
        for &l in &cl_lengths {
            w.field(4, u32::from(l));
        }
        let cl = codes(&cl_lengths);
        // Length 8 is at move-to-front position 5: symbol 6; then 255 more copies as a run:
        // 255 = 1 + 2 + 4 + … + 128, eight RUN_0 symbols.
        w.field(cl[6].1, cl[6].0);
        for _ in 0..8 {
            w.field(cl[0].1, cl[0].0);
        }
        for &b in data {
            w.field(8, u32::from(b));
        }
        w.bytes
    }

    #[test]
    fn single_table_payload() {
        let data = b"hello, djw";
        let payload = flat_payload(data);
        let mut out = b"prefix".to_vec();
        decompress(&payload, data.len(), &mut out).expect("decodes");
        assert_eq!(&out[6..], data);

        let mut out = Vec::new();
        let err = decompress(&payload, data.len() + 1, &mut out).expect_err("too long");
        assert!(err.detail.contains("payload ends"), "{}", err.detail);
        let mut longer = payload.clone();
        longer.push(0);
        let err = decompress(&longer, data.len(), &mut out).expect_err("extra byte");
        assert!(err.detail.contains("unused payload"), "{}", err.detail);
        assert!(decompress(&payload, 0, &mut out).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in 0..300usize {
            let payload: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut out = Vec::new();
            let _ = decompress(&payload, 1 + len * 3, &mut out);
        }
    }
}
