//! ext2/3/4 images made by `mkfs.ext4 -d` from trees the tests write.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::util::{compare_tree, names, open, pattern, read_all, set_mtime, walk};

/// Writes the test tree under `root` and returns it: deep, a 2500-entry (hashed) directory,
/// symlinks, hardlinks, a sparse file, unicode names, setuid/setgid/sticky bits, owners when
/// root, and fixed mtimes.
pub fn write_tree(root: &Path) -> PathBuf {
    let t = root.join("tree");
    let w = |p: &str, data: &[u8]| {
        let p = t.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    w("etc/nginx/nginx.conf", b"worker_processes 4;\n");
    let mut deep = String::from("deep");
    for i in 0..60 {
        deep.push_str(&format!("/d{i}"));
    }
    w(&format!("{deep}/leaf.txt"), b"at the bottom\n");
    for i in 0..2500 {
        w(&format!("big/file-{i:05}"), format!("{i}\n").as_bytes());
    }
    w("h\u{e9}llo w\u{f6}rld \u{2603}.txt", "ünïcödé\n".as_bytes());
    w("data/large.bin", &pattern(3 << 20 | 123, 7));
    w("hard1", b"one inode, two names\n");
    std::fs::hard_link(t.join("hard1"), t.join("data/hard2")).expect("hardlink");
    std::fs::create_dir_all(t.join("links")).expect("mkdir");
    symlink("../etc/nginx/nginx.conf", t.join("links/rel")).expect("symlink");
    symlink("/etc/nginx/nginx.conf", t.join("links/abs")).expect("symlink");
    symlink("nowhere/at/all", t.join("links/dangling")).expect("symlink");
    // A sparse file: 8 MiB with data at 5 MiB only.
    let f = std::fs::File::create(t.join("data/sparse.img")).expect("create");
    f.set_len(8 << 20).expect("size");
    std::os::unix::fs::FileExt::write_all_at(&f, &pattern(5000, 3), 5 << 20).expect("write");
    w("bin/suid", b"#!/bin/sh\n");
    std::fs::set_permissions(t.join("bin/suid"), PermissionsExt::from_mode(0o4755)).expect("chmod");
    std::fs::create_dir_all(t.join("tmp")).expect("mkdir");
    std::fs::set_permissions(t.join("tmp"), PermissionsExt::from_mode(0o1777)).expect("chmod");
    w("bin/sgid", b"x");
    std::fs::set_permissions(t.join("bin/sgid"), PermissionsExt::from_mode(0o2750)).expect("chmod");
    if rustix_uid() == 0 {
        std::os::unix::fs::lchown(t.join("etc/nginx/nginx.conf"), Some(1234), Some(5678))
            .expect("chown");
        std::os::unix::fs::lchown(t.join("links/rel"), Some(33), Some(33)).expect("chown");
    }
    // Fixed, distinct mtimes, children before parents.
    let all = walk(&t);
    for (i, p) in all.iter().rev().enumerate() {
        set_mtime(p, 1_600_000_000 + i as i64 * 3601);
    }
    t
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
}

/// `mkfs.ext4 -d TREE` (or another `mke2fs -t`) into a new 96 MiB image.
pub fn make(dir: &Path, fstype: &str, tree: &Path, extra: &[&str]) -> PathBuf {
    let img = testimg::sparse(dir, &format!("{fstype}.img"), 96 << 20);
    let mut args = vec![
        "-q",
        "-F",
        "-t",
        fstype,
        "-d",
        tree.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    args.push(img.to_str().expect("utf-8"));
    testimg::run("mke2fs", &args);
    img
}

#[test]
fn ext4_tree_reads_back_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = write_tree(dir.path());
    let img = make(dir.path(), "ext4", &tree, &["-L", "rootfs"]);
    // mke2fs -d writes linear directories; e2fsck -D indexes the large one (exit 1: changed).
    testimg::sh("e2fsck -fyD \"$1\" >/dev/null 2>&1; [ $? -le 1 ]", &[&img]);
    let t = open(&img);
    assert_eq!(t.kind(), fsread::Kind::Ext);
    assert_eq!(t.label().as_deref(), Some("rootfs"));
    compare_tree(&*t, "/", &tree, true);
    // The big directory is hashed (dir_index): debugfs says so, and every name is there.
    let htree = testimg::run(
        "debugfs",
        &["-R", "htree_dump /big", img.to_str().expect("utf-8")],
    );
    assert!(htree.contains("Root node dump"), "{htree}");
    assert_eq!(names(&*t, "/big").len(), 2500);
    // Deep paths, with or without a leading slash and through `..`.
    let mut deep = String::from("deep");
    for i in 0..60 {
        deep.push_str(&format!("/d{i}"));
    }
    assert_eq!(
        read_all(&*t, &format!("{deep}/leaf.txt")),
        b"at the bottom\n"
    );
    assert_eq!(
        read_all(&*t, "etc/../etc/nginx/nginx.conf"),
        b"worker_processes 4;\n"
    );
    // Symlinks are followed by stat and open, not by lstat.
    assert_eq!(read_all(&*t, "/links/rel"), b"worker_processes 4;\n");
    assert_eq!(
        t.lstat(b"/links/rel").expect("lstat").kind,
        fsread::FileType::Symlink
    );
    assert_eq!(
        t.stat(b"/links/abs").expect("stat").kind,
        fsread::FileType::File
    );
    // A byte range.
    let large = std::fs::read(tree.join("data/large.bin")).expect("read");
    assert_eq!(
        t.read_range(b"/data/large.bin", 1_000_000, 70_000)
            .expect("range"),
        &large[1_000_000..1_070_000]
    );
    assert_eq!(
        t.read_range(b"/data/large.bin", large.len() as u64 - 10, 100)
            .expect("tail"),
        &large[large.len() - 10..]
    );
}

#[test]
fn ext4_hardlinks_share_the_inode_debugfs_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = write_tree(dir.path());
    let img = make(dir.path(), "ext4", &tree, &[]);
    let t = open(&img);
    let a = t.stat(b"/hard1").expect("stat").ino.expect("ino");
    let b = t.stat(b"/data/hard2").expect("stat").ino.expect("ino");
    assert_eq!(a, b);
    // `debugfs -R "stat /hard1"` starts with `Inode: N`.
    let out = testimg::run(
        "debugfs",
        &["-R", "stat /hard1", img.to_str().expect("utf-8")],
    );
    let ino: u64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("debugfs stat: {out}"));
    assert_eq!(a, ino);
    assert_ne!(t.stat(b"/etc/nginx/nginx.conf").expect("stat").ino, Some(a));
}

#[test]
fn ext2_and_ext3_read_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("small");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/f.txt"), pattern_text()).expect("write");
    for fstype in ["ext2", "ext3"] {
        let img = make(dir.path(), fstype, &tree, &[]);
        let t = open(&img);
        compare_tree(&*t, "/", &tree, true);
    }
}

fn pattern_text() -> Vec<u8> {
    (0..50_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[test]
fn ext4_features_the_crate_cannot_read_name_themselves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("small");
    std::fs::create_dir_all(&tree).expect("mkdir");
    std::fs::write(tree.join("tiny"), b"inline").expect("write");
    let img = make(dir.path(), "ext4", &tree, &["-O", "inline_data"]);
    let view = diskview::FileView::open(&img).expect("open");
    let err = fsread::open(std::sync::Arc::new(view))
        .err()
        .expect("refused");
    assert_eq!(
        err.to_string(),
        "ext4: the inline_data feature is not supported"
    );
    assert!(err.hint().expect("hint").contains("pverescue mount"));
}
