//! Finding things in a datastore: the store itself, namespaces, groups, snapshots, chunks
//! (spec §2 and §13b).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, hex, io_err};
use crate::format::{MAX_BLOB_FILE, MAX_NAMESPACE_DEPTH, MAX_SMALL_FILE};

/// Backup types, as directory names.
pub const BACKUP_TYPES: [&str; 3] = ["vm", "ct", "host"];
/// How deep below a given path [`locate`] looks for a datastore (a mount point holding one).
pub const SEARCH_DEPTH: usize = 4;

/// Reads a whole file, refusing one longer than `limit` before allocating for it.
pub(crate) fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_bounded_into(path, limit, what, &mut buf)?;
    Ok(buf)
}

/// [`read_bounded`] into `buf` (cleared first), whose memory is reused.
pub(crate) fn read_bounded_into(
    path: &Path,
    limit: u64,
    what: &'static str,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.clear();
    let f = fs::File::open(path).map_err(io_err("open", path))?;
    let len = f.metadata().map_err(io_err("stat", path))?.len();
    if len > limit {
        return Err(Error::Limit {
            file: path.to_path_buf(),
            what,
            at: 0,
            value: len,
            limit,
        });
    }
    buf.reserve(len as usize);
    // The file may grow meanwhile: never read more than the limit.
    f.take(limit + 1)
        .read_to_end(buf)
        .map_err(io_err("read", path))?;
    if buf.len() as u64 > limit {
        return Err(Error::Limit {
            file: path.to_path_buf(),
            what,
            at: 0,
            value: buf.len() as u64,
            limit,
        });
    }
    Ok(())
}

/// A small text file (`owner`, `notes`), trimmed; `None` when absent or unreadable.
fn read_small_text(path: &Path) -> Option<String> {
    let bytes = read_bounded(path, MAX_SMALL_FILE, "file size").ok()?;
    Some(String::from_utf8_lossy(&bytes).trim_end().to_owned())
}

/// A namespace: its components from the store root (`[]` is the root namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Namespace(pub Vec<String>);

impl Namespace {
    /// The directory of the namespace below `root` (`ns/a/ns/b`).
    pub fn dir(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in &self.0 {
            p.push("ns");
            p.push(c);
        }
        p
    }

    /// True for the root namespace.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// Whether `name` may be a namespace component or a group id (`[A-Za-z0-9_][A-Za-z0-9._-]*`).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A backup group: `<type>/<id>` in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its namespace.
    pub ns: Namespace,
    /// `vm`, `ct` or `host`.
    pub backup_type: String,
    /// The id (`100`, a host name).
    pub id: String,
    /// Its directory.
    pub path: PathBuf,
    /// The `owner` file's line (`root@pam`).
    pub owner: Option<String>,
    /// The group's `notes` file.
    pub notes: Option<String>,
}

/// A snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its namespace.
    pub ns: Namespace,
    /// `vm`, `ct` or `host`.
    pub backup_type: String,
    /// The group id.
    pub id: String,
    /// The directory name (`2026-12-01T21:00:00Z`).
    pub time: String,
    /// The backup time, seconds since the epoch.
    pub epoch: i64,
    /// Its directory.
    pub path: PathBuf,
    /// It has a manifest (`index.json.blob`); without one the backup was running or aborted.
    pub finished: bool,
    /// It has a `.protected` marker.
    pub protected: bool,
    /// The archive files present (`*.fidx`, `*.didx`, `*.blob`, the manifest excepted), sorted.
    pub files: Vec<String>,
}

impl Snapshot {
    /// `[ns/]type/id/time`, as PBS names snapshots.
    pub fn name(&self) -> String {
        let base = format!("{}/{}/{}", self.backup_type, self.id, self.time);
        if self.ns.is_root() {
            base
        } else {
            format!("{}/{base}", self.ns)
        }
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join("index.json.blob")
    }
}

