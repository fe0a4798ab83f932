//! One VCDIFF window: its header (RFC 3284 section 4.2 plus xdelta3's Adler-32) and the
//! execution of its instructions into the target window.

use std::io::Read;

use crate::addr_cache::AddrCache;
use crate::codetable::{ADD, COPY, DEFAULT, Half, NOOP, RUN};
use crate::error::{Error, Result};
use crate::input::{DeltaInput, slice_varint};
use crate::secondary::Section;
use crate::source::{CopyContext, SourceRead, SourceWindow};

/// Win_Indicator bit: the window copies from the source file.
const VCD_SOURCE: u8 = 0x01;
/// Win_Indicator bit: the window copies from earlier target output (never written by xdelta3).
const VCD_TARGET: u8 = 0x02;
/// Win_Indicator bit: an Adler-32 of the target window follows the section lengths.
const VCD_ADLER32: u8 = 0x04;
/// Every Delta_Indicator bit (DATACOMP, INSTCOMP, ADDRCOMP).
const DELTA_BITS: u8 = 0x07;

/// Hard cap on a target window: xdelta3 3.1/3.2 allow 64 MiB, 3.0.x 16 MiB.
pub const MAX_TARGET_WINDOW: u64 = 64 * 1024 * 1024;

/// The fields of a window header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowHeader {
    /// Absolute delta offset of the Win_Indicator.
    pub(crate) at: u64,
    /// Source segment length (0 without VCD_SOURCE).
    pub(crate) seg_len: u64,
    /// Source segment position.
    pub(crate) seg_pos: u64,
    /// Target window length.
    pub(crate) target_len: u64,
    /// Delta_Indicator and its offset.
    pub(crate) delta_indicator: u8,
    pub(crate) delta_indicator_at: u64,
    /// Lengths of the data, instructions and addresses sections as stored.
    pub(crate) section_lens: [u64; 3],
    /// The stored Adler-32, if any.
    pub(crate) adler32: Option<u32>,
}

impl WindowHeader {
    /// Reads a window header; `Ok(None)` at a clean end of the delta.
    pub(crate) fn read<R: Read>(
        input: &mut DeltaInput<R>,
        window: u64,
        max_target: u64,
        has_secondary: bool,
    ) -> Result<Option<WindowHeader>> {
        if input.at_eof()? {
            return Ok(None);
        }
        let at = input.offset();
        let indicator = input.u8("window indicator", at)?;
        if indicator & !(VCD_SOURCE | VCD_TARGET | VCD_ADLER32) != 0 {
            return Err(Error::BadIndicator {
                what: "window indicator",
                at,
                found: indicator,
            });
        }
        if indicator & VCD_TARGET != 0 {
            return Err(Error::TargetWindowUnsupported { window, at });
        }
        let (mut seg_len, mut seg_pos) = (0, 0);
        if indicator & VCD_SOURCE != 0 {
            seg_len = input.varint("source segment size")?;
            let pos_at = input.offset();
            seg_pos = input.varint("source segment position")?;
            if seg_pos.checked_add(seg_len).is_none() {
                return Err(Error::LimitExceeded {
                    what: "source segment end",
                    at: pos_at,
                    value: seg_pos,
                    limit: u64::MAX - seg_len,
                });
            }
        }
        let enc_at = input.offset();
        let encoding_len = input.varint("delta encoding length")?;
        let enc_start = input.offset();
        let target_at = input.offset();
        let target_len = input.varint("target window length")?;
        if target_len > max_target {
            return Err(Error::LimitExceeded {
                what: "target window length",
                at: target_at,
                value: target_len,
                limit: max_target,
            });
        }
        let delta_indicator_at = input.offset();
        let delta_indicator = input.u8("delta indicator", delta_indicator_at)?;
        if delta_indicator & !DELTA_BITS != 0 {
            return Err(Error::BadIndicator {
                what: "delta indicator",
                at: delta_indicator_at,
                found: delta_indicator,
            });
        }
        if delta_indicator != 0 && !has_secondary {
            return Err(Error::SecondaryNotDeclared {
                window,
                at: delta_indicator_at,
            });
        }
        let mut section_lens = [0u64; 3];
        for ((len, section), what) in section_lens.iter_mut().zip(Section::ALL).zip([
            "data section length",
            "instructions section length",
            "addresses section length",
        ]) {
            let at = input.offset();
            *len = input.varint(what)?;
            let limit = section_limit(section, target_len);
            if *len > limit {
                return Err(Error::LimitExceeded {
                    what,
                    at,
                    value: *len,
                    limit,
                });
            }
        }
        let mut adler32 = None;
        if indicator & VCD_ADLER32 != 0 {
            let at = input.offset();
            let mut v = 0u32;
            for _ in 0..4 {
                v = (v << 8) | u32::from(input.u8("adler-32", at)?);
            }
            adler32 = Some(v);
        }
        // Every section length is capped, so this sum cannot overflow.
        let found = (input.offset() - enc_start) + section_lens.iter().sum::<u64>();
        if found != encoding_len {
            return Err(Error::EncodingLength {
                window,
                at: enc_at,
                declared: encoding_len,
                found,
            });
        }
        Ok(Some(WindowHeader {
            at,
            seg_len,
            seg_pos,
            target_len,
            delta_indicator,
            delta_indicator_at,
            section_lens,
            adler32,
        }))
    }
}

