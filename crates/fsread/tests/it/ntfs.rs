//! NTFS images made by `mkntfs`, filled by `ntfscp` (no privileges) or through an `ntfs-3g`
//! FUSE mount (root: nesting and compressed files).

use std::path::{Path, PathBuf};

use crate::util::{names, open, pattern, read_all};

fn mkntfs(dir: &Path) -> PathBuf {
    let img = testimg::sparse(dir, "ntfs.img", 64 << 20);
    testimg::run(
        "mkntfs",
        &[
            "-F",
            "-f",
            "-q",
            "-L",
            "WINVOL",
            img.to_str().expect("utf-8"),
        ],
    );
    img
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn ntfs_resident_nonresident_and_unicode_files_via_ntfscp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = mkntfs(dir.path());
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "tiny.txt",
            b"small enough to live in the MFT record\n".to_vec(),
        ),
        ("big.bin", pattern(3 << 20 | 5, 9)),
        (
            "\u{dc}n\u{ef}code caf\u{e9} \u{2603}.txt",
            "ünïcödé\n".repeat(300).into_bytes(),
        ),
    ];
    for (name, data) in &files {
        let src = dir.path().join("src");
        std::fs::write(&src, data).expect("write");
        testimg::run("ntfscp", &["-f", s(&img), s(&src), &format!("/{name}")]);
    }
    let t = open(&img);
    assert_eq!(t.kind(), fsread::Kind::Ntfs);
    assert_eq!(t.label().as_deref(), Some("WINVOL"));
    // The listing is ntfsls's (system files hidden).
    let ls = testimg::run("ntfsls", &[s(&img)]);
    let mut theirs: Vec<String> = ls.lines().map(str::to_owned).collect();
    theirs.sort();
    assert_eq!(names(&*t, "/"), theirs);
    for (name, data) in &files {
        let p = format!("/{name}");
        assert_eq!(&read_all(&*t, &p), data, "{name}");
        let cat = std::process::Command::new("ntfscat")
            .args([s(&img), &p])
            .output()
            .expect("ntfscat");
        assert!(cat.status.success());
        assert_eq!(&cat.stdout, data, "ntfscat {name}");
        assert_eq!(t.stat(p.as_bytes()).expect("stat").size, data.len() as u64);
    }
    // NTFS names are case-insensitive.
    assert_eq!(read_all(&*t, "/TINY.TXT"), files[0].1);
    assert_eq!(
        t.read_range(b"/big.bin", 1 << 20, 10).expect("range"),
        &files[1].1[1 << 20..(1 << 20) + 10]
    );
}

/// Mounts `img` with ntfs-3g (compression on), runs `fill` on the mount point, unmounts.
fn through_fuse(test: &str, img: &Path, fill: impl FnOnce(&Path)) -> bool {
    if !testimg::privileged(test) {
        return false;
    }
    if !Path::new("/dev/fuse").exists() {
        testimg::skip(test, "/dev/fuse is missing");
        return false;
    }
    let mp = tempfile::tempdir().expect("mountpoint");
    testimg::run("ntfs-3g", &["-o", "compression", s(img), s(mp.path())]);
    fill(mp.path());
    testimg::run("umount", &[s(mp.path())]);
    true
}

#[test]
fn ntfs_nested_and_lznt1_compressed_files_via_ntfs3g() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = mkntfs(dir.path());
    let text: Vec<u8> = (0..100_000)
        .flat_map(|i| format!("line {i} of a compressible text file\n").into_bytes())
        .collect();
    let random = pattern(200_000, 5);
    // Zeros in the middle: a compression unit that is all sparse.
    let mut holes = pattern(70_000, 6);
    holes.extend(vec![0u8; 300_000]);
    holes.extend(pattern(12_345, 8));
    let ok = through_fuse(
        "ntfs_nested_and_lznt1_compressed_files_via_ntfs3g",
        &img,
        |mp| {
            std::fs::create_dir_all(mp.join("Users/Bob/Desktop")).expect("mkdir");
            std::fs::write(mp.join("Users/Bob/Desktop/notes.txt"), b"hello\n").expect("write");
            std::fs::create_dir_all(mp.join("Compressed")).expect("mkdir");
            testimg::run(
                "setfattr",
                &[
                    "-h",
                    "-v",
                    "0x00000800",
                    "-n",
                    "system.ntfs_attrib_be",
                    s(&mp.join("Compressed")),
                ],
            );
            std::fs::write(mp.join("Compressed/log.txt"), &text).expect("write");
            std::fs::write(mp.join("Compressed/random.bin"), &random).expect("write");
            std::fs::write(mp.join("Compressed/holes.bin"), &holes).expect("write");
        },
    );
    if !ok {
        return;
    }
    // ntfs-3g did compress: the file takes less room than its size (ntfsinfo's numbers).
    let info = testimg::run("ntfsinfo", &["-F", "/Compressed/log.txt", s(&img)]);
    assert!(info.contains("COMPRESSED"), "{info}");
    let t = open(&img);
    assert_eq!(read_all(&*t, "/Users/Bob/Desktop/notes.txt"), b"hello\n");
    assert_eq!(
        names(&*t, "/Compressed"),
        ["holes.bin", "log.txt", "random.bin"]
    );
    for (name, data) in [
        ("log.txt", &text),
        ("random.bin", &random),
        ("holes.bin", &holes),
    ] {
        let p = format!("/Compressed/{name}");
        let got = read_all(&*t, &p);
        assert_eq!(got.len(), data.len(), "{name}");
        assert!(&got == data, "content of {name}");
        let cat = std::process::Command::new("ntfscat")
            .args([s(&img), &p])
            .output()
            .expect("ntfscat");
        assert!(&cat.stdout == data, "ntfscat agrees on {name}");
    }
    // A range that starts inside one compression unit and ends in another.
    assert_eq!(
        t.read_range(b"/Compressed/log.txt", 60_000, 10_000)
            .expect("range"),
        &text[60_000..70_000]
    );
}
