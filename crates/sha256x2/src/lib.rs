//! SHA-256 of two messages at once, on one core.
//!
//! Restoring a Proxmox Backup Server snapshot checks the SHA-256 of every chunk, and that hash
//! is the largest cost of a restore (twice zstd's). With the x86 SHA extensions (SHA-NI) one
//! SHA-256 stream is bound by the latency of the round instruction (`sha256rnds2`, each round
//! waiting for the one before), so a core has room for a second, independent stream: hashing
//! two chunks in one interleaved loop is faster than hashing them one after the other (measured
//! in `docs/BENCHMARKS.md`), and more so when the data comes from memory rather than cache.
//! No crate offers this: `sha2`, `ring` and OpenSSL hash one message per call.
//!
//! [`digest_pair`] hashes two messages (each given as parts, hashed as their concatenation)
//! with that loop where the CPU has SHA-NI, SSSE3 and SSE4.1 (checked once at run time), and
//! with the `sha2` crate one after the other everywhere else. The result is the same either
//! way; the tests check it against `sha2` for every length around the block boundaries, for
//! random lengths and splits into parts, and against the FIPS 180-4 examples.
//!
//! The rounds follow the structure Intel documents for the SHA extensions (state kept as ABEF
//! and CDGH, four message words per step; FIPS 180-4 for the constants), written here for two
//! streams.
//!
//! ```
//! let (a, b) = sha256x2::digest_pair(&[b"abc"], &[b"", b"a", b"bc"]);
//! assert_eq!(a, b);
//! assert_eq!(a[..4], [0xba, 0x78, 0x16, 0xbf]);
//! ```
#![allow(unsafe_code)] // Only in the private `ni` module: SIMD intrinsics behind a run-time check.

use sha2::Digest;

/// SHA-256 of `a` and of `b`, each the concatenation of its parts.
#[must_use]
pub fn digest_pair(a: &[&[u8]], b: &[&[u8]]) -> ([u8; 32], [u8; 32]) {
    #[cfg(target_arch = "x86_64")]
    if ni::available() {
        return ni::Stream::pair(a, b);
    }
    (digest(a), digest(b))
}

