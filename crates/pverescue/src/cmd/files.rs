//! `pverescue ls`, `cp` and `cat`: files out of the filesystem of a backup's disk, in userspace
//! (`fsread`), without a loop device, a mount or FUSE.
//!
//! The source is resolved once (`source::open_disk`: raw image, PBS fixed image, staged VMA),
//! the filesystem picked by `partitions` as `mount` picks it, and `cp` creates everything
//! through `sink`'s publish rule relative to directory handles under DEST.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use fsread::{FileType, Stat, Tree};
use partitions::{MountTarget, ScanOptions, SelectError};
use rustix::fs::{AtFlags, Mode, Timespec, Timestamps};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{CatArgs, CpArgs, FsSource, Global, LsArgs};
use crate::output::{self, outln, print_failure};
use crate::source::{DiskSource, open_disk};

/// Directories nest at most this deep in `ls -R` and `cp`: a hostile image whose directory
/// points back at an ancestor stops here.
const MAX_DEPTH: usize = 1024;

/// A filesystem opened from a source, with the disk it reads (kept alive for staged copies).
struct Opened {
    tree: Box<dyn Tree>,
    /// `SOURCE, disk, partition N` for messages.
    name: String,
    _disk: Option<DiskSource>,
}

fn what(t: &MountTarget) -> String {
    match t.id.as_str() {
        "disk" => "the whole disk".into(),
        id if id.contains('/') => format!("LV {id}"),
        id => format!("partition {id}"),
    }
}

/// Opens the filesystem `fs` names in `source`; `None` when the choices were listed instead.
fn open_tree(g: &Global, source: &Path, fs: &FsSource, verb: &str) -> Result<Option<Opened>> {
    if let Some((tree, name)) = crate::disks::open_tree(g, source, fs)? {
        if !matches!(fs.volume.selector(), partitions::Selector::Auto) || fs.disk.is_some() {
            bail!("{name}: a file tree (pxar) has no partitions or disks to choose");
        }
        return Ok(Some(Opened {
            tree,
            name,
            _disk: None,
        }));
    }
    let disk = open_disk(g, source, fs)?;
    let scan = partitions::scan_view(&*disk.view, &ScanOptions::default())
        .with_context(|| format!("{}: cannot read the partition table", disk.name))?;
    for w in &scan.warnings {
        eprintln!("pverescue: warning: {}: {w}", disk.name);
    }
    let selector = fs.volume.selector();
    let target = match scan.select(selector, false) {
        Ok(t) => t,
        Err(SelectError::Ambiguous { choices }) => {
            eprintln!(
                "pverescue: {}: it holds {} filesystems: choose one",
                disk.name,
                choices.len()
            );
            let src = loopmount::shell_quote(&source.to_string_lossy());
            let rows: Vec<Vec<String>> = choices
                .iter()
                .map(|t| {
                    vec![
                        format!(
                            "  pverescue {verb} {src}{}",
                            crate::image::selector_flag(&t.id)
                        ),
                        format!(
                            "# {} {}{}, {}",
                            what(t),
                            t.fs.name(),
                            t.label
                                .as_ref()
                                .map(|l| format!(" label={}", loopmount::shell_quote(l)))
                                .unwrap_or_default(),
                            output::size(t.size)
                        ),
                    ]
                })
                .collect();
            eprint!("{}", crate::cmd::partitions::table(&rows));
            return Ok(None);
        }
        Err(e) => {
            // `mount -t` has no counterpart here: content that is no known filesystem stays so.
            let hint = e.hint().filter(|h| !h.contains("-t TYPE"));
            print_failure(&anyhow!(e).context(disk.name.clone()), hint);
            return Ok(None);
        }
    };
    let name = if target.id == "disk" {
        disk.name.clone()
    } else {
        format!("{}, {}", disk.name, what(&target))
    };
    let view = diskview::Window::new(disk.view.clone(), target.offset, target.size)
        .with_context(|| format!("{name}: outside the disk"))?;
    let tree = fsread::open(std::sync::Arc::new(view)).with_context(|| name.clone())?;
    Ok(Some(Opened {
        tree,
        name,
        _disk: Some(disk),
    }))
}

