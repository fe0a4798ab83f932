//! Fuzzes the lzop container reader and writer.
//!
//! Every input is used three ways:
//! 1. as a whole lzop file (interesting once the fuzzer has found the magic and a valid header checksum);
//! 2. as the block stream after a valid header whose flags come from the first byte, so that the fuzzer reaches
//!    block parsing, the checksums, the delta filter and the LZO1X decoder without solving a checksum first;
//! 3. as data to compress with `LzopWriter` and read back, which must give the data again.
//!
//! Properties: no panic; decoding never yields more than `MAX_BLOCK_LEN` per 8 input bytes (every block costs at
//! least a length word and a stored length), so allocation stays bounded by the input; round trips are exact.
//! Run: `cargo +nightly fuzz run --fuzz-dir fuzz lzop_read -- -max_total_time=120` from `crates/unpack`.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use unpack::{LzopReader, LzopWriter, MAX_BLOCK_LEN};

const MAGIC: [u8; 9] = [0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A];

/// Decodes `file`, checking the output bound; returns the output on success.
fn decode(file: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let ok = LzopReader::new(file).read_to_end(&mut out).is_ok();
    let bound = (file.len() / 8 + 1) as u64 * u64::from(MAX_BLOCK_LEN);
    assert!(out.len() as u64 <= bound, "{} bytes out of {} in", out.len(), file.len());
    ok.then_some(out)
}

/// A valid lzop 1.04 header with data-checksum flags and an optional filter chosen by `sel`.
fn header(sel: u8) -> Vec<u8> {
    let mut flags: u32 = 0x0300_000C;
    flags |= u32::from(sel & 0x03); // ADLER32_D, ADLER32_C.
    flags |= u32::from(sel & 0x0C) << 6; // CRC32_D, CRC32_C.
    let filter = (sel >> 4) & 0x0F; // 0: none, else 1..=15.
    if filter != 0 {
        flags |= 0x800;
    }
    let mut h = vec![0x10, 0x40, 0x20, 0xA0, 0x09, 0x40, 1, 5];
    h.extend_from_slice(&flags.to_be_bytes());
    if filter != 0 {
        h.extend_from_slice(&u32::from(filter).to_be_bytes());
    }
    h.extend_from_slice(&[0; 13]);
    let sum = adler2::adler32_slice(&h);
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&h);
    file.extend_from_slice(&sum.to_be_bytes());
    file
}

fuzz_target!(|data: &[u8]| {
    decode(data);

    if let Some((&sel, blocks)) = data.split_first() {
        let mut file = header(sel);
        file.extend_from_slice(blocks);
        decode(&file);
    }

    let mut w = LzopWriter::new(Vec::new());
    w.write_all(data).expect("write to a Vec");
    let file = w.finish().expect("finish into a Vec");
    assert_eq!(decode(&file).as_deref(), Some(data), "writer round trip");
});
