//! Filesystem and container sniffing by superblock magic.

use serde::Serialize;

use crate::format::*;

/// What a partition (or a whole image, or a logical volume) holds, judged by its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FsKind {
    /// ext2 (no journal, no ext4 features).
    Ext2,
    /// ext3 (journal, no ext4 features).
    Ext3,
    /// ext4 (extents, 64bit, flex_bg, checksums...).
    Ext4,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
    /// FAT12, FAT16 or FAT32.
    Vfat,
    /// exFAT.
    Exfat,
    /// NTFS.
    Ntfs,
    /// Linux swap.
    Swap,
    /// LUKS encrypted container (version 1 or 2).
    Luks,
    /// LVM2 physical volume.
    Lvm2Pv,
    /// ISO 9660 (CD/DVD image).
    Iso9660,
    /// squashfs.
    Squashfs,
    /// Nothing recognised.
    Unknown,
}

impl FsKind {
    /// The filesystem type to pass to mount(2), or `None` for containers and unknown data.
    pub fn mount_type(self) -> Option<&'static str> {
        match self {
            FsKind::Swap | FsKind::Luks | FsKind::Lvm2Pv | FsKind::Unknown => None,
            // The in-kernel NTFS driver registers itself as ntfs3.
            FsKind::Ntfs => Some("ntfs3"),
            other => Some(other.name()),
        }
    }

    /// A short lower-case name (`ext4`, `lvm2_pv`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Vfat => "vfat",
            FsKind::Exfat => "exfat",
            FsKind::Ntfs => "ntfs",
            FsKind::Swap => "swap",
            FsKind::Luks => "luks",
            FsKind::Lvm2Pv => "lvm2_pv",
            FsKind::Iso9660 => "iso9660",
            FsKind::Squashfs => "squashfs",
            FsKind::Unknown => "unknown",
        }
    }
}

/// What the sniffer learnt from a superblock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsInfo {
    /// The filesystem or container kind.
    pub kind: FsKind,
    /// Volume label, where the format has one in its superblock.
    pub label: Option<String>,
    /// Volume UUID or serial number, formatted the way `blkid` prints it.
    pub uuid: Option<String>,
    /// Format variant or notable features (`FAT32`, `LUKS2`, `has_journal extent 64bit`...).
    pub detail: Option<String>,
    /// Size the filesystem declares for itself in bytes, where the superblock says.
    pub size: Option<u64>,
    /// The first 16 bytes in hex, for unknown content.
    pub first_bytes: Option<String>,
}

impl FsInfo {
    fn new(kind: FsKind) -> Self {
        FsInfo {
            kind,
            label: None,
            uuid: None,
            detail: None,
            size: None,
            first_bytes: None,
        }
    }
}

/// Identifies the content of `b`, the first bytes (up to [`SNIFF_LEN`]) of a partition.
pub(crate) fn sniff(b: &[u8]) -> FsInfo {
    sniff_known(b).unwrap_or_else(|| {
        let mut info = FsInfo::new(FsKind::Unknown);
        info.first_bytes = Some(hex(b.get(..16).unwrap_or(b)));
        info
    })
}

fn sniff_known(b: &[u8]) -> Option<FsInfo> {
    // Order matters: signatures at byte 0 first, then the ones further in, so that for example a
    // LUKS header is not mistaken for whatever follows it.
    if bytes(b, 0, 6) == Some(LUKS_MAGIC) {
        return Some(luks(b));
    }
    if bytes(b, 0, 4) == Some(XFS_MAGIC) {
        return Some(xfs(b));
    }
    if bytes(b, 0, 4) == Some(SQUASHFS_MAGIC) {
        let mut i = FsInfo::new(FsKind::Squashfs);
        if let (Some(major), Some(minor)) = (le16(b, 28), le16(b, 30)) {
            i.detail = Some(format!("version {major}.{minor}"));
        }
        i.size = le64(b, 40);
        return Some(i);
    }
    if bytes(b, 3, 8) == Some(NTFS_MAGIC) {
        let mut i = FsInfo::new(FsKind::Ntfs);
        i.uuid = le64(b, 0x48)
            .filter(|s| *s != 0)
            .map(|s| format!("{s:016X}"));
        if let (Some(bps), Some(sectors)) = (le16(b, 11), le64(b, 0x28)) {
            i.size = sectors.checked_mul(u64::from(bps));
        }
        return Some(i);
    }
    if bytes(b, 3, 8) == Some(EXFAT_MAGIC) {
        let mut i = FsInfo::new(FsKind::Exfat);
        i.uuid = le32(b, 100).map(fat_serial);
        return Some(i);
    }
    if let Some(i) = fat(b) {
        return Some(i);
    }
    if let Some(i) = lvm_pv(b) {
        return Some(i);
    }
    if le16(b, EXT_SUPERBLOCK + 56) == Some(0xEF53) {
        return Some(ext(b));
    }
    if bytes(b, BTRFS_SUPERBLOCK + 0x40, 8) == Some(BTRFS_MAGIC) {
        return Some(btrfs(b));
    }
    if bytes(b, ISO9660_PVD + 1, 5) == Some(ISO9660_MAGIC) {
        return Some(iso9660(b));
    }
    swap(b)
}

