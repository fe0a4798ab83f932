//! One rule for creating and publishing outputs, used by every command.
//!
//! - An output is created under a temporary name in its final directory, `.NAME.partial-PID`,
//!   with `O_CREAT|O_EXCL|O_NOFOLLOW` relative to a handle on that directory: an existing file
//!   or a planted link at that name is never opened, truncated or followed.
//! - It gets its final name by `renameat2(RENAME_NOREPLACE)` (or, where the file system lacks
//!   it, a hard link and an unlink), so a file that appeared meanwhile is never replaced; the
//!   restored data is then kept under the temporary name and the error says so
//!   ([`Error::AppearedMeanwhile`]). Only with `replace` (`--force`) does a rename replace what is
//!   there; a rename replaces a link, it never writes through it.
//! - Everything a run creates is recorded in a [`Created`]: dropped without
//!   [`Created::commit`] (an error, a panic), or on SIGINT/SIGTERM/SIGHUP (through the
//!   [`cleanup`] crate), it is removed again, files first, then the directories it made.
//! - After a SIGKILL, the temporary names carry the dead process's id: [`leftovers`] finds
//!   them so that the next run can say what was left and how to remove it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, Result, file_err};

/// A directory that outputs are created in, held open: every name in it is resolved relative
/// to this handle, never again through the path.
#[derive(Debug, Clone)]
pub struct OutDir {
    path: PathBuf,
    fd: Arc<OwnedFd>,
}

