//! `extract --map`: bare-metal restores onto loop devices standing in for disks (root), the
//! refusals (too small, mounted, no `--yes`), existing files keeping holes, and `skip`.
//!
//! Expected contents come from `testdata/vma/expected.files` (the fixture's provenance) or from
//! `sha256sum` of the images the archives were made from, never from our own output.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::util::{expected_files, run, testdata};
use testimg::{Loop, MIB, privileged};

const FIXTURE: &str = "vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.zst";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `sha256sum` of the first `len` bytes of `path` (a device or file).
fn sha256sum_head(path: &Path, len: u64) -> String {
    let out = testimg::run(
        "sh",
        &[
            "-c",
            "head -c \"$1\" \"$2\" | sha256sum",
            "sh",
            &len.to_string(),
            s(path),
        ],
    );
    out.split_whitespace().next().expect("sha256sum").to_owned()
}

/// Snapshots `text` with what changes from run to run replaced: temporary and fixture paths,
/// loop device numbers, timings.
fn snap(name: &str, text: &str, tmp: &Path) {
    let text = text
        .replace(s(tmp), "[TMP]")
        .replace(s(&testdata("")), "[TESTDATA]/");
    insta::with_settings!({filters => vec![
        (r"loop\d+", "loopN"),
        // Compressed sizes depend on the zstd version, times on the machine.
        (r"(?m)^read .*$", "read [COMPRESSED SIZE, DISK SIZE, TIME]"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

/// A file of `size` bytes filled with 0xff, so that a zero block not written shows.
fn garbage_file(path: &Path, size: u64) {
    std::fs::write(path, vec![0xffu8; usize::try_from(size).expect("size")]).expect("write");
}

#[test]
fn bare_metal_onto_a_loop_device() {
    if !privileged("bare_metal_onto_a_loop_device") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let expected = expected_files(&testdata("vma/expected.files"));
    let (want, size) = expected["disk-drive-scsi0.raw"].clone();
    let backing = tmp.path().join("disk.img");
    garbage_file(&backing, size + MIB);
    let dev = Loop::attach(&backing, 0, 0, &[]);
    let r = run(&[
        "extract",
        s(&testdata(FIXTURE)),
        "--map",
        &format!("drive-scsi0={}", dev.0),
        "--map",
        "virtio1=skip",
        "--yes",
        "--verify",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("sparse, verified)"), "{}", r.stdout);
    assert!(r.stdout.contains("  skip   drive-virtio1"), "{}", r.stdout);
    // The target is named with its size before anything is written.
    let named = format!(", {size} bytes) -> {}: block device ", dev.0);
    assert!(r.stderr.contains(&named), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(", {} bytes\n", size + MIB)),
        "{}",
        r.stderr
    );
    // Zero blocks were written as zeros over the garbage; bytes past the disk are untouched.
    assert_eq!(sha256sum_head(Path::new(&dev.0), size), want);
    drop(dev);
    let bytes = std::fs::read(&backing).expect("read backing file");
    assert!(
        bytes[usize::try_from(size).expect("size")..]
            .iter()
            .all(|b| *b == 0xff)
    );
    testimg::assert_no_loop_for(&backing);
}

/// Archives of our own, independent of the fixtures being regenerated: a full of a 4 MiB disk
/// made with `pverescue create`, and a differential to a newer state made with xdelta3 and zstd
/// as vzdump's pipeline made it.
struct Own {
    full: std::path::PathBuf,
    diff: std::path::PathBuf,
    /// `sha256sum` of the newer disk image.
    new_sha: String,
}

fn own_archives(dir: &Path) -> Own {
    let old = testimg::sparse(dir, "old.raw", 4 * MIB);
    testimg::poke(&old, 0, b"old boot sector");
    testimg::poke(&old, 3 * MIB, &[0x5a; 70_000]);
    let new = testimg::sparse(dir, "new.raw", 4 * MIB);
    testimg::poke(&new, 0, b"new boot sector");
    testimg::poke(&new, MIB + 17, &[0xa5; 100_000]);
    let new_sha = sha256sum_head(&new, 4 * MIB);
    let conf = dir.join("qemu-server.conf");
    std::fs::write(&conf, "scsi0: local:vm-100-disk-0,size=4M\n").expect("conf");
    let full = dir.join("vzdump-qemu-100-2026_01_01-00_00_00.vma");
    let new_vma = dir.join("new.vma");
    for (vma, img) in [(&full, &old), (&new_vma, &new)] {
        let r = run(&[
            "create",
            s(vma),
            "-c",
            s(&conf),
            "-d",
            &format!("drive-scsi0={}", s(img)),
            "--uuid",
            "6a1d2f64-3b7e-4c55-9b1e-0d2a7c9e1f01",
            "--ctime",
            "1767225600",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let diff = dir.join(
        "vzdump-qemu-100-2026_01_01-00_00_00.vma--differential-2026_01_02-00_00_00.vcdiff.zst",
    );
    testimg::run(
        "sh",
        &[
            "-c",
            "xdelta3 -e -q -c -s \"$1\" < \"$2\" | zstd -q > \"$3\"",
            "sh",
            s(&full),
            s(&new_vma),
            s(&diff),
        ],
    );
    Own {
        full,
        diff,
        new_sha,
    }
}

#[test]
fn bare_metal_from_a_differential() {
    if !privileged("bare_metal_from_a_differential") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let own = own_archives(dir);
    let backing = dir.join("disk.img");
    garbage_file(&backing, 5 * MIB);
    let dev = Loop::attach(&backing, 0, 0, &[]);
    let out = dir.join("configs");
    let r = run(&[
        "extract",
        s(&own.diff),
        s(&out),
        "--map",
        &format!("scsi0={}", dev.0),
        "--yes",
        "--verify",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    snap(
        "bare_metal_from_a_differential",
        &format!("{}---\n{}", r.stdout, r.stderr),
        dir,
    );
    assert_eq!(sha256sum_head(Path::new(&dev.0), 4 * MIB), own.new_sha);
    // Configs still go to DIR; the mapped disk does not.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("DIR")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["qemu-server.conf"]);
    drop(dev);
    testimg::assert_no_loop_for(&backing);
}

#[test]
fn bare_metal_refusals() {
    if !privileged("bare_metal_refusals") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = own_archives(tmp.path()).full;
    let extract = |dev: &str, yes: bool| {
        let m = format!("drive-scsi0={dev}");
        let mut args = vec!["extract", s(&archive), "--map", &m];
        if yes {
            args.push("--yes");
        }
        run(&args)
    };

    // Too small: both sizes named.
    let small = tmp.path().join("small.img");
    garbage_file(&small, 3 * MIB);
    let dev = Loop::attach(&small, 0, 0, &[]);
    let r = extract(&dev.0, true);
    assert_eq!(r.code, 2);
    snap("too_small", &r.stderr, tmp.path());
    assert_eq!(
        sha256sum_head(Path::new(&dev.0), 3 * MIB),
        sha256sum_head(&small, 3 * MIB)
    );
    drop(dev);

    // No --yes: nothing written.
    let disk = tmp.path().join("disk.img");
    garbage_file(&disk, 16 * MIB);
    let before = sha256sum_head(&disk, 16 * MIB);
    let dev = Loop::attach(&disk, 0, 0, &[]);
    let r = extract(&dev.0, false);
    assert_eq!(r.code, 2);
    snap("no_yes", &r.stderr, tmp.path());
    assert_eq!(sha256sum_head(Path::new(&dev.0), 16 * MIB), before);

    // Mounted: the mount point is named, nothing written.
    testimg::run("mkfs.ext4", &["-q", "-F", &dev.0]);
    let formatted = sha256sum_head(Path::new(&dev.0), 16 * MIB);
    let mp = tmp.path().join("mnt");
    std::fs::create_dir(&mp).expect("mkdir");
    testimg::run("mount", &["-o", "ro", &dev.0, s(&mp)]);
    let r = extract(&dev.0, true);
    testimg::run("umount", &[s(&mp)]);
    assert_eq!(r.code, 2);
    snap("mounted", &r.stderr, tmp.path());
    assert_eq!(sha256sum_head(Path::new(&dev.0), 16 * MIB), formatted);
    drop(dev);
    testimg::assert_no_loop_for(&disk);
    testimg::assert_no_loop_for(&small);
}

#[test]
fn map_to_an_existing_file_keeps_holes_and_skip_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let expected = expected_files(&testdata("vma/expected.files"));
    let (want, size) = expected["disk-drive-virtio1.raw"].clone();
    let target = tmp.path().join("virtio1.img");
    garbage_file(&target, 3 * MIB);
    let archive = testdata(FIXTURE);
    let m = format!("virtio1={}", s(&target));
    let args = ["extract", s(&archive), "--map", &m, "--map", "scsi0=skip"];

    // An existing file is overwritten only with --yes.
    let r = run(&args);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("without --yes"), "{}", r.stderr);
    assert_eq!(std::fs::metadata(&target).expect("stat").len(), 3 * MIB);

    let mut with_yes = args.to_vec();
    with_yes.extend(["--yes", "--verify", "--json"]);
    let r = run(&with_yes);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(json["dir"], serde_json::Value::Null);
    assert_eq!(json["skipped"], serde_json::json!(["drive-scsi0"]));
    assert_eq!(json["disks"][0]["target"], "existing file");
    assert_eq!(json["disks"][0]["verified"], true);
    let meta = std::fs::metadata(&target).expect("stat");
    assert_eq!(meta.len(), size);
    assert_eq!(sha256sum_head(&target, size), want);
    let stored = json["disks"][0]["stored_bytes"].as_u64().expect("stored");
    // Zero blocks stayed holes: only the stored blocks (plus filesystem rounding) are allocated.
    assert!(
        meta.blocks() * 512 <= stored + 64 * 1024,
        "{} bytes allocated for {stored} stored",
        meta.blocks() * 512
    );
    // Nothing but the target: no temporary files, no directory.
    let names: Vec<_> = std::fs::read_dir(tmp.path()).expect("dir").collect();
    assert_eq!(names.len(), 1);

    // Every disk skipped: read and verified, nothing written.
    let r = run(&[
        "extract",
        s(&archive),
        "--map",
        "scsi0=skip",
        "--map",
        "virtio1=skip",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("skip   drive-virtio1"), "{}", r.stdout);
    // A disk without a target needs DIR.
    let r = run(&["extract", s(&archive), "--map", "scsi0=skip"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("drive-virtio1 has no target"),
        "{}",
        r.stderr
    );
}

/// `pverescue mount` of a disk maps its partition as a loop device with an offset, backed by the
/// disk; the kernel lists it neither as a holder nor refuses an exclusive open, so `--map` onto
/// that disk wrote over the mounted file system.
#[test]
fn issue10_item6_a_disk_mounted_by_pverescue_mount_is_refused() {
    if !privileged("issue10_item6_a_disk_mounted_by_pverescue_mount_is_refused") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = own_archives(tmp.path()).full;
    let disk = crate::partitions::vma_disk(tmp.path());
    let dev = Loop::attach(&disk, 0, 0, &[]);
    let before = sha256sum_head(Path::new(&dev.0), 8 * MIB);
    let mp = tmp.path().join("mnt");
    std::fs::create_dir(&mp).expect("mkdir");
    let r = run(&["mount", &dev.0, s(&mp), "-p", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = format!("drive-scsi0={}", dev.0);
    let r = run(&["extract", s(&archive), "--map", &m, "--yes"]);
    let u = run(&["umount", s(&mp)]);
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let name = dev.0.trim_start_matches("/dev/");
    assert!(
        r.stderr.contains(&format!(
            "{} is in use: {name} backs the loop device loop",
            dev.0
        )) && r.stderr.contains("from offset 1048576"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("losetup -d"), "{}", r.stderr);
    assert_eq!(sha256sum_head(Path::new(&dev.0), 8 * MIB), before);
    drop(dev);
    testimg::assert_no_loop_for(&disk);
}
