//! Damaged archives: every check has a fixture that trips it, with the message pinned.

use crate::util::*;

const BAD: &[&str] = &[
    "header-md5.vma",
    "truncated.vma",
    "missing-clusters.vma",
    "extent-md5.vma",
    "trailing-garbage.vma",
    "flipped.vma.zst",
    "flipped.vma.gz",
    "flipped.vma.lzo",
    "truncated.vma.zst",
    "truncated.vma.gz",
    "truncated.vma.lzo",
];

#[test]
fn verify_names_each_problem() {
    let mut report = String::new();
    for name in BAD {
        let rel = format!("testdata/vma/bad/{name}");
        let r = run(&["verify", &rel]);
        assert_eq!(r.code, 2, "{name} must fail verification: {}", r.stdout);
        report.push_str(&r.stdout);
    }
    insta::assert_snapshot!(report);
}

#[test]
fn failed_extract_leaves_nothing_behind() {
    for name in BAD {
        let tmp = tempdir();
        let target = tmp.path().join("out");
        let rel = format!("testdata/vma/bad/{name}");
        let r = run(&["extract", "-q", &rel, target.to_str().expect("utf-8")]);
        assert_eq!(r.code, 2, "{name} must fail to extract");
        assert!(r.stderr.starts_with("pverescue: "), "{name}: {}", r.stderr);
        assert!(
            !target.exists(),
            "{name}: the partial restore must be removed"
        );
    }
}

#[test]
fn extract_error_message() {
    let tmp = tempdir();
    let target = tmp.path().join("out");
    let r = run(&[
        "extract",
        "testdata/vma/bad/missing-clusters.vma",
        target.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr.replace(target.to_str().expect("utf-8"), "[DIR]"));
}

#[test]
fn verify_keeps_going_after_a_failure() {
    let r = run(&[
        "verify",
        "testdata/vma/bad/truncated.vma",
        "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.gz",
        "--json",
    ]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["ok"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["archives"][0]["ok"], false);
    assert_eq!(v["archives"][1]["ok"], true);
}

#[test]
fn not_an_archive() {
    let r = run(&["list", "Cargo.toml"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr);
}

/// A target that fills up: the error names the file, the offset and the length of the failed
/// write and says what to do, and the partial restore is removed. The target is a 64 KiB tmpfs,
/// smaller than the fixture's 119 KiB of stored blocks (`pverescue verify --json`).
#[test]
fn full_target_is_named_with_the_offset() {
    if !testimg::privileged("full_target_is_named_with_the_offset") {
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let tmp = tempdir();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).expect("mkdir");
    testimg::run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=64k",
            "tmpfs",
            mnt.to_str().expect("utf-8"),
        ],
    );
    let _unmount = Unmount(&mnt);
    let target = mnt.join("out");
    let r = run(&[
        "extract",
        "-q",
        "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.zst",
        target.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot write ")
            && r.stderr.contains(" bytes at byte ")
            && r.stderr.contains("No space left on device"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: the target is full"),
        "{}",
        r.stderr
    );
    assert!(!target.exists(), "the partial restore must be removed");
}

/// Issue 10 item 10: an archive compressed without a checksum of its data (`zstd --no-check`,
/// `lzop -F`, `xz --check=none`, made by the real tools) verifies, but `verify` says that the
/// data was not covered by any checksum: exit 1, a WARN line, and in `--json`.
#[test]
fn issue10_item10_data_without_checksum_is_a_warning() {
    let t = tempdir();
    let vma = testdata("vma/vzdump-qemu-200-2026_01_01-00_00_00.vma");
    sh(
        t.path(),
        &format!(
            "zstd -q --no-check -c {0} > a.vma.zst && lzop -F -c {0} > a.vma.lzo && \
             xz --check=none -c {0} > a.vma.xz && zstd -q -c {0} > checked.vma.zst",
            vma.display()
        ),
    );
    for name in ["a.vma.zst", "a.vma.lzo", "a.vma.xz"] {
        let path = t.path().join(name);
        let path = path.to_str().expect("utf-8");
        let r = run(&["verify", path]);
        assert_eq!(r.code, 1, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!("WARN {path}: "))
                && r.stdout.contains("not covered by any checksum"),
            "{name}: {}",
            r.stdout
        );
        let r = run(&["verify", "--json", path]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        let warning = json["archives"][0]["warnings"][0]
            .as_str()
            .unwrap_or_default();
        assert!(warning.contains("not covered by any checksum"), "{json}");
    }
    let checked = t.path().join("checked.vma.zst");
    let r = run(&["verify", checked.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
