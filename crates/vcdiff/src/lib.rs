//! Streaming decoders for the deltas behind Proxmox VE "differential backups".
//!
//! The community pve-patches made vzdump write a new backup as a VCDIFF delta (RFC 3284,
//! produced by xdelta3 3.0.x) against the last **full** backup. This crate turns such a delta
//! plus its unpacked full back into the original archive, without Proxmox and without
//! xdelta3. It also applies librsync (`rdiff`) deltas.
//!
//! # Main types
//!
//! - [`Decoder`] reads a VCDIFF delta front to back from any [`std::io::Read`] and is itself a
//!   `Read` yielding the reconstructed target, so it can feed a VMA reader or a file
//!   directly. [`Decoder::next_window`] offers the same output window by window without a
//!   copy. [`Options`] sets the source window and limits.
//! - The source is anything implementing [`SourceRead`]: [`ForwardSource`] reads a pipe or a
//!   decompressor strictly forward through a sliding window (128 MiB by default, twice
//!   xdelta3's `-B` default), [`SeekableSource`] adds random access for plain files, and
//!   [`NoSource`] serves deltas made without a source.
//! - [`FileHeader`] and [`AppHeader`] expose xdelta3's header: the secondary compressor and
//!   the `input/id/source/id` application header naming the full the delta was made against.
//! - [`rdiff::apply`] patches a seekable basis with an rdiff delta; [`sniff`] tells the two
//!   delta formats (and rdiff signatures) apart by their first bytes.
//! - [`Error`] is the one error type: every malformed-input variant carries the absolute delta
//!   offset and, inside a window, the window number; [`Error::hint`] adds advice.
//!
//! # The xdelta3 dialect
//!
//! Beyond RFC 3284 the decoder accepts what xdelta3 3.0.x writes: the application header
//! (header bit `0x04`), a per-window Adler-32 (window bit `0x04`, verified against the
//! reconstructed window: a mismatch almost always means the wrong full), and secondary
//! compression of the data, instruction and address sections, with all three of xdelta3's
//! secondary compressors:
//!
//! - LZMA (id 2, three persistent xz streams sync-flushed per window) is what Proxmox
//!   differentials made since 2018 use.
//! - DJW (id 1, `-S djw`) is static Huffman coding with up to eight code tables per section,
//!   each payload self-contained.
//! - FGK (id 16, `-S fgk`) is adaptive Huffman coding with one tree per section kind that
//!   lives for the whole file. xdelta3's encoder updates its tree even for sections it then
//!   stores plain; this decoder replays those sections into its tree, so it also decodes the
//!   multi-window FGK deltas that xdelta3 3.0.11 itself rejects ("secondary decoder finished
//!   with unused input").
//!
//! xdelta3's source is the only description of the DJW and FGK bitstreams; the crate's own
//! account of both formats, from which the decoders were written, is in the docs of
//! `src/secondary/djw.rs` and `src/secondary/fgk.rs`. A payload that does not decode fails
//! with [`Error::Secondary`], naming the window, the section and the byte.
//!
//! Memory is bounded by the source window plus a few target windows (at most
//! [`MAX_TARGET_WINDOW`] each), whatever the size of the image. A copy that reaches behind a
//! forward-only source window fails with [`Error::SourceBehindWindow`] and a hint to raise
//! `--source-window`.
//!
//! # Non-goals
//!
//! Encoding; VCD_TARGET windows and application-defined code tables (xdelta3 never writes
//! them: both are rejected); undoing the outer compression of the delta or the full (the
//! `unpack` crate does that); rdiff signatures and delta generation.
//!
//! # Specification
//!
//! `docs/formats/differential.md` (sections 6, 7 and 9) describes the exact subset, with the
//! facts tested against the real tools; RFC 3284 is the base format.
//!
//! # Example
//!
//! Decoding a delta made by Debian's xdelta3 3.0.11 with its defaults (LZMA secondary,
//! app header, Adler-32), reading the source forward only:
//!
//! ```
//! use std::io::Read;
//!
//! let source = include_bytes!("../testdata/small.src");
//! let delta = include_bytes!("../testdata/small.vcdiff");
//! assert_eq!(vcdiff::sniff(delta), Some(vcdiff::DeltaKind::Vcdiff));
//!
//! let mut decoder =
//!     vcdiff::Decoder::new(vcdiff::ForwardSource(&source[..]), &delta[..], Default::default())?;
//! let app = decoder.header().app_header.clone().expect("xdelta3 writes one");
//! assert_eq!(app.source_name.as_deref(), Some("small.src"));
//!
//! let mut target = Vec::new();
//! decoder.read_to_end(&mut target)?;
//! assert_eq!(target, include_bytes!("../testdata/small.tgt"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod addr_cache;
mod codetable;
mod decoder;
mod error;
mod header;
mod input;
pub mod rdiff;
mod secondary;
mod source;
mod window;

pub use decoder::{DEFAULT_SOURCE_WINDOW, Decoder, MIN_SOURCE_WINDOW, Options};
pub use error::{Error, Result};
pub use header::{AppHeader, FileHeader, MAX_APP_HEADER, SecondaryId, compressor_name};
pub use secondary::lzma::MAX_LZMA_MEMORY;
pub use source::{ForwardSource, NoSource, SeekableSource, SourceRead};
pub use window::MAX_TARGET_WINDOW;

/// What kind of delta (or delta-related file) a prefix looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeltaKind {
    /// VCDIFF (`D6 C3 C4 00`), as written by xdelta3 and open-vcdiff.
    Vcdiff,
    /// An rdiff (librsync) delta.
    Rdiff,
    /// An rdiff signature: not a delta, cannot be applied.
    RdiffSignature,
}

/// Identifies a delta by its first bytes (at least 4 are needed).
pub fn sniff(prefix: &[u8]) -> Option<DeltaKind> {
    let magic: [u8; 4] = prefix.get(..4)?.try_into().ok()?;
    if magic[..3] == header::MAGIC && magic[3] == header::VERSION {
        return Some(DeltaKind::Vcdiff);
    }
    let value = u32::from_be_bytes(magic);
    if value == rdiff::DELTA_MAGIC {
        Some(DeltaKind::Rdiff)
    } else if rdiff::SIGNATURE_MAGICS.contains(&value) {
        Some(DeltaKind::RdiffSignature)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs() {
        assert_eq!(
            sniff(&[0xd6, 0xc3, 0xc4, 0x00, 0x05]),
            Some(DeltaKind::Vcdiff)
        );
        assert_eq!(sniff(&[0xd6, 0xc3, 0xc4, 0x01]), None);
        assert_eq!(sniff(b"rs\x026"), Some(DeltaKind::Rdiff));
        assert_eq!(sniff(b"rs\x01G\0\0"), Some(DeltaKind::RdiffSignature));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]), None);
        assert_eq!(sniff(&[0xd6, 0xc3]), None);
    }
}
