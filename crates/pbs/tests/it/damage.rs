//! Damaged copies of the sample datastore: each damage is a named error that says where.

use std::path::Path;

use crate::common::*;
use pbswrite::{Kind, encode_blob};

const SNAP: &str = "vm/800/2026-12-01T21:00:00Z";
const SCSI0: &str = "drive-scsi0.img.fidx";

fn open_image(root: &Path) -> pbs::Result<pbs::FixedImage> {
    let (store, s) = snapshot(root, SNAP);
    pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new())?.fixed_image(SCSI0)
}

/// The path of chunk `i` of scsi0 in the store at `root`.
fn chunk_file(root: &Path, i: usize) -> std::path::PathBuf {
    let idx = pbs::FixedIndex::open(&root.join(SNAP).join(SCSI0)).unwrap();
    pbs::Datastore::open(root)
        .unwrap()
        .chunk_path(&idx.digests[i])
}

fn modify(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_chunk_byte_is_a_crc_error_naming_the_chunk() {
    let (_tmp, root) = sample_copy();
    let chunk = chunk_file(&root, 2);
    modify(&chunk, |b| b[100] ^= 0x40);
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    match &e {
        pbs::Error::Checksum { file, what, at, .. } => {
            assert_eq!(
                (file.as_path(), *what, *at),
                (chunk.as_path(), "blob CRC-32", 8)
            );
        }
        _ => panic!("{e}"),
    }
    assert!(e.hint().is_some());
}

#[test]
fn a_wrong_crc_field_is_a_crc_error() {
    let (_tmp, root) = sample_copy();
    let chunk = chunk_file(&root, 0);
    modify(&chunk, |b| b[8] ^= 1);
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    assert!(
        matches!(
            e,
            pbs::Error::Checksum {
                what: "blob CRC-32",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_chunk_whose_content_is_not_its_name_is_a_digest_error() {
    // A valid blob of other data under chunk 0's name: CRC and zstd pass, the digest does not.
    let (_tmp, root) = sample_copy();
    let chunk = chunk_file(&root, 0);
    std::fs::write(
        &chunk,
        encode_blob(&vec![1u8; 4 << 20], Kind::Zstd, None, 0),
    )
    .unwrap();
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::Checksum { what: "chunk digest", file, .. } if *file == chunk),
        "{e}"
    );
    // A blob of the wrong length.
    std::fs::write(&chunk, encode_blob(&[1u8; 4096], Kind::Zstd, None, 0)).unwrap();
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            pbs::Error::Invalid {
                what: "decoded chunk length",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_missing_chunk_names_the_index_and_entry_and_can_be_zero_filled() {
    let (_tmp, root) = sample_copy();
    let good = restore(&open_image(&sample_store()).unwrap(), &Default::default())
        .unwrap()
        .0;
    let chunk = chunk_file(&root, 2);
    // Its XXXX directory goes too, as in copies that drop empty directories.
    std::fs::remove_dir_all(chunk.parent().unwrap()).unwrap();
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    match &e {
        pbs::Error::MissingChunk {
            file, index, entry, ..
        } => {
            assert_eq!(file, &chunk);
            assert!(index.ends_with(SCSI0));
            assert_eq!(*entry, 2);
        }
        _ => panic!("{e}"),
    }
    let opts = pbs::RestoreOptions {
        threads: 2,
        zero_fill: true,
        ..Default::default()
    };
    let (bytes, report) = restore(&open_image(&root).unwrap(), &opts).unwrap();
    assert_eq!(report.damaged.len(), 1);
    let range = report.damaged[0].range.clone();
    assert_eq!(range, (8 << 20)..(12 << 20));
    assert!(matches!(
        report.damaged[0].error,
        pbs::Error::MissingChunk { .. }
    ));
    let mut expected = good;
    expected[range.start as usize..range.end as usize].fill(0);
    assert_eq!(sha256_hex(&bytes), sha256_hex(&expected));
}

#[test]
fn a_truncated_index_is_a_truncation_error() {
    let (_tmp, root) = sample_copy();
    let fidx = root.join(SNAP).join(SCSI0);
    modify(&fidx, |b| b.truncate(b.len() - 10));
    let e = open_image(&root).unwrap_err();
    match &e {
        pbs::Error::Truncated {
            file,
            at,
            needed,
            available,
            ..
        } => {
            assert_eq!(file, &fidx);
            assert_eq!((*at, *needed, *available), (4096, 4 * 32, 4 * 32 - 10));
        }
        _ => panic!("{e}"),
    }
    modify(&fidx, |b| b.truncate(100));
    assert!(matches!(
        open_image(&root).unwrap_err(),
        pbs::Error::Truncated {
            at: 0,
            needed: 4096,
            ..
        }
    ));
}

#[test]
fn a_changed_index_entry_is_an_index_checksum_error() {
    let (_tmp, root) = sample_copy();
    let fidx = root.join(SNAP).join(SCSI0);
    modify(&fidx, |b| b[4096 + 5] ^= 1);
    let e = open_image(&root).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::Checksum { what: "index checksum", at: 32, file, .. } if *file == fidx),
        "{e}"
    );
}

/// Rewrites the manifest of `snap` with `f` applied to its JSON.
fn edit_manifest(root: &Path, snap: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let path = root.join(snap).join("index.json.blob");
    let raw = std::fs::read(&path).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&zstd::decode_all(&raw[12..]).unwrap()).unwrap();
    f(&mut v);
    let json = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(&path, encode_blob(&json, Kind::Zstd, None, 0)).unwrap();
}

#[test]
fn a_wrong_manifest_checksum_is_a_manifest_mismatch() {
    let (_tmp, root) = sample_copy();
    edit_manifest(&root, SNAP, |v| {
        v["files"][1]["csum"] = serde_json::json!("00".repeat(32))
    });
    let e = open_image(&root).unwrap_err();
    match &e {
        pbs::Error::ManifestMismatch {
            file,
            what,
            expected,
            found,
        } => {
            assert!(file.ends_with(SCSI0));
            assert_eq!(
                (*what, expected.as_str()),
                ("checksum", "00".repeat(32).as_str())
            );
            assert_eq!(
                found,
                "c158185e6cdc67bf531eac4c807c173bc7d18ddf645a1ae2e2f8d350cac6d5f3"
            );
        }
        _ => panic!("{e}"),
    }
    edit_manifest(&root, SNAP, |v| {
        v["files"][1]["csum"] =
            serde_json::json!("c158185e6cdc67bf531eac4c807c173bc7d18ddf645a1ae2e2f8d350cac6d5f3");
        v["files"][1]["size"] = serde_json::json!(12845057);
    });
    assert!(matches!(
        open_image(&root).unwrap_err(),
        pbs::Error::ManifestMismatch { what: "size", .. }
    ));
}

#[test]
fn a_flipped_byte_in_a_config_blob_is_a_manifest_mismatch() {
    let (_tmp, root) = sample_copy();
    modify(&root.join(SNAP).join("qemu-server.conf.blob"), |b| {
        b[20] ^= 1
    });
    let (store, s) = snapshot(&root, SNAP);
    let r = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap();
    let e = r.blob("qemu-server.conf.blob").unwrap_err();
    assert!(
        matches!(
            e,
            pbs::Error::ManifestMismatch {
                what: "checksum",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_changed_signed_manifest_fails_its_signature() {
    let (_tmp, root) = sample_copy();
    let snap = "ns/offsite/vm/801/2026-12-03T03:00:00Z";
    edit_manifest(&root, snap, |v| {
        v["backup-time"] = serde_json::json!(1796266801)
    });
    let (store, s) = snapshot(&root, snap);
    let mut keys = pbs::Keyring::new();
    keys.add(sample_key());
    let e = pbs::SnapshotReader::open(&store, &s, &keys).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::Signature { found, .. } if found == "77825435e515f004a3fbd52b3451e04cf8819bf3fd48228820f78466e741591d"),
        "{e}"
    );
    // The unprotected part may change without breaking the signature.
    let (_tmp2, root2) = sample_copy();
    edit_manifest(&root2, snap, |v| {
        v["unprotected"]["verify_state"] = serde_json::json!({"state": "ok", "upid": "x"})
    });
    let (store, s) = snapshot(&root2, snap);
    let r = pbs::SnapshotReader::open(&store, &s, &keys).unwrap();
    assert_eq!(r.manifest().verify_state(), Some("ok"));
}

#[test]
fn an_unfinished_snapshot_is_listed_and_a_group_means_the_newest_finished() {
    let (_tmp, root) = sample_copy();
    std::fs::remove_file(root.join("vm/800/2026-12-02T21:00:00Z/index.json.blob")).unwrap();
    std::fs::write(root.join("vm/800/2026-12-01T21:00:00Z/.protected"), b"").unwrap();
    let (store, l) = pbs::locate(&root.join("vm/800")).unwrap();
    let pbs::Located::Group(g) = l else { panic!() };
    let snaps = store.snapshots(&g).unwrap();
    assert_eq!(
        snaps
            .iter()
            .map(|s| (s.finished, s.protected))
            .collect::<Vec<_>>(),
        [(true, true), (false, false)]
    );
    assert_eq!(
        store.newest_finished(&g).unwrap().unwrap().time,
        "2026-12-01T21:00:00Z"
    );
}

#[test]
fn evicted_and_verify_renamed_chunks_are_missing_but_bad_copies_are_listed() {
    let (_tmp, root) = sample_copy();
    let chunk = chunk_file(&root, 0);
    // An S3 cache entry whose data was evicted is an empty file.
    std::fs::write(&chunk, b"").unwrap();
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    assert!(
        matches!(e, pbs::Error::MissingChunk { entry: 0, .. }),
        "{e}"
    );
    // A verify job renamed it as corrupt: still missing, the copy is listed, never used.
    let bad = chunk.with_file_name(format!(
        "{}.0.bad",
        chunk.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::rename(&chunk, &bad).unwrap();
    let store = pbs::Datastore::open(&root).unwrap();
    let idx = pbs::FixedIndex::open(&root.join(SNAP).join(SCSI0)).unwrap();
    assert_eq!(store.bad_chunk_copies(&idx.digests[0]), [bad]);
    assert_eq!(store.read_chunk(&idx.digests[0]).unwrap(), None);
}

#[test]
fn empty_groups_and_writer_leftovers_are_listed_without_failing() {
    let (_tmp, root) = sample_copy();
    std::fs::create_dir_all(root.join("ct/105")).unwrap();
    std::fs::write(root.join("ct/105/owner"), "backup@pbs!sync\n").unwrap();
    std::fs::write(root.join("ct/105/notes"), "moved away\n").unwrap();
    std::fs::write(
        root.join(SNAP).join("drive-scsi1.img.tmp_fidx"),
        b"leftover",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("lost+found")).unwrap();
    let store = pbs::Datastore::open(&root).unwrap();
    let groups = store.groups(&pbs::Namespace::default()).unwrap();
    let ct = groups.iter().find(|g| g.backup_type == "ct").unwrap();
    assert_eq!(
        (ct.owner.as_deref(), ct.notes.as_deref()),
        (Some("backup@pbs!sync"), Some("moved away"))
    );
    assert!(store.snapshots(ct).unwrap().is_empty());
    assert_eq!(store.newest_finished(ct).unwrap(), None);
    assert_eq!(
        groups
            .iter()
            .map(|g| g.backup_type.as_str())
            .collect::<Vec<_>>(),
        ["vm", "ct"]
    );
    let snap = &store.snapshots(&groups[0]).unwrap()[0];
    assert!(!snap.files.iter().any(|f| f.contains("tmp_")));
}

#[test]
fn a_key_file_whose_fingerprint_does_not_match_its_key_is_refused() {
    let path = fixtures().join("sample-key.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("ae:d3", "ae:d4");
    let e = pbs::KeyFile::parse(text.as_bytes(), &path)
        .unwrap()
        .unlock(None)
        .unwrap_err();
    assert!(matches!(e, pbs::Error::KeyFile { .. }), "{e}");
    assert!(e.to_string().contains(SAMPLE_FINGERPRINT), "{e}");
    let e = pbs::KeyFile::parse(b"{\"kdf\": {\"Argon\": {}}, \"data\": \"\"}", &path).unwrap_err();
    assert!(e.to_string().contains("unknown kdf"), "{e}");
}

#[test]
fn a_flipped_byte_in_a_manifest_is_a_crc_error_naming_it() {
    let (_tmp, root) = sample_copy();
    let manifest = root.join(SNAP).join("index.json.blob");
    modify(&manifest, |b| b[40] ^= 0x10);
    let (store, s) = snapshot(&root, SNAP);
    let e = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::Checksum { what: "blob CRC-32", file, .. } if *file == manifest),
        "{e}"
    );
    // With the CRC recomputed, the damage reaches zstd or the JSON, and is still named.
    modify(&manifest, |b| {
        let crc = crc32fast::hash(&b[12..]);
        b[8..12].copy_from_slice(&crc.to_le_bytes());
    });
    let e = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::Decompress { file, .. } | pbs::Error::Manifest { file, .. } if *file == manifest),
        "{e}"
    );
}

#[test]
fn bad_copies_are_used_only_when_asked_and_only_when_they_check_out() {
    let (_tmp, root) = sample_copy();
    let chunk = chunk_file(&root, 3);
    let name = chunk.file_name().unwrap().to_str().unwrap().to_owned();
    let good = std::fs::read(&chunk).unwrap();
    let mut flipped = good.clone();
    flipped[20] ^= 4;
    // The first copy is really damaged, the second was renamed after a transient read error.
    std::fs::write(chunk.with_file_name(format!("{name}.0.bad")), flipped).unwrap();
    std::fs::write(chunk.with_file_name(format!("{name}.1.bad")), good).unwrap();
    std::fs::remove_file(&chunk).unwrap();
    let e = restore(&open_image(&root).unwrap(), &Default::default()).unwrap_err();
    assert!(
        matches!(e, pbs::Error::MissingChunk { entry: 3, .. }),
        "{e}"
    );
    let opts = pbs::RestoreOptions {
        bad_copies: true,
        ..Default::default()
    };
    let (bytes, report) = restore(&open_image(&root).unwrap(), &opts).unwrap();
    assert_eq!(
        sha256_hex(&bytes),
        "45556f31c69e2e8ed04046f0f43c1fc44d1006d3f6f88dc44dd04eca6301393b"
    );
    assert_eq!(
        report.from_bad_copies,
        [(
            (12 << 20)..12_845_056,
            chunk.with_file_name(format!("{name}.1.bad"))
        )]
    );
    assert!(report.damaged.is_empty());
}

#[test]
fn a_failed_zstd_decode_leaves_nothing_behind_for_the_next_blob() {
    // Decoders keep one zstd context per thread: a frame that fails half-way must not change
    // what the next blob decodes to (contexts are reset per call).
    let file = Path::new("test.blob");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i % 251) as u8 ^ (i >> 9) as u8)
        .collect();
    let good = encode_blob(&data, Kind::Zstd, None, 0);
    // Cut half-way through the frame, the CRC fixed up so that the damage reaches zstd; and a
    // flipped byte (which may or may not be caught: level-1 frames carry no checksum).
    let mut cut = good[..good.len() / 2].to_vec();
    let crc = crc32fast::hash(&cut[12..]).to_le_bytes();
    cut[8..12].copy_from_slice(&crc);
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let crc = crc32fast::hash(&flipped[12..]).to_le_bytes();
    flipped[8..12].copy_from_slice(&crc);
    for _ in 0..3 {
        let b = pbs::Blob::parse(&cut, file).unwrap();
        assert!(matches!(
            b.decode(None, data.len(), file),
            Err(pbs::Error::Decompress { .. })
        ));
        let b = pbs::Blob::parse(&good, file).unwrap();
        assert_eq!(b.decode(None, data.len(), file).unwrap(), data);
        let b = pbs::Blob::parse(&flipped, file).unwrap();
        assert_ne!(b.decode(None, data.len(), file).ok(), Some(data.clone()));
        let b = pbs::Blob::parse(&good, file).unwrap();
        assert_eq!(b.decode(None, data.len(), file).unwrap(), data);
    }
}