impl OutDir {
    /// Creates the directory `path` and records it in `created`. An existing directory is
    /// reused only with `reuse` (`--force`); without it the error says whether an interrupted
    /// run left it.
    pub fn create(path: &Path, reuse: bool, created: &Created) -> Result<OutDir> {
        let mut entries = created.lock_to_create(path)?;
        match std::fs::create_dir(path) {
            Ok(()) => {
                let dir = OutDir::open(path)?;
                entries.push(Item {
                    dir: None,
                    name: OsString::new(),
                    path: path.to_path_buf(),
                    is_dir: true,
                });
                Ok(dir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(entries);
                if !reuse {
                    let left = OutDir::open(path)
                        .map(|d| leftovers(&d, None))
                        .unwrap_or_default();
                    if !left.is_empty() {
                        return Err(Error::Leftovers {
                            path: path.to_path_buf(),
                            files: left,
                        });
                    }
                    return Err(Error::TargetExists {
                        path: path.to_path_buf(),
                    });
                }
                OutDir::open(path)
            }
            Err(source) => Err(Error::File {
                op: "create directory",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Opens an existing directory (a link to a directory given by the user is followed: it is
    /// the user's own path).
    pub fn open(path: &Path) -> Result<OutDir> {
        let dir = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let fd = rustix::fs::open(
            dir,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| file_err("open directory", path)(e.into()))?;
        Ok(OutDir {
            path: path.to_path_buf(),
            fd: Arc::new(fd),
        })
    }

    /// Creates the subdirectory `name` under its temporary name ([`temp_name`]), to be filled
    /// with [`OutDir::create_new_file`] and [`OutDir::subdir`] and published whole by
    /// [`OutDir::publish_dir`]: a tree copied into it never shows under its final name before
    /// it is complete, and its files need no temporary names of their own. Fails when `name`
    /// exists.
    pub fn subdir_temp(&self, name: &OsStr, created: &Created) -> Result<(OutDir, OsString)> {
        self.check_absent(name, false)?;
        let tmp = temp_name(name);
        let dir = self.subdir(&tmp, false, created)?;
        // Under a set-group-ID parent the new directory gets that bit too; cleared, so that
        // what is made inside belongs to this process's own group until the caller sets owners.
        rustix::fs::fchmod(dir.fd(), Mode::from_raw_mode(0o700))
            .map_err(|e| file_err("set the mode of", dir.path())(e.into()))?;
        Ok((dir, tmp))
    }

    /// Gives the directory made by [`OutDir::subdir_temp`] (`tmp` here) its name, never
    /// replacing anything; returns the final path.
    pub fn publish_dir(&self, tmp: &OsStr, name: &OsStr, created: &Created) -> Result<PathBuf> {
        self.rename_new(tmp, name, false, created)
    }

    /// Creates the new file `name` under its final name (`O_EXCL|O_NOFOLLOW`), recorded in
    /// `created`: only inside a directory of [`OutDir::subdir_temp`] (or one below it), which
    /// nobody sees under its final name before it is published.
    pub fn create_new_file(&self, name: &OsStr, created: &Created) -> Result<File> {
        let path = self.join(name);
        let mut entries = created.lock_to_create(&path)?;
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            Errno::EXIST => Error::TargetExists { path: path.clone() },
            e => file_err("create", &path)(e.into()),
        })?;
        entries.push(Item {
            dir: Some(Arc::clone(&self.fd)),
            name: name.to_os_string(),
            path,
            is_dir: false,
        });
        Ok(File::from(fd))
    }

    /// The directory holding `file` and the file's name in it.
    pub fn parent_of(file: &Path) -> Result<(OutDir, OsString)> {
        let name = file
            .file_name()
            .filter(|n| *n != OsStr::new(".") && *n != OsStr::new(".."))
            .ok_or_else(|| Error::InvalidTarget {
                reason: format!("{} does not name a file", file.display()),
            })?
            .to_os_string();
        let parent = file.parent().unwrap_or(Path::new(""));
        Ok((OutDir::open(parent)?, name))
    }

    /// The directory's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory, for messages.
    pub fn join(&self, name: impl AsRef<OsStr>) -> PathBuf {
        self.path.join(name.as_ref())
    }

    /// What is at `name` (the link itself for a link), or `None`.
    pub fn entry(&self, name: &OsStr) -> Result<Option<rustix::fs::FileType>> {
        match rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(rustix::fs::FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(file_err("inspect", &self.join(name))(e.into())),
        }
    }

    /// Fails when `name` exists and is not to be replaced.
    pub fn check_absent(&self, name: &OsStr, replace: bool) -> Result<()> {
        if !replace && self.entry(name)?.is_some() {
            return Err(Error::TargetExists {
                path: self.join(name),
            });
        }
        Ok(())
    }

    /// Opens the existing regular file `name` for writing in place; a link is refused.
    pub fn open_existing(&self, name: &OsStr) -> Result<File> {
        let path = self.join(name);
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP => Error::Symlink { path: path.clone() },
            e => file_err("open", &path)(e.into()),
        })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(file_err("inspect", &path))?;
        if !meta.file_type().is_file() {
            return Err(Error::InvalidTarget {
                reason: format!("{} exists and is not a regular file", path.display()),
            });
        }
        Ok(file)
    }

    /// Writes `bytes` as the new file `name` (a config): temporary name, then published by the
    /// rule of [`NewFile::publish`]; returns the final path.
    pub fn write_new(
        &self,
        name: &OsStr,
        bytes: &[u8],
        replace: bool,
        created: &Created,
    ) -> Result<PathBuf> {
        let mut new = self.create_temp(name, replace, created)?;
        std::io::Write::write_all(&mut new.file, bytes)
            .map_err(|e| file_err("write", &new.tmp_path())(e))?;
        self.check_absent(name, replace)?;
        new.publish(replace, created)
    }

    /// Creates a new file that will be published as `name`, under its temporary name
    /// `.NAME.partial-PID`, and records it in `created`. With `replace`, a stale file at the
    /// temporary name (never a directory) is removed first; it is never opened.
    pub fn create_temp(&self, name: &OsStr, replace: bool, created: &Created) -> Result<NewFile> {
        let tmp = temp_name(name);
        let tmp_path = self.join(&tmp);
        let mut entries = created.lock_to_create(&tmp_path)?;
        let open = || {
            rustix::fs::openat(
                &*self.fd,
                &tmp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
        };
        let fd = match open() {
            Err(Errno::EXIST) if replace => {
                rustix::fs::unlinkat(&*self.fd, &tmp, AtFlags::empty())
                    .map_err(|e| file_err("remove the stale", &tmp_path)(e.into()))?;
                open()
            }
            r => r,
        }
        .map_err(|e| match e {
            Errno::EXIST => Error::TargetExists {
                path: tmp_path.clone(),
            },
            e => file_err("create", &tmp_path)(e.into()),
        })?;
        entries.push(Item {
            dir: Some(Arc::clone(&self.fd)),
            name: tmp.clone(),
            path: tmp_path,
            is_dir: false,
        });
        Ok(NewFile {
            file: File::from(fd),
            dir: self.clone(),
            tmp,
            name: name.to_os_string(),
        })
    }
}

/// A file being written under its temporary name; [`NewFile::publish`] gives it its name.
#[derive(Debug)]
pub struct NewFile {
    /// The open file.
    pub file: File,
    dir: OutDir,
    tmp: OsString,
    name: OsString,
}

impl NewFile {
    /// The temporary path being written.
    pub fn tmp_path(&self) -> PathBuf {
        self.dir.join(&self.tmp)
    }

    /// The final path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Syncs the file and gives it its final name, without replacing anything unless `replace`;
    /// returns the final path. When the name was taken meanwhile, the data stays under the
    /// temporary name (no longer removed on failure) and [`Error::AppearedMeanwhile`] says where.
    pub fn publish(self, replace: bool, created: &Created) -> Result<PathBuf> {
        self.file
            .sync_all()
            .map_err(file_err("sync", &self.tmp_path()))?;
        self.dir.rename_new(&self.tmp, &self.name, replace, created)
    }

    /// [`NewFile::publish`] without the sync, for runs that create many files (`cp` of a tree:
    /// one `fsync` each would cost more than the copy). The caller must make the data durable
    /// before it reports success, once for all files: [`OutDir::sync_filesystem`].
    pub fn publish_unsynced(self, replace: bool, created: &Created) -> Result<PathBuf> {
        self.dir.rename_new(&self.tmp, &self.name, replace, created)
    }
}

impl OutDir {
    /// Renames the recorded temporary entry `tmp` to `name` by the rule of [`NewFile::publish`].
    fn rename_new(
        &self,
        tmp: &OsStr,
        name: &OsStr,
        replace: bool,
        created: &Created,
    ) -> Result<PathBuf> {
        let tmp_path = self.join(tmp);
        let path = self.join(name);
        let fd = &*self.fd;
        let mut entries = created.lock();
        let renamed = if replace {
            if self.entry(name)? == Some(rustix::fs::FileType::Directory) {
                return Err(Error::InvalidTarget {
                    reason: format!("{} is a directory; it is never replaced", path.display()),
                });
            }
            rustix::fs::renameat(fd, tmp, fd, name)
        } else {
            match rustix::fs::renameat_with(fd, tmp, fd, name, RenameFlags::NOREPLACE) {
                // File systems without RENAME_NOREPLACE: a hard link never replaces either.
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    rustix::fs::linkat(fd, tmp, fd, name, AtFlags::empty())
                        .and_then(|()| rustix::fs::unlinkat(fd, tmp, AtFlags::empty()))
                }
                r => r,
            }
        };
        match renamed {
            Ok(()) => {
                // Newest first: the entry was usually just pushed (a run of many files stays
                // linear).
                if let Some(item) = entries.iter_mut().rev().find(|i| i.path == tmp_path) {
                    item.name = name.to_os_string();
                    item.path = path.clone();
                }
                Ok(path)
            }
            Err(Errno::EXIST) => {
                entries.retain(|i| i.path != tmp_path);
                Err(Error::AppearedMeanwhile {
                    path,
                    kept: tmp_path,
                })
            }
            Err(e) => Err(file_err("rename", &tmp_path)(e.into())),
        }
    }

    /// Flushes the whole filesystem this directory is on (`syncfs`): what
    /// [`NewFile::publish_unsynced`] left to the caller, done once.
    pub fn sync_filesystem(&self) -> Result<()> {
        rustix::fs::syncfs(&*self.fd)
            .map_err(|e| file_err("sync the filesystem of", &self.path)(e.into()))
    }

    /// The directory's handle, to set its own metadata (mode, times, owner) once it is filled.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Creates the subdirectory `name` (mode 0700 until the caller sets its own) and records it
    /// in `created`. An existing directory is reused only with `reuse`; a link at `name` is
    /// never followed, and anything else there is an error.
    pub fn subdir(&self, name: &OsStr, reuse: bool, created: &Created) -> Result<OutDir> {
        let path = self.join(name);
        let mut entries = created.lock_to_create(&path)?;
        let made = match rustix::fs::mkdirat(&*self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(Errno::EXIST) if reuse => false,
            Err(Errno::EXIST) => return Err(Error::TargetExists { path }),
            Err(e) => return Err(file_err("create directory", &path)(e.into())),
        };
        if made {
            entries.push(Item {
                dir: Some(Arc::clone(&self.fd)),
                name: name.to_os_string(),
                path: path.clone(),
                is_dir: true,
            });
        }
        drop(entries);
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => Error::InvalidTarget {
                reason: format!("{} exists and is not a directory", path.display()),
            },
            e => file_err("open directory", &path)(e.into()),
        })?;
        Ok(OutDir {
            path,
            fd: Arc::new(fd),
        })
    }

