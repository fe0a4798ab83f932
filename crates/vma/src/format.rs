//! The VMA format in code: sizes, limits, magic numbers and field offsets.
//!
//! Every number here comes from the format reference (`docs/formats/vma.md`, which in turn follows the
//! reference C code in proxmox/pve-qemu). Do not change them: archives written by Proxmox VE depend on them.
//! All integers are big-endian except the u16 blob length prefixes, which are little-endian.
//!
//! The fixed header and the extent header are described as field offsets rather than `repr(C)` structs,
//! because both are read from untrusted bytes: the accessors below take a slice and an offset, check bounds
//! and never panic. Compile-time assertions pin the layout the reference writer asserts.

/// Size of a cluster, the unit in which disks are stored: 16 blocks of 4 KiB.
pub const CLUSTER_SIZE: u64 = 65_536;
/// Size of a block, the unit of zero detection inside a cluster.
pub const BLOCK_SIZE: u64 = 4_096;
/// Number of blocks in one cluster (one bit each in the cluster mask).
pub const BLOCKS_PER_CLUSTER: usize = 16;

/// Largest device an archive can hold: blockinfo cluster numbers are u32, so 2^32 clusters (256 TiB).
pub const MAX_DEVICE_SIZE: u64 = (1 << 32) * CLUSTER_SIZE;

/// Magic at offset 0 of the archive: `"VMA\0"` (`VMA_MAGIC` in vma.h).
pub const HEADER_MAGIC: [u8; 4] = *b"VMA\0";
/// Magic at offset 0 of every extent header: `"VMAE"` (`VMA_EXTENT_MAGIC` in vma.h).
pub const EXTENT_MAGIC: [u8; 4] = *b"VMAE";
/// The only format version ever written.
pub const VERSION: u32 = 1;

/// Size of the fixed part of the header (`sizeof(VmaHeader)`); the blob area may start here.
pub const HEADER_FIXED_SIZE: usize = 12_288;
/// Alignment of the header size and of every extent (the reference writer uses O_DIRECT).
pub const ALIGN: usize = 512;
/// Largest header this reader accepts. Real headers are 12.5 to 14 KiB; the reference writer caps at
/// 512 KiB. The cap keeps an untrusted `header_size` from sizing a huge allocation.
pub const MAX_HEADER_SIZE: u32 = 16 * 1024 * 1024;
/// Largest header the reference writer produces (and so the largest this crate's writer produces).
pub const MAX_WRITTEN_HEADER_SIZE: usize = 512 * 1024;
/// Number of config slots in the header.
pub const MAX_CONFIGS: usize = 256;
/// Number of `dev_info` entries (dev_id 0..=255; entry 0 is unused).
pub const DEV_INFO_COUNT: usize = 256;
/// Most devices the reference writer accepts (dev_id 1..=254).
pub const MAX_WRITTEN_DEVICES: usize = 254;
/// Largest blob: its length prefix is a u16.
pub const MAX_BLOB_SIZE: usize = 65_535;
/// Name of the device that holds saved VM RAM instead of a disk.
pub const VMSTATE_NAME: &str = "vmstate";

/// Header field offsets (absolute, from the start of the archive).
pub mod header {
    use core::ops::Range;

    /// `magic`: 4 bytes, [`super::HEADER_MAGIC`].
    pub const MAGIC: Range<usize> = 0..4;
    /// `version`: u32, must be 1.
    pub const VERSION: Range<usize> = 4..8;
    /// `uuid`: 16 raw bytes in libuuid order.
    pub const UUID: Range<usize> = 8..24;
    /// `ctime`: i64 seconds since the epoch.
    pub const CTIME: Range<usize> = 24..32;
    /// `md5sum`: MD5 of the whole header with this field zeroed.
    pub const MD5: Range<usize> = 32..48;
    /// `blob_buffer_offset`: u32 start of the blob area, at least [`super::HEADER_FIXED_SIZE`].
    pub const BLOB_BUFFER_OFFSET: Range<usize> = 48..52;
    /// `blob_buffer_size`: u32 bytes used in the blob area, counting the unused byte 0.
    pub const BLOB_BUFFER_SIZE: Range<usize> = 52..56;
    /// `header_size`: u32 total header size, a multiple of 512 above 12288.
    pub const HEADER_SIZE: Range<usize> = 56..60;
    /// `config_names[256]`: u32 blob offsets of config names; 0 means an empty slot.
    pub const CONFIG_NAMES: usize = 2044;
    /// `config_data[256]`: u32 blob offsets of config contents.
    pub const CONFIG_DATA: usize = 3068;
    /// `dev_info[256]`: 32-byte device entries indexed by dev_id.
    pub const DEV_INFO: usize = 4096;
    /// Size of one `dev_info` entry.
    pub const DEV_INFO_SIZE: usize = 32;
    /// Offset of `devname_ptr` (u32 blob offset) inside a `dev_info` entry.
    pub const DEV_NAME_PTR: usize = 0;
    /// Offset of `size` (u64 device size in bytes) inside a `dev_info` entry.
    pub const DEV_SIZE: usize = 8;
}

/// Extent header field offsets (relative to the start of the extent).
pub mod extent {
    use core::ops::Range;

