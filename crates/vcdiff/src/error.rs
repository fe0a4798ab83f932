//! The crate's error type.
//!
//! Every malformed-input variant names the structure, the absolute byte offset in the delta
//! (`at`) and, inside a window, the window number (counted from 0). Messages are lower-case
//! without a trailing period; [`Error::hint`] adds guidance for the user where there is some.

use std::io;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while decoding a VCDIFF delta or applying an rdiff delta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the delta failed.
    #[error("i/o error reading the delta at byte {at}: {source}")]
    DeltaIo {
        /// Absolute offset in the delta where the read started.
        at: u64,
        /// The underlying error.
        source: io::Error,
    },

    /// Reading or seeking the source (the base file) failed.
    #[error("i/o error reading the source at byte {at}: {source}")]
    SourceIo {
        /// Absolute offset in the source where the read started.
        at: u64,
        /// The underlying error.
        source: io::Error,
    },

    /// Writing the output failed (rdiff patcher).
    #[error("i/o error writing the output at byte {at}: {source}")]
    OutputIo {
        /// Output offset where the write started.
        at: u64,
        /// The underlying error.
        source: io::Error,
    },

    /// The delta ended in the middle of a structure.
    #[error("delta truncated: {what} at byte {at} is incomplete")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Absolute offset of the structure in the delta.
        at: u64,
    },

    /// The file does not start with the VCDIFF magic `D6 C3 C4`.
    #[error("not a vcdiff delta: expected magic d6 c3 c4 at byte {at}, found {found:02x?}")]
    BadMagic {
        /// Absolute offset of the magic.
        at: u64,
        /// The bytes found instead.
        found: [u8; 3],
    },

    /// The VCDIFF version byte is not 0.
    #[error("unsupported vcdiff version {found} at byte {at}, expected 0")]
    UnsupportedVersion {
        /// Absolute offset of the version byte.
        at: u64,
        /// The version found.
        found: u8,
    },

    /// An indicator byte has bits this decoder does not know.
    #[error("{what} at byte {at} has unknown bits: {found:#04x}")]
    BadIndicator {
        /// Which indicator (header, window or delta indicator).
        what: &'static str,
        /// Absolute offset of the indicator byte.
        at: u64,
        /// The whole indicator byte.
        found: u8,
    },

    /// The file header asks for an application-defined code table (VCD_CODETABLE).
    #[error("custom code tables (vcd_codetable at byte {at}) are not supported")]
    CodeTableUnsupported {
        /// Absolute offset of the header indicator.
        at: u64,
    },

    /// The file header names a secondary compressor id this decoder does not know.
    #[error("unknown secondary compressor id {id} at byte {at}")]
    UnknownSecondary {
        /// Absolute offset of the id byte.
        at: u64,
        /// The id found.
        id: u8,
    },

    /// A window sets Delta_Indicator bits although the file declares no secondary compressor.
    #[error(
        "window {window} at byte {at}: compressed sections but no secondary compressor declared"
    )]
    SecondaryNotDeclared {
        /// Window index.
        window: u64,
        /// Absolute offset of the delta indicator.
        at: u64,
    },

    /// The secondary decompressor (DJW, LZMA or FGK) rejected a section.
    #[error(
        "window {window}: {name} decompression of the {section} section failed at byte {at}: {detail}"
    )]
    Secondary {
        /// Compressor name.
        name: &'static str,
        /// Section kind (`data`, `instructions`, `addresses`).
        section: &'static str,
        /// Window index.
        window: u64,
        /// Absolute offset in the delta: for DJW and FGK the payload byte where decoding
        /// failed (or the section start when no byte is to blame), for LZMA the section start.
        at: u64,
        /// What went wrong.
        detail: String,
    },

    /// A window copies from the target file (VCD_TARGET), which xdelta3 never writes.
    #[error("window {window} at byte {at}: vcd_target windows are not supported")]
    TargetWindowUnsupported {
        /// Window index.
        window: u64,
        /// Absolute offset of the window indicator.
        at: u64,
    },

    /// A variable-length integer does not fit in 64 bits.
    #[error("{what} at byte {at}: integer overflows 64 bits")]
    BadVarint {
        /// The field being read.
        what: &'static str,
        /// Absolute offset of the integer.
        at: u64,
    },

    /// A size read from the delta is above a named limit.
    #[error("{what} at byte {at} is {value}, above the limit of {limit}")]
    LimitExceeded {
        /// The field being checked.
        what: &'static str,
        /// Absolute offset of the field.
        at: u64,
        /// The value found.
        value: u64,
        /// The limit.
        limit: u64,
    },

    /// The declared delta encoding length disagrees with the window's fields.
    #[error(
        "window {window} at byte {at}: delta encoding length is {declared}, fields add up to {found}"
    )]
    EncodingLength {
        /// Window index.
        window: u64,
        /// Absolute offset of the length field.
        at: u64,
        /// The declared length.
        declared: u64,
        /// The length the fields add up to.
        found: u64,
    },

    /// An instruction is invalid (address too large, copy past the segment, output overflow,
    /// data or address section exhausted).
    #[error("window {window}: bad instruction at byte {at}: {reason}")]
    BadInstruction {
        /// Window index.
        window: u64,
        /// Absolute offset of the instruction when its section is stored uncompressed,
        /// otherwise of the start of the compressed instructions section.
        at: u64,
        /// What is wrong.
        reason: &'static str,
    },

    /// A section has bytes left over after the last instruction.
    #[error("window {window}: {extra} extra bytes in the {section} section at byte {at}")]
    ExtraSectionBytes {
        /// Window index.
        window: u64,
        /// Section kind.
        section: &'static str,
        /// Absolute offset of the section.
        at: u64,
        /// Number of unused bytes.
        extra: u64,
    },

    /// The instructions produced fewer bytes than the declared target window length.
    #[error("window {window} at byte {at}: produced {found} bytes, expected {expected}")]
    ShortWindow {
        /// Window index.
        window: u64,
        /// Absolute offset of the window.
        at: u64,
        /// Declared target window length.
        expected: u64,
        /// Bytes produced.
        found: u64,
    },

    /// The Adler-32 of a reconstructed window differs from the one stored in the delta.
    #[error(
        "window {window} at byte {at}: adler-32 mismatch (expected {expected:08x}, found {found:08x}): wrong base or corrupt diff"
    )]
    ChecksumMismatch {
        /// Window index.
        window: u64,
        /// Absolute offset of the window in the delta.
        at: u64,
        /// Checksum stored in the delta.
        expected: u32,
        /// Checksum of the reconstructed bytes.
        found: u32,
    },

    /// A copy needs source bytes that the forward-only source window has already dropped.
    #[error(
        "window {window} at byte {at}: copy needs source byte {wanted}, but the source window \
         ({window_size} bytes) now starts at byte {window_start}"
    )]
    SourceBehindWindow {
        /// Window index.
        window: u64,
        /// Absolute offset of the window in the delta.
        at: u64,
        /// Source offset the copy needs.
        wanted: u64,
        /// First source offset still held.
        window_start: u64,
        /// Configured source window size.
        window_size: u64,
    },

    /// A copy needs source bytes past the end of the source.
    #[error(
        "window {window} at byte {at}: copy needs source byte {wanted}, but the source ends at byte {source_len}"
    )]
    SourceTooShort {
        /// Window index.
        window: u64,
        /// Absolute offset of the window in the delta.
        at: u64,
        /// Source offset the copy needs.
        wanted: u64,
        /// Length of the source.
        source_len: u64,
    },

    /// The decoder failed earlier and cannot continue.
    #[error("the decoder already failed and cannot continue")]
    Poisoned,

    /// The rdiff delta does not start with the delta magic.
    #[error("not an rdiff delta: expected magic 72730236, found {found:08x}{}", rdiff_magic_note(*found))]
    RdiffBadMagic {
        /// The 32-bit value found at offset 0.
        found: u32,
    },

    /// An rdiff command byte is reserved.
    #[error("rdiff delta: unknown command {opcode:#04x} at byte {at}")]
    RdiffBadOpcode {
        /// Absolute offset of the command byte.
        at: u64,
        /// The command byte.
        opcode: u8,
    },

    /// An rdiff copy is empty or reaches past the end of the basis.
    #[error(
        "rdiff delta: copy at byte {at} of {len} bytes from basis byte {start} is invalid (basis is {basis_len} bytes)"
    )]
    RdiffBadCopy {
        /// Absolute offset of the command byte.
        at: u64,
        /// Basis start offset.
        start: u64,
        /// Copy length.
        len: u64,
        /// Length of the basis.
        basis_len: u64,
    },

    /// Bytes follow the rdiff END command.
    #[error("rdiff delta: data after the end command at byte {at}")]
    RdiffTrailing {
        /// Absolute offset of the first trailing byte.
        at: u64,
    },

    /// Composing an rdiff delta in memory ([`crate::rdiff::Patched`]) would hold more new data
    /// than allowed.
    #[error(
        "rdiff delta: the literal at byte {at} would bring the new data held in memory to \
         {needed} bytes, above the limit of {limit}"
    )]
    RdiffTooLarge {
        /// Absolute offset of the literal command.
        at: u64,
        /// Literal bytes held with this one.
        needed: u64,
        /// The limit.
        limit: u64,
    },
}

