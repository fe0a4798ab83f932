//! The writer, laid out as the reference `vma create` lays out its archives (spec §5 and §14),
//! except `header_size` and so the header MD5 (§14b).

use std::collections::HashSet;
use std::io::{Read, Write};

use crate::coverage::{DeviceClusters, Refusal};
use crate::error::{Error, Result};
use crate::format::{self, BlockInfo, extent, header};
use crate::read::Config;
use crate::{BLOCK_SIZE, CLUSTER_SIZE};

/// Everything needed to start a new archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArchive {
    /// Archive uuid (the reference tool uses a random one).
    pub uuid: [u8; 16],
    /// Creation time in seconds since the epoch.
    pub ctime: i64,
    /// Config blobs, stored in this slot order.
    pub configs: Vec<Config>,
    /// Devices as `(name, size in bytes)`; they get dev_ids 1, 2, … in this order.
    pub devices: Vec<(String, u64)>,
}

/// Writes a VMA archive to any [`Write`].
///
/// [`Writer::new`] writes the header at once; clusters may then be written in any order, each exactly
/// once; [`Writer::finish`] flushes the last extent and checks that nothing was left out.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    uuid: [u8; 16],
    devices: Vec<DeviceClusters>,
    /// The extent being filled: 512-byte header followed by the stored blocks.
    buf: Vec<u8>,
    entries: Vec<BlockInfo>,
    blocks: u16,
    /// Bytes written so far.
    pos: u64,
}

impl<W: Write> Writer<W> {
    /// Validates names and sizes and writes the header.
    pub fn new(mut out: W, archive: &NewArchive) -> Result<Self> {
        let head = encode_header(archive)?;
        out.write_all(&head).map_err(|source| Error::Io {
            what: "header",
            at: 0,
            source,
        })?;
        let devices = archive
            .devices
            .iter()
            .map(|(name, size)| DeviceClusters::new(name, *size))
            .collect();
        let mut buf = Vec::with_capacity(
            extent::HEADER_SIZE + extent::WRITER_ENTRIES * CLUSTER_SIZE as usize,
        );
        buf.resize(extent::HEADER_SIZE, 0);
        Ok(Writer {
            out,
            uuid: archive.uuid,
            devices,
            buf,
            entries: Vec::with_capacity(extent::WRITER_ENTRIES),
            blocks: 0,
            pos: head.len() as u64,
        })
    }

    /// Stores cluster `cluster` of device `dev_id` (1-based, in [`NewArchive::devices`] order).
    ///
    /// `data` holds at most 65536 bytes; shorter data is zero padded. All-zero 4 KiB blocks are not
    /// stored, nor is anything at or past the device end.
    pub fn write_cluster(&mut self, dev_id: u8, cluster: u32, data: &[u8]) -> Result<()> {
        let bad = |reason| Error::InvalidCluster {
            dev_id,
            cluster,
            reason,
        };
        let dev = usize::from(dev_id)
            .checked_sub(1)
            .and_then(|i| self.devices.get_mut(i))
            .ok_or(bad("no such device"))?;
        if data.len() > CLUSTER_SIZE as usize {
            return Err(bad("more than 65536 bytes of data"));
        }
        dev.record(cluster).map_err(|r| {
            bad(match r {
                Refusal::OutOfRange => "the cluster lies past the end of the device",
                Refusal::OutOfOrder { .. } => "vmstate clusters must be written in order",
                Refusal::Duplicate => "the cluster was already written",
            })
        })?;
        let size = dev.size;

        if self.entries.len() >= extent::WRITER_ENTRIES {
            self.flush()?;
        }
        let bs = BLOCK_SIZE as usize;
        let base = u64::from(cluster) * CLUSTER_SIZE;
        let mut mask = 0u16;
        for j in 0..format::BLOCKS_PER_CLUSTER {
            let start = base + (j * bs) as u64;
            let valid = size.saturating_sub(start).min(BLOCK_SIZE) as usize;
            let src = data.get(j * bs..).unwrap_or_default();
            let src = src.get(..valid.min(src.len())).unwrap_or_default();
            if sink::is_zero(src) {
                continue;
            }
            mask |= 1 << j;
            self.buf.extend_from_slice(src);
            self.buf.resize(self.buf.len() + bs - src.len(), 0);
        }
        self.blocks += mask.count_ones() as u16;
        self.entries.push(BlockInfo {
            mask,
            reserved: 0,
            dev_id,
            cluster,
        });
        Ok(())
    }

