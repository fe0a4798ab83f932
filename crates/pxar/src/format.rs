//! The pxar format in code (spec: `shared/specs/pbs.md` §7): item types, sizes and limits.
//!
//! Every item is a 16-byte header, `htype u64 LE, full_size u64 LE` (the size **includes** the
//! header), then its content. The type constants are SipHash-2-4 of `__PROXMOX_FORMAT_<label>__`
//! with the keys [`HASH_KEY`]; a unit test recomputes every one of them from its label.
//! Do not modify: these numbers are the on-disk format.

use siphasher::sip::SipHasher24;

/// The SipHash-2-4 keys: the first 16 bytes of `sha1("PROXMOX ARCHIVE FORMAT")`, as two u64.
pub const HASH_KEY: (u64, u64) = (0x83ac_3f1c_fbb4_50db, 0xaa4f_1b68_7936_9fbd);

/// `FORMAT_VERSION` (label `VERSION`): u64 = 2, first item of a v2 (`.mpxar`) archive.
pub const FORMAT_VERSION: u64 = 0x730f_6c75_df16_a40d;
/// `PRELUDE`: opaque bytes (PBS writes its exclude patterns as JSON).
pub const PRELUDE: u64 = 0xe309_d79d_9f7b_771b;
/// `ENTRY` (label `ENTRY_V2`): [`ENTRY_SIZE`] bytes of metadata.
pub const ENTRY: u64 = 0xd595_6474_e588_acef;
/// `ENTRY_V1` (label `ENTRY`): [`ENTRY_V1_SIZE`] bytes, the mtime in nanoseconds (very old).
pub const ENTRY_V1: u64 = 0x11da_850a_1c1c_ceff;
/// `FILENAME`: name + NUL.
pub const FILENAME: u64 = 0x1670_1121_0639_17b3;
/// `SYMLINK`: target + NUL.
pub const SYMLINK: u64 = 0x27f9_71e7_dbf5_dc5f;
/// `HARDLINK`: u64 back-offset to the target's FILENAME, then the target path + NUL.
pub const HARDLINK: u64 = 0x5126_9c84_22bd_7275;
/// `DEVICE`: major u64, minor u64.
pub const DEVICE: u64 = 0x9fc9_e906_586d_5ce9;
/// `XATTR`: name + NUL + value.
pub const XATTR: u64 = 0x0dab_0229_b57d_cd03;
/// `ACL_USER`: uid u64, perms u64.
pub const ACL_USER: u64 = 0x2ce8_540a_457d_55b8;
/// `ACL_GROUP`: gid u64, perms u64.
pub const ACL_GROUP: u64 = 0x136e_3ece_b04c_03ab;
/// `ACL_GROUP_OBJ`: perms u64.
pub const ACL_GROUP_OBJ: u64 = 0x1086_8031_e958_2876;
/// `ACL_DEFAULT`: user_obj, group_obj, other, mask (u64 each; `u64::MAX` = no mask).
pub const ACL_DEFAULT: u64 = 0xbbbb_1341_5a68_96f5;
/// `ACL_DEFAULT_USER`: uid u64, perms u64.
pub const ACL_DEFAULT_USER: u64 = 0xc893_57b4_0532_cd1f;
/// `ACL_DEFAULT_GROUP`: gid u64, perms u64.
pub const ACL_DEFAULT_GROUP: u64 = 0xf90a_8a58_1603_8ffe;
/// `FCAPS`: the raw `security.capability` value.
pub const FCAPS: u64 = 0x2da9_dd9d_b5f7_fb67;
/// `QUOTA_PROJID`: u64.
pub const QUOTA_PROJID: u64 = 0xe075_40e8_2f7d_1cbb;
/// `PAYLOAD` (label `PXAR_PAYLOAD`): the file's bytes.
pub const PAYLOAD: u64 = 0x2814_7a1b_0b7c_1a25;
/// `PAYLOAD_REF` (label `PXAR_PAYLOAD_REF`): offset u64 (of a PAYLOAD header in the `.ppxar`),
/// size u64.
pub const PAYLOAD_REF: u64 = 0x419d_3d6b_c4ba_977e;
/// `GOODBYE`: 24-byte items {hash, offset, size}, the last one the tail.
pub const GOODBYE: u64 = 0x2fec_4fa6_42d5_731d;
/// The hash field of a goodbye table's last item (label `PXAR_GOODBYE_TAIL_MARKER`).
pub const GOODBYE_TAIL_MARKER: u64 = 0xef5e_ed5b_753e_1555;
/// First item of a `.ppxar` (header only).
pub const PAYLOAD_START_MARKER: u64 = 0x834c_68c2_194a_4ed2;
/// Last item of a `.ppxar` (header only).
pub const PAYLOAD_TAIL_MARKER: u64 = 0x6c72_b78b_984c_81b5;

/// Size of an item header.
pub const HEADER_SIZE: u64 = 16;
/// Content size of a v2 ENTRY: mode u64, flags u64, uid u32, gid u32, mtime secs i64, nanos u32,
/// padding u32.
pub const ENTRY_SIZE: u64 = 40;
/// Content size of a v1 ENTRY: mode u64, flags u64, uid u32, gid u32, mtime u64 nanoseconds.
pub const ENTRY_V1_SIZE: u64 = 32;
/// Size of one goodbye item.
pub const GOODBYE_ITEM_SIZE: u64 = 24;

