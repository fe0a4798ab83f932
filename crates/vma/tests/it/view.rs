//! `vma::view::DiskView` over the uncompressed archives the real Proxmox `vma` made: every disk
//! read at random hashes to what the real `vma extract` wrote.

use diskview::ReadAt;
use sha2::{Digest, Sha256};

use crate::common::*;

fn hash_in_pieces(v: &vma::view::DiskView, piece: usize, skew: usize) -> String {
    let size = v.size() as usize;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; piece];
    // A first odd piece, so that reads start off block and cluster boundaries.
    let mut at = 0;
    let first = skew.min(size);
    if first > 0 {
        let mut b = vec![0u8; first];
        v.read_exact_at(&mut b, 0).expect("read");
        h.update(&b);
        at = first;
    }
    while at < size {
        let n = piece.min(size - at);
        v.read_exact_at(&mut buf[..n], at as u64).expect("read");
        h.update(&buf[..n]);
        at += n;
    }
    hex(&h.finalize())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn real_uncompressed_archives_read_at_random_as_vma_extract_wrote_them() {
    for archive in [
        "vzdump-qemu-103-2026_11_20-21_07_09",
        "vzdump-qemu-105-2026_11_20-21_10_17",
    ] {
        let path = real(&format!("{archive}.vma"));
        for (sha, name, size) in extract_files(archive) {
            let Some(drive) = name
                .strip_prefix("disk-")
                .and_then(|n| n.strip_suffix(".raw"))
            else {
                continue;
            };
            let v = vma::view::DiskView::open(&path, drive).expect("index");
            assert_eq!(v.size(), size, "{archive} {drive}");
            for (piece, skew) in [(1 << 20, 0), (100_003, 777), (4096, 4095)] {
                assert_eq!(
                    hash_in_pieces(&v, piece, skew),
                    sha,
                    "{archive} {drive} {piece}"
                );
            }
            // Past the end fails.
            let mut b = [0u8; 2];
            assert!(v.read_exact_at(&mut b, size - 1).is_err());
        }
    }
}

#[test]
fn unknown_drive_names_the_drives() {
    let path = real("vzdump-qemu-103-2026_11_20-21_07_09.vma");
    let e = vma::view::DiskView::open(&path, "scsi9").expect_err("no such drive");
    assert!(e.to_string().contains("no drive named \"scsi9\""), "{e}");
}