    /// Creates the symlink `name` pointing at `target` by the publish rule: made under the
    /// temporary name, then renamed without replacing (unless `replace`). The target is stored
    /// as given and never followed.
    pub fn symlink_new(
        &self,
        name: &OsStr,
        target: &OsStr,
        replace: bool,
        created: &Created,
    ) -> Result<PathBuf> {
        self.check_absent(name, replace)?;
        let tmp = temp_name(name);
        let tmp_path = self.join(&tmp);
        {
            let mut entries = created.lock_to_create(&tmp_path)?;
            rustix::fs::symlinkat(target, &*self.fd, &tmp)
                .map_err(|e| file_err("create the link", &tmp_path)(e.into()))?;
            entries.push(Item {
                dir: Some(Arc::clone(&self.fd)),
                name: tmp.clone(),
                path: tmp_path,
                is_dir: false,
            });
        }
        self.rename_new(&tmp, name, replace, created)
    }

    /// Makes `name` here a hard link to `src_name` in `src` (a file this run published); never
    /// replaces anything.
    pub fn hardlink_new(
        &self,
        name: &OsStr,
        src: &OutDir,
        src_name: &OsStr,
        created: &Created,
    ) -> Result<PathBuf> {
        let path = self.join(name);
        let mut entries = created.lock_to_create(&path)?;
        rustix::fs::linkat(&*src.fd, src_name, &*self.fd, name, AtFlags::empty()).map_err(|e| {
            match e {
                Errno::EXIST => Error::TargetExists { path: path.clone() },
                e => file_err("create the hard link", &path)(e.into()),
            }
        })?;
        entries.push(Item {
            dir: Some(Arc::clone(&self.fd)),
            name: name.to_os_string(),
            path: path.clone(),
            is_dir: false,
        });
        Ok(path)
    }
}

