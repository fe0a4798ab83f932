//! File names, with the expected classes from `shared/specs/differential.md` §2.2.

use std::path::{Path, PathBuf};

use backupset::{FileClass, classify, full_name_of, full_path_of};

const FULL: &str = "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst";

#[test]
fn fulls_of_every_guest_kind_and_compressor() {
    for name in [
        "vzdump-qemu-100-2020_05_01-01_00_02.vma",
        "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst",
        "vzdump-qemu-100-2020_05_01-01_00_02.vma.gz",
        "vzdump-qemu-100-2020_05_01-01_00_02.vma.lzo",
        "vzdump-lxc-101-2020_05_01-01_00_02.tar.zst",
        "vzdump-lxc-101-2020_05_01-01_00_02.tar",
        "vzdump-openvz-102-2012_05_01-01_00_02.tgz",
    ] {
        assert_eq!(classify(name), FileClass::Full, "{name}");
    }
}

#[test]
fn differentials_name_their_full() {
    // The spec's example, then a differential compressed by another tool than its full, and an
    // uncompressed one (compress=0).
    for (name, full) in [
        (
            "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst",
            FULL,
        ),
        (
            "vzdump-qemu-7-2019_01_01-00_00_00.vma.lzo--differential-2019_01_02-00_00_00.vcdiff.zst",
            "vzdump-qemu-7-2019_01_01-00_00_00.vma.lzo",
        ),
        (
            "vzdump-lxc-9-2019_01_01-00_00_00.tar--differential-2019_01_02-00_00_00.vcdiff",
            "vzdump-lxc-9-2019_01_01-00_00_00.tar",
        ),
    ] {
        assert_eq!(
            classify(name),
            FileClass::Differential { full: full.into() },
            "{name}"
        );
        assert_eq!(full_name_of(name), Some(full));
        assert_eq!(
            full_path_of(&Path::new("/backups").join(name)),
            Some(PathBuf::from("/backups").join(full))
        );
    }
}

#[test]
fn logs_and_foreign_files_are_other() {
    for name in [
        // The differential's log, and the full's.
        "vzdump-qemu-100-2020_05_01-01_00_02--differential-2020_05_03-01_00_05.log",
        "vzdump-qemu-100-2020_05_01-01_00_02.log",
        // A delta of something that is not a vzdump full.
        "notes.txt--differential-2020_05_03-01_00_05.vcdiff",
        // Nothing before the marker.
        "--differential-2020_05_03-01_00_05.vcdiff",
        "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst.notes",
        "vzdump-qemu-abc-2020_05_01-01_00_02.vma",
        "README",
    ] {
        assert_eq!(classify(name), FileClass::Other, "{name}");
    }
    assert_eq!(
        full_name_of("--differential-2020_05_03-01_00_05.vcdiff"),
        None
    );
    assert_eq!(full_path_of(Path::new(FULL)), None);
}
