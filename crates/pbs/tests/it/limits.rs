//! Numbers from disk that must be checked before they divide, index or allocate.

use std::path::Path;

use pbswrite::{Kind, encode_blob, fidx_header, index_header, magic};

fn file() -> &'static Path {
    Path::new("test.fidx")
}

#[test]
fn fixed_index_chunk_sizes_are_checked_before_dividing() {
    for cs in [0u64, 4096, (4 << 20) + 1, 8 << 20, 3 << 20] {
        let e = pbs::FixedIndex::parse(&fidx_header([0; 32], 1 << 30, cs), file()).unwrap_err();
        assert!(
            matches!(
                e,
                pbs::Error::Invalid {
                    what: "fixed index chunk size",
                    at: 72,
                    ..
                }
            ),
            "{cs}: {e}"
        );
        assert!(e.hint().unwrap().contains("damaged"));
    }
}

#[test]
fn a_huge_image_size_with_few_entries_is_a_truncation_not_an_allocation() {
    let e = pbs::FixedIndex::parse(&fidx_header([0; 32], u64::MAX, 64 << 10), file()).unwrap_err();
    assert!(
        matches!(
            e,
            pbs::Error::Truncated {
                at: 4096,
                available: 0,
                ..
            }
        ),
        "{e}"
    );
    // Extra bytes after the entries are refused too.
    let mut b = fidx_header([0; 32], 1, 64 << 10);
    b.extend_from_slice(&[0; 33]);
    assert!(matches!(
        pbs::FixedIndex::parse(&b, file()).unwrap_err(),
        pbs::Error::Invalid {
            what: "fixed index length",
            ..
        }
    ));
}

#[test]
fn dynamic_index_ends_must_increase_and_entries_be_whole() {
    let mut body = Vec::new();
    for end in [100u64, 100] {
        body.extend_from_slice(&end.to_le_bytes());
        body.extend_from_slice(&[1; 32]);
    }
    let csum: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &body)).into();
    let mut b = index_header(
        &magic("Proxmox Backup dynamic sized chunk index v1.0"),
        csum,
    );
    b.extend_from_slice(&body);
    let e = pbs::DynamicIndex::parse(&b, file()).unwrap_err();
    assert!(matches!(e, pbs::Error::Invalid { at: 4136, .. }), "{e}");
    b.pop();
    assert!(matches!(
        pbs::DynamicIndex::parse(&b, file()).unwrap_err(),
        pbs::Error::Truncated { .. }
    ));
    // A fixed index given as dynamic: the magic error says which kind it is.
    let e = pbs::DynamicIndex::parse(&fidx_header([0; 32], 0, 64 << 10), file()).unwrap_err();
    assert!(e.to_string().contains("the other index kind"), "{e}");
}

#[test]
fn blobs_never_decode_past_the_limit() {
    let big = vec![0u8; 2 << 20];
    let blob = encode_blob(&big, Kind::Zstd, None, 0);
    let b = pbs::Blob::parse(&blob, file()).unwrap();
    let e = b.decode(None, 1 << 20, file()).unwrap_err();
    assert!(matches!(e, pbs::Error::Limit { .. }), "{e}");
    assert_eq!(b.decode(None, 2 << 20, file()).unwrap(), big);
    // A frame without a content size (streamed, as PBS 3.x writes) and two frames in a row.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    std::io::Write::write_all(&mut enc, &big).unwrap();
    let mut payload = enc.finish().unwrap();
    payload.extend(zstd::bulk::compress(b"tail", 1).unwrap());
    let mut raw = magic("Proxmox Backup zstd compressed blob v1.0").to_vec();
    raw.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    raw.extend_from_slice(&payload);
    let b = pbs::Blob::parse(&raw, file()).unwrap();
    assert_eq!(
        b.decode(None, (2 << 20) + 4, file()).unwrap().len(),
        (2 << 20) + 4
    );
    assert!(matches!(
        b.decode(None, 2 << 20, file()).unwrap_err(),
        pbs::Error::Decompress { .. }
    ));
    // Plain blobs too, and short or unknown headers.
    let plain = encode_blob(&[5; 100], Kind::Plain, None, 0);
    assert!(matches!(
        pbs::Blob::parse(&plain, file())
            .unwrap()
            .decode(None, 99, file()),
        Err(pbs::Error::Limit { .. })
    ));
    assert!(matches!(
        pbs::Blob::parse(&plain[..10], file()),
        Err(pbs::Error::Truncated { .. })
    ));
    assert!(matches!(
        pbs::Blob::parse(&[0; 20], file()),
        Err(pbs::Error::BadMagic { .. })
    ));
    let enc_magic = magic("Proxmox Backup encrypted blob v1.0");
    let mut short = enc_magic.to_vec();
    short.extend_from_slice(&[0; 20]);
    assert!(matches!(
        pbs::Blob::parse(&short, file()),
        Err(pbs::Error::Truncated { needed: 44, .. })
    ));
}