/// `.NAME.partial-PID`.
pub fn temp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(format!(".partial-{}", pid()));
    t
}

/// True when `name` has the form of a temporary name ([`temp_name`]) of any process.
pub fn is_temp_name(name: &OsStr) -> bool {
    temp_owner(name).is_some()
}

/// The process id in a temporary name.
fn temp_owner(name: &OsStr) -> Option<u32> {
    let b = name.as_bytes();
    let rest = b.strip_prefix(b".")?;
    let at = rest.windows(9).rposition(|w| w == b".partial-")?;
    let pid = std::str::from_utf8(rest.get(at + 9..)?).ok()?;
    if pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Temporary names in `dir` left by processes that no longer run (a SIGKILL, a power cut):
/// every one, or with `of`, only those of that output name.
pub fn leftovers(dir: &OutDir, of: Option<&OsStr>) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(if dir.path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &dir.path
    }) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = read
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| match of {
            Some(of) => {
                let mut prefix = OsString::from(".");
                prefix.push(of);
                prefix.push(".partial-");
                n.as_bytes().starts_with(prefix.as_bytes()) && is_temp_name(n)
            }
            None => is_temp_name(n),
        })
        .filter(|n| temp_owner(n).is_some_and(|pid| !alive(pid)))
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    found
}

/// True when a process with that id runs.
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// One created file or directory.
#[derive(Debug)]
struct Item {
    /// The directory handle a file's name is relative to (`None` for a directory: by path).
    dir: Option<Arc<OwnedFd>>,
    name: OsString,
    path: PathBuf,
    is_dir: bool,
}

type Entries = Vec<Item>;

/// Set by the signal handler before it removes what the live [`Created`] records hold.
static UNDOING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Every live [`Created`], for the signal handler.
static LIVE: Mutex<Vec<Weak<Mutex<Entries>>>> = Mutex::new(Vec::new());

