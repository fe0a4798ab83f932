//! `extract` with per-disk targets: existing files, new files, devices (explicit zeros), skips, and
//! the order-independent digest. Expected contents come from the real `vma extract` outputs.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use vma::extract::{ExtractOptions, Outputs, Target, TargetKind, extract};
use vma::{DiskDigest, Reader};

use crate::common::*;

fn run(bytes: &[u8], outputs: Outputs) -> vma::Result<vma::extract::Report> {
    extract(
        Reader::new(bytes)?,
        &ExtractOptions::default(),
        outputs,
        &mut (),
    )
}

fn filled(path: &Path, size: u64, byte: u8) {
    std::fs::write(path, vec![byte; usize::try_from(size).unwrap()]).unwrap();
}

fn first_bytes(path: &Path, n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    File::open(path)
        .unwrap()
        .take(n)
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// Bytes zeroed through the `ZeroOut` callback (it cannot capture, so it counts in a static).
static ZEROED: AtomicU64 = AtomicU64::new(0);

fn count_then_decline(_: &File, _: u64, len: u64) -> std::io::Result<bool> {
    ZEROED.fetch_add(len, Ordering::Relaxed);
    Ok(false) // Declined: the extractor must write the zeros itself.
}

#[test]
fn device_target_gets_every_byte_and_keeps_its_tail() {
    let real = real_bytes(&format!("{A105}.vma"));
    let want = &extract_files(A105)[0]; // (sha256, name, size) from the real vma
    let t = tempfile::tempdir().unwrap();
    let dev = t.path().join("fake-device");
    filled(&dev, want.2 + 65536, 0xEE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
        .unwrap();
    let before = ZEROED.load(Ordering::Relaxed);
    let report = run(
        &real,
        Outputs {
            dir: None,
            targets: vec![(
                "scsi0".into(),
                Target::Device {
                    path: dev.clone(),
                    file,
                    zero_out: Some(count_then_decline),
                },
            )],
            digest: true,
        },
    )
    .unwrap();
    assert!(report.configs.is_empty(), "no directory: no configs");
    let d = &report.disks[0];
    assert_eq!(
        (d.kind, d.path.as_path()),
        (TargetKind::Device, dev.as_path())
    );
    // The old 0xEE bytes are gone everywhere the disk reaches, so zero blocks were written.
    assert_eq!(sha256_hex(&first_bytes(&dev, want.2)), want.0);
    let all = std::fs::read(&dev).unwrap();
    assert!(
        all[usize::try_from(want.2).unwrap()..]
            .iter()
            .all(|&b| b == 0xEE)
    );
    // Every zero byte of the disk went through the callback first.
    assert_eq!(ZEROED.load(Ordering::Relaxed) - before, d.sparse_bytes);
    // The digest computed while writing equals the one of the bytes read back.
    let reread = DiskDigest::of_reader(File::open(&dev).unwrap(), want.2).unwrap();
    assert_eq!(d.digest, Some(reread));
    let mut damaged = all.clone();
    damaged[4096] ^= 0x01;
    assert_ne!(DiskDigest::of_reader(&damaged[..], want.2).unwrap(), reread);
}

#[test]
fn too_small_device_is_refused_before_writing() {
    let real = real_bytes(&format!("{A105}.vma"));
    let want = &extract_files(A105)[0];
    let t = tempfile::tempdir().unwrap();
    let dev = t.path().join("small");
    filled(&dev, want.2 - 512, 0xEE);
    let file = OpenOptions::new().write(true).open(&dev).unwrap();
    let e = run(
        &real,
        Outputs {
            targets: vec![(
                "drive-scsi0".into(),
                Target::Device {
                    path: dev.clone(),
                    file,
                    zero_out: None,
                },
            )],
            ..Outputs::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is too small for drive-scsi0: it holds {} bytes, the disk needs {}",
            dev.display(),
            want.2 - 512,
            want.2
        )
    );
    assert!(std::fs::read(&dev).unwrap().iter().all(|&b| b == 0xEE));
}

#[test]
fn existing_file_is_truncated_and_stays_sparse() {
    let real = real_bytes(&format!("{A105}.vma"));
    let want = &extract_files(A105)[0];
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("existing.raw");
    filled(&out, want.2 * 2, 0xEE);
    let report = run(
        &real,
        Outputs {
            targets: vec![("scsi0".into(), Target::File(out.clone()))],
            digest: true,
            ..Outputs::default()
        },
    )
    .unwrap();
    assert_eq!(report.disks[0].kind, TargetKind::ExistingFile);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len() as u64, want.2);
    assert_eq!(sha256_hex(&bytes), want.0);
    let allocated = std::fs::metadata(&out).unwrap().blocks() * 512;
    assert!(
        allocated < want.2,
        "{allocated} bytes allocated: not sparse"
    );
    assert_eq!(
        report.disks[0].digest,
        Some(DiskDigest::of_reader(&bytes[..], want.2).unwrap())
    );
}

#[test]
fn new_file_is_renamed_when_complete_and_removed_on_failure() {
    let real = real_bytes(&format!("{A105}.vma"));
    let want = &extract_files(A105)[0];
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("new.raw");
    let report = run(
        &real,
        Outputs {
            targets: vec![("scsi0".into(), Target::File(out.clone()))],
            ..Outputs::default()
        },
    )
    .unwrap();
    assert_eq!(report.disks[0].kind, TargetKind::NewFile);
    assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), want.0);
    let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left");

    let out2 = t.path().join("cut.raw");
    let e = run(
        &real[..268_800],
        Outputs {
            targets: vec![("scsi0".into(), Target::File(out2.clone()))],
            ..Outputs::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "missing cluster 116 of device drive-scsi0");
    let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "the partial new file was removed");
}

