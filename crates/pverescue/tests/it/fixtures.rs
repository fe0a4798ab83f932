//! Our fixtures (`testdata/vma/`, made by `cargo xtask fixtures`) in every compression.

use crate::util::*;

const STEM: &str = "vzdump-qemu-200-2026_01_01-00_00_00";

/// Runs `pverescue extract [EXTRA...] testdata/REL DIR` into a fresh DIR inside a temporary folder.
fn extract(rel: &str, extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Run) {
    let tmp = tempdir();
    let target = tmp.path().join("out");
    let path = testdata(rel);
    let mut args = vec!["extract"];
    args.extend_from_slice(extra);
    args.push(path.to_str().expect("utf-8"));
    args.push(target.to_str().expect("utf-8"));
    let r = run(&args);
    (tmp, target, r)
}

fn restore_and_check(rel: &str) {
    let (_tmp, target, r) = extract(rel, &["-q"]);
    assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
    assert_dir_matches(&target, &expected_files(&testdata("vma/expected.files")));
}

#[test]
fn every_compression_restores_the_input_images() {
    for ext in ["", ".zst", ".gz", ".lzo", ".bz2", ".xz"] {
        restore_and_check(&format!("vma/{STEM}.vma{ext}"));
    }
    restore_and_check(&format!("vma/pigz/{STEM}.vma.gz"));
}

#[test]
fn concatenated_members_restore() {
    for ext in ["gz", "zst", "lzo", "bz2", "xz"] {
        restore_and_check(&format!("vma/multi/{STEM}.vma.{ext}"));
    }
}

#[test]
fn select_one_drive() {
    let (_tmp, target, r) = extract(&format!("vma/{STEM}.vma.zst"), &["-q", "-d", "virtio1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut want = expected_files(&testdata("vma/expected.files"));
    want.remove("disk-drive-scsi0.raw");
    assert_dir_matches(&target, &want);
}

#[test]
fn unknown_drive_is_refused_with_the_choices() {
    let (_tmp, target, r) = extract(&format!("vma/{STEM}.vma"), &["-d", "ide7"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("drive-scsi0") && r.stderr.contains("drive-virtio1"),
        "{}",
        r.stderr
    );
    assert!(!target.exists(), "nothing may be left behind");
}

#[test]
fn existing_target_is_refused_unless_forced() {
    let tmp = tempdir();
    let path = testdata(&format!("vma/{STEM}.vma"));
    let r = run(&[
        "extract",
        "-q",
        path.to_str().expect("utf-8"),
        tmp.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    let r = run(&[
        "extract",
        "-q",
        "--force",
        path.to_str().expect("utf-8"),
        tmp.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_dir_matches(tmp.path(), &expected_files(&testdata("vma/expected.files")));
}

#[test]
fn write_zeroes_gives_the_same_bytes_fully_allocated() {
    let (_tmp, target, r) = extract(&format!("vma/{STEM}.vma.zst"), &["-q", "--write-zeroes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = expected_files(&testdata("vma/expected.files"));
    assert_dir_matches(&target, &want);
    let disk = target.join("disk-drive-scsi0.raw");
    assert!(
        allocated(&disk) >= want["disk-drive-scsi0.raw"].1,
        "zeros must be written"
    );
}

#[test]
fn list_json() {
    let path = format!("testdata/vma/{STEM}.vma.lzo");
    let r = run(&["list", "--json", &path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn extract_summary() {
    let tmp = tempdir();
    let target = tmp.path().join("out");
    let path = format!("testdata/vma/{STEM}.vma.zst");
    let r = run(&["extract", &path, target.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stdout = r.stdout.replace(target.to_str().expect("utf-8"), "[DIR]");
    insta::with_settings!({filters => vec![(r"in \d+\.\d+ s \([^)]*\)", "in [TIME]")]}, {
        insta::assert_snapshot!(stdout);
    });
}
