//! Writing compressed output: [`Format::from_path`], [`FinishWrite`] and [`compressor`].

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lzop::LzopWriter;
use crate::sniff::Format;

/// zstd level for written files: the zstd CLI's default, as vzdump uses it.
const ZSTD_LEVEL: i32 = 3;
/// zstd worker threads for written files.
const ZSTD_WORKERS: u32 = 2;

impl Format {
    /// The compression to write for an output name, by its extension: `.gz`, `.zst`, `.lzo`,
    /// `.bz2`, `.xz`; anything else is [`Format::Plain`]. ([`compressor`] writes the first three.)
    ///
    /// ```
    /// use std::path::Path;
    /// use unpack::Format;
    /// assert_eq!(Format::from_path(Path::new("vzdump-qemu-100.vma.zst")), Format::Zstd);
    /// assert_eq!(Format::from_path(Path::new("out.vma")), Format::Plain);
    /// ```
    pub fn from_path(p: &Path) -> Format {
        match p.extension().and_then(|e| e.to_str()) {
            Some("gz") => Format::Gzip,
            Some("zst") => Format::Zstd,
            Some("lzo") => Format::Lzop,
            Some("bz2") => Format::Bzip2,
            Some("xz") => Format::Xz,
            _ => Format::Plain,
        }
    }

    /// The file extension without the dot (`gz`, `zst`, `lzo`, `bz2`, `xz`), or an empty string
    /// for [`Format::Plain`].
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Plain => "",
            Format::Gzip => "gz",
            Format::Zstd => "zst",
            Format::Lzop => "lzo",
            Format::Bzip2 => "bz2",
            Format::Xz => "xz",
        }
    }
}

/// A writer that must be finished explicitly to write its trailer (checksum, end marker) and flush.
pub trait FinishWrite: Write + Send {
    /// Writes any trailer, flushes everything and closes the stream. Without it the output is truncated.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Wraps `w` in a compressor for `c` (plain, gzip, zstd or lzop: what vzdump writes); finish it
/// with [`FinishWrite::finish`].
///
/// ```
/// use unpack::{compressor, Format};
/// let mut w = compressor(Vec::new(), Format::Gzip)?;
/// w.write_all(b"hello")?;
/// w.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compressor<W: Write + Send + 'static>(w: W, c: Format) -> Result<Box<dyn FinishWrite>> {
    let fail = |e: io::Error| Error::Compressor {
        compression: c,
        source: Arc::new(e),
    };
    Ok(match c {
        Format::Plain => Box::new(Plain(w)),
        Format::Gzip => Box::new(flate2::write::GzEncoder::new(
            w,
            flate2::Compression::default(),
        )),
        Format::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL).map_err(fail)?;
            enc.include_checksum(true).map_err(fail)?;
            enc.multithread(ZSTD_WORKERS).map_err(fail)?;
            Box::new(enc)
        }
        Format::Lzop => Box::new(LzopWriter::new(w)),
        Format::Bzip2 | Format::Xz => {
            return Err(fail(io::Error::new(
                io::ErrorKind::Unsupported,
                "pverescue writes plain, gzip (.gz), zstd (.zst) and lzop (.lzo) archives, as vzdump does",
            )));
        }
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
