//! Partition tables, LVM2 volumes and filesystem signatures of a raw disk image, in bytes.
//!
//! After a restore, a user holds a raw disk image and wants the files inside. The kernels this
//! project targets scan no partition tables and have no device-mapper, so the partition maths
//! happens here, in userspace: [`scan`] reads an image (any `Read + Seek`: a file or a block
//! device) and returns a [`Scan`] that says, for every partition and every linear LVM2 logical
//! volume, the byte offset and size at which a loop device can expose it, and what filesystem its
//! superblock announces. [`Scan::mount_targets`] condenses this into `(offset, size, fstype)`
//! triples for the `loopmount` crate, and [`Scan::select`] picks one of them by partition number,
//! by `vg/lv` or automatically (exactly one candidate), or says precisely why it cannot
//! ([`SelectError`]: ambiguous, encrypted, an LVM PV, swap, unknown data...).
//!
//! # What is read
//!
//! - **GPT** ([UEFI spec, chapter 5](https://uefi.org/specifications)): the primary header at
//!   LBA 1 with its CRC-32 and the entry array's CRC-32; when the primary copy is damaged the
//!   backup at the last LBA is used and [`Scan::warnings`] says so. Logical sectors of 512 and
//!   4096 bytes are detected by where `EFI PART` sits. Partition numbers are entry indices from 1.
//! - **MBR**: four primary entries (numbers 1–4) and the chain of extended boot records (logical
//!   partitions 5 and up, as Linux numbers them). A chain that loops or points outside its
//!   extended partition is an error, never a hang. A protective MBR leads to the GPT.
//! - **Filesystem signatures** ([`FsKind`]): ext2/3/4 (label, UUID, features decide which), XFS,
//!   btrfs, FAT12/16/32, exFAT, NTFS, swap, LUKS, LVM2 PV, ISO 9660 and squashfs; anything else is
//!   `unknown` with its first bytes in hex. An image without a table whose first bytes are a
//!   filesystem is reported in [`Scan::whole_disk_fs`].
//! - **LVM2**: the PV label, the metadata area header and the current metadata text of its
//!   circular buffer (newest sequence number across all PVs of a VG). Each [`LogicalVolume`] gets
//!   its byte extents; one that is a single linear run on a PV inside this image has
//!   [`LogicalVolume::byte_range`], everything else (striped, thin, raid, snapshots, spread over
//!   PVs or missing PVs) carries the reason it needs device-mapper.
//!
//! # Safety against hostile input
//!
//! Every read is bounded ([`MAX_GPT_ENTRIES`], [`MAX_LVM_METADATA`], at most 16 MiB at once), all
//! offset arithmetic is checked, and malformed structures become [`Error`] values naming the
//! structure and its absolute byte offset; nothing here panics on input. A fuzz target
//! (`fuzz/fuzz_targets/partitions_scan.rs`) keeps it that way.
//!
//! # Non-goals
//!
//! Writing or repairing tables, BSD disklabels, Apple partition maps, MD RAID, reading files
//! inside filesystems (that is `fsread`), and activating LVM (that needs device-mapper).
//!
//! # Example
//!
//! ```
//! use std::io::Cursor;
//!
//! // A 4 MiB image with an MBR holding one Linux partition from 1 MiB on, which holds an ext2
//! // superblock (magic 0xEF53 at byte 0x438 of the partition).
//! let mut img = vec![0u8; 4 << 20];
//! img[446 + 4] = 0x83; // type: Linux
//! img[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes()); // first sector
//! img[446 + 12..446 + 16].copy_from_slice(&4096u32.to_le_bytes()); // sectors
//! img[510..512].copy_from_slice(&[0x55, 0xAA]);
//! img[(1 << 20) + 0x438..(1 << 20) + 0x43a].copy_from_slice(&[0x53, 0xEF]);
//!
//! let scan = partitions::scan(&mut Cursor::new(img))?;
//! assert_eq!(scan.table, partitions::TableKind::Mbr);
//! let p = &scan.partitions[0];
//! assert_eq!((p.number, p.start, p.size, p.type_name.as_str()), (1, 1 << 20, 2 << 20, "Linux"));
//! let t = &scan.mount_targets()[0];
//! assert_eq!((t.id.as_str(), t.offset, t.size, t.fstype), ("1", 1 << 20, 2 << 20, "ext2"));
//! assert_eq!(scan.select(partitions::Selector::Auto, false)?, *t);
//! assert!(scan.select(partitions::Selector::Partition(2), false).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod disk;
mod error;
mod format;
mod fs;
mod gpt;
mod lvm;
mod lvm_text;
mod mbr;
mod select;
mod types;

