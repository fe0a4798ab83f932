//! A qcow2 image as a restore target: the same `write`/`zero` calls as a [`crate::DiskWriter`],
//! into a new qcow2 (version 3) file published by the crate's rule.
//!
//! The layout is the simplest valid one (qcow2 spec, `docs/interop/qcow2.txt` of QEMU): 64 KiB
//! clusters, the header in cluster 0, data clusters in the order they are first written, and at
//! the end the L2 tables, the L1 table, the refcount blocks and the refcount table, every used
//! cluster counted once (16-bit refcounts). No backing file, no compression, no snapshots.
//! Clusters that are never written with data (zero runs, holes) stay unallocated, so they read
//! as zeros and take no space; a zero write over data already written writes zeros.
//!
//! Only the cluster map is kept in memory (8 bytes per allocated cluster, 128 KiB per GiB of
//! data).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::publish::{Created, NewFile, OutDir};

/// Cluster size: 64 KiB, qemu-img's default.
pub const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// `QFI\xfb`.
const MAGIC: u32 = 0x5146_49fb;
/// Length of the version 3 header without extensions.
const HEADER_LEN: u32 = 104;
/// 16-bit refcounts.
const REFCOUNT_ORDER: u32 = 4;
/// L2 and L1 entries: the cluster is used exactly once (refcount 1), so it may be written in
/// place.
const COPIED: u64 = 1 << 63;
/// Entries of 8 bytes per cluster-sized table.
const PER_TABLE: u64 = CLUSTER / 8;
/// Refcounts (2 bytes) per refcount block.
const PER_BLOCK: u64 = CLUSTER / 2;

/// A qcow2 image being written.
#[derive(Debug)]
pub struct Qcow2Writer {
    new: NewFile,
    size: u64,
    /// Guest cluster index → host offset of its data.
    map: BTreeMap<u64, u64>,
    /// Next free host cluster.
    next: u64,
    stored: u64,
}

impl Qcow2Writer {
    /// A new image `name` in `dir` of `size` bytes (temporary name until [`Self::finish`]).
    pub fn new_in_dir(
        dir: &OutDir,
        name: &OsStr,
        size: u64,
        replace: bool,
        created: &Created,
    ) -> Result<Qcow2Writer> {
        if !size.is_multiple_of(512) {
            return Err(Error::InvalidTarget {
                reason: format!(
                    "a qcow2 image holds whole 512-byte sectors, and this disk has {size} bytes: \
                     restore it as a raw image"
                ),
            });
        }
        dir.check_absent(name, replace)?;
        let new = dir.create_temp(name, replace, created)?;
        Ok(Qcow2Writer {
            new,
            size,
            map: BTreeMap::new(),
            next: 1,
            stored: 0,
        })
    }

    fn range_err(&self, at: u64, len: u64) -> Error {
        Error::InvalidTarget {
            reason: format!(
                "a write of {len} bytes at {at} goes past the end of the {} byte disk {}",
                self.size,
                self.new.path().display()
            ),
        }
    }

    fn pwrite(&self, data: &[u8], host: u64, at: u64) -> Result<()> {
        self.new
            .file
            .write_all_at(data, host)
            .map_err(|source| Error::WriteAt {
                path: self.new.tmp_path(),
                at,
                len: data.len() as u64,
                source,
            })
    }

    /// Writes `data` at disk offset `at`. All-zero pieces of clusters not yet allocated stay
    /// unallocated.
    pub fn write(&mut self, at: u64, data: &[u8]) -> Result<()> {
        let end = at
            .checked_add(data.len() as u64)
            .filter(|&e| e <= self.size);
        if end.is_none() {
            return Err(self.range_err(at, data.len() as u64));
        }
        let mut pos = 0usize;
        while pos < data.len() {
            let off = at + pos as u64;
            let cluster = off >> CLUSTER_BITS;
            let within = off & (CLUSTER - 1);
            let n = ((CLUSTER - within) as usize).min(data.len() - pos);
            let piece = &data[pos..pos + n];
            let host = match self.map.get(&cluster) {
                Some(&h) => Some(h),
                None if crate::is_zero(piece) => None,
                None => {
                    let h = self.next * CLUSTER;
                    self.next += 1;
                    self.map.insert(cluster, h);
                    Some(h)
                }
            };
            if let Some(h) = host {
                self.pwrite(piece, h + within, off)?;
                self.stored += n as u64;
            }
            pos += n;
        }
        Ok(())
    }