/// SHA-256 of the concatenation of `parts`, by the `sha2` crate.
pub fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// True when [`digest_pair`] uses the two-stream SHA-NI loop on this CPU.
pub fn interleaved() -> bool {
    #[cfg(target_arch = "x86_64")]
    return ni::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use std::arch::x86_64::*;

    /// FIPS 180-4 §4.2.2.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// FIPS 180-4 §5.3.3.
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    pub(crate) fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse2")
            && is_x86_feature_detected!("ssse3")
            && is_x86_feature_detected!("sse4.1")
    }

    /// Compresses the 64-byte blocks of `data[k]` into `state[k]`, for N streams in lockstep
    /// (the callers give every stream the same whole number of blocks; a longer one is cut to
    /// the shortest).
    ///
    /// # Safety
    /// The CPU must have SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress<const N: usize>(state: [&mut [u32; 8]; N], data: [&[u8]; N]) {
        // Whole blocks all streams have: never a read past the shortest.
        let blocks = data.iter().map(|d| d.len()).min().unwrap_or(0) / 64;
        let swap = _mm_set_epi64x(0x0c0d0e0f08090a0b, 0x0405060700010203);
        let mut abef = [_mm_setzero_si128(); N];
        let mut cdgh = [_mm_setzero_si128(); N];
        for k in 0..N {
            // SAFETY: `state[k]` holds 8 words; unaligned loads.
            let (dcba, hgfe) = unsafe {
                (
                    _mm_loadu_si128(state[k].as_ptr().cast()),
                    _mm_loadu_si128(state[k].as_ptr().add(4).cast()),
                )
            };
            let cdab = _mm_shuffle_epi32(dcba, 0xB1);
            let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
            abef[k] = _mm_alignr_epi8(cdab, efgh, 8);
            cdgh[k] = _mm_blend_epi16(efgh, cdab, 0xF0);
        }
        for b in 0..blocks {
            let (saved_abef, saved_cdgh) = (abef, cdgh);
            let mut w = [[_mm_setzero_si128(); 4]; N];
            for g in 0..16 {
                for k in 0..N {
                    let w = &mut w[k];
                    if g < 4 {
                        // SAFETY: block `b` of `data[k]` is in bounds (b < blocks); 16 bytes at
                        // 16 * g within it, unaligned load.
                        let m = unsafe {
                            _mm_loadu_si128(data[k].as_ptr().add(b * 64 + 16 * g).cast())
                        };
                        w[g] = _mm_shuffle_epi8(m, swap);
                    } else {
                        // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at a time:
                        // w[g % 4] holds W[4g-16..4g-12] and is replaced by W[4g..4g+4].
                        let (w0, w1, w2, w3) =
                            (w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4], w[(g + 3) % 4]);
                        let t =
                            _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
                        w[g % 4] = _mm_sha256msg2_epu32(t, w3);
                    }
                }
                // SAFETY: K holds 64 words; 4 at 4 * g (g < 16), unaligned load.
                let kg = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * g).cast()) };
                for k in 0..N {
                    let m = _mm_add_epi32(w[k][g % 4], kg);
                    cdgh[k] = _mm_sha256rnds2_epu32(cdgh[k], abef[k], m);
                    abef[k] = _mm_sha256rnds2_epu32(abef[k], cdgh[k], _mm_shuffle_epi32(m, 0x0E));
                }
            }
            for k in 0..N {
                abef[k] = _mm_add_epi32(abef[k], saved_abef[k]);
                cdgh[k] = _mm_add_epi32(cdgh[k], saved_cdgh[k]);
            }
        }
        for k in 0..N {
            let feba = _mm_shuffle_epi32(abef[k], 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh[k], 0xB1);
            let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
            let hgfe = _mm_alignr_epi8(dchg, feba, 8);
            // SAFETY: `state[k]` holds 8 words; unaligned stores.
            unsafe {
                _mm_storeu_si128(state[k].as_mut_ptr().cast(), dcba);
                _mm_storeu_si128(state[k].as_mut_ptr().add(4).cast(), hgfe);
            }
        }
    }

    /// One message being hashed: its state, the bytes not yet compressed, and the length so far.
    pub(crate) struct Stream {
        state: [u32; 8],
        pending: [u8; 64],
        used: usize,
        total: u64,
    }

    impl Stream {
        fn new() -> Stream {
            Stream {
                state: H0,
                pending: [0; 64],
                used: 0,
                total: 0,
            }
        }

        /// Both digests; the whole blocks the two first parts have in common go through the
        /// two-stream loop, the rest through the one-stream loop.
        pub(crate) fn pair(a: &[&[u8]], b: &[&[u8]]) -> ([u8; 32], [u8; 32]) {
            let (mut sa, mut sb) = (Stream::new(), Stream::new());
            let first = |p: &[&[u8]]| p.first().map_or(0, |x| x.len());
            let common = first(a).min(first(b)) / 64 * 64;
            if common > 0 {
                // SAFETY: `available()` was checked by the caller; both slices hold `common`
                // bytes, a whole number of blocks.
                unsafe {
                    compress(
                        [&mut sa.state, &mut sb.state],
                        [&a[0][..common], &b[0][..common]],
                    )
                };
                sa.total = common as u64;
                sb.total = common as u64;
            }
            for (s, parts) in [(&mut sa, a), (&mut sb, b)] {
                for (i, p) in parts.iter().enumerate() {
                    s.update(if i == 0 { &p[common..] } else { p });
                }
            }
            (sa.finish(), sb.finish())
        }

        fn update(&mut self, mut data: &[u8]) {
            self.total += data.len() as u64;
            if self.used > 0 {
                let take = (64 - self.used).min(data.len());
                self.pending[self.used..self.used + take].copy_from_slice(&data[..take]);
                self.used += take;
                data = &data[take..];
                if self.used < 64 {
                    return;
                }
                let block = self.pending;
                // SAFETY: `available()` was checked before any Stream exists; one block.
                unsafe { compress([&mut self.state], [&block[..]]) };
                self.used = 0;
            }
            let whole = data.len() / 64 * 64;
            if whole > 0 {
                // SAFETY: as above; `whole` is a whole number of blocks.
                unsafe { compress([&mut self.state], [&data[..whole]]) };
            }
            let rest = &data[whole..];
            self.pending[..rest.len()].copy_from_slice(rest);
            self.used = rest.len();
        }

        /// FIPS 180-4 §5.1.1: a 1 bit, zeros, and the length in bits, to a whole block.
        fn finish(mut self) -> [u8; 32] {
            let bits = self.total.wrapping_mul(8);
            let mut tail = [0u8; 128];
            tail[..self.used].copy_from_slice(&self.pending[..self.used]);
            tail[self.used] = 0x80;
            let len = if self.used + 9 <= 64 { 64 } else { 128 };
            tail[len - 8..len].copy_from_slice(&bits.to_be_bytes());
            // SAFETY: as above; `len` is one or two blocks.
            unsafe { compress([&mut self.state], [&tail[..len]]) };
            let mut out = [0u8; 32];
            for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
                o.copy_from_slice(&w.to_be_bytes());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(d: &[u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    #[test]
    fn fips_180_examples() {
        // FIPS 180-4 examples (NIST CSRC "SHA256.pdf" and "SHA2_Additional.pdf").
        let (abc, long) = digest_pair(
            &[b"abc"],
            &[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"],
        );
        assert_eq!(
            hex(&abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&long),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million = vec![b'a'; 1_000_000];
        let (m, empty) = digest_pair(&[&million[..]], &[]);
        assert_eq!(
            hex(&m),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        assert_eq!(
            hex(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn every_length_around_the_block_boundaries_matches_sha2() {
        let a = bytes(700, 1);
        let b = bytes(700, 2);
        for la in 0..=200 {
            for lb in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 129, 191, 192, 640] {
                let (x, y) = digest_pair(&[&a[..la]], &[&b[..lb]]);
                assert_eq!(x, digest(&[&a[..la]]), "a {la}");
                assert_eq!(y, digest(&[&b[..lb]]), "b {lb} (a {la})");
            }
        }
    }

    #[test]
    fn a_4_mib_chunk_pair_with_a_key_suffix_matches_sha2() {
        // The shape of the restore: two whole chunks, the second one shorter (the last chunk
        // of an image), each followed by a 32-byte id key for encrypted chunks.
        let a = bytes(4 << 20, 3);
        let b = bytes((4 << 20) - 4096 - 17, 4);
        let key = [7u8; 32];
        let (x, y) = digest_pair(&[&a[..], &key[..]], &[&b[..], &key[..]]);
        assert_eq!(x, digest(&[&a[..], &key[..]]));
        assert_eq!(y, digest(&[&b[..], &key[..]]));
    }

    proptest! {
        #[test]
        fn any_message_split_anywhere_matches_sha2(
            la in 0usize..3000,
            lb in 0usize..3000,
            cuts_a in proptest::collection::vec(0usize..3000, 0..4),
            cuts_b in proptest::collection::vec(0usize..3000, 0..4),
            seed in any::<u8>(),
        ) {
            let a = bytes(la, seed);
            let b = bytes(lb, seed.wrapping_add(1));
            let split = |v: &[u8], cuts: &[usize]| -> Vec<Vec<u8>> {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (v.len() + 1)).collect();
                cuts.sort();
                let mut out = Vec::new();
                let mut at = 0;
                for c in cuts {
                    out.push(v[at..c].to_vec());
                    at = c;
                }
                out.push(v[at..].to_vec());
                out
            };
            let pa = split(&a, &cuts_a);
            let pb = split(&b, &cuts_b);
            let ra: Vec<&[u8]> = pa.iter().map(Vec::as_slice).collect();
            let rb: Vec<&[u8]> = pb.iter().map(Vec::as_slice).collect();
            let (x, y) = digest_pair(&ra, &rb);
            prop_assert_eq!(x, digest(&[&a[..]]));
            prop_assert_eq!(y, digest(&[&b[..]]));
        }
    }
}