#[test]
fn skip_and_directory_mix_in_one_pass() {
    let b = small_archive(&[("drive-scsi0", 65536), ("drive-scsi1", 65536)], |d, _| {
        vec![d as u8 + 1; 4096]
    });
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("x");
    let report = run(
        &b,
        Outputs {
            dir: Some(dir.clone()),
            targets: vec![("scsi0".into(), Target::Skip)],
            digest: false,
        },
    )
    .unwrap();
    assert_eq!(report.skipped, ["drive-scsi0"]);
    assert_eq!(report.disks.len(), 1);
    assert!(dir.join("disk-drive-scsi1.raw").exists());
    assert!(!dir.join("disk-drive-scsi0.raw").exists());
    assert!(dir.join("qemu-server.conf").exists());
    assert_eq!(report.summary.clusters, 2);
}

#[test]
fn contradictory_outputs_are_refused_before_anything_is_written() {
    let b = small_archive(&[("drive-scsi0", 65536), ("drive-scsi1", 65536)], |_, _| {
        vec![1; 4096]
    });
    let t = tempfile::tempdir().unwrap();
    let same = t.path().join("same.raw");
    let cases: Vec<(Outputs, String)> = vec![
        (
            Outputs {
                targets: vec![("scsi0".into(), Target::Skip)],
                ..Outputs::default()
            },
            "invalid restore target: drive-scsi1 has no target and no directory was given".into(),
        ),
        (
            Outputs {
                targets: vec![
                    ("scsi0".into(), Target::File(same.clone())),
                    ("drive-scsi1".into(), Target::File(same.clone())),
                ],
                ..Outputs::default()
            },
            format!(
                "invalid restore target: {} is the target of two disks",
                same.display()
            ),
        ),
        (
            Outputs {
                targets: vec![
                    ("scsi0".into(), Target::Skip),
                    ("drive-scsi0".into(), Target::Skip),
                ],
                ..Outputs::default()
            },
            "invalid restore target: drive-scsi0 is mapped twice".into(),
        ),
        (
            Outputs {
                targets: vec![("sata3".into(), Target::Skip)],
                ..Outputs::default()
            },
            "no drive named \"sata3\" in the archive (available: drive-scsi0, drive-scsi1)".into(),
        ),
    ];
    for (outputs, msg) in cases {
        assert_eq!(run(&b, outputs).unwrap_err().to_string(), msg);
    }
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}
