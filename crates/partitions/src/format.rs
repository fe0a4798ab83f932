//! Magic numbers, fixed offsets and little helpers to decode on-disk fields.
//!
//! Every constant here is a fact of a published on-disk format; the comment says where it comes
//! from. Do not change them.

/// MBR boot signature `55 AA` at byte 510 of the MBR and of each EBR (IBM PC MBR layout).
pub(crate) const MBR_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// Offset of the four 16-byte partition entries in an MBR/EBR.
pub(crate) const MBR_TABLE_OFFSET: usize = 446;
/// MBR partition type of a GPT protective entry (UEFI spec 2.x, 5.2.3).
pub(crate) const MBR_TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// MBR partition types that hold a chain of EBRs: DOS extended, Win95 extended (LBA), Linux extended.
pub(crate) const MBR_EXTENDED_TYPES: [u8; 3] = [0x05, 0x0F, 0x85];

/// GPT header signature at LBA 1 (UEFI spec 2.x, 5.3.2).
pub(crate) const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Smallest GPT header (revision 1.0 fields).
pub(crate) const GPT_MIN_HEADER_SIZE: u32 = 92;
/// Smallest GPT partition entry.
pub(crate) const GPT_MIN_ENTRY_SIZE: u32 = 128;

/// LVM2 physical-volume label: `LABELONE` in one of the first four 512-byte sectors.
pub(crate) const LVM_LABEL_ID: &[u8; 8] = b"LABELONE";
/// LVM2 label type following the label header.
pub(crate) const LVM_LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// Magic of an LVM2 metadata area header (lib/format_text/layout.h in LVM2).
pub(crate) const LVM_FMTT_MAGIC: &[u8; 16] =
    b"\x20\x4c\x56\x4d\x32\x20\x78\x5b\x35\x41\x25\x72\x30\x4e\x2a\x3e";
/// Size of an LVM2 metadata area header; the circular text buffer starts after it.
pub(crate) const LVM_MDA_HEADER_SIZE: u64 = 512;
/// Initial value of LVM2's CRC-32 (no final inversion).
pub(crate) const LVM_INITIAL_CRC: u32 = 0xf597_a6cf;
/// LVM2 sectors are always 512 bytes, whatever the device's logical sector size.
pub(crate) const LVM_SECTOR: u64 = 512;

/// ext2/3/4 superblock starts at byte 1024; its magic `0xEF53` (LE) is at 1024 + 56.
pub(crate) const EXT_SUPERBLOCK: usize = 1024;
/// XFS superblock magic at byte 0.
pub(crate) const XFS_MAGIC: &[u8; 4] = b"XFSB";
/// Btrfs primary superblock at 64 KiB; its magic is at +0x40.
pub(crate) const BTRFS_SUPERBLOCK: usize = 0x10000;
/// Btrfs superblock magic.
pub(crate) const BTRFS_MAGIC: &[u8; 8] = b"_BHRfS_M";
/// NTFS OEM id at byte 3.
pub(crate) const NTFS_MAGIC: &[u8; 8] = b"NTFS    ";
/// exFAT OEM id at byte 3.
pub(crate) const EXFAT_MAGIC: &[u8; 8] = b"EXFAT   ";
/// LUKS header magic at byte 0 (LUKS1 and LUKS2).
pub(crate) const LUKS_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
/// squashfs magic at byte 0 (little-endian 0x73717368).
pub(crate) const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
/// ISO 9660 primary volume descriptor at byte 0x8000, standard identifier `CD001` at +1.
pub(crate) const ISO9660_PVD: usize = 0x8000;
/// ISO 9660 standard identifier.
pub(crate) const ISO9660_MAGIC: &[u8; 5] = b"CD001";
/// Linux swap magics, 10 bytes before the end of the first page.
pub(crate) const SWAP_MAGICS: [&[u8; 10]; 2] = [b"SWAPSPACE2", b"SWAP-SPACE"];
/// Page sizes at which a swap signature is looked for.
pub(crate) const SWAP_PAGE_SIZES: [usize; 4] = [4096, 8192, 16384, 65536];

/// How many bytes of a partition the filesystem sniffer reads (covers btrfs and 64 KiB swap).
pub(crate) const SNIFF_LEN: u64 = 0x11000;

/// Little-endian u16 at `off`, or `None` past the end of `b`.
pub(crate) fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Little-endian u32 at `off`.
pub(crate) fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Little-endian u64 at `off`.
pub(crate) fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Big-endian u32 at `off`.
pub(crate) fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Big-endian u64 at `off`.
pub(crate) fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// `len` bytes at `off`, or `None` past the end of `b`.
pub(crate) fn bytes(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

/// Lower-case hex of `b`, bytes separated by spaces.
pub(crate) fn hex(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    parts.join(" ")
}

/// A printable rendering of a magic for error messages.
pub(crate) fn show_bytes(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("{:?}", String::from_utf8_lossy(b))
    } else {
        hex(b)
    }
}

/// A UUID in the plain byte order used by ext4, XFS and btrfs.
pub(crate) fn uuid_be(b: &[u8]) -> Option<String> {
    let u: &[u8; 16] = b.get(..16)?.try_into().ok()?;
    if u.iter().all(|x| *x == 0) {
        return None;
    }
    let h = |r: std::ops::Range<usize>| u[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some(format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    ))
}

/// A GUID in the mixed-endian layout of GPT (first three fields little-endian), upper-case.
pub(crate) fn guid_mixed(b: &[u8]) -> Option<String> {
    let u: &[u8; 16] = b.get(..16)?.try_into().ok()?;
    let d1 = u32::from_le_bytes([u[0], u[1], u[2], u[3]]);
    let d2 = u16::from_le_bytes([u[4], u[5]]);
    let d3 = u16::from_le_bytes([u[6], u[7]]);
    let tail: String = u[8..10].iter().map(|x| format!("{x:02X}")).collect();
    let node: String = u[10..16].iter().map(|x| format!("{x:02X}")).collect();
    Some(format!("{d1:08X}-{d2:04X}-{d3:04X}-{tail}-{node}"))
}

/// A NUL- or space-padded label field as text; `None` when empty.
pub(crate) fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

/// LVM2's CRC-32: the reflected CRC-32 register update from `initial`, without final inversion.
pub(crate) fn lvm_crc(initial: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!initial);
    h.update(data);
    !h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_mixed_endian() {
        // The EFI System partition type as stored on disk.
        let raw = [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B,
        ];
        assert_eq!(
            guid_mixed(&raw).as_deref(),
            Some("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        );
    }

    #[test]
    fn readers_stop_at_the_end() {
        assert_eq!(le32(&[1, 2, 3], 0), None);
        assert_eq!(le16(&[1, 2], usize::MAX), None);
        assert_eq!(le16(&[1, 2], 0), Some(0x0201));
    }

    #[test]
    fn labels_trim_padding() {
        assert_eq!(label(b"DATA       ").as_deref(), Some("DATA"));
        assert_eq!(label(b"\0\0\0"), None);
    }
}
