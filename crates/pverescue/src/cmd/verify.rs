//! `pverescue verify`: read every archive completely and report each as OK or FAIL.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, VerifyArgs};
use crate::output;
use crate::progress::Bar;
use crate::source::{Input, open_options};

/// The result of verifying one archive.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The input as named on the command line (or found in a directory).
    pub file: String,
    /// True when the archive is complete and consistent.
    pub ok: bool,
    /// The compression found by sniffing, when the file could be opened.
    pub compression: Option<String>,
    /// `vma` or `tar` once recognised.
    pub kind: Option<String>,
    /// For a differential, the full it was checked against.
    pub base: Option<String>,
    /// True for a differential whose full is missing.
    pub orphan: bool,
    /// Number of disks in the archive.
    pub disks: usize,
    /// Sum of the disk sizes in bytes.
    pub disk_bytes: u64,
    /// Bytes of disk data stored in the archive (the rest are zero blocks).
    pub stored_bytes: u64,
    /// Members of a tar archive.
    pub entries: Option<u64>,
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
    orphans: usize,
    /// Files of the directories given that are not backups, with the reason.
    skipped: Vec<SkippedFile>,
}

/// A file of a directory that `verify` did not check.
#[derive(Debug, Serialize)]
struct SkippedFile {
    file: String,
    reason: String,
    /// A `.log`, `.notes` or `.protected` file that vzdump writes next to a backup.
    companion: bool,
}

/// One thing to check: a path and, for a differential found in a directory, its full; or a
/// directory in which nothing was found to check.
struct Item {
    path: PathBuf,
    base: Option<PathBuf>,
    orphan: bool,
    /// Set for a directory without backups: the reason it fails.
    empty: Option<String>,
}

