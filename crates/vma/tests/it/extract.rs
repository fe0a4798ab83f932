//! `extract_to_dir`: naming, selection, sparseness, zeroes and cleanup.

use std::os::unix::fs::MetadataExt;

use vma::Reader;
use vma::extract::{ExtractOptions, extract_to_dir};

use crate::common::*;

fn extract(
    bytes: &[u8],
    dir: &std::path::Path,
    opts: &ExtractOptions,
) -> vma::Result<vma::extract::Report> {
    extract_to_dir(Reader::new(bytes)?, dir, opts, &mut ())
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Two disks: "drive-scsi0" with pattern data in every other block, "drive-virtio1" all ones.
fn two_disks() -> Vec<u8> {
    small_archive(
        &[("drive-scsi0", 3 * 65536 + 512), ("drive-virtio1", 65536)],
        |d, c| {
            let mut v = vec![0u8; 65536];
            for j in (0..16).step_by(2) {
                v[j * 4096..(j + 1) * 4096].fill(d as u8 * 16 + c as u8 + 1);
            }
            v
        },
    )
}

fn expected_scsi0() -> Vec<u8> {
    let mut v = vec![0u8; 3 * 65536 + 512];
    for c in 0..4usize {
        for j in (0..16).step_by(2) {
            let start = c * 65536 + j * 4096;
            let end = (start + 4096).min(v.len());
            if start < end {
                v[start..end].fill(c as u8 + 1);
            }
        }
    }
    v
}

#[test]
fn extracts_configs_and_disks_with_vma_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    let report = extract(&two_disks(), &dir, &ExtractOptions::default()).unwrap();
    assert_eq!(
        names(&dir),
        [
            "disk-drive-scsi0.raw",
            "disk-drive-virtio1.raw",
            "qemu-server.conf"
        ]
    );
    assert_eq!(
        std::fs::read(dir.join("qemu-server.conf")).unwrap(),
        b"cores: 1\n"
    );
    assert_eq!(
        std::fs::read(dir.join("disk-drive-scsi0.raw")).unwrap(),
        expected_scsi0()
    );
    let d = &report.disks[0];
    assert_eq!(
        (d.id, d.name.as_str(), d.size),
        (1, "drive-scsi0", 3 * 65536 + 512)
    );
    // 3 full clusters of 8 stored blocks, then 512 bytes of the fourth.
    assert_eq!(d.stored_bytes, 3 * 8 * 4096 + 512);
    assert_eq!(d.sparse_bytes, d.size - d.stored_bytes);
    assert_eq!(report.configs[0].size, 9);
}

#[test]
fn drive_selection_accepts_short_names_and_rejects_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    let opts = ExtractOptions {
        drives: Some(vec!["virtio1".into()]),
        ..Default::default()
    };
    let report = extract(&two_disks(), &dir, &opts).unwrap();
    assert_eq!(names(&dir), ["disk-drive-virtio1.raw", "qemu-server.conf"]);
    assert_eq!(report.summary.clusters, 5); // the whole stream was still read

    let dir2 = tmp.path().join("y");
    let opts = ExtractOptions {
        drives: Some(vec!["drive-scsi0".into(), "sata9".into()]),
        ..Default::default()
    };
    let e = extract(&two_disks(), &dir2, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no drive named \"sata9\" in the archive (available: drive-scsi0, drive-virtio1)"
    );
    assert!(!dir2.exists());
}

#[test]
fn existing_directory_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    std::fs::create_dir(&dir).unwrap();
    let e = extract(&two_disks(), &dir, &ExtractOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), format!("{} already exists", dir.display()));
    assert!(e.hint().is_some());
    let force = ExtractOptions {
        force: true,
        ..Default::default()
    };
    extract(&two_disks(), &dir, &force).unwrap();
    // Again over the existing files.
    extract(&two_disks(), &dir, &force).unwrap();
    assert_eq!(
        std::fs::read(dir.join("disk-drive-scsi0.raw")).unwrap(),
        expected_scsi0()
    );
}

