//! A backup directory: what `scan` finds in it, and what it leaves out.

use std::path::Path;

use backupset::{Member, Role, scan};

fn touch(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), b"x").unwrap();
}

#[test]
fn fulls_differentials_orphans_sorted_logs_left_out() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let full = "vzdump-qemu-100-2026_01_01-00_00_00.vma.zst";
    let diff1 = format!("{full}--differential-2026_01_02-00_00_00.vcdiff.zst");
    let diff2 = format!("{full}--differential-2026_01_03-00_00_00.vcdiff");
    let orphan =
        "vzdump-qemu-100-2025_12_01-00_00_00.vma.gz--differential-2025_12_02-00_00_00.vcdiff.gz";
    let lxc = "vzdump-lxc-20-2026_01_05-00_00_00.tar.zst";
    for name in [full, &diff1, &diff2, orphan, lxc] {
        touch(d, name);
    }
    touch(d, "vzdump-qemu-100-2026_01_01-00_00_00.log");
    touch(
        d,
        "vzdump-qemu-100-2026_01_01-00_00_00--differential-2026_01_02-00_00_00.log",
    );
    touch(d, "README");
    // A directory named like a full is not a backup; a symlink to a full is.
    std::fs::create_dir(d.join("vzdump-qemu-5-2026_01_01-00_00_00.vma")).unwrap();
    std::os::unix::fs::symlink(
        d.join(full),
        d.join("vzdump-qemu-6-2026_01_01-00_00_00.vma.zst"),
    )
    .unwrap();

    let found = scan(d).unwrap();
    let want = vec![
        Member {
            path: d.join(full),
            role: Role::Full,
        },
        Member {
            path: d.join(&diff1),
            role: Role::Differential { base: d.join(full) },
        },
        Member {
            path: d.join(&diff2),
            role: Role::Differential { base: d.join(full) },
        },
        Member {
            path: d.join(orphan),
            role: Role::Orphan {
                expected_base: d.join("vzdump-qemu-100-2025_12_01-00_00_00.vma.gz"),
            },
        },
        Member {
            path: d.join("vzdump-qemu-6-2026_01_01-00_00_00.vma.zst"),
            role: Role::Full,
        },
        Member {
            path: d.join(lxc),
            role: Role::Full,
        },
    ];
    // Sorted by name, each full right before its differentials.
    let mut sorted = want.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(found, sorted);
}

#[test]
fn a_missing_directory_is_named() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("gone");
    let err = scan(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read directory {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}
