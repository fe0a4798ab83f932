//! A backup directory and its chains (spec §5–§8): every data file, grouped by the disk its
//! header names, and every point in time with the files it needs, or why it cannot be restored.
//!
//! The model comes from the headers only. A file creates a checkpoint when it is a base (a full,
//! `incremental: false`) or an incremental whose checkpoint differs from its parent. A
//! differential carries the name of the *next* checkpoint, so several files may claim one
//! name; the newest of them (by the header's date) is the incremental that created it and the
//! others are differentials taken before it. File names are a tie-breaker only: a file named
//! `*.diff.*` or `*.copy.*` never creates a checkpoint, which keeps a differential from standing
//! in for an incremental that has gone missing. A point is restored as its base, the
//! incrementals that lead to its parent checkpoint, and the point's own file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::file::{DataFile, Format};
use crate::format::Meta;

/// Longest `.cpt` checkpoint list read.
const MAX_CPT: u64 = 16 << 20;
/// Most data files in one directory.
const MAX_FILES: usize = 100_000;

/// One `*.data` file of the directory.
#[derive(Debug)]
pub struct Entry {
    /// Its name in the directory.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The disk it belongs to (the header's `diskName`; for a raw image, the name's first part).
    pub disk: Option<String>,
    /// The meta frame, when it could be read (also for a file damaged further on).
    pub meta: Option<Meta>,
    /// The indexed file, or why it could not be read.
    pub data: std::result::Result<Arc<DataFile>, Arc<Error>>,
}

impl Entry {
    /// The meta frame, when it could be read.
    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }
}

/// What a point in time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// A full backup (creates the first checkpoint).
    Full,
    /// A copy (no checkpoint).
    Copy,
    /// An incremental that created a checkpoint.
    Inc,
    /// A differential against the latest checkpoint.
    Diff,
    /// An incremental or differential of a shut-down guest (checkpoint == parent).
    Offline,
}

impl Level {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Full => "full",
            Level::Copy => "copy",
            Level::Inc => "inc",
            Level::Diff => "diff",
            Level::Offline => "offline-inc",
        }
    }
}

/// A point in time of one disk: the state right after one data file was written.
#[derive(Debug, Clone)]
pub struct Point {
    /// The data file (an index into [`Backup::entries`]).
    pub file: usize,
    /// What it is.
    pub level: Level,
    /// Its header's checkpoint name.
    pub checkpoint: String,
    /// Its header's parent checkpoint.
    pub parent: Option<String>,
    /// Its header's date.
    pub date: Option<String>,
    /// The disk size at this point.
    pub size: u64,
    /// The files to apply, oldest first, or why the point cannot be restored.
    pub chain: std::result::Result<Vec<usize>, String>,
}

/// One disk and its points in time, oldest first.
#[derive(Debug)]
pub struct DiskChain {
    /// The device name (`vda`).
    pub name: String,
    /// The disk format the newest header names (`qcow2`, `raw`).
    pub format: Option<String>,
    /// Every point in time, by date.
    pub points: Vec<Point>,
    /// Checkpoints that are named (by the `.cpt` list or as a parent) but created by no file.
    pub gaps: Vec<String>,
}

impl DiskChain {
    /// The newest restorable point.
    pub fn newest(&self) -> Option<&Point> {
        self.points.iter().rev().find(|p| p.chain.is_ok())
    }
}

/// A virtnbdbackup directory.
#[derive(Debug)]
pub struct Backup {
    /// The directory.
    pub dir: PathBuf,
    /// The domain name (from `<domain>.cpt` or a `vmconfig.*.xml`).
    pub domain: Option<String>,
    /// Every data file, by name.
    pub entries: Vec<Entry>,
    /// Every disk, by name.
    pub disks: Vec<DiskChain>,
    /// The checkpoint list of the `.cpt` file, when there is one.
    pub checkpoints: Option<Vec<String>>,
    /// The `vmconfig.*.xml` files, by name.
    pub configs: Vec<String>,
    /// Files ignored on the way (unfinished `*.partial` files, links), with the reason.
    pub ignored: Vec<(String, String)>,
}

/// The disk name of a raw image: what comes before `.full.data` or `.copy.data`.
fn raw_disk_name(name: &str) -> Option<&str> {
    name.strip_suffix(".full.data")
        .or_else(|| name.strip_suffix(".copy.data"))
        .filter(|d| !d.is_empty())
}