use std::io::{Read, Seek};

use diskview::ReadAt;

use serde::Serialize;

pub use error::{Error, Result};
pub use fs::{FsInfo, FsKind};
pub use gpt::{MAX_GPT_ENTRIES, MAX_GPT_ENTRY_SIZE};
pub use lvm::{ByteExtent, LogicalVolume, LvSegment, MAX_LVM_METADATA, PvInfo, VgPv, VolumeGroup};
pub use mbr::MAX_LOGICAL_PARTITIONS;
pub use select::{SelectError, Selector};
pub use types::{gpt_type_name, mbr_type_name};

use disk::Disk;
use format::{SNIFF_LEN, le32};

/// Which partition table the image has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// DOS/MBR partition table.
    Mbr,
    /// No partition table: see [`Scan::whole_disk_fs`].
    None,
}

/// Where a partition sits in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartitionKind {
    /// An MBR primary partition (1–4).
    Primary,
    /// The MBR extended partition that holds the logical ones.
    Extended,
    /// An MBR logical partition (5 and up).
    Logical,
    /// A GPT entry.
    Gpt,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Number as Linux gives it: MBR 1–4 primary, 5+ logical; GPT entry index from 1.
    pub number: u32,
    /// Primary, extended, logical or GPT.
    pub kind: PartitionKind,
    /// Absolute byte offset of the first byte.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// First sector (in units of [`Scan::sector_size`]).
    pub start_sector: u64,
    /// Last sector, inclusive.
    pub end_sector: u64,
    /// Human name of the type (`Linux`, `EFI System`...).
    pub type_name: String,
    /// The raw type: `0x83` for MBR, the type GUID for GPT.
    pub type_id: String,
    /// GPT partition name.
    pub name: Option<String>,
    /// GPT unique partition GUID.
    pub guid: Option<String>,
    /// MBR boot flag (0x80).
    pub bootable: bool,
    /// What the partition's first bytes hold (`None` for the extended container).
    pub fs: Option<FsInfo>,
    /// The LVM2 PV label, when the partition is a PV.
    pub lvm: Option<PvInfo>,
}

/// Result of [`scan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// Partition table kind.
    pub table: TableKind,
    /// Logical sector size in bytes (512 or 4096).
    pub sector_size: u64,
    /// Image size in bytes.
    pub disk_size: u64,
    /// GPT disk GUID, or the MBR disk signature as `0x%08x`.
    pub disk_id: Option<String>,
    /// Partitions in table order (logical partitions after the extended one).
    pub partitions: Vec<Partition>,
    /// What the image holds at byte 0 when it has no partition table.
    pub whole_disk_fs: Option<FsInfo>,
    /// LVM2 whole-disk PV label, when the image itself is a PV.
    pub whole_disk_lvm: Option<PvInfo>,
    /// LVM2 volume groups assembled from every PV in the image.
    pub volume_groups: Vec<VolumeGroup>,
    /// Things the user must read: backup GPT used, truncation, checksum problems...
    pub warnings: Vec<String>,
}

/// Something that can be loop-mounted by offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountTarget {
    /// `1`, `5`... for partitions, `vg/lv` for logical volumes, `disk` for a whole-disk filesystem.
    pub id: String,
    /// Absolute byte offset in the image.
    pub offset: u64,
    /// Size in bytes (the loop device's size limit).
    pub size: u64,
    /// Filesystem type for mount(2).
    pub fstype: &'static str,
    /// The filesystem kind.
    pub fs: FsKind,
    /// Volume label, if any.
    pub label: Option<String>,
}

impl Scan {
    /// Every partition, logical volume or whole-disk filesystem that mount(2) could read, as
    /// `(offset, size, fstype)` with an id the user can name.
    pub fn mount_targets(&self) -> Vec<MountTarget> {
        let target = |id: String, offset, size, fs: &FsInfo| {
            fs.kind.mount_type().map(|fstype| MountTarget {
                id,
                offset,
                size,
                fstype,
                fs: fs.kind,
                label: fs.label.clone(),
            })
        };
        let mut out = Vec::new();
        if let Some(fs) = &self.whole_disk_fs {
            out.extend(target("disk".into(), 0, self.disk_size, fs));
        }
        for p in &self.partitions {
            if let Some(fs) = &p.fs {
                out.extend(target(p.number.to_string(), p.start, p.size, fs));
            }
        }
        for vg in &self.volume_groups {
            for lv in &vg.logical_volumes {
                if let (Some(r), Some(fs)) = (lv.byte_range(), &lv.fs) {
                    out.extend(target(
                        format!("{}/{}", vg.name, lv.name),
                        r.offset,
                        r.size,
                        fs,
                    ));
                }
            }
        }
        out
    }

