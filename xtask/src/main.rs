//! `cargo xtask`: project automation in Rust, so that it needs nothing but cargo.
//!
//! - `cargo xtask test`: install what the real-tool tests need (Debian packages via apt-get when
//!   root, Python `dissect.archive` via pip), run the whole test suite, check the fuzz targets compile,
//!   run the end-to-end tests, and print how many tests skipped and why (each skip is a file in
//!   `target/skips/`, written by `testimg::skip`). Under `PVERESCUE_REQUIRE_PRIVILEGED=1` (CI)
//!   a test that would skip for lack of root, loop devices or a tool fails instead, and so does
//!   a skipped e2e run; a feature the machine lacks (O_DIRECT) is only counted.
//! - `cargo xtask fixtures [vma] [pbs]`: rebuild `testdata/vma/` with the real tools and
//!   `testdata/pbs/` with `pbswrite` (checked by the Python oracle), with their provenance.
//! - `cargo xtask bench`: measure restores against the real tools; figures for docs/BENCHMARKS.md.
//! - `cargo xtask bench-pbs`: a PBS snapshot restore against `zstd -dc` over its chunk payloads.
//! - `cargo xtask bench-files`: `pverescue cp` out of ext4 images against `debugfs` and a kernel
//!   mount + `cp -a`.
//! - `cargo xtask bench-serve`: `nbdcopy` from `pverescue serve` (raw image, PBS snapshot) against
//!   `qemu-nbd --read-only` on the same raw image.
//! - `cargo xtask bench-virtnbd`: a virtnbdbackup chain restored against `virtnbdrestore`.
//! - `cargo xtask dist`: the static binary and the rescue bundle under `target/dist/`.
//! - `cargo xtask image`: the OCI image (layout and `docker load` archive), without a daemon.
//! - `cargo xtask e2e`: end-to-end tests of those artifacts (chroot, Docker or runc).
//! - `cargo xtask docs`: regenerate the man pages and shell completions from the clap flags.
//! - `cargo xtask fuzz [--seconds N] [--only TARGET] [--build-only|--check]`: build every cargo-fuzz target and
//!   run each briefly (`--check`: only check that they compile, as `cargo xtask test` does).

