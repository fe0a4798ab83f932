//! `list`, `extract` and `verify` of a virtnbdbackup directory (the `virtnbd` crate), chosen
//! when the path is such a directory (recognised by content in [`crate::source`]).
//!
//! A point in time is picked with `--until` (a checkpoint name: the state right after the
//! incremental that created it; or a data file's name: the state right after that file), by
//! default the newest restorable one. An unrestorable point is refused, with its reason, before
//! anything is written. Disks go through the same sinks as every other source.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{DiskFormat, ExtractArgs, Global};
use crate::output;
use crate::progress::Bar;

#[derive(Debug, Serialize)]
struct ListJson {
    source: &'static str,
    dir: String,
    domain: Option<String>,
    disks: Vec<DiskJson>,
    unreadable: Vec<FileError>,
    ignored: Vec<FileError>,
}

#[derive(Debug, Serialize)]
struct DiskJson {
    name: String,
    size: u64,
    format: Option<String>,
    points: Vec<PointJson>,
    gaps: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PointJson {
    file: String,
    level: &'static str,
    checkpoint: String,
    parent: Option<String>,
    time: Option<String>,
    size: u64,
    compressed: bool,
    restorable: bool,
    files: Vec<String>,
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct FileError {
    file: String,
    reason: String,
}

fn disk_json(b: &virtnbd::Backup, d: &virtnbd::DiskChain) -> DiskJson {
    DiskJson {
        name: d.name.clone(),
        size: d.points.last().map_or(0, |p| p.size),
        format: d.format.clone(),
        points: d
            .points
            .iter()
            .map(|p| PointJson {
                file: b.entries[p.file].name.clone(),
                level: p.level.name(),
                checkpoint: p.checkpoint.clone(),
                parent: p.parent.clone(),
                time: p.date.clone(),
                size: p.size,
                compressed: b.entries[p.file]
                    .meta
                    .as_ref()
                    .is_some_and(|m| m.compressed),
                restorable: p.chain.is_ok(),
                files: p.chain.as_ref().map_or_else(
                    |_| Vec::new(),
                    |c| c.iter().map(|&i| b.entries[i].name.clone()).collect(),
                ),
                reason: p.chain.as_ref().err().cloned(),
            })
            .collect(),
        gaps: d.gaps.clone(),
    }
}

fn open(dir: &Path) -> Result<virtnbd::Backup> {
    virtnbd::Backup::open(dir)
        .with_context(|| format!("{}: cannot read the virtnbdbackup directory", dir.display()))
}

/// Data files whose header cannot be read at all (they belong to no disk).
fn unreadable(b: &virtnbd::Backup) -> Vec<FileError> {
    b.entries
        .iter()
        .filter(|e| e.meta.is_none())
        .map(|e| FileError {
            file: e.name.clone(),
            reason: e
                .data
                .as_ref()
                .err()
                .map_or_else(String::new, |e| e.to_string()),
        })
        .collect()
}

/// `pverescue list DIR`.
pub fn list(g: &Global, dir: &Path) -> Result<Outcome> {
    let b = open(dir)?;
    let json = ListJson {
        source: "virtnbdbackup",
        dir: dir.display().to_string(),
        domain: b.domain.clone(),
        disks: b.disks.iter().map(|d| disk_json(&b, d)).collect(),
        unreadable: unreadable(&b),
        ignored: b
            .ignored
            .iter()
            .map(|(f, r)| FileError {
                file: f.clone(),
                reason: r.clone(),
            })
            .collect(),
    };
    let broken = json
        .disks
        .iter()
        .any(|d| d.points.iter().any(|p| !p.restorable))
        || !json.unreadable.is_empty();
    if g.json {
        output::print_json(&json)?;
    } else {
        let mut o = std::io::stdout().lock();
        writeln!(
            o,
            "virtnbdbackup directory, domain {}",
            output::name(json.domain.as_deref().unwrap_or("(unknown)"))
        )?;
        for d in &json.disks {
            writeln!(
                o,
                "disk {} {} {}",
                output::name(&d.name),
                output::size(d.size),
                d.format.as_deref().unwrap_or("(format not recorded)")
            )?;
            for p in &d.points {
                let time = p.time.as_deref().unwrap_or("-");
                let lz4 = if p.compressed { " lz4" } else { "" };
                match &p.reason {
                    None => writeln!(
                        o,
                        "  {:<11} {:<20} {:<26} {}{lz4}  <- {}",
                        p.level,
                        output::name(&p.checkpoint),
                        time,
                        output::name(&p.file),
                        p.files
                            .iter()
                            .map(|f| output::name(f))
                            .collect::<Vec<_>>()
                            .join(" + ")
                    )?,
                    Some(r) => writeln!(
                        o,
                        "  {:<11} {:<20} {:<26} {}{lz4}  NOT RESTORABLE: {}",
                        p.level,
                        output::name(&p.checkpoint),
                        time,
                        output::name(&p.file),
                        output::text(r)
                    )?,
                }
            }
            for gap in &d.gaps {
                writeln!(
                    o,
                    "  missing: the incremental that created {}",
                    output::name(gap)
                )?;
            }
        }
        for u in &json.unreadable {
            writeln!(
                o,
                "unreadable {}: {}",
                output::name(&u.file),
                output::text(&u.reason)
            )?;
        }
        for i in &json.ignored {
            writeln!(o, "ignored {}: {}", output::name(&i.file), i.reason)?;
        }
    }
    Ok(if broken {
        Outcome::Warnings
    } else {
        Outcome::Success
    })
}

#[derive(Debug, Serialize)]
struct ExtractJson {
    source: &'static str,
    dir: Option<String>,
    domain: Option<String>,
    disks: Vec<ExtractedJson>,
    config: Option<String>,
    notes: Vec<String>,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct ExtractedJson {
    disk: String,
    point: String,
    checkpoint: String,
    files: Vec<String>,
    path: Option<String>,
    size: u64,
    data_bytes: u64,
    zero_bytes: u64,
    verified: Option<bool>,
}

/// The sink's disk writer as the place `DiskAt::restore` writes to.
struct ToSink<'a>(&'a mut sink::DiskWriter);

impl virtnbd::Out for ToSink<'_> {
    type Error = anyhow::Error;

    fn write(&mut self, at: u64, data: &[u8]) -> Result<()> {
        Ok(self.0.write(at, data)?)
    }

    fn zero(&mut self, at: u64, len: u64) -> Result<()> {
        Ok(self.0.zero(at, len)?)
    }
}

/// The qcow2 writer as the place `DiskAt::restore` writes to.
struct ToQcow2<'a>(&'a mut sink::qcow2::Qcow2Writer);