fn lock_live() -> MutexGuard<'static, Vec<Weak<Mutex<Entries>>>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one run created; removed again unless [`Created::commit`] is called (see the module
/// documentation). Share it by reference; it is `Sync`.
#[derive(Debug)]
pub struct Created {
    entries: Arc<Mutex<Entries>>,
    committed: bool,
}

impl Default for Created {
    fn default() -> Self {
        Created::new()
    }
}

impl Created {
    /// An empty record, registered with the signal handler of the [`cleanup`] crate (the binary
    /// calls `cleanup::install()`).
    pub fn new() -> Created {
        static REGISTERED: OnceLock<()> = OnceLock::new();
        REGISTERED.get_or_init(|| {
            cleanup::on_signal(cleanup::Stage::Files, |_| {
                // Before any record is locked: a maker that locks one after its removal sees it.
                UNDOING.store(true, std::sync::atomic::Ordering::SeqCst);
                for e in lock_live().iter().filter_map(Weak::upgrade) {
                    remove(&mut e.lock().unwrap_or_else(|p| p.into_inner()));
                }
            });
        });
        let entries = Arc::new(Mutex::new(Vec::new()));
        let mut live = lock_live();
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&entries));
        Created {
            entries,
            committed: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record, locked, for making `path`: refused once a signal has started undoing the
    /// run. Other threads (`cp`'s writers) may still be making files while the signal thread
    /// removes what was made; whatever they make after its removal would stay behind.
    fn lock_to_create(&self, path: &Path) -> Result<MutexGuard<'_, Entries>> {
        let entries = self.lock();
        if UNDOING.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::File {
                op: "create",
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "interrupted: the run is being undone",
                ),
            });
        }
        Ok(entries)
    }

    /// The paths created so far (temporary names until published), in creation order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().iter().map(|i| i.path.clone()).collect()
    }

    /// Keeps everything: the run succeeded.
    pub fn commit(mut self) {
        self.committed = true;
        self.lock().clear();
    }

    /// Removes everything now (as dropping does).
    pub fn remove_all(&self) {
        remove(&mut self.lock());
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        if !self.committed {
            self.remove_all();
        }
    }
}

/// Removes the entries: files (newest first), then directories (newest first, only if empty).
fn remove(entries: &mut Entries) {
    for item in entries.iter().rev().filter(|i| !i.is_dir) {
        // Best effort: the error that made us clean up is what the user needs to see.
        let _ = match &item.dir {
            Some(fd) => rustix::fs::unlinkat(fd.as_fd(), &item.name, AtFlags::empty()),
            None => rustix::fs::unlink(&item.path),
        };
    }
    for item in entries.iter().rev().filter(|i| i.is_dir) {
        let _ = match &item.dir {
            Some(fd) => rustix::fs::unlinkat(fd.as_fd(), &item.name, AtFlags::REMOVEDIR),
            None => rustix::fs::rmdir(&item.path),
        };
    }
    entries.clear();
}

/// Creates the new file `out` through its temporary name: `write` fills it, then it is synced
/// and published without replacing anything. On failure (or a signal) nothing is left behind.
/// Used for single outputs (`create`, `merge`, `patch`).
pub fn create_new<T, E: From<Error>>(
    out: &Path,
    write: impl FnOnce(&mut File, &Path) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let (dir, name) = OutDir::parent_of(out)?;
    dir.check_absent(&name, false)?;
    let created = Created::new();
    let mut new = dir.create_temp(&name, false, &created)?;
    let tmp = new.tmp_path();
    let value = write(&mut new.file, &tmp)?;
    new.publish(false, &created)?;
    created.commit();
    Ok(value)
}

