//! Damaged and hostile images: clear errors, never a panic or a hang.

use std::sync::Arc;

use crate::util::pattern;

fn try_open(bytes: Vec<u8>) -> Result<Box<dyn fsread::Tree>, fsread::Error> {
    fsread::open(Arc::new(bytes))
}

#[test]
fn truncated_and_scrambled_images_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("t");
    std::fs::create_dir_all(tree.join("a/b")).expect("mkdir");
    std::fs::write(tree.join("a/b/f"), pattern(100_000, 1)).expect("write");
    let img = crate::ext4::make(dir.path(), "ext4", &tree, &[]);
    let full = std::fs::read(&img).expect("read");
    // Cut short: the superblock promises more than there is.
    let err = try_open(full[..1 << 20].to_vec()).err();
    if let Some(e) = err {
        assert!(!e.to_string().is_empty());
    }
    // Scramble the inode tables and directory blocks in many ways: every call returns.
    for seed in 0..40u64 {
        let mut img = full.clone();
        let noise = pattern(4096, seed + 100);
        let at = 4096 * (2 + (seed as usize * 7) % 300);
        img[at..at + 4096].copy_from_slice(&noise);
        if let Ok(t) = try_open(img) {
            walk(&*t, b"/", 0);
        }
    }
}

/// Reads everything reachable, ignoring errors; bounded depth.
fn walk(t: &dyn fsread::Tree, path: &[u8], depth: usize) {
    if depth > 64 {
        return;
    }
    let Ok(entries) = t.list(path) else { return };
    for e in entries {
        let mut p = path.to_vec();
        if p.last() != Some(&b'/') {
            p.push(b'/');
        }
        p.extend_from_slice(&e.name);
        match e.stat.kind {
            fsread::FileType::Dir => walk(t, &p, depth + 1),
            fsread::FileType::File => {
                let _ = t.read_range(&p, 0, 1 << 20);
            }
            _ => {
                let _ = t.read_link(&p);
            }
        }
    }
}

#[test]
fn fat_directory_that_contains_itself_stops() {
    // A FAT16 image whose subdirectory's cluster chain loops back to itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let img = testimg::mkfs(dir.path(), "loop.img", 16 << 20, &["mkfs.vfat", "-F", "16"]);
    testimg::run("mmd", &["-i", img.to_str().expect("utf-8"), "::/sub"]);
    let mut bytes = std::fs::read(&img).expect("read");
    // Find the FAT: reserved sectors from the BPB; `sub` got cluster 2 (the first free).
    let bps = u16::from_le_bytes([bytes[11], bytes[12]]) as usize;
    let reserved = u16::from_le_bytes([bytes[14], bytes[15]]) as usize;
    let fat = reserved * bps;
    // Entry 2 points to 2: the chain never ends.
    bytes[fat + 4..fat + 6].copy_from_slice(&2u16.to_le_bytes());
    let t = try_open(bytes).expect("boot sector is fine");
    let r = t.list(b"/sub");
    // Either the entries repeat until the limit, or the chain is refused: an error, in time.
    assert!(r.is_err() || r.is_ok_and(|v| v.len() < 70_000));
}

#[test]
fn probe_names_what_it_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xfs = testimg::mkfs(dir.path(), "x.img", 300 << 20, &["mkfs.xfs", "-q"]);
    let e = try_open(std::fs::read(&xfs).expect("read"))
        .err()
        .expect("refused");
    assert_eq!(
        e.to_string(),
        "xfs: not a filesystem that can be read without mounting"
    );
    assert!(e.hint().expect("hint").contains("pverescue mount"));
    let e = try_open(vec![0u8; 1 << 20]).err().expect("refused");
    assert!(
        e.to_string().starts_with("unknown data (first bytes 0000"),
        "{e}"
    );
}

/// Found by the `fsread_open` fuzz target: `ntfs` 0.4 panics on an I/O error inside a
/// structure (a boot sector cut short). Reads past the end now give zeros to the crate and an
/// error to the caller.
#[test]
fn fuzz_ntfs_boot_sector_cut_short_is_an_error() {
    let mut boot = vec![0xeb, 0x52, 0x90];
    boot.extend_from_slice(b"NTFS    ");
    boot.extend_from_slice(&[0u8; 100]);
    let e = try_open(boot).err().expect("refused");
    assert!(e.to_string().contains("NTFS"), "{e}");
}

#[test]
fn ntfs_cut_in_half_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = testimg::sparse(dir.path(), "n.img", 16 << 20);
    testimg::run("mkntfs", &["-F", "-f", "-q", img.to_str().expect("utf-8")]);
    let src = dir.path().join("f");
    std::fs::write(&src, pattern(3 << 20, 4)).expect("write");
    testimg::run(
        "ntfscp",
        &[
            "-f",
            img.to_str().expect("utf-8"),
            src.to_str().expect("utf-8"),
            "/f",
        ],
    );
    let full = std::fs::read(&img).expect("read");
    for cut in [512, 4096, 1 << 20, 4 << 20, 8 << 20, 12 << 20] {
        if let Ok(t) = try_open(full[..cut].to_vec()) {
            walk(&*t, b"/", 0);
            if let Ok(b) = t.read_range(b"/f", 0, 4 << 20) {
                // Whatever is returned came from the image, not from beyond its end.
                assert!(b.len() <= 3 << 20);
            }
        }
    }
}

/// Found by the `fsread_open` fuzz target: a subdirectory whose first cluster is 1 made fatfs
/// 0.3.6 subtract past zero (a panic with overflow checks, which the workspace now turns off for
/// fatfs as release builds do). Listing it is an error or nothing, never a panic.
#[test]
fn fuzz_fat_directory_at_cluster_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = testimg::mkfs(dir.path(), "c1.img", 4 << 20, &["mkfs.vfat", "-F", "12"]);
    testimg::run("mmd", &["-i", img.to_str().expect("utf-8"), "::/SUB"]);
    let mut bytes = std::fs::read(&img).expect("read");
    // The root directory's entry `SUB        `: its first cluster (bytes 26..28) becomes 1.
    let at = bytes
        .windows(11)
        .position(|w| w == b"SUB        ")
        .expect("entry");
    bytes[at + 26..at + 28].copy_from_slice(&1u16.to_le_bytes());
    let t = try_open(bytes).expect("boot sector is fine");
    let _ = t.list(b"/SUB");
    let _ = t.read_range(b"/SUB", 0, 10);
}
