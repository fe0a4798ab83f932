//! LZMA secondary compression (xdelta3 id 2).
//!
//! The encoder keeps one xz stream (LZMA2 filter, check NONE) per section kind for the whole
//! file and sync-flushes it after every window, never finishing it. The first compressed
//! section of each kind therefore starts with the xz stream and block headers; later ones
//! carry only further LZMA2 chunks. Decoding mirrors this: three persistent stream decoders,
//! each fed one section payload per window and drained of exactly the declared length.

use liblzma::stream::{Action, Status, Stream};

use super::{SecondaryError, Section};

/// Memory limit for one xz stream decoder. xdelta3's presets use dictionaries of at most
/// 64 MiB; a crafted block header asking for more is refused instead of allocated.
pub const MAX_LZMA_MEMORY: u64 = 128 * 1024 * 1024;

/// Output is produced in steps of this size, so memory follows the bytes actually decoded.
const OUTPUT_STEP: usize = 1024 * 1024;

/// The three persistent streams, created when first needed.
pub(crate) struct LzmaSections {
    streams: [Option<Stream>; 3],
}

fn describe(err: liblzma::stream::Error) -> String {
    use liblzma::stream::Error as E;
    match err {
        E::Data => "corrupt lzma data".to_owned(),
        E::Format => "not an xz stream".to_owned(),
        E::Options => "unsupported xz options".to_owned(),
        E::MemLimit => format!("xz stream needs more than {MAX_LZMA_MEMORY} bytes of memory"),
        other => format!("xz decoder error: {other:?}").to_lowercase(),
    }
}

impl LzmaSections {
    pub(crate) fn new() -> Self {
        LzmaSections {
            streams: [None, None, None],
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
        let slot = &mut self.streams[section as usize];
        let stream = match slot {
            Some(s) => s,
            None => slot.insert(
                Stream::new_stream_decoder(MAX_LZMA_MEMORY, 0)
                    .map_err(|e| SecondaryError::corrupt(describe(e)))?,
            ),
        };
        let start = out.len();
        let goal = start + expected;
        let mut consumed = 0usize;
        let mut stalled = false;
        while out.len() < goal {
            let produced = out.len();
            let step = (goal - produced).min(OUTPUT_STEP);
            out.resize(produced + step, 0);
            let in_before = stream.total_in();
            let out_before = stream.total_out();
            let status = stream
                .process(&payload[consumed..], &mut out[produced..], Action::Run)
                .map_err(|e| SecondaryError::corrupt(describe(e)))?;
            let used = usize::try_from(stream.total_in() - in_before).unwrap_or(usize::MAX);
            let made = usize::try_from(stream.total_out() - out_before).unwrap_or(usize::MAX);
            consumed = consumed.saturating_add(used).min(payload.len());
            out.truncate(produced + made.min(step));
            if used == 0 && made == 0 {
                if stalled || consumed == payload.len() || status == Status::StreamEnd {
                    out.truncate(start);
                    return Err(SecondaryError::corrupt(format!(
                        "payload ends after {} of {expected} bytes",
                        produced - start
                    )));
                }
                stalled = true;
            } else {
                stalled = false;
            }
        }
        // The window's payload may end with bytes that produce no output (the end of an
        // LZMA2 chunk); let the decoder consume them, but it must not produce anything more.
        // A probe with empty input also catches output the decoder still holds.
        let mut probe = [0u8; 1];
        loop {
            let in_before = stream.total_in();
            let out_before = stream.total_out();
            stream
                .process(&payload[consumed..], &mut probe, Action::Run)
                .map_err(|e| SecondaryError::corrupt(describe(e)))?;
            if stream.total_out() != out_before {
                return Err(SecondaryError::corrupt(format!(
                    "payload holds more than the declared {expected} bytes"
                )));
            }
            let used = usize::try_from(stream.total_in() - in_before).unwrap_or(usize::MAX);
            if used == 0 {
                break;
            }
            consumed = consumed.saturating_add(used).min(payload.len());
        }
        if consumed != payload.len() {
            return Err(SecondaryError::corrupt(format!(
                "{} unused payload bytes",
                payload.len() - consumed
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liblzma::stream::{Check, Filters, LzmaOptions};

    /// Encodes `parts` the way xdelta3 does: one stream, a sync flush after each part.
    fn encode(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        let opts = LzmaOptions::new_preset(0).expect("preset");
        let mut filters = Filters::new();
        filters.lzma2(&opts);
        let mut enc = Stream::new_stream_encoder(&filters, Check::None).expect("encoder");
        let mut out = Vec::new();
        for part in parts {
            let mut buf = Vec::with_capacity(part.len() * 2 + 1024);
            let before = enc.total_in();
            loop {
                let done = usize::try_from(enc.total_in() - before).expect("small");
                let status = enc
                    .process_vec(&part[done..], &mut buf, Action::SyncFlush)
                    .expect("encode");
                if status == Status::StreamEnd {
                    break;
                }
                buf.reserve(1024);
            }
            out.push(buf);
        }
        out
    }

    #[test]
    fn persistent_stream_across_windows() {
        let a: Vec<u8> = (0..50_000u32).map(|i| (i % 97) as u8).collect();
        let b: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let payloads = encode(&[&a, &b, b"tail bytes!"]);
        assert_eq!(&payloads[0][..6], &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
        let mut dec = LzmaSections::new();
        let mut out = Vec::new();
        for (payload, want) in payloads.iter().zip([&a[..], &b[..], b"tail bytes!"]) {
            out.clear();
            dec.decompress(Section::Data, payload, want.len(), &mut out)
                .expect("decodes");
            assert_eq!(out, want);
        }
    }

    #[test]
    fn wrong_lengths_fail() {
        let a = vec![7u8; 10_000];
        let payloads = encode(&[&a]);
        let mut out = Vec::new();
        let err = LzmaSections::new().decompress(Section::Inst, &payloads[0], 10_001, &mut out);
        assert!(matches!(err, Err(SecondaryError { .. })));
        let err = LzmaSections::new().decompress(Section::Inst, &payloads[0], 9_999, &mut out);
        assert!(matches!(err, Err(SecondaryError { .. })));
        let err = LzmaSections::new().decompress(Section::Addr, b"not xz at all", 5, &mut out);
        assert!(matches!(err, Err(SecondaryError { .. })));
    }
}
