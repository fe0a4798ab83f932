//! The archives made by a real Proxmox VE (testdata/real/README.md).

use std::io::Read;
use std::path::{Path, PathBuf};

use unpack::Format;

use crate::tools::{assert_same, run, sha256};

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/real")
        .join(name)
}

/// Decodes a file through `unpack::open`, checking that every compressed byte was consumed.
fn open_and_read(path: &Path, format: Format) -> Vec<u8> {
    let mut input = unpack::open(path).expect("open");
    assert_eq!(input.format(), format);
    let mut out = Vec::new();
    input.read_to_end(&mut out).expect("decode");
    let len = std::fs::metadata(path).expect("stat").len();
    assert_eq!(input.compressed_len(), Some(len));
    assert_eq!(
        input.counter().load(std::sync::atomic::Ordering::Relaxed),
        len
    );
    assert!(input.warnings().is_empty(), "{:?}", input.warnings());
    out
}

#[test]
fn vzdump_lzop_decodes_to_the_uncompressed_vma() {
    let got = open_and_read(
        &real("vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo"),
        Format::Lzop,
    );
    let vma =
        std::fs::read(real("vzdump-qemu-105-2026_11_20-21_10_17.vma")).expect("read the .vma");
    assert_eq!(
        sha256(&vma),
        "436b90d091efde4c06c0164a0591c5cf34443e44b7043dded0d2d5be3aa54c8f"
    );
    assert_same(&got, &vma);
}

#[test]
fn vzdump_zstd_and_gzip_of_the_same_backup_agree() {
    let zst = real("vzdump-qemu-101-2026_11_20-21_00_03.vma.zst");
    let gz = real("vzdump-qemu-101-2026_11_20-21_00_03.vma.gz");
    let from_zst = open_and_read(&zst, Format::Zstd);
    let from_gz = open_and_read(&gz, Format::Gzip);
    assert!(from_zst.starts_with(b"VMA\0"));
    assert_same(&from_zst, &from_gz);
    // And both agree with the real zstd.
    let real_zstd = run(
        "zstd",
        &["-q", "-dc"],
        &std::fs::read(&zst).expect("read .zst"),
    );
    assert_same(&from_zst, &real_zstd);
}

#[test]
fn vzdump_zstd_full_of_a_differential_pair_decodes_like_zstd() {
    let zst = real("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst");
    let got = open_and_read(&zst, Format::Zstd);
    let real_zstd = run(
        "zstd",
        &["-q", "-dc"],
        &std::fs::read(&zst).expect("read .zst"),
    );
    assert_same(&got, &real_zstd);
}

#[test]
fn uncompressed_vma_is_plain() {
    let path = real("vzdump-qemu-103-2026_11_20-21_07_09.vma");
    let got = open_and_read(&path, Format::Plain);
    assert_same(&got, &std::fs::read(&path).expect("read"));
}
