//! `cargo xtask bench-diff`: differentials and deltas against xdelta3, in one run.
//!
//! A base image (the full-backup bench's mix: ¼ random, ½ system binaries, ¼ zeros) and a
//! target with about 5 % of it changed in scattered 64 KiB blocks. Measured, as ratios against
//! the real tool on the same files:
//!
//! - `pverescue patch BASE DELTA -o FILE` / `xdelta3 -d -s BASE DELTA FILE`, for deltas made by
//!   `xdelta3 -e` with its defaults (LZMA secondary) and with `-S none`;
//! - `pverescue extract DIFF` of a vzdump-style zstd full + zstd differential / the real tool's
//!   floor: `xdelta3 -d` reading the full and the differential through `zstd -dc` pipes (as
//!   pve-xdelta3 did) and writing the reconstructed archive to a file, which costs what writing
//!   the restored disk costs; the old `xdelta3 -d … | pverescue extract -` pipeline is shown
//!   too, for reference (it contains pverescue itself, so it is no floor);
//! - peak RSS of pverescue (GNU time).
//!
//! Every pair of commands runs in turn (A B A B …), so machine drift hits both alike.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::{make_image, median, paired, shell, time_shell};
use crate::{root, run_cmd};

const MIB: u64 = 1 << 20;
/// Size of a changed block.
const BLOCK: u64 = 64 * 1024;

pub fn run(args: &[String]) -> Result<()> {
    let mut mib = 1024u64;
    let mut runs = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size-mib" => mib = it.next().context("--size-mib needs a number")?.parse()?,
            "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
            other => bail!("unknown bench-diff option {other} (use --size-mib 1024 --runs 3)"),
        }
    }
    let bin = crate::bench::prepare()?;
    let work = root().join(format!("target/bench-diff/{mib}m"));
    fs::create_dir_all(&work)?;
    let base = work.join("base.raw");
    let target = work.join("target.raw");
    if !target.exists() {
        eprintln!("bench-diff: building a {mib} MiB base and a target with 5 % changed");
        make_image(&base, mib * MIB)?;
        fs::copy(&base, &target)?;
        change_five_percent(&target, mib * MIB)?;
    }
    let mut report = crate::bench::report_header(&bin)?;
    writeln!(report, "xdelta3: {}", crate::fixtures::version("xdelta3"))?;
    writeln!(
        report,
        "\n### patch: {mib} MiB image, 5 % changed in 64 KiB blocks, median of {runs}\n"
    )?;
    writeln!(
        report,
        "| delta | size | xdelta3 -d | pverescue patch | ratio | pverescue peak RSS | xdelta3 peak RSS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|")?;
    for (label, flags) in [
        ("xdelta3 default (LZMA)", ""),
        ("xdelta3 -S none", "-S none"),
    ] {
        let delta = work.join(format!("delta{}.vcdiff", flags.replace(' ', "")));
        if !delta.exists() {
            shell(&format!(
                "xdelta3 -e -q {flags} -s '{}' '{}' '{}'",
                base.display(),
                target.display(),
                delta.display()
            ))?;
        }
        let out = work.join("out.raw");
        let (mut ours_rss, mut theirs_rss) = (0, 0);
        let (theirs, ours) = paired(
            runs,
            || {
                let (s, kib) = time_shell(&format!(
                    "xdelta3 -d -q -f -s '{}' '{}' '{}'",
                    base.display(),
                    delta.display(),
                    out.display()
                ))?;
                theirs_rss = theirs_rss.max(kib);
                check_same(&out, &target)?;
                Ok(s)
            },
            || {
                let _ = fs::remove_file(&out);
                let (s, kib) = time_shell(&format!(
                    "'{}' patch -q '{}' '{}' -o '{}'",
                    bin.display(),
                    base.display(),
                    delta.display(),
                    out.display()
                ))?;
                ours_rss = ours_rss.max(kib);
                check_same(&out, &target)?;
                Ok(s)
            },
        )?;
        let _ = fs::remove_file(&out);
        writeln!(
            report,
            "| {label} | {:.1} MB | {theirs:.2} s | {ours:.2} s | **{:.2}** | {} MiB | {} MiB |",
            fs::metadata(&delta)?.len() as f64 / 1e6,
            ours / theirs,
            ours_rss / 1024,
            theirs_rss / 1024
        )?;
        eprintln!("bench-diff: {label}: xdelta3 {theirs:.2} s, pverescue {ours:.2} s");
    }
    extract_case(&bin, &work, &base, &target, runs, &mut report)?;
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

