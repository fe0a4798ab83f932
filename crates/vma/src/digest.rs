//! A digest of a disk's contents that does not depend on the order clusters arrive in.
//!
//! VMA clusters come in any order, so a plain SHA-256 of the disk cannot be computed while
//! restoring without buffering. Instead every 64 KiB cluster `i` (the last one clipped at the
//! disk size, zero blocks included as zeros) gets its own leaf hash, and the leaves are added up:
//!
//! ```text
//! leaf(i)  = SHA-256( i as u64 little-endian || SHA-256(bytes of cluster i) )
//! sum      = Σ leaf(i)  mod 2^256   (each leaf read as a little-endian 256-bit number)
//! digest   = SHA-256( "pverescue disk digest v1" || disk size as u64 little-endian || sum )
//! ```
//!
//! The state is 32 bytes plus a count, whatever the disk size. The index inside each leaf makes
//! a swapped pair of clusters change the digest; addition (unlike xor) keeps two equal leaves
//! from cancelling. [`DiskDigest::of_reader`] computes the same value by reading the disk
//! front to back, which is how a restore is verified after writing. All-zero clusters reuse one
//! precomputed inner hash, so holes cost little on both sides.

use std::fmt;
use std::io::{self, Read};
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use crate::read::Cluster;
use crate::{BLOCK_SIZE, CLUSTER_SIZE};

const DOMAIN: &[u8] = b"pverescue disk digest v1";
const ZERO_BLOCK: [u8; BLOCK_SIZE as usize] = [0; BLOCK_SIZE as usize];

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
        let mut buf = vec![0u8; CLUSTER_SIZE as usize];
        let mut index = 0u64;
        let mut at = 0u64;
        while at < size {
            let len = usize::try_from((size - at).min(CLUSTER_SIZE)).unwrap_or(buf.len());
            let chunk = &mut buf[..len];
            input.read_exact(chunk)?;
            acc.add_bytes(index, chunk);
            index += 1;
            at += len as u64;
        }
        Ok(acc.finish())
    }
}

/// Adds up cluster leaves in any order; [`DigestBuilder::finish`] gives the [`DiskDigest`].
#[derive(Debug, Clone)]
pub struct DigestBuilder {
    size: u64,
    sum: [u64; 4],
}

impl DigestBuilder {
    /// A builder for a disk of `size` bytes.
    pub fn new(size: u64) -> Self {
        DigestBuilder { size, sum: [0; 4] }
    }

    /// Adds a cluster as the reader yields it (zero blocks count as zeros, clipped at the disk size).
    pub fn add_cluster(&mut self, c: &Cluster<'_>) {
        let index = u64::from(c.cluster);
        let full = c.offset().saturating_add(CLUSTER_SIZE) <= self.size;
        if c.mask == 0 && full {
            self.add_leaf(index, zero_cluster_hash());
            return;
        }
        let mut inner = Sha256::new();
        for (off, block) in c.blocks(self.size) {
            match block {
                Some(b) => inner.update(b),
                None => {
                    // Only the last block of a disk can be shorter than a block.
                    let len = usize::try_from(self.size.saturating_sub(off).min(BLOCK_SIZE))
                        .unwrap_or(ZERO_BLOCK.len());
                    inner.update(&ZERO_BLOCK[..len.min(ZERO_BLOCK.len())]);
                }
            }
        }
        self.add_leaf(index, inner.finalize().into());
    }

    /// Adds cluster `index` given its bytes (64 KiB, or fewer for the last cluster).
    pub fn add_bytes(&mut self, index: u64, bytes: &[u8]) {
        let inner = if bytes.len() as u64 == CLUSTER_SIZE && bytes.iter().all(|&b| b == 0) {
            zero_cluster_hash()
        } else {
            Sha256::digest(bytes).into()
        };
        self.add_leaf(index, inner);
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

    /// The digest of everything added.
    pub fn finish(&self) -> DiskDigest {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(self.size.to_le_bytes());
        for limb in self.sum {
            h.update(limb.to_le_bytes());
        }
        DiskDigest(h.finalize().into())
    }
}

fn zero_cluster_hash() -> [u8; 32] {
    static H: OnceLock<[u8; 32]> = OnceLock::new();
    *H.get_or_init(|| Sha256::digest([0u8; CLUSTER_SIZE as usize]).into())
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

        // Two clusters swapped: different digest.
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
    fn clusters_with_zero_blocks_digest_like_their_bytes() {
        // Cluster 1 of a 2-cluster disk cut at 65536 + 8192: block 0 stored, block 1 zero.
        let size = 65536 + 8192;
        let stored = [7u8; 4096];
        let c = Cluster {
            dev_id: 1,
            cluster: 1,
            mask: 0b1,
            data: &stored,
        };
        let z = Cluster {
            dev_id: 1,
            cluster: 0,
            mask: 0,
            data: &[],
        };
        let mut b = DigestBuilder::new(size);
        b.add_cluster(&c);
        b.add_cluster(&z);
        let mut bytes = vec![0u8; usize::try_from(size).unwrap()];
        bytes[65536..65536 + 4096].fill(7);
        assert_eq!(b.finish(), DiskDigest::of_reader(&bytes[..], size).unwrap());
    }
}