/// Slack allowed on top of a section's size bound, for compression overhead.
const SECTION_SLACK: u64 = 64 * 1024;

/// Cap on one section of a window producing `target_len` bytes, stored or decompressed. Every
/// ADD and RUN consumes at most as many data bytes as it produces; instructions and addresses
/// take a few bytes per instruction, and every instruction xdelta3 writes produces bytes.
pub(crate) fn section_limit(section: Section, target_len: u64) -> u64 {
    let per_byte = if section == Section::Data { 1 } else { 4 };
    target_len
        .saturating_mul(per_byte)
        .saturating_add(SECTION_SLACK)
}

/// A section ready for execution, with the delta offset of its first byte when it is stored
/// uncompressed (so errors can point at the exact byte).
pub(crate) struct SectionRef<'a> {
    pub(crate) bytes: &'a [u8],
    /// Absolute offset of `bytes[0]` when uncompressed; of the stored section otherwise.
    pub(crate) at: u64,
    pub(crate) exact: bool,
}

impl SectionRef<'_> {
    fn offset(&self, pos: usize) -> u64 {
        if self.exact {
            self.at + pos as u64
        } else {
            self.at
        }
    }
}

/// Executes the instructions of one window, appending exactly `hdr.target_len` bytes to
/// `out` (which must be empty).
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute<S: SourceRead>(
    hdr: &WindowHeader,
    window: u64,
    data: &SectionRef<'_>,
    inst: &SectionRef<'_>,
    addr: &SectionRef<'_>,
    cache: &mut AddrCache,
    source: &mut SourceWindow<S>,
    out: &mut Vec<u8>,
) -> Result<()> {
    cache.reset();
    // The target length is capped at MAX_TARGET_WINDOW, so it fits a usize.
    let target_len = usize::try_from(hdr.target_len).unwrap_or(usize::MAX);
    out.reserve(target_len);
    let ctx = CopyContext { window, at: hdr.at };
    let (d, i, a) = (data.bytes, inst.bytes, addr.bytes);
    let (mut dp, mut ip, mut ap) = (0usize, 0usize, 0usize);
    while ip < i.len() {
        let op_pos = ip;
        let bad = |reason| Error::BadInstruction {
            window,
            at: inst.offset(op_pos),
            reason,
        };
        let entry = &DEFAULT[usize::from(i[ip])];
        ip += 1;
        let mut sizes = [0u64; 2];
        for (size, half) in sizes.iter_mut().zip([&entry.first, &entry.second]) {
            if half.kind != NOOP {
                *size = if half.size == 0 {
                    slice_varint(i, &mut ip).ok_or_else(|| bad("instruction size is truncated"))?
                } else {
                    u64::from(half.size)
                };
            }
        }
        for (size, half) in sizes.into_iter().zip([&entry.first, &entry.second]) {
            if half.kind == NOOP {
                continue;
            }
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= target_len - out.len())
                .ok_or_else(|| bad("instruction writes past the end of the target window"))?;
            run_half(
                half, size, d, &mut dp, a, &mut ap, hdr, cache, source, out, ctx,
            )
            .map_err(|e| match e {
                HalfError::Bad(reason) => bad(reason),
                HalfError::Other(e) => e,
            })?;
        }
    }
    if out.len() != target_len {
        return Err(Error::ShortWindow {
            window,
            at: hdr.at,
            expected: hdr.target_len,
            found: out.len() as u64,
        });
    }
    for (section, used, name) in [
        (data, dp, "data"),
        (inst, ip, "instructions"),
        (addr, ap, "addresses"),
    ] {
        if used != section.bytes.len() {
            return Err(Error::ExtraSectionBytes {
                window,
                section: name,
                at: section.at,
                extra: (section.bytes.len() - used) as u64,
            });
        }
    }
    Ok(())
}