/// True when `dir` looks like a virtnbdbackup directory: a `*.data` file starting with a meta
/// frame (or a raw `*.full.data` next to a `.cpt` list or a `vmconfig.*.xml`).
pub fn is_backup_dir(dir: &Path) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    let (mut raw, mut side) = (false, false);
    for e in rd.flatten().take(10_000) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cpt") || (name.starts_with("vmconfig.") && name.ends_with(".xml")) {
            side = true;
        }
        if !name.ends_with(".data") || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let mut head = [0u8; 5];
        let read =
            fs::File::open(e.path()).and_then(|f| std::io::Read::read_exact(&mut &f, &mut head));
        if read.is_ok() && crate::file::looks_like_stream(&head) {
            return true;
        }
        raw |= raw_disk_name(&name).is_some();
    }
    raw && side
}

impl Backup {
    /// Reads the directory: every data file indexed (a damaged one is kept with its error) and
    /// every chain worked out.
    pub fn open(dir: &Path) -> Result<Backup> {
        let io = |op| {
            move |source| Error::Io {
                op,
                file: dir.to_owned(),
                source,
            }
        };
        let mut names = Vec::new();
        let mut ignored = Vec::new();
        let (mut cpt, mut configs) = (None, Vec::new());
        for e in fs::read_dir(dir).map_err(io("list"))? {
            let e = e.map_err(io("list"))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let ty = e.file_type().map_err(io("list"))?;
            if name.ends_with(".data.partial") {
                ignored.push((
                    name,
                    "an unfinished backup (virtnbdbackup's *.partial)".into(),
                ));
                continue;
            }
            let wanted = name.ends_with(".data")
                || name.ends_with(".cpt")
                || (name.starts_with("vmconfig.") && name.ends_with(".xml"));
            if !wanted {
                continue;
            }
            if !ty.is_file() {
                ignored.push((name, "not a regular file (links are not followed)".into()));
                continue;
            }
            if name.ends_with(".data") {
                names.push(name);
            } else if name.ends_with(".cpt") {
                cpt = Some(name);
            } else {
                configs.push(name);
            }
        }
        if names.len() > MAX_FILES {
            return Err(Error::Limit {
                file: dir.to_owned(),
                what: "number of data files",
                at: 0,
                value: names.len() as u64,
                limit: MAX_FILES as u64,
            });
        }
        names.sort();
        configs.sort();
        let entries: Vec<Entry> = names
            .into_iter()
            .map(|name| {
                let path = dir.join(&name);
                let data = DataFile::open(&path, raw_disk_name(&name))
                    .map(Arc::new)
                    .map_err(Arc::new);
                let meta = match &data {
                    Ok(d) => Some(d.meta.clone()),
                    Err(_) => crate::file::read_meta(&path).ok().flatten(),
                };
                let disk = meta.as_ref().map(|m| m.disk_name.clone());
                Entry {
                    name,
                    path,
                    disk,
                    meta,
                    data,
                }
            })
            .collect();
        if !entries.iter().any(|e| e.data.is_ok() || e.disk.is_some()) {
            return Err(Error::NotABackup {
                dir: dir.to_owned(),
            });
        }
        let checkpoints = match &cpt {
            Some(name) => Some(read_cpt(&dir.join(name))?),
            None => None,
        };
        let domain = cpt
            .as_deref()
            .and_then(|c| c.strip_suffix(".cpt"))
            .map(str::to_owned)
            .or_else(|| configs.last().and_then(|c| domain_of(&dir.join(c))));
        let disk_names: BTreeSet<String> = entries.iter().filter_map(|e| e.disk.clone()).collect();
        let disks = disk_names
            .into_iter()
            .map(|d| chain_of(&d, &entries, checkpoints.as_deref()))
            .collect();
        Ok(Backup {
            dir: dir.to_owned(),
            domain,
            entries,
            disks,
            checkpoints,
            configs,
            ignored,
        })
    }

    /// The disk named `name`.
    pub fn disk(&self, name: &str) -> Option<&DiskChain> {
        self.disks.iter().find(|d| d.name == name)
    }

