//! ext2/3/4 through the `ext4-view` crate.

use ext4_view::{Ext4, Ext4Error, Metadata};

use crate::ext4fast::Fast;
use crate::io::ExtReader;
use crate::{
    Entry, Error, FileReader, FileType, Kind, MAX_DIR_ENTRIES, Result, Stat, Tree, View,
    components, show,
};

/// Incompatible feature bits of the superblock (`s_feature_incompat`, at byte 0x460 of the
/// filesystem), with the names `mke2fs`/`dumpe2fs` give them.
const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x100, "mmp"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x1_0000, "encrypt"),
    (0x2_0000, "casefold"),
];

/// What `ext4-view` reads among those bits: the rest name themselves in the error.
const INCOMPAT_READ: u32 = 0x2 | 0x4 | 0x40 | 0x80 | 0x200 | 0x2000 | 0x1_0000;

/// An ext2/3/4 filesystem.
pub(crate) struct Ext {
    fs: Ext4,
    /// Listing and reading by inode, where it applies (see [`crate::ext4fast`]).
    fast: Option<Fast>,
}

impl Ext {
    pub(crate) fn open(view: View) -> Result<Ext> {
        // Name refused features first, in e2fsprogs' words, rather than as the crate's bit set.
        let mut sb = [0u8; 4];
        view.read_exact_at(&mut sb, 0x460)
            .map_err(|source| Error::Io {
                at: 0x460,
                len: 4,
                source,
            })?;
        let incompat = u32::from_le_bytes(sb);
        let refused: Vec<&str> = INCOMPAT_NAMES
            .iter()
            .filter(|(bit, _)| incompat & bit != 0 && INCOMPAT_READ & bit == 0)
            .map(|(_, name)| *name)
            .collect();
        if !refused.is_empty() {
            return Err(Error::Feature {
                fs: "ext4",
                feature: refused.join(", "),
            });
        }
        if incompat & 0x2 == 0 {
            return Err(Error::Feature {
                fs: "ext4",
                feature: "no filetype (directory entries without file types)".into(),
            });
        }
        check_group_table(&view)?;
        let fs = Ext4::load(Box::new(ExtReader(view.clone()))).map_err(|e| map(e, b"/"))?;
        Ok(Ext {
            fs,
            fast: Fast::new(&view)?,
        })
    }

