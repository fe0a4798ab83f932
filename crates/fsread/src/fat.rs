//! FAT12/16/32 with long names through the `fatfs` crate.

use std::io::{Read, Seek, SeekFrom};

use fatfs::{Dir, DirEntry, FileSystem, FsOptions};

use crate::io::Cursor;
use crate::{Entry, Error, FileReader, FileType, Kind, Result, Stat, Tree, View, components, show};

/// FAT allows 65 536 entries in a directory; a looping cluster chain stops here.
const MAX_FAT_ENTRIES: usize = 65_536;

/// FAT directories can nest this deep at most (a path of 2-byte names fills 4 KiB); a cluster
/// chain that loops back to an ancestor stops here.
const MAX_FAT_DEPTH: usize = 2048;

/// A FAT filesystem.
pub(crate) struct Fat {
    fs: FileSystem<Cursor>,
}

impl Fat {
    pub(crate) fn open(view: View) -> Result<Fat> {
        let fs = FileSystem::new(Cursor::new(view), FsOptions::new())
            .map_err(|e| Error::corrupt("FAT boot sector", 0, e.to_string()))?;
        Ok(Fat { fs })
    }

    /// The entry named by `path`, or `None` for the root.
    fn find(&self, path: &[u8]) -> Result<Option<DirEntry<'_, Cursor>>> {
        let comps = components(path);
        if comps.len() > MAX_FAT_DEPTH {
            return Err(Error::Limit {
                what: format!("depth of {}", show(path)),
                value: comps.len() as u64,
                limit: MAX_FAT_DEPTH as u64,
            });
        }
        let mut dir = self.fs.root_dir();
        let mut found = None;
        for (i, c) in comps.iter().enumerate() {
            let want = String::from_utf8_lossy(c).to_lowercase();
            let mut hit = None;
            for (n, e) in dir.iter().enumerate() {
                if n >= MAX_FAT_ENTRIES {
                    return Err(too_many(path));
                }
                let e = e.map_err(|e| io_err(path, e))?;
                if e.file_name().to_lowercase() == want
                    || e.short_file_name().to_lowercase() == want
                {
                    hit = Some(e);
                    break;
                }
            }
            let e = hit.ok_or_else(|| Error::NotFound { path: show(path) })?;
            if i + 1 < comps.len() {
                if !e.is_dir() {
                    return Err(Error::NotADirectory { path: show(path) });
                }
                dir = e.to_dir();
            }
            found = Some(e);
        }
        Ok(found)
    }

    fn dir(&self, path: &[u8]) -> Result<Dir<'_, Cursor>> {
        match self.find(path)? {
            None => Ok(self.fs.root_dir()),
            Some(e) if e.is_dir() => Ok(e.to_dir()),
            Some(_) => Err(Error::NotADirectory { path: show(path) }),
        }
    }
}

fn too_many(path: &[u8]) -> Error {
    Error::Limit {
        what: format!(
            "entries in directory {} (a looping cluster chain?)",
            show(path)
        ),
        value: MAX_FAT_ENTRIES as u64 + 1,
        limit: MAX_FAT_ENTRIES as u64,
    }
}

fn io_err(path: &[u8], e: std::io::Error) -> Error {
    Error::corrupt("FAT directory", 0, format!("{}: {e}", show(path)))
}

fn stat(e: &DirEntry<'_, Cursor>) -> Stat {
    let m = e.modified();
    let dir = e.is_dir();
    let read_only = e.attributes().contains(fatfs::FileAttributes::READ_ONLY);
    Stat {
        kind: if dir { FileType::Dir } else { FileType::File },
        mode: match (dir, read_only) {
            (true, _) => 0o755,
            (false, false) => 0o644,
            (false, true) => 0o444,
        },
        uid: None,
        gid: None,
        size: if dir { 0 } else { e.len() },
        mtime: unix_time(
            i64::from(m.date.year),
            i64::from(m.date.month),
            i64::from(m.date.day),
        ) + i64::from(m.time.hour) * 3600
            + i64::from(m.time.min) * 60
            + i64::from(m.time.sec),
        mtime_nsec: u32::from(m.time.millis.min(999)) * 1_000_000,
        ino: None,
        rdev: 0,
    }
}

/// Seconds from 1970-01-01 to the start of a day (UTC), by the proleptic Gregorian calendar;
/// any input gives some number (a hostile month 0 or day 31 of February must not panic).
pub(crate) fn unix_time(year: i64, month: i64, day: i64) -> i64 {
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month.clamp(1, 12);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day.clamp(1, 31) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

impl Tree for Fat {
    fn kind(&self) -> Kind {
        Kind::Fat
    }

    fn label(&self) -> Option<String> {
        let l = self.fs.volume_label().trim().to_owned();
        (!l.is_empty() && l != "NO NAME").then_some(l)
    }

    fn stat(&self, path: &[u8]) -> Result<Stat> {
        Ok(match self.find(path)? {
            Some(e) => stat(&e),
            None => Stat {
                kind: FileType::Dir,
                mode: 0o755,
                uid: None,
                gid: None,
                size: 0,
                mtime: 0,
                mtime_nsec: 0,
                ino: None,
                rdev: 0,
            },
        })
    }

    fn lstat(&self, path: &[u8]) -> Result<Stat> {
        self.stat(path)
    }

    fn list(&self, path: &[u8]) -> Result<Vec<Entry>> {
        let dir = self.dir(path)?;
        let mut out = Vec::new();
        for (n, e) in dir.iter().enumerate() {
            if n >= MAX_FAT_ENTRIES {
                return Err(too_many(path));
            }
            let e = e.map_err(|e| io_err(path, e))?;
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            out.push(Entry {
                stat: stat(&e),
                name: name.into_bytes(),
            });
        }
        Ok(out)
    }

    fn open<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>> {
        match self.find(path)? {
            Some(e) if e.is_file() => Ok(Box::new(FatFile {
                file: e.to_file(),
                path: path.to_vec(),
            })),
            Some(_) | None => Err(Error::NotAFile {
                path: show(path),
                kind: "directory",
            }),
        }
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>> {
        self.find(path)?;
        Err(Error::NotAFile {
            path: show(path),
            kind: "file that is no symlink",
        })
    }
}

struct FatFile<'a> {
    file: fatfs::File<'a, Cursor>,
    path: Vec<u8>,
}

impl FileReader for FatFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = self
                .file
                .read(&mut buf[done..])
                .map_err(|e| Error::corrupt("FAT file", 0, format!("{}: {e}", show(&self.path))))?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(pos))
            .map(|_| ())
            .map_err(|e| Error::corrupt("FAT file", 0, format!("{}: {e}", show(&self.path))))
    }
}

#[cfg(test)]
mod tests {
    use super::unix_time;

    #[test]
    fn days() {
        // Values from `date -u -d 2024-02-29 +%s` and friends.
        assert_eq!(unix_time(1970, 1, 1), 0);
        assert_eq!(unix_time(1980, 1, 1), 315_532_800);
        assert_eq!(unix_time(2024, 2, 29), 1_709_164_800);
        assert_eq!(unix_time(2107, 12, 31), 4_354_732_800);
        // Hostile values give a number, not a panic.
        let _ = unix_time(1980, 0, 0);
        let _ = unix_time(2107, 15, 31);
    }
}
