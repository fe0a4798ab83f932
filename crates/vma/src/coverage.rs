//! Which clusters of a device have been seen, as a set of disjoint ranges.
//!
//! The format asks for one bit per cluster, but device sizes come from the untrusted header: a bitmap sized
//! from them could ask for gigabytes before a single cluster arrives. Writers emit clusters mostly in order
//! (a live backup in at most a few interleaved runs), so a range set stays tiny on real archives and grows
//! by at most one entry per cluster actually read on hostile ones.

use std::collections::BTreeMap;

/// A set of cluster numbers stored as half-open ranges `start..end`, never adjacent or overlapping.
#[derive(Debug, Default, Clone)]
pub(crate) struct Coverage {
    ranges: BTreeMap<u64, u64>,
}

impl Coverage {
    /// Adds `x`; returns `false` if it was already present.
    pub(crate) fn insert(&mut self, x: u64) -> bool {
        let prev = self.ranges.range(..=x).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = prev
            && x < end
        {
            return false;
        }
        let Some(after) = x.checked_add(1) else {
            return false;
        };
        let end = match self.ranges.remove(&after) {
            Some(next_end) => next_end,
            None => after,
        };
        match prev {
            Some((start, prev_end)) if prev_end == x => self.ranges.insert(start, end),
            _ => self.ranges.insert(x, end),
        };
        true
    }

    /// The smallest number in `0..total` that is not present.
    pub(crate) fn first_missing(&self, total: u64) -> Option<u64> {
        let first = match self.ranges.first_key_value() {
            Some((&0, &end)) => end,
            _ => 0,
        };
        (first < total).then_some(first)
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
        DeviceClusters {
            name: name.to_owned(),
            size,
            clusters: size.div_ceil(crate::CLUSTER_SIZE),
            vmstate: name == crate::format::VMSTATE_NAME,
            seen: Coverage::default(),
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

    /// The first cluster never recorded.
    pub(crate) fn first_missing(&self) -> Option<u64> {
        self.seen.first_missing(self.clusters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_detects_duplicates() {
        let mut c = Coverage::default();
        for x in [5, 3, 4, 0, 2, 1] {
            assert!(c.insert(x), "{x}");
        }
        assert_eq!(c.ranges.len(), 1);
        assert!(!c.insert(4));
        assert_eq!(c.first_missing(6), None);
        assert_eq!(c.first_missing(7), Some(6));
        assert!(c.insert(8));
        assert!(!c.insert(8));
        assert_eq!(c.first_missing(9), Some(6));
        assert!(c.insert(7));
        assert!(c.insert(6));
        assert_eq!(c.ranges.len(), 1);
        assert_eq!(Coverage::default().first_missing(0), None);
        assert_eq!(Coverage::default().first_missing(1), Some(0));
        let mut d = Coverage::default();
        assert!(d.insert(1));
        assert_eq!(d.first_missing(2), Some(0));
    }
}
