//! The real Proxmox differential in `testdata/real`, made by pve-xdelta3 3.0.11 (LZMA
//! secondary) as the community vzdump patches ran it.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use vcdiff::{Decoder, ForwardSource, Options, SecondaryId};

const FULL: &str = "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst";
const DIFF: &str =
    "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst";

fn real(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/real")
        .join(name)
}

#[test]
fn real_differential_decodes_bit_exactly_from_a_forward_only_source() {
    // Both zstd layers are undone on the fly: the source is a pipe-like forward-only stream.
    let full =
        zstd::stream::read::Decoder::new(File::open(real(FULL)).expect("full")).expect("zstd");
    let diff =
        zstd::stream::read::Decoder::new(File::open(real(DIFF)).expect("diff")).expect("zstd");
    let mut decoder = Decoder::new(ForwardSource(full), diff, Options::default()).expect("header");
    let header = decoder.header().clone();
    assert_eq!(header.secondary, Some(SecondaryId::Lzma));
    let app = header.app_header.expect("app header");
    assert_eq!(app.input_name, "-");
    assert_eq!(app.source_name.as_deref(), Some(FULL));
    assert_eq!(app.source_compression.as_deref(), Some("S"));
    assert_eq!(vcdiff::compressor_name("S"), Some("zstd"));

    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = decoder.read(&mut buf).expect("decodes");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    assert_eq!(len, 11_042_304);
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        "8c520a09e7700257dade1ff29fe419ed8b007084cfc057f9ff97b9a553cdf044"
    );
    assert!(decoder.is_done());
    assert!(decoder.windows() >= 2, "{} windows", decoder.windows());
}

#[test]
fn real_differential_against_the_compressed_full_is_a_wrong_base() {
    // What stock xdelta3 effectively does with an `S` source id: it reads the .zst bytes.
    let full = File::open(real(FULL)).expect("full");
    let diff =
        zstd::stream::read::Decoder::new(File::open(real(DIFF)).expect("diff")).expect("zstd");
    let mut decoder = Decoder::new(ForwardSource(full), diff, Options::default()).expect("header");
    let err = std::io::copy(&mut decoder, &mut std::io::sink()).expect_err("wrong base");
    let err = vcdiff::Error::from_io(&err).expect("typed error");
    assert!(
        matches!(
            err,
            vcdiff::Error::ChecksumMismatch { .. } | vcdiff::Error::SourceTooShort { .. }
        ),
        "{err}"
    );
}