    /// Marks `len` bytes at `at` as zeros: nothing to do where no data was written, zeros
    /// written into clusters that hold data.
    pub fn zero(&mut self, at: u64, len: u64) -> Result<()> {
        let end = at
            .checked_add(len)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| self.range_err(at, len))?;
        let first = at >> CLUSTER_BITS;
        let last = end.div_ceil(CLUSTER);
        let hit: Vec<(u64, u64)> = self.map.range(first..last).map(|(&c, &h)| (c, h)).collect();
        let zeros = vec![0u8; CLUSTER as usize];
        for (c, h) in hit {
            let s = (c * CLUSTER).max(at);
            let e = ((c + 1) * CLUSTER).min(end);
            self.pwrite(&zeros[..(e - s) as usize], h + (s - c * CLUSTER), s)?;
        }
        Ok(())
    }

    /// Bytes of data written into clusters.
    pub fn stored_bytes(&self) -> u64 {
        self.stored
    }

    /// Writes the tables and the header, syncs and publishes the image; returns its path.
    pub fn finish(self, replace: bool, created: &Created) -> Result<PathBuf> {
        let guest_clusters = self.size.div_ceil(CLUSTER);
        let l1_size = guest_clusters.div_ceil(PER_TABLE);
        let l1_clusters = (l1_size * 8).div_ceil(CLUSTER).max(1);
        // Which L2 tables are needed (only those with an allocated cluster).
        let mut l2_index: BTreeMap<u64, u64> = BTreeMap::new();
        for &c in self.map.keys() {
            let n = l2_index.len() as u64;
            l2_index.entry(c / PER_TABLE).or_insert(n);
        }
        let l2_start = self.next;
        let l1_start = l2_start + l2_index.len() as u64;
        let meta_start = l1_start + l1_clusters;
        // Refcount blocks and table cover every cluster including themselves.
        let (mut blocks, mut table) = (1u64, 1u64);
        loop {
            let total = meta_start + blocks + table;
            let b = total.div_ceil(PER_BLOCK);
            let t = (b * 8).div_ceil(CLUSTER).max(1);
            if b == blocks && t == table {
                break;
            }
            (blocks, table) = (b, t);
        }
        let blocks_start = meta_start;
        let table_start = blocks_start + blocks;
        let total = table_start + table;

        // L2 tables.
        let mut l2 = vec![0u8; CLUSTER as usize];
        let mut current: Option<u64> = None;
        let flush = |w: &Self, l2: &mut Vec<u8>, t: u64| -> Result<()> {
            let host = (l2_start + l2_index[&t]) * CLUSTER;
            w.pwrite(l2, host, host)?;
            l2.fill(0);
            Ok(())
        };
        for (&c, &h) in &self.map {
            let t = c / PER_TABLE;
            if let Some(cur) = current.filter(|&cur| cur != t) {
                flush(&self, &mut l2, cur)?;
            }
            current = Some(t);
            let i = ((c % PER_TABLE) * 8) as usize;
            l2[i..i + 8].copy_from_slice(&(h | COPIED).to_be_bytes());
        }
        if let Some(cur) = current {
            flush(&self, &mut l2, cur)?;
        }
        // L1 table.
        let mut l1 = vec![0u8; (l1_clusters * CLUSTER) as usize];
        for (&t, &n) in &l2_index {
            let i = (t * 8) as usize;
            l1[i..i + 8]
                .copy_from_slice((((l2_start + n) * CLUSTER) | COPIED).to_be_bytes().as_ref());
        }
        self.pwrite(&l1, l1_start * CLUSTER, l1_start * CLUSTER)?;
        // Refcount blocks: every cluster up to `total` is used once.
        let mut rb = vec![0u8; (blocks * CLUSTER) as usize];
        for c in 0..total {
            let i = (c * 2) as usize;
            rb[i..i + 2].copy_from_slice(&1u16.to_be_bytes());
        }
        self.pwrite(&rb, blocks_start * CLUSTER, blocks_start * CLUSTER)?;
        let mut rt = vec![0u8; (table * CLUSTER) as usize];
        for b in 0..blocks {
            let i = (b * 8) as usize;
            rt[i..i + 8].copy_from_slice(&((blocks_start + b) * CLUSTER).to_be_bytes());
        }
        self.pwrite(&rt, table_start * CLUSTER, table_start * CLUSTER)?;
        // Header, then the end of the (empty) extension list.
        let mut h = vec![0u8; HEADER_LEN as usize + 8];
        let put32 =
            |h: &mut Vec<u8>, at: usize, v: u32| h[at..at + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |h: &mut Vec<u8>, at: usize, v: u64| h[at..at + 8].copy_from_slice(&v.to_be_bytes());
        put32(&mut h, 0, MAGIC);
        put32(&mut h, 4, 3);
        put32(&mut h, 20, CLUSTER_BITS);
        put64(&mut h, 24, self.size);
        put32(
            &mut h,
            36,
            u32::try_from(l1_size).map_err(|_| self.range_err(0, self.size))?,
        );
        put64(&mut h, 40, l1_start * CLUSTER);
        put64(&mut h, 48, table_start * CLUSTER);
        put32(
            &mut h,
            56,
            u32::try_from(table).map_err(|_| self.range_err(0, self.size))?,
        );
        put32(&mut h, 96, REFCOUNT_ORDER);
        put32(&mut h, 100, HEADER_LEN);
        self.pwrite(&h, 0, 0)?;
        let file: &File = &self.new.file;
        file.set_len(total * CLUSTER)
            .map_err(|source| Error::File {
                op: "size",
                path: self.new.tmp_path(),
                source,
            })?;
        self.new.publish(replace, created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcounts_cover_themselves() {
        // 32768 clusters per block: a layout right at the edge needs a second block.
        let tmp = tempfile::tempdir().expect("tempdir");
        let created = Created::new();
        let dir = OutDir::create(&tmp.path().join("o"), false, &created).expect("dir");
        let mut w = Qcow2Writer::new_in_dir(&dir, "x.qcow2".as_ref(), 1 << 20, false, &created)
            .expect("new");
        w.write(100, &[1, 2, 3]).expect("write");
        w.zero(0, 1 << 20).expect("zero");
        w.write((1 << 20) - 1, &[9]).expect("write");
        assert!(w.write(1 << 20, &[9]).is_err());
        let path = w.finish(false, &created).expect("finish");
        let bytes = std::fs::read(path).expect("read");
        assert_eq!(&bytes[..4], b"QFI\xfb");
        // Header, 2 data clusters, 1 L2, 1 L1, 1 refcount block, 1 table.
        assert_eq!(bytes.len() as u64, 7 * CLUSTER);
        created.commit();
    }
}