    /// Stores a whole disk, device `dev_id` of `size` bytes, read front to back from `image`;
    /// reports the bytes read so far to `progress` about every 4 MiB.
    pub fn write_disk(
        &mut self,
        dev_id: u8,
        image: &mut dyn Read,
        size: u64,
        progress: &mut dyn sink::Progress,
    ) -> Result<()> {
        let mut buf = vec![0u8; CLUSTER_SIZE as usize];
        let clusters = size.div_ceil(CLUSTER_SIZE);
        for cluster in 0..clusters {
            let start = cluster * CLUSTER_SIZE;
            let len = usize::try_from((size - start).min(CLUSTER_SIZE)).unwrap_or(buf.len());
            let chunk = &mut buf[..len];
            image.read_exact(chunk).map_err(|source| Error::Io {
                what: "disk image",
                at: start,
                source,
            })?;
            let number = u32::try_from(cluster).map_err(|_| Error::LimitExceeded {
                what: "disk size",
                at: 0,
                value: size,
                limit: u64::from(u32::MAX) * CLUSTER_SIZE,
            })?;
            self.write_cluster(dev_id, number, chunk)?;
            if cluster.is_multiple_of(64) {
                progress.read(start + len as u64);
            }
        }
        progress.read(size);
        Ok(())
    }

