//! `cargo xtask`: project automation in Rust, so that it needs nothing but cargo.
//!
//! - `cargo xtask test`: install what the real-tool tests need (Debian packages via apt-get when
//!   root, Python `dissect.archive` via pip), then run the whole test suite.
//! - `cargo xtask fixtures`: rebuild `testdata/` with the real tools and write its provenance.
//! - `cargo xtask bench`: measure restores against the real tools; figures for docs/BENCHMARKS.md.
//! - `cargo xtask dist`: the static binary and the rescue bundle under `target/dist/`.
//! - `cargo xtask image`: the OCI image (layout and `docker load` archive), without a daemon.
//! - `cargo xtask e2e`: end-to-end tests of those artifacts (chroot, Docker or runc).
//! - `cargo xtask docs`: regenerate the man pages and shell completions from the clap flags.

mod bench;
mod bench_diff;
mod dist;
mod docs;
mod e2e;
mod fixtures;
mod image;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("test") => test(rest),
        Some("fixtures") => fixtures::run(rest),
        Some("bench") => bench::run(rest),
        Some("bench-diff") => bench_diff::run(rest),
        Some("install-test-deps") => tools::ensure_all(),
        Some("dist") => dist::run(rest),
        Some("image") => image::run(rest),
        Some("e2e") => e2e::run(rest),
        Some("docs") => docs::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test               install test dependencies, then run every test\n  \
                 install-test-deps  only install the Debian packages and Python modules the tests use\n  \
                 fixtures           rebuild testdata/ with the real tools (writes testdata/README.md)\n  \
                 bench [--size-gib N]  compare restore speed with the real tools\n  \
                 bench-diff [--size-mib N]  differential restore and patch speed against xdelta3\n  \
                 dist               static binary and rescue bundle in target/dist/\n  \
                 image              OCI image (target/dist/oci/, target/dist/pverescue-image.tar)\n  \
                 e2e [--runtime docker|runc]  end-to-end tests of those artifacts (root)\n  \
                 docs               regenerate docs/man/ and completions/ from the flags"
            );
            bail!("unknown or missing command");
        }
    }
}

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs a command, failing with its name when it does not succeed.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn test(rest: &[String]) -> Result<()> {
    tools::ensure_all()?;
    if !tools::is_root() {
        eprintln!(
            "xtask: not root: tests that need loop devices and mounts will skip and say so \
             (run as root to include them)"
        );
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root())
        .args(["test", "--workspace"])
        .args(rest);
    run_cmd(&mut cmd)?;
    // The shipped artifacts: static binary, bundle and OCI image, run in a chroot and a container.
    e2e::run(&[])
}

/// Builds the release `pverescue` binary and returns its path.
pub fn build_pverescue() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(cargo).current_dir(root()).args([
        "build",
        "--release",
        "-q",
        "-p",
        "pverescue",
    ]))?;
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from);
    Ok(target.join("release/pverescue"))
}
