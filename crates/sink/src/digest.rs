//! A digest of a disk's contents that does not depend on the order clusters arrive in.
//!
//! Restores write a disk in any order (VMA clusters, PBS chunks, virtnbdbackup extents), so a plain
//! SHA-256 of the disk cannot be computed while restoring without buffering. Instead every 64 KiB
//! leaf `i` of the disk (the last one clipped at the disk size, zeros included) gets its own hash,
//! and the leaves are added up:
//!
//! ```text
//! leaf(i)  = SHA-256( i as u64 little-endian || SHA-256(bytes of leaf i) )
//! sum      = Σ leaf(i)  mod 2^256   (each leaf read as a little-endian 256-bit number)
//! digest   = SHA-256( "pverescue disk digest v1" || disk size as u64 little-endian || sum )
//! ```
//!
//! The state is 32 bytes plus a count, whatever the disk size. The index inside each leaf makes
//! a swapped pair of leaves change the digest; addition (unlike xor) keeps two equal leaves
//! from cancelling. [`DiskDigest::of_reader`] computes the same value by reading the disk
//! front to back, which is how a restore is verified after writing. All-zero leaves reuse one
//! precomputed inner hash, so holes cost little on both sides.
//!
//! Sources feed it by byte ranges: [`DigestBuilder::add_run`] and [`DigestBuilder::add_zero`]
//! take any offset and length; whole leaves are hashed at once, and the parts of a leaf that
//! arrive separately are collected until the leaf is complete. A source that hands whole leaves
//! as a sequence of data and zero parts (a VMA cluster) uses [`DigestBuilder::add_leaf_parts`],
//! which hashes them without a copy. Every leaf of the disk must be added exactly once; a leaf
//! only partly added counts its missing bytes as zeros (what a sparse file reads there).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

/// Bytes per leaf of the digest.
pub const LEAF_SIZE: u64 = 64 * 1024;
static ZERO_LEAF: [u8; LEAF_SIZE as usize] = [0; LEAF_SIZE as usize];

const DOMAIN: &[u8] = b"pverescue disk digest v1";

/// The order-independent digest of a disk's contents (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiskDigest(pub [u8; 32]);

impl fmt::Display for DiskDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DiskDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiskDigest({self})")
    }
}

impl DiskDigest {
    /// Reads exactly `size` bytes of a disk from `input` and digests them.
    pub fn of_reader<R: Read>(mut input: R, size: u64) -> io::Result<DiskDigest> {
        let mut acc = DigestBuilder::new(size);
        let mut buf = vec![0u8; LEAF_SIZE as usize];
        let mut index = 0u64;
        let mut at = 0u64;
        while at < size {
            let len = usize::try_from((size - at).min(LEAF_SIZE)).unwrap_or(buf.len());
            let chunk = &mut buf[..len];
            input.read_exact(chunk)?;
            acc.add_bytes(index, chunk);
            index += 1;
            at += len as u64;
        }
        Ok(acc.finish())
    }
}

/// One part of a leaf handed to [`DigestBuilder::add_leaf_parts`].
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Bytes of the disk.
    Data(&'a [u8]),
    /// This many zero bytes.
    Zero(u64),
}

/// A leaf whose parts arrive separately: its bytes so far, and which ranges are covered.
#[derive(Debug, Clone)]
struct Pending {
    bytes: Box<[u8]>,
    covered: u64,
}

/// Adds up leaves in any order; [`DigestBuilder::finish`] gives the [`DiskDigest`].
#[derive(Debug, Clone)]
pub struct DigestBuilder {
    size: u64,
    sum: [u64; 4],
    pending: BTreeMap<u64, Pending>,
}

impl DigestBuilder {
    /// A builder for a disk of `size` bytes.
    pub fn new(size: u64) -> Self {
        DigestBuilder {
            size,
            sum: [0; 4],
            pending: BTreeMap::new(),
        }
    }

    /// The length of leaf `index` (64 KiB, less for the last one).
    fn leaf_len(&self, index: u64) -> u64 {
        self.size
            .saturating_sub(index.saturating_mul(LEAF_SIZE))
            .min(LEAF_SIZE)
    }

