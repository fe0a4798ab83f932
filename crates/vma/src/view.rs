//! An uncompressed VMA archive read at random: one pass over the extents builds an index of
//! where every stored 4 KiB block of one device lies in the file, and [`DiskView`] then serves
//! reads of the disk with `pread` on the archive, without restoring it.
//!
//! The pass is the normal [`Reader`] (every extent's checksum checked, completeness proven by
//! [`Reader::finish`]); an extent's stored blocks follow its 512-byte header in blockinfo order,
//! so the file offset of each cluster's first block follows from where the reader stands after
//! the extent and from the masks. The index keeps 10 bytes per stored 64 KiB cluster of the
//! chosen device (160 MiB for a full 1 TiB disk), nothing for zero clusters.
//!
//! Compressed archives cannot be read at random: they are staged instead (see `sink`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{BLOCK_SIZE, CLUSTER_SIZE, extent};
use crate::read::Reader;

/// One device of an uncompressed VMA archive as a random-access disk.
#[derive(Debug)]
pub struct DiskView {
    file: File,
    size: u64,
    /// Cluster number → (file offset of its first stored block, mask of stored blocks).
    clusters: HashMap<u32, (u64, u16)>,
}

impl DiskView {
    /// Indexes device `drive` (`drive-scsi0` or `scsi0`) of the uncompressed archive at `path`
    /// in one pass; fails like [`Reader`] on a damaged or incomplete archive, and with
    /// [`Error::UnknownDrive`] when the device is not there.
    pub fn open(path: &Path, drive: &str) -> Result<DiskView> {
        let io = |what| {
            move |source| Error::Io {
                what,
                at: 0,
                source,
            }
        };
        let mut reader = Reader::new(BufReader::with_capacity(
            1 << 20,
            File::open(path).map_err(io("archive"))?,
        ))?;
        let devices = &reader.header().devices;
        let dev = devices
            .iter()
            .find(|d| d.answers_to(drive) && !d.is_vmstate())
            .map(|d| (d.id, d.size))
            .ok_or_else(|| Error::UnknownDrive {
                name: drive.to_owned(),
                available: devices.iter().map(|d| d.name.clone()).collect(),
            })?;
        let (dev_id, size) = dev;
        let mut clusters = HashMap::new();
        while let Some(ext) = reader.next_extent()? {
            let end = reader.position();
            let stored: u64 = ext
                .clusters()
                .map(|c| u64::from(c.mask.count_ones()) * BLOCK_SIZE)
                .sum();
            let mut at = end
                .checked_sub(stored)
                .filter(|start| *start >= extent::HEADER_SIZE as u64)
                .ok_or(Error::Io {
                    what: "extent index",
                    at: end,
                    source: io::Error::other("the extent's data does not fit before its end"),
                })?;
            for c in ext.clusters() {
                if c.dev_id == dev_id && c.mask != 0 {
                    clusters.insert(c.cluster, (at, c.mask));
                } else if c.dev_id == dev_id {
                    clusters.remove(&c.cluster);
                }
                at += u64::from(c.mask.count_ones()) * BLOCK_SIZE;
            }
            reader.recycle(ext);
        }
        reader.finish()?;
        Ok(DiskView {
            file: File::open(path).map_err(io("archive"))?,
            size,
            clusters,
        })
    }

    /// Where the block at `offset` of the disk is stored, if it is (else it reads as zeros),
    /// and how many bytes of that block remain from `offset`.
    fn locate(&self, offset: u64) -> (Option<u64>, u64) {
        let cluster = offset / CLUSTER_SIZE;
        let in_cluster = offset % CLUSTER_SIZE;
        let block = in_cluster / BLOCK_SIZE;
        let left = BLOCK_SIZE - in_cluster % BLOCK_SIZE;
        let found = u32::try_from(cluster)
            .ok()
            .and_then(|c| self.clusters.get(&c))
            .filter(|(_, mask)| mask & (1 << block) != 0)
            .map(|(start, mask)| {
                let before = u64::from((mask & ((1u16 << block) - 1)).count_ones());
                start + before * BLOCK_SIZE + in_cluster % BLOCK_SIZE
            });
        (found, left)
    }
}

impl diskview::ReadAt for DiskView {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        diskview::check_range(self.size, offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let (stored, left) = self.locate(at);
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(buf.len() - done);
            match stored {
                Some(file_at) => self.file.read_exact_at(&mut buf[done..done + n], file_at)?,
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }
}
