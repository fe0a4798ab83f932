//! `pverescue merge`: a full plus one of its differentials → a standalone full archive.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, MergeArgs};
use crate::progress::Bar;
use crate::source::{Input, open_options};
use crate::{outfile, output};

#[derive(Debug, Serialize)]
struct Json {
    file: String,
    full: String,
    diff: String,
    kind: String,
    compression: String,
    archive_bytes: u64,
    file_bytes: u64,
    seconds: f64,
    warnings: Vec<String>,
}

/// Runs `pverescue merge`.
pub fn run(g: &Global, a: &MergeArgs) -> Result<Outcome> {
    let started = Instant::now();
    outfile::refuse_existing(&a.output, "merge")?;
    let mut opts = open_options(&a.diff_opts)?;
    opts.base = Some(a.full.clone());
    let mut source = Input::open_with(&a.diff, &opts)?;
    let name = source.name().to_owned();
    if source.archive.diff().is_none() {
        bail!(
            "{name}: not a differential (no VCDIFF delta inside); merge takes the full first, \
             then the differential"
        );
    }
    let compression = unpack::Format::from_path(&a.output);
    let mut bar = Bar::new(g, &name).input(&a.diff, source.archive.counter());
    let checked = outfile::create_new(&a.output, "merge", |file, tmp| {
        let file = file
            .try_clone()
            .with_context(|| format!("{}: cannot reopen", tmp.display()))?;
        let mut sink = unpack::compressor(file, compression)?;
        let checked = backupset::check_into(&mut source.archive, &mut sink, &mut bar)?;
        sink.finish()
            .with_context(|| format!("{}: cannot finish the compressed stream", tmp.display()))?;
        Ok(checked)
    })?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    let (kind, archive_bytes, what) = match &checked {
        backupset::Checked::Vma {
            disks,
            disk_bytes,
            summary,
        } => (
            "vma",
            summary.bytes_read,
            format!(
                "{disks} disk{}, {} of disk",
                if *disks == 1 { "" } else { "s" },
                output::size(*disk_bytes)
            ),
        ),
        backupset::Checked::Tar(t) => ("tar", t.archive_bytes, format!("{} entries", t.entries)),
    };
    let file_bytes = std::fs::metadata(&a.output).map_or(0, |m| m.len());
    let warnings = source.archive.warnings();
    if g.json {
        output::print_json(&Json {
            file: a.output.display().to_string(),
            full: a.full.display().to_string(),
            diff: name.clone(),
            kind: kind.to_owned(),
            compression: compression.to_string(),
            archive_bytes,
            file_bytes,
            seconds,
            warnings,
        })?;
    } else if !g.quiet {
        output::outln!(
            "merged {} + {name} into {} ({kind}, {what}, complete; {} of archive, {} written as {compression}) in {seconds:.2} s",
            a.full.display(),
            a.output.display(),
            output::size(archive_bytes),
            output::size(file_bytes),
        )?;
    }
    Ok(source.print_warnings())
}