enum HalfError {
    Bad(&'static str),
    Other(Error),
}

impl From<Error> for HalfError {
    fn from(e: Error) -> Self {
        HalfError::Other(e)
    }
}

/// Executes one instruction of `size` bytes (already checked to fit the window).
#[allow(clippy::too_many_arguments)]
#[inline]
fn run_half<S: SourceRead>(
    half: &Half,
    size: usize,
    d: &[u8],
    dp: &mut usize,
    a: &[u8],
    ap: &mut usize,
    hdr: &WindowHeader,
    cache: &mut AddrCache,
    source: &mut SourceWindow<S>,
    out: &mut Vec<u8>,
    ctx: CopyContext,
) -> std::result::Result<(), HalfError> {
    match half.kind {
        ADD => {
            let bytes = d
                .get(*dp..)
                .and_then(|rest| rest.get(..size))
                .ok_or(HalfError::Bad("add reads past the end of the data section"))?;
            out.extend_from_slice(bytes);
            *dp += size;
        }
        RUN => {
            let b = *d
                .get(*dp)
                .ok_or(HalfError::Bad("run reads past the end of the data section"))?;
            *dp += 1;
            out.resize(out.len() + size, b);
        }
        COPY => {
            let here = hdr.seg_len + out.len() as u64;
            let addr = cache.decode(half.mode, here, a, ap).ok_or(HalfError::Bad(
                "copy address is invalid or not below the current position",
            ))?;
            if addr < hdr.seg_len {
                if size as u64 > hdr.seg_len - addr {
                    return Err(HalfError::Bad("copy crosses the end of the source segment"));
                }
                source.copy_to(hdr.seg_pos + addr, size, out, ctx)?;
            } else {
                // `addr < here`, so the offset is inside the output produced so far.
                let from = (addr - hdr.seg_len) as usize;
                copy_within_target(out, from, size);
            }
        }
        _ => return Err(HalfError::Bad("invalid instruction type")),
    }
    Ok(())
}

/// Appends `size` bytes copied from `out[from..]`; when the copy overlaps the bytes being
/// produced, the pattern repeats as with a byte-by-byte copy.
///
/// The bytes from `from` on are periodic with period `out.len() - from` (the distance), and
/// every chunk but the last is a multiple of it, so each chunk may restart at `from`; the
/// chunks double in size.
#[inline]
fn copy_within_target(out: &mut Vec<u8>, from: usize, size: usize) {
    let mut left = size;
    while left > 0 {
        let avail = out.len() - from;
        let n = left.min(avail);
        out.extend_from_within(from..from + n);
        left -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn target_copy_matches_byte_by_byte(
            start in proptest::collection::vec(0u8..4, 1..50),
            from_back in 1usize..50,
            size in 0usize..300,
        ) {
            let from = start.len().saturating_sub(from_back);
            let mut expected = start.clone();
            for k in 0..size {
                let b = expected[from + k];
                expected.push(b);
            }
            let mut out = start;
            copy_within_target(&mut out, from, size);
            proptest::prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn overlapping_target_copy_repeats() {
        let mut out = b"ab".to_vec();
        copy_within_target(&mut out, 0, 7);
        assert_eq!(out, b"ababababa");
        let mut out = b"xyz".to_vec();
        copy_within_target(&mut out, 2, 3);
        assert_eq!(out, b"xyzzzz");
    }
}
