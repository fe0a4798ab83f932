//! `pverescue verify`: read every archive completely and report each as OK or FAIL.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Outcome;
use crate::archive::Source;
use crate::cli::{Global, VerifyArgs};
use crate::output;
use crate::progress::Bar;

/// The result of verifying one archive.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The input as named on the command line.
    pub file: String,
    /// True when the archive is complete and consistent.
    pub ok: bool,
    /// The compression found by sniffing, when the file could be opened.
    pub compression: Option<String>,
    /// Number of disks in the archive.
    pub disks: usize,
    /// Sum of the disk sizes in bytes.
    pub disk_bytes: u64,
    /// Bytes of disk data stored in the archive (the rest are zero blocks).
    pub stored_bytes: u64,
    /// Why the archive failed.
    pub error: Option<String>,
    /// Non-fatal findings, e.g. trailing data after a compressed stream.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    archives: Vec<Verdict>,
    ok: usize,
    failed: usize,
}

/// Runs `pverescue verify`.
pub fn run(g: &Global, a: &VerifyArgs) -> Result<Outcome> {
    let mut verdicts = Vec::new();
    for path in &a.archives {
        let verdict = verify_one(g, path);
        if !g.json && !g.quiet {
            print_verdict(&verdict);
        } else if !g.json && !verdict.ok {
            // Quiet mode still names what failed.
            print_verdict(&verdict);
        }
        verdicts.push(verdict);
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    let warned = verdicts.iter().any(|v| !v.warnings.is_empty());
    let ok = verdicts.len() - failed;
    if g.json {
        output::print_json(&Report {
            archives: verdicts,
            ok,
            failed,
        })?;
    } else if !g.quiet && a.archives.len() > 1 {
        println!("{} archives: {ok} ok, {failed} failed", a.archives.len());
    }
    Ok(if failed > 0 {
        Outcome::Failed
    } else if warned {
        Outcome::Warnings
    } else {
        Outcome::Success
    })
}

fn print_verdict(v: &Verdict) {
    if v.ok {
        let disks = if v.disks == 1 {
            "1 disk".to_owned()
        } else {
            format!("{} disks", v.disks)
        };
        println!(
            "OK   {} ({}, {disks}, {} of disk, {} stored)",
            v.file,
            v.compression.as_deref().unwrap_or("?"),
            output::size(v.disk_bytes),
            output::size(v.stored_bytes)
        );
    } else {
        println!(
            "FAIL {}: {}",
            v.file,
            v.error.as_deref().unwrap_or("unknown error")
        );
    }
    for w in &v.warnings {
        println!("WARN {}: {w}", v.file);
    }
}

fn verify_one(g: &Global, path: &Path) -> Verdict {
    let mut verdict = Verdict {
        file: path.display().to_string(),
        ok: false,
        compression: None,
        disks: 0,
        disk_bytes: 0,
        stored_bytes: 0,
        error: None,
        warnings: Vec::new(),
    };
    let result = (|| -> Result<()> {
        let mut source = Source::open(path)?;
        verdict.compression = Some(source.input.format().to_string());
        let name = source.name().to_owned();
        let reader = source.vma()?;
        let disks: Vec<&vma::Device> = reader
            .header()
            .devices
            .iter()
            .filter(|d| !d.is_vmstate())
            .collect();
        verdict.disks = disks.len();
        verdict.disk_bytes = disks.iter().map(|d| d.size).sum();
        let mut bar = Bar::new(g, &name);
        let summary = reader
            .verify(&mut bar)
            .with_context(|| format!("{name}: archive is damaged"))?;
        verdict.stored_bytes = summary.stored_bytes;
        verdict.warnings = source.input.warnings();
        Ok(())
    })();
    match result {
        Ok(()) => verdict.ok = true,
        Err(e) => {
            // The library contexts start with the file name, which the verdict already shows.
            let line = output::error_line(&e);
            let prefix = format!("{}: ", verdict.file);
            verdict.error = Some(line.strip_prefix(&prefix).unwrap_or(&line).to_owned());
        }
    }
    verdict
}
