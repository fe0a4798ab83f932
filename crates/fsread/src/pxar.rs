//! A pxar archive (the file tree of a container or host backup) behind [`Tree`], so that
//! `ls`, `cp` and `cat` browse it like a filesystem. Paths are resolved through the archive's
//! goodbye tables ([`pxar::Archive::lookup`]), symlinks followed inside the archive (at most
//! [`MAX_SYMLINKS`] a path, never above its root), hardlinks read as the file they name.

use std::collections::VecDeque;

use crate::{Entry, Error, FileReader, FileType, Kind, MAX_SYMLINKS, Result, Stat, Tree, View};

/// The tree of one pxar archive: unified, or split into a metadata and a payload stream.
pub struct Pxar {
    ar: pxar::Archive<View>,
}

impl Pxar {
    /// Opens the archive `name` (for messages) from `meta` and, for a split archive, `payload`.
    pub fn open(meta: View, payload: Option<View>, name: &str) -> Result<Pxar> {
        Ok(Pxar {
            ar: pxar::Archive::open(meta, payload, name).map_err(convert)?,
        })
    }

    /// The entry at `path`: symlinks followed (the last one only when `follow`), hardlinks
    /// replaced by their target.
    fn resolve(&self, path: &[u8], follow: bool) -> Result<pxar::Entry> {
        let mut todo: VecDeque<Vec<u8>> = split(path).into();
        let mut at: Vec<Vec<u8>> = Vec::new();
        let mut links = 0usize;
        while let Some(c) = todo.pop_front() {
            if c == b".." {
                at.pop();
                continue;
            }
            at.push(c);
            let e = self.entry(&at.join(&b'/'), path)?;
            if let pxar::Kind::Symlink(target) = &e.kind
                && (follow || !todo.is_empty())
            {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::Limit {
                        what: format!("symlinks followed for {}", crate::show(path)),
                        value: links as u64,
                        limit: MAX_SYMLINKS as u64,
                    });
                }
                at.pop();
                if target.starts_with(b"/") {
                    at.clear();
                }
                for (i, t) in split(target).into_iter().enumerate() {
                    todo.insert(i, t);
                }
                continue;
            }
            if !todo.is_empty() && !e.is_dir() {
                return Err(Error::NotADirectory {
                    path: crate::show(path),
                });
            }
        }
        self.entry(&at.join(&b'/'), path)
    }

    /// The entry at the archive path `at` (a hardlink replaced by its target); `asked` for
    /// messages.
    fn entry(&self, at: &[u8], asked: &[u8]) -> Result<pxar::Entry> {
        let e = self.ar.lookup(at).map_err(|e| match e {
            pxar::Error::NotFound { .. } => Error::NotFound {
                path: crate::show(asked),
            },
            e => convert(e),
        })?;
        self.target(e)
    }

    /// A hardlink's target entry; anything else as it is.
    fn target(&self, e: pxar::Entry) -> Result<pxar::Entry> {
        let pxar::Kind::Hardlink { target, .. } = &e.kind else {
            return Ok(e);
        };
        let t = self.ar.lookup(target).map_err(convert)?;
        if matches!(
            t.kind,
            pxar::Kind::Hardlink { .. } | pxar::Kind::Directory { .. }
        ) {
            return Err(Error::corrupt(
                "pxar hardlink",
                e.entry_at,
                format!(
                    "{} links to {}, which is {}",
                    e.display_path(),
                    t.display_path(),
                    t.kind.word()
                ),
            ));
        }
        Ok(t)
    }
}

/// The components of a path, empty ones and `.` left out (`..` kept: resolved against the
/// archive's own directories).
fn split(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// A pxar error as this crate's: damage is a [`Error::Corrupt`] naming the archive and offset.
fn convert(e: pxar::Error) -> Error {
    match e {
        pxar::Error::NotFound { path, .. } => Error::NotFound { path },
        e => Error::Corrupt {
            what: "pxar archive",
            at: 0,
            reason: e.to_string(),
        },
    }
}

fn stat_of(e: &pxar::Entry) -> Stat {
    let m = &e.metadata;
    let (kind, size, rdev) = match &e.kind {
        pxar::Kind::Directory { .. } => (FileType::Dir, 0, 0),
        pxar::Kind::File { size, .. } => (FileType::File, *size, 0),
        pxar::Kind::Symlink(t) => (FileType::Symlink, t.len() as u64, 0),
        pxar::Kind::BlockDevice { major, minor } => (FileType::BlockDevice, 0, major << 32 | minor),
        pxar::Kind::CharDevice { major, minor } => (FileType::CharDevice, 0, major << 32 | minor),
        pxar::Kind::Fifo => (FileType::Fifo, 0, 0),
        pxar::Kind::Socket => (FileType::Socket, 0, 0),
        pxar::Kind::Hardlink { .. } => (FileType::Other, 0, 0),
    };
    Stat {
        kind,
        mode: m.permissions(),
        uid: Some(m.uid),
        gid: Some(m.gid),
        size,
        mtime: m.mtime_secs,
        mtime_nsec: m.mtime_nanos,
        // Hardlinks resolve to their target, so they share its entry offset.
        ino: matches!(kind, FileType::File).then_some(e.entry_at),
        rdev,
    }
}

impl Tree for Pxar {
    fn kind(&self) -> Kind {
        Kind::Pxar
    }

    fn label(&self) -> Option<String> {
        None
    }

    fn stat(&self, path: &[u8]) -> Result<Stat> {
        Ok(stat_of(&self.resolve(path, true)?))
    }

    fn lstat(&self, path: &[u8]) -> Result<Stat> {
        Ok(stat_of(&self.resolve(path, false)?))
    }

    fn list(&self, path: &[u8]) -> Result<Vec<Entry>> {
        let dir = self.resolve(path, true)?;
        if !dir.is_dir() {
            return Err(Error::NotADirectory {
                path: crate::show(path),
            });
        }
        let children = self.ar.read_dir(&dir).map_err(convert)?;
        let mut out = Vec::with_capacity(children.len());
        for c in children {
            let name = c.name().to_vec();
            let c = self.target(c)?;
            out.push(Entry {
                name,
                stat: stat_of(&c),
            });
        }
        Ok(out)
    }

    fn open<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>> {
        let e = self.resolve(path, true)?;
        if !matches!(e.kind, pxar::Kind::File { .. }) {
            return Err(Error::NotAFile {
                path: crate::show(path),
                kind: stat_of(&e).kind.word(),
            });
        }
        let (stream, range) = self.ar.data_range(&e).map_err(convert)?;
        Ok(Box::new(Reader {
            tree: self,
            stream,
            range,
            pos: 0,
            ino: e.entry_at,
        }))
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>> {
        match self.resolve(path, false)?.kind {
            pxar::Kind::Symlink(t) => Ok(t),
            other => Err(Error::NotAFile {
                path: crate::show(path),
                kind: if matches!(other, pxar::Kind::Directory { .. }) {
                    "directory"
                } else {
                    "file that is no symlink"
                },
            }),
        }
    }
}

struct Reader<'a> {
    tree: &'a Pxar,
    stream: pxar::Stream,
    range: std::ops::Range<u64>,
    pos: u64,
    ino: u64,
}

impl FileReader for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self
            .tree
            .ar
            .read_range(self.stream, &self.range, buf, self.pos)
            .map_err(convert)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.pos = pos;
        Ok(())
    }

    fn ino(&self) -> Option<u64> {
        Some(self.ino)
    }
}
