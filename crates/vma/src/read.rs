//! The streaming reader: header first, then one extent at a time, never seeking.

use std::collections::HashSet;
use std::io::{ErrorKind, Read};

use crate::coverage::{DeviceClusters, Refusal};
use crate::error::{Error, Result};
use crate::format::{self, BlockInfo, extent, header};
use crate::{BLOCK_SIZE, CLUSTER_SIZE};

/// The archive header: identity, configs and devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Archive uuid, raw bytes in libuuid order (print them as 8-4-4-4-12 hex).
    pub uuid: [u8; 16],
    /// Creation time in seconds since the epoch.
    pub ctime: i64,
    /// Size of the header in bytes; the first extent starts here.
    pub header_size: u32,
    /// Config blobs in slot order.
    pub configs: Vec<Config>,
    /// Devices in dev_id order.
    pub devices: Vec<Device>,
}

impl Header {
    /// The device with this id, if the archive declares it.
    pub fn device(&self, dev_id: u8) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == dev_id)
    }

    /// The config with this name, if present.
    pub fn config(&self, name: &str) -> Option<&Config> {
        self.configs.iter().find(|c| c.name == name)
    }

    /// The device a user means by `name`: its full name (`drive-scsi0`) or the short form
    /// (`scsi0`).
    pub fn drive(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.answers_to(name))
    }

    /// Total number of clusters over all devices (the denominator of progress).
    pub fn total_clusters(&self) -> u64 {
        self.devices
            .iter()
            .map(Device::clusters)
            .fold(0, u64::saturating_add)
    }
}

/// A config file stored in the archive (typically `qemu-server.conf` and `qemu-server.fw`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// File name; validated to be usable as a plain file name.
    pub name: String,
    /// Raw contents.
    pub data: Vec<u8>,
}

/// A device (disk or vmstate) stored in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id, 1..=255.
    pub id: u8,
    /// Device name such as `drive-scsi0`; validated to be usable inside a file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

impl Device {
    /// True when `name` is this device's full name (`drive-scsi0`) or its short form (`scsi0`).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.name.strip_prefix("drive-") == Some(name)
    }

    /// Whether this device holds saved VM RAM rather than a disk.
    pub fn is_vmstate(&self) -> bool {
        self.name == format::VMSTATE_NAME
    }

    /// Number of 64 KiB clusters: ceil(size / 65536).
    pub fn clusters(&self) -> u64 {
        self.size.div_ceil(CLUSTER_SIZE)
    }
}

/// One cluster as stored in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster<'a> {
    /// Device id.
    pub dev_id: u8,
    /// Cluster number inside the device (byte offset = cluster × 65536).
    pub cluster: u32,
    /// Bit j set: block j (at cluster offset j × 4096) is stored; clear: that block is zero.
    pub mask: u16,
    /// popcount(mask) × 4096 bytes: the stored blocks in increasing order.
    pub data: &'a [u8],
}

impl<'a> Cluster<'a> {
    /// Byte offset of this cluster in its device.
    pub fn offset(&self) -> u64 {
        u64::from(self.cluster) * CLUSTER_SIZE
    }

    /// Runs of stored blocks, adjacent blocks coalesced: `(byte offset in the device, bytes)`.
    ///
    /// Runs are clipped at `device_size`; blocks starting at or past it are dropped.
    pub fn runs(&self, device_size: u64) -> Runs<'a> {
        Runs {
            mask: self.mask,
            data: self.data,
            base: self.offset(),
            size: device_size,
            block: 0,
        }
    }

    /// The 4 KiB blocks of this cluster in order, `None` for a zero block, clipped at `device_size`.
    pub fn blocks(&self, device_size: u64) -> impl Iterator<Item = (u64, Option<&'a [u8]>)> + 'a {
        let (mask, data, base) = (self.mask, self.data, self.offset());
        let mut stored = 0usize;
        (0..format::BLOCKS_PER_CLUSTER).map_while(move |j| {
            let off = base + j as u64 * BLOCK_SIZE;
            let len = usize::try_from(device_size.checked_sub(off)?.min(BLOCK_SIZE)).ok()?;
            if len == 0 {
                return None;
            }
            if mask & (1 << j) == 0 {
                return Some((off, None));
            }
            let start = stored * BLOCK_SIZE as usize;
            stored += 1;
            Some((off, Some(data.get(start..start + len)?)))
        })
    }
}

