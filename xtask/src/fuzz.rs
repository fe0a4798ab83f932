//! `cargo xtask fuzz [--seconds N] [--only TARGET] [--build-only]`: build every cargo-fuzz target
//! (`crates/*/fuzz/fuzz_targets/*.rs`) and run each for N seconds (default 10).
//!
//! Without `cargo-fuzz`: with a nightly toolchain (`cargo +nightly`), each fuzz crate is built as
//! `cargo fuzz build` builds it (sanitizer coverage, AddressSanitizer, `--cfg fuzzing`, release
//! with debug assertions), into one shared `target/fuzz`, and each target binary is run directly
//! with libFuzzer's `-max_total_time`. The corpus grows in `target/fuzz/corpus/<target>` (seeded
//! from the crate's `fuzz/corpus/<target>` when there is one); crashes land in
//! `target/fuzz/artifacts/<target>/` and fail the run.
//!
//! `--check` (and `--build-only` without nightly) is `cargo check` of the fuzz crates on the
//! stable toolchain with `--cfg fuzzing`: a target that stops compiling is caught, nothing is
//! instrumented or run. `cargo xtask test` (CI) uses `--check`: about a minute from cold, where
//! the sanitizer build of the four crates takes about five.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::{root, run_cmd, target_dir};

/// What `cargo fuzz build` passes (cargo-fuzz 0.12, default options).
const FUZZ_RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Zsanitizer=address -Cdebug-assertions -Coverflow-checks";

/// The flags for one fuzz crate: `fsread` reads FAT through `fatfs` 0.3.6, which computes
/// `cluster - 2` unchecked for a hostile directory entry (see the workspace Cargo.toml); the
/// workspace builds it, as release does, without overflow checks, and so must its fuzz build, or
/// the fuzzer finds that known wrap again instead of anything new. The wrap ends in a read
/// error there, which the target does check.
fn rustflags(manifest: &Path) -> String {
    if manifest.components().any(|c| c.as_os_str() == "fsread") {
        FUZZ_RUSTFLAGS
            .replace(" -Cdebug-assertions", "")
            .replace(" -Coverflow-checks", "")
    } else {
        FUZZ_RUSTFLAGS.to_owned()
    }
}

/// The host triple: with a sanitizer, cargo must be given `--target` so that build scripts are
/// built without it.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// One fuzz crate and its targets.
struct FuzzCrate {
    manifest: PathBuf,
    targets: Vec<String>,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 10;
    let mut build_only = false;
    let mut check_only = false;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a number")?;
                seconds = v
                    .parse()
                    .with_context(|| format!("--seconds {v}: not a whole number of seconds"))?;
            }
            "--build-only" => build_only = true,
            "--check" => check_only = true,
            "--only" => only = Some(it.next().context("--only needs a target name")?.clone()),
            other => bail!(
                "unknown fuzz option {other} (use --seconds N, --only TARGET, --build-only, --check)"
            ),
        }
    }
    let mut crates = fuzz_crates()?;
    if let Some(name) = &only {
        for c in &mut crates {
            c.targets.retain(|t| t == name);
        }
        crates.retain(|c| !c.targets.is_empty());
        ensure!(!crates.is_empty(), "no fuzz target named {name}");
    }
    ensure!(
        !crates.is_empty(),
        "no fuzz targets found under crates/*/fuzz/fuzz_targets"
    );
    let count: usize = crates.iter().map(|c| c.targets.len()).sum();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if check_only || !nightly_available() {
        ensure!(
            build_only || check_only,
            "running fuzz targets needs a nightly toolchain (`rustup toolchain install nightly`); \
             `--build-only` checks that they compile on stable"
        );
        if !check_only {
            eprintln!("xtask fuzz: no nightly toolchain, so only a check on stable");
        }
        for c in &crates {
            run_cmd(
                Command::new(&cargo)
                    .args(["check", "-q", "--bins", "--manifest-path"])
                    .arg(&c.manifest)
                    .arg("--target-dir")
                    .arg(target_dir().join("fuzz-check"))
                    .env("RUSTFLAGS", "--cfg fuzzing"),
            )?;
        }
        println!("fuzz: {count} target(s) compile (cargo check on stable, --cfg fuzzing; not run)");
        return Ok(());
    }
    let fuzz_dir = target_dir().join("fuzz");
    for c in &crates {
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "build", "-q", "--release", "--target", TRIPLE])
            .arg("--manifest-path")
            .arg(&c.manifest)
            .arg("--target-dir")
            .arg(&fuzz_dir)
            .env("RUSTFLAGS", rustflags(&c.manifest))
            // The outer cargo's variables would point the inner one at the stable toolchain.
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTUP_TOOLCHAIN");
        for t in &c.targets {
            cmd.args(["--bin", t]);
        }
        run_cmd(&mut cmd).with_context(|| format!("fuzz targets of {}", c.manifest.display()))?;
    }
    if build_only {
        println!("fuzz: {count} target(s) built with nightly and sanitizers (not run)");
        return Ok(());
    }
    for c in &crates {
        let crate_dir = c.manifest.parent().context("fuzz manifest has a parent")?;
        for t in &c.targets {
            run_target(&fuzz_dir, crate_dir, t, seconds)?;
        }
    }
    println!("fuzz: {count} target(s) built and run {seconds} s each, no crash");
    Ok(())
}

/// Runs one target binary for `seconds` with libFuzzer; a crash fails with its artifact's path.
fn run_target(fuzz_dir: &Path, crate_dir: &Path, target: &str, seconds: u64) -> Result<()> {
    let corpus = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let bin = fuzz_dir.join(TRIPLE).join("release").join(target);
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus);
    let seeds = crate_dir.join("corpus").join(target);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    eprintln!("xtask fuzz: {target} for {seconds} s");
    run_cmd(&mut cmd).with_context(|| {
        format!(
            "fuzz target {target} failed: the crashing input is in {}",
            artifacts.display()
        )
    })
}

/// Every `crates/*/fuzz` with its targets (`fuzz_targets/*.rs`, one `[[bin]]` each), sorted.
fn fuzz_crates() -> Result<Vec<FuzzCrate>> {
    let mut out = Vec::new();
    let crates = root().join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .with_context(|| format!("cannot read {}", crates.display()))?
        .map(|e| e.map(|e| e.path().join("fuzz")))
        .collect::<std::io::Result<_>>()?;
    dirs.sort();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let mut targets = Vec::new();
        let src = dir.join("fuzz_targets");
        for e in
            std::fs::read_dir(&src).with_context(|| format!("cannot read {}", src.display()))?
        {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "rs") {
                let name = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .context("utf-8 target name")?
                    .to_owned();
                ensure!(
                    text.contains(&format!("name = \"{name}\"")),
                    "{} has no [[bin]] for {}",
                    manifest.display(),
                    p.display()
                );
                targets.push(name);
            }
        }
        targets.sort();
        out.push(FuzzCrate { manifest, targets });
    }
    Ok(out)
}

/// True when `cargo +nightly` works (rustup with a nightly toolchain installed).
fn nightly_available() -> bool {
    Command::new("cargo")
        .args(["+nightly", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .is_ok_and(|o| o.status.success())
}
