//! Each validation of the reader, triggered by a corrupt archive. Corruptions start from the real
//! fixture (or from writer output) and fix the MD5s where needed so that the targeted check fires.

use md5::{Digest, Md5};
use vma::{Error, Reader};

use crate::common::*;

/// Offsets in the real 105 archive, read with a hex dump: header 13824 bytes, blob area at 12288
/// ("qemu-server.conf" blob at 1, its data at 20, "drive-scsi0" at 590), extents at 13824 (62 blocks),
/// 268288 and 268800, end at 269312; 128 clusters of one 8 MiB device.
const EXT1: usize = 13824;
const EXT2: usize = 268_288;
const EXT3: usize = 268_800;
const END: usize = 269_312;

fn base() -> Vec<u8> {
    let b = real_bytes(&format!("{A105}.vma"));
    assert_eq!(b.len(), END);
    b
}

/// Reads everything and finishes; returns the error.
fn read_all(bytes: &[u8]) -> Error {
    let run = || -> vma::Result<vma::Summary> {
        let mut r = Reader::new(bytes)?;
        while r.next_cluster()?.is_some() {}
        r.finish()
    };
    run().expect_err("corrupt archive was accepted")
}

fn msg(bytes: &[u8]) -> String {
    read_all(bytes).to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn set_be16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn set_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn compressed_input_is_bad_magic_with_hint() {
    let zst = real_bytes(&format!("{A101}.vma.zst"));
    let e = read_all(&zst);
    assert_eq!(
        e.to_string(),
        "bad header magic at offset 0: expected 564d4100, found 28b52ffd"
    );
    assert!(e.hint().unwrap().contains("decompress it first"));
}

#[test]
fn empty_and_short_headers_are_truncated() {
    assert_eq!(
        msg(&[]),
        "truncated header at offset 0: needed 12288 bytes, only 0 available"
    );
    assert_eq!(
        msg(&base()[..5000]),
        "truncated header at offset 0: needed 12288 bytes, only 5000 available"
    );
    let e = read_all(&base()[..13000]);
    assert_eq!(
        e.to_string(),
        "truncated header at offset 0: needed 13824 bytes, only 13000 available"
    );
    assert!(e.hint().unwrap().contains("ends early"));
}

#[test]
fn header_checksum_mismatch() {
    let mut b = base();
    let stored = b[32..48].to_vec();
    b[12288 + 30] ^= 0x20; // inside the qemu-server.conf data
    let mut h = b[..EXT1].to_vec();
    h[32..48].fill(0);
    let computed = Md5::digest(&h);
    assert_eq!(
        msg(&b),
        format!(
            "header checksum mismatch at offset 0: stored md5 {}, computed {}",
            hex(&stored),
            hex(&computed)
        )
    );
}

#[test]
fn version_must_be_1() {
    let mut b = base();
    set_be32(&mut b, 4, 2);
    fix_header_md5(&mut b);
    assert_eq!(
        msg(&b),
        "unsupported vma version at offset 4: expected 1, found 2"
    );
}

#[test]
fn header_size_is_checked_before_allocating() {
    for bad in [12288u32, 13825, 0] {
        let mut b = base();
        set_be32(&mut b, 56, bad);
        assert_eq!(
            msg(&b),
            format!(
                "invalid header size at offset 56: expected a multiple of 512 greater than 12288, found {bad}"
            )
        );
    }
    let mut b = base();
    set_be32(&mut b, 56, 0xFFFF_FE00);
    assert_eq!(
        msg(&b),
        "header size at offset 56 is too large: 4294966784 exceeds the limit of 16777216"
    );
}

#[test]
fn blob_area_bounds() {
    let mut b = base();
    set_be32(&mut b, 48, 4096);
    fix_header_md5(&mut b);
    assert_eq!(
        msg(&b),
        "invalid blob buffer offset at offset 48: expected at least 12288, found 4096"
    );
    let mut b = base();
    set_be32(&mut b, 52, 2000);
    fix_header_md5(&mut b);
    assert_eq!(
        msg(&b),
        "invalid blob buffer size at offset 52: expected a blob area that ends inside the header, found 2000"
    );
}

#[test]
fn blob_pointers_must_hit_blob_starts() {
    let cases = [
        (
            2044,
            2,
            "config 0 name pointer at offset 2044 is invalid: 2 is not the start of a blob",
        ),
        (
            3068,
            21,
            "config 0 data pointer at offset 3068 is invalid: 21 is not the start of a blob",
        ),
        (
            4128,
            591,
            "device 1 name pointer at offset 4128 is invalid: 591 is not the start of a blob",
        ),
        // Past the used blob area (604 bytes) but inside the header.
        (
            3068,
            700,
            "config 0 data pointer at offset 3068 is invalid: 700 is not the start of a blob",
        ),
    ];
    for (at, ptr, want) in cases {
        let mut b = base();
        set_be32(&mut b, at, ptr);
        fix_header_md5(&mut b);
        assert_eq!(msg(&b), want);
    }
}

#[test]
fn config_slot_with_one_pointer_is_ignored() {
    // Spec §3.2: a slot is used only if both pointers are non-zero.
    let mut b = base();
    set_be32(&mut b, 3068, 0);
    fix_header_md5(&mut b);
    let r = Reader::new(&b[..]).unwrap();
    assert!(r.header().configs.is_empty());
    r.verify(&mut ()).unwrap();
}

#[test]
fn config_names_are_untrusted() {
    let name = 12288 + 3; // "qemu-server.conf" then its NUL at 12307
    let cases: [(usize, u8, &str); 3] = [
        (
            name + 16,
            b'x',
            "it is not NUL-terminated (found \"qemu-server.confx\")",
        ),
        (
            name + 4,
            b'/',
            "it contains '/' (found \"qemu/server.conf\")",
        ),
        (
            name,
            0xFF,
            "it is not valid UTF-8 (found \"\u{FFFD}emu-server.conf\")",
        ),
    ];
    for (at, byte, reason) in cases {
        let mut b = base();
        b[at] = byte;
        fix_header_md5(&mut b);
        assert_eq!(
            msg(&b),
            format!("invalid config name at offset 12289: {reason}")
        );
    }
}

/// Blob layout of `small_archive` with one device: config name blob at 1 (19 bytes), its data at 20
/// (11 bytes), then the device name blobs from 31 (absolute 12319).
const DEV_BLOB: usize = 12288 + 31;

#[test]
fn device_names_are_untrusted() {
    type Case<'a> = (&'a str, &'a [(usize, u8)], &'a str);
    let cases: [Case; 3] = [
        (
            "ab",
            &[(2, b'.'), (3, b'.')],
            "it is '.' or '..' (found \"..\")",
        ),
        ("ab", &[(2, 0)], "it contains a NUL byte (found \"\\0b\")"),
        // Length 2 -> 1 and the name byte -> NUL: an empty string blob.
        ("a", &[(0, 1), (2, 0)], "it is empty (found \"\")"),
    ];
    for (dev, patches, reason) in cases {
        let mut b = small_archive(&[(dev, 65536)], |_, _| vec![1; 65536]);
        for (off, byte) in patches {
            b[DEV_BLOB + off] = *byte;
        }
        fix_header_md5(&mut b);
        assert_eq!(
            msg(&b),
            format!("invalid device name at offset {DEV_BLOB}: {reason}")
        );
    }
    let mut b = small_archive(&[("a", 65536), ("b", 65536)], |_, _| vec![1; 65536]);
    b[DEV_BLOB + 4 + 2] = b'a';
    fix_header_md5(&mut b);
    assert_eq!(
        msg(&b),
        format!("duplicate device name \"a\" at offset {}", DEV_BLOB + 4)
    );
}