/// Iterator returned by [`Cluster::runs`].
#[derive(Debug, Clone)]
pub struct Runs<'a> {
    mask: u16,
    data: &'a [u8],
    base: u64,
    size: u64,
    block: usize,
}

impl<'a> Iterator for Runs<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let bs = BLOCK_SIZE as usize;
        while self.block < format::BLOCKS_PER_CLUSTER && self.mask & (1 << self.block) == 0 {
            self.block += 1;
        }
        let first = self.block;
        while self.block < format::BLOCKS_PER_CLUSTER && self.mask & (1 << self.block) != 0 {
            self.block += 1;
        }
        let count = self.block - first;
        if count == 0 {
            return None;
        }
        let (run, rest) = self.data.split_at_checked(count * bs)?;
        self.data = rest;
        let off = self.base + (first * bs) as u64;
        let len = usize::try_from(self.size.checked_sub(off)?.min(run.len() as u64)).ok()?;
        if len == 0 {
            self.block = format::BLOCKS_PER_CLUSTER;
            return None;
        }
        Some((off, run.get(..len)?))
    }
}

/// Totals of a completely read archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cluster entries read, over all devices.
    pub clusters: u64,
    /// Bytes of stored (non-zero) blocks, clipped at device sizes.
    pub stored_bytes: u64,
    /// Bytes of the devices that were zero blocks (holes), clipped at device sizes.
    pub zero_bytes: u64,
    /// Extents read.
    pub extents: u64,
    /// Archive bytes consumed, header included.
    pub bytes_read: u64,
}

/// A used blockinfo entry of the current extent, with the position of its data in the buffer.
#[derive(Debug, Clone, Copy)]
struct Entry {
    info: BlockInfo,
    data_start: usize,
    data_len: usize,
}

impl Entry {
    fn cluster(self, buf: &[u8]) -> Cluster<'_> {
        Cluster {
            dev_id: self.info.dev_id,
            cluster: self.info.cluster,
            mask: self.info.mask,
            data: buf
                .get(self.data_start..self.data_start + self.data_len)
                .unwrap_or_default(),
        }
    }
}

/// The clusters of one extent with the buffer holding their data, returned by
/// [`Reader::next_extent`].
#[derive(Debug)]
pub struct Extent {
    buf: ExtentBuf,
    entries: Vec<Entry>,
}

impl Extent {
    /// The clusters in archive order.
    pub fn clusters(&self) -> impl Iterator<Item = Cluster<'_>> + '_ {
        let buf = self.buf.bytes();
        self.entries.iter().map(move |e| e.cluster(buf))
    }
}

/// Extent buffers a reader keeps for reuse.
const MAX_SPARE_BUFFERS: usize = 4;

/// Memory alignment of the stored blocks in the extent buffer (what direct I/O needs at most).
pub const DATA_ALIGN: usize = 4096;

/// The reusable extent buffer. It is allocated once, at the largest extent size, and placed so that
/// the data (after the 512-byte extent header) starts on a [`DATA_ALIGN`] boundary in memory; since
/// every stored block is 4 KiB, every block does.
#[derive(Debug, Default)]
struct ExtentBuf {
    raw: Vec<u8>,
    base: usize,
    len: usize,
}

impl ExtentBuf {
    /// The first `len` bytes (at most [`extent::MAX_SIZE`]) of the extent, for reading into.
    fn resize(&mut self, len: usize) -> &mut [u8] {
        if self.raw.is_empty() {
            // Zeroed pages cost nothing until touched; the buffer never grows again, so never moves.
            self.raw = vec![0; extent::MAX_SIZE + DATA_ALIGN];
            let data_addr = self.raw.as_ptr() as usize + extent::HEADER_SIZE;
            self.base = (DATA_ALIGN - data_addr % DATA_ALIGN) % DATA_ALIGN;
        }
        self.len = len.min(extent::MAX_SIZE);
        self.raw
            .get_mut(self.base..self.base + self.len)
            .unwrap_or_default()
    }

