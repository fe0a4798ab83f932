//! Deltas made by the real xdelta3 3.0.11, decoded bit-exactly against the target file.

use std::io::Cursor;
use std::sync::OnceLock;

use vcdiff::{Decoder, Error, NoSource, Options, SecondaryId, SeekableSource};

use crate::common::{Fixture, assert_same, decode, decode_with_reads, edit, image, words, xdelta3};

/// A 4 MiB source and its edited version, shared by the variants.
fn pair() -> &'static (Vec<u8>, Vec<u8>) {
    static PAIR: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let source = image(1, 4 << 20);
        let target = edit(&source, 2, 40);
        (source, target)
    })
}

/// Encodes the shared pair with `flags`, checks the real decoder, decodes with ours.
fn round_trip(flags: &[&str]) -> Fixture {
    let (source, target) = pair();
    let fx = Fixture::encode(Some(source), target, flags);
    fx.check_reference_decoder();
    let out = decode(&fx.source, &fx.delta, Options::default())
        .unwrap_or_else(|e| panic!("decoding {flags:?}: {e}"));
    assert_same(&out, &fx.target, &format!("xdelta3 {flags:?}"));
    fx
}

/// A value from `xdelta3 printhdr` for the first window of the fixture's delta.
fn printhdr(fx: &Fixture, field: &str) -> String {
    let out = std::process::Command::new(xdelta3())
        .arg("printhdr")
        .arg(fx.path("delta.vcdiff"))
        .output()
        .expect("xdelta3 printhdr runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("printhdr has no {field:?}:\n{text}"))
}

#[test]
fn defaults_use_lzma_and_app_header() {
    let fx = round_trip(&[]);
    let decoder = Decoder::new(NoSource, &fx.delta[..], Options::default()).expect("header");
    let header = decoder.header();
    assert_eq!(header.secondary, Some(SecondaryId::Lzma));
    let app = header.app_header.as_ref().expect("app header");
    assert_eq!(app.input_name, "target.bin");
    assert_eq!(app.input_compression, "");
    assert_eq!(app.source_name.as_deref(), Some("source.bin"));
    assert_eq!(app.source_compression.as_deref(), Some(""));
    let header_size: u64 = printhdr(&fx, "VCDIFF header size:")
        .parse()
        .expect("number");
    assert_eq!(header.len, header_size);
}

#[test]
fn defaults_through_read_with_odd_buffer_sizes() {
    let fx = round_trip(&[]);
    let out = decode_with_reads(&fx.source, &fx.delta).expect("decodes");
    assert_same(&out, &fx.target, "read interface");
}

#[test]
fn secondary_none() {
    let fx = round_trip(&["-S", "none"]);
    let decoder = Decoder::new(NoSource, &fx.delta[..], Options::default()).expect("header");
    assert_eq!(decoder.header().secondary, None);
}

#[test]
fn level_9() {
    round_trip(&["-9"]);
}

#[test]
fn level_0() {
    round_trip(&["-0"]);
}

#[test]
fn small_source_window_b() {
    round_trip(&["-B", "524288"]);
}

#[test]
fn small_input_window_w_lzma_streams_persist() {
    // 64 KiB windows: 65 windows share the three persistent xz streams.
    let fx = round_trip(&["-W", "65536"]);
    let mut decoder = Decoder::new(
        vcdiff::ForwardSource(&fx.source[..]),
        &fx.delta[..],
        Options::default(),
    )
    .expect("header");
    while decoder.next_window().expect("decodes").is_some() {}
    assert!(decoder.windows() > 60, "only {} windows", decoder.windows());
    assert_eq!(decoder.output_len(), fx.target.len() as u64);
    assert_eq!(decoder.delta_offset(), fx.delta.len() as u64);
}

#[test]
fn small_input_window_without_secondary() {
    round_trip(&["-W", "65536", "-S", "none"]);
}

#[test]
fn no_checksum() {
    let fx = round_trip(&["-n"]);
    assert_eq!(printhdr(&fx, "VCDIFF window indicator:"), "VCD_SOURCE");
}

#[test]
fn no_app_header() {
    let fx = round_trip(&["-A"]);
    let decoder = Decoder::new(NoSource, &fx.delta[..], Options::default()).expect("header");
    assert_eq!(decoder.header().app_header, None);
}

#[test]
fn no_source() {
    let (_, target) = pair();
    for flags in [&[][..], &["-S", "none"][..]] {
        let fx = Fixture::encode(None, target, flags);
        fx.check_reference_decoder();
        let mut decoder =
            Decoder::new(NoSource, &fx.delta[..], Options::default()).expect("header");
        let mut out = Vec::new();
        std::io::copy(&mut decoder, &mut out).expect("decodes");
        assert_same(&out, target, "no source");
    }
}

#[test]
fn multi_window_default_sizes() {
    // 12 MiB of input gives two 8 MiB-limited windows, like a PVE diff.
    let source = image(7, 12 << 20);
    let target = edit(&source, 8, 30);
    let fx = Fixture::encode(Some(&source), &target, &[]);
    fx.check_reference_decoder();
    let out = decode(&fx.source, &fx.delta, Options::default()).expect("decodes");
    assert_same(&out, &fx.target, "multi-window");
}

/// A text pair whose sections every secondary compressor shrinks.
fn text_fixture(flags: &[&str]) -> Fixture {
    let source = words(31, 2 << 20);
    let mut target = source.clone();
    for (i, chunk) in words(32, 4000).chunks(40).enumerate() {
        let at = (i * 20_011) % (target.len() - 64);
        target[at..at + chunk.len()].copy_from_slice(chunk);
    }
    let fx = Fixture::encode(Some(&source), &target, flags);
    fx.check_reference_decoder();
    assert!(printhdr(&fx, "VCDIFF delta indicator:").contains("VCD_DATACOMP"));
    fx
}

#[test]
fn text_with_lzma() {
    let fx = text_fixture(&[]);
    let out = decode(&fx.source, &fx.delta, Options::default()).expect("decodes");
    assert_same(&out, &fx.target, "text with lzma");
}

#[test]
fn fgk_file_without_compressed_sections_decodes() {
    // On small text FGK saves nothing, so no section is compressed (real tool's choice).
    let source = include_bytes!("../../testdata/small.src");
    let target = include_bytes!("../../testdata/small.tgt");
    let fx = Fixture::encode(Some(source), target, &["-S", "fgk"]);
    fx.check_reference_decoder();
    assert_eq!(
        printhdr(&fx, "VCDIFF secondary compressor:"),
        "FGK Adaptive Huffman"
    );
    let out = decode(&fx.source, &fx.delta, Options::default()).expect("decodes");
    assert_same(&out, target, "fgk without compressed sections");
}

#[test]
fn wrong_base_is_an_adler32_mismatch() {
    let fx = round_trip(&[]);
    let mut wrong = fx.source.clone();
    wrong[100..200].fill(0x55);
    let err = decode(&wrong, &fx.delta, Options::default()).expect_err("wrong base");
    let expected = printhdr(&fx, "VCDIFF adler32 checksum:").to_lowercase();
    let at = printhdr(&fx, "VCDIFF header size:");
    let text = err.to_string();
    let prefix = format!("window 0 at byte {at}: adler-32 mismatch (expected {expected}, found ");
    assert!(text.starts_with(&prefix), "{text}");
    assert!(text.ends_with("): wrong base or corrupt diff"), "{text}");
    assert!(err.hint().expect("hint").contains("do not match"));
    // The check can be turned off, and is absent from `-n` deltas.
    let out = decode(
        &wrong,
        &fx.delta,
        Options::default().verify_checksums(false),
    );
    assert!(out.expect("unchecked").len() == fx.target.len());
}

#[test]
fn without_checksums_a_wrong_base_goes_unnoticed() {
    // Documented behaviour of xdelta3 too: only the payload's own checks can catch this.
    let fx = round_trip(&["-n", "-S", "none"]);
    let mut wrong = fx.source.clone();
    wrong[100..200].fill(0x55);
    let out = decode(&wrong, &fx.delta, Options::default()).expect("no checksum to fail");
    assert_ne!(out, fx.target);
}

#[test]
fn truncated_delta() {
    let fx = round_trip(&[]);
    for cut in [fx.delta.len() / 2, fx.delta.len() - 1, 40] {
        let err = decode(&fx.source, &fx.delta[..cut], Options::default()).expect_err("truncated");
        assert!(
            matches!(err, Error::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().starts_with("delta truncated: "), "{err}");
    }
}

#[test]
fn trailing_garbage_is_rejected() {
    let fx = round_trip(&["-S", "none"]);
    let mut delta = fx.delta.clone();
    delta.extend_from_slice(&[0x42, 0x00]);
    let err = decode(&fx.source, &delta, Options::default()).expect_err("garbage");
    assert!(
        matches!(
            err,
            Error::BadIndicator {
                what: "window indicator",
                ..
            }
        ),
        "{err}"
    );
}

/// Target = the second half of the source, then the first half: the second window's copies
/// reach 2 MiB behind the furthest source byte read.
fn swapped_halves() -> Fixture {
    let source = image(11, 4 << 20);
    let (a, b) = source.split_at(2 << 20);
    let target = [b, a].concat();
    let fx = Fixture::encode(Some(&source), &target, &["-B", "8388608", "-W", "2097152"]);
    fx.check_reference_decoder();
    fx
}

#[test]
fn copy_behind_a_small_source_window() {
    let fx = swapped_halves();
    let opts = Options::default().source_window(1 << 20);
    let err = decode(&fx.source, &fx.delta, opts).expect_err("behind window");
    match &err {
        Error::SourceBehindWindow {
            window_size,
            wanted,
            window_start,
            ..
        } => {
            assert_eq!(*window_size, 1 << 20);
            assert!(wanted < window_start);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.hint().expect("hint").contains("--source-window"));
    // The default window is large enough, and a seekable source needs no window at all.
    let out = decode(&fx.source, &fx.delta, Options::default()).expect("default window");
    assert_same(&out, &fx.target, "default window");
    let mut decoder = Decoder::new(
        SeekableSource(Cursor::new(&fx.source)),
        &fx.delta[..],
        Options::default().source_window(1 << 20),
    )
    .expect("header");
    let mut out = Vec::new();
    std::io::copy(&mut decoder, &mut out).expect("seekable decodes");
    assert_same(&out, &fx.target, "seekable source");
}

#[test]
fn source_too_short() {
    let fx = round_trip(&["-S", "none"]);
    let short = &fx.source[..fx.source.len() / 2];
    let err = decode(short, &fx.delta, Options::default()).expect_err("short source");
    assert!(
        matches!(err, Error::SourceTooShort { source_len, .. } if source_len == short.len() as u64),
        "{err}"
    );
}

#[test]
fn max_target_window_is_enforced() {
    let fx = round_trip(&["-S", "none"]);
    let err = decode(
        &fx.source,
        &fx.delta,
        Options::default().max_target_window(1 << 20),
    )
    .expect_err("window above limit");
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                what: "target window length",
                ..
            }
        ),
        "{err}"
    );
}