    /// The entry named `name` (a file name in the directory, or a path ending in one).
    pub fn entry(&self, name: &str) -> Option<usize> {
        let base = Path::new(name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.entries.iter().position(|e| e.name == base)
    }

    /// The point of each disk for `until` (a checkpoint name or a data file name; `None`: the
    /// newest restorable point), with a note when a disk stays at an earlier point. Fails, naming
    /// the reason, when a disk's point cannot be restored.
    pub fn select(&self, until: Option<&str>) -> Result<Vec<Selected<'_>>> {
        let mut out = Vec::new();
        let by_file = until.and_then(|u| self.entry(u).map(|i| (u, i)));
        for disk in &self.disks {
            let only_base =
                disk.points.len() == 1 && matches!(disk.points[0].level, Level::Full | Level::Copy);
            let base_note = || {
                format!(
                    "disk {} has only its full backup (raw disks are backed up in full only): restored as of that backup",
                    disk.name
                )
            };
            let pick = match (until, by_file) {
                (None, _) => disk.newest().ok_or_else(|| Error::Point {
                    point: format!("disk {}", disk.name),
                    reason: format!(
                        "no point in time can be restored: {}",
                        disk.points
                            .last()
                            .and_then(|p| p.chain.as_ref().err())
                            .cloned()
                            .unwrap_or_else(|| "it has no data files".into())
                    ),
                })?,
                (Some(_), Some((_, i))) => {
                    let chosen = &self.entries[i];
                    let same = if chosen.disk.as_deref() == Some(disk.name.as_str()) {
                        Some(i)
                    } else {
                        // The same backup run's file of this disk: the same name after the device.
                        let suffix = chosen
                            .disk
                            .as_deref()
                            .and_then(|d| chosen.name.strip_prefix(d));
                        suffix.and_then(|s| {
                            self.entries.iter().position(|e| {
                                e.disk.as_deref() == Some(disk.name.as_str())
                                    && e.name.strip_prefix(disk.name.as_str()) == Some(s)
                            })
                        })
                    };
                    match same.and_then(|i| disk.points.iter().find(|p| p.file == i)) {
                        Some(p) => p,
                        None if only_base => {
                            out.push(Selected {
                                disk,
                                point: &disk.points[0],
                                note: Some(base_note()),
                            });
                            continue;
                        }
                        None => {
                            return Err(Error::Point {
                                point: chosen.name.clone(),
                                reason: format!("disk {} has no file of this backup", disk.name),
                            });
                        }
                    }
                }
                (Some(cp), None) => match disk.points.iter().rev().find(|p| {
                    p.level != Level::Diff
                        && p.level != Level::Offline
                        && p.level != Level::Copy
                        && p.checkpoint == cp
                        && is_creator(disk, p)
                }) {
                    Some(p) => p,
                    None if only_base => {
                        out.push(Selected {
                            disk,
                            point: &disk.points[0],
                            note: Some(base_note()),
                        });
                        continue;
                    }
                    None => {
                        let diffs: Vec<&str> = disk
                            .points
                            .iter()
                            .filter(|p| p.checkpoint == cp)
                            .map(|p| self.entries[p.file].name.as_str())
                            .collect();
                        let reason = if diffs.is_empty() {
                            format!(
                                "no backup of disk {} created this checkpoint, and no data file has this name",
                                disk.name
                            )
                        } else {
                            format!(
                                "no backup of disk {} created this checkpoint; {} only share(s) its name (a differential carries the name of the next checkpoint): name the file to restore the state after it",
                                disk.name,
                                diffs.join(", ")
                            )
                        };
                        return Err(Error::Point {
                            point: cp.to_owned(),
                            reason,
                        });
                    }
                },
            };
            if let Err(reason) = &pick.chain {
                return Err(Error::Point {
                    point: until
                        .map_or_else(|| self.entries[pick.file].name.clone(), str::to_owned),
                    reason: reason.clone(),
                });
            }
            out.push(Selected {
                disk,
                point: pick,
                note: None,
            });
        }
        if out.is_empty() {
            return Err(Error::NotABackup {
                dir: self.dir.clone(),
            });
        }
        Ok(out)
    }

    /// The files of a point, opened.
    pub fn files_of(&self, point: &Point) -> Result<Vec<Arc<DataFile>>> {
        let chain = point.chain.as_ref().map_err(|r| Error::Point {
            point: self.entries[point.file].name.clone(),
            reason: r.clone(),
        })?;
        chain
            .iter()
            .map(|&i| match &self.entries[i].data {
                Ok(d) => Ok(d.clone()),
                Err(e) => Err(Error::Point {
                    point: self.entries[point.file].name.clone(),
                    reason: format!("needs {}, which cannot be read: {e}", self.entries[i].name),
                }),
            })
            .collect()
    }

