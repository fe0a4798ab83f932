//! Secondary compression of window sections (xdelta3 extension, spec section 6.9).
//!
//! A compressed section is `varint(decompressed length)` followed by the compressor's
//! payload, which must be consumed exactly and produce exactly that length. What persists
//! between windows depends on the compressor:
//!
//! | id | compressor | state across windows |
//! |---|---|---|
//! | 1 | DJW ([`djw`]) | none: every payload carries its own code tables |
//! | 2 | LZMA ([`lzma`]) | one xz stream per section kind, sync-flushed per window |
//! | 16 | FGK ([`fgk`]) | one adaptive Huffman tree per section kind |
//!
//! FGK has a twist: xdelta3's encoder runs every section of at least
//! [`fgk::MIN_ATTEMPTED`] bytes through its tree, then keeps the compressed form only when
//! it saves two bytes. A section stored plain therefore still moved the encoder's tree, and
//! [`Secondary::stored_plain`] replays it into the decoder's tree. xdelta3's own decoder does
//! not, which is why it fails on many multi-window FGK deltas.

mod bits;
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
    Fgk(Box<fgk::FgkSections>),
}

impl Secondary {
    pub(crate) fn new(id: SecondaryId) -> Secondary {
        match id {
            SecondaryId::Lzma => Secondary::Lzma(Box::new(lzma::LzmaSections::new())),
            SecondaryId::Djw => Secondary::Djw,
            SecondaryId::Fgk => Secondary::Fgk(Box::default()),
        }
    }

    /// Compressor name used in error messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Secondary::Lzma(_) => "lzma",
            Secondary::Djw => "djw",
            Secondary::Fgk(_) => "fgk",
        }
    }

    /// Decompresses one section payload, appending exactly `expected` bytes to `out`.
    pub(crate) fn decompress(
        &mut self,
        section: Section,
        payload: &[u8],
        expected: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SecondaryError> {
        // xdelta3 never compresses an empty section and rejects one that claims to be.
        if expected == 0 {
            return Err(SecondaryError::corrupt("compressed section of length 0"));
        }
        match self {
            Secondary::Lzma(lzma) => lzma.decompress(section, payload, expected, out),
            Secondary::Djw => djw::decompress(payload, expected, out),
            Secondary::Fgk(fgk) => fgk.decompress(section, payload, expected, out),
        }
    }

    /// Tells the decompressor about a section of this window stored uncompressed.
    pub(crate) fn stored_plain(&mut self, section: Section, bytes: &[u8]) {
        if let Secondary::Fgk(fgk) = self {
            fgk.stored_plain(section, bytes);
        }
    }
}

/// Why a section failed to decompress, turned into an [`crate::Error`] by the caller.
#[derive(Debug)]
pub(crate) struct SecondaryError {
    /// What is wrong.
    pub(crate) detail: String,
    /// Offset in the payload (after the length varint) where decoding failed, if known.
    pub(crate) at: Option<usize>,
}

impl SecondaryError {
    pub(crate) fn corrupt(detail: impl Into<String>) -> Self {
        SecondaryError {
            detail: detail.into(),
            at: None,
        }
    }

    pub(crate) fn corrupt_at(detail: impl Into<String>, at: usize) -> Self {
        SecondaryError {
            detail: detail.into(),
            at: Some(at),
        }
    }
}
