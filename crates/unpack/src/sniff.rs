//! Recognising a compression format by its magic number.
//!
//! Only the first bytes count, never the file name: backups get renamed, and stdin has no name.

use std::fmt;

/// The gzip magic (RFC 1952 §2.3.1, ID1 ID2).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// The zstd frame magic 0xFD2FB528 in little-endian order (RFC 8878 §3.1.1).
pub(crate) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The lzop file magic `\x89LZO\0\r\n\x1a\n` (docs/formats/lzop.md §2).
pub(crate) const LZOP_MAGIC: [u8; 9] = [0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A];
/// The bzip2 stream magic "BZh" (the block size digit follows).
pub(crate) const BZIP2_MAGIC: [u8; 3] = [0x42, 0x5A, 0x68];
/// The xz stream header magic (xz file format 1.0.4 §2.1.1.1).
pub(crate) const XZ_MAGIC: [u8; 6] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

/// The longest magic: how many bytes [`sniff`] wants to see.
pub const SNIFF_LEN: usize = LZOP_MAGIC.len();

/// A compression format recognised by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// No known magic: the bytes are passed through unchanged.
    Plain,
    /// gzip, one or more members (`gzip`, `pigz`).
    Gzip,
    /// Zstandard, one or more frames.
    Zstd,
    /// lzop, one or more concatenated files.
    Lzop,
    /// bzip2, one or more streams.
    Bzip2,
    /// xz, one or more streams.
    Xz,
}

impl Format {
    /// The lower-case name used in messages: "plain", "gzip", "zstd", "lzop", "bzip2" or "xz".
    pub fn name(&self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Lzop => "lzop",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The warning about `bytes` bytes that follow the last member of a `format` stream at byte `at`
/// (kept as a warning, as `gzip -d` and `lzop -d` do: the data before them is good).
pub(crate) fn trailing_data(format: Format, bytes: u64, at: u64) -> String {
    let s = if bytes == 1 { "" } else { "s" };
    format!("ignoring {bytes} byte{s} of trailing data after the {format} stream at byte {at}")
}

/// Recognises the format from the first bytes of the input, by magic number only.
///
/// Pass at least [`SNIFF_LEN`] bytes when the input has them; a shorter prefix can only match shorter magics.
/// Anything unrecognised, including an empty prefix, is [`Format::Plain`].
///
/// ```
/// use unpack::{sniff, Format};
/// assert_eq!(sniff(&[0x28, 0xB5, 0x2F, 0xFD, 0x04]), Format::Zstd);
/// assert_eq!(sniff(b"VMA\0"), Format::Plain);
/// ```
pub fn sniff(prefix: &[u8]) -> Format {
    if prefix.starts_with(&GZIP_MAGIC) {
        Format::Gzip
    } else if prefix.starts_with(&ZSTD_MAGIC) {
        Format::Zstd
    } else if prefix.starts_with(&LZOP_MAGIC) {
        Format::Lzop
    } else if prefix.starts_with(&BZIP2_MAGIC) {
        Format::Bzip2
    } else if prefix.starts_with(&XZ_MAGIC) {
        Format::Xz
    } else {
        Format::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(sniff(&[0x1F, 0x8B, 0x08]), Format::Gzip);
        assert_eq!(sniff(&LZOP_MAGIC), Format::Lzop);
        assert_eq!(sniff(&LZOP_MAGIC[..8]), Format::Plain);
        assert_eq!(sniff(b"BZh91AY&SY"), Format::Bzip2);
        assert_eq!(sniff(&[0xFD, b'7', b'z', b'X', b'Z', 0, 0]), Format::Xz);
        assert_eq!(sniff(&[]), Format::Plain);
        assert_eq!(sniff(&[0x1F]), Format::Plain);
    }

    #[test]
    fn display_names() {
        assert_eq!(Format::Bzip2.to_string(), "bzip2");
        assert_eq!(Format::Plain.to_string(), "plain");
    }
}
