//! One random-access view of a disk, whatever it comes from.
//!
//! Round 2 reads disks at random: partition tables and LVM metadata (`partitions`), filesystems
//! (`ls`, `cp`, `cat`), NBD and FUSE serving. Each of those takes a [`ReadAt`] and nothing else;
//! each source provides one:
//!
//! - [`FileView`]: a regular file or a block device (`pread`; a sparse file's holes are its
//!   known-zero ranges, from `SEEK_DATA`/`SEEK_HOLE`). A compressed VMA, which cannot be read at
//!   random, is staged once into a sparse scratch file by the `sink` crate and then read as a
//!   [`FileView`].
//! - [`Seekable`]: any `Read + Seek` (a `vcdiff` seekable source, an `rdiff::Patched` chain),
//!   serialised by a lock.
//! - `[u8]` and `Vec<u8>`: bytes in memory (tests, small images).
//! - [`Window`]: a byte range of another view (a partition, a linear LV).
//! - later: PBS fixed indexes and virtnbdbackup chains, in their own crates.
//!
//! Reads take `&self`, so one view can serve several readers at once (a [`FileView`] without any
//! lock). A read past the end fails with `UnexpectedEof`; [`ReadAt::zero_ranges`] may say less
//! than the truth (no known zeros is always correct), never more.
//!
//! ```
//! use diskview::ReadAt;
//! let disk: Vec<u8> = (0..=255).collect();
//! let part = diskview::Window::new(&disk, 16, 32)?;
//! let mut buf = [0u8; 4];
//! part.read_exact_at(&mut buf, 26)?;
//! assert_eq!(buf, [42, 43, 44, 45]);
//! assert!(part.read_exact_at(&mut buf, 29).is_err());
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Random access to a disk's bytes.
pub trait ReadAt {
    /// The disk's size in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` from the disk at `offset`; fails with `UnexpectedEof` when the range goes past
    /// the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// Ranges within `offset..offset + len` known to read as zeros, in order and disjoint. The
    /// default knows none, which is always correct.
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let _ = (offset, len);
        Ok(Vec::new())
    }
}

/// Fails with `UnexpectedEof` unless `offset..offset + len` lies within `size`.
pub fn check_range(size: u64, offset: u64, len: usize) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at offset {offset} goes past the end ({size} bytes)"),
        )),
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.size(), offset, buf.len())?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

/// A view through a reference or a smart pointer is the view it points to.
macro_rules! forward {
    ($($ptr:ty),*) => {$(
        impl<T: ReadAt + ?Sized> ReadAt for $ptr {
            fn size(&self) -> u64 {
                (**self).size()
            }

            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
                (**self).read_exact_at(buf, offset)
            }

            fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
                (**self).zero_ranges(offset, len)
            }
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);

/// A regular file or block device, read with `pread`; its size is measured once when opened.
#[derive(Debug)]
pub struct FileView {
    file: File,
    size: u64,
    /// A regular file (holes can be asked for), not a device.
    regular: bool,
}

impl FileView {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> io::Result<FileView> {
        FileView::new(File::open(path)?)
    }

    /// Wraps an open file or block device.
    pub fn new(mut file: File) -> io::Result<FileView> {
        let regular = file.metadata()?.file_type().is_file();
        // Seeking to the end measures block devices too, where the metadata says 0.
        let size = file.seek(SeekFrom::End(0))?;
        Ok(FileView {
            file,
            size,
            regular,
        })
    }

    /// The file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ReadAt for FileView {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.size, offset, buf.len())?;
        self.file.read_exact_at(buf, offset)
    }

    /// The holes of a sparse file, from `SEEK_DATA`/`SEEK_HOLE` (none for a device, or where the
    /// file system cannot say).
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::new();
        if !self.regular {
            return Ok(out);
        }
        let mut at = offset;
        while at < end {
            // Both calls move the descriptor's offset, which nothing else here uses (reads are
            // positional).
            let data = match rustix::fs::seek(&self.file, rustix::fs::SeekFrom::Data(at)) {
                Ok(d) => d.min(end),
                // No data from `at` to the end of the file.
                Err(rustix::io::Errno::NXIO) => end,
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) => return Ok(out),
                Err(e) => return Err(e.into()),
            };
            if data > at {
                out.push(at..data);
            }
            if data >= end {
                break;
            }
            let hole = match rustix::fs::seek(&self.file, rustix::fs::SeekFrom::Hole(data)) {
                Ok(h) => h,
                Err(rustix::io::Errno::NXIO) => end,
                Err(e) => return Err(e.into()),
            };
            at = hole.max(data + 1);
        }
        Ok(out)
    }
}

/// Any `Read + Seek` (a `vcdiff` seekable source, an `rdiff::Patched` chain) as a view; reads are
/// serialised by a lock.
#[derive(Debug)]
pub struct Seekable<R> {
    inner: Mutex<R>,
    size: u64,
}

impl<R: Read + Seek> Seekable<R> {
    /// Wraps `inner`, measuring its size by seeking to its end.
    pub fn new(mut inner: R) -> io::Result<Seekable<R>> {
        let size = inner.seek(SeekFrom::End(0))?;
        Ok(Seekable {
            inner: Mutex::new(inner),
            size,
        })
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<R: Read + Seek> ReadAt for Seekable<R> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.size, offset, buf.len())?;
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.seek(SeekFrom::Start(offset))?;
        r.read_exact(buf)
    }
}

/// The bytes `start..start + len` of another view (a partition, a linear LV), addressed from 0.
#[derive(Debug, Clone)]
pub struct Window<V> {
    inner: V,
    start: u64,
    len: u64,
}

impl<V: ReadAt> Window<V> {
    /// The window `start..start + len` of `inner`; fails when it is not within `inner`.
    pub fn new(inner: V, start: u64, len: u64) -> io::Result<Window<V>> {
        match start.checked_add(len) {
            Some(end) if end <= inner.size() => Ok(Window { inner, start, len }),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the range {start}+{len} lies outside the disk ({} bytes)",
                    inner.size()
                ),
            )),
        }
    }
}

impl<V: ReadAt> ReadAt for Window<V> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.len, offset, buf.len())?;
        self.inner.read_exact_at(buf, self.start + offset)
    }

    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let len = len.min(self.len.saturating_sub(offset));
        Ok(self
            .inner
            .zero_ranges(self.start + offset, len)?
            .into_iter()
            .map(|r| r.start - self.start..r.end - self.start)
            .collect())
    }
}