    /// Adds leaf `index` given all of its bytes, in order, as data and zero parts (clipped at the
    /// leaf's length).
    pub fn add_leaf_parts<'a>(&mut self, index: u64, parts: impl IntoIterator<Item = Part<'a>>) {
        let len = self.leaf_len(index);
        let mut inner = Sha256::new();
        let mut done = 0u64;
        let mut any_data = false;
        for part in parts {
            let room = len - done;
            match part {
                Part::Data(b) => {
                    let n = (b.len() as u64).min(room);
                    inner.update(&b[..usize::try_from(n).unwrap_or(b.len())]);
                    done += n;
                    any_data = true;
                }
                Part::Zero(z) => {
                    let n = z.min(room);
                    inner.update(&ZERO_LEAF[..usize::try_from(n).unwrap_or(0)]);
                    done += n;
                }
            }
        }
        if done < len {
            inner.update(&ZERO_LEAF[..usize::try_from(len - done).unwrap_or(0)]);
        }
        if !any_data && len == LEAF_SIZE {
            self.add_leaf(index, zero_leaf_hash());
        } else {
            self.add_leaf(index, inner.finalize().into());
        }
    }

    /// Adds leaf `index` given its bytes (64 KiB, or fewer for the last leaf).
    pub fn add_bytes(&mut self, index: u64, bytes: &[u8]) {
        let inner = if bytes.len() as u64 == LEAF_SIZE && crate::is_zero(bytes) {
            zero_leaf_hash()
        } else {
            Sha256::digest(bytes).into()
        };
        self.add_leaf(index, inner);
    }

    /// Adds the bytes of the disk at `offset` (any offset and length within the disk; bytes past
    /// the end are ignored).
    pub fn add_run(&mut self, offset: u64, data: &[u8]) {
        self.add_range(offset, data.len() as u64, Some(data));
    }

    /// Adds `len` zero bytes of the disk at `offset`.
    pub fn add_zero(&mut self, offset: u64, len: u64) {
        self.add_range(offset, len, None);
    }

    fn add_range(&mut self, offset: u64, len: u64, data: Option<&[u8]>) {
        let end = offset.saturating_add(len).min(self.size);
        let mut at = offset;
        while at < end {
            let index = at / LEAF_SIZE;
            let leaf_start = index * LEAF_SIZE;
            let leaf_len = self.leaf_len(index);
            let n = (leaf_start + leaf_len).min(end) - at;
            let part = data.map(|d| {
                let from = usize::try_from(at - offset).unwrap_or(0);
                &d[from..from + usize::try_from(n).unwrap_or(0)]
            });
            if at == leaf_start && n == leaf_len && !self.pending.contains_key(&index) {
                match part {
                    Some(b) => self.add_bytes(index, b),
                    None if leaf_len == LEAF_SIZE => self.add_leaf(index, zero_leaf_hash()),
                    None => self.add_leaf_parts(index, [Part::Zero(leaf_len)]),
                }
            } else {
                let p = self.pending.entry(index).or_insert_with(|| Pending {
                    bytes: vec![0u8; usize::try_from(leaf_len).unwrap_or(0)].into_boxed_slice(),
                    covered: 0,
                });
                let from = usize::try_from(at - leaf_start).unwrap_or(0);
                let to = from + usize::try_from(n).unwrap_or(0);
                match part {
                    Some(b) => p.bytes[from..to].copy_from_slice(b),
                    None => p.bytes[from..to].fill(0),
                }
                // Each byte of a disk is written once, so counting suffices.
                p.covered += n;
                if p.covered >= leaf_len
                    && let Some(p) = self.pending.remove(&index)
                {
                    self.add_bytes(index, &p.bytes);
                }
            }
            at += n;
        }
    }

    fn add_leaf(&mut self, index: u64, inner: [u8; 32]) {
        let mut h = Sha256::new();
        h.update(index.to_le_bytes());
        h.update(inner);
        let leaf: [u8; 32] = h.finalize().into();
        let mut carry = false;
        for (i, limb) in self.sum.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&leaf[i * 8..i * 8 + 8]);
            let (s1, c1) = limb.overflowing_add(u64::from_le_bytes(w));
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *limb = s2;
            carry = c1 || c2;
        }
    }

    /// The digest of everything added; leaves only partly added count their missing bytes as
    /// zeros.
    pub fn finish(&self) -> DiskDigest {
        let mut this = self.clone();
        let pending = std::mem::take(&mut this.pending);
        for (index, p) in pending {
            this.add_bytes(index, &p.bytes);
        }
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(this.size.to_le_bytes());
        for limb in this.sum {
            h.update(limb.to_le_bytes());
        }
        DiskDigest(h.finalize().into())
    }
}

