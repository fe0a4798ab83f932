//! `pverescue patch`: apply a chain of VCDIFF and rdiff deltas to any file.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use backupset::patch::{self, Notice};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, PatchArgs};
use crate::source::parse_size;
use crate::{outfile, output};

#[derive(Debug, Serialize)]
struct Json {
    file: String,
    base: String,
    deltas: Vec<JsonDelta>,
    bytes: u64,
    seconds: f64,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct JsonDelta {
    file: String,
    format: &'static str,
    compression: String,
    made_against: Option<String>,
}

/// Runs `pverescue patch`.
pub fn run(g: &Global, a: &PatchArgs) -> Result<Outcome> {
    let started = Instant::now();
    let to_stdout = a.output.as_os_str() == "-";
    if to_stdout && g.json {
        bail!("--json prints on standard output, where -o - writes the result: choose one");
    }
    if !to_stdout {
        outfile::refuse_existing(&a.output, "patch")?;
    }
    let spool_dir = if to_stdout {
        std::env::temp_dir()
    } else {
        match a.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let opts = patch::PatchOptions {
        source_window: parse_size(&a.source_window)
            .with_context(|| format!("--source-window {}", a.source_window))?,
        spool_dir,
        rdiff_memory: match &a.rdiff_memory {
            Some(m) => parse_size(m).with_context(|| format!("--rdiff-memory {m}"))? as u64,
            None => patch::default_rdiff_memory(),
        },
    };
    let mut warnings = Vec::new();
    let chain = patch::chain(&a.base, &a.deltas, &opts, &mut |n| match n {
        Notice::Spooling { what, dir } => {
            if !g.quiet {
                eprintln!(
                    "pverescue: note: {what}: rdiff needs random access to its basis, so it is \
                     unpacked to a temporary file in {} (deleted, its space freed when done)",
                    dir.display()
                );
            }
        }
        Notice::Warning(w) => warnings.push(w),
    })?;
    let steps = chain.steps;
    let mut reader = chain.reader;
    let bytes = if to_stdout {
        copy(&mut reader, &mut io::stdout().lock(), Path::new("<stdout>"))?
    } else {
        outfile::create_new(&a.output, "patch", |file, tmp| copy(&mut reader, file, tmp))?
    };
    let seconds = started.elapsed().as_secs_f64();
    let format_name = |k: vcdiff::DeltaKind| match k {
        vcdiff::DeltaKind::Rdiff => "rdiff",
        _ => "vcdiff",
    };
    if g.json {
        output::print_json(&Json {
            file: a.output.display().to_string(),
            base: a.base.display().to_string(),
            deltas: steps
                .iter()
                .map(|s| JsonDelta {
                    file: s.delta.clone(),
                    format: format_name(s.kind),
                    compression: s.compression.to_string(),
                    made_against: s.made_against.clone(),
                })
                .collect(),
            bytes,
            seconds,
            warnings: warnings.clone(),
        })?;
    } else if !g.quiet {
        let kinds: Vec<&str> = steps.iter().map(|s| format_name(s.kind)).collect();
        let line = format!(
            "patched {} with {} delta{} ({}) into {}: {} in {seconds:.2} s",
            a.base.display(),
            steps.len(),
            if steps.len() == 1 { "" } else { "s" },
            kinds.join(", "),
            a.output.display(),
            output::size(bytes),
        );
        if to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    for w in &warnings {
        eprintln!("pverescue: warning: {w}");
    }
    Ok(if warnings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}

/// Copies the patched stream to `out`, telling read (delta) errors from write errors.
fn copy(reader: &mut dyn Read, out: &mut dyn Write, out_name: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e).context("cannot apply the deltas");
            }
        };
        out.write_all(&buf[..n])
            .with_context(|| format!("{}: cannot write at byte {total}", out_name.display()))?;
        total += n as u64;
    }
    out.flush()
        .with_context(|| format!("{}: cannot write", out_name.display()))?;
    Ok(total)
}
