//! A fast greedy LZO1X compressor, in the spirit of LZO1X-1, for the lzop writer.
//!
//! The output is a standard LZO1X stream (any LZO1X decompressor reads it, lzop included). It uses a subset of
//! the instructions:
//!
//! | instruction | first byte | meaning |
//! |---|---|---|
//! | first literals | `17 + n` | `n` = 1..=238 literals at the start of the stream |
//! | literal run | `0000 llll` | after a match whose trailing-literal bits are 0: `llll + 3` literals (4..=18), or `llll = 0`, then the length extension (see below) + 18 |
//! | M2 | `LLLd ddtt`, `D` | length `LLL + 1` (3..=8), distance `1 + ddd + 8·D` (≤ 2048) |
//! | M3 | `001L LLLL`, 2 bytes little-endian `D` | length `L + 2` (3..=33; `L = 0`: extension + 33), distance `1 + D >> 2` (≤ 16384) |
//! | M4 | `0001 HLLL`, 2 bytes little-endian `D` | length `L + 2` (3..=9; `L = 0`: extension + 9), distance `16384 + 16384·H + D >> 2` (≤ 49151) |
//! | end | `11 00 00` | an M4 with distance 16384, which no match uses |
//!
//! The length extension is a run of zero bytes, each worth 255, ended by a non-zero byte holding the rest. `tt`
//! (the low two bits of `D` for M3/M4) is the number of literals (0..=3) that follow a match directly; longer
//! runs set `tt = 0` and use a literal-run instruction. The encoder never emits the short matches that the
//! decoder reads for `t < 16` after literals, so its state rules reduce to: a literal-run instruction only
//! directly after a match with `tt = 0`.
//!
//! lzokay-native, the registry's LZO1X compressor, searches for optimal matches and ran at about 10 MB/s on
//! disk-like data; this greedy one hashes 4-byte sequences and keeps one candidate per hash, as LZO1X-1 does.

/// Bits of the hash table index.
const HASH_BITS: u32 = 14;
/// Shortest match looked for (the hash covers four bytes).
const MIN_MATCH: usize = 4;
/// Largest distance LZO1X can express (M4 with H set).
const MAX_DISTANCE: usize = 0xBFFF;
/// M2 reach.
const M2_MAX_DISTANCE: usize = 0x0800;
/// M3 reach.
const M3_MAX_DISTANCE: usize = 0x4000;

/// Reusable compressor state: the hash table, so that blocks do not reallocate it.
#[derive(Debug, Clone)]
pub(crate) struct Lzo1x {
    table: Vec<u32>,
}

impl Lzo1x {
    pub(crate) fn new() -> Self {
        Lzo1x {
            table: vec![0; 1 << HASH_BITS],
        }
    }

    /// Compresses `src` as one LZO1X stream into `out` (cleared first).
    pub(crate) fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.table.fill(0);
        let mut enc = Encoder { out, patch: None };
        let mut lit_start = 0;
        let mut ip = 0;
        // Misses since the last match; the step grows with them so that incompressible data is skipped fast.
        let mut misses = 0usize;
        while ip + MIN_MATCH <= src.len() {
            let key = read_u32(src, ip);
            let slot = hash(key);
            // Table entries are positions + 1, so that 0 means empty.
            let candidate = self.table[slot] as usize;
            // Positions fit in u32: blocks are at most 64 MiB.
            self.table[slot] = (ip + 1) as u32;
            if candidate > 0 {
                let cand = candidate - 1;
                let distance = ip - cand;
                if distance <= MAX_DISTANCE && read_u32(src, cand) == key {
                    let len =
                        MIN_MATCH + common_prefix(&src[cand + MIN_MATCH..], &src[ip + MIN_MATCH..]);
                    enc.literals(&src[lit_start..ip]);
                    enc.matched(distance, len);
                    // Index a position inside the match so that repeats of it are found later.
                    let end = ip + len;
                    if end >= 2 && end - 2 > ip && end + 2 <= src.len() {
                        self.table[hash(read_u32(src, end - 2))] = (end - 2 + 1) as u32;
                    }
                    ip = end;
                    lit_start = ip;
                    misses = 0;
                    continue;
                }
            }
            misses += 1;
            ip += 1 + (misses >> 5);
        }
        enc.literals(&src[lit_start..]);
        enc.out.extend_from_slice(&[0x11, 0, 0]);
    }
}