/// vzdump-style full (zstd) and differential (xdelta3 from the piped full, then zstd).
fn extract_case(
    bin: &Path,
    work: &Path,
    base: &Path,
    target: &Path,
    runs: usize,
    report: &mut String,
) -> Result<()> {
    let full = work.join("vzdump-qemu-1-2026_01_01-00_00_00.vma.zst");
    let diff = work.join(
        "vzdump-qemu-1-2026_01_01-00_00_00.vma.zst--differential-2026_01_02-00_00_00.vcdiff.zst",
    );
    let conf = work.join("qemu-server.conf");
    if !diff.exists() {
        fs::write(&conf, "name: bench\nscsi0: local:vm-1-disk-0\n")?;
        for (raw, vma) in [(base, "full.vma"), (target, "new.vma")] {
            let vma = work.join(vma);
            let _ = fs::remove_file(&vma);
            run_cmd(
                Command::new(bin)
                    .args([
                        "create",
                        "-q",
                        "--uuid",
                        "00000000-0000-4000-8000-000000000001",
                    ])
                    .args(["--ctime", "1767225600", "-c"])
                    .arg(&conf)
                    .arg("-d")
                    .arg(format!("drive-scsi0={}", raw.display()))
                    .arg(&vma),
            )?;
        }
        shell(&format!(
            "zstd -q --threads=2 -c '{}' > '{}'",
            work.join("full.vma").display(),
            full.display()
        ))?;
        bash(&format!(
            "xdelta3 -e -q -c -s <(zstd -dc '{}') < '{}' | zstd -q --threads=2 > '{}'",
            full.display(),
            work.join("new.vma").display(),
            diff.display()
        ))?;
    }
    let out = work.join("restore");
    let rebuilt = work.join("rebuilt.vma");
    let (mut ours_rss, mut theirs_rss) = (0, 0);
    let (floor, ours) = paired(
        runs,
        || {
            let _ = fs::remove_file(&rebuilt);
            let (s, kib) = time_shell(&format!(
                "bash -c \"xdelta3 -d -q -f -s <(zstd -dc '{}') <(zstd -dc '{}') '{}'\"",
                full.display(),
                diff.display(),
                rebuilt.display()
            ))?;
            theirs_rss = theirs_rss.max(kib);
            Ok(s)
        },
        || {
            let _ = fs::remove_dir_all(&out);
            let (s, kib) = time_shell(&format!(
                "'{}' extract -q '{}' '{}'",
                bin.display(),
                diff.display(),
                out.display()
            ))?;
            ours_rss = ours_rss.max(kib);
            check_same(&out.join("disk-drive-scsi0.raw"), target)?;
            Ok(s)
        },
    )?;
    let _ = fs::remove_file(&rebuilt);
    // For reference: the pipeline users ran before, which contains pverescue itself.
    let pipeline = median(runs, || {
        let _ = fs::remove_dir_all(&out);
        Ok(time_shell(&format!(
            "bash -c \"xdelta3 -d -q -c -s <(zstd -dc '{}') <(zstd -dc '{}') | '{}' extract -q - '{}'\"",
            full.display(),
            diff.display(),
            bin.display(),
            out.display()
        ))?
        .0)
    })?;
    let _ = fs::remove_dir_all(&out);
    writeln!(
        report,
        "\n### extract of a differential (zstd full {:.1} MB + zstd diff {:.1} MB), median of {runs}\n",
        fs::metadata(&full)?.len() as f64 / 1e6,
        fs::metadata(&diff)?.len() as f64 / 1e6
    )?;
    writeln!(
        report,
        "| floor: xdelta3 -d to a file | pverescue extract DIFF | ratio | xdelta3 -d … \\| pverescue extract - (reference) | pverescue peak RSS | xdelta3 peak RSS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|")?;
    writeln!(
        report,
        "| {floor:.2} s | {ours:.2} s | **{:.2}** | {pipeline:.2} s | {} MiB | {} MiB |",
        ours / floor,
        ours_rss / 1024,
        theirs_rss / 1024
    )?;
    eprintln!(
        "bench-diff: extract: xdelta3 -d to a file {floor:.2} s, pverescue {ours:.2} s, old pipeline {pipeline:.2} s"
    );
    Ok(())
}

/// Overwrites about 5 % of the file with pseudo-random 64 KiB blocks at scattered offsets.
fn change_five_percent(path: &Path, size: u64) -> Result<()> {
    let file = File::options().write(true).open(path)?;
    let blocks = size / BLOCK;
    let changes = (blocks / 20).max(1);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..changes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = (x % blocks) * BLOCK;
        file.write_at(
            &crate::fixtures::pseudo_random(BLOCK as usize, 1000 + i),
            at,
        )?;
    }
    Ok(())
}

fn bash(script: &str) -> Result<()> {
    run_cmd(Command::new("bash").args(["-c", script]))
}

fn check_same(a: &Path, b: &Path) -> Result<()> {
    let same = Command::new("cmp")
        .args(["-s"])
        .arg(a)
        .arg(b)
        .status()
        .is_ok_and(|s| s.success());
    if !same {
        bail!("{} differs from {}", a.display(), b.display());
    }
    Ok(())
}
