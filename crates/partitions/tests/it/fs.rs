//! Whole-disk filesystems made by mkfs tools, identified like blkid does.

use partitions::{FsKind, TableKind};

use crate::tools::*;

const MIB: u64 = 1 << 20;

/// Makes a whole-disk image of `size` MiB with `make(path)` and checks kind, label and UUID
/// against `blkid -p`.
fn check(name: &str, size: u64, kind: FsKind, make: impl FnOnce(&str)) -> partitions::Scan {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), name, size * MIB);
    make(img.to_str().expect("path"));
    let scan = scan(&img);
    assert_eq!(scan.table, TableKind::None, "{name}: {scan:#?}");
    assert!(scan.partitions.is_empty());
    let fs = scan.whole_disk_fs.clone().expect("whole-disk fs");
    assert_eq!(fs.kind, kind, "{name}");
    let (ty, label, uuid) = blkid(&img, 0);
    assert_eq!(blkid_type(fs.kind), ty, "{name}");
    assert_eq!(fs.label, label, "{name}");
    assert_eq!(fs.uuid, uuid, "{name}");
    if let Some(declared) = fs.size {
        assert!(declared <= size * MIB, "{name}: {declared}");
    }
    scan
}

#[test]
fn ext2_ext3_ext4() {
    check("ext2.img", 8, FsKind::Ext2, |p| {
        run("mkfs.ext2", &["-q", "-L", "two", p]).clear()
    });
    check("ext3.img", 8, FsKind::Ext3, |p| {
        run("mkfs.ext3", &["-q", "-L", "three", p]).clear()
    });
    let s = check("ext4.img", 8, FsKind::Ext4, |p| {
        run("mkfs.ext4", &["-q", "-L", "four", p]).clear()
    });
    let fs = s.whole_disk_fs.clone().expect("fs");
    assert_eq!(fs.size, Some(8 * MIB));
    assert!(
        fs.detail
            .as_deref()
            .is_some_and(|d| d.contains("has_journal") && d.contains("extent"))
    );
    let t = &s.mount_targets()[0];
    assert_eq!(
        (t.id.as_str(), t.offset, t.size, t.fstype),
        ("disk", 0, 8 * MIB, "ext4")
    );
}

#[test]
fn xfs_and_btrfs() {
    let s = check("xfs.img", 300, FsKind::Xfs, |p| {
        run("mkfs.xfs", &["-q", "-L", "xlabel", p]).clear()
    });
    assert_eq!(s.whole_disk_fs.and_then(|f| f.size), Some(300 * MIB));
    let s = check("btrfs.img", 120, FsKind::Btrfs, |p| {
        run("mkfs.btrfs", &["-q", "-L", "blabel", p]).clear()
    });
    assert_eq!(s.whole_disk_fs.and_then(|f| f.size), Some(120 * MIB));
}

#[test]
fn fat_and_ntfs() {
    let s = check("fat32.img", 40, FsKind::Vfat, |p| {
        run("mkfs.vfat", &["-F", "32", "-n", "F32", p]).clear()
    });
    assert_eq!(
        s.whole_disk_fs.and_then(|f| f.detail).as_deref(),
        Some("FAT32")
    );
    let s = check("fat12.img", 2, FsKind::Vfat, |p| {
        run("mkfs.vfat", &["-F", "12", p]).clear()
    });
    assert_eq!(
        s.whole_disk_fs.and_then(|f| f.detail).as_deref(),
        Some("FAT12")
    );
    // blkid reads the NTFS label from the $Volume file, which a superblock sniffer does not;
    // the serial number (UUID) and type must match.
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), "ntfs.img", 16 * MIB);
    run("mkntfs", &["-q", "-F", "-f", img.to_str().expect("path")]);
    let scan = scan(&img);
    let fs = scan.whole_disk_fs.clone().expect("fs");
    let (ty, _, uuid) = blkid(&img, 0);
    assert_eq!((blkid_type(fs.kind), fs.uuid), (ty.as_str(), uuid));
    assert_eq!(scan.table, TableKind::None);
    assert_eq!(scan.mount_targets()[0].fstype, "ntfs3");
}

#[test]
fn swap_luks_squashfs_iso() {
    check("swap.img", 8, FsKind::Swap, |p| {
        run("mkswap", &["-L", "swappy", p]).clear()
    });
    check("luks.img", 20, FsKind::Luks, |p| {
        testimg::luks_format(p, &["--label", "vault"]);
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("hello.txt"), "hello").expect("write");
    let sq = dir.path().join("sq.img");
    run(
        "mksquashfs",
        &[
            src.to_str().expect("p"),
            sq.to_str().expect("p"),
            "-quiet",
            "-no-progress",
        ],
    );
    let sq_scan = scan(&sq);
    assert_eq!(
        sq_scan.whole_disk_fs.as_ref().map(|f| f.kind),
        Some(FsKind::Squashfs)
    );
    assert_eq!(blkid(&sq, 0).0, "squashfs");
    let iso = dir.path().join("cd.iso");
    run(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-V",
            "MYDISC",
            "-o",
            iso.to_str().expect("p"),
            src.to_str().expect("p"),
        ],
    );
    let scan = scan(&iso);
    let fs = scan.whole_disk_fs.clone().expect("fs");
    let (ty, label, uuid) = blkid(&iso, 0);
    assert_eq!(
        (blkid_type(fs.kind), fs.label, fs.uuid),
        (ty.as_str(), label, uuid)
    );
}

#[test]
fn unknown_content_shows_hex() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), "junk.img", MIB);
    poke(&img, 0, b"\x01\x02hello");
    let scan = scan(&img);
    let fs = scan.whole_disk_fs.clone().expect("fs");
    assert_eq!(fs.kind, FsKind::Unknown);
    assert_eq!(
        fs.first_bytes.as_deref(),
        Some("01 02 68 65 6c 6c 6f 00 00 00 00 00 00 00 00 00")
    );
    assert!(scan.mount_targets().is_empty());
}
