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