    /// The extent as last resized and read.
    fn bytes(&self) -> &[u8] {
        self.raw
            .get(self.base..self.base + self.len)
            .unwrap_or_default()
    }
}

/// Streaming VMA reader over any [`Read`]; it never seeks.
///
/// [`Reader::new`] reads and validates the header. [`Reader::next_cluster`] then yields every cluster in
/// archive order, validating each extent as a whole before yielding any of its clusters. [`Reader::finish`]
/// proves that the archive ended cleanly and that every cluster of every device was present.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    header: Header,
    /// Bytes consumed so far.
    pos: u64,
    /// The current extent: 512-byte header plus data.
    buf: ExtentBuf,
    /// Buffers handed back by [`Reader::recycle`].
    spare: Vec<ExtentBuf>,
    entries: Vec<Entry>,
    next_entry: usize,
    /// Index into `devices` by dev_id.
    dev_index: [Option<u8>; 256],
    devices: Vec<DeviceClusters>,
    summary: Summary,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Eof,
    /// An error was returned at this offset; the reader yields nothing more.
    Failed(u64),
}

impl<R: Read> Reader<R> {
    /// Reads and validates the whole header.
    pub fn new(mut input: R) -> Result<Self> {
        let header = read_header(&mut input)?;
        let mut dev_index = [None; 256];
        let mut devices = Vec::with_capacity(header.devices.len());
        for (i, d) in header.devices.iter().enumerate() {
            dev_index[usize::from(d.id)] = u8::try_from(i).ok();
            devices.push(DeviceClusters::new(&d.name, d.size));
        }
        Ok(Reader {
            input,
            pos: u64::from(header.header_size),
            header,
            buf: ExtentBuf::default(),
            spare: Vec::new(),
            entries: Vec::with_capacity(extent::ENTRIES),
            next_entry: 0,
            dev_index,
            devices,
            summary: Summary::default(),
            state: State::Reading,
        })
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes of the archive consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Totals so far (complete only after [`Reader::finish`]).
    pub fn summary(&self) -> Summary {
        Summary {
            bytes_read: self.pos,
            ..self.summary
        }
    }

    /// The next cluster in archive order, or `None` at a clean end of the archive.
    pub fn next_cluster(&mut self) -> Result<Option<Cluster<'_>>> {
        if !self.fill()? {
            return Ok(None);
        }
        let Some(e) = self.entries.get(self.next_entry).copied() else {
            return Ok(None);
        };
        self.next_entry += 1;
        Ok(Some(e.cluster(self.buf.bytes())))
    }

    /// The clusters of the next extent that [`Reader::next_cluster`] has not yielded yet, all at once
    /// and with the buffer they are in, or `None` at a clean end of the archive. Extents without
    /// clusters are skipped.
    ///
    /// The [`Extent`] owns its data, so another thread can write it out while this one reads the next;
    /// hand it back with [`Reader::recycle`] to reuse its buffer. The stored blocks start on 4 KiB
    /// boundaries in memory, as direct I/O needs.
    pub fn next_extent(&mut self) -> Result<Option<Extent>> {
        if !self.fill()? {
            return Ok(None);
        }
        let entries = self
            .entries
            .get(self.next_entry..)
            .unwrap_or_default()
            .to_vec();
        self.next_entry = self.entries.len();
        let spare = self.spare.pop().unwrap_or_default();
        Ok(Some(Extent {
            buf: std::mem::replace(&mut self.buf, spare),
            entries,
        }))
    }