fn luks(b: &[u8]) -> FsInfo {
    let mut i = FsInfo::new(FsKind::Luks);
    let version = b.get(6..8).map(|v| u16::from_be_bytes([v[0], v[1]]));
    i.detail = version.map(|v| format!("LUKS{v}"));
    i.uuid = bytes(b, 168, 40).and_then(label);
    if version == Some(2) {
        i.label = bytes(b, 24, 48).and_then(label);
    }
    i
}

fn xfs(b: &[u8]) -> FsInfo {
    let mut i = FsInfo::new(FsKind::Xfs);
    i.uuid = bytes(b, 32, 16).and_then(uuid_be);
    i.label = bytes(b, 108, 12).and_then(label);
    if let (Some(bs), Some(blocks)) = (be32(b, 4), be64(b, 8)) {
        i.size = blocks.checked_mul(u64::from(bs));
    }
    i.detail = b
        .get(0x64..0x66)
        .map(|v| format!("v{}", u16::from_be_bytes([v[0], v[1]]) & 0xf));
    i
}

/// A FAT boot sector: the type string plus a plausible BIOS parameter block.
fn fat(b: &[u8]) -> Option<FsInfo> {
    let bps = le16(b, 11)?;
    let spc = *b.get(13)?;
    let sane = matches!(bps, 512 | 1024 | 2048 | 4096) && spc.is_power_of_two();
    if !sane {
        return None;
    }
    let (variant, serial_at, label_at) = if bytes(b, 82, 5) == Some(b"FAT32") {
        ("FAT32", 67, 71)
    } else if bytes(b, 54, 5).is_some_and(|s| s == b"FAT12" || s == b"FAT16" || s == b"FAT  ") {
        (
            if bytes(b, 54, 5) == Some(b"FAT12") {
                "FAT12"
            } else {
                "FAT16"
            },
            39,
            43,
        )
    } else {
        return None;
    };
    let mut i = FsInfo::new(FsKind::Vfat);
    i.detail = Some(variant.to_string());
    i.uuid = le32(b, serial_at).map(fat_serial);
    i.label = bytes(b, label_at, 11)
        .and_then(label)
        .filter(|l| l != "NO NAME");
    let total = match le16(b, 19)? {
        0 => le32(b, 32)?,
        n => u32::from(n),
    };
    i.size = u64::from(total).checked_mul(u64::from(bps));
    Some(i)
}

fn fat_serial(s: u32) -> String {
    format!("{:04X}-{:04X}", s >> 16, s & 0xffff)
}

fn lvm_pv(b: &[u8]) -> Option<FsInfo> {
    (0..4).find_map(|sector| {
        let at = sector * 512;
        if bytes(b, at, 8) == Some(LVM_LABEL_ID) && bytes(b, at + 24, 8) == Some(LVM_LABEL_TYPE) {
            let mut i = FsInfo::new(FsKind::Lvm2Pv);
            i.uuid = bytes(b, at + 32, 32).map(lvm_uuid);
            i.detail = Some(format!("label in sector {sector}"));
            Some(i)
        } else {
            None
        }
    })
}

