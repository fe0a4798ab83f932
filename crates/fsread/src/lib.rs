//! Files out of a filesystem image without mounting it: ext2/3/4, FAT12/16/32 and NTFS.
//!
//! Most restores are not whole disks but a directory or one file, often on a machine that has
//! no driver for the guest's filesystem or no right to mount. This crate reads the filesystem
//! straight from a [`diskview::ReadAt`] (a partition [`diskview::Window`] of a raw image, a PBS
//! fixed image, an indexed VMA…), in userspace, through one small interface, [`Tree`]:
//!
//! - [`Tree::stat`] / [`Tree::lstat`]: a path's [`Stat`] (type, mode, owner, size, mtime, an
//!   inode-like [`Stat::ino`] for hardlinks), following the last symlink or not;
//! - [`Tree::list`]: a directory's [`Entry`]s (without `.` and `..`);
//! - [`Tree::open`]: a sequential [`FileReader`] over a regular file, and [`Tree::read_range`] for
//!   one byte range;
//! - [`Tree::read_link`]: a symlink's target.
//!
//! [`open`] recognises the filesystem by content and returns a boxed [`Tree`]. Each filesystem
//! comes from a well-kept crate: [`ext4-view`](https://docs.rs/ext4-view) (ext2/3/4, journal
//! replayed in memory, refuses what it cannot read: `inline_data`, `large_dir`, `meta_bg`,
//! `ea_inode`, `mmp`, encrypted directories; those refusals name the feature here),
//! [`fatfs`](https://docs.rs/fatfs) (FAT12/16/32 with long names; its times carry no zone and
//! are read as UTC) and [`ntfs`](https://docs.rs/ntfs) (resident, non-resident, sparse and
//! attribute-list data). What `ntfs` leaves out, LZNT1-compressed files, is in [`lznt1`] here.
//! XFS, btrfs, exFAT and the like are refused with [`Error::Unsupported`] saying that
//! `pverescue mount` is the route; LUKS and LVM physical volumes say what to do instead.
//!
//! Paths are byte strings, `/`-separated, relative to the filesystem root (a leading `/` is
//! optional). Names in [`Entry::name`] are raw bytes (UTF-8 for FAT and NTFS): a consumer that
//! writes them to a disk checks them with [`safe_name`] first, since a hostile image can hold
//! names with `/`, `..` or NUL.
//!
//! The interface is deliberately small so that other trees can sit behind it: a pxar archive
//! (PBS container backups) implements [`Tree`] the same way.
//!
//! # Non-goals
//!
//! Writing, extended attributes and ACLs, alternate data streams, NTFS encryption (EFS),
//! HFS+/APFS/UFS.
//!
//! # Example
//!
//! ```
//! // Not a filesystem: the error says what was found.
//! let disk = std::sync::Arc::new(vec![0u8; 1 << 16]);
//! let err = fsread::open(disk).err().expect("zeros are no filesystem");
//! assert!(err.to_string().contains("unknown data"));
//! ```
#![deny(missing_docs)]

mod error;
mod ext4;
mod ext4fast;
mod fat;
mod io;
pub mod lznt1;
mod ntfs;
mod probe;
pub mod pxar;

use std::sync::Arc;

use diskview::ReadAt;
use serde::Serialize;

pub use error::{Error, Result};
pub use probe::{Kind, probe};

/// A disk view a filesystem can keep.
pub type View = Arc<dyn ReadAt + Send + Sync>;

/// At most this many entries in one directory (ext4 allows about 10⁷ with `large_dir`, FAT
/// 65 536): a looping directory of a hostile image stops here.
pub const MAX_DIR_ENTRIES: usize = 4 << 20;

/// Symlinks are followed at most this many times while resolving one path (as Linux does).
pub const MAX_SYMLINKS: usize = 40;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A block device node.
    BlockDevice,
    /// A character device node.
    CharDevice,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// Something this crate cannot copy (an NTFS reparse point that is no symlink…).
    Other,
}

impl FileType {
    /// The letter `ls -l` shows.
    pub fn letter(self) -> char {
        match self {
            FileType::File => '-',
            FileType::Dir => 'd',
            FileType::Symlink => 'l',
            FileType::BlockDevice => 'b',
            FileType::CharDevice => 'c',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
            FileType::Other => '?',
        }
    }

    /// A word for messages.
    pub fn word(self) -> &'static str {
        match self {
            FileType::File => "regular file",
            FileType::Dir => "directory",
            FileType::Symlink => "symlink",
            FileType::BlockDevice => "block device",
            FileType::CharDevice => "character device",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::Other => "special file",
        }
    }
}