    /// Takes back an extent's buffer for a later extent, so that a long run allocates only as many
    /// buffers as there are extents in flight.
    pub fn recycle(&mut self, extent: Extent) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            self.spare.push(extent.buf);
        }
    }

    /// Loads extents until one has clusters not yielded yet; `false` at a clean end of the archive.
    fn fill(&mut self) -> Result<bool> {
        if self.next_entry < self.entries.len() {
            return Ok(true);
        }
        match self.state {
            State::Eof => return Ok(false),
            State::Failed(at) => return Err(Error::AfterError { at }),
            State::Reading => {}
        }
        loop {
            match self.load_extent() {
                Ok(true) if self.entries.is_empty() => continue,
                Ok(true) => return Ok(true),
                Ok(false) => {
                    self.state = State::Eof;
                    return Ok(false);
                }
                Err(e) => {
                    // Entries validated before the failure must not be yielded.
                    self.entries.clear();
                    self.state = State::Failed(self.pos);
                    return Err(e);
                }
            }
        }
    }

    /// Confirms the archive ended cleanly and every cluster of every device was present.
    pub fn finish(mut self) -> Result<Summary> {
        if self.next_entry < self.entries.len() {
            return Err(Error::NotAtEnd { at: self.pos });
        }
        if self.state == State::Reading {
            let at = self.pos;
            if self.next_cluster()?.is_some() {
                return Err(Error::NotAtEnd { at });
            }
        }
        if let State::Failed(at) = self.state {
            return Err(Error::AfterError { at });
        }
        for d in &self.devices {
            if let Some(cluster) = d.first_missing() {
                return Err(Error::MissingCluster {
                    device: d.name.clone(),
                    cluster,
                });
            }
        }
        Ok(self.summary())
    }

    /// Reads the whole archive, reporting progress about once per extent, then [`Reader::finish`]es it.
    pub fn verify(mut self, progress: &mut dyn sink::Progress) -> Result<Summary> {
        let mut last_extents = 0;
        while self.next_cluster()?.is_some() {
            if self.summary.extents != last_extents {
                last_extents = self.summary.extents;
                progress.read(self.pos);
            }
        }
        progress.read(self.pos);
        self.finish()
    }

    /// Reads and validates the next extent into `buf`. Returns `false` at a clean end of the archive.
    fn load_extent(&mut self) -> Result<bool> {
        self.entries.clear();
        self.next_entry = 0;
        let at = self.pos;
        let n = read_full(
            &mut self.input,
            self.buf.resize(extent::HEADER_SIZE),
            "extent header",
            at,
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.pos += n as u64;
        if n < extent::HEADER_SIZE {
            return Err(Error::Truncated {
                what: "extent header",
                at,
                needed: extent::HEADER_SIZE as u64,
                available: n as u64,
            });
        }
        let head = self.buf.bytes();
        let magic = format::bytes::<4>(head, extent::MAGIC.start).unwrap_or_default();
        if magic != format::EXTENT_MAGIC {
            return Err(Error::TrailingGarbage { at, found: magic });
        }
        let stored = format::bytes::<16>(head, extent::MD5.start).unwrap_or_default();
        let computed = format::md5_with_zeroed_field(head, extent::MD5);
        if stored != computed {
            return Err(Error::ChecksumMismatch {
                what: "extent header",
                at,
                expected: stored,
                found: computed,
            });
        }
        let uuid = format::bytes::<16>(head, extent::UUID.start).unwrap_or_default();
        if uuid != self.header.uuid {
            return Err(Error::UuidMismatch {
                at: at + extent::UUID.start as u64,
                expected: self.header.uuid,
                found: uuid,
            });
        }
        let reserved = format::be_u16(head, extent::RESERVED.start).unwrap_or_default();
        if reserved != 0 {
            return Err(Error::NonZeroReserved {
                what: "extent field",
                at: at + extent::RESERVED.start as u64,
                found: reserved.into(),
            });
        }
        let block_count = usize::from(format::be_u16(head, extent::BLOCK_COUNT.start).unwrap_or(0));
        if block_count > extent::MAX_BLOCKS {
            return Err(Error::LimitExceeded {
                what: "extent block count",
                at: at + extent::BLOCK_COUNT.start as u64,
                value: block_count as u64,
                limit: extent::MAX_BLOCKS as u64,
            });
        }
        let infos: Vec<(usize, BlockInfo)> = (0..extent::ENTRIES)
            .filter_map(|i| {
                let off = extent::BLOCKINFO + i * extent::BLOCKINFO_SIZE;
                let info = BlockInfo::from_u64(format::be_u64(head, off)?);
                (info.dev_id != 0).then_some((off, info))
            })
            .collect();

        // Exact block accounting, then every entry against its device, before any data is read.
        let counted: u64 = infos
            .iter()
            .map(|(_, i)| u64::from(i.mask.count_ones()))
            .sum();
        if counted != block_count as u64 {
            return Err(Error::BlockCountMismatch {
                at,
                declared: block_count as u64,
                counted,
            });
        }
        let mut data_start = extent::HEADER_SIZE;
        for (off, info) in infos {
            self.account_cluster(info, at + off as u64)?;
            let data_len = info.mask.count_ones() as usize * BLOCK_SIZE as usize;
            self.entries.push(Entry {
                info,
                data_start,
                data_len,
            });
            data_start += data_len;
        }

        // The data: exactly block_count blocks.
        let data_len = block_count * BLOCK_SIZE as usize;
        let data = self.buf.resize(extent::HEADER_SIZE + data_len);
        let data_at = self.pos;
        let n = read_full(
            &mut self.input,
            data.get_mut(extent::HEADER_SIZE..).unwrap_or_default(),
            "extent data",
            data_at,
        )?;
        self.pos += n as u64;
        if n < data_len {
            return Err(Error::Truncated {
                what: "extent data",
                at: data_at,
                needed: data_len as u64,
                available: n as u64,
            });
        }
        self.summary.extents += 1;
        Ok(true)
    }

    /// Checks one blockinfo entry against its device and records the cluster as seen.
    fn account_cluster(&mut self, info: BlockInfo, at: u64) -> Result<()> {
        let dev = self.dev_index[usize::from(info.dev_id)]
            .and_then(|i| self.devices.get_mut(usize::from(i)))
            .ok_or(Error::UnknownDevice {
                dev_id: info.dev_id,
                at,
            })?;
        match dev.record(info.cluster) {
            Ok(()) => {}
            Err(Refusal::OutOfRange) => {
                return Err(Error::ClusterOutOfRange {
                    device: dev.name.clone(),
                    cluster: info.cluster,
                    clusters: dev.clusters,
                    at,
                });
            }
            Err(Refusal::OutOfOrder { expected }) => {
                return Err(Error::VmstateOutOfOrder {
                    device: dev.name.clone(),
                    expected,
                    found: info.cluster,
                    at,
                });
            }
            Err(Refusal::Duplicate) => {
                return Err(Error::DuplicateCluster {
                    device: dev.name.clone(),
                    cluster: info.cluster,
                    at,
                });
            }
        }
        let base = u64::from(info.cluster) * CLUSTER_SIZE;
        let mut stored = 0u64;
        let mut present = 0u64;
        for j in 0..format::BLOCKS_PER_CLUSTER as u32 {
            let start = base + u64::from(j) * BLOCK_SIZE;
            let len = dev.size.saturating_sub(start).min(BLOCK_SIZE);
            present += len;
            if info.mask & (1 << j) != 0 {
                if len == 0 {
                    return Err(Error::BlockPastEnd {
                        device: dev.name.clone(),
                        cluster: info.cluster,
                        block: j,
                        at,
                    });
                }
                stored += len;
            }
        }
        self.summary.clusters += 1;
        self.summary.stored_bytes += stored;
        self.summary.zero_bytes += present - stored;
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(
    input: &mut R,
    buf: &mut [u8],
    what: &'static str,
    at: u64,
) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    what,
                    at: at + n as u64,
                    source,
                });
            }
        }
    }
    Ok(n)
}

