//! Which clusters of a device have been seen: a bitmap of one bit per cluster, as the reference tool keeps.
//!
//! Its size is bounded by the device size (2 MiB per TiB), never by how an archive orders its clusters:
//! a range set costs tens of bytes per scattered cluster, so a small hostile archive whose clusters
//! never touch could drive it to gigabytes. Device sizes come from the untrusted header, so the bitmap
//! is allocated lazily, one 4 KiB page (32768 clusters, 2 GiB of disk) at a time, when a cluster in it
//! first arrives: a header that claims a huge disk costs nothing until clusters arrive, and cluster
//! numbers are u32, so one device never holds more than 512 MiB however large its declared size.

use std::collections::BTreeMap;

/// Clusters covered by one page of the bitmap (4 KiB of bits, 2 GiB of disk).
const PAGE_CLUSTERS: u64 = 1 << 15;
/// 64-bit words in one full page.
const PAGE_WORDS: u64 = PAGE_CLUSTERS / 64;

/// A set of cluster numbers below `total`, one bit each, in lazily allocated pages.
#[derive(Debug, Default, Clone)]
pub(crate) struct Coverage {
    total: u64,
    /// Page index → bits; the last page of a device is only as long as the device needs.
    pages: BTreeMap<u64, Box<[u64]>>,
    /// The page of the latest insertion, kept out of `pages` so that clusters in order (the common
    /// case) reach it without a lookup.
    current: Option<(u64, Box<[u64]>)>,
    /// Number of clusters present.
    count: u64,
}

impl Coverage {
    /// An empty set of numbers below `total`.
    pub(crate) fn new(total: u64) -> Self {
        Coverage {
            total,
            ..Coverage::default()
        }
    }

    /// Adds `x`; returns `false` if it was already present or is not below `total`.
    pub(crate) fn insert(&mut self, x: u64) -> bool {
        if x >= self.total {
            return false;
        }
        let (page, bit) = (x / PAGE_CLUSTERS, x % PAGE_CLUSTERS);
        if self.current.as_ref().is_none_or(|(p, _)| *p != page) {
            let bits = self.pages.remove(&page).unwrap_or_else(|| {
                let words = (self.total - page * PAGE_CLUSTERS)
                    .min(PAGE_CLUSTERS)
                    .div_ceil(64);
                vec![0; words.min(PAGE_WORDS) as usize].into_boxed_slice()
            });
            if let Some((p, old)) = self.current.replace((page, bits)) {
                self.pages.insert(p, old);
            }
        }
        let Some((_, bits)) = self.current.as_mut() else {
            return false;
        };
        let Some(word) = bits.get_mut((bit / 64) as usize) else {
            return false;
        };
        let mask = 1u64 << (bit % 64);
        if *word & mask != 0 {
            return false;
        }
        *word |= mask;
        self.count += 1;
        true
    }

    /// The smallest number below `total` that is not present.
    pub(crate) fn first_missing(&self) -> Option<u64> {
        if self.count >= self.total {
            return None;
        }
        let mut page = 0;
        while page * PAGE_CLUSTERS < self.total {
            let bits = match &self.current {
                Some((p, bits)) if *p == page => Some(bits),
                _ => self.pages.get(&page),
            };
            let Some(bits) = bits else {
                return Some(page * PAGE_CLUSTERS);
            };
            for (i, word) in bits.iter().enumerate() {
                if *word != u64::MAX {
                    let x = page * PAGE_CLUSTERS + i as u64 * 64 + u64::from(word.trailing_ones());
                    return (x < self.total).then_some(x);
                }
            }
            page += 1;
        }
        None
    }

    /// Bytes of bitmap allocated so far.
    pub(crate) fn bitmap_bytes(&self) -> u64 {
        let words: usize = (self
            .pages
            .values()
            .chain(self.current.iter().map(|(_, b)| b)))
        .map(|b| b.len())
        .sum();
        words as u64 * 8
    }
}

/// Why a cluster cannot be recorded for a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The cluster lies past the end of the device.
    OutOfRange,
    /// A vmstate cluster came before `expected`, the next in order.
    OutOfOrder {
        /// The cluster that should come next.
        expected: u64,
    },
    /// The cluster was already recorded.
    Duplicate,
}