#[test]
fn bytes_after_the_last_extent() {
    let mut b = base();
    b.extend_from_slice(&[0x55; 512]);
    let e = read_all(&b);
    assert_eq!(
        e.to_string(),
        "trailing garbage at offset 269312: expected an extent header (magic 564d4145), found 55555555"
    );
    assert!(e.hint().is_some());
    let mut b = base();
    b.extend_from_slice(&[0; 100]);
    assert_eq!(
        msg(&b),
        "truncated extent header at offset 269312: needed 512 bytes, only 100 available"
    );
}

#[test]
fn extent_checksum_mismatch() {
    let mut b = base();
    let stored = b[EXT1 + 24..EXT1 + 40].to_vec();
    b[entry(EXT1, 5)] ^= 0x80;
    let mut h = b[EXT1..EXT1 + 512].to_vec();
    h[24..40].fill(0);
    let computed = Md5::digest(&h);
    assert_eq!(
        msg(&b),
        format!(
            "extent header checksum mismatch at offset 13824: stored md5 {}, computed {}",
            hex(&stored),
            hex(&computed)
        )
    );
}

#[test]
fn extent_uuid_must_match() {
    let mut b = base();
    b[EXT2 + 8] ^= 1;
    fix_extent_md5(&mut b, EXT2);
    let e = read_all(&b);
    assert_eq!(
        e.to_string(),
        format!(
            "extent uuid mismatch at offset {}: expected {}, found {}",
            EXT2 + 8,
            hex(&b[8..24]),
            hex(&b[EXT2 + 8..EXT2 + 24])
        )
    );
    assert!(e.hint().is_some());
}

