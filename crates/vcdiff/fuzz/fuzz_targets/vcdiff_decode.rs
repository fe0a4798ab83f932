//! Fuzzes the VCDIFF decoder (and the rdiff patcher) with a `(source, delta)` pair.
//!
//! Properties checked besides "no panic": every window respects the configured target window
//! limit, the total output is bounded by what the delta can describe, and a decode that
//! finishes has consumed the delta exactly and reports the bytes it produced.
//! Run a single input with `cargo +nightly fuzz run --fuzz-dir fuzz vcdiff_decode FILE`.
#![no_main]

use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;
use vcdiff::{Decoder, ForwardSource, Options, SeekableSource, SourceRead};

/// Target window limit used while fuzzing, to keep each run cheap.
const MAX_WINDOW: u64 = 1 << 20;
/// Smallest possible window: indicator, encoding length, target length, delta indicator and
/// three section lengths.
const MIN_WINDOW_BYTES: u64 = 6;

fn decode<S: SourceRead>(source: S, delta: &[u8]) {
    let opts = Options::default()
        .source_window(64 * 1024)
        .max_target_window(MAX_WINDOW);
    let Ok(mut decoder) = Decoder::new(source, delta, opts) else {
        return;
    };
    let mut total = 0u64;
    loop {
        match decoder.next_window() {
            Ok(Some(window)) => {
                assert!(window.len() as u64 <= MAX_WINDOW);
                total += window.len() as u64;
            }
            Ok(None) => {
                assert!(decoder.is_done());
                assert_eq!(decoder.delta_offset(), delta.len() as u64);
                assert_eq!(decoder.output_len(), total);
                break;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                let _ = e.hint();
                assert!(matches!(
                    decoder.next_window(),
                    Err(vcdiff::Error::Poisoned)
                ));
                break;
            }
        }
    }
    assert!(total <= (delta.len() as u64 / MIN_WINDOW_BYTES + 1) * MAX_WINDOW);
}

/// A writer that only counts, so rdiff output never piles up in memory.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|input: (&[u8], &[u8])| {
    let (source, delta) = input;
    let _ = vcdiff::sniff(delta);
    if source.len() % 2 == 0 {
        decode(ForwardSource(source), delta);
    } else {
        decode(SeekableSource(Cursor::new(source)), delta);
    }
    let mut out = Count(0);
    if let Ok(n) = vcdiff::rdiff::apply(Cursor::new(source), delta, &mut out) {
        assert_eq!(n, out.0);
    }
});