    /// The partition with Linux number `number`.
    pub fn partition(&self, number: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.number == number)
    }

    /// The logical volume named `vg/lv`.
    pub fn logical_volume(&self, vg_lv: &str) -> Option<&LogicalVolume> {
        let (vg, lv) = vg_lv.split_once('/')?;
        self.volume_groups
            .iter()
            .filter(|g| g.name == vg)
            .flat_map(|g| &g.logical_volumes)
            .find(|l| l.name == lv)
    }
}

/// Options for [`scan_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Force a logical sector size (512, 1024, 2048 or 4096) instead of detecting it.
    pub sector_size: Option<u64>,
}

impl ScanOptions {
    /// Options with a forced logical sector size.
    pub fn with_sector_size(sector_size: u64) -> Self {
        ScanOptions {
            sector_size: Some(sector_size),
        }
    }
}

/// Scans an image with default options: see the crate documentation.
pub fn scan<R: Read + Seek>(image: &mut R) -> Result<Scan> {
    scan_with(image, &ScanOptions::default())
}

/// Scans an image (a file, a block device, anything `Read + Seek`): partition table, filesystem
/// signatures, LVM2 volumes.
pub fn scan_with<R: Read + Seek>(image: &mut R, opts: &ScanOptions) -> Result<Scan> {
    let view = diskview::Seekable::new(image).map_err(|source| Error::Io {
        at: 0,
        len: 0,
        source,
    })?;
    scan_view(&view, opts)
}