mod bench;
mod bench_diff;
mod bench_files;
mod bench_pbs;
mod bench_serve;
mod bench_virtnbd;
mod dist;
mod docs;
mod e2e;
mod fixtures;
mod fuzz;
mod image;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

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
        Some("bench-files") => bench_files::run(rest),
        Some("bench-pbs") => bench_pbs::run(rest),
        Some("bench-serve") => bench_serve::run(rest),
        Some("bench-virtnbd") => bench_virtnbd::run(rest),
        Some("install-test-deps") => tools::ensure_all(),
        Some("dist") => dist::run(rest),
        Some("image") => image::run(rest),
        Some("e2e") => e2e::run(rest).map(drop),
        Some("docs") => docs::run(rest),
        Some("fuzz") => fuzz::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test               install test dependencies, then run every test\n  \
                 install-test-deps  only install the Debian packages and Python modules the tests use\n  \
                 fixtures [vma] [pbs]  rebuild testdata/ (VMA: real tools; PBS: pbswrite, checked by the oracle)\n  \
                 bench [--size-gib N]  compare restore speed with the real tools\n  \
                 bench-diff [--size-mib N]  differential restore and patch speed against xdelta3\n  \
                 bench-pbs [--size-gib 1,4]  PBS snapshot restore against zstd -dc, and peak RSS\n  \
                 bench-files        cp out of ext4 images against debugfs and a kernel mount\n  \
                 bench-serve [--size-gib 1]  nbdcopy from pverescue serve against qemu-nbd, and peak RSS\n  \
                 bench-virtnbd [--size-mib N]  virtnbdbackup chain restore against virtnbdrestore\n  \
                 dist               static binary and rescue bundle in target/dist/\n  \
                 image              OCI image (target/dist/oci/, target/dist/pverescue-image.tar)\n  \
                 e2e [--runtime docker|runc]  end-to-end tests of those artifacts (root)\n  \
                 docs               regenerate docs/man/ and completions/ from the flags\n  \
                 fuzz [--seconds N] [--only T] [--build-only|--check]  build fuzz targets, run each N s (default 10)"
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
    let require = std::env::var(REQUIRE_PRIVILEGED).as_deref() == Ok("1");
    if !tools::is_root() {
        eprintln!(
            "xtask: not root: tests that need loop devices and mounts will skip and say so \
             (run as root to include them)"
        );
    }
    // Every skipped test leaves a file here (testimg::skip); counted after the run.
    let skips = target_dir().join("skips");
    if skips.exists() {
        std::fs::remove_dir_all(&skips)
            .with_context(|| format!("cannot clear {}", skips.display()))?;
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root())
        .env("PVERESCUE_SKIP_DIR", &skips)
        .args(["test", "--workspace"])
        .args(rest);
    let tested = run_cmd(&mut cmd);
    let mut skipped = read_skips(&skips)?;
    // The fuzz targets must keep compiling (checked, not built or run: CI time stays small).
    let fuzzed = tested.and_then(|()| fuzz::run(&["--check".into()]));
    // The shipped artifacts: static binary, bundle and OCI image, run in a chroot and a container.
    let e2e = fuzzed.and_then(|()| e2e::run(&[]));
    if let Ok(Some(reason)) = &e2e {
        skipped.push(format!("SKIP xtask::e2e: {reason}"));
    }
    println!("\n{}", skip_summary(&skipped));
    // Tests that need what CI provides already failed instead of skipping (testimg::skip); what
    // is left are features the machine lacks (testimg::skip_unsupported), and the e2e tests.
    if let Some(reason) = e2e? {
        ensure!(
            !require,
            "{REQUIRE_PRIVILEGED}=1 and the end-to-end tests skipped: {reason}"
        );
    }
    Ok(())
}

/// Set to 1 (by `.ci/run`), privileged tests fail rather than skip; see `testimg::skip`.
const REQUIRE_PRIVILEGED: &str = "PVERESCUE_REQUIRE_PRIVILEGED";

/// The `SKIP crate::test: reason` lines the tests recorded in `dir`, sorted.
fn read_skips(dir: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(lines),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    lines.sort();
    Ok(lines)
}

/// How many tests skipped (all or part of themselves), grouped by reason.
fn skip_summary(lines: &[String]) -> String {
    let mut out = format!("skipped: {} test(s)\n", lines.len());
    let mut by_reason: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in lines {
        let l = l.strip_prefix("SKIP ").unwrap_or(l);
        let (test, reason) = l.split_once(": ").unwrap_or((l, "(no reason given)"));
        by_reason.entry(reason).or_default().push(test);
    }
    for (reason, tests) in by_reason {
        out.push_str(&format!(
            "  {} x {reason}: {}\n",
            tests.len(),
            tests.join(", ")
        ));
    }
    out
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from)
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
    Ok(target_dir().join("release/pverescue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_item3_skips_are_counted_by_reason() {
        let dir = std::env::temp_dir().join(format!("xtask-skips-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert!(read_skips(&dir.join("none")).expect("no dir").is_empty());
        for (file, line) in [
            ("b.skip", "SKIP loopmount::b: needs root (uid 1000)\n"),
            ("a.skip", "SKIP blockdev::a: needs root (uid 1000)\n"),
            ("c.skip", "SKIP vma-rs::c: /tmp does not support O_DIRECT\n"),
        ] {
            std::fs::write(dir.join(file), line).expect("write");
        }
        let lines = read_skips(&dir).expect("read");
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert_eq!(
            skip_summary(&lines),
            "skipped: 3 test(s)\n  \
             1 x /tmp does not support O_DIRECT: vma-rs::c\n  \
             2 x needs root (uid 1000): blockdev::a, loopmount::b\n"
        );
    }
}
