//! Skips are recorded where `cargo xtask test` counts them, and fail under
//! `PVERESCUE_REQUIRE_PRIVILEGED=1` (issue 12, item 3). The skipping tests run as children of
//! the test binary itself, with the environment each case needs.

use std::process::{Command, Output};

const CHILD_ENV: &str = "TESTIMG_SKIP_CHILD";

/// The child: skips the way the variable says, then returns (the test itself would go on).
#[test]
fn child_skips() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("skip") => testimg::skip("child_skips", "no loop devices here"),
        Ok("unsupported") => testimg::skip_unsupported("child_skips", "no O_DIRECT here"),
        _ => {}
    }
}

fn child(how: &str, dir: &std::path::Path, require: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", "child_skips", "--test-threads=1"])
        .env(CHILD_ENV, how)
        .env(testimg::SKIP_DIR, dir)
        .env_remove(testimg::REQUIRE_PRIVILEGED);
    if require {
        cmd.env(testimg::REQUIRE_PRIVILEGED, "1");
    }
    cmd.output().expect("run the child")
}

fn recorded(dir: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
                .collect()
        })
        .unwrap_or_default();
    lines.sort();
    lines
}

#[test]
fn issue12_item3_a_skip_is_recorded_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = child("skip", dir.path(), false);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        recorded(dir.path()),
        ["SKIP testimg::child_skips: no loop devices here\n"]
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "a skip is still a pass for cargo: {out:?}"
    );
}

#[test]
fn issue12_item3_a_required_privileged_test_fails_instead_of_skipping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = child("skip", dir.path(), true);
    assert!(!out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(
            "PVERESCUE_REQUIRE_PRIVILEGED=1, and child_skips would skip: no loop devices here"
        ),
        "{out:?}"
    );
}

#[test]
fn issue12_item3_an_unsupported_feature_is_counted_but_never_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = child("unsupported", dir.path(), true);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        recorded(dir.path()),
        ["SKIP testimg::child_skips: no O_DIRECT here\n"]
    );
}
