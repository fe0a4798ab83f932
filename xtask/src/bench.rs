//! `cargo xtask bench`: restore speed as a ratio against the real tools in the same run.
//!
//! A disk image of N GiB (a quarter pseudo-random, half compressible system binaries, a quarter
//! zeros) is archived with `pverescue create`, compressed by the real compressors, and restored
//! with `pverescue extract -q`. Each restore is compared with the real decompressor writing to
//! /dev/null on the same file, which is the floor any restore of that file can reach. Peak RSS
//! comes from GNU time. Results are printed as a Markdown table for docs/BENCHMARKS.md.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{output, root, run_cmd, tools};

const GIB: u64 = 1 << 30;

pub fn run(args: &[String]) -> Result<()> {
    let (sizes, runs) = size_args("bench", args, &[1])?;
    let bin = prepare()?;
    let work = root().join("target/bench");
    fs::create_dir_all(&work)?;
    let mut report = report_header(&bin)?;
    for size in sizes {
        bench_size(&bin, &work, size, runs, &mut report)?;
    }
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

fn bench_size(bin: &Path, work: &Path, gib: u64, runs: usize, report: &mut String) -> Result<()> {
    let disk = work.join(format!("disk-{gib}g.raw"));
    if !disk.exists() {
        eprintln!("bench: building a {gib} GiB image");
        make_image(&disk, gib * GIB)?;
    }
    let vma = work.join(format!("bench-{gib}g.vma"));
    if !vma.exists() {
        let conf = work.join("qemu-server.conf");
        fs::write(&conf, "name: bench\nscsi0: local:vm-1-disk-0\n")?;
        run_cmd(
            Command::new(bin)
                .arg("create")
                .arg(&vma)
                .arg("-q")
                .arg("-c")
                .arg(&conf)
                .arg("-d")
                .arg(format!("drive-scsi0={}", disk.display())),
        )?;
    }
    let mut cases = Vec::new();
    for (ext, tool, comp, decomp) in [
        ("zst", "zstd", "zstd --threads=2 -q -c", "zstd -dc"),
        // The fastest real decompressor for each format: pigz -dc reads gzip about twice as
        // fast as zcat here (it inflates on one thread and checks and writes on others).
        ("gz", "pigz", "pigz -p 2 --rsyncable -c", "pigz -dc"),
        ("lzo", "lzop", "lzop -c", "lzop -dc"),
    ] {
        let file = work.join(format!("bench-{gib}g.vma.{ext}"));
        if !file.exists() {
            eprintln!("bench: compressing with {tool}");
            shell(&format!(
                "{comp} < '{}' > '{}'",
                vma.display(),
                file.display()
            ))?;
        }
        cases.push((ext, decomp, file));
    }
    writeln!(
        report,
        "\n### {gib} GiB disk (¼ random, ½ system binaries, ¼ zeros), median of {runs}\n"
    )?;
    writeln!(
        report,
        "| archive | size | decompressor → /dev/null | pverescue extract -q | ratio | pverescue peak RSS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|")?;
    let out_dir = work.join("restore");
    for (ext, decomp, file) in &cases {
        let mut rss = 0;
        let (base, ours) = paired(
            runs,
            || Ok(time_shell(&format!("{decomp} < '{}' > /dev/null", file.display()))?.0),
            || {
                let _ = fs::remove_dir_all(&out_dir);
                let (secs, kib) = time_shell(&format!(
                    "'{}' extract -q '{}' '{}'",
                    bin.display(),
                    file.display(),
                    out_dir.display()
                ))?;
                rss = rss.max(kib);
                Ok(secs)
            },
        )?;
        let _ = fs::remove_dir_all(&out_dir);
        let size = fs::metadata(file)?.len();
        writeln!(
            report,
            "| .vma.{ext} | {} MB | {decomp}: {base:.2} s | {ours:.2} s | **{:.2}** | {} MiB |",
            size / 1_000_000,
            ours / base,
            rss / 1024
        )?;
        eprintln!("bench: .vma.{ext}: {decomp} {base:.2} s, pverescue {ours:.2} s");
    }
    Ok(())
}

/// `--size-gib N[,N…] --runs N` of a bench called `name` (defaults: `sizes`, 3 runs).
pub(crate) fn size_args(name: &str, args: &[String], sizes: &[u64]) -> Result<(Vec<u64>, usize)> {
    let mut sizes = sizes.to_vec();
    let mut runs = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size-gib" => {
                let v = it.next().context("--size-gib needs a number")?;
                sizes = v.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
            other => bail!("unknown {name} option {other} (use --size-gib 1,4 --runs 3)"),
        }
    }
    Ok((sizes, runs))
}

