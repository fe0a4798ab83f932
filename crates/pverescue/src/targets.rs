//! `extract --map`: parse the mapping, check every target before a byte is written, confirm, and
//! verify by re-reading afterwards. The checks themselves live in the `blockdev` library.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vma::extract::{Report, Target};

use crate::output;

/// One `--map NAME=PATH|skip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapArg {
    /// Drive name as given (full or short).
    pub drive: String,
    /// Target path; `None` for `skip`.
    pub path: Option<PathBuf>,
}

/// Parses `NAME=PATH` or `NAME=skip` (clap value parser).
pub fn parse_map(s: &str) -> std::result::Result<MapArg, String> {
    let (drive, target) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH or NAME=skip, found {s:?}"))?;
    if drive.is_empty() || target.is_empty() {
        return Err(format!("expected NAME=PATH or NAME=skip, found {s:?}"));
    }
    Ok(MapArg {
        drive: drive.to_owned(),
        path: (target != "skip").then(|| PathBuf::from(target)),
    })
}

/// The refusal to overwrite devices or existing files without `--yes`.
#[derive(Debug)]
pub struct NeedsYes {
    /// The devices and files that would be overwritten.
    pub targets: Vec<String>,
}

impl std::fmt::Display for NeedsYes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to overwrite {} without --yes: everything on it will be lost",
            self.targets.join(", ")
        )
    }
}

impl std::error::Error for NeedsYes {}

impl NeedsYes {
    /// What to do.
    pub fn hint(&self) -> &'static str {
        "check with lsblk that this is the disk to overwrite, then run the command again with --yes"
    }
}

/// Checks every mapped target against its disk, prints what will be overwritten (stderr), refuses
/// without `yes` when a device or an existing file would be overwritten, and opens the targets.
///
/// `disk` names the disk a `--map` name means (its full name and size), for any source.
pub fn prepare(
    disk: &dyn Fn(&str) -> Option<(String, u64)>,
    maps: &[MapArg],
    yes: bool,
    quiet: bool,
) -> Result<Vec<(String, Target)>> {
    let mut checked = Vec::new();
    let mut needs_yes = Vec::new();
    for m in maps {
        let Some((disk_name, disk_size)) = disk(&m.drive) else {
            // The extractor names the drives the archive has.
            checked.push((m.drive.clone(), None));
            continue;
        };
        let Some(path) = &m.path else {
            checked.push((m.drive.clone(), None));
            continue;
        };
        let info = blockdev::inspect(path).with_context(|| format!("--map {}", m.drive))?;
        info.check(disk_size)
            .with_context(|| format!("cannot restore {disk_name} ({disk_size} bytes)"))?;
        if !quiet {
            eprintln!(
                "{disk_name} ({}, {disk_size} bytes) -> {}",
                output::size(disk_size),
                info.describe()
            );
        }
        if info.kind != blockdev::Kind::Missing {
            needs_yes.push(path.display().to_string());
        }
        checked.push((m.drive.clone(), Some((path.clone(), info.kind))));
    }
    if !needs_yes.is_empty() && !yes {
        return Err(NeedsYes { targets: needs_yes }.into());
    }
    let mut targets = Vec::new();
    for (drive, t) in checked {
        let target = match t {
            None => Target::Skip,
            Some((path, blockdev::Kind::BlockDevice)) => {
                let file = blockdev::open_exclusive(&path)
                    .with_context(|| format!("cannot restore {drive} onto {}", path.display()))?;
                Target::Device {
                    path,
                    file,
                    zero_out: Some(blockdev::zero_out),
                }
            }
            Some((path, _)) => Target::File(path),
        };
        targets.push((drive, target));
    }
    Ok(targets)
}

/// Re-reads every written disk and compares it with the digest computed while writing; the
/// outcome per disk (`Some(true)` when re-read and equal). A difference is an error.
pub fn verify(report: &Report) -> Result<Vec<Option<bool>>> {
    let mut out = Vec::new();
    for d in &report.disks {
        let checked = sink::verify::verify(d, Some(blockdev::flush_buffers))
            .with_context(|| format!("verify {} on {}", d.name, d.path.display()))?;
        out.push(checked.then_some(true));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn map_arguments() {
        assert_eq!(
            parse_map("drive-scsi0=/dev/sdb").unwrap(),
            MapArg {
                drive: "drive-scsi0".into(),
                path: Some("/dev/sdb".into())
            }
        );
        assert_eq!(parse_map("scsi1=skip").unwrap().path, None);
        assert!(parse_map("scsi1").is_err());
        assert!(parse_map("=x").is_err());
    }
}
