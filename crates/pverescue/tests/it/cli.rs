//! Help, usage errors, exit codes.

use crate::util::*;

#[test]
fn help_lists_the_commands() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn extract_help_has_examples() {
    let r = run(&["extract", "--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn version_names_commit_and_formats() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with(&format!("pverescue {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.stdout
    );
}

#[test]
fn usage_error_is_exit_2() {
    let r = run(&["extract"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage"), "{}", r.stderr);
}

#[test]
fn missing_file() {
    let r = run(&["list", "/nonexistent/backup.vma.zst"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr);
}

#[test]
fn missing_config_names_the_available_ones() {
    let r = run(&[
        "config",
        "testdata/real/vzdump-qemu-103-2026_11_20-21_07_09.vma",
        "-c",
        "nope.conf",
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr);
}