/// Parses a snapshot directory name, `YYYY-MM-DDTHH:MM:SSZ`, into seconds since the epoch.
pub fn parse_time(name: &str) -> Option<i64> {
    let b = name.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        name.get(r)?.bytes().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A datastore: the directory holding `.chunks/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datastore {
    root: PathBuf,
}

/// What a path given by the user turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// A whole datastore (given directly or found below a mount point).
    Store,
    /// A namespace directory (`ns/<name>`).
    Namespace(Namespace),
    /// A group directory (`vm/100`).
    Group(Group),
    /// A snapshot directory.
    Snapshot(Snapshot),
}

/// Finds the datastore a path belongs to and what the path is in it: a store (a directory with
/// `.chunks/`), a snapshot, group or namespace directory inside one, or a directory holding a
/// store at most [`SEARCH_DEPTH`] levels below (a mount point; exactly one store must be there).
pub fn locate(path: &Path) -> Result<(Datastore, Located)> {
    if !path.is_dir() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    // Absolute, so that `.` or a bare snapshot name can be walked up from.
    let abs = fs::canonicalize(path).map_err(io_err("resolve", path))?;
    let path = abs.as_path();
    if Datastore::is_store(path) {
        return Ok((Datastore::new(path), Located::Store));
    }
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    // A snapshot: <type>/<id>/<time>.
    if let (Some(time), Some(group_dir)) = (name(path), path.parent())
        && parse_time(&time).is_some()
        && let Some((store, group)) = group_at(group_dir)?
    {
        let snap = store.snapshot(&group, &time)?;
        return Ok((store, Located::Snapshot(snap)));
    }
    if let Some((store, group)) = group_at(path)? {
        return Ok((store, Located::Group(group)));
    }
    if let Some((store, ns)) = namespace_at(path)? {
        return Ok((store, Located::Namespace(ns)));
    }
    if path.file_name().is_some_and(|n| n == ".chunks")
        && let Some(store) = path.parent()
    {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
            reason: format!(
                "this is the chunk directory of the datastore {}; give that",
                store.display()
            ),
        });
    }
    let mut found = Vec::new();
    search_below(path, SEARCH_DEPTH, &mut found);
    match found.len() {
        1 => Ok((Datastore::new(&found[0]), Located::Store)),
        0 => Err(Error::NotFound {
            path: path.to_path_buf(),
            reason: format!(
                "no PBS datastore here (no .chunks directory in it or up to {SEARCH_DEPTH} levels below), and not a snapshot, group or namespace directory of one"
            ),
        }),
        _ => Err(Error::NotFound {
            path: path.to_path_buf(),
            reason: format!(
                "holds {} datastores: {}; give one of them",
                found.len(),
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Directories below `dir` (not following links) that hold `.chunks/`, down to `depth` levels.
fn search_below(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut subs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name() != ".chunks" && e.file_name() != "lost+found")
        .map(|e| e.path())
        .collect();
    subs.sort();
    for s in subs {
        if Datastore::is_store(&s) {
            found.push(s);
        } else {
            search_below(&s, depth - 1, found);
        }
    }
}

/// The store and namespace whose directory is `dir` (the store root or `…/ns/<name>`).
fn store_of_ns_dir(dir: &Path) -> Option<(Datastore, Namespace)> {
    let mut comps = Vec::new();
    let mut at = dir.to_path_buf();
    loop {
        if Datastore::is_store(&at) {
            comps.reverse();
            return Some((Datastore::new(&at), Namespace(comps)));
        }
        if comps.len() >= MAX_NAMESPACE_DEPTH {
            return None;
        }
        let name = at.file_name()?.to_str()?.to_owned();
        let ns_dir = at.parent()?;
        if ns_dir.file_name()? != "ns" || !valid_name(&name) {
            return None;
        }
        comps.push(name);
        at = ns_dir.parent()?.to_path_buf();
    }
}

fn namespace_at(dir: &Path) -> Result<Option<(Datastore, Namespace)>> {
    Ok(store_of_ns_dir(dir).filter(|(_, ns)| !ns.is_root()))
}

/// The group whose directory is `dir` (`…/<type>/<id>` inside a store).
fn group_at(dir: &Path) -> Result<Option<(Datastore, Group)>> {
    let (Some(id), Some(type_dir)) = (dir.file_name().and_then(|n| n.to_str()), dir.parent())
    else {
        return Ok(None);
    };
    let Some(ty) = type_dir.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    if !BACKUP_TYPES.contains(&ty) || !valid_name(id) {
        return Ok(None);
    }
    let Some((store, ns)) = type_dir.parent().and_then(store_of_ns_dir) else {
        return Ok(None);
    };
    let group = store.group(&ns, ty, id);
    Ok(Some((store, group)))
}

/// Sorted entries of a directory that are directories (not links).
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("list", dir))?;
        if e.file_type().is_ok_and(|t| t.is_dir())
            && let Some(n) = e.file_name().to_str()
        {
            out.push(n.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

impl Datastore {
    /// The store at `root`, which must hold `.chunks/`.
    pub fn open(root: &Path) -> Result<Datastore> {
        if !Datastore::is_store(root) {
            return Err(Error::NotFound {
                path: root.to_path_buf(),
                reason: "not a PBS datastore (no .chunks directory)".into(),
            });
        }
        Ok(Datastore::new(root))
    }

    fn new(root: &Path) -> Datastore {
        Datastore {
            root: root.to_path_buf(),
        }
    }

    /// True when `dir` holds a `.chunks` directory.
    pub fn is_store(dir: &Path) -> bool {
        fs::symlink_metadata(dir.join(".chunks")).is_ok_and(|m| m.is_dir())
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every namespace, the root first, then depth-first in name order (at most 7 deep).
    pub fn namespaces(&self) -> Result<Vec<Namespace>> {
        let mut out = vec![Namespace::default()];
        let mut i = 0;
        while i < out.len() {
            let ns = out[i].clone();
            i += 1;
            if ns.0.len() >= MAX_NAMESPACE_DEPTH {
                continue;
            }
            let mut children: Vec<Namespace> = subdirs(&ns.dir(&self.root).join("ns"))?
                .into_iter()
                .filter(|n| valid_name(n))
                .map(|n| {
                    let mut c = ns.0.clone();
                    c.push(n);
                    Namespace(c)
                })
                .collect();
            children.sort();
            out.splice(i..i, children);
        }
        Ok(out)
    }

    /// The groups of a namespace (empty ones included), by type then id.
    pub fn groups(&self, ns: &Namespace) -> Result<Vec<Group>> {
        let dir = ns.dir(&self.root);
        let mut out = Vec::new();
        for ty in BACKUP_TYPES {
            for id in subdirs(&dir.join(ty))? {
                if valid_name(&id) {
                    out.push(self.group(ns, ty, &id));
                }
            }
        }
        Ok(out)
    }

    fn group(&self, ns: &Namespace, ty: &str, id: &str) -> Group {
        let path = ns.dir(&self.root).join(ty).join(id);
        Group {
            ns: ns.clone(),
            backup_type: ty.to_owned(),
            id: id.to_owned(),
            owner: read_small_text(&path.join("owner")),
            notes: read_small_text(&path.join("notes")),
            path,
        }
    }

    /// The snapshots of a group, oldest first (unfinished ones included).
    pub fn snapshots(&self, group: &Group) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for name in subdirs(&group.path)? {
            if parse_time(&name).is_some() {
                out.push(self.snapshot(group, &name)?);
            }
        }
        out.sort_by_key(|s| s.epoch);
        Ok(out)
    }

    /// The newest finished snapshot of a group.
    pub fn newest_finished(&self, group: &Group) -> Result<Option<Snapshot>> {
        Ok(self
            .snapshots(group)?
            .into_iter()
            .rev()
            .find(|s| s.finished))
    }

    fn snapshot(&self, group: &Group, time: &str) -> Result<Snapshot> {
        let path = group.path.join(time);
        let rd = fs::read_dir(&path).map_err(io_err("list", &path))?;
        let mut files = Vec::new();
        let (mut finished, mut protected) = (false, false);
        for e in rd {
            let e = e.map_err(io_err("list", &path))?;
            let Some(n) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            match n.as_str() {
                "index.json.blob" => finished = true,
                ".protected" => protected = true,
                _ if n.ends_with(".fidx") || n.ends_with(".didx") || n.ends_with(".blob") => {
                    files.push(n)
                }
                _ => {}
            }
        }
        files.sort();
        Ok(Snapshot {
            ns: group.ns.clone(),
            backup_type: group.backup_type.clone(),
            id: group.id.clone(),
            epoch: parse_time(time).unwrap_or(0),
            time: time.to_owned(),
            path,
            finished,
            protected,
            files,
        })
    }

    /// Every snapshot in the store: namespaces in order, groups, then time.
    pub fn all_snapshots(&self) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for ns in self.namespaces()? {
            for g in self.groups(&ns)? {
                out.extend(self.snapshots(&g)?);
            }
        }
        Ok(out)
    }

    /// Where the chunk with `digest` lives: `.chunks/<first 2 bytes hex>/<digest hex>`.
    pub fn chunk_path(&self, digest: &[u8; 32]) -> PathBuf {
        let h = hex(digest);
        self.root.join(".chunks").join(&h[..4]).join(h)
    }

    /// The bytes of the chunk file for `digest`, or `None` when it is missing (its `XXXX`
    /// directory missing too, as in copies that drop empty directories) or empty (an S3 cache
    /// entry whose data was evicted).
    pub fn read_chunk(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        Ok(self.read_chunk_into(digest, &mut buf)?.then_some(buf))
    }

    /// [`Datastore::read_chunk`] into `buf`, whose memory is reused: false when the chunk is
    /// missing (or an empty S3 cache placeholder).
    pub fn read_chunk_into(&self, digest: &[u8; 32], buf: &mut Vec<u8>) -> Result<bool> {
        let path = self.chunk_path(digest);
        match read_bounded_into(&path, MAX_BLOB_FILE, "chunk file size", buf) {
            Ok(()) => Ok(!buf.is_empty()),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Copies of the chunk that a verify job renamed as corrupt (`<digest>.<n>.bad`): never used
    /// silently, a last resort.
    pub fn bad_chunk_copies(&self, digest: &[u8; 32]) -> Vec<PathBuf> {
        let path = self.chunk_path(digest);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Vec::new();
        };
        let prefix = format!("{name}.");
        let mut out: Vec<PathBuf> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".bad"))
            .map(|n| dir.join(n))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_times_parse_like_date() {
        // `date -u -d 2026-12-01T21:00:00Z +%s` = 1796158800 (the sample manifest's backup-time).
        assert_eq!(parse_time("2026-12-01T21:00:00Z"), Some(1_796_158_800));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2020-06-26T13:56:05Z"), Some(1_593_179_765));
        assert_eq!(parse_time("2026-13-01T21:00:00Z"), None);
        assert_eq!(parse_time("2026-12-01T21_00_00Z"), None);
    }

    #[test]
    fn names_follow_pbs_rules() {
        assert!(valid_name("100") && valid_name("_a.b-c"));
        assert!(!valid_name("") && !valid_name(".x") && !valid_name("a/b") && !valid_name("-a"));
    }
}