#[test]
fn extent_reserved_must_be_zero() {
    let mut b = base();
    b[EXT1 + 5] = 1;
    fix_extent_md5(&mut b, EXT1);
    assert_eq!(
        msg(&b),
        "reserved extent field at offset 13828 is not zero: found 1"
    );
}

#[test]
fn block_count_limit_and_accounting() {
    let mut b = base();
    set_be16(&mut b, EXT1 + 6, 945);
    fix_extent_md5(&mut b, EXT1);
    assert_eq!(
        msg(&b),
        "extent block count at offset 13830 is too large: 945 exceeds the limit of 944"
    );
    for declared in [61u16, 63] {
        let mut b = base();
        set_be16(&mut b, EXT1 + 6, declared);
        fix_extent_md5(&mut b, EXT1);
        assert_eq!(
            msg(&b),
            format!(
                "extent block count mismatch at offset 13824: the header declares {declared} blocks, the cluster masks add up to 62"
            )
        );
    }
}

#[test]
fn unknown_device() {
    let mut b = base();
    b[entry(EXT1, 1) + 3] = 2;
    fix_extent_md5(&mut b, EXT1);
    assert_eq!(
        msg(&b),
        "extent entry at offset 13872 refers to unknown device 2"
    );
}

#[test]
fn cluster_out_of_range() {
    let mut b = base();
    set_be32(&mut b, entry(EXT1, 1) + 4, 128);
    fix_extent_md5(&mut b, EXT1);
    assert_eq!(
        msg(&b),
        "cluster 128 of device drive-scsi0 at offset 13872 is out of range: the device has 128 clusters"
    );
}

#[test]
fn block_past_device_end() {
    // A 12 KiB device: its only cluster has blocks 0..3 inside the device.
    let mut b = small_archive(&[("d", 12288)], |_, _| vec![0x11; 65536]);
    let ext = first_extent(&b);
    assert_eq!(ext, 12800);
    assert_eq!(b[entry(ext, 0)..entry(ext, 0) + 2], [0x00, 0x07]);
    b[entry(ext, 0) + 1] = 0x0B; // blocks 0, 1 and 3: same popcount
    fix_extent_md5(&mut b, ext);
    assert_eq!(
        msg(&b),
        "cluster 0 of device d at offset 12840 stores block 3, which starts past the device end"
    );
}