/// What every bench needs first: the real tools, GNU time, and a release build of pverescue.
pub(crate) fn prepare() -> Result<PathBuf> {
    tools::ensure_all()?;
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is missing: apt-get install time");
    }
    crate::build_pverescue()
}

/// The first lines of every bench report: the machine and the pverescue build measured.
pub(crate) fn report_header(bin: &Path) -> Result<String> {
    let mut report = String::new();
    writeln!(report, "machine: {}", machine())?;
    writeln!(
        report,
        "pverescue: {}",
        output(Command::new(bin).arg("--version"))?.trim()
    )?;
    Ok(report)
}

pub(crate) fn median(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        v.push(f()?);
    }
    Ok(middle(v))
}

/// Runs `a` and `b` in turn, `runs` times each (A B A B …), so that a machine that gets busier
/// or quieter during the bench shifts both alike; returns both medians.
pub(crate) fn paired(
    runs: usize,
    mut a: impl FnMut() -> Result<f64>,
    mut b: impl FnMut() -> Result<f64>,
) -> Result<(f64, f64)> {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        va.push(a()?);
        vb.push(b()?);
    }
    Ok((middle(va), middle(vb)))
}

/// The median of at least one timing.
pub(crate) fn middle(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs a shell command under GNU time; returns (wall seconds, peak RSS KiB).
pub(crate) fn time_shell(script: &str) -> Result<(f64, u64)> {
    let t = time_shell_full(script)?;
    Ok((t.wall, t.rss_kib))
}

/// What GNU time measured of one command.
pub(crate) struct Timing {
    /// Wall seconds.
    pub wall: f64,
    /// User + system CPU seconds (of the command and the children it waited for).
    pub cpu: f64,
    /// Peak resident set, KiB (the largest process, from `wait4`).
    pub rss_kib: u64,
}

/// Runs a shell command under GNU time.
pub(crate) fn time_shell_full(script: &str) -> Result<Timing> {
    let tmp = std::env::temp_dir().join(format!("xtask-time-{}", std::process::id()));
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(&tmp)
        .args(["sh", "-c", script])
        .stdout(Stdio::null())
        .status()?;
    let wall = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("`{script}` failed with {status}");
    }
    let text = fs::read_to_string(&tmp)?;
    let _ = fs::remove_file(&tmp);
    let last = text.trim().lines().last().unwrap_or("");
    let f: Vec<&str> = last.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(Timing {
        wall,
        cpu: num(1) + num(2),
        rss_kib: f.first().and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

pub(crate) fn shell(script: &str) -> Result<()> {
    run_cmd(Command::new("sh").args(["-c", script]))
}

/// Writes the bench image: ¼ pseudo-random, ½ system binaries (repeated), ¼ zeros (a hole).
pub(crate) fn make_image(path: &Path, size: u64) -> Result<()> {
    let file = File::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 20, &file);
    write_image(&mut out, size, false)?;
    out.flush()?;
    drop(out);
    file.set_len(size)?;
    Ok(())
}

/// Writes the bench mix to `out`: ¼ pseudo-random, ½ system binaries (repeated), then the
/// last ¼ as zeros when `zeros` (else the caller leaves it as a hole).
pub(crate) fn write_image(out: &mut dyn std::io::Write, size: u64, zeros: bool) -> Result<()> {
    let quarter = size / 4;
    let mut written = 0;
    let mut seed = 1;
    while written < quarter {
        out.write_all(&crate::fixtures::pseudo_random(1 << 20, seed))?;
        written += 1 << 20;
        seed += 1;
    }
    let binaries = system_binaries()?;
    let mut left = 2 * quarter;
    'fill: loop {
        for p in &binaries {
            let data = fs::read(p).unwrap_or_default();
            let n = (data.len() as u64).min(left) as usize;
            out.write_all(&data[..n])?;
            left -= n as u64;
            if left == 0 {
                break 'fill;
            }
        }
    }
    if zeros {
        let block = vec![0u8; 1 << 20];
        let mut left = size.saturating_sub(written + 2 * quarter);
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            out.write_all(&block[..n])?;
            left -= n as u64;
        }
    }
    Ok(())
}

fn system_binaries() -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && fs::metadata(&p).is_ok_and(|m| m.len() > 4096) {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("no system binaries found to fill the compressible part");
    }
    Ok(files)
}

pub(crate) fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}