    /// `magic`: 4 bytes, [`super::EXTENT_MAGIC`].
    pub const MAGIC: Range<usize> = 0..4;
    /// `reserved`: u16, must be 0.
    pub const RESERVED: Range<usize> = 4..6;
    /// `block_count`: u16 number of 4 KiB data blocks following the extent header.
    pub const BLOCK_COUNT: Range<usize> = 6..8;
    /// `uuid`: must equal the archive header's uuid.
    pub const UUID: Range<usize> = 8..24;
    /// `md5sum`: MD5 of the 512-byte extent header with this field zeroed (data is not covered).
    pub const MD5: Range<usize> = 24..40;
    /// `blockinfo[59]`: u64 entries, mask in bits 48..63, dev_id in bits 32..39, cluster in bits 0..31.
    pub const BLOCKINFO: usize = 40;
    /// Size of one blockinfo entry.
    pub const BLOCKINFO_SIZE: usize = 8;
    /// Number of blockinfo entries in an extent header.
    pub const ENTRIES: usize = 59;
    /// Most entries the reference writer fills before it flushes an extent.
    pub const WRITER_ENTRIES: usize = 58;
    /// Size of the extent header.
    pub const HEADER_SIZE: usize = 512;
    /// Largest `block_count`: 59 clusters of 16 blocks.
    pub const MAX_BLOCKS: usize = ENTRIES * super::BLOCKS_PER_CLUSTER;
    /// Largest extent (`VMA_MAX_EXTENT_SIZE`): header plus 944 blocks.
    pub const MAX_SIZE: usize = HEADER_SIZE + MAX_BLOCKS * super::BLOCK_SIZE as usize;
}

// The layout the reference writer asserts at start-up.
const _: () =
    assert!(header::DEV_INFO + DEV_INFO_COUNT * header::DEV_INFO_SIZE == HEADER_FIXED_SIZE);
const _: () = assert!(header::CONFIG_NAMES + MAX_CONFIGS * 4 == header::CONFIG_DATA);
const _: () = assert!(header::CONFIG_DATA + MAX_CONFIGS * 4 + 4 == header::DEV_INFO);
const _: () =
    assert!(extent::BLOCKINFO + extent::ENTRIES * extent::BLOCKINFO_SIZE == extent::HEADER_SIZE);
const _: () = assert!(extent::MAX_SIZE == 3_867_136);
const _: () = assert!(CLUSTER_SIZE == BLOCK_SIZE * BLOCKS_PER_CLUSTER as u64);

/// One decoded blockinfo entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Bit j set: block j of the cluster is stored.
    pub mask: u16,
    /// Reserved byte, written as 0 (not checked by the reference reader).
    pub reserved: u8,
    /// Device id; 0 marks an unused entry.
    pub dev_id: u8,
    /// Cluster number inside the device.
    pub cluster: u32,
}

impl BlockInfo {
    /// Decodes an entry from its big-endian u64 form.
    pub fn from_u64(v: u64) -> Self {
        BlockInfo {
            mask: (v >> 48) as u16,
            reserved: (v >> 40) as u8,
            dev_id: (v >> 32) as u8,
            cluster: v as u32,
        }
    }

    /// Encodes an entry into its u64 form.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.mask) << 48)
            | (u64::from(self.reserved) << 40)
            | (u64::from(self.dev_id) << 32)
            | u64::from(self.cluster)
    }
}

/// Reads `N` bytes at `at`, or `None` when the slice is too short.
pub fn bytes<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Reads a big-endian u16 at `at`.
pub fn be_u16(buf: &[u8], at: usize) -> Option<u16> {
    bytes(buf, at).map(u16::from_be_bytes)
}

/// Reads a big-endian u32 at `at`.
pub fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    bytes(buf, at).map(u32::from_be_bytes)
}

/// Reads a big-endian u64 at `at`.
pub fn be_u64(buf: &[u8], at: usize) -> Option<u64> {
    bytes(buf, at).map(u64::from_be_bytes)
}

/// MD5 of `buf` with the 16-byte range `md5` zeroed, as both the header and extent checksums are defined.
pub fn md5_with_zeroed_field(buf: &[u8], md5: core::ops::Range<usize>) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    let start = md5.start.min(buf.len());
    let end = md5.end.min(buf.len());
    h.update(&buf[..start]);
    h.update([0u8; 16].get(..end - start).unwrap_or(&[]));
    h.update(&buf[end..]);
    h.finalize().into()
}

/// Checks a config or device name that will become part of a file name.
///
/// Returns the reason it is rejected, or `None` when it is acceptable.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') {
        Some("it contains '/'")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name == "." || name == ".." {
        Some("it is '.' or '..'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockinfo_matches_the_spec_example() {
        // Spec §4.2: mask 0xFFFF, device 1, cluster 5.
        let v = u64::from_be_bytes([0xFF, 0xFF, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05]);
        let b = BlockInfo::from_u64(v);
        assert_eq!((b.mask, b.reserved, b.dev_id, b.cluster), (0xFFFF, 0, 1, 5));
        assert_eq!(b.to_u64(), v);
    }

    #[test]
    fn accessors_do_not_panic_out_of_bounds() {
        assert_eq!(be_u32(&[1, 2, 3], 0), None);
        assert_eq!(be_u32(&[1, 2, 3, 4], usize::MAX), None);
        assert_eq!(be_u16(&[1, 2], 0), Some(0x0102));
    }
}
