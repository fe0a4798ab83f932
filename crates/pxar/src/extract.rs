//! Safe extraction of a tree (or a sub-tree) into a new directory.
//!
//! - The tree is built under a temporary name, `PARENT/.NAME.partial-PID`, and published as
//!   `PARENT/NAME` by a rename that never replaces: on an error, or on SIGINT/SIGTERM/SIGHUP
//!   (through the `cleanup` crate), the temporary tree is removed and nothing appears under the
//!   final name.
//! - Every name is created relative to a handle on its directory (`mkdirat`, `openat` with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW`, `symlinkat`, `mknodat`, `linkat`), and directories are entered
//!   with `O_NOFOLLOW`: no path is ever resolved through a link, so a symlink followed by a file
//!   "through" it fails instead of writing outside. Names are checked by the reader (no `/`,
//!   `.`, `..`, NUL or empty names); a name met twice is an error.
//! - Hardlinks link a file this run created (`linkat` without following), found from the tree's
//!   root, never a path outside.
//! - Metadata: numeric owners (when root), modes with setuid/setgid/sticky (after the owner,
//!   which clears them), mtimes with nanoseconds (links too), xattrs, ACLs as the
//!   `system.posix_acl_*` xattrs and fcaps as `security.capability`, when the file system takes
//!   them; what it refuses is listed in the [`Report`]. Devices need root (otherwise listed as
//!   not created). chattr flags and quota project ids are not applied (listed when present).
//! - Files are written sparse: runs of zero blocks stay holes.
//! - A file whose data cannot be read (a missing chunk, a bad payload reference, a reference
//!   going backwards as old clients wrote them) is left out and listed as damaged; the rest of
//!   the tree is restored.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use diskview::ReadAt;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno;
use sink::Progress;

use crate::error::{Error, Result, Stream};
use crate::read::{Acl, Archive, Data, Entry, Event, Kind, Metadata};

/// How to extract.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set numeric owners and groups (needs root).
    pub owners: bool,
    /// Create block and character devices (needs root).
    pub devices: bool,
    /// Extract only this sub-tree (a directory's path from the archive root).
    pub sub_path: Option<Vec<u8>>,
}

impl Options {
    /// Owners and devices when the process runs as root.
    pub fn for_this_process() -> Options {
        let root = rustix::process::geteuid().is_root();
        Options {
            owners: root,
            devices: root,
            sub_path: None,
        }
    }
}

/// Something of the archive that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplied {
    /// The entry's path in the archive.
    pub path: String,
    /// What (`xattr user.x`, `ACL`, `device`, …).
    pub what: String,
    /// Why.
    pub reason: String,
}

/// A file left out because its data could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The entry's path in the archive.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Most [`NotApplied`] items kept (the rest are counted).
pub const MAX_LISTED: usize = 200;

/// What an extraction did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The published tree.
    pub path: PathBuf,
    /// Directories made (the root included).
    pub dirs: u64,
    /// Regular files written.
    pub files: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// Hardlinks made.
    pub hardlinks: u64,
    /// Devices, fifos and sockets made.
    pub specials: u64,
    /// File bytes written.
    pub data_bytes: u64,
    /// File bytes left as holes (zeros).
    pub sparse_bytes: u64,
    /// Whether owners were set.
    pub owners: bool,
    /// Files left out.
    pub damaged: Vec<Damaged>,
    /// Metadata or entries not applied (at most [`MAX_LISTED`]).
    pub not_applied: Vec<NotApplied>,
    /// How many more were not applied than are listed.
    pub not_applied_more: u64,
}

impl Report {
    fn skip(&mut self, e: &Entry, what: impl Into<String>, reason: impl Into<String>) {
        if self.not_applied.len() < MAX_LISTED {
            self.not_applied.push(NotApplied {
                path: e.display_path(),
                what: what.into(),
                reason: reason.into(),
            });
        } else {
            self.not_applied_more += 1;
        }
    }

    /// True when something was left out or not applied.
    pub fn has_warnings(&self) -> bool {
        !self.damaged.is_empty() || !self.not_applied.is_empty()
    }
}

