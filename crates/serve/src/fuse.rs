//! The disks of a backup as plain read-only files through FUSE (`fuser`, its pure-Rust mount:
//! no libfuse, no fusermount when root): one file a disk (`drive-scsi0.raw`) and the configs,
//! in one flat directory. `SEEK_DATA`/`SEEK_HOLE` follow the known-zero ranges, so `cp
//! --sparse`, `qemu-img` and loop devices over these files see the holes.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, LockOwner, MountOption,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyLseek, ReplyOpen, Request,
};

use crate::Backend;

/// What a file of the mount holds.
#[derive(Clone)]
pub enum Content {
    /// A disk.
    Disk(Arc<dyn Backend>),
    /// Small bytes (a config).
    Bytes(Arc<Vec<u8>>),
}

impl Content {
    fn size(&self) -> u64 {
        match self {
            Content::Disk(d) => d.size(),
            Content::Bytes(b) => b.len() as u64,
        }
    }
}

/// The flat read-only filesystem: names and contents, in order.
pub struct Files {
    files: Vec<(String, Content)>,
    time: SystemTime,
    uid: u32,
    gid: u32,
}

const TTL: Duration = Duration::from_secs(3600);
const SEEK_DATA: i32 = 3;
const SEEK_HOLE: i32 = 4;