/// Runs `pverescue verify`.
pub fn run(g: &Global, a: &VerifyArgs) -> Result<Outcome> {
    let pbs: Vec<_> = a
        .archives
        .iter()
        .filter_map(|p| crate::source::pbs(p).map(|(s, at)| (p.clone(), s, at)))
        .collect();
    if !pbs.is_empty() {
        if pbs.len() != a.archives.len() {
            anyhow::bail!(
                "give Proxmox Backup Server datastores and vzdump archives in separate runs of \
                 pverescue verify"
            );
        }
        return super::pbs::verify(g, &pbs, &a.keys);
    }
    if let [one] = a.archives.as_slice()
        && let Some(dir) = crate::source::virtnbd(one)
    {
        return super::virtnbd::verify(g, dir);
    }
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for path in &a.archives {
        if path.is_dir() {
            let survey = backupset::survey(path)
                .with_context(|| format!("{}: cannot scan the directory", path.display()))?;
            if survey.members.is_empty() {
                items.push(Item {
                    path: path.clone(),
                    base: None,
                    orphan: false,
                    empty: Some(no_backups(path, &survey.skipped)),
                });
            }
            skipped.extend(survey.skipped.into_iter().map(|s| SkippedFile {
                file: s.path.display().to_string(),
                reason: s.reason,
                companion: s.companion,
            }));
            for m in survey.members {
                let (base, orphan) = match m.role {
                    backupset::Role::Full => (None, false),
                    backupset::Role::Differential { base } => (Some(base), false),
                    backupset::Role::Orphan { .. } => (None, true),
                };
                items.push(Item {
                    path: m.path,
                    base,
                    orphan,
                    empty: None,
                });
            }
        } else {
            items.push(Item {
                path: path.clone(),
                base: a.diff.base.clone(),
                orphan: false,
                empty: None,
            });
        }
    }
    if !g.json && !g.quiet {
        // vzdump's own logs and notes are expected next to backups: listed in JSON only.
        for s in skipped.iter().filter(|s| !s.companion) {
            output::outln!(
                "SKIP {}: {}",
                output::text(&s.file),
                output::text(&s.reason)
            )?;
        }
    }
    let mut verdicts = Vec::new();
    for item in &items {
        let verdict = verify_one(g, a, item);
        if !g.json && (!g.quiet || !verdict.ok) {
            // Quiet mode still names what failed.
            print_verdict(&verdict)?;
        }
        verdicts.push(verdict);
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    let orphans = verdicts.iter().filter(|v| v.orphan).count();
    let warned = verdicts.iter().any(|v| !v.warnings.is_empty());
    let ok = verdicts.len() - failed;
    let archives = items.iter().filter(|i| i.empty.is_none()).count();
    if g.json {
        output::print_json(&Report {
            archives: verdicts,
            ok,
            failed,
            orphans,
            skipped,
        })?;
    } else if !g.quiet && archives > 0 && (archives > 1 || archives != a.archives.len()) {
        let orphans = if orphans > 0 {
            format!(" ({orphans} without their full)")
        } else {
            String::new()
        };
        let empty = items.len() - archives;
        let empty = match empty {
            0 => String::new(),
            1 => "; 1 directory without backups".to_owned(),
            n => format!("; {n} directories without backups"),
        };
        output::outln!(
            "{archives} archive{}: {ok} ok, {} failed{orphans}{empty}",
            if archives == 1 { "" } else { "s" },
            failed - (items.len() - archives)
        )?;
    }
    Ok(if failed > 0 {
        Outcome::Failed
    } else if warned {
        Outcome::Warnings
    } else {
        Outcome::Success
    })
}

fn print_verdict(v: &Verdict) -> std::io::Result<()> {
    if v.ok {
        let what = match v.kind.as_deref() {
            Some("tar") => format!("tar, {} entries", v.entries.unwrap_or_default()),
            _ => {
                let disks = if v.disks == 1 {
                    "1 disk".to_owned()
                } else {
                    format!("{} disks", v.disks)
                };
                format!(
                    "{disks}, {} of disk, {} stored",
                    output::size(v.disk_bytes),
                    output::size(v.stored_bytes)
                )
            }
        };
        let mut parts = vec![v.compression.clone().unwrap_or_else(|| "?".into())];
        if let Some(b) = &v.base {
            let name = Path::new(b)
                .file_name()
                .map_or_else(|| b.clone(), |n| n.to_string_lossy().into_owned());
            parts.push(format!("differential of {name}"));
        }
        parts.push(what);
        output::outln!(
            "OK   {} ({})",
            output::text(&v.file),
            output::text(&parts.join(", "))
        )?;
    } else {
        output::outln!(
            "FAIL {}: {}",
            output::text(&v.file),
            output::text(v.error.as_deref().unwrap_or("unknown error"))
        )?;
    }
    for w in &v.warnings {
        output::outln!("WARN {}: {}", output::text(&v.file), output::text(w))?;
    }
    Ok(())
}

/// Why a directory without backups fails: an empty directory may be an NFS share that is not
/// mounted, and files under other names may be backups `verify FILE` would check.
pub(crate) fn no_backups(dir: &Path, skipped: &[backupset::Skipped]) -> String {
    let dir = dir.display();
    if skipped.is_empty() {
        return format!(
            "no backups found in {dir}: the directory is empty (is the backup storage mounted?)"
        );
    }
    let mut shown: Vec<String> = skipped
        .iter()
        .take(3)
        .map(|s| {
            let name = s.path.file_name().unwrap_or(s.path.as_os_str());
            format!("{}: {}", name.to_string_lossy(), s.reason)
        })
        .collect();
    if skipped.len() > 3 {
        shown.push(format!("and {} more", skipped.len() - 3));
    }
    format!("no backups found in {dir}: skipped {}", shown.join("; "))
}

fn verify_one(g: &Global, a: &VerifyArgs, item: &Item) -> Verdict {
    let mut verdict = Verdict {
        file: item.path.display().to_string(),
        ok: false,
        compression: None,
        kind: None,
        base: None,
        orphan: item.orphan,
        disks: 0,
        disk_bytes: 0,
        stored_bytes: 0,
        entries: None,
        error: None,
        warnings: Vec::new(),
    };
    if let Some(why) = &item.empty {
        verdict.kind = Some("directory".into());
        verdict.error = Some(why.clone());
        return verdict;
    }
    let result = (|| -> Result<()> {
        let mut opts = open_options(&a.diff)?;
        opts.base = item.base.clone();
        let mut source = Input::open_with(&item.path, &opts)?;
        verdict.compression = Some(source.archive.compression().to_string());
        verdict.base = source.archive.diff().map(|d| d.base.display().to_string());
        verdict.kind = Some(source.archive.content().name().to_owned());
        let mut bar = Bar::new(g, source.name()).input(&item.path, source.archive.counter());
        let checked = backupset::check_into(&mut source.archive, &mut std::io::sink(), &mut bar)?;
        match checked {
            backupset::Checked::Vma {
                disks,
                disk_bytes,
                summary,
            } => {
                verdict.disks = disks;
                verdict.disk_bytes = disk_bytes;
                verdict.stored_bytes = summary.stored_bytes;
            }
            backupset::Checked::Tar(t) => verdict.entries = Some(t.entries),
        }
        verdict.warnings = source.archive.warnings();
        Ok(())
    })();
    match result {
        Ok(()) => verdict.ok = true,
        Err(e) => {
            // The library errors start with the file name, which the verdict already shows.
            let line = output::error_line(&e);
            let prefix = format!("{}: ", verdict.file);
            verdict.error = Some(line.strip_prefix(&prefix).unwrap_or(&line).to_owned());
        }
    }
    verdict
}