/// Temporary trees being built, for the signal handler.
struct Live {
    trees: Vec<PathBuf>,
    stopped: bool,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    trees: Vec::new(),
    stopped: false,
});

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the signal action once: it removes every tree being built. It runs in the first
/// stage, before the `sink` crate's, which removes the output directory only once it is empty.
fn register() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        cleanup::on_signal(cleanup::Stage::Children, |_| {
            let mut l = live();
            l.stopped = true;
            for t in l.trees.drain(..) {
                let _ = std::fs::remove_dir_all(t);
            }
        });
    });
}

/// Removes the temporary tree unless published.
struct TreeGuard {
    path: PathBuf,
    published: bool,
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        let mut l = live();
        l.trees.retain(|t| *t != self.path);
        if !self.published {
            // Best effort: the error that got us here is what the user needs to see.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> Error + 'a {
    move |e| Error::Extract {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Extracts the archive (or `opts.sub_path`) as the new directory `parent/name`; `parent` must
/// exist. See the module documentation.
pub fn extract<R: ReadAt>(
    ar: &Archive<R>,
    parent: &Path,
    name: &OsStr,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Report> {
    register();
    let final_path = parent.join(name);
    let pdir = rustix::fs::open(
        if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        },
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open directory", parent))?;
    match rustix::fs::statat(&pdir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(Error::TargetExists { path: final_path }),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(io_err("inspect", &final_path)(e)),
    }
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".partial-{}", std::process::id()));
    let tmp_path = parent.join(&tmp);
    let mut guard = {
        let mut l = live();
        if l.stopped {
            return Err(io_err("create", &tmp_path)(Errno::INTR));
        }
        rustix::fs::mkdirat(&pdir, &tmp, Mode::from_raw_mode(0o700))
            .map_err(io_err("create directory", &tmp_path))?;
        l.trees.push(tmp_path.clone());
        TreeGuard {
            path: tmp_path.clone(),
            published: false,
        }
    };
    let root_fd = open_dir(&pdir, &tmp, &tmp_path)?;
    let mut x = Extractor {
        ar,
        opts,
        root: tmp_path.clone(),
        prefix: Vec::new(),
        stack: Vec::new(),
        made: HashSet::new(),
        last_ref_end: 0,
        report: Report {
            owners: opts.owners,
            ..Report::default()
        },
        buf: vec![0u8; 1 << 20],
    };
    let walk = match &opts.sub_path {
        Some(p) => {
            let from = ar.lookup(p)?;
            if !from.is_dir() {
                return Err(Error::WrongKind {
                    archive: ar.name().to_owned(),
                    path: from.display_path(),
                    expected: "a directory",
                    found: from.kind.word(),
                });
            }
            x.prefix = from.path.clone();
            ar.walk_from(&from)
        }
        None => ar.walk(),
    };
    let mut root_fd = Some(root_fd);
    for ev in walk {
        match ev? {
            Event::Entry(e) => {
                progress.read(e.content_end + x.last_ref_end);
                if x.stack.is_empty() {
                    if !e.is_dir() {
                        return Err(Error::WrongKind {
                            archive: ar.name().to_owned(),
                            path: e.display_path(),
                            expected: "a directory at the archive's root",
                            found: e.kind.word(),
                        });
                    }
                    // The tree's root: the temporary directory.
                    let fd = root_fd.take().ok_or_else(|| Error::Extract {
                        op: "enter",
                        path: tmp_path.clone(),
                        source: std::io::ErrorKind::InvalidData.into(),
                    })?;
                    x.stack.push((fd, tmp_path.clone()));
                    x.report.dirs += 1;
                    continue;
                }
                x.entry(&e, progress)?;
            }
            Event::Leave(e) => {
                let (fd, path) = x.stack.pop().ok_or_else(|| Error::Extract {
                    op: "leave",
                    path: tmp_path.clone(),
                    source: std::io::ErrorKind::InvalidData.into(),
                })?;
                x.apply_fd(&e, fd.as_fd(), &path)?;
            }
        }
    }
    let mut report = x.report;
    report.path = final_path.clone();
    // Publish without replacing.
    let _l = live();
    match rustix::fs::renameat_with(&pdir, &tmp, &pdir, name, RenameFlags::NOREPLACE) {
        Ok(()) => {
            guard.published = true;
            Ok(report)
        }
        Err(Errno::EXIST | Errno::NOTEMPTY) => {
            guard.published = true;
            Err(Error::AppearedMeanwhile {
                path: final_path,
                kept: tmp_path,
            })
        }
        Err(e) => Err(io_err("rename", &tmp_path)(e)),
    }
}

fn open_dir(dir: &impl AsFd, name: &OsStr, path: &Path) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open directory", path))
}

struct Extractor<'a, R> {
    ar: &'a Archive<R>,
    opts: &'a Options,
    root: PathBuf,
    /// The sub-tree's path in the archive (empty for the whole archive).
    prefix: Vec<u8>,
    /// Open directories: handle and path on disk.
    stack: Vec<(OwnedFd, PathBuf)>,
    /// Archive paths of the non-directories made (hardlink targets).
    made: HashSet<Vec<u8>>,
    /// Where the last payload reference ended.
    last_ref_end: u64,
    report: Report,
    buf: Vec<u8>,
}

