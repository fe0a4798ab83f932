//! Writing compressed output: [`Compression`], [`FinishWrite`] and [`compressor`].

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lzop::LzopWriter;

/// zstd level for written files: the zstd CLI's default, as vzdump uses it.
const ZSTD_LEVEL: i32 = 3;
/// zstd worker threads for written files.
const ZSTD_WORKERS: u32 = 2;

/// A compression to write, chosen by the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip at the default level, one member.
    Gzip,
    /// zstd at level 3 with an XXH64 checksum, one frame.
    Zstd,
    /// lzop as lzop 1.04 writes it from a pipe.
    Lzop,
}

impl Compression {
    /// Chooses by extension: `.gz`, `.zst` and `.lzo`; anything else is [`Compression::None`].
    ///
    /// ```
    /// use std::path::Path;
    /// use unpack::Compression;
    /// assert_eq!(Compression::from_path(Path::new("vzdump-qemu-100.vma.zst")), Compression::Zstd);
    /// assert_eq!(Compression::from_path(Path::new("out.vma")), Compression::None);
    /// ```
    pub fn from_path(p: &Path) -> Compression {
        match p.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst") => Compression::Zstd,
            Some("lzo") => Compression::Lzop,
            _ => Compression::None,
        }
    }

    /// The file extension without the dot (`gz`, `zst`, `lzo`), or an empty string for [`Compression::None`].
    pub fn extension(&self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
            Compression::Lzop => "lzo",
        }
    }

    /// The lower-case name used in messages: "none", "gzip", "zstd" or "lzop".
    pub fn name(&self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lzop => "lzop",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A writer that must be finished explicitly to write its trailer (checksum, end marker) and flush.
pub trait FinishWrite: Write + Send {
    /// Writes any trailer, flushes everything and closes the stream. Without it the output is truncated.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Wraps `w` in a compressor for `c`; finish it with [`FinishWrite::finish`].
///
/// ```
/// use unpack::{compressor, Compression};
/// let mut w = compressor(Vec::new(), Compression::Gzip)?;
/// w.write_all(b"hello")?;
/// w.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compressor<W: Write + Send + 'static>(w: W, c: Compression) -> Result<Box<dyn FinishWrite>> {
    let fail = |e: io::Error| Error::Compressor {
        compression: c,
        source: Arc::new(e),
    };
    Ok(match c {
        Compression::None => Box::new(Plain(w)),
        Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
            w,
            flate2::Compression::default(),
        )),
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL).map_err(fail)?;
            enc.include_checksum(true).map_err(fail)?;
            enc.multithread(ZSTD_WORKERS).map_err(fail)?;
            Box::new(enc)
        }
        Compression::Lzop => Box::new(LzopWriter::new(w)),
    })
}

/// No compression: finishing only flushes.
struct Plain<W>(W);

impl<W: Write> Write for Plain<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write + Send> FinishWrite for Plain<W> {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write + Send> FinishWrite for flate2::write::GzEncoder<W> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        (*self).finish()?.flush()
    }
}

impl<W: Write + Send> FinishWrite for zstd::stream::write::Encoder<'static, W> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        (*self).finish()?.flush()
    }
}

impl<W: Write + Send> FinishWrite for LzopWriter<W> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        (*self).finish().map(drop)
    }
}