    /// The domain XML saved with a point (`vmconfig.<ident>.xml`), when there is one.
    pub fn config_of(&self, point: &Point) -> Option<String> {
        let e = &self.entries[point.file];
        let disk = e.disk.as_deref()?;
        let rest = e
            .name
            .strip_prefix(disk)?
            .strip_prefix('.')?
            .strip_suffix(".data")?;
        let ident = match point.level {
            Level::Copy => "copy".to_owned(),
            Level::Full => point.checkpoint.clone(),
            _ => rest
                .split_once('.')
                .map(|(_, id)| id.to_owned())
                .unwrap_or_else(|| point.checkpoint.clone()),
        };
        let name = format!("vmconfig.{ident}.xml");
        self.configs.iter().find(|c| **c == name).cloned()
    }
}

/// One disk's chosen point.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    /// The disk.
    pub disk: &'a DiskChain,
    /// Its point.
    pub point: &'a Point,
    /// Why this disk stays at another point than the one asked for.
    pub note: Option<String>,
}

fn is_creator(disk: &DiskChain, p: &Point) -> bool {
    // Creators are the points whose level is Full or Inc (the others were demoted).
    let _ = disk;
    matches!(p.level, Level::Full | Level::Inc)
}

fn read_cpt(path: &Path) -> Result<Vec<String>> {
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        op: "read",
        file: path.to_owned(),
        source,
    })?;
    if meta.len() > MAX_CPT {
        return Err(Error::Limit {
            file: path.to_owned(),
            what: "checkpoint list length",
            at: 0,
            value: meta.len(),
            limit: MAX_CPT,
        });
    }
    let bytes = fs::read(path).map_err(|source| Error::Io {
        op: "read",
        file: path.to_owned(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
        file: path.to_owned(),
        what: "checkpoint list",
        at: 0,
        expected: "a JSON array of names".into(),
        found: e.to_string(),
    })?;
    let serde_json::Value::Array(items) = v else {
        return Err(Error::Malformed {
            file: path.to_owned(),
            what: "checkpoint list",
            at: 0,
            expected: "a JSON array of names".into(),
            found: "another JSON value".into(),
        });
    };
    Ok(items
        .iter()
        .filter_map(|i| i.as_str().map(str::to_owned))
        .collect())
}

/// The `<name>` of a domain XML (a plain search: the first `<name>` element is the domain's).
fn domain_of(path: &Path) -> Option<String> {
    let f = fs::File::open(path).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, 1 << 20), &mut text).ok()?;
    let start = text.find("<name>")? + "<name>".len();
    let end = start + text[start..].find("</name>")?;
    Some(text[start..end].trim().to_owned()).filter(|n| !n.is_empty())
}