/// Formats a 32-character LVM2 UUID the way LVM prints it (6-4-4-4-4-4-6).
pub(crate) fn lvm_uuid(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw).to_string();
    if s.len() != 32 || !s.is_ascii() {
        return s;
    }
    let cuts = [6, 10, 14, 18, 22, 26];
    let mut out = String::with_capacity(38);
    for (i, c) in s.chars().enumerate() {
        if cuts.contains(&i) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

fn ext(b: &[u8]) -> FsInfo {
    const COMPAT_HAS_JOURNAL: u32 = 0x4;
    const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
    // Incompat and ro-compat features that ext3 does not know: their presence means ext4.
    const INCOMPAT_EXT3: u32 = 0x2 | 0x4 | 0x10; // filetype, recover, meta_bg
    const RO_COMPAT_EXT3: u32 = 0x1 | 0x2 | 0x4; // sparse_super, large_file, btree_dir
    const NAMES: &[(usize, u32, &str)] = &[
        (92, 0x4, "has_journal"),
        (92, 0x200, "sparse_super2"),
        (96, 0x40, "extent"),
        (96, 0x80, "64bit"),
        (96, 0x200, "flex_bg"),
        (96, 0x10000, "encrypt"),
        (96, 0x20000, "casefold"),
        (100, 0x8, "huge_file"),
        (100, 0x400, "metadata_csum"),
    ];
    let sb = b.get(EXT_SUPERBLOCK..).unwrap_or(&[]);
    let compat = le32(sb, 92).unwrap_or(0);
    let incompat = le32(sb, 96).unwrap_or(0);
    let ro_compat = le32(sb, 100).unwrap_or(0);
    let ext4_only = incompat & !INCOMPAT_EXT3 != 0 || ro_compat & !RO_COMPAT_EXT3 != 0;
    let kind = if ext4_only {
        FsKind::Ext4
    } else if compat & COMPAT_HAS_JOURNAL != 0 {
        FsKind::Ext3
    } else {
        FsKind::Ext2
    };
    let mut i = FsInfo::new(kind);
    i.uuid = bytes(sb, 104, 16).and_then(uuid_be);
    i.label = bytes(sb, 120, 16).and_then(label);
    let mut features: Vec<&str> = NAMES
        .iter()
        .filter(|(off, bit, _)| le32(sb, *off).is_some_and(|v| v & bit != 0))
        .map(|(_, _, n)| *n)
        .collect();
    if incompat & INCOMPAT_JOURNAL_DEV != 0 {
        features.push("journal_dev");
    }
    i.detail = (!features.is_empty()).then(|| features.join(" "));
    let log = le32(sb, 24).unwrap_or(u32::MAX);
    let block_size = 1024u64.checked_shl(log).filter(|_| log <= 6);
    let lo = le32(sb, 4).map(u64::from);
    let hi = if incompat & 0x80 != 0 {
        le32(sb, 0x150).map(u64::from)
    } else {
        Some(0)
    };
    if let (Some(bs), Some(lo), Some(hi)) = (block_size, lo, hi) {
        i.size = ((hi << 32) | lo).checked_mul(bs);
    }
    i
}

fn btrfs(b: &[u8]) -> FsInfo {
    let sb = b.get(BTRFS_SUPERBLOCK..).unwrap_or(&[]);
    let mut i = FsInfo::new(FsKind::Btrfs);
    i.uuid = bytes(sb, 0x20, 16).and_then(uuid_be);
    i.label = bytes(sb, 0x12b, 256).and_then(label);
    i.size = le64(sb, 0x70);
    if let Some(n) = le64(sb, 0x88).filter(|n| *n > 1) {
        i.detail = Some(format!("{n} devices: mounting needs all of them"));
    }
    i
}

fn iso9660(b: &[u8]) -> FsInfo {
    let pvd = b.get(ISO9660_PVD..).unwrap_or(&[]);
    let mut i = FsInfo::new(FsKind::Iso9660);
    i.label = bytes(pvd, 40, 32).and_then(label);
    // blkid derives the UUID from the creation (or modification) date: YYYY-MM-DD-HH-MM-SS-cc.
    let date = |at| {
        let d = bytes(pvd, at, 16)?;
        (d.iter().all(u8::is_ascii_digit) && d.iter().any(|c| *c != b'0')).then(|| {
            let s = String::from_utf8_lossy(d);
            format!(
                "{}-{}-{}-{}-{}-{}-{}",
                &s[0..4],
                &s[4..6],
                &s[6..8],
                &s[8..10],
                &s[10..12],
                &s[12..14],
                &s[14..16]
            )
        })
    };
    i.uuid = date(830).or_else(|| date(813));
    if let (Some(blocks), Some(bs)) = (le32(pvd, 80), le16(pvd, 128)) {
        i.size = u64::from(blocks).checked_mul(u64::from(bs));
    }
    i
}

fn swap(b: &[u8]) -> Option<FsInfo> {
    let page = SWAP_PAGE_SIZES
        .iter()
        .find(|p| bytes(b, *p - 10, 10).is_some_and(|m| SWAP_MAGICS.iter().any(|s| m == *s)))?;
    let mut i = FsInfo::new(FsKind::Swap);
    let v2 = bytes(b, page - 10, 10) == Some(b"SWAPSPACE2");
    if v2 {
        i.uuid = bytes(b, 1024 + 12, 16).and_then(uuid_be);
        i.label = bytes(b, 1024 + 28, 16).and_then(label);
        let last_page = le32(b, 1024 + 4).map(u64::from);
        i.size = last_page.and_then(|l| l.checked_add(1)?.checked_mul(*page as u64));
    }
    i.detail = Some(format!(
        "{}, page size {page}",
        if v2 { "v1" } else { "v0" }
    ));
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_shows_first_bytes() {
        let i = sniff(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(i.kind, FsKind::Unknown);
        assert_eq!(i.first_bytes.as_deref(), Some("de ad be ef"));
    }

    #[test]
    fn ext_feature_classes() {
        let mut b = vec![0u8; 2048];
        b[1024 + 56] = 0x53;
        b[1024 + 57] = 0xEF;
        assert_eq!(sniff(&b).kind, FsKind::Ext2);
        b[1024 + 92] = 0x4;
        assert_eq!(sniff(&b).kind, FsKind::Ext3);
        b[1024 + 96] = 0x40;
        assert_eq!(sniff(&b).kind, FsKind::Ext4);
    }

    #[test]
    fn lvm_uuid_dashes() {
        assert_eq!(
            lvm_uuid(b"S8TWlpY2PpznjiPMb9UkWzxjQGZU4haz"),
            "S8TWlp-Y2Pp-znji-PMb9-UkWz-xjQG-ZU4haz"
        );
    }
}
