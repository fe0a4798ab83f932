//! What an export reads from (and, with an overlay, writes to).

use std::io;
use std::ops::Range;
use std::sync::Arc;

use diskview::ReadAt;

/// A disk as an export sees it. Read-only views come from [`ReadOnly`]; [`crate::Overlay`]
/// adds writes that never reach the backup.
pub trait Backend: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Ranges in `offset..offset + len` known to read as zeros (in order, disjoint).
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>>;
    /// Whether writes are taken.
    fn writable(&self) -> bool {
        false
    }
    /// Writes `buf` at `offset` (only when [`Backend::writable`]).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let _ = (buf, offset);
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    }
    /// Makes completed writes durable.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A read-only export of any [`ReadAt`] view.
pub struct ReadOnly<V>(pub V);

impl<V: ReadAt + Send + Sync> Backend for ReadOnly<V> {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        self.0.zero_ranges(offset, len)
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        (**self).zero_ranges(offset, len)
    }
    fn writable(&self) -> bool {
        (**self).writable()
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_at(buf, offset)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
}

/// A backend read as a [`ReadAt`] view (an overlay plus its backup read as one image).
pub struct View<B>(pub B);

impl<B: Backend> ReadAt for View<B> {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        self.0.zero_ranges(offset, len)
    }
}