    /// Writes the last extent, flushes the output and returns it.
    ///
    /// Fails if any cluster of any device was never written.
    pub fn finish(mut self) -> Result<W> {
        for d in &self.devices {
            if let Some(cluster) = d.first_missing() {
                return Err(Error::ClusterNotWritten {
                    device: d.name.clone(),
                    cluster,
                });
            }
        }
        self.flush()?;
        let at = self.pos;
        self.out.flush().map_err(|source| Error::Io {
            what: "extent",
            at,
            source,
        })?;
        Ok(self.out)
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Writes the current extent (possibly empty) and starts a new one.
    fn flush(&mut self) -> Result<()> {
        let head = &mut self.buf[..extent::HEADER_SIZE];
        head.fill(0);
        head[extent::MAGIC].copy_from_slice(&format::EXTENT_MAGIC);
        head[extent::BLOCK_COUNT].copy_from_slice(&self.blocks.to_be_bytes());
        head[extent::UUID].copy_from_slice(&self.uuid);
        for (i, e) in self.entries.iter().enumerate() {
            let off = extent::BLOCKINFO + i * extent::BLOCKINFO_SIZE;
            head[off..off + 8].copy_from_slice(&e.to_u64().to_be_bytes());
        }
        let md5 = format::md5_with_zeroed_field(head, extent::MD5);
        head[extent::MD5].copy_from_slice(&md5);
        let at = self.pos;
        self.out.write_all(&self.buf).map_err(|source| Error::Io {
            what: "extent",
            at,
            source,
        })?;
        self.pos += self.buf.len() as u64;
        self.buf.truncate(extent::HEADER_SIZE);
        self.entries.clear();
        self.blocks = 0;
        Ok(())
    }
}

/// Builds the complete header for `archive`, checking every limit of the format.
pub fn encode_header(archive: &NewArchive) -> Result<Vec<u8>> {
    let invalid = |reason: String| Err(Error::InvalidArchive { reason });
    if archive.configs.len() > format::MAX_CONFIGS {
        return invalid(format!(
            "{} configs, at most {} fit",
            archive.configs.len(),
            format::MAX_CONFIGS
        ));
    }
    if archive.devices.len() > format::MAX_WRITTEN_DEVICES {
        return invalid(format!(
            "{} devices, at most {} are allowed",
            archive.devices.len(),
            format::MAX_WRITTEN_DEVICES
        ));
    }
    let mut names = HashSet::new();
    for c in &archive.configs {
        check_name("config", &c.name, &mut names)?;
        if c.data.len() > format::MAX_BLOB_SIZE {
            return invalid(format!(
                "config {:?} has {} bytes, at most {} fit",
                c.name,
                c.data.len(),
                format::MAX_BLOB_SIZE
            ));
        }
    }
    names.clear();
    for (name, size) in &archive.devices {
        check_name("device", name, &mut names)?;
        if *size == 0 || size % format::ALIGN as u64 != 0 {
            return invalid(format!(
                "device {name:?} has size {size}, which is not a positive multiple of 512"
            ));
        }
        if *size > format::MAX_DEVICE_SIZE {
            return invalid(format!(
                "device {name:?} has size {size}, more than 2^32 clusters of 64 KiB"
            ));
        }
    }

    // Blob area: byte 0 unused, then configs (name, data) in slot order, then device names.
    let mut area = vec![0u8];
    let mut push = |blob: &[u8], nul: bool| -> u32 {
        let start = area.len() as u32;
        let len = blob.len() + usize::from(nul);
        area.extend_from_slice(&(len as u16).to_le_bytes());
        area.extend_from_slice(blob);
        if nul {
            area.push(0);
        }
        start
    };
    let mut config_ptrs = Vec::new();
    for c in &archive.configs {
        let name = push(c.name.as_bytes(), true);
        let data = push(&c.data, false);
        config_ptrs.push((name, data));
    }
    let device_ptrs: Vec<u32> = archive
        .devices
        .iter()
        .map(|(name, _)| push(name.as_bytes(), true))
        .collect();
    let header_size = format::HEADER_FIXED_SIZE + area.len().next_multiple_of(format::ALIGN);
    if header_size > format::MAX_WRITTEN_HEADER_SIZE {
        return invalid(format!(
            "the configs and names need a {header_size}-byte header, at most {} is allowed",
            format::MAX_WRITTEN_HEADER_SIZE
        ));
    }

    let mut head = vec![0u8; header_size];
    let put = |head: &mut [u8], at: usize, bytes: &[u8]| {
        head[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut head, header::MAGIC.start, &format::HEADER_MAGIC);
    put(
        &mut head,
        header::VERSION.start,
        &format::VERSION.to_be_bytes(),
    );
    put(&mut head, header::UUID.start, &archive.uuid);
    put(&mut head, header::CTIME.start, &archive.ctime.to_be_bytes());
    let blob_offset = format::HEADER_FIXED_SIZE as u32;
    put(
        &mut head,
        header::BLOB_BUFFER_OFFSET.start,
        &blob_offset.to_be_bytes(),
    );
    put(
        &mut head,
        header::BLOB_BUFFER_SIZE.start,
        &(area.len() as u32).to_be_bytes(),
    );
    put(
        &mut head,
        header::HEADER_SIZE.start,
        &(header_size as u32).to_be_bytes(),
    );
    for (slot, (name, data)) in config_ptrs.iter().enumerate() {
        put(
            &mut head,
            header::CONFIG_NAMES + 4 * slot,
            &name.to_be_bytes(),
        );
        put(
            &mut head,
            header::CONFIG_DATA + 4 * slot,
            &data.to_be_bytes(),
        );
    }
    for (i, ((_, size), ptr)) in archive.devices.iter().zip(&device_ptrs).enumerate() {
        let entry = header::DEV_INFO + (i + 1) * header::DEV_INFO_SIZE;
        put(&mut head, entry + header::DEV_NAME_PTR, &ptr.to_be_bytes());
        put(&mut head, entry + header::DEV_SIZE, &size.to_be_bytes());
    }
    put(&mut head, format::HEADER_FIXED_SIZE, &area);
    let md5 = format::md5_with_zeroed_field(&head, header::MD5);
    put(&mut head, header::MD5.start, &md5);
    Ok(head)
}

/// Rejects names that are unusable as file names, too long for a blob, or repeated.
fn check_name(what: &str, name: &str, seen: &mut HashSet<String>) -> Result<()> {
    let reason = if let Some(problem) = format::name_problem(name) {
        format!("{what} name {name:?} is invalid: {problem}")
    } else if name.len() + 1 > format::MAX_BLOB_SIZE {
        format!(
            "{what} name is {} bytes long, too long for a blob",
            name.len()
        )
    } else if !seen.insert(name.to_owned()) {
        format!("{what} name {name:?} appears twice")
    } else {
        return Ok(());
    };
    Err(Error::InvalidArchive { reason })
}
