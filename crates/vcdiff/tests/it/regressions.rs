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