/// Per-device bookkeeping shared by the reader and the writer: which clusters were seen, and for
/// vmstate (whose clusters must come in order 0, 1, 2, …) which one comes next.
#[derive(Debug)]
pub(crate) struct DeviceClusters {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) clusters: u64,
    vmstate: bool,
    seen: Coverage,
    next_vmstate: u64,
}

impl DeviceClusters {
    pub(crate) fn new(name: &str, size: u64) -> Self {
        let clusters = size.div_ceil(crate::CLUSTER_SIZE);
        DeviceClusters {
            name: name.to_owned(),
            size,
            clusters,
            vmstate: name == crate::format::VMSTATE_NAME,
            seen: Coverage::new(clusters),
            next_vmstate: 0,
        }
    }

    /// Records `cluster` as present, unless it is out of range, out of order or a repeat.
    pub(crate) fn record(&mut self, cluster: u32) -> Result<(), Refusal> {
        let cluster = u64::from(cluster);
        if cluster >= self.clusters {
            return Err(Refusal::OutOfRange);
        }
        if self.vmstate && cluster != self.next_vmstate {
            return Err(Refusal::OutOfOrder {
                expected: self.next_vmstate,
            });
        }
        if !self.seen.insert(cluster) {
            return Err(Refusal::Duplicate);
        }
        self.next_vmstate += 1;
        Ok(())
    }

    /// Bytes of bitmap this device holds so far (at most one bit per cluster, rounded up to 64).
    pub(crate) fn bitmap_bytes(&self) -> u64 {
        self.seen.bitmap_bytes()
    }

    /// The first cluster never recorded.
    pub(crate) fn first_missing(&self) -> Option<u64> {
        self.seen.first_missing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_detect_duplicates_and_find_the_first_gap() {
        let mut c = Coverage::new(6);
        assert_eq!(c.first_missing(), Some(0));
        for x in [5, 3, 4, 0, 2] {
            assert!(c.insert(x), "{x}");
        }
        assert!(!c.insert(4));
        assert!(!c.insert(6), "past the end");
        assert_eq!(c.first_missing(), Some(1));
        assert!(c.insert(1));
        assert_eq!(c.first_missing(), None);
        assert_eq!(Coverage::new(0).first_missing(), None);
        assert_eq!(c.bitmap_bytes(), 8);
    }

    #[test]
    fn gaps_across_pages() {
        let total = 3 * PAGE_CLUSTERS + 70;
        let mut c = Coverage::new(total);
        for x in 0..PAGE_CLUSTERS {
            assert!(c.insert(x));
        }
        // Page 1 never allocated: its first cluster is the gap.
        assert_eq!(c.first_missing(), Some(PAGE_CLUSTERS));
        for x in PAGE_CLUSTERS..total - 1 {
            assert!(c.insert(x));
        }
        assert_eq!(c.first_missing(), Some(total - 1));
        assert!(c.insert(total - 1));
        assert_eq!(c.first_missing(), None);
        // Three full pages of 4096 bytes and 70 bits rounded up to two words.
        assert_eq!(c.bitmap_bytes(), 3 * 4096 + 16);
    }

    #[test]
    fn memory_is_bounded_by_the_size_not_by_scattering() {
        // Every other cluster of a 1 TiB disk (2^24 clusters): 2 MiB of bitmap whatever the order.
        let total = 1 << 24;
        let mut c = Coverage::new(total);
        for x in (0..total / 2).rev().map(|i| i * 2) {
            assert!(c.insert(x));
        }
        assert_eq!(c.bitmap_bytes(), total / 8);
        assert_eq!(c.first_missing(), Some(1));
        // A huge declared size costs nothing until clusters arrive: one page for one cluster.
        let mut huge = Coverage::new(u64::from(u32::MAX) + 1);
        assert!(huge.insert(u64::from(u32::MAX)));
        assert_eq!(huge.bitmap_bytes(), 4096);
        assert_eq!(huge.first_missing(), Some(0));
    }
}