#[test]
fn failure_removes_what_this_run_created() {
    let tmp = tempfile::tempdir().unwrap();
    let full = two_disks();
    // Drop the last cluster entry's extent: the archive is incomplete.
    let cut = &full[..full.len() - 1];
    let dir = tmp.path().join("x");
    let e = extract(cut, &dir, &ExtractOptions::default()).unwrap_err();
    assert!(matches!(e, vma::Error::Truncated { .. }), "{e}");
    assert!(!dir.exists());

    // With force into an existing directory: the directory and foreign files stay.
    let dir = tmp.path().join("y");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), b"mine").unwrap();
    let real = real_bytes(&format!("{A105}.vma"));
    let force = ExtractOptions {
        force: true,
        ..Default::default()
    };
    let e = extract(&real[..268_800], &dir, &force).unwrap_err();
    assert_eq!(e.to_string(), "missing cluster 116 of device drive-scsi0");
    assert_eq!(names(&dir), ["keep.txt"]);
}

#[test]
fn write_zeroes_allocates_and_matches() {
    let real = real_bytes(&format!("{A105}.vma"));
    let tmp = tempfile::tempdir().unwrap();
    let opts = ExtractOptions {
        write_zeroes: true,
        ..Default::default()
    };
    let dir = tmp.path().join("x");
    extract(&real, &dir, &opts).unwrap();
    let path = dir.join("disk-drive-scsi0.raw");
    let bytes = std::fs::read(&path).unwrap();
    let want = &extract_files(A105)[0];
    assert_eq!(sha256_hex(&bytes), want.0);
    let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(allocated >= want.2, "{allocated} of {}", want.2);
}

#[test]
fn vmstate_is_placed_by_position() {
    let size = 2 * 65536 + 4096;
    let b = small_archive(&[("vmstate", size)], |_, c| {
        let mut v = vec![0u8; 65536];
        v[4096..8192].fill(c as u8 + 1); // block 0 zero, block 1 stored
        v
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    extract(&b, &dir, &ExtractOptions::default()).unwrap();
    assert_eq!(names(&dir), ["qemu-server.conf", "vmstate.bin"]);
    let got = std::fs::read(dir.join("vmstate.bin")).unwrap();
    let mut want = vec![0u8; size as usize];
    want[4096..8192].fill(1);
    want[65536 + 4096..65536 + 8192].fill(2);
    assert_eq!(got, want);
}

#[test]
fn progress_is_reported_per_extent() {
    struct Count(Vec<u64>);
    impl vma::Progress for Count {
        fn read(&mut self, done: u64) {
            self.0.push(done);
        }
    }
    let b = small_archive(&[("drive-scsi0", 130 * 65536)], |_, _| vec![1; 10]);
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Count(Vec::new());
    extract_to_dir(
        Reader::new(&b[..]).unwrap(),
        &tmp.path().join("x"),
        &ExtractOptions::default(),
        &mut p,
    )
    .unwrap();
    // 130 clusters: extents of 58, 58 and 14, then the final report; in archive bytes, ending
    // at the archive's length.
    assert_eq!(p.0.len(), 4, "{:?}", p.0);
    assert!(
        p.0.windows(2)
            .all(|w| w[0] < w[1] || w[1] == b.len() as u64),
        "{:?}",
        p.0
    );
    assert_eq!(p.0.last(), Some(&(b.len() as u64)));
}

/// Disks are written with direct I/O where the filesystem allows it: a restore does not fill the
/// page cache (on a rescue machine, memory stays free whatever the disk size), and the final sync
/// finds nothing left to write. `fincore` (util-linux) counts the restored file's cached pages.
#[test]
fn restores_bypass_the_page_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    let direct = rustix::fs::open(
        &probe,
        rustix::fs::OFlags::CREATE | rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::DIRECT,
        rustix::fs::Mode::from_raw_mode(0o600),
    );
    if direct.is_err() {
        testimg::skip_unsupported(
            "restores_bypass_the_page_cache",
            &format!("{} does not support O_DIRECT", tmp.path().display()),
        );
        return;
    }
    // 16 MiB plus a partial block at the end, which goes through the page cache.
    let size = 256 * 65536 + 512;
    let bytes = small_archive(&[("drive-scsi0", size)], |_, c| vec![c as u8 | 1; 65536]);
    let dir = tmp.path().join("x");
    extract(&bytes, &dir, &ExtractOptions::default()).unwrap();
    let disk = dir.join("disk-drive-scsi0.raw");
    let want: Vec<u8> = (0..size).map(|i| (i / 65536) as u8 | 1).collect();
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(&disk)
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        panic!("fincore (util-linux) is needed: apt-get install util-linux");
    };
    let resident: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(
        resident <= 4096,
        "{resident} bytes of the restored disk are in the page cache"
    );
    assert!(
        std::fs::read(&disk).unwrap() == want,
        "restored bytes differ"
    );
}