    fn path(path: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(path.len() + 1);
        for c in components(path) {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    fn meta(&self, path: &[u8], follow: bool) -> Result<Stat> {
        let p = Ext::path(path);
        let ep = ext4_view::Path::try_from(p.as_slice())
            .map_err(|_| Error::NotFound { path: show(path) })?;
        let m = if follow {
            self.fs.metadata(ep)
        } else {
            self.fs.symlink_metadata(ep)
        }
        .map_err(|e| map(e, path))?;
        let ino = if m.file_type().is_regular_file() {
            self.inode_of(&p)
        } else {
            None
        };
        Ok(stat(&m, ino))
    }

    /// The inode number of a regular file. `ext4-view` 1.0 keeps it private but shows it in the
    /// `Debug` form of an open file (`File { inode: 12, .. }`); a test pins that form.
    fn inode_of(&self, path: &[u8]) -> Option<u64> {
        let f = self.fs.open(ext4_view::Path::try_from(path).ok()?).ok()?;
        inode_from_debug(&format!("{f:?}"))
    }
}

/// Refuses a superblock whose group descriptor table could not fit in the image: `ext4-view`
/// allocates the whole table from the superblock's counts before it reads it (the fuzz target
/// found a few bytes claiming billions of groups).
fn check_group_table(view: &View) -> Result<()> {
    let mut sb = [0u8; 1024];
    view.read_exact_at(&mut sb, 1024)
        .map_err(|source| Error::Io {
            at: 1024,
            len: 1024,
            source,
        })?;
    let le32 = |at: usize| crate::ext4fast::le32(&sb, at);
    let is64 = le32(0x60) & 0x80 != 0;
    // The high half counts whatever the 64bit feature says: ext4-view reads it so.
    let blocks = u64::from(le32(0x4)) | u64::from(le32(0x150)) << 32;
    let per_group = u64::from(le32(0x20)).max(1);
    let desc = if is64 {
        u64::from(crate::ext4fast::le16(&sb, 0xFE)).max(32)
    } else {
        32
    };
    let groups = blocks
        .saturating_sub(u64::from(le32(0x14)))
        .div_ceil(per_group);
    let table = groups.saturating_mul(desc);
    if table > view.size() {
        return Err(Error::corrupt(
            "ext4",
            1024,
            format!(
                "the superblock counts {blocks} blocks in {groups} groups: their descriptors \
                 ({table} bytes) cannot fit in this {} byte image",
                view.size()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn inode_from_debug(debug: &str) -> Option<u64> {
    let rest = &debug[debug.find("inode: ")? + 7..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn stat(m: &Metadata, ino: Option<u64>) -> Stat {
    let t = m.file_type();
    let kind = if t.is_regular_file() {
        FileType::File
    } else if t.is_dir() {
        FileType::Dir
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_block_dev() {
        FileType::BlockDevice
    } else if t.is_char_dev() {
        FileType::CharDevice
    } else if t.is_fifo() {
        FileType::Fifo
    } else if t.is_socket() {
        FileType::Socket
    } else {
        FileType::Other
    };
    Stat {
        kind,
        mode: u32::from(m.mode()),
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        size: m.len(),
        mtime: m.modified().seconds(),
        mtime_nsec: m.modified().nanoseconds(),
        ino,
        rdev: 0,
    }
}

fn map(e: Ext4Error, path: &[u8]) -> Error {
    let path = show(path);
    match e {
        Ext4Error::NotFound => Error::NotFound { path },
        Ext4Error::NotADirectory => Error::NotADirectory { path },
        Ext4Error::IsADirectory => Error::NotAFile {
            path,
            kind: "directory",
        },
        Ext4Error::IsASpecialFile => Error::NotAFile {
            path,
            kind: "special file",
        },
        Ext4Error::NotASymlink => Error::NotAFile {
            path,
            kind: "file that is no symlink",
        },
        Ext4Error::Encrypted => Error::Feature {
            fs: "ext4",
            feature: format!("encrypt ({path} is in an encrypted directory)"),
        },
        Ext4Error::Incompatible(i) => Error::Feature {
            fs: "ext4",
            feature: i.to_string(),
        },
        Ext4Error::Io(source) => Error::Io {
            at: 0,
            len: 0,
            source: std::io::Error::other(source),
        },
        other => Error::corrupt("ext4", 0, format!("{path}: {other}")),
    }
}

impl Tree for Ext {
    fn kind(&self) -> Kind {
        Kind::Ext
    }

    fn label(&self) -> Option<String> {
        let l = self.fs.label().to_str().ok()?.to_owned();
        (!l.is_empty()).then_some(l)
    }

    fn stat(&self, path: &[u8]) -> Result<Stat> {
        self.meta(path, true)
    }

    fn lstat(&self, path: &[u8]) -> Result<Stat> {
        self.meta(path, false)
    }

    fn list(&self, path: &[u8]) -> Result<Vec<Entry>> {
        if let Some(f) = &self.fast {
            let comps = components(path);
            if let Some(ino) = f.lookup(&comps)?
                && let Some(list) = f.list(ino, &show(path))?
            {
                return Ok(list);
            }
        }
        let p = Ext::path(path);
        let ep = ext4_view::Path::try_from(p.as_slice())
            .map_err(|_| Error::NotFound { path: show(path) })?;
        let mut out = Vec::new();
        for e in self.fs.read_dir(ep).map_err(|e| map(e, path))? {
            let e = e.map_err(|e| map(e, path))?;
            let name = e.file_name().as_ref().to_vec();
            if name == b"." || name == b".." {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(Error::Limit {
                    what: format!("entries in directory {}", show(path)),
                    value: out.len() as u64 + 1,
                    limit: MAX_DIR_ENTRIES as u64,
                });
            }
            let m = e.metadata().map_err(|e| map(e, path))?;
            // The inode number costs a path lookup here; readers know it ([`FileReader::ino`]).
            out.push(Entry {
                stat: stat(&m, None),
                name,
            });
        }
        Ok(out)
    }

    fn open<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>> {
        if let Some(f) = &self.fast {
            let comps = components(path);
            if let Some(ino) = f.lookup(&comps)?
                && let Some(file) = f.open(ino)?
            {
                return Ok(Box::new(file));
            }
        }
        let p = Ext::path(path);
        let ep = ext4_view::Path::try_from(p.as_slice())
            .map_err(|_| Error::NotFound { path: show(path) })?;
        let file = self.fs.open(ep).map_err(|e| map(e, path))?;
        Ok(Box::new(ExtFile {
            ino: inode_from_debug(&format!("{file:?}")),
            file,
            path: path.to_vec(),
        }))
    }

    fn open_entry<'a>(&'a self, path: &[u8], st: &Stat) -> Result<Box<dyn FileReader + 'a>> {
        if let (Some(f), Some(ino)) = (&self.fast, st.ino.and_then(|i| u32::try_from(i).ok()))
            && st.kind == FileType::File
            && let Some(file) = f.open(ino)?
        {
            return Ok(Box::new(file));
        }
        self.open(path)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>> {
        let p = Ext::path(path);
        let ep = ext4_view::Path::try_from(p.as_slice())
            .map_err(|_| Error::NotFound { path: show(path) })?;
        let t = self.fs.read_link(ep).map_err(|e| map(e, path))?;
        Ok(t.as_ref().to_vec())
    }
}

struct ExtFile {
    file: ext4_view::File,
    path: Vec<u8>,
    ino: Option<u64>,
}

impl FileReader for ExtFile {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        // `read_bytes` stops at block ends: fill the buffer in one call where we can.
        let mut done = 0;
        while done < buf.len() {
            let n = self
                .file
                .read_bytes(&mut buf[done..])
                .map_err(|e| map(e, &self.path))?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.file.seek_to(pos).map_err(|e| map(e, &self.path))
    }

    fn ino(&self) -> Option<u64> {
        self.ino
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_group_table_larger_than_the_image_is_refused_before_anything_is_allocated() {
        // The fuzz target's case: a few KiB claiming 2^32 blocks in groups of 8.
        let mut img = vec![0u8; 4096];
        img[1024 + 0x4..1024 + 0x8].copy_from_slice(&u32::MAX.to_le_bytes());
        img[1024 + 0x20..1024 + 0x24].copy_from_slice(&8u32.to_le_bytes());
        img[1024 + 0x38..1024 + 0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
        let view: crate::View = std::sync::Arc::new(img);
        let e = super::check_group_table(&view)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("cannot fit in this 4096 byte image"), "{e}");
        // The high half of the block count, which ext4-view reads even without 64bit.
        let mut img = vec![0u8; 4096];
        img[1024 + 0x4..1024 + 0x8].copy_from_slice(&128u32.to_le_bytes());
        img[1024 + 0x20..1024 + 0x24].copy_from_slice(&8192u32.to_le_bytes());
        img[1024 + 0x150..1024 + 0x154].copy_from_slice(&1u32.to_le_bytes());
        let view: crate::View = std::sync::Arc::new(img);
        assert!(super::check_group_table(&view).is_err());
    }

    #[test]
    fn inode_from_debug() {
        assert_eq!(
            super::inode_from_debug("File { inode: 12, position: 0, .. }"),
            Some(12)
        );
        assert_eq!(super::inode_from_debug("File { .. }"), None);
    }
}
