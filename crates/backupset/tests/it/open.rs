//! Differentials made as vzdump made them, opened and read back as the archive that went into
//! xdelta3 (the oracle: that very file); a missing full; a wrong full; a differential as base.

use std::io::Read;
use std::path::{Path, PathBuf};

use backupset::{Archive, Content, DeltaError, Error, OpenOptions, check_into};
use testimg::sh;
use vma::{Config, NewArchive, Writer};

/// A 1 MiB disk whose bytes follow `seed`.
fn disk(seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A plain VMA `name` in `dir` with `disk` as drive-scsi0.
fn vma_file(dir: &Path, name: &str, disk: &[u8]) -> PathBuf {
    let archive = NewArchive {
        uuid: [7; 16],
        ctime: 1_800_000_000,
        configs: vec![Config {
            name: "qemu-server.conf".into(),
            data: b"scsi0: local:vm-1-disk-0,size=1M\n".to_vec(),
        }],
        devices: vec![("drive-scsi0".into(), disk.len() as u64)],
    };
    let path = dir.join(name);
    let mut w = Writer::new(std::fs::File::create(&path).unwrap(), &archive).unwrap();
    for (i, c) in disk.chunks(65536).enumerate() {
        w.write_cluster(1, u32::try_from(i).unwrap(), c).unwrap();
    }
    w.finish().unwrap();
    path
}

/// A backup directory: a full as vzdump-gzip made it, and the differential to a newer state made
/// by `xdelta3 -e -q -c -s FULL.vma.gz` (xdelta3 decompresses the full itself, as
/// pve-xdelta3 did) compressed by zstd. Returns (dir, full, differential, state 2's VMA).
struct Set {
    _t: tempfile::TempDir,
    dir: PathBuf,
    full: PathBuf,
    diff: PathBuf,
    new_vma: PathBuf,
}

fn set() -> Set {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().to_path_buf();
    let dir = work.join("dump");
    std::fs::create_dir(&dir).unwrap();
    // The newer state differs from the full in 4 KiB: the delta is mostly copies from the full.
    let old = disk(1);
    let mut new = old.clone();
    new[300 << 10..304 << 10].fill(0xEE);
    let old_vma = vma_file(&work, "old.vma", &old);
    let new_vma = vma_file(&work, "new.vma", &new);
    let full = dir.join("vzdump-qemu-1-2026_01_01-00_00_00.vma.gz");
    sh("gzip -c \"$1\" > \"$2\"", &[&old_vma, &full]);
    let diff = dir.join(
        "vzdump-qemu-1-2026_01_01-00_00_00.vma.gz--differential-2026_01_02-00_00_00.vcdiff.zst",
    );
    sh(
        "xdelta3 -e -q -c -s \"$1\" < \"$2\" | zstd -q > \"$3\"",
        &[&full, &new_vma, &diff],
    );
    Set {
        _t: t,
        dir,
        full,
        diff,
        new_vma,
    }
}

#[test]
fn a_differential_reads_as_the_archive_xdelta3_was_given() {
    let s = set();
    let mut a = Archive::open(&s.diff, &OpenOptions::default()).unwrap();
    assert_eq!(a.content(), Content::Vma);
    assert_eq!(a.compression(), unpack::Format::Zstd);
    let info = a.diff().unwrap().clone();
    assert_eq!(info.base, s.full);
    assert!(info.base_by_name);
    assert_eq!(info.base_format, unpack::Format::Gzip);
    let mut got = Vec::new();
    a.read_to_end(&mut got).unwrap();
    assert!(
        got == std::fs::read(&s.new_vma).unwrap(),
        "the differential does not read as the VMA given to xdelta3"
    );
    assert!(a.warnings().is_empty(), "{:?}", a.warnings());

    // check_into proves it complete while copying it.
    let mut a = Archive::open(&s.diff, &OpenOptions::default()).unwrap();
    let mut copy = Vec::new();
    check_into(&mut a, &mut copy, &mut ()).unwrap();
    assert!(copy == got);
}

#[test]
fn the_full_can_be_given_under_another_name() {
    let s = set();
    let elsewhere = s.dir.join("renamed.vma.gz");
    std::fs::rename(&s.full, &elsewhere).unwrap();
    let opts = OpenOptions {
        base: Some(elsewhere.clone()),
        ..OpenOptions::default()
    };
    let mut a = Archive::open(&s.diff, &opts).unwrap();
    let info = a.diff().unwrap().clone();
    assert_eq!(info.base, elsewhere);
    assert!(!info.base_by_name);
    let mut got = Vec::new();
    a.read_to_end(&mut got).unwrap();
    assert!(got == std::fs::read(&s.new_vma).unwrap());
}

#[test]
fn a_missing_full_is_named_with_a_hint() {
    let s = set();
    std::fs::remove_file(&s.full).unwrap();
    let err = Archive::open(&s.diff, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::BaseMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: its full backup {} is missing",
            s.diff.display(),
            s.full.display()
        )),
        "{msg}"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("put the full next to the differential, or name it with --base FULL")
    );
}

#[test]
fn a_wrong_full_fails_and_names_the_right_one() {
    let s = set();
    // Another full of the same VM, given as the base.
    let other_vma = vma_file(s.dir.parent().unwrap(), "other.vma", &disk(3));
    let other = s.dir.join("vzdump-qemu-1-2026_01_05-00_00_00.vma.gz");
    sh("gzip -c \"$1\" > \"$2\"", &[&other_vma, &other]);
    let opts = OpenOptions {
        base: Some(other),
        ..OpenOptions::default()
    };
    let read = Archive::open(&s.diff, &opts)
        .and_then(|mut a| check_into(&mut a, &mut std::io::sink(), &mut ()).map(drop));
    let err = read.expect_err("the wrong full must not give an archive");
    assert!(err.to_string().contains("adler-32 mismatch"), "{err}");
    // The decoding error travels inside an io::Error (found with DeltaError::from_io, as the CLI
    // does); `Error::hint` itself gives nothing for this `Read` error.
    let Error::Read { source, .. } = &err else {
        panic!("not a read error: {err:?}")
    };
    let delta = DeltaError::from_io(source).unwrap_or_else(|| panic!("no DeltaError in {err:?}"));
    // xdelta3's app header names the full it read (the path given to -s).
    assert_eq!(
        delta.hint().as_deref(),
        Some(
            "this differential was made against vzdump-qemu-1-2026_01_01-00_00_00.vma.gz, not \
             vzdump-qemu-1-2026_01_05-00_00_00.vma.gz: restore it with that full (--base FULL)"
        )
    );
}

#[test]
fn a_differential_is_not_a_base() {
    let s = set();
    let opts = OpenOptions {
        base: Some(s.diff.clone()),
        ..OpenOptions::default()
    };
    let err = Archive::open(&s.diff, &opts).unwrap_err();
    assert!(matches!(err, Error::BaseIsDifferential { .. }), "{err:?}");
}