/// Reads and validates the header.
fn read_header<R: Read>(input: &mut R) -> Result<Header> {
    let mut buf = vec![0u8; format::HEADER_FIXED_SIZE];
    let n = read_full(input, &mut buf, "header", 0)?;
    let magic = format::bytes::<4>(&buf, 0).unwrap_or_default();
    if n < 4 || magic != format::HEADER_MAGIC {
        if n < 4 {
            return Err(Error::Truncated {
                what: "header",
                at: 0,
                needed: format::HEADER_FIXED_SIZE as u64,
                available: n as u64,
            });
        }
        return Err(Error::BadMagic {
            what: "header",
            at: 0,
            expected: format::HEADER_MAGIC,
            found: magic,
        });
    }
    if n < format::HEADER_FIXED_SIZE {
        return Err(Error::Truncated {
            what: "header",
            at: 0,
            needed: format::HEADER_FIXED_SIZE as u64,
            available: n as u64,
        });
    }
    let header_size = field(&buf, header::HEADER_SIZE);
    if header_size as usize <= format::HEADER_FIXED_SIZE
        || !(header_size as usize).is_multiple_of(format::ALIGN)
    {
        return Err(Error::InvalidField {
            what: "header size",
            at: header::HEADER_SIZE.start as u64,
            expected: "a multiple of 512 greater than 12288",
            found: header_size.into(),
        });
    }
    if header_size > format::MAX_HEADER_SIZE {
        return Err(Error::LimitExceeded {
            what: "header size",
            at: header::HEADER_SIZE.start as u64,
            value: header_size.into(),
            limit: format::MAX_HEADER_SIZE.into(),
        });
    }
    let total = header_size as usize;
    buf.resize(total, 0);
    let more = read_full(
        input,
        &mut buf[format::HEADER_FIXED_SIZE..],
        "header",
        12288,
    )?;
    if format::HEADER_FIXED_SIZE + more < total {
        return Err(Error::Truncated {
            what: "header",
            at: 0,
            needed: total as u64,
            available: (format::HEADER_FIXED_SIZE + more) as u64,
        });
    }
    let stored = format::bytes::<16>(&buf, header::MD5.start).unwrap_or_default();
    let computed = format::md5_with_zeroed_field(&buf, header::MD5);
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            what: "header",
            at: 0,
            expected: stored,
            found: computed,
        });
    }
    let version = format::be_u32(&buf, header::VERSION.start).unwrap_or_default();
    if version != format::VERSION {
        return Err(Error::UnsupportedVersion {
            at: header::VERSION.start as u64,
            found: version,
        });
    }
    let blob_offset = field(&buf, header::BLOB_BUFFER_OFFSET);
    let blob_size = field(&buf, header::BLOB_BUFFER_SIZE);
    if (blob_offset as usize) < format::HEADER_FIXED_SIZE {
        return Err(Error::InvalidField {
            what: "blob buffer offset",
            at: header::BLOB_BUFFER_OFFSET.start as u64,
            expected: "at least 12288",
            found: blob_offset.into(),
        });
    }
    let blob_end = u64::from(blob_offset) + u64::from(blob_size);
    if blob_end > u64::from(header_size) {
        return Err(Error::InvalidField {
            what: "blob buffer size",
            at: header::BLOB_BUFFER_SIZE.start as u64,
            expected: "a blob area that ends inside the header",
            found: blob_size.into(),
        });
    }
    let area = buf
        .get(blob_offset as usize..blob_end as usize)
        .unwrap_or_default();
    let blobs = Blobs::scan(area, u64::from(blob_offset));

    let mut devices = Vec::new();
    let mut names = HashSet::new();
    for id in 1..format::DEV_INFO_COUNT {
        let entry = header::DEV_INFO + id * header::DEV_INFO_SIZE;
        let ptr_at = entry + header::DEV_NAME_PTR;
        let ptr = format::be_u32(&buf, ptr_at).unwrap_or_default();
        let size = format::be_u64(&buf, entry + header::DEV_SIZE).unwrap_or_default();
        if size == 0 || ptr == 0 {
            continue;
        }
        let what = "device name";
        let name = blobs.name(ptr, ptr_at as u64, what, || format!("device {id} name"))?;
        if !names.insert(name.clone()) {
            return Err(Error::DuplicateName {
                what,
                at: blobs.base + u64::from(ptr),
                name,
            });
        }
        devices.push(Device {
            id: u8::try_from(id).unwrap_or_default(),
            name,
            size,
        });
    }

    let mut configs = Vec::new();
    names.clear();
    for slot in 0..format::MAX_CONFIGS {
        let name_at = header::CONFIG_NAMES + 4 * slot;
        let data_at = header::CONFIG_DATA + 4 * slot;
        let name_ptr = format::be_u32(&buf, name_at).unwrap_or_default();
        let data_ptr = format::be_u32(&buf, data_at).unwrap_or_default();
        if name_ptr == 0 || data_ptr == 0 {
            continue;
        }
        let what = "config name";
        let name = blobs.name(name_ptr, name_at as u64, what, || {
            format!("config {slot} name")
        })?;
        let data = blobs
            .get(data_ptr)
            .ok_or_else(|| Error::BadBlobPointer {
                what: format!("config {slot} data"),
                at: data_at as u64,
                pointer: data_ptr,
            })?
            .to_vec();
        if !names.insert(name.clone()) {
            return Err(Error::DuplicateName {
                what,
                at: blobs.base + u64::from(name_ptr),
                name,
            });
        }
        configs.push(Config { name, data });
    }

    Ok(Header {
        uuid: format::bytes(&buf, header::UUID.start).unwrap_or_default(),
        ctime: i64::from_be_bytes(format::bytes(&buf, header::CTIME.start).unwrap_or_default()),
        header_size,
        configs,
        devices,
    })
}

