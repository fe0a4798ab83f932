//! `pverescue extract`: restore disks and configs into a directory, like `vma extract`, and with
//! `--map` disks onto block devices or files (bare metal), all in one pass.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{ExtractArgs, Global};
use crate::output;
use crate::progress::Bar;
use crate::source::Input;
use crate::targets;

#[derive(Debug, Serialize)]
struct Json {
    file: String,
    compression: String,
    base: Option<String>,
    dir: Option<String>,
    configs: Vec<JsonConfig>,
    disks: Vec<JsonDisk>,
    skipped: Vec<String>,
    compressed_bytes: u64,
    archive_bytes: u64,
    seconds: f64,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct JsonConfig {
    name: String,
    path: String,
    size: u64,
}

#[derive(Debug, Serialize)]
struct JsonDisk {
    dev_id: u8,
    name: String,
    path: String,
    target: &'static str,
    size: u64,
    stored_bytes: u64,
    sparse_bytes: u64,
    verified: Option<bool>,
}

/// Runs `pverescue extract`.
pub fn run(g: &Global, a: &ExtractArgs) -> Result<Outcome> {
    if let Some((store, at)) = crate::source::pbs(&a.archive) {
        return super::pbs::extract(g, a, &store, &at);
    }
    if let Some(dir) = crate::source::virtnbd(&a.archive) {
        return super::virtnbd::extract(g, a, dir);
    }
    if a.until.is_some() || a.format != crate::cli::DiskFormat::Raw {
        anyhow::bail!("--until and --format are for virtnbdbackup directories (for now)");
    }
    if !a.select.is_empty() {
        anyhow::bail!(
            "-a/--archive picks archives of a Proxmox Backup Server snapshot; for a VMA archive \
             pick drives with -d"
        );
    }
    if a.zero_fill {
        anyhow::bail!("--zero-fill is for Proxmox Backup Server snapshots (chunks)");
    }
    let started = Instant::now();
    let mut source = Input::open(&a.archive, &a.diff)?;
    let name = source.name().to_owned();
    let format = source.archive.compression();
    let counter = source.archive.counter();
    let base = source.archive.diff().map(|d| d.base.display().to_string());
    let note = source.diff_note();
    cleanup::install().context("cannot install the signal handler")?;
    let reader = source.vma()?;
    // Every target is checked (and confirmed) before a single byte is written.
    let header = reader.header();
    let disk = |n: &str| header.drive(n).map(|d| (d.name.clone(), d.size));
    let mapped = targets::prepare(&disk, &a.maps, a.yes, g.quiet || g.json)?;
    let opts = vma::extract::ExtractOptions {
        drives: a.drives.clone(),
        write_zeroes: a.write_zeroes,
        force: a.force,
    };
    let outputs = vma::extract::Outputs {
        dir: a.dir.clone(),
        targets: mapped,
        digest: a.verify,
    };
    let into = match &a.dir {
        Some(d) => format!(" into {}", d.display()),
        None => String::new(),
    };
    let mut bar = Bar::new(g, &name).input(&a.archive, counter.clone());
    let report = vma::extract::extract(reader, &opts, outputs, &mut bar)
        .with_context(|| format!("{name}: restore{into} failed"))?;
    bar.finish();
    // The outcome of the re-read, per disk: only disks that were really re-read count.
    let verified: Vec<Option<bool>> = if a.verify {
        targets::verify(&report)?
    } else {
        vec![None; report.disks.len()]
    };
    let seconds = started.elapsed().as_secs_f64();
    let compressed = counter.load(std::sync::atomic::Ordering::Relaxed);
    let warnings = source.archive.warnings();

    if g.json {
        output::print_json(&Json {
            file: name.clone(),
            compression: format.to_string(),
            base,
            dir: a.dir.as_ref().map(|d| d.display().to_string()),
            configs: report
                .configs
                .iter()
                .map(|c| JsonConfig {
                    name: c.name.clone(),
                    path: c.path.display().to_string(),
                    size: c.size,
                })
                .collect(),
            disks: report
                .disks
                .iter()
                .zip(&verified)
                .map(|(d, verified)| JsonDisk {
                    dev_id: u8::try_from(d.id).unwrap_or(u8::MAX),
                    name: d.name.clone(),
                    path: d.path.display().to_string(),
                    target: d.kind.name(),
                    size: d.size,
                    stored_bytes: d.stored_bytes,
                    sparse_bytes: d.sparse_bytes,
                    verified: *verified,
                })
                .collect(),
            skipped: report.skipped.clone(),
            compressed_bytes: compressed,
            archive_bytes: report.summary.bytes_read,
            seconds,
            warnings: warnings.clone(),
        })?;
    } else if !g.quiet {
        println!("restored {name}{note}{into}");
        for c in &report.configs {
            println!("  config {:<28} {:>12}", c.name, output::size(c.size));
        }
        for (d, verified) in report.disks.iter().zip(&verified) {
            // Files in DIR by their name; mapped targets by their whole path.
            let shown = match (&a.dir, d.path.file_name()) {
                (Some(dir), Some(f)) if d.path.parent() == Some(dir.as_path()) => {
                    f.to_string_lossy().into_owned()
                }
                _ => d.path.display().to_string(),
            };
            let check = if *verified == Some(true) {
                ", verified"
            } else {
                ""
            };
            println!(
                "  disk   {shown:<28} {:>12}  ({} data, {} sparse{check})",
                output::size(d.size),
                output::size(d.stored_bytes),
                output::size(d.sparse_bytes)
            );
        }
        for s in &report.skipped {
            println!("  skip   {s}");
        }
        let image: u64 = report.disks.iter().map(|d| d.size).sum();
        let rate = if seconds > 0.0 {
            image as f64 / seconds
        } else {
            0.0
        };
        println!(
            "read {} ({format}), {} of disks in {seconds:.2} s ({}/s)",
            output::size(compressed),
            output::size(image),
            output::size(rate as u64)
        );
    }
    for w in &warnings {
        eprintln!("pverescue: warning: {name}: {w}");
    }
    Ok(if warnings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}
