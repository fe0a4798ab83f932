//! `pverescue extract`: restore disks and configs into a directory, like `vma extract`.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Outcome;
use crate::archive::Source;
use crate::cli::{ExtractArgs, Global};
use crate::output;
use crate::progress::Bar;

#[derive(Debug, Serialize)]
struct Json {
    file: String,
    compression: String,
    base: Option<String>,
    dir: String,
    configs: Vec<JsonConfig>,
    disks: Vec<JsonDisk>,
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
    size: u64,
    stored_bytes: u64,
    sparse_bytes: u64,
}

/// Runs `pverescue extract`.
pub fn run(g: &Global, a: &ExtractArgs) -> Result<Outcome> {
    let started = Instant::now();
    let mut source = Source::open(&a.archive, &a.diff)?;
    let name = source.name().to_owned();
    let format = source.archive.format();
    let counter = source.archive.counter();
    let base = source.archive.diff().map(|d| d.base.display().to_string());
    let note = source.diff_note();
    let reader = source.vma()?;
    let opts = vma::extract::ExtractOptions {
        drives: a.drives.clone(),
        write_zeroes: a.write_zeroes,
        force: a.force,
    };
    let mut bar = Bar::new(g, &name);
    let report = vma::extract::extract_to_dir(reader, &a.dir, &opts, &mut bar)
        .with_context(|| format!("{name}: restore into {} failed", a.dir.display()))?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    let compressed = counter.load(std::sync::atomic::Ordering::Relaxed);
    let warnings = source.archive.warnings();

    if g.json {
        output::print_json(&Json {
            file: name.clone(),
            compression: format.to_string(),
            base,
            dir: a.dir.display().to_string(),
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
                .map(|d| JsonDisk {
                    dev_id: d.dev_id,
                    name: d.name.clone(),
                    path: d.path.display().to_string(),
                    size: d.size,
                    stored_bytes: d.stored_bytes,
                    sparse_bytes: d.sparse_bytes,
                })
                .collect(),
            compressed_bytes: compressed,
            archive_bytes: report.summary.bytes_read,
            seconds,
            warnings: warnings.clone(),
        })?;
    } else if !g.quiet {
        println!("restored {name}{note} into {}", a.dir.display());
        for c in &report.configs {
            println!("  config {:<28} {:>12}", c.name, output::size(c.size));
        }
        for d in &report.disks {
            let file = d.path.file_name().map_or_else(
                || d.path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
            println!(
                "  disk   {file:<28} {:>12}  ({} data, {} sparse)",
                output::size(d.size),
                output::size(d.stored_bytes),
                output::size(d.sparse_bytes)
            );
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
