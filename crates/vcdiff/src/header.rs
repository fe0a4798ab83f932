//! The VCDIFF file header (RFC 3284 section 4.1) with xdelta3's extensions: the secondary
//! compressor id and the application header (spec sections 6.2 and 6.3).

use std::io::Read;

use crate::error::{Error, Result};
use crate::input::DeltaInput;

/// The first three bytes of every VCDIFF file: "VCD" with the high bits set.
pub const MAGIC: [u8; 3] = [0xd6, 0xc3, 0xc4];
/// The only version RFC 3284 defines.
pub const VERSION: u8 = 0;

/// Hdr_Indicator bit: a secondary compressor id follows (VCD_DECOMPRESS).
const HDR_SECONDARY: u8 = 0x01;
/// Hdr_Indicator bit: an application-defined code table follows (VCD_CODETABLE).
const HDR_CODETABLE: u8 = 0x02;
/// Hdr_Indicator bit: an application header follows (xdelta3 extension).
const HDR_APPHEADER: u8 = 0x04;

/// Largest application header accepted; real ones are two file names and two letters.
pub const MAX_APP_HEADER: u64 = 64 * 1024;

/// A secondary compressor known from xdelta3 (spec section 6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecondaryId {
    /// Id 1: DJW static Huffman.
    Djw,
    /// Id 2: LZMA in three persistent xz streams.
    Lzma,
    /// Id 16: FGK adaptive Huffman.
    Fgk,
}

impl SecondaryId {
    /// Maps the header byte to a compressor.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(SecondaryId::Djw),
            2 => Some(SecondaryId::Lzma),
            16 => Some(SecondaryId::Fgk),
            _ => None,
        }
    }

    /// The header byte.
    pub fn id(self) -> u8 {
        match self {
            SecondaryId::Djw => 1,
            SecondaryId::Lzma => 2,
            SecondaryId::Fgk => 16,
        }
    }

    /// The name xdelta3's `-S` option uses.
    pub fn name(self) -> &'static str {
        match self {
            SecondaryId::Djw => "djw",
            SecondaryId::Lzma => "lzma",
            SecondaryId::Fgk => "fgk",
        }
    }
}

/// xdelta3's application header: `<input>/<input comp id>/<source>/<source comp id>`.
///
/// The fields are informational: xdelta3 uses them for default names and to pick external
/// (de)compressors. The source's own magic is authoritative; the id is only a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHeader {
    /// The header bytes as stored.
    pub raw: Vec<u8>,
    /// Base name of the encoder's input (`-` for stdin).
    pub input_name: String,
    /// External compressor id of the input (empty when uncompressed).
    pub input_compression: String,
    /// Base name of the source (the full), when the delta was made with one.
    pub source_name: Option<String>,
    /// External compressor id of the source (`S` zstd, `G` gzip, `L` lzop, …).
    pub source_compression: Option<String>,
}

impl AppHeader {
    /// Splits the raw header on `/` into at most four fields (spec section 6.3).
    pub fn parse(raw: &[u8]) -> AppHeader {
        let text = String::from_utf8_lossy(raw);
        let mut fields = text.splitn(4, '/').map(str::to_owned);
        let input_name = fields.next().unwrap_or_default();
        let input_compression = fields.next().unwrap_or_default();
        let source_name = fields.next();
        let source_compression = fields.next();
        AppHeader {
            raw: raw.to_vec(),
            input_name,
            input_compression,
            source_name,
            source_compression,
        }
    }
}

/// Names the external compressor behind an xdelta3 compressor id (spec section 5). Ids may
/// carry a level digit in newer xdelta3 (`B9`); only the letter counts.
pub fn compressor_name(id: &str) -> Option<&'static str> {
    match id.chars().next()? {
        'B' => Some("bzip2"),
        'G' => Some("gzip"),
        'Z' => Some("compress"),
        'Y' => Some("xz"),
        'L' => Some("lzop"),
        'S' => Some("zstd"),
        _ => None,
    }
}

/// The parsed VCDIFF file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// Hdr_Indicator as stored.
    pub indicator: u8,
    /// The secondary compressor declared by the header, if any.
    pub secondary: Option<SecondaryId>,
    /// xdelta3's application header, if present.
    pub app_header: Option<AppHeader>,
    /// Length of the file header in bytes (the first window starts here).
    pub len: u64,
}