#[test]
fn duplicate_clusters_within_and_across_extents() {
    let mut b = base();
    set_be32(&mut b, entry(EXT1, 1) + 4, 0);
    fix_extent_md5(&mut b, EXT1);
    let e = read_all(&b);
    assert_eq!(
        e.to_string(),
        "duplicate cluster 0 of device drive-scsi0 at offset 13872"
    );
    assert!(matches!(e, Error::DuplicateCluster { cluster: 0, .. }));

    let mut b = base();
    set_be32(&mut b, entry(EXT2, 0) + 4, 3);
    fix_extent_md5(&mut b, EXT2);
    assert_eq!(
        msg(&b),
        format!(
            "duplicate cluster 3 of device drive-scsi0 at offset {}",
            entry(EXT2, 0)
        )
    );
}

#[test]
fn vmstate_clusters_must_be_in_order() {
    let mut b = small_archive(&[("vmstate", 3 * 65536)], |_, c| vec![c as u8 + 1; 65536]);
    let ext = first_extent(&b);
    let (e0, e1) = (entry(ext, 0), entry(ext, 1));
    set_be32(&mut b, e0 + 4, 1);
    set_be32(&mut b, e1 + 4, 0);
    fix_extent_md5(&mut b, ext);
    assert_eq!(
        msg(&b),
        format!(
            "out of order vmstate cluster at offset {e0} of device vmstate: expected 0, found 1"
        )
    );
}

#[test]
fn truncated_extent_data() {
    let b = base();
    let e = read_all(&b[..EXT1 + 512 + 1000]);
    assert_eq!(
        e.to_string(),
        "truncated extent data at offset 14336: needed 253952 bytes, only 1000 available"
    );
    assert!(e.hint().is_some());
}

#[test]
fn dropped_last_extent_is_missing_clusters() {
    // The real `vma verify` accepts this (spec §14b); completeness says otherwise.
    let b = base();
    let e = read_all(&b[..EXT3]);
    assert_eq!(e.to_string(), "missing cluster 116 of device drive-scsi0");
    assert_eq!(
        e.hint(),
        Some("the archive is incomplete: the backup was probably interrupted".to_owned())
    );
    let e = Reader::new(&b[..EXT3])
        .unwrap()
        .verify(&mut ())
        .unwrap_err();
    assert_eq!(e.to_string(), "missing cluster 116 of device drive-scsi0");
    assert_eq!(msg(&b[..EXT1]), "missing cluster 0 of device drive-scsi0");
}

#[test]
fn finish_before_the_end() {
    let b = base();
    let r = Reader::new(&b[..]).unwrap();
    assert_eq!(
        r.finish().unwrap_err().to_string(),
        "the archive continues at offset 13824: finish() was called before the end"
    );
    let mut r = Reader::new(&b[..]).unwrap();
    r.next_cluster().unwrap().unwrap();
    assert!(matches!(r.finish(), Err(Error::NotAtEnd { .. })));
}

#[test]
fn reader_stays_failed_after_an_error() {
    let b = base();
    let mut r = Reader::new(&b[..EXT1 + 600]).unwrap();
    assert!(matches!(r.next_cluster(), Err(Error::Truncated { .. })));
    assert_eq!(
        r.next_cluster().unwrap_err().to_string(),
        format!("the reader already failed at offset {}", EXT1 + 600)
    );
    assert!(matches!(r.finish(), Err(Error::AfterError { .. })));
}

#[test]
fn io_errors_keep_source_and_offset() {
    #[derive(Debug)]
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0).min(1000);
            buf[..n].fill(0);
            self.0 -= n;
            Ok(n)
        }
    }
    let e = Reader::new(Failing(3000)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "i/o error on the header at offset 3000: disk on fire"
    );
    assert!(std::error::Error::source(&e).is_some());
}