impl<R: ReadAt> Extractor<'_, R> {
    fn entry(&mut self, e: &Entry, progress: &mut dyn Progress) -> Result<()> {
        let name = OsStr::from_bytes(e.name()).to_os_string();
        let (dir, dir_path) = self.stack.last().ok_or_else(|| Error::Extract {
            op: "enter",
            path: self.root.clone(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        let path = dir_path.join(&name);
        let dir = dir.try_clone().map_err(|source| Error::Extract {
            op: "use",
            path: dir_path.clone(),
            source,
        })?;
        let dup = |this: &Self| Error::Duplicate {
            archive: this.ar.name().to_owned(),
            path: e.display_path(),
            at: e.filename_at.unwrap_or(e.entry_at),
        };
        let created = |this: &Self, r: std::result::Result<(), Errno>, op| match r {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(dup(this)),
            Err(err) => Err(io_err(op, &path)(err)),
        };
        let md = &e.metadata;
        let perm = Mode::from_raw_mode(md.permissions());
        match &e.kind {
            Kind::Directory { .. } => {
                let r = guarded(&path, || {
                    rustix::fs::mkdirat(&dir, &name, Mode::from_raw_mode(0o700))
                })?;
                created(self, r, "create directory")?;
                let fd = open_dir(&dir, &name, &path)?;
                self.stack.push((fd, path));
                self.report.dirs += 1;
            }
            Kind::File { size, data } => {
                let range = match self.check_data(e, *data, *size) {
                    Ok(r) => r,
                    Err(err) if err.is_file_damage() => {
                        self.damaged(e, err.to_string());
                        return Ok(());
                    }
                    Err(err) => return Err(err),
                };
                let r = guarded(&path, || {
                    rustix::fs::openat(
                        &dir,
                        &name,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )
                })?;
                let fd = match r {
                    Ok(fd) => fd,
                    Err(Errno::EXIST) => return Err(dup(self)),
                    Err(err) => return Err(io_err("create", &path)(err)),
                };
                let file = File::from(fd);
                match self.write_data(&file, &path, range, progress) {
                    Ok(()) => {}
                    Err(err) if err.is_file_damage() => {
                        drop(file);
                        let _ = rustix::fs::unlinkat(&dir, &name, AtFlags::empty());
                        self.damaged(e, err.to_string());
                        return Ok(());
                    }
                    Err(err) => return Err(err),
                }
                self.apply_fd(e, file.as_fd(), &path)?;
                self.made.insert(e.path.clone());
                self.report.files += 1;
            }
            Kind::Symlink(target) => {
                let r = guarded(&path, || {
                    rustix::fs::symlinkat(OsStr::from_bytes(target), &dir, &name)
                })?;
                created(self, r, "create symlink")?;
                self.apply_at(e, &dir, &name, &path, false)?;
                self.made.insert(e.path.clone());
                self.report.symlinks += 1;
            }
            Kind::Hardlink { target, .. } => {
                self.hardlink(e, target, &dir, &name, &path)?;
            }
            Kind::BlockDevice { major, minor } | Kind::CharDevice { major, minor } => {
                if !self.opts.devices {
                    self.report.skip(
                        e,
                        format!("device {major}:{minor}"),
                        "devices are created only by root",
                    );
                    return Ok(());
                }
                let (Ok(maj), Ok(min)) = (u32::try_from(*major), u32::try_from(*minor)) else {
                    self.report
                        .skip(e, format!("device {major}:{minor}"), "numbers out of range");
                    return Ok(());
                };
                let ft = if matches!(e.kind, Kind::BlockDevice { .. }) {
                    rustix::fs::FileType::BlockDevice
                } else {
                    rustix::fs::FileType::CharacterDevice
                };
                let dev = rustix::fs::makedev(maj, min);
                let r = guarded(&path, || rustix::fs::mknodat(&dir, &name, ft, perm, dev))?;
                created(self, r, "create device")?;
                self.apply_at(e, &dir, &name, &path, true)?;
                self.made.insert(e.path.clone());
                self.report.specials += 1;
            }
            Kind::Fifo | Kind::Socket => {
                let ft = if matches!(e.kind, Kind::Fifo) {
                    rustix::fs::FileType::Fifo
                } else {
                    rustix::fs::FileType::Socket
                };
                let r = guarded(&path, || rustix::fs::mknodat(&dir, &name, ft, perm, 0))?;
                created(self, r, "create")?;
                self.apply_at(e, &dir, &name, &path, true)?;
                self.made.insert(e.path.clone());
                self.report.specials += 1;
            }
        }
        Ok(())
    }

    fn damaged(&mut self, e: &Entry, reason: String) {
        self.report.damaged.push(Damaged {
            path: e.display_path(),
            reason,
        });
    }

    /// The file's data range, its payload reference checked (and its order).
    fn check_data(
        &mut self,
        e: &Entry,
        data: Data,
        size: u64,
    ) -> Result<(Stream, std::ops::Range<u64>)> {
        if let Data::Ref { offset, at } = data {
            if offset < self.last_ref_end {
                return Err(Error::BadPayloadRef {
                    archive: self.ar.name().to_owned(),
                    path: e.display_path(),
                    at,
                    offset,
                    size,
                    why: format!(
                        "it points back before the end of the previous file's data ({}): old \
                         metadata-mode clients wrote such references after a dedup collision",
                        self.last_ref_end
                    ),
                });
            }
            let r = self.ar.data_range(e)?;
            self.last_ref_end = r.1.end;
            return Ok(r);
        }
        self.ar.data_range(e)
    }

    fn write_data(
        &mut self,
        file: &File,
        path: &Path,
        (stream, range): (Stream, std::ops::Range<u64>),
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let len = range.end - range.start;
        let mut off = 0u64;
        let werr = |source| Error::Extract {
            op: "write",
            path: path.to_path_buf(),
            source,
        };
        while off < len {
            let n = self.ar.read_range(stream, &range, &mut self.buf, off)?;
            if n == 0 {
                break;
            }
            let wrote = sink::write_sparse(file, &self.buf[..n], off).map_err(werr)?;
            self.report.data_bytes += wrote;
            self.report.sparse_bytes += n as u64 - wrote;
            progress.wrote(n as u64);
            off += n as u64;
        }
        file.set_len(len).map_err(werr)?;
        Ok(())
    }

    fn hardlink(
        &mut self,
        e: &Entry,
        target: &[u8],
        dir: &OwnedFd,
        name: &OsStr,
        path: &Path,
    ) -> Result<()> {
        let rel = if self.prefix.is_empty() {
            Some(target)
        } else {
            target
                .strip_prefix(self.prefix.as_slice())
                .and_then(|t| t.strip_prefix(b"/"))
        };
        let Some(rel) = rel.filter(|_| self.made.contains(target)) else {
            self.damaged(
                e,
                format!(
                    "hardlink to {:?}, which this extraction did not create (outside the tree, \
                     not yet extracted, or left out)",
                    String::from_utf8_lossy(target)
                ),
            );
            return Ok(());
        };
        let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        let (last, dirs) = comps.split_last().ok_or_else(|| Error::Extract {
            op: "link",
            path: path.to_path_buf(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        let mut cur = self.stack[0]
            .0
            .try_clone()
            .map_err(|source| Error::Extract {
                op: "use",
                path: self.root.clone(),
                source,
            })?;
        for c in dirs {
            cur = open_dir(&cur, OsStr::from_bytes(c), path)?;
        }
        let r = guarded(path, || {
            rustix::fs::linkat(&cur, OsStr::from_bytes(last), dir, name, AtFlags::empty())
        })?;
        match r {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(Error::Duplicate {
                    archive: self.ar.name().to_owned(),
                    path: e.display_path(),
                    at: e.filename_at.unwrap_or(e.entry_at),
                });
            }
            Err(err) => return Err(io_err("link", path)(err)),
        }
        self.made.insert(e.path.clone());
        self.report.hardlinks += 1;
        Ok(())
    }

    /// Owner, mode, xattrs, fcaps, ACLs and mtime through an open handle.
    fn apply_fd(&mut self, e: &Entry, fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
        let md = &e.metadata;
        if self.opts.owners {
            rustix::fs::fchown(fd, uid(md.uid), gid(md.gid))
                .map_err(io_err("set the owner of", path))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(md.permissions()))
            .map_err(io_err("set the mode of", path))?;
        self.set_xattrs(e, |name, value| {
            rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty())
        });
        self.unapplied(e);
        rustix::fs::futimens(fd, &times(md)).map_err(io_err("set the time of", path))?;
        Ok(())
    }

    /// Owner, mode, xattrs, ACLs and mtime by name (symlinks, devices, fifos, sockets: no
    /// handle to write through).
    fn apply_at(
        &mut self,
        e: &Entry,
        dir: &OwnedFd,
        name: &OsStr,
        path: &Path,
        chmod: bool,
    ) -> Result<()> {
        let md = &e.metadata;
        if self.opts.owners {
            rustix::fs::chownat(
                dir,
                name,
                uid(md.uid),
                gid(md.gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err("set the owner of", path))?;
        }
        if chmod {
            rustix::fs::chmodat(
                dir,
                name,
                Mode::from_raw_mode(md.permissions()),
                AtFlags::empty(),
            )
            .map_err(io_err("set the mode of", path))?;
        }
        // No handle can be opened on a symlink to write through: its name under the
        // directory's handle in /proc, whose last component `lsetxattr` does not follow.
        let mut at = std::ffi::OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
        at.push(name);
        self.set_xattrs(e, |n, value| {
            rustix::fs::lsetxattr(&at, n, value, rustix::fs::XattrFlags::empty())
        });
        self.unapplied(e);
        rustix::fs::utimensat(dir, name, &times(md), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err("set the time of", path))?;
        Ok(())
    }

    /// Sets the xattrs, fcaps and ACLs of `e` with `set`; what fails is listed as not applied.
    fn set_xattrs(&mut self, e: &Entry, set: impl Fn(&OsStr, &[u8]) -> rustix::io::Result<()>) {
        let md = &e.metadata;
        let mut items: Vec<XattrItem<'_>> = md
            .xattrs
            .iter()
            .map(|(n, v)| {
                (
                    format!("xattr {}", String::from_utf8_lossy(n)),
                    n.as_slice(),
                    v.as_slice().into(),
                )
            })
            .collect();
        if let Some(c) = &md.fcaps {
            items.push((
                "file capabilities".into(),
                b"security.capability",
                c.as_slice().into(),
            ));
        }
        if let Some(a) = access_acl(md) {
            items.push(("ACL".into(), b"system.posix_acl_access", a.into()));
        }
        if let Some(a) = default_acl(&md.acl) {
            items.push(("default ACL".into(), b"system.posix_acl_default", a.into()));
        }
        for (what, name, value) in items {
            if let Err(err) = set(OsStr::from_bytes(name), &value) {
                self.report.skip(e, what, err.to_string());
            }
        }
    }

    fn unapplied(&mut self, e: &Entry) {
        if let Some(p) = e.metadata.quota_projid {
            self.report.skip(
                e,
                format!("quota project id {p}"),
                "this version does not set project ids",
            );
        }
    }
}

/// An xattr to set: what to call it in a warning, its name, its value.
type XattrItem<'a> = (String, &'a [u8], std::borrow::Cow<'a, [u8]>);

/// Runs a create step under the lock the signal action takes, unless a signal came.
fn guarded<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T> {
    let l = live();
    if l.stopped {
        return Err(io_err("create", path)(Errno::INTR));
    }
    Ok(f())
}

fn uid(raw: u32) -> Option<rustix::fs::Uid> {
    (raw != u32::MAX).then(|| rustix::fs::Uid::from_raw(raw))
}

fn gid(raw: u32) -> Option<rustix::fs::Gid> {
    (raw != u32::MAX).then(|| rustix::fs::Gid::from_raw(raw))
}

fn times(md: &Metadata) -> Timestamps {
    let t = Timespec {
        tv_sec: md.mtime_secs,
        tv_nsec: md.mtime_nanos.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// ACL xattr tags (`linux/posix_acl_xattr.h`).
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const ACL_UNDEFINED_ID: u32 = u32::MAX;

fn acl_xattr(entries: &[(u16, u64, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&((perm & 7) as u16).to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

fn named(tag: u16, list: &[(u64, u64)]) -> Vec<(u16, u64, u32)> {
    let mut v: Vec<(u16, u64, u32)> = list
        .iter()
        .map(|&(id, p)| (tag, p, u32::try_from(id).unwrap_or(ACL_UNDEFINED_ID)))
        .collect();
    v.sort_by_key(|e| e.2);
    v
}

/// `system.posix_acl_access` of an entry with an extended ACL: the mode's group bits are then
/// the mask, and the owning group's perms are the ACL_GROUP_OBJ item.
pub fn access_acl(md: &Metadata) -> Option<Vec<u8>> {
    let a = &md.acl;
    if a.users.is_empty() && a.groups.is_empty() && a.group_obj.is_none() {
        return None;
    }
    let m = md.mode;
    let mut e = vec![(ACL_USER_OBJ, (m >> 6) & 7, ACL_UNDEFINED_ID)];
    e.extend(named(ACL_USER, &a.users));
    e.push((
        ACL_GROUP_OBJ,
        a.group_obj.unwrap_or((m >> 3) & 7),
        ACL_UNDEFINED_ID,
    ));
    e.extend(named(ACL_GROUP, &a.groups));
    e.push((ACL_MASK, (m >> 3) & 7, ACL_UNDEFINED_ID));
    e.push((ACL_OTHER, m & 7, ACL_UNDEFINED_ID));
    Some(acl_xattr(&e))
}

/// `system.posix_acl_default` of a directory.
pub fn default_acl(a: &Acl) -> Option<Vec<u8>> {
    let d = a.default?;
    let mut e = vec![(ACL_USER_OBJ, d.user_obj, ACL_UNDEFINED_ID)];
    e.extend(named(ACL_USER, &a.default_users));
    e.push((ACL_GROUP_OBJ, d.group_obj, ACL_UNDEFINED_ID));
    e.extend(named(ACL_GROUP, &a.default_groups));
    let named_any = !a.default_users.is_empty() || !a.default_groups.is_empty();
    if d.mask != u64::MAX {
        e.push((ACL_MASK, d.mask, ACL_UNDEFINED_ID));
    } else if named_any {
        // A named entry needs a mask: the union of the group class, as setfacl computes it.
        let union = a
            .default_users
            .iter()
            .chain(&a.default_groups)
            .fold(d.group_obj, |acc, &(_, p)| acc | p);
        e.push((ACL_MASK, union, ACL_UNDEFINED_ID));
    }
    e.push((ACL_OTHER, d.other, ACL_UNDEFINED_ID));
    Some(acl_xattr(&e))
}