/// `rwxr-xr-x` with setuid/setgid/sticky as `ls` shows them, after the type letter.
fn mode_string(st: &Stat) -> String {
    let m = st.mode;
    let mut s = String::with_capacity(10);
    s.push(st.kind.letter());
    let bit = |b: u32, c: char| if m & b != 0 { c } else { '-' };
    let special = |x: u32, sp: u32, on: char, off: char| match (m & x != 0, m & sp != 0) {
        (true, true) => on,
        (false, true) => off,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(0o001, 0o1000, 't', 'T'));
    s
}

fn utc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(
        |_| format!("@{secs}"),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[derive(Debug, Serialize)]
struct JsonEntry {
    path: String,
    name: String,
    #[serde(rename = "type")]
    kind: FileType,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    size: u64,
    mtime: String,
    link: Option<String>,
}

#[derive(Debug, Serialize)]
struct JsonLs {
    source: String,
    filesystem: &'static str,
    label: Option<String>,
    entries: Vec<JsonEntry>,
}

/// Runs `pverescue ls`.
pub fn ls(g: &Global, a: &LsArgs) -> Result<Outcome> {
    let Some(o) = open_tree(g, &a.source, &a.fs, "ls")? else {
        return Ok(Outcome::Failed);
    };
    let t = &*o.tree;
    let path = a.path.as_bytes();
    let ctx = |p: &[u8]| format!("{}: {}", o.name, lossy(p));
    let top = t.stat(path).with_context(|| ctx(path))?;
    let mut entries: Vec<(Vec<u8>, fsread::Entry)> = Vec::new();
    let mut outcome = Outcome::Success;
    if top.kind == FileType::Dir {
        let mut stack = vec![(path.to_vec(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let list = match t.list(&dir) {
                Ok(l) => l,
                Err(e) if dir.as_slice() != path => {
                    let e = anyhow!(e).context(ctx(&dir));
                    print_failure(&e, output::hint(&e));
                    outcome = Outcome::Warnings;
                    continue;
                }
                Err(e) => return Err(anyhow!(e).context(ctx(&dir))),
            };
            let start = entries.len();
            let mut list = list;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            for e in list {
                entries.push((dir.clone(), e));
            }
            if a.recursive {
                let mut subs: Vec<(Vec<u8>, usize)> = entries[start..]
                    .iter()
                    .filter(|(_, e)| e.stat.kind == FileType::Dir && fsread::safe_name(&e.name))
                    .map(|(d, e)| (join(d, &e.name), depth + 1))
                    .collect();
                if depth + 1 >= MAX_DEPTH && !subs.is_empty() {
                    eprintln!(
                        "pverescue: warning: {}: deeper than {MAX_DEPTH} levels (a directory \
                         loop?): not listed further",
                        ctx(&dir)
                    );
                    outcome = Outcome::Warnings;
                    subs.clear();
                }
                subs.reverse();
                stack.extend(subs);
            }
        }
    } else {
        let st = t.lstat(path).with_context(|| ctx(path))?;
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let parent = comps[..comps.len().saturating_sub(1)].join(&b'/');
        entries.push((
            join(b"/", &parent),
            fsread::Entry {
                name: comps.last().map(|c| c.to_vec()).unwrap_or_default(),
                stat: st,
            },
        ));
    }
    let link = |dir: &[u8], e: &fsread::Entry| {
        (e.stat.kind == FileType::Symlink)
            .then(|| t.read_link(&join(dir, &e.name)).ok().map(|l| lossy(&l)))
            .flatten()
    };
    if g.json {
        output::print_json(&JsonLs {
            source: o.name.clone(),
            filesystem: t.kind().name(),
            label: t.label(),
            entries: entries
                .iter()
                .map(|(d, e)| JsonEntry {
                    path: lossy(&join(d, &e.name)),
                    name: lossy(&e.name),
                    kind: e.stat.kind,
                    mode: e.stat.mode,
                    uid: e.stat.uid,
                    gid: e.stat.gid,
                    size: e.stat.size,
                    mtime: output::rfc3339(e.stat.mtime),
                    link: link(d, e),
                })
                .collect(),
        })?;
        return Ok(outcome);
    }
    let mut last_dir: Option<&[u8]> = None;
    for (d, e) in &entries {
        if a.recursive && last_dir != Some(d.as_slice()) {
            if last_dir.is_some() {
                outln!()?;
            }
            outln!("{}:", output::text(&lossy(d)))?;
            last_dir = Some(d);
        }
        let name = output::text(&lossy(&e.name)).into_owned();
        if a.long {
            let owner = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
            let target = link(d, e)
                .map(|l| format!(" -> {}", output::text(&l)))
                .unwrap_or_default();
            outln!(
                "{} {:>5} {:>5} {:>12} {} {name}{target}",
                mode_string(&e.stat),
                owner(e.stat.uid),
                owner(e.stat.gid),
                e.stat.size,
                utc(e.stat.mtime)
            )?;
        } else {
            outln!("{name}")?;
        }
    }
    Ok(outcome)
}

/// Runs `pverescue cat`.
pub fn cat(g: &Global, a: &CatArgs) -> Result<Outcome> {
    let Some(o) = open_tree(g, &a.source, &a.fs, "cat")? else {
        return Ok(Outcome::Failed);
    };
    let path = a.path.as_bytes();
    let ctx = || format!("{}: {}", o.name, lossy(path));
    let mut f = o.tree.open(path).with_context(ctx)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut out = std::io::stdout().lock();
    loop {
        let n = f.read(&mut buf).with_context(ctx)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// What `cp` did.
#[derive(Debug, Default, Serialize)]
struct Copied {
    source: String,
    dest: String,
    files: u64,
    bytes: u64,
    directories: u64,
    symlinks: u64,
    hardlinks: u64,
    skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
struct Skipped {
    path: String,
    reason: String,
}

struct Copier<'a> {
    tree: &'a dyn Tree,
    created: &'a sink::Created,
    force: bool,
    /// Owners are kept only when running as root.
    owners: bool,
    /// Files copied so far by their identity, for hardlinks: where the first copy is.
    inodes: HashMap<u64, (sink::OutDir, OsString)>,
    report: Copied,
    quiet: bool,
    /// The one read buffer for every file's contents.
    buf: Vec<u8>,
    /// How files are published (shared with the writer threads).
    rules: &'a WriteRules<'a>,
    /// Whole small files for the writer threads (`None` once the walk is over).
    jobs: Option<std::sync::mpsc::SyncSender<Vec<Job>>>,
    /// Files read but not yet handed over: they go in batches ([`BATCH_FILES`],
    /// [`BATCH_BYTES`]), one wake-up of a writer for many files.
    batch: Vec<Job>,
    batch_bytes: usize,
    /// The first error of a writer thread.
    failed: &'a Mutex<Option<anyhow::Error>>,
    /// Hardlinks, made once every file is written (the first copy may still be on its way).
    links: Vec<(sink::OutDir, OsString, sink::OutDir, OsString)>,
    /// Directories' owners, modes and times, set once everything in them is written.
    dir_metas: Vec<(sink::OutDir, Stat)>,
    /// Directories made under temporary names: (where, temporary name, name).
    publish: Vec<(sink::OutDir, OsString, OsString)>,
}

/// Files up to this size are read whole by the walking thread and written by the writer
/// threads, so that creating files (most of the time of a tree of small files) runs beside the
/// reading.
/// Larger ones the walker streams itself, [`Copier::buf`] at a time.
const SMALL_FILE: usize = 1 << 20;

/// Files and bytes handed to a writer thread at once.
const BATCH_FILES: usize = 64;
const BATCH_BYTES: usize = 4 << 20;

/// A whole small file for a writer thread.
struct Job {
    dir: sink::OutDir,
    name: OsString,
    data: Vec<u8>,
    st: Stat,
    /// Inside a directory made under a temporary name: created under its own name.
    fresh: bool,
}

/// What the writer threads share.
struct WriteRules<'a> {
    created: &'a sink::Created,
    force: bool,
    owners: bool,
    /// This process's effective user and group: the owner of a file it creates in a directory
    /// it made (mode 0700 until the end, so no set-group-ID bit hands down another group).
    me: (u32, u32),
}

impl WriteRules<'_> {
    /// Writes a whole file as `name` in `dir` by the publish rule.
    fn write(&self, job: &Job) -> Result<()> {
        let data = &job.data[..];
        let out = self.create(&job.dir, &job.name, job.fresh)?;
        sink::write_sparse(out.file(), data, 0)
            .with_context(|| format!("{}: cannot write", out.path().display()))?;
        let written_to = if sink::sparse::ends_in_data(data) {
            data.len() as u64
        } else {
            0
        };
        self.publish(out, data.len() as u64, written_to, &job.st)
    }

    /// A new file for `name` in `dir`: under its own name inside a directory being made
    /// (`fresh`), else under a temporary name.
    fn create(&self, dir: &sink::OutDir, name: &OsStr, fresh: bool) -> Result<NewOut> {
        Ok(if fresh {
            NewOut::Direct(dir.create_new_file(name, self.created)?, dir.join(name))
        } else {
            dir.check_absent(name, self.force)?;
            NewOut::Temp(dir.create_temp(name, self.force, self.created)?)
        })
    }

    /// Gives the new file written up to `written_to` its length `len` (a hole at the end), its
    /// metadata, and its name.
    fn publish(&self, out: NewOut, len: u64, written_to: u64, st: &Stat) -> Result<()> {
        let shown = out.path();
        if written_to != len {
            out.file()
                .set_len(len)
                .with_context(|| format!("{}: cannot set the size", shown.display()))?;
        }
        // A file made directly in a new directory already has our owner: no chown to it.
        let owned = matches!(out, NewOut::Direct(..))
            && (st.uid, st.gid) == (Some(self.me.0), Some(self.me.1));
        set_meta(
            std::os::fd::AsFd::as_fd(out.file()),
            st,
            &shown.display().to_string(),
            self.owners && !owned,
        )?;
        if let NewOut::Temp(new) = out {
            new.publish_unsynced(self.force, self.created)?;
        }
        Ok(())
    }
}

/// A file being written: under its own name in a directory not yet published, or under a
/// temporary name.
enum NewOut {
    Direct(std::fs::File, std::path::PathBuf),
    Temp(sink::NewFile),
}

impl NewOut {
    fn file(&self) -> &std::fs::File {
        match self {
            NewOut::Direct(f, _) => f,
            NewOut::Temp(n) => &n.file,
        }
    }

    /// Where it is being written, for messages.
    fn path(&self) -> std::path::PathBuf {
        match self {
            NewOut::Direct(_, p) => p.clone(),
            NewOut::Temp(n) => n.tmp_path(),
        }
    }
}

impl Copier<'_> {
    fn skip(&mut self, path: &[u8], reason: String) {
        if !self.quiet {
            eprintln!(
                "pverescue: warning: {}: {}: not copied",
                output::text(&lossy(path)),
                output::text(&reason)
            );
        }
        self.report.skipped.push(Skipped {
            path: lossy(path),
            reason,
        });
    }

    /// Copies `src` (whose own stat is `st`) as `name` in `dir`. Reading problems skip the
    /// entry with a warning; writing problems are errors.
    fn entry(
        &mut self,
        src: &[u8],
        st: &Stat,
        dir: &sink::OutDir,
        name: &OsStr,
        depth: usize,
        fresh: bool,
    ) -> Result<()> {
        match st.kind {
            FileType::Dir => {
                if depth >= MAX_DEPTH {
                    self.skip(
                        src,
                        format!("deeper than {MAX_DEPTH} levels (a directory loop?)"),
                    );
                    return Ok(());
                }
                // A directory made here is made under a temporary name and filled with files
                // under their own names; it gets its name once everything in it is written
                // ([`Copier::finish`]). Inside it (`fresh`), everything is made directly.
                let (sub, inner) = if fresh {
                    (dir.subdir(name, false, self.created)?, true)
                } else if dir.entry(name)?.is_none() {
                    let (sub, tmp) = dir.subdir_temp(name, self.created)?;
                    self.publish.push((dir.clone(), tmp, name.to_os_string()));
                    (sub, true)
                } else {
                    // An existing directory (reused with --force): its files are published
                    // one by one.
                    (dir.subdir(name, self.force, self.created)?, false)
                };
                self.report.directories += 1;
                self.fill(src, &sub, depth + 1, inner)?;
                // Children first: a directory's time is set after everything in it is made.
                self.dir_metas.push((sub, st.clone()));
            }
            FileType::File => self.file(src, st, dir, name, fresh)?,
            FileType::Symlink => {
                let target = match self.tree.read_link(src) {
                    Ok(t) => t,
                    Err(e) => {
                        self.skip(src, e.to_string());
                        return Ok(());
                    }
                };
                let path =
                    dir.symlink_new(name, OsStr::from_bytes(&target), self.force, self.created)?;
                if self.owners && st.uid.is_some() {
                    rustix::fs::chownat(
                        dir.fd(),
                        name,
                        st.uid.map(rustix::fs::Uid::from_raw),
                        st.gid.map(rustix::fs::Gid::from_raw),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .with_context(|| format!("{}: cannot set the owner", path.display()))?;
                }
                rustix::fs::utimensat(dir.fd(), name, &times(st), AtFlags::SYMLINK_NOFOLLOW)
                    .with_context(|| format!("{}: cannot set the time", path.display()))?;
                self.report.symlinks += 1;
            }
            other => self.skip(src, format!("a {}", other.word())),
        }
        Ok(())
    }

    /// Copies the entries of the directory `src` into `dir`.
    fn fill(&mut self, src: &[u8], dir: &sink::OutDir, depth: usize, fresh: bool) -> Result<()> {
        let list = match self.tree.list(src) {
            Ok(l) => l,
            Err(e) => {
                self.skip(src, e.to_string());
                return Ok(());
            }
        };
        for e in list {
            let path = join(src, &e.name);
            if !fsread::safe_name(&e.name) {
                self.skip(
                    &path,
                    "a name that is not a file name (/, .., NUL or empty)".into(),
                );
                continue;
            }
            self.entry(
                &path,
                &e.stat,
                dir,
                OsStr::from_bytes(&e.name),
                depth,
                fresh,
            )?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        src: &[u8],
        st: &Stat,
        dir: &sink::OutDir,
        name: &OsStr,
        fresh: bool,
    ) -> Result<()> {
        let mut reader = match self.tree.open_entry(src, st) {
            Ok(r) => r,
            Err(e) => {
                self.skip(src, e.to_string());
                return Ok(());
            }
        };
        let ino = reader.ino().or(st.ino);
        if let Some((first_dir, first_name)) = ino.and_then(|i| self.inodes.get(&i)) {
            self.links.push((
                dir.clone(),
                name.to_os_string(),
                first_dir.clone(),
                first_name.clone(),
            ));
            self.report.hardlinks += 1;
            return Ok(());
        }
        // Read up to a buffer's worth: a file that ends within it goes to the writer threads.
        let mut filled = 0;
        while filled < self.buf.len() {
            match reader.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => {
                    self.skip(src, e.to_string());
                    return Ok(());
                }
            }
        }
        if filled < self.buf.len() {
            if self
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
            {
                // The writer's error is what `cp` reports.
                bail!("stopped: a file could not be written");
            }
            let job = Job {
                dir: dir.clone(),
                name: name.to_os_string(),
                data: self.buf[..filled].to_vec(),
                st: st.clone(),
                fresh,
            };
            self.batch_bytes += job.data.len();
            self.batch.push(job);
            if self.batch.len() >= BATCH_FILES || self.batch_bytes >= BATCH_BYTES {
                self.hand_over()?;
            }
            self.report.files += 1;
            self.report.bytes += filled as u64;
            if let Some(ino) = ino {
                self.inodes.insert(ino, (dir.clone(), name.to_os_string()));
            }
            return Ok(());
        }
        let new = self.rules.create(dir, name, fresh)?;
        let tmp = new.path();
        // A large file is written back while it is copied, so that the final sync of the run
        // does not find all of it still in memory.
        let mut flusher = sink::Flusher::new(new.file());
        let mut at = 0u64;
        let mut written_to = 0u64;
        let mut first = Some(filled);
        loop {
            let read = match first.take() {
                Some(n) => Ok(n),
                None => reader.read(&mut self.buf),
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    drop(new);
                    let _ = std::fs::remove_file(&tmp);
                    self.skip(src, e.to_string());
                    return Ok(());
                }
            };
            if n == 0 {
                break;
            }
            let data = &self.buf[..n];
            let wrote = sink::write_sparse(new.file(), data, at)
                .with_context(|| format!("{}: cannot write", tmp.display()))?;
            flusher.wrote(wrote);
            at += n as u64;
            // The file is as long as its last write unless it ends in a hole.
            if sink::sparse::ends_in_data(data) {
                written_to = at;
            }
        }
        flusher.stop();
        self.rules.publish(new, at, written_to, st)?;
        self.report.files += 1;
        self.report.bytes += at;
        if let Some(ino) = ino {
            self.inodes.insert(ino, (dir.clone(), name.to_os_string()));
        }
        Ok(())
    }

    /// Gives the files read so far to the writer threads.
    fn hand_over(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        self.jobs
            .as_ref()
            .and_then(|j| j.send(batch).ok())
            .ok_or_else(|| anyhow!("the file writer threads stopped"))
    }

    /// Makes the hardlinks and sets the directories' metadata, once every file is written.
    fn finish(&mut self) -> Result<()> {
        for (dir, name, first_dir, first_name) in std::mem::take(&mut self.links) {
            dir.hardlink_new(&name, &first_dir, &first_name, self.created)?;
        }
        for (dir, st) in std::mem::take(&mut self.dir_metas) {
            set_meta(
                dir.fd(),
                &st,
                &dir.path().display().to_string(),
                self.owners,
            )?;
        }
        for (dir, tmp, name) in std::mem::take(&mut self.publish) {
            dir.publish_dir(&tmp, &name, self.created)?;
        }
        Ok(())
    }
}

/// Owner (as root), then mode (a chown clears setuid), then times.
fn set_meta(fd: std::os::fd::BorrowedFd<'_>, st: &Stat, shown: &str, owners: bool) -> Result<()> {
    {
        if owners && st.uid.is_some() {
            rustix::fs::fchown(
                fd,
                st.uid.map(rustix::fs::Uid::from_raw),
                st.gid.map(rustix::fs::Gid::from_raw),
            )
            .with_context(|| format!("{shown}: cannot set the owner"))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(st.mode & 0o7777))
            .with_context(|| format!("{shown}: cannot set the mode"))?;
        rustix::fs::futimens(fd, &times(st))
            .with_context(|| format!("{shown}: cannot set the time"))?;
        Ok(())
    }
}

fn times(st: &Stat) -> Timestamps {
    let t = Timespec {
        tv_sec: st.mtime,
        tv_nsec: i64::from(st.mtime_nsec),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Writes `data` at `at`, leaving 4 KiB blocks of zeros as holes.
/// Runs `pverescue cp`.
pub fn cp(g: &Global, a: &CpArgs) -> Result<Outcome> {
    let Some((dest, paths)) = a.paths.split_last() else {
        bail!("give what to copy and the directory to copy into");
    };
    cleanup::install().context("cannot install the signal handler")?;
    let Some(o) = open_tree(g, &a.source, &a.fs, "cp")? else {
        return Ok(Outcome::Failed);
    };
    let t = &*o.tree;
    // Every PATH must exist before anything is written.
    let mut sources = Vec::new();
    for p in paths {
        let b = p.as_bytes();
        let st = t
            .lstat(b)
            .with_context(|| format!("{}: {}", o.name, lossy(b)))?;
        let base = b
            .split(|&c| c == b'/')
            .rfind(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec);
        sources.push((b.to_vec(), st, base));
    }
    let created = sink::Created::new();
    let dest = Path::new(dest);
    let out = sink::OutDir::create(dest, true, &created)?;
    let owners = rustix::process::geteuid().is_root();
    let failed = Mutex::new(None);
    let rules = WriteRules {
        created: &created,
        force: a.force,
        owners,
        me: (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        ),
    };
    // The walker (reading) keeps one core; the writers take the others, at least one. More
    // writers than that only contend for the destination's journal (measured with bench-files
    // on a fresh ext4: two writers beside the walker on two cores were slower than one).
    let writers =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 4));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Job>>(4);
    let rx = Mutex::new(rx);
    let r = std::thread::scope(|s| -> Result<Copied> {
        let (rx, rules, failed_ref) = (&rx, &rules, &failed);
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                s.spawn(move || {
                    loop {
                        let batch = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(batch) = batch else { break };
                        for job in batch {
                            // After a failure, jobs are taken and dropped so that the walker
                            // never blocks; it sees the error at its next file.
                            let stopped = failed_ref
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .is_some();
                            if !stopped && let Err(e) = rules.write(&job) {
                                failed_ref
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(e);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut c = Copier {
            buf: vec![0u8; SMALL_FILE],
            tree: t,
            created: &created,
            force: a.force,
            owners,
            inodes: HashMap::new(),
            report: Copied {
                source: o.name.clone(),
                dest: dest.display().to_string(),
                ..Copied::default()
            },
            quiet: g.quiet,
            rules,
            jobs: Some(tx),
            batch: Vec::new(),
            batch_bytes: 0,
            failed: &failed,
            links: Vec::new(),
            dir_metas: Vec::new(),
            publish: Vec::new(),
        };
        let walked = (|| -> Result<()> {
            for (path, st, base) in &sources {
                let root = path
                    .split(|&b| b == b'/')
                    .all(|c| c.is_empty() || c == b".");
                match base {
                    _ if root && st.kind == FileType::Dir => c.fill(path, &out, 1, false)?,
                    Some(base) if base.as_slice() != b".." && fsread::safe_name(base) => {
                        c.entry(path, st, &out, &OsString::from_vec(base.clone()), 1, false)?
                    }
                    _ => c.skip(path, "give a path that ends in a name".into()),
                }
            }
            c.hand_over()
        })();
        // The walk is over: the writers finish what is queued and stop.
        c.jobs = None;
        for h in handles {
            if h.join().is_err() {
                bail!("a file writer thread panicked");
            }
        }
        if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        walked?;
        c.finish()?;
        Ok(c.report)
    })?;
    // One sync for every file published unsynced, before anything is reported as copied.
    out.sync_filesystem()?;
    created.commit();
    if g.json {
        output::print_json(&r)?;
    } else if !g.quiet {
        eprintln!(
            "copied {} files ({}), {} directories, {} symlinks, {} hardlinks from {} into {}{}",
            r.files,
            output::size(r.bytes),
            r.directories,
            r.symlinks,
            r.hardlinks,
            o.name,
            dest.display(),
            if r.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} skipped (see the warnings above)", r.skipped.len())
            }
        );
    }
    Ok(if r.skipped.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}