impl virtnbd::Out for ToQcow2<'_> {
    type Error = anyhow::Error;

    fn write(&mut self, at: u64, data: &[u8]) -> Result<()> {
        Ok(self.0.write(at, data)?)
    }

    fn zero(&mut self, at: u64, len: u64) -> Result<()> {
        Ok(self.0.zero(at, len)?)
    }
}

/// `pverescue extract DIR OUT`.
pub fn extract(g: &Global, a: &ExtractArgs, dir: &Path) -> Result<Outcome> {
    let started = Instant::now();
    if !a.select.is_empty() {
        bail!(
            "-a/--archive picks archives of a Proxmox Backup Server snapshot; pick disks of a virtnbdbackup directory with -d"
        );
    }
    let qcow2 = a.format == DiskFormat::Qcow2;
    if qcow2 && (a.verify || a.write_zeroes || !a.maps.is_empty()) {
        bail!(
            "--format qcow2 writes new images into DIR: --map, --verify and --write-zeroes go with raw output"
        );
    }
    if a.dir.is_none() && a.maps.is_empty() {
        bail!(
            "{}: give the directory to restore into (or --map every disk)",
            dir.display()
        );
    }
    let b = open(dir)?;
    let mut chosen = b.select(a.until.as_deref())?;
    if let Some(want) = &a.drives {
        for w in want {
            if b.disk(w).is_none() {
                let names: Vec<&str> = b.disks.iter().map(|d| d.name.as_str()).collect();
                bail!(
                    "-d {w}: no disk of that name in {} (it has: {})",
                    dir.display(),
                    names.join(", ")
                );
            }
        }
        chosen.retain(|s| want.contains(&s.disk.name));
    }
    for m in &a.maps {
        if !chosen.iter().any(|s| s.disk.name == m.drive) {
            let names: Vec<&str> = chosen.iter().map(|s| s.disk.name.as_str()).collect();
            bail!(
                "--map {}: no disk of that name to restore (there are: {})",
                m.drive,
                names.join(", ")
            );
        }
    }
    // Every file of every chosen point is opened (and its frame index checked) before a single
    // byte is written; so are the --map targets.
    let mut views = Vec::new();
    for s in &chosen {
        let files = b.files_of(s.point)?;
        views.push(virtnbd::DiskAt::new(files)?);
    }
    let lookup = |want: &str| {
        chosen
            .iter()
            .zip(&views)
            .find(|(s, _)| s.disk.name == want)
            .map(|(s, v)| (s.disk.name.clone(), diskview::ReadAt::size(v)))
    };
    cleanup::install().context("cannot install the signal handler")?;
    let mut mapped = crate::targets::prepare(&lookup, &a.maps, a.yes, g.quiet || g.json)?;
    let created = sink::Created::new();
    let out = match &a.dir {
        Some(out) => Some(sink::OutDir::create(out, a.force, &created)?),
        None => None,
    };
    let mut disks = Vec::new();
    let mut notes: Vec<String> = chosen.iter().filter_map(|s| s.note.clone()).collect();
    for (i, (s, view)) in chosen.iter().zip(&views).enumerate() {
        let point_name = b.entries[s.point.file].name.clone();
        let failed = |p: &str| {
            format!(
                "{}: restore of disk {} as of {p} failed",
                dir.display(),
                s.disk.name
            )
        };
        let size = diskview::ReadAt::size(view);
        let disk = sink::Disk {
            id: u32::try_from(i).unwrap_or(u32::MAX),
            name: s.disk.name.clone(),
            size,
        };
        let opts = sink::WriteOptions {
            write_zeroes: a.write_zeroes,
            replace: a.force,
            digest: a.verify,
        };
        if qcow2 {
            let Some(o) = &out else {
                bail!("--format qcow2 needs DIR")
            };
            let name = format!("{}.qcow2", s.disk.name);
            let mut w =
                sink::qcow2::Qcow2Writer::new_in_dir(o, name.as_ref(), size, a.force, &created)?;
            let report = restore_into(g, view, &mut ToQcow2(&mut w), &s.disk.name, || {
                failed(&point_name)
            })?;
            let path = w.finish(a.force, &created)?;
            disks.push(ExtractedJson {
                disk: s.disk.name.clone(),
                point: point_name,
                checkpoint: s.point.checkpoint.clone(),
                files: view.files().iter().map(|f| shown(&f.path)).collect(),
                path: Some(path.display().to_string()),
                size,
                data_bytes: report.data_bytes,
                zero_bytes: report.zero_bytes,
                verified: None,
            });
            continue;
        }
        let target = mapped
            .iter()
            .position(|(d, _)| *d == s.disk.name)
            .map(|i| mapped.swap_remove(i).1);
        let name = format!("{}.raw", s.disk.name);
        let writer = match (target, &out) {
            (Some(t), _) => sink::DiskWriter::for_target(disk, t, opts, &created)?,
            (None, Some(o)) => Some(sink::DiskWriter::new_in_dir(
                disk,
                o,
                name.as_ref(),
                opts,
                &created,
            )?),
            (None, None) => bail!(
                "disk {} has no --map target and no directory was given",
                s.disk.name
            ),
        };
        let files: Vec<String> = view.files().iter().map(|f| shown(&f.path)).collect();
        let Some(mut w) = writer else {
            notes.push(format!(
                "disk {} skipped (--map {}=skip)",
                s.disk.name, s.disk.name
            ));
            continue;
        };
        let report = restore_into(g, view, &mut ToSink(&mut w), &s.disk.name, || {
            failed(&point_name)
        })?;
        let written = w.finish(&created)?;
        let verified = if a.verify {
            Some(sink::verify::verify(
                &written,
                Some(blockdev::flush_buffers),
            )?)
        } else {
            None
        };
        disks.push(ExtractedJson {
            disk: s.disk.name.clone(),
            point: point_name,
            checkpoint: s.point.checkpoint.clone(),
            files,
            path: Some(written.path.display().to_string()),
            size,
            data_bytes: report.data_bytes,
            zero_bytes: report.zero_bytes,
            verified,
        });
    }
    // The domain XML saved with the point of the first disk.
    let mut config = None;
    if let (Some(o), Some(s)) = (&out, chosen.first()) {
        match b.config_of(s.point) {
            Some(name) => {
                let bytes = std::fs::read(dir.join(&name))
                    .with_context(|| format!("cannot read {}", dir.join(&name).display()))?;
                let path = o.write_new("vmconfig.xml".as_ref(), &bytes, a.force, &created)?;
                config = Some(path.display().to_string());
            }
            None => notes.push(format!(
                "no vmconfig.*.xml saved with {}: the domain XML is not restored",
                b.entries[s.point.file].name
            )),
        }
    }
    created.commit();
    // Newer points that could not be restored when none was asked for.
    if a.until.is_none() {
        for s in &chosen {
            if let Some(p) = s.disk.points.last().filter(|p| p.chain.is_err()) {
                notes.push(format!(
                    "disk {}: the newest backup {} cannot be restored ({}); restored {} instead",
                    s.disk.name,
                    b.entries[p.file].name,
                    p.chain.as_ref().err().cloned().unwrap_or_default(),
                    b.entries[s.point.file].name
                ));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for n in &notes {
        eprintln!("pverescue: note: {}", output::text(n));
    }
    let warned = notes.iter().any(|n| n.contains("cannot be restored"));
    if g.json {
        output::print_json(&ExtractJson {
            source: "virtnbdbackup",
            dir: a.dir.as_ref().map(|d| d.display().to_string()),
            domain: b.domain.clone(),
            disks,
            config,
            notes,
            seconds,
        })?;
    } else if !g.quiet {
        let mut o = std::io::stdout().lock();
        match &a.dir {
            Some(out) => writeln!(o, "restored {} into {}", dir.display(), out.display())?,
            None => writeln!(o, "restored {}", dir.display())?,
        }
        for d in &disks {
            let check = if d.verified == Some(true) {
                ", verified"
            } else {
                ""
            };
            writeln!(
                o,
                "  disk   {:<20} {:>12}  as of {} ({} data, {} sparse{check})",
                output::name(&d.path.as_deref().map(shown_str).unwrap_or_default()),
                output::size(d.size),
                output::name(&d.point),
                output::size(d.data_bytes),
                output::size(d.zero_bytes)
            )?;
        }
        if let Some(c) = &config {
            writeln!(o, "  config {}", output::name(&shown_str(c)))?;
        }
        writeln!(o, "in {seconds:.2} s")?;
    }
    Ok(if warned {
        Outcome::Warnings
    } else {
        Outcome::Success
    })
}

#[derive(Debug, Serialize)]
struct VerifyJson {
    source: &'static str,
    dir: String,
    ok: bool,
    files: Vec<FileVerdict>,
    points: Vec<PointVerdict>,
}

#[derive(Debug, Serialize)]
struct FileVerdict {
    file: String,
    ok: bool,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct PointVerdict {
    disk: String,
    point: String,
    level: &'static str,
    checkpoint: String,
    ok: bool,
    reason: Option<String>,
}

/// `pverescue verify DIR`: every frame of every file (LZ4 checksums, trailers), then the chain
/// rules; one line per disk and point.
pub fn verify(g: &Global, dir: &Path) -> Result<Outcome> {
    let b = open(dir)?;
    let total: u64 = b
        .entries
        .iter()
        .filter_map(|e| e.data.as_ref().ok())
        .map(|d| d.file_size())
        .sum();
    let mut bar = Bar::new(g, "verify").total(total);
    let mut base = 0u64;
    let mut files = Vec::new();
    for e in &b.entries {
        let result = match &e.data {
            Ok(d) => {
                let r = d
                    .check(&mut |at| bar.position(base + at))
                    .map_err(|e| e.to_string());
                base += d.file_size();
                r
            }
            Err(err) => Err(err.to_string()),
        };
        // virtnbdbackup's whole-file checksum, when it wrote one.
        let result = result.and_then(|()| match virtnbd::file::adler_check(&e.path) {
            Ok(Some((want, got))) if want != got => Err(format!(
                "{}.chksum records Adler-32 {want}, the file has {got}",
                e.name
            )),
            Ok(_) => Ok(()),
            Err(err) => Err(err.to_string()),
        });
        files.push(FileVerdict {
            file: e.name.clone(),
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    bar.finish();
    let bad = |name: &str| files.iter().find(|f| f.file == name && !f.ok);
    let mut points = Vec::new();
    for d in &b.disks {
        for p in &d.points {
            let reason = match &p.chain {
                Err(r) => Some(r.clone()),
                Ok(chain) => chain.iter().find_map(|&i| {
                    bad(&b.entries[i].name).map(|f| {
                        format!(
                            "needs {}, which is damaged: {}",
                            f.file,
                            f.error.clone().unwrap_or_default()
                        )
                    })
                }),
            };
            points.push(PointVerdict {
                disk: d.name.clone(),
                point: b.entries[p.file].name.clone(),
                level: p.level.name(),
                checkpoint: p.checkpoint.clone(),
                ok: reason.is_none(),
                reason,
            });
        }
    }
    let ok = files.iter().all(|f| f.ok) && points.iter().all(|p| p.ok);
    if g.json {
        output::print_json(&VerifyJson {
            source: "virtnbdbackup",
            dir: dir.display().to_string(),
            ok,
            files,
            points,
        })?;
    } else {
        let mut o = std::io::stdout().lock();
        for f in files.iter().filter(|f| !f.ok) {
            writeln!(
                o,
                "FAILED file {}: {}",
                output::name(&f.file),
                output::text(f.error.as_deref().unwrap_or(""))
            )?;
        }
        for p in &points {
            match &p.reason {
                None => writeln!(
                    o,
                    "ok     {} {} ({} {})",
                    output::name(&p.disk),
                    output::name(&p.point),
                    p.level,
                    output::name(&p.checkpoint)
                )?,
                Some(r) => writeln!(
                    o,
                    "FAILED {} {} ({} {}): {}",
                    output::name(&p.disk),
                    output::name(&p.point),
                    p.level,
                    output::name(&p.checkpoint),
                    output::text(r)
                )?,
            }
        }
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// Restores `view` into `out` with a progress bar labelled `label`.
fn restore_into<O: virtnbd::Out<Error = anyhow::Error>>(
    g: &Global,
    view: &virtnbd::DiskAt,
    out: &mut O,
    label: &str,
    what: impl FnOnce() -> String,
) -> Result<virtnbd::RestoreReport> {
    let mut bar = Bar::new(g, label).total(diskview::ReadAt::size(view));
    let mut done = 0u64;
    let report = view
        .restore(out, &mut |n| {
            done += n;
            bar.position(done);
        })
        .with_context(what)?;
    bar.finish();
    Ok(report)
}

fn shown(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn shown_str(path: &str) -> String {
    shown(Path::new(path))
}
