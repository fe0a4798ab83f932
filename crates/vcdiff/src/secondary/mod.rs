//! Secondary compression of window sections (xdelta3 extension, spec section 6.9).
//!
//! A compressed section is `varint(decompressed length)` followed by the compressor's
//! payload. LZMA keeps one persistent xz stream per section kind for the whole file; DJW and
//! FGK are recognised but not decoded by this build (see [`djw`] and [`fgk`]).

pub(crate) mod djw;
pub(crate) mod fgk;
pub(crate) mod lzma;

use crate::header::SecondaryId;

/// The three sections of a window, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Data = 0,
    Inst = 1,
    Addr = 2,
}

impl Section {
    pub(crate) const ALL: [Section; 3] = [Section::Data, Section::Inst, Section::Addr];

    /// Name used in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Section::Data => "data",
            Section::Inst => "instructions",
            Section::Addr => "addresses",
        }
    }

    /// The Delta_Indicator bit saying this section is compressed.
    pub(crate) fn indicator_bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Per-file decompressor state.
pub(crate) enum Secondary {
    Lzma(Box<lzma::LzmaSections>),
    Djw,
    Fgk,
}

impl Secondary {
    pub(crate) fn new(id: SecondaryId) -> Secondary {
        match id {
            SecondaryId::Lzma => Secondary::Lzma(Box::new(lzma::LzmaSections::new())),
            SecondaryId::Djw => Secondary::Djw,
            SecondaryId::Fgk => Secondary::Fgk,
        }
    }
}

/// Why a section failed to decompress, turned into an [`crate::Error`] by the caller.
#[derive(Debug)]
pub(crate) enum SecondaryError {
    /// The compressor is known but this build cannot decode it.
    Unsupported,
    /// The payload is invalid.
    Corrupt(String),
}