fn chain_of(disk: &str, entries: &[Entry], cpt: Option<&[String]>) -> DiskChain {
    let mine: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].disk.as_deref() == Some(disk))
        .collect();
    let date = |i: usize| {
        entries[i]
            .meta()
            .and_then(|m| m.date.clone())
            .unwrap_or_default()
    };
    let is_base = |m: &Meta| !m.incremental;
    // Who created each checkpoint: the newest claimant.
    let mut creators: BTreeMap<String, usize> = BTreeMap::new();
    for &i in &mine {
        let Some(m) = entries[i].meta() else { continue };
        let name = &entries[i].name;
        let claims = if is_base(m) {
            !name.contains(".copy.")
                && !entries[i]
                    .data
                    .as_ref()
                    .is_ok_and(|d| d.format == Format::Raw && !name.ends_with(".full.data"))
        } else {
            m.parent.as_deref() != Some(m.checkpoint.as_str()) && !name.contains(".diff.")
        };
        if !claims || m.checkpoint.is_empty() {
            continue;
        }
        let key = |j: usize| {
            (
                date(j),
                entries[j].name.contains(".inc."),
                entries[j].name.clone(),
            )
        };
        match creators.get(&m.checkpoint) {
            Some(&j) if key(j) >= key(i) => {}
            _ => {
                creators.insert(m.checkpoint.clone(), i);
            }
        }
    }
    let offline: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&i| {
            entries[i].meta().is_some_and(|m| {
                m.incremental && m.parent.as_deref() == Some(m.checkpoint.as_str())
            })
        })
        .collect();
    // Files of this disk (by name only: their header is unreadable) that may be the missing one.
    let unreadable: Vec<String> = entries
        .iter()
        .filter(|e| e.meta.is_none() && e.name.starts_with(&format!("{disk}.")))
        .map(|e| match &e.data {
            Err(err) => format!("{} ({err})", e.name),
            Ok(_) => e.name.clone(),
        })
        .collect();
    let missing_reason = |x: &str| -> String {
        if let Some(&o) = offline
            .iter()
            .find(|&&o| entries[o].meta().is_some_and(|m| m.checkpoint == x))
        {
            format!(
                "no file creates checkpoint {x}: the incremental that created it is missing, probably written over by the offline incremental {} (checkpoint == parent == {x}; virtnbdbackup gives both the same file name)",
                entries[o].name
            )
        } else if cpt.is_some_and(|c| c.iter().any(|n| n == x)) {
            format!(
                "checkpoint {x} is listed in the .cpt file but no file creates it (its incremental is missing)"
            )
        } else {
            format!("no file creates checkpoint {x} (its incremental is missing)")
        }
    };
    let missing = |x: &str| -> String {
        let why = missing_reason(x);
        if unreadable.is_empty() {
            why
        } else {
            format!(
                "{why}; unreadable data files that may be it: {}",
                unreadable.join(", ")
            )
        }
    };
    let mut gaps: BTreeSet<String> = BTreeSet::new();
    // The files that lead to checkpoint `x`, oldest first.
    let resolve =
        |x: &str, gaps: &mut BTreeSet<String>| -> std::result::Result<Vec<usize>, String> {
            let mut out = Vec::new();
            let mut at = x.to_owned();
            for _ in 0..=mine.len() {
                let Some(&c) = creators.get(&at) else {
                    gaps.insert(at.clone());
                    return Err(missing(&at));
                };
                out.push(c);
                let m = entries[c]
                    .meta()
                    .ok_or_else(|| format!("{} cannot be read", entries[c].name))?;
                if is_base(m) {
                    out.reverse();
                    return Ok(out);
                }
                match &m.parent {
                    Some(p) => at = p.clone(),
                    None => {
                        return Err(format!(
                            "{} is an incremental without a parent checkpoint",
                            entries[c].name
                        ));
                    }
                }
            }
            Err(format!("the checkpoints leading to {x} form a loop"))
        };
    let mut points = Vec::new();
    let mut format = None;
    for &i in &mine {
        let e = &entries[i];
        let Some(m) = e.meta() else {
            continue;
        };
        format = m.disk_format.clone().or(format);
        let level = if is_base(m) {
            if e.name.contains(".copy.") {
                Level::Copy
            } else {
                Level::Full
            }
        } else if m.parent.as_deref() == Some(m.checkpoint.as_str()) {
            Level::Offline
        } else if creators.get(&m.checkpoint) == Some(&i) {
            Level::Inc
        } else {
            Level::Diff
        };
        let mut chain = if is_base(m) {
            Ok(vec![i])
        } else {
            match &m.parent {
                Some(p) => resolve(p, &mut gaps).map(|mut c| {
                    c.push(i);
                    c
                }),
                None => Err("an incremental without a parent checkpoint".to_owned()),
            }
        };
        if level == Level::Diff {
            chain = chain.map_err(|r| format!("orphan differential: {r}"));
        }
        if let Ok(c) = &chain
            && let Some(&bad) = c.iter().find(|&&j| entries[j].data.is_err())
        {
            let err = entries[bad]
                .data
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            chain = Err(format!(
                "needs {}, which is damaged: {err}",
                entries[bad].name
            ));
        }
        points.push(Point {
            file: i,
            level,
            checkpoint: m.checkpoint.clone(),
            parent: m.parent.clone(),
            date: m.date.clone(),
            size: m.virtual_size,
            chain,
        });
    }
    if let Some(list) = cpt {
        for c in list {
            if !creators.contains_key(c) {
                gaps.insert(c.clone());
            }
        }
    }
    points.sort_by(|a, b| {
        (
            a.date.as_deref().unwrap_or(""),
            a.level,
            &entries[a.file].name,
        )
            .cmp(&(
                b.date.as_deref().unwrap_or(""),
                b.level,
                &entries[b.file].name,
            ))
    });
    DiskChain {
        name: disk.to_owned(),
        format,
        points,
        gaps: gaps.into_iter().collect(),
    }
}