fn zero_leaf_hash() -> [u8; 32] {
    static H: OnceLock<[u8; 32]> = OnceLock::new();
    *H.get_or_init(|| Sha256::digest(ZERO_LEAF).into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn disk(size: usize) -> Vec<u8> {
        let mut v = vec![0u8; size];
        for (i, b) in v.iter_mut().enumerate() {
            if (i / 4096) % 3 == 1 {
                *b = (i % 251) as u8;
            }
        }
        v
    }

    #[test]
    fn order_does_not_matter_but_position_does() {
        let d = disk(5 * 65536 + 512);
        let whole = DiskDigest::of_reader(&d[..], d.len() as u64).unwrap();
        let mut b = DigestBuilder::new(d.len() as u64);
        for i in [5u64, 2, 0, 4, 1, 3] {
            let s = usize::try_from(i).unwrap() * 65536;
            b.add_bytes(i, &d[s..(s + 65536).min(d.len())]);
        }
        assert_eq!(b.finish(), whole);

        // Two leaves swapped: different digest.
        let mut swapped = d.clone();
        let (a, rest) = swapped.split_at_mut(65536);
        a.swap_with_slice(&mut rest[..65536]);
        assert_ne!(
            DiskDigest::of_reader(&swapped[..], d.len() as u64).unwrap(),
            whole
        );
        // One byte changed, or one more byte of size: different digest.
        let mut one = d.clone();
        one[70000] ^= 1;
        assert_ne!(
            DiskDigest::of_reader(&one[..], d.len() as u64).unwrap(),
            whole
        );
        let mut longer = d.clone();
        longer.push(0);
        assert_ne!(
            DiskDigest::of_reader(&longer[..], longer.len() as u64).unwrap(),
            whole
        );
    }

    #[test]
    fn leaves_given_as_parts_digest_like_their_bytes() {
        // Leaf 1 of a 2-leaf disk cut at 65536 + 8192: 4 KiB stored, the rest zero.
        let size = 65536 + 8192;
        let stored = [7u8; 4096];
        let mut b = DigestBuilder::new(size);
        b.add_leaf_parts(1, [Part::Data(&stored), Part::Zero(4096)]);
        b.add_leaf_parts(0, [Part::Zero(65536)]);
        let mut bytes = vec![0u8; usize::try_from(size).unwrap()];
        bytes[65536..65536 + 4096].fill(7);
        assert_eq!(b.finish(), DiskDigest::of_reader(&bytes[..], size).unwrap());
    }

    #[test]
    fn byte_ranges_in_any_split_and_order_digest_like_the_disk() {
        let d = disk(3 * 65536 + 1000);
        let size = d.len() as u64;
        let whole = DiskDigest::of_reader(&d[..], size).unwrap();
        // Ranges that cut leaves anywhere, out of order; zero stretches given as zeros.
        let cuts = [0usize, 100, 4096, 70000, 131072, 131073, 190000, d.len()];
        let mut ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        ranges.reverse();
        ranges.swap(1, 4);
        let mut b = DigestBuilder::new(size);
        for (s, e) in ranges {
            if crate::is_zero(&d[s..e]) {
                b.add_zero(s as u64, (e - s) as u64);
            } else {
                b.add_run(s as u64, &d[s..e]);
            }
        }
        assert_eq!(b.finish(), whole);
        // One changed byte in one range changes it.
        let mut b = DigestBuilder::new(size);
        let mut e = d.clone();
        e[131072] ^= 0x40;
        b.add_run(0, &e[..150000]);
        b.add_run(150000, &e[150000..]);
        assert_ne!(b.finish(), whole);
    }
}