impl FileHeader {
    /// Reads and checks the file header.
    pub(crate) fn read<R: Read>(input: &mut DeltaInput<R>) -> Result<FileHeader> {
        let start = input.offset();
        let mut magic = [0u8; 3];
        for (i, b) in magic.iter_mut().enumerate() {
            match input.u8("file header", start) {
                Ok(v) => *b = v,
                // A short file that is not VCDIFF at all is reported as a bad magic.
                Err(Error::Truncated { .. }) if i > 0 && magic[..i] != MAGIC[..i] => break,
                Err(e) => return Err(e),
            }
        }
        if magic != MAGIC {
            return Err(Error::BadMagic {
                at: start,
                found: magic,
            });
        }
        let at = input.offset();
        let version = input.u8("file header", start)?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion { at, found: version });
        }
        let at = input.offset();
        let indicator = input.u8("file header", start)?;
        if indicator & !(HDR_SECONDARY | HDR_CODETABLE | HDR_APPHEADER) != 0 {
            return Err(Error::BadIndicator {
                what: "header indicator",
                at,
                found: indicator,
            });
        }
        if indicator & HDR_CODETABLE != 0 {
            return Err(Error::CodeTableUnsupported { at });
        }
        let mut secondary = None;
        if indicator & HDR_SECONDARY != 0 {
            let at = input.offset();
            let id = input.u8("secondary compressor id", at)?;
            secondary = Some(SecondaryId::from_id(id).ok_or(Error::UnknownSecondary { at, id })?);
        }
        let mut app_header = None;
        if indicator & HDR_APPHEADER != 0 {
            let at = input.offset();
            let len = input.varint("application header length")?;
            if len > MAX_APP_HEADER {
                return Err(Error::LimitExceeded {
                    what: "application header length",
                    at,
                    value: len,
                    limit: MAX_APP_HEADER,
                });
            }
            let mut raw = Vec::new();
            input.read_into(&mut raw, len, "application header")?;
            app_header = Some(AppHeader::parse(&raw));
        }
        Ok(FileHeader {
            indicator,
            secondary,
            app_header,
            len: input.offset() - start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<FileHeader> {
        FileHeader::read(&mut DeltaInput::new(bytes))
    }

    #[test]
    fn pve_style_header() {
        let mut bytes = vec![0xd6, 0xc3, 0xc4, 0x00, 0x05, 0x02, 0x10];
        bytes.extend_from_slice(b"-//full.raw.gz/G");
        let h = parse(&bytes).expect("valid header");
        assert_eq!(h.len, 23);
        assert_eq!(h.secondary, Some(SecondaryId::Lzma));
        let app = h.app_header.expect("app header");
        assert_eq!(app.input_name, "-");
        assert_eq!(app.input_compression, "");
        assert_eq!(app.source_name.as_deref(), Some("full.raw.gz"));
        assert_eq!(app.source_compression.as_deref(), Some("G"));
        assert_eq!(compressor_name("G"), Some("gzip"));
        assert_eq!(compressor_name("S"), Some("zstd"));
        assert_eq!(compressor_name(""), None);
    }

    #[test]
    fn no_source_app_header() {
        let app = AppHeader::parse(b"target.bin/");
        assert_eq!(app.input_name, "target.bin");
        assert_eq!(app.source_name, None);
    }

    #[test]
    fn rejections() {
        assert!(matches!(
            parse(b"PK\x03\x04"),
            Err(Error::BadMagic { at: 0, .. })
        ));
        assert!(matches!(parse(b"P"), Err(Error::BadMagic { at: 0, .. })));
        assert!(matches!(parse(&[0xd6, 0xc3]), Err(Error::Truncated { .. })));
        assert!(matches!(
            parse(&[0xd6, 0xc3, 0xc4, 0x01, 0x00]),
            Err(Error::UnsupportedVersion { at: 3, found: 1 })
        ));
        assert!(matches!(
            parse(&[0xd6, 0xc3, 0xc4, 0x00, 0x08]),
            Err(Error::BadIndicator {
                at: 4,
                found: 8,
                ..
            })
        ));
        assert!(matches!(
            parse(&[0xd6, 0xc3, 0xc4, 0x00, 0x02]),
            Err(Error::CodeTableUnsupported { at: 4 })
        ));
        assert!(matches!(
            parse(&[0xd6, 0xc3, 0xc4, 0x00, 0x01, 0x07]),
            Err(Error::UnknownSecondary { at: 5, id: 7 })
        ));
        assert!(matches!(
            parse(&[0xd6, 0xc3, 0xc4, 0x00, 0x04, 0x84, 0x80, 0x80, 0x00]),
            Err(Error::LimitExceeded { at: 5, .. })
        ));
    }
}