/// What is known about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stat {
    /// Its type.
    pub kind: FileType,
    /// Permission bits with setuid, setgid and sticky (`0o7777` at most). FAT and NTFS have
    /// none: directories get `0o755`, files `0o644` (`0o444` when read-only).
    pub mode: u32,
    /// Owner; `None` where the filesystem has no Unix owners.
    pub uid: Option<u32>,
    /// Group; `None` where the filesystem has no Unix owners.
    pub gid: Option<u32>,
    /// Size in bytes (a symlink's: its target's length).
    pub size: u64,
    /// Last modification, seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// Nanoseconds of `mtime`.
    pub mtime_nsec: u32,
    /// An identity shared by hardlinks of one file (inode or MFT record number); `None` where
    /// the filesystem has no hardlinks (FAT), and in ext4 listings (open the file:
    /// [`FileReader::ino`]).
    pub ino: Option<u64>,
    /// Device number of a device node (`major << 32 | minor`), else 0.
    pub rdev: u64,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The raw name (UTF-8 for FAT and NTFS); never `.` or `..`, but otherwise as the image
    /// says: check it with [`safe_name`] before using it as a file name.
    pub name: Vec<u8>,
    /// What it is (the entry itself: symlinks are not followed).
    pub stat: Stat,
}

/// Sequential reading of one regular file.
pub trait FileReader {
    /// Reads up to `buf.len()` bytes at the current position; `Ok(0)` at the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;

    /// Moves to `pos` bytes from the start.
    fn seek(&mut self, pos: u64) -> Result<()>;

    /// The file's identity shared by its hardlinks ([`Stat::ino`]), where the filesystem has
    /// one. Cheaper here than in listings for ext4, whose reader knows it only once a file is
    /// open.
    fn ino(&self) -> Option<u64> {
        None
    }
}

/// A filesystem (or an archive's file tree) read through paths.
pub trait Tree {
    /// Which filesystem this is.
    fn kind(&self) -> Kind;

    /// The volume label, if the filesystem has one.
    fn label(&self) -> Option<String>;

    /// The [`Stat`] of `path`, following symlinks.
    fn stat(&self, path: &[u8]) -> Result<Stat>;

    /// The [`Stat`] of `path` itself (a symlink is not followed).
    fn lstat(&self, path: &[u8]) -> Result<Stat>;

    /// The entries of the directory `path` (following symlinks), without `.` and `..`, in the
    /// filesystem's order.
    fn list(&self, path: &[u8]) -> Result<Vec<Entry>>;

    /// A reader over the regular file `path` (following symlinks).
    fn open<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>>;

    /// [`Tree::open`] of an entry a listing returned, with that entry's [`Stat`]: where the
    /// filesystem can open it by what the listing found (ext4: the inode number) instead of
    /// resolving `path` again.
    fn open_entry<'a>(&'a self, path: &[u8], st: &Stat) -> Result<Box<dyn FileReader + 'a>> {
        let _ = st;
        self.open(path)
    }

    /// The target of the symlink `path`.
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>>;

    /// Reads up to `len` bytes of `path` from `offset` (fewer at the end of the file).
    fn read_range(&self, path: &[u8], offset: u64, len: usize) -> Result<Vec<u8>> {
        let size = self.stat(path)?.size;
        let want = usize::try_from(size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(len);
        let mut f = self.open(path)?;
        f.seek(offset)?;
        let mut out = vec![0u8; want];
        let mut done = 0;
        while done < want {
            let n = f.read(&mut out[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        out.truncate(done);
        Ok(out)
    }
}

/// Opens the filesystem in `view`, recognised by content.
pub fn open(view: View) -> Result<Box<dyn Tree>> {
    match probe(&*view)? {
        Kind::Ext => Ok(Box::new(ext4::Ext::open(view)?)),
        Kind::Fat => Ok(Box::new(fat::Fat::open(view)?)),
        Kind::Ntfs => Ok(Box::new(ntfs::Ntfs::open(view)?)),
        Kind::Pxar => Err(Error::Unsupported {
            found: "a pxar archive".into(),
            mountable: false,
        }),
    }
}

/// Whether `name` can be used as one file name on a Unix system: not empty, not `.` or `..`, no
/// `/` and no NUL. Names from hostile images fail this and must be skipped.
pub fn safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// Splits a path into its components, ignoring empty ones and `.`; `..` goes up one level (never
/// above the root).
pub(crate) fn components(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The path for messages.
pub(crate) fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(safe_name(b"a"));
        assert!(safe_name("é…".as_bytes()));
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(components(b"/a//b/./c/"), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(components(b"../../a/../b"), vec![&b"b"[..]]);
        assert!(components(b"/").is_empty());
    }
}