/// A u32 header field.
fn field(buf: &[u8], r: core::ops::Range<usize>) -> u32 {
    format::be_u32(buf, r.start).unwrap_or_default()
}

/// The blob area with the set of registered blob starts.
struct Blobs<'a> {
    area: &'a [u8],
    /// Absolute offset of the blob area.
    base: u64,
    /// Bit p set: a blob starts at offset p.
    starts: Vec<u64>,
}

impl<'a> Blobs<'a> {
    /// Registers every blob that lies fully inside the area, scanning from offset 1.
    fn scan(area: &'a [u8], base: u64) -> Self {
        let mut starts = vec![0u64; area.len().div_ceil(64)];
        let mut pos = 1usize;
        while let Some(len) = format::bytes::<2>(area, pos).map(u16::from_le_bytes) {
            let next = pos + 2 + usize::from(len);
            if next <= area.len()
                && let Some(word) = starts.get_mut(pos / 64)
            {
                *word |= 1 << (pos % 64);
            }
            pos = next;
        }
        Blobs { area, base, starts }
    }

    /// The contents of the blob starting at `ptr`, if one does.
    fn get(&self, ptr: u32) -> Option<&'a [u8]> {
        let p = usize::try_from(ptr).ok()?;
        if self.starts.get(p / 64)? & (1 << (p % 64)) == 0 {
            return None;
        }
        let len = usize::from(u16::from_le_bytes(format::bytes(self.area, p)?));
        self.area.get(p + 2..p + 2 + len)
    }

    /// A NUL-terminated name blob, validated for use in file names.
    fn name(
        &self,
        ptr: u32,
        ptr_at: u64,
        what: &'static str,
        describe: impl Fn() -> String,
    ) -> Result<String> {
        let blob = self.get(ptr).ok_or_else(|| Error::BadBlobPointer {
            what: describe(),
            at: ptr_at,
            pointer: ptr,
        })?;
        let at = self.base + u64::from(ptr);
        let bad = |name: &[u8], reason| Error::BadName {
            what,
            at,
            name: String::from_utf8_lossy(name).into_owned(),
            reason,
        };
        let Some((0, text)) = blob.split_last() else {
            return Err(bad(blob, "it is not NUL-terminated"));
        };
        let name = std::str::from_utf8(text).map_err(|_| bad(text, "it is not valid UTF-8"))?;
        if let Some(reason) = format::name_problem(name) {
            return Err(bad(text, reason));
        }
        Ok(name.to_owned())
    }
}
