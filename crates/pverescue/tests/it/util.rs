//! Shared helpers for the integration tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A file under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// The binary under test, in UTC so CTIME lines match the real tool's output.
pub fn pverescue() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pverescue"));
    cmd.env("TZ", "UTC").current_dir(root());
    cmd
}

/// Output of a finished command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `pverescue ARGS`.
pub fn run(args: &[&str]) -> Run {
    run_cmd(pverescue().args(args))
}

/// Runs a prepared command (extra environment, working directory) to its end.
pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run pverescue");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `pverescue ARGS` in `dir`; it must succeed.
pub fn run_ok_in(dir: &Path, args: &[&str]) -> Run {
    let r = run_cmd(pverescue().args(args).current_dir(dir));
    assert_eq!(r.code, 0, "pverescue {args:?}: {}", r.stderr);
    r
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hex(&Sha256::digest(&data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an `extract.files` list (`<sha256>  <name>  size=<n>` per line) into name → (sha, size).
pub fn expected_files(path: &Path) -> BTreeMap<String, (String, u64)> {
    let text = std::fs::read_to_string(path).expect("expected files list");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let size = parts[2].trim_start_matches("size=").parse().expect("size");
            (parts[1].to_owned(), (parts[0].to_owned(), size))
        })
        .collect()
}

/// Checks that `dir` holds exactly the expected files with the expected contents.
pub fn assert_dir_matches(dir: &Path, expected: &BTreeMap<String, (String, u64)>) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .expect("read restore dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let want: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(found, want, "files in {}", dir.display());
    for (name, (sha, size)) in expected {
        let path = dir.join(name);
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            *size,
            "size of {name}"
        );
        assert_eq!(&sha256_file(&path), sha, "sha256 of {name}");
    }
}

/// Bytes actually allocated on disk for a file (st_blocks × 512).
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat").blocks() * 512
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Fails with an install hint when a real tool the test relies on is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(tool).is_file());
    assert!(
        found,
        "{tool} is missing: apt-get install {package} (or run `cargo xtask test`)"
    );
}

/// Runs a shell script in `dir` (real tools in pipelines); it must succeed.
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