/// Output with the position of the last match's trailing-literal bits, which are known only later.
struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    /// Index of the byte whose low two bits hold the previous match's trailing-literal count.
    patch: Option<usize>,
}

impl Encoder<'_> {
    /// Emits a literal run between two matches (or at the start or end).
    fn literals(&mut self, lit: &[u8]) {
        let n = lit.len();
        if n == 0 {
            return;
        }
        match self.patch {
            None if n <= 238 => self.out.push(17 + n as u8),
            Some(at) if n <= 3 => self.out[at] |= n as u8,
            _ if n <= 18 => self.out.push((n - 3) as u8),
            _ => {
                self.out.push(0);
                self.extension(n - 18);
            }
        }
        self.out.extend_from_slice(lit);
    }

    /// Emits a match; its trailing-literal bits stay 0 until [`Encoder::literals`] patches them.
    fn matched(&mut self, distance: usize, len: usize) {
        if len <= 8 && distance <= M2_MAX_DISTANCE {
            let d = distance - 1;
            self.out.push((((len - 1) << 5) | ((d & 7) << 2)) as u8);
            self.patch = Some(self.out.len() - 1);
            self.out.push((d >> 3) as u8);
            return;
        }
        let (d, short_max, base, marker) = if distance <= M3_MAX_DISTANCE {
            (distance - 1, 33, 33, 0x20)
        } else {
            let far = distance - 0x4000;
            let hi = if far >= 0x4000 { 0x08 } else { 0 };
            (far & 0x3FFF, 9, 9, 0x10 | hi)
        };
        if len <= short_max {
            self.out.push((marker | (len - 2)) as u8);
        } else {
            self.out.push(marker as u8);
            self.extension(len - base);
        }
        let d = d << 2;
        self.patch = Some(self.out.len());
        self.out.push((d & 0xFF) as u8);
        self.out.push((d >> 8) as u8);
    }

    /// Writes a length extension worth `v` (≥ 1): zero bytes of 255 each, then the non-zero rest.
    fn extension(&mut self, v: usize) {
        let zeros = (v - 1) / 255;
        self.out.extend(std::iter::repeat_n(0u8, zeros));
        self.out.push((v - zeros * 255) as u8);
    }
}

fn read_u32(src: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([src[at], src[at + 1], src[at + 2], src[at + 3]])
}

fn hash(key: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// Length of the common prefix of two slices.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff = u64::from_le_bytes(x.try_into().unwrap_or([0; 8]))
            ^ u64::from_le_bytes(y.try_into().unwrap_or([0; 8]));
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) -> usize {
        let mut out = Vec::new();
        Lzo1x::new().compress(data, &mut out);
        let mut back = vec![0u8; data.len()];
        let n = lzo::decompress_into(&out, &mut back)
            .unwrap_or_else(|e| panic!("{e} for {} bytes", data.len()));
        assert_eq!(n, data.len());
        assert!(back == data, "round trip of {} bytes", data.len());
        out.len()
    }

    #[test]
    fn small_and_edge_inputs() {
        for n in 0..600 {
            round_trip(&vec![b'a'; n]);
            let v: Vec<u8> = (0..n).map(|i| (i * 7 % 13) as u8).collect();
            round_trip(&v);
        }
        round_trip(b"abcdabcdabcd");
    }

    #[test]
    fn long_and_far_matches() {
        let mut x: u64 = 1;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        let chunk = noise(3000);
        for gap in [
            100, 2040, 2050, 16000, 16384, 16390, 30000, 49000, 49151, 49200, 60000,
        ] {
            let mut v = chunk.clone();
            v.extend(noise(gap.max(3000) - 3000 + 1));
            v.extend_from_slice(&chunk);
            v.extend(vec![0u8; 5000]);
            v.extend(noise(1000));
            round_trip(&v);
        }
        let zeros = round_trip(&vec![0u8; 256 * 1024]);
        assert!(zeros < 2000, "{zeros}");
        round_trip(&noise(256 * 1024));
    }
}
