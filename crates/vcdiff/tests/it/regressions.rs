//! Inputs that once broke the decoder or could (found by fuzzing or review), each kept as a
//! test. Fuzzing (`fuzz/`, 2 × 300 s) has found no crash so far; the exhaustive corruption
//! sweep below keeps the properties it checks in the ordinary test suite.

use vcdiff::{Error, Options};

use crate::common::decode;

const SOURCE: &[u8] = include_bytes!("../../testdata/small.src");
const TARGET: &[u8] = include_bytes!("../../testdata/small.tgt");
const DELTA: &[u8] = include_bytes!("../../testdata/small.vcdiff");

#[test]
fn every_single_byte_corruption_of_a_real_delta_fails_cleanly_or_decodes_right() {
    for at in 0..DELTA.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut delta = DELTA.to_vec();
            delta[at] ^= flip;
            match decode(SOURCE, &delta, Options::default()) {
                // Only bytes that do not affect the output (the app header text) may change.
                Ok(out) => assert!(
                    out == TARGET,
                    "byte {at} ^ {flip:#x} decoded to wrong output"
                ),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn every_truncation_of_a_real_delta_is_reported() {
    // VCDIFF has no trailer: a delta cut exactly after the file header (or, with several
    // windows, between two windows) is a valid, shorter delta. Here the header is 28 bytes.
    let header_len = 28;
    assert_eq!(
        decode(SOURCE, &DELTA[..header_len], Options::default()).ok(),
        Some(Vec::new())
    );
    for len in (0..DELTA.len()).filter(|&l| l != header_len) {
        let err = decode(SOURCE, &DELTA[..len], Options::default()).expect_err("truncated");
        assert!(
            matches!(err, Error::Truncated { .. } | Error::BadMagic { .. }),
            "cut at {len}: {err}"
        );
    }
}

/// A VCDIFF varint (RFC 3284 §2: big-endian base 128, high bit set on all but the last byte).
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n != 0 {
        out.push(0x80 | (n & 0x7f) as u8);
        n >>= 7;
    }
    out.reverse();
    out
}

/// One window whose 4-byte source segment starts at 2^62, copied whole with one COPY (opcode 20
/// of the default code table: size 4, mode 0, address 0). Built by hand from RFC 3284.
fn delta_copying_at(pos: u64) -> Vec<u8> {
    let (data, inst, addr) = (vec![], vec![20u8], varint(0));
    let mut body = varint(4); // target window length
    body.push(0); // delta indicator
    for section in [&data, &inst, &addr] {
        body.extend(varint(section.len() as u64));
    }
    for section in [&data, &inst, &addr] {
        body.extend_from_slice(section);
    }
    let mut delta = vec![0xD6, 0xC3, 0xC4, 0x00, 0x00];
    delta.push(0x01); // VCD_SOURCE
    delta.extend(varint(4));
    delta.extend(varint(pos));
    delta.extend(varint(body.len() as u64));
    delta.extend(body);
    delta
}

/// A source segment at 2^62 against a seekable file: ext4 refuses the seek, so the decoder said
/// "Invalid argument (os error 22)" (on file systems that accept the offset it said the source
/// ends at 2^62). It names the offset wanted and where the source really ends.
#[test]
fn issue10_item13_source_segment_far_past_a_seekable_source() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("source");
    std::fs::write(&path, vec![0x5a; 8000]).expect("write source");
    let delta = delta_copying_at(1 << 62);
    let source = vcdiff::SeekableSource(std::fs::File::open(&path).expect("open source"));
    let run = || -> vcdiff::Result<Vec<u8>> {
        let mut d = vcdiff::Decoder::new(source, &delta[..], Options::default())?;
        let mut out = Vec::new();
        while let Some(w) = d.next_window()? {
            out.write_all(w).expect("in memory");
        }
        Ok(out)
    };
    let err = run().expect_err("a copy past the end was accepted");
    assert_eq!(
        err.to_string(),
        "window 0 at byte 5: copy needs source byte 4611686018427387904, but the source ends at byte 8000"
    );
    assert!(err.hint().is_some_and(|h| h.contains("shorter")));
    // The same delta at position 0 decodes: the hand-made encoding is right.
    let ok = decode(&[0x5a; 8000], &delta_copying_at(0), Options::default()).expect("decodes");
    assert_eq!(ok, [0x5a; 4]);
}
