//! Verifying a store: every chunk once, bad chunks with every snapshot that needs them.

use crate::common::*;

fn keys() -> pbs::Keyring {
    let mut k = pbs::Keyring::new();
    k.add(sample_key());
    k
}

fn run(root: &std::path::Path, keys: &pbs::Keyring) -> pbs::VerifyReport {
    let store = pbs::Datastore::open(root).unwrap();
    let snaps = store.all_snapshots().unwrap();
    pbs::verify(&store, &snaps, keys, 0, &mut ())
}

#[test]
fn the_sample_store_verifies_reading_each_chunk_once() {
    let report = run(&sample_store(), &keys());
    assert!(report.ok(), "{report:#?}");
    // The store holds 11 chunk files (README: 3 shared between the VM 800 snapshots), each read
    // exactly once.
    let files: Vec<_> = walk(&sample_store().join(".chunks"));
    assert_eq!(report.chunks, files.len() as u64);
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(report.bytes_read, total);
    assert_eq!(report.chunks_crc_only, 0);
    let sig: Vec<_> = report.snapshots.iter().map(|v| v.signature).collect();
    assert_eq!(
        sig,
        [
            Some(pbs::Signature::Unsigned),
            Some(pbs::Signature::Unsigned),
            Some(pbs::Signature::Verified(sample_key().fingerprint()))
        ]
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn without_the_key_encrypted_chunks_are_crc_checked_and_the_report_says_so() {
    let report = run(&sample_store(), &pbs::Keyring::new());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.chunks_crc_only, 4);
    assert!(report.snapshots[2].crc_only && !report.snapshots[0].crc_only);
    // A flipped byte in an encrypted chunk is still found.
    let (_tmp, root) = sample_copy();
    let idx = pbs::FixedIndex::open(
        &root.join("ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx"),
    )
    .unwrap();
    let chunk = pbs::Datastore::open(&root)
        .unwrap()
        .chunk_path(&idx.digests[3]);
    let mut b = std::fs::read(&chunk).unwrap();
    b[60] ^= 1;
    std::fs::write(&chunk, b).unwrap();
    let report = run(&root, &pbs::Keyring::new());
    assert_eq!(report.bad_chunks.len(), 1);
    assert!(matches!(
        report.bad_chunks[0].error,
        pbs::Error::Checksum {
            what: "blob CRC-32",
            ..
        }
    ));
    assert!(!report.snapshots[2].ok() && report.snapshots[0].ok());
}

#[test]
fn a_missing_shared_chunk_is_reported_once_with_every_snapshot_needing_it() {
    let (_tmp, root) = sample_copy();
    // Chunk 0 of scsi0 deduplicates between the two VM 800 snapshots (README).
    let idx = pbs::FixedIndex::open(&root.join("vm/800/2026-12-01T21:00:00Z/drive-scsi0.img.fidx"))
        .unwrap();
    let chunk = pbs::Datastore::open(&root)
        .unwrap()
        .chunk_path(&idx.digests[0]);
    std::fs::remove_file(&chunk).unwrap();
    let report = run(&root, &keys());
    assert!(!report.ok());
    assert_eq!(report.bad_chunks.len(), 1);
    let bad = &report.bad_chunks[0];
    assert_eq!(bad.path, chunk);
    assert!(matches!(bad.error, pbs::Error::MissingChunk { .. }));
    assert_eq!(
        bad.needed_by,
        [
            (
                "vm/800/2026-12-01T21:00:00Z".to_string(),
                "drive-scsi0.img.fidx".to_string()
            ),
            (
                "vm/800/2026-12-02T21:00:00Z".to_string(),
                "drive-scsi0.img.fidx".to_string()
            ),
        ]
    );
    let counts: Vec<_> = report.snapshots.iter().map(|v| v.bad_chunks).collect();
    assert_eq!(counts, [1, 1, 0]);
}

#[test]
fn index_and_manifest_problems_are_per_snapshot_and_unfinished_ones_are_not_ok() {
    let (_tmp, root) = sample_copy();
    let fidx = root.join("vm/800/2026-12-02T21:00:00Z/drive-efidisk0.img.fidx");
    let mut b = std::fs::read(&fidx).unwrap();
    b.truncate(4100);
    std::fs::write(&fidx, b).unwrap();
    std::fs::create_dir(root.join("vm/800/2026-12-04T00:00:00Z")).unwrap();
    let report = run(&root, &keys());
    let v: Vec<_> = report
        .snapshots
        .iter()
        .map(|v| (v.snapshot.time.as_str(), v.ok(), v.problems.len()))
        .collect();
    assert_eq!(
        v,
        [
            ("2026-12-01T21:00:00Z", true, 0),
            ("2026-12-02T21:00:00Z", false, 1),
            ("2026-12-04T00:00:00Z", false, 0),
            ("2026-12-03T03:00:00Z", true, 0)
        ]
    );
    assert!(matches!(
        report.snapshots[1].problems[0],
        pbs::Error::Truncated { .. }
    ));
    assert!(report.bad_chunks.is_empty());
}