fn rdiff_magic_note(found: u32) -> &'static str {
    match found {
        0x7273_0136 | 0x7273_0137 | 0x7273_0146 | 0x7273_0147 => {
            " (this is an rdiff signature, not a delta)"
        }
        _ => "",
    }
}

impl Error {
    /// A short piece of advice for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        self.hint_text().map(str::to_owned)
    }

    /// The hint, as a constant.
    fn hint_text(&self) -> Option<&'static str> {
        match self {
            Error::ChecksumMismatch { .. } => Some(
                "the full and the diff do not match: use the full named in the diff's file name \
                 or app header, decompressed",
            ),
            Error::SourceBehindWindow { .. } => Some(
                "the delta copies from further back than the source window holds: raise \
                 --source-window, or give a seekable (uncompressed) source",
            ),
            Error::SourceTooShort { .. } => Some(
                "the source is shorter than the delta expects: is it the right full, decompressed?",
            ),
            Error::BadMagic { .. } => {
                Some("remove the outer compression (zstd, gzip, lzop) before decoding")
            }
            Error::LimitExceeded { .. } => {
                Some("the delta is corrupt or was made with options this decoder does not accept")
            }
            Error::RdiffBadMagic { .. } => Some("pass an rdiff delta made by `rdiff delta`"),
            Error::RdiffTooLarge { .. } => Some(
                "apply the chain in two runs, so that this delta is the last of one: \
                 `pverescue patch BASE DELTA... -o STEP`, then `pverescue patch STEP REST...`",
            ),
            _ => None,
        }
    }

    /// Finds this crate's error inside an [`io::Error`] returned by [`crate::Decoder`]'s
    /// `Read` implementation.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match &err {
            Error::DeltaIo { source, .. }
            | Error::SourceIo { source, .. }
            | Error::OutputIo { source, .. } => source.kind(),
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}