/// Scans any random-access view of a disk ([`diskview::ReadAt`]): what every source of round 2
/// (PBS images, virtnbdbackup chains, staged archives) hands in.
pub fn scan_view<V: ReadAt + ?Sized>(image: &V, opts: &ScanOptions) -> Result<Scan> {
    let sizes: Vec<u64> = match opts.sector_size {
        Some(s) if matches!(s, 512 | 1024 | 2048 | 4096) => vec![s],
        Some(s) => {
            return Err(Error::Invalid {
                what: "sector size option",
                at: 0,
                reason: format!("{s} is not 512, 1024, 2048 or 4096"),
            });
        }
        None => vec![512, 4096],
    };
    let mut disk = Disk::new(image);
    let mut warnings = Vec::new();
    let mbr = disk.read_up_to(0, 512)?;
    let protective = mbr::is_protective(&mbr);
    let mut scan = Scan {
        table: TableKind::None,
        sector_size: sizes.first().copied().unwrap_or(512),
        disk_size: disk.size(),
        disk_id: None,
        partitions: Vec::new(),
        whole_disk_fs: None,
        whole_disk_lvm: None,
        volume_groups: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some((gpt, ss)) = gpt::probe(&mut disk, &sizes, protective, &mut warnings)? {
        scan.table = TableKind::Gpt;
        scan.sector_size = ss;
        scan.disk_id = Some(gpt.header.disk_guid.clone());
        if !protective {
            warnings.push("the GPT has no protective MBR entry (type 0xee)".into());
        } else if mbr::looks_like_mbr(&mbr)
            && mbr::entries(&mbr).is_some_and(|e| e.iter().filter(|p| p.ptype != 0).count() > 1)
        {
            warnings
                .push("hybrid MBR: the GPT is used, the MBR's other entries are ignored".into());
        }
        for e in gpt.entries {
            let at = gpt.header.at;
            let start = mul(e.first_lba, ss, "GPT partition start", at)?;
            let sectors = (e.last_lba - e.first_lba)
                .checked_add(1)
                .ok_or(Error::OutOfRange {
                    what: "GPT partition last LBA",
                    at,
                    value: e.last_lba,
                    limit: u64::MAX - 1,
                })?;
            scan.partitions.push(Partition {
                number: e.number,
                kind: PartitionKind::Gpt,
                start,
                size: mul(sectors, ss, "GPT partition size", at)?,
                start_sector: e.first_lba,
                end_sector: e.last_lba,
                type_name: gpt_type_name(&e.type_guid).to_string(),
                type_id: e.type_guid,
                name: Some(e.name).filter(|n| !n.is_empty()),
                guid: Some(e.guid),
                bootable: false,
                fs: None,
                lvm: None,
            });
        }
    } else {
        let head = disk.read_up_to(0, SNIFF_LEN)?;
        let fs0 = fs::sniff(&head);
        let boot_sector_fs = matches!(fs0.kind, FsKind::Vfat | FsKind::Ntfs | FsKind::Exfat);
        if mbr::looks_like_mbr(&mbr) && !boot_sector_fs && fs0.kind != FsKind::Iso9660 {
            let ss = scan.sector_size;
            scan.table = TableKind::Mbr;
            scan.disk_id = le32(&mbr, 440).map(|s| format!("{s:#010x}"));
            for p in mbr::parse(&mut disk, &mbr, ss, &mut warnings)? {
                scan.partitions.push(Partition {
                    number: p.number,
                    kind: match p.role {
                        mbr::Role::Primary => PartitionKind::Primary,
                        mbr::Role::Extended => PartitionKind::Extended,
                        mbr::Role::Logical => PartitionKind::Logical,
                    },
                    start: mul(p.start, ss, "MBR partition start", 0)?,
                    size: mul(p.sectors, ss, "MBR partition size", 0)?,
                    start_sector: p.start,
                    end_sector: p.start + p.sectors.saturating_sub(1),
                    type_name: mbr_type_name(p.ptype).to_string(),
                    type_id: format!("{:#04x}", p.ptype),
                    name: None,
                    guid: None,
                    bootable: p.bootable,
                    fs: None,
                    lvm: None,
                });
            }
        } else {
            if fs0.kind == FsKind::Iso9660 && mbr::looks_like_mbr(&mbr) {
                warnings.push(
                    "ISO 9660 image with an MBR (isohybrid): read as a whole-disk ISO".into(),
                );
            }
            scan.whole_disk_fs = Some(fs0);
        }
    }
    let mut pvs = Vec::new();
    for p in &mut scan.partitions {
        let end = p.start.checked_add(p.size);
        if end.is_none_or(|e| e > scan.disk_size) {
            warnings.push(format!(
                "partition {} (bytes {}..{}) extends past the end of the image ({} bytes): the image \
                 may be truncated",
                p.number,
                p.start,
                end.map_or_else(|| "overflow".to_string(), |e| e.to_string()),
                scan.disk_size
            ));
        }
        if p.kind == PartitionKind::Extended || p.start >= scan.disk_size {
            continue;
        }
        let head = disk.read_up_to(p.start, SNIFF_LEN.min(p.size))?;
        let info = fs::sniff(&head);
        check_fs_size(
            &info,
            p.size,
            &format!("partition {}", p.number),
            &mut warnings,
        );
        if info.kind == FsKind::Lvm2Pv {
            match lvm::read_pv(&mut disk, p.start, p.size, &mut warnings) {
                Ok(pv) => {
                    p.lvm = Some(pv.info.clone());
                    pvs.push(pv);
                }
                Err(e) => warnings.push(format!("partition {}: {e}", p.number)),
            }
        }
        p.fs = Some(info);
    }
    if let Some(info) = &scan.whole_disk_fs {
        check_fs_size(
            info,
            scan.disk_size,
            "the whole-disk filesystem",
            &mut warnings,
        );
        if info.kind == FsKind::Lvm2Pv {
            match lvm::read_pv(&mut disk, 0, scan.disk_size, &mut warnings) {
                Ok(pv) => {
                    scan.whole_disk_lvm = Some(pv.info.clone());
                    pvs.push(pv);
                }
                Err(e) => warnings.push(format!("whole-disk LVM2 PV: {e}")),
            }
        }
    }
    scan.volume_groups = lvm::assemble(&mut disk, &pvs, &mut warnings);
    for lv in scan.volume_groups.iter().flat_map(|g| &g.logical_volumes) {
        if let (Some(fs), Some(r)) = (&lv.fs, lv.byte_range()) {
            check_fs_size(
                fs,
                r.size,
                &format!("LV {}/{}", lv.vg, lv.name),
                &mut warnings,
            );
        }
    }
    scan.warnings = warnings;
    Ok(scan)
}

fn mul(a: u64, b: u64, what: &'static str, at: u64) -> Result<u64> {
    a.checked_mul(b).ok_or(Error::OutOfRange {
        what,
        at,
        value: a,
        limit: u64::MAX / b.max(1),
    })
}

fn check_fs_size(fs: &FsInfo, container: u64, name: &str, warnings: &mut Vec<String>) {
    if let Some(size) = fs.size.filter(|s| *s > container) {
        warnings.push(format!(
            "{name}: the {} filesystem says it is {size} bytes, larger than its {container}-byte \
             container: it may not mount",
            fs.kind.name()
        ));
    }
}
