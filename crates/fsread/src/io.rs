//! Adapters from a [`View`] to what the filesystem crates read from.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::View;

/// A cursor over a view: `Read + Seek` for `ntfs`, and `Write` (always refused) because `fatfs`
/// asks for it even to read.
pub(crate) struct Cursor {
    view: View,
    pos: u64,
    /// Reads past the end give zeros instead of a short read, and the first such offset is
    /// kept in `overrun`: `ntfs` 0.4 panics on an I/O error inside a structure (its binrw
    /// errors), so it must never see one; the caller turns `overrun` into an error.
    pad: bool,
    overrun: Option<u64>,
}

impl Cursor {
    pub(crate) fn new(view: View) -> Cursor {
        Cursor {
            view,
            pos: 0,
            pad: false,
            overrun: None,
        }
    }

    /// A cursor that pads reads past the end with zeros (see `pad`).
    pub(crate) fn padded(view: View) -> Cursor {
        Cursor {
            pad: true,
            ..Cursor::new(view)
        }
    }

    /// The first offset read past the end since the last call, if any.
    pub(crate) fn take_overrun(&mut self) -> Option<u64> {
        self.overrun.take()
    }
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.view.size();
        let n = usize::try_from(size.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let read = match n {
            0 => Ok(()),
            n => self.view.read_exact_at(&mut buf[..n], self.pos),
        };
        if self.pad {
            // Zeros for what could not be read (past the end, or a failing device), and the
            // offset for the caller's error.
            if read.is_err() {
                buf.fill(0);
                self.overrun.get_or_insert(self.pos);
            } else if n < buf.len() {
                buf[n..].fill(0);
                self.overrun.get_or_insert(self.pos.max(size));
            }
            self.pos = self.pos.saturating_add(buf.len() as u64);
            return Ok(buf.len());
        }
        read?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.view.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl Write for Cursor {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the filesystem is read-only here",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The view as `ext4-view` reads it.
pub(crate) struct ExtReader(pub(crate) View);

impl ext4_view::Ext4Read for ExtReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(self.0.read_exact_at(dst, start_byte)?)
    }
}