/// Longest file name (bytes, without the NUL).
pub const MAX_NAME: u64 = 4095;
/// Longest symlink or hardlink target (bytes, without the NUL): `PATH_MAX`.
pub const MAX_PATH: u64 = 4096;
/// Longest xattr name (bytes, without the NUL).
pub const MAX_XATTR_NAME: u64 = 255;
/// Longest xattr value.
pub const MAX_XATTR_VALUE: u64 = 64 * 1024;
/// Longest fcaps value and prelude.
pub const MAX_SMALL_BLOB: u64 = 64 * 1024;
/// Most metadata bytes (xattrs, ACLs, fcaps) kept for one entry.
pub const MAX_ENTRY_METADATA: u64 = 16 << 20;
/// Most children of one directory (a goodbye table of 96 MiB).
pub const MAX_DIR_ENTRIES: u64 = 4 << 20;
/// Deepest directory nesting followed.
pub const MAX_DEPTH: usize = 2048;

/// `st_mode` file-type mask and types.
pub mod mode {
    /// The file-type bits.
    pub const IFMT: u64 = 0o170000;
    /// Directory.
    pub const IFDIR: u64 = 0o040000;
    /// Regular file.
    pub const IFREG: u64 = 0o100000;
    /// Symbolic link.
    pub const IFLNK: u64 = 0o120000;
    /// Block device.
    pub const IFBLK: u64 = 0o060000;
    /// Character device.
    pub const IFCHR: u64 = 0o020000;
    /// FIFO.
    pub const IFIFO: u64 = 0o010000;
    /// Socket.
    pub const IFSOCK: u64 = 0o140000;
}

/// The goodbye-table hash of a file name: SipHash-2-4 of its bytes (no NUL) with [`HASH_KEY`].
pub fn hash_filename(name: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = SipHasher24::new_with_keys(HASH_KEY.0, HASH_KEY.1);
    h.write(name);
    h.finish()
}

/// The name of an item type, for messages.
pub fn type_name(htype: u64) -> &'static str {
    match htype {
        FORMAT_VERSION => "FORMAT_VERSION",
        PRELUDE => "PRELUDE",
        ENTRY => "ENTRY",
        ENTRY_V1 => "ENTRY_V1",
        FILENAME => "FILENAME",
        SYMLINK => "SYMLINK",
        HARDLINK => "HARDLINK",
        DEVICE => "DEVICE",
        XATTR => "XATTR",
        ACL_USER => "ACL_USER",
        ACL_GROUP => "ACL_GROUP",
        ACL_GROUP_OBJ => "ACL_GROUP_OBJ",
        ACL_DEFAULT => "ACL_DEFAULT",
        ACL_DEFAULT_USER => "ACL_DEFAULT_USER",
        ACL_DEFAULT_GROUP => "ACL_DEFAULT_GROUP",
        FCAPS => "FCAPS",
        QUOTA_PROJID => "QUOTA_PROJID",
        PAYLOAD => "PAYLOAD",
        PAYLOAD_REF => "PAYLOAD_REF",
        GOODBYE => "GOODBYE",
        PAYLOAD_START_MARKER => "PAYLOAD_START_MARKER",
        PAYLOAD_TAIL_MARKER => "PAYLOAD_TAIL_MARKER",
        _ => "an unknown item",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constants are the SipHash-2-4 of their labels (spec §7), recomputed here.
    #[test]
    fn type_constants_are_the_hashes_of_their_labels() {
        let label = |l: &str| hash_filename(format!("__PROXMOX_FORMAT_{l}__").as_bytes());
        for (value, l) in [
            (FORMAT_VERSION, "VERSION"),
            (PRELUDE, "PRELUDE"),
            (ENTRY, "ENTRY_V2"),
            (ENTRY_V1, "ENTRY"),
            (FILENAME, "FILENAME"),
            (SYMLINK, "SYMLINK"),
            (HARDLINK, "HARDLINK"),
            (DEVICE, "DEVICE"),
            (XATTR, "XATTR"),
            (ACL_USER, "ACL_USER"),
            (ACL_DEFAULT_USER, "ACL_DEFAULT_USER"),
            (ACL_GROUP, "ACL_GROUP"),
            (ACL_DEFAULT_GROUP, "ACL_DEFAULT_GROUP"),
            (ACL_GROUP_OBJ, "ACL_GROUP_OBJ"),
            (ACL_DEFAULT, "ACL_DEFAULT"),
            (FCAPS, "FCAPS"),
            (QUOTA_PROJID, "QUOTA_PROJID"),
            (PAYLOAD, "PXAR_PAYLOAD"),
            (PAYLOAD_REF, "PXAR_PAYLOAD_REF"),
            (GOODBYE, "GOODBYE"),
            (GOODBYE_TAIL_MARKER, "PXAR_GOODBYE_TAIL_MARKER"),
            (PAYLOAD_START_MARKER, "PXAR_PAYLOAD_START_MARKER"),
            (PAYLOAD_TAIL_MARKER, "PXAR_PAYLOAD_TAIL_MARKER"),
        ] {
            assert_eq!(label(l), value, "{l}");
        }
    }
}