impl Files {
    /// A filesystem of `files` (names must be unique, without `/`), all dated `time` and owned by
    /// this process's user.
    pub fn new(files: Vec<(String, Content)>, time: SystemTime) -> Files {
        Files {
            files,
            time,
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, perm, size, nlink) = if ino == 1 {
            (FileType::Directory, 0o555, 0, 2)
        } else {
            let (_, c) = self.files.get(usize::try_from(ino.checked_sub(2)?).ok()?)?;
            (FileType::RegularFile, 0o444, c.size(), 1)
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            crtime: self.time,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn content(&self, ino: INodeNo) -> Option<&Content> {
        let i = usize::try_from(ino.0.checked_sub(2)?).ok()?;
        self.files.get(i).map(|(_, c)| c)
    }
}

/// Where `whence` (SEEK_DATA or SEEK_HOLE) lands from `offset`, or `None` (ENXIO) when there
/// is no data at or after `offset`.
pub fn seek(backend: &dyn Backend, offset: u64, whence_data: bool) -> std::io::Result<Option<u64>> {
    let size = backend.size();
    if offset >= size {
        return Ok(None);
    }
    let zeros = backend.zero_ranges(offset, size - offset)?;
    let mut pos = offset;
    for z in zeros.iter().filter(|z| z.end > offset) {
        let inside = z.start <= pos;
        if whence_data {
            if !inside {
                return Ok(Some(pos));
            }
            pos = z.end;
        } else {
            return Ok(Some(if inside { pos } else { z.start }));
        }
    }
    // Past the last zero range: data up to the end, then the virtual hole at EOF.
    Ok(if whence_data {
        (pos < size).then_some(pos)
    } else {
        Some(size)
    })
}

impl fuser::Filesystem for Files {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 != 1 {
            return reply.error(Errno::ENOENT);
        }
        match self
            .files
            .iter()
            .position(|(n, _)| OsStr::new(n) == name)
            .and_then(|i| self.attr(i as u64 + 2))
        {
            Some(a) => reply.entry(&TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if self.content(ino).is_none() {
            return reply.error(Errno::ENOENT);
        }
        if flags.0 & (libc_accmode()) != 0 {
            return reply.error(Errno::EROFS);
        }
        // The contents never change: the page cache may keep them.
        reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(c) = self.content(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let total = c.size();
        if offset >= total {
            return reply.data(&[]);
        }
        let n = u64::from(size).min(total - offset) as usize;
        match c {
            Content::Bytes(b) => reply.data(&b[offset as usize..offset as usize + n]),
            Content::Disk(d) => {
                let mut buf = vec![0u8; n];
                match d.read_exact_at(&mut buf, offset) {
                    Ok(()) => reply.data(&buf),
                    Err(_) => reply.error(Errno::EIO),
                }
            }
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino.0 != 1 {
            return reply.error(Errno::ENOTDIR);
        }
        let mut entries: Vec<(u64, FileType, &str)> = vec![
            (1, FileType::Directory, "."),
            (1, FileType::Directory, ".."),
        ];
        for (i, (name, _)) in self.files.iter().enumerate() {
            entries.push((i as u64 + 2, FileType::RegularFile, name));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let Some(c) = self.content(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        let found = match (c, whence) {
            (Content::Disk(d), SEEK_DATA | SEEK_HOLE) => seek(&**d, offset, whence == SEEK_DATA),
            (Content::Bytes(b), SEEK_DATA) => Ok((offset < b.len() as u64).then_some(offset)),
            (Content::Bytes(b), SEEK_HOLE) => {
                Ok((offset < b.len() as u64).then_some(b.len() as u64))
            }
            _ => return reply.error(Errno::EINVAL),
        };
        match found {
            Ok(Some(o)) => reply.offset(o as i64),
            Ok(None) => reply.error(Errno::ENXIO),
            Err(_) => reply.error(Errno::EIO),
        }
    }
}

/// O_WRONLY | O_RDWR.
fn libc_accmode() -> i32 {
    (rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::RDWR).bits() as i32
}

/// Mounts `files` read-only at `mountpoint` and serves it on a background thread; the
/// filesystem is unmounted when the session is dropped or unmounted from outside
/// (`umount`, `pverescue umount`).
pub fn mount(
    files: Files,
    mountpoint: &Path,
    fsname: &str,
) -> std::io::Result<fuser::BackgroundSession> {
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName(fsname.to_owned()),
        MountOption::Subtype("pverescue".into()),
    ];
    config.n_threads = Some(std::thread::available_parallelism().map_or(2, |n| n.get()));
    fuser::spawn_mount(files, mountpoint, &config)
}

/// Detaches the mount at `mountpoint` (lazily: a reader holding a file keeps it until closed).
/// For signal handlers: the session then ends.
pub fn detach(mountpoint: &Path) -> std::io::Result<()> {
    rustix::mount::unmount(mountpoint, rustix::mount::UnmountFlags::DETACH).map_err(Into::into)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ReadOnly;

    struct Holes(Vec<u8>, Vec<std::ops::Range<u64>>);
    impl diskview::ReadAt for Holes {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
            self.0.read_exact_at(buf, offset)
        }
        fn zero_ranges(&self, offset: u64, len: u64) -> std::io::Result<Vec<std::ops::Range<u64>>> {
            let end = offset + len;
            Ok(self
                .1
                .iter()
                .filter(|r| r.end > offset && r.start < end)
                .map(|r| r.start.max(offset)..r.end.min(end))
                .collect())
        }
    }

    #[test]
    fn seek_data_and_hole_follow_the_zero_ranges_like_lseek_does() {
        // data 0..10, hole 10..20, data 20..30, hole 30..40 (to EOF)
        let d = ReadOnly(Holes(vec![1; 40], vec![10..20, 30..40]));
        let data = |o| seek(&d, o, true).unwrap();
        let hole = |o| seek(&d, o, false).unwrap();
        assert_eq!(data(0), Some(0));
        assert_eq!(data(10), Some(20));
        assert_eq!(data(15), Some(20));
        assert_eq!(data(30), None);
        assert_eq!(data(40), None);
        assert_eq!(hole(0), Some(10));
        assert_eq!(hole(12), Some(12));
        assert_eq!(hole(20), Some(30));
        assert_eq!(hole(39), Some(39));
        assert_eq!(hole(40), None);
        let full = ReadOnly(Holes(vec![1; 8], vec![]));
        assert_eq!(seek(&full, 3, true).unwrap(), Some(3));
        assert_eq!(seek(&full, 3, false).unwrap(), Some(8));
    }
}