/// This process's id, asked of the kernel once (a tree copy names thousands of temporary files).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn temp_names_carry_the_pid_and_are_recognised() {
        let t = temp_name(OsStr::new("disk-drive-scsi0.raw"));
        let s = t.to_string_lossy().into_owned();
        assert_eq!(
            s,
            format!(".disk-drive-scsi0.raw.partial-{}", std::process::id())
        );
        assert!(is_temp_name(&t));
        assert_eq!(temp_owner(OsStr::new(".a.partial-12")), Some(12));
        for not in [
            "a.partial-12",
            ".a.partial-",
            ".a.partial-1x",
            ".a",
            "partial-1",
        ] {
            assert!(!is_temp_name(OsStr::new(not)), "{not}");
        }
    }

    #[test]
    fn a_planted_link_at_the_temporary_name_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, b"precious").unwrap();
        let dir = d.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        let name = OsStr::new("x.raw");
        std::os::unix::fs::symlink(&outside, dir.join(temp_name(name))).unwrap();
        let out = OutDir::open(&dir).unwrap();
        let created = Created::new();
        let e = out.create_temp(name, false, &created).unwrap_err();
        assert!(matches!(e, Error::TargetExists { .. }), "{e}");
        // With replace, the link itself is removed, not its target.
        let mut f = out.create_temp(name, true, &created).unwrap();
        std::io::Write::write_all(&mut f.file, b"new").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        let p = f.publish(false, &created).unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"new");
        created.commit();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    }

    #[test]
    fn publishing_never_replaces_a_name_taken_meanwhile() {
        let d = tempfile::tempdir().unwrap();
        let out = OutDir::open(d.path()).unwrap();
        let created = Created::new();
        let mut f = out
            .create_temp(OsStr::new("disk.raw"), false, &created)
            .unwrap();
        std::io::Write::write_all(&mut f.file, b"restored").unwrap();
        std::fs::write(d.path().join("disk.raw"), b"theirs").unwrap();
        let e = f.publish(false, &created).unwrap_err();
        let Error::AppearedMeanwhile { kept, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(std::fs::read(d.path().join("disk.raw")).unwrap(), b"theirs");
        drop(created);
        // The restored data survives the cleanup of the failed run.
        assert_eq!(std::fs::read(kept).unwrap(), b"restored");
    }

    #[test]
    fn dropping_without_commit_removes_files_then_directories() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("new");
        let created = Created::new();
        let out = OutDir::create(&dir, false, &created).unwrap();
        let f = out.create_temp(OsStr::new("a"), false, &created).unwrap();
        f.publish(false, &created).unwrap();
        let _g = out.create_temp(OsStr::new("b"), false, &created).unwrap();
        drop(created);
        assert!(!dir.exists());
    }

    #[test]
    fn a_tree_is_made_under_a_temporary_name_and_removed_whole_even_after_its_publish() {
        let d = tempfile::tempdir().unwrap();
        let out = OutDir::open(d.path()).unwrap();
        let name = OsStr::new("etc");
        let created = Created::new();
        let (tree, tmp) = out.subdir_temp(name, &created).unwrap();
        assert_eq!(tmp, temp_name(name));
        let sub = tree.subdir(OsStr::new("nginx"), false, &created).unwrap();
        std::io::Write::write_all(
            &mut sub
                .create_new_file(OsStr::new("nginx.conf"), &created)
                .unwrap(),
            b"conf",
        )
        .unwrap();
        // Never over an existing file, even under its own name.
        let e = sub
            .create_new_file(OsStr::new("nginx.conf"), &created)
            .unwrap_err();
        assert!(matches!(e, Error::TargetExists { .. }), "{e}");
        assert!(
            !d.path().join("etc").exists(),
            "nothing under the final name yet"
        );
        out.publish_dir(&tmp, name, &created).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("etc/nginx/nginx.conf")).unwrap(),
            b"conf"
        );
        // A failure after the publish (the sync, a later file) still removes all of it: the
        // records are relative to directory handles, not to paths the rename changed.
        drop(created);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        // And an existing name is refused before anything is made.
        std::fs::create_dir(d.path().join("etc")).unwrap();
        let created = Created::new();
        let e = out.subdir_temp(name, &created).unwrap_err();
        assert!(matches!(e, Error::TargetExists { .. }), "{e}");
    }

    #[test]
    fn an_existing_directory_left_by_a_killed_run_is_named() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("restore");
        std::fs::create_dir(&dir).unwrap();
        // No process has pid 2^22 + 1 (above the kernel's pid_max limit).
        std::fs::write(dir.join(".disk-drive-scsi0.raw.partial-4194305"), b"").unwrap();
        let e = OutDir::create(&dir, false, &Created::new()).unwrap_err();
        let Error::Leftovers { files, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(files.len(), 1);
        assert!(e.hint().unwrap().contains("--force"), "{:?}", e.hint());
    }
}
