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

/// Issue 10 item 8: a closed stdout (`verify DIR | head -1`) is success, for every command that
/// prints on stdout, in text and in JSON. The read end of a real pipe is closed before the
/// command starts, so its first write fails with EPIPE (`println!` panicked: exit 101).
#[test]
fn issue10_item8_broken_pipe_is_success() {
    let scratch = tempdir();
    let restore = scratch.path().join("restore");
    let restore = restore.to_str().expect("utf-8 path");
    let vma = "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma";
    let commands: &[&[&str]] = &[
        &["verify", "testdata/vma/multi"],
        &["verify", "--json", "testdata/vma/multi"],
        &["list", vma],
        &["list", "--json", vma],
        &["config", vma],
        &["completions", "bash"],
        &["drill", "--no-write", "testdata/vma/multi"],
        &["drill", "--json", "--no-write", "testdata/vma/multi"],
        &["extract", vma, restore],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = pverescue()
            .args(*args)
            .stdout(writer)
            .output()
            .expect("run pverescue");
        assert_eq!(
            out.status.code(),
            Some(0),
            "pverescue {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("pverescue:"),
            "pverescue {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same through a shell pipeline, as a user types it.
    let bin = env!("CARGO_BIN_EXE_pverescue");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("set -o pipefail; {bin} verify testdata/vma/multi | head -c 1 >/dev/null"),
        ])
        .current_dir(root())
        .output()
        .expect("run bash");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
