//! DJW (id 1) and FGK (id 16) secondary compression, on deltas made by the real xdelta3 3.0.11.
//!
//! Every fixture is checked to really carry compressed sections (`xdelta3 printhdrs`), and
//! our output must equal the target file. `xdelta3 -d` reproduces the target too, except for
//! multi-window FGK deltas, which xdelta3 cannot decode itself (see
//! `fgk_many_windows_where_xdelta3_itself_fails`).

use std::process::Command;

use vcdiff::{Decoder, Error, NoSource, Options, SecondaryId};

use crate::common::{Fixture, Rng, assert_same, decode, edit, image, words, xdelta3};

/// Text with edits: every section kind compresses.
fn text_pair(len: usize) -> (Vec<u8>, Vec<u8>) {
    let source = words(41, len);
    let mut target = source.clone();
    for (i, chunk) in words(42, len / 500).chunks(40).enumerate() {
        let at = (i * 20_011) % (target.len() - 64);
        target[at..at + chunk.len()].copy_from_slice(chunk);
    }
    (source, target)
}

/// Disk-image-like data (random, text and zero blocks) with scattered edits: some random,
/// some binary records (little-endian counters and flags, mostly small values and zeros)
/// that a Huffman coder can shrink.
fn binary_pair(len: usize) -> (Vec<u8>, Vec<u8>) {
    let source = image(43, len);
    let mut target = edit(&source, 44, 30);
    let mut rng = Rng::new(45);
    for _ in 0..40 {
        let at = rng.below((target.len() - 20_000) as u64) as usize;
        let records = 1 + rng.below(1000) as usize;
        for (r, chunk) in target[at..].chunks_mut(16).take(records).enumerate() {
            let fields = [
                r as u32,
                rng.below(300) as u32,
                0x8000_0000,
                rng.below(4) as u32,
            ];
            let bytes: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    (source, target)
}

/// Number of windows with at least one compressed section, from `xdelta3 printhdrs`.
fn compressed_windows(fx: &Fixture) -> usize {
    let out = Command::new(xdelta3())
        .arg("printhdrs")
        .arg(fx.path("delta.vcdiff"))
        .output()
        .expect("xdelta3 printhdrs runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("VCDIFF delta indicator:") && l.contains("COMP"))
        .count()
}

/// Encodes, checks the real decoder (when it can) and ours; returns the fixture.
fn check(source: Option<&[u8]>, target: &[u8], flags: &[&str], id: SecondaryId) -> Fixture {
    let fx = Fixture::encode(source, target, flags);
    let decoder = Decoder::new(NoSource, &fx.delta[..], Options::default()).expect("header");
    assert_eq!(decoder.header().secondary, Some(id), "{flags:?}");
    assert!(compressed_windows(&fx) > 0, "{flags:?}: nothing compressed");
    let out = decode(&fx.source, &fx.delta, Options::default())
        .unwrap_or_else(|e| panic!("decoding {flags:?}: {e}"));
    assert_same(&out, target, &format!("xdelta3 -e {flags:?}"));
    fx
}

#[test]
fn djw_default_on_text() {
    let (source, target) = text_pair(1 << 20);
    check(Some(&source), &target, &["-S", "djw"], SecondaryId::Djw).check_reference_decoder();
}

#[test]
fn djw_with_level_9() {
    let (source, target) = text_pair(1 << 20);
    check(
        Some(&source),
        &target,
        &["-S", "djw", "-9"],
        SecondaryId::Djw,
    )
    .check_reference_decoder();
}

#[test]
fn djw9_uses_several_tables() {
    // `djw9` lets the encoder pick up to eight code tables and sector sizes per section.
    let (source, target) = text_pair(1 << 20);
    check(Some(&source), &target, &["-S", "djw9"], SecondaryId::Djw).check_reference_decoder();
    let (source, target) = binary_pair(2 << 20);
    check(Some(&source), &target, &["-S", "djw9"], SecondaryId::Djw).check_reference_decoder();
}

#[test]
fn djw_on_binary_data() {
    let (source, target) = binary_pair(2 << 20);
    check(Some(&source), &target, &["-S", "djw"], SecondaryId::Djw).check_reference_decoder();
}

#[test]
fn djw_without_source() {
    let (_, target) = text_pair(512 << 10);
    check(None, &target, &["-S", "djw9"], SecondaryId::Djw).check_reference_decoder();
}

#[test]
fn djw_many_small_windows() {
    let (source, target) = text_pair(1 << 20);
    let fx = check(
        Some(&source),
        &target,
        &["-S", "djw9", "-W", "65536"],
        SecondaryId::Djw,
    );
    fx.check_reference_decoder();
    assert!(compressed_windows(&fx) > 10);
}

#[test]
fn fgk_on_text() {
    let (source, target) = text_pair(1 << 20);
    check(Some(&source), &target, &["-S", "fgk"], SecondaryId::Fgk).check_reference_decoder();
}

#[test]
fn fgk_with_level_9() {
    let (source, target) = text_pair(1 << 20);
    check(
        Some(&source),
        &target,
        &["-S", "fgk", "-9"],
        SecondaryId::Fgk,
    )
    .check_reference_decoder();
}

#[test]
fn fgk_on_binary_data() {
    let (source, target) = binary_pair(2 << 20);
    check(Some(&source), &target, &["-S", "fgk"], SecondaryId::Fgk).check_reference_decoder();
}

#[test]
fn fgk_without_source() {
    let (_, target) = text_pair(512 << 10);
    check(None, &target, &["-S", "fgk"], SecondaryId::Fgk).check_reference_decoder();
}

/// With many windows some sections are stored plain although the encoder ran them through
/// its FGK tree; xdelta3's decoder does not replay them and loses step, ours does.
#[test]
fn fgk_many_windows_where_xdelta3_itself_fails() {
    for (what, (source, target)) in [
        ("text", text_pair(1 << 20)),
        ("binary", binary_pair(1 << 20)),
    ] {
        let fx = check(
            Some(&source),
            &target,
            &["-S", "fgk", "-W", "65536"],
            SecondaryId::Fgk,
        );
        assert!(compressed_windows(&fx) > 10, "{what}");
        let out = Command::new(xdelta3())
            .arg("-d")
            .arg("-f")
            .arg("-s")
            .arg(fx.path("source.bin"))
            .arg(fx.path("delta.vcdiff"))
            .arg(fx.path("decoded.bin"))
            .output()
            .expect("xdelta3 runs");
        // Pinned so that a fixed xdelta3 is noticed: then check_reference_decoder applies.
        assert!(!out.status.success(), "{what}: xdelta3 -d now succeeds");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("secondary decoder"),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Delta offsets and lengths of the first window's three sections, and its delta indicator.
fn first_window_sections(delta: &[u8]) -> (u8, [(usize, usize); 3]) {
    fn varint(d: &[u8], p: &mut usize) -> usize {
        let mut v = 0;
        loop {
            let b = d[*p];
            *p += 1;
            v = (v << 7) | usize::from(b & 0x7f);
            if b & 0x80 == 0 {
                return v;
            }
        }
    }
    let header = Decoder::new(NoSource, delta, Options::default()).expect("header");
    let mut p = usize::try_from(header.header().len).expect("small");
    let indicator = delta[p];
    p += 1;
    if indicator & 0x03 != 0 {
        varint(delta, &mut p);
        varint(delta, &mut p);
    }
    varint(delta, &mut p); // delta encoding length
    varint(delta, &mut p); // target window length
    let compressed = delta[p];
    p += 1;
    let lens = [0; 3].map(|_| varint(delta, &mut p));
    if indicator & 0x04 != 0 {
        p += 4;
    }
    let mut sections = [(0, 0); 3];
    for (k, len) in lens.into_iter().enumerate() {
        sections[k] = (p, len);
        p += len;
    }
    (compressed, sections)
}

/// Flips bytes all over each compressed section of the first window: every result is a
/// clean error or the exact target (a flipped padding bit changes nothing), and the
/// secondary errors name the compressor, window, section and a byte inside the section.
fn corruption_sweep(flags: &[&str], name: &str) {
    // Letters with skewed frequencies and few repeats: a large, compressible data section.
    let mut rng = Rng::new(46);
    let target: Vec<u8> = (0..24 << 10)
        .map(|_| b"eeeeeeeettttaaoinshrdlu"[rng.below(23) as usize])
        .collect();
    let fx = Fixture::encode(None, &target, flags);
    let (compressed, sections) = first_window_sections(&fx.delta);
    assert!(compressed != 0, "{flags:?}: nothing compressed");
    let mut secondary_errors = 0;
    for (k, &(start, len)) in sections.iter().enumerate() {
        if compressed & (1 << k) == 0 {
            continue;
        }
        let step = (len / 150).max(1);
        for at in (start..start + len).step_by(step) {
            for flip in [0x01, 0x10, 0xff] {
                let mut delta = fx.delta.clone();
                delta[at] ^= flip;
                match decode(&[], &delta, Options::default()) {
                    Ok(out) => assert!(out == target, "byte {at} ^ {flip:#x}: wrong output"),
                    Err(Error::Secondary {
                        name: found,
                        window,
                        at: err_at,
                        section,
                        detail,
                    }) => {
                        assert_eq!(found, name);
                        assert_eq!(window, 0);
                        assert!(!detail.is_empty() && !section.is_empty());
                        // A payload that runs out is reported at its end.
                        let range = start as u64..=(start + len) as u64;
                        assert!(range.contains(&err_at), "{err_at} outside {range:?}");
                        secondary_errors += 1;
                    }
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        }
    }
    assert!(secondary_errors > 0, "{flags:?}: no secondary error seen");
}

#[test]
fn corrupt_djw_sections_fail_cleanly() {
    corruption_sweep(&["-S", "djw"], "djw");
    corruption_sweep(&["-S", "djw9"], "djw");
}

#[test]
fn corrupt_fgk_sections_fail_cleanly() {
    corruption_sweep(&["-S", "fgk"], "fgk");
}
