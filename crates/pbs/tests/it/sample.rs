//! The sample datastore: decoded streams against the README's SHA-256, listing and locating.

use diskview::ReadAt;

use crate::common::*;

/// `shared/fixtures/pbs/README.md`, "Expected decoded streams".
const EXPECTED: &[(&str, &str, u64)] = &[
    (
        "vm/800/2026-12-01T21:00:00Z/drive-scsi0.img.fidx",
        "45556f31c69e2e8ed04046f0f43c1fc44d1006d3f6f88dc44dd04eca6301393b",
        12845056,
    ),
    (
        "vm/800/2026-12-01T21:00:00Z/drive-efidisk0.img.fidx",
        "2325a9ce2a7a38e42964478aebd49a7eb5ff894ff4c9801afb1e20c962204383",
        540672,
    ),
    (
        "vm/800/2026-12-02T21:00:00Z/drive-scsi0.img.fidx",
        "27f236498360eb32c62564846600fa5813140557d03f5cd781be4dd72e22fe11",
        12845056,
    ),
    (
        "vm/800/2026-12-02T21:00:00Z/drive-efidisk0.img.fidx",
        "2325a9ce2a7a38e42964478aebd49a7eb5ff894ff4c9801afb1e20c962204383",
        540672,
    ),
    (
        "ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx",
        "45556f31c69e2e8ed04046f0f43c1fc44d1006d3f6f88dc44dd04eca6301393b",
        12845056,
    ),
];
const CONF_SHA: &str = "6dd24a505132811ae10f93f8e8059f0a82af06fb01911f22752ce77c670d0511";

fn keyring() -> pbs::Keyring {
    let mut k = pbs::Keyring::new();
    k.add(sample_key());
    k
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap()
}

#[test]
fn every_sample_image_restores_to_the_readme_sha256() {
    for threads in [1, 0] {
        for (path, sha, size) in EXPECTED {
            let (snap, file) = split(path);
            let (store, s) = snapshot(&sample_store(), snap);
            let r = pbs::SnapshotReader::open(&store, &s, &keyring()).unwrap();
            let img = r.fixed_image(file).unwrap();
            let opts = pbs::RestoreOptions {
                threads,
                ..Default::default()
            };
            let (bytes, report) = restore(&img, &opts).unwrap();
            assert_eq!(bytes.len() as u64, *size, "{path}");
            assert_eq!(sha256_hex(&bytes), *sha, "{path} with {threads} threads");
            assert!(report.damaged.is_empty());
            assert_eq!(report.data_bytes + report.zero_bytes, *size);
        }
    }
}

#[test]
fn the_zero_chunk_is_a_known_zero_range_and_a_hole() {
    let (store, s) = snapshot(&sample_store(), "vm/800/2026-12-01T21:00:00Z");
    let r = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap();
    let img = r.fixed_image("drive-scsi0.img.fidx").unwrap();
    // README: chunk 1 of scsi0 is the 4 MiB zero chunk.
    assert_eq!(
        img.zero_ranges(0, img.size()).unwrap(),
        vec![(4 << 20)..(8 << 20)]
    );
    assert_eq!(
        img.zero_ranges(5 << 20, 100).unwrap(),
        vec![(5 << 20)..((5 << 20) + 100)]
    );
    let (_, report) = restore(&img, &pbs::RestoreOptions::default()).unwrap();
    assert_eq!(report.zero_bytes, 4 << 20);
    // Without a writer the restore only reads and checks, and counts the same.
    let checked = pbs::restore_fixed(&img, None, &mut (), &Default::default()).unwrap();
    assert_eq!(
        (checked.data_bytes, checked.zero_bytes),
        (report.data_bytes, 4 << 20)
    );
}

#[test]
fn random_reads_match_the_readme_sha256() {
    for (path, sha, size) in EXPECTED {
        let (snap, file) = split(path);
        let (store, s) = snapshot(&sample_store(), snap);
        let r = pbs::SnapshotReader::open(&store, &s, &keyring()).unwrap();
        let img = r.fixed_image(file).unwrap();
        assert_eq!(img.size(), *size);
        // Reads of odd sizes that straddle chunk boundaries, from the end backwards.
        let mut whole = vec![0u8; *size as usize];
        let step = 1_000_003usize;
        let mut end = whole.len();
        while end > 0 {
            let start = end.saturating_sub(step);
            img.read_exact_at(&mut whole[start..end], start as u64)
                .unwrap();
            end = start;
        }
        assert_eq!(sha256_hex(&whole), *sha, "{path}");
        let mut one = [0u8; 2];
        assert!(img.read_exact_at(&mut one, size - 1).is_err());
    }
}

#[test]
fn config_blobs_decode_to_the_readme_sha256() {
    let conf = std::fs::read(fixtures().join("qemu-server.conf")).unwrap();
    assert_eq!(sha256_hex(&conf), CONF_SHA);
    for snap in [
        "vm/800/2026-12-01T21:00:00Z",
        "vm/800/2026-12-02T21:00:00Z",
        "ns/offsite/vm/801/2026-12-03T03:00:00Z",
    ] {
        let (store, s) = snapshot(&sample_store(), snap);
        let r = pbs::SnapshotReader::open(&store, &s, &keyring()).unwrap();
        assert_eq!(r.blob("qemu-server.conf.blob").unwrap(), conf, "{snap}");
    }
}

#[test]
fn the_store_lists_namespaces_groups_and_snapshots() {
    let store = pbs::Datastore::open(&sample_store()).unwrap();
    let ns = store.namespaces().unwrap();
    assert_eq!(
        ns.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        ["", "offsite"]
    );
    let groups = store.groups(&ns[0]).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].backup_type.as_str(), groups[0].id.as_str()),
        ("vm", "800")
    );
    assert_eq!(groups[0].owner.as_deref(), Some("root@pam"));
    let snaps = store.snapshots(&groups[0]).unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.name()).collect::<Vec<_>>(),
        ["vm/800/2026-12-01T21:00:00Z", "vm/800/2026-12-02T21:00:00Z"]
    );
    assert!(snaps.iter().all(|s| s.finished && !s.protected));
    assert_eq!(
        snaps[0].files,
        [
            "drive-efidisk0.img.fidx",
            "drive-scsi0.img.fidx",
            "qemu-server.conf.blob"
        ]
    );
    let all = store.all_snapshots().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].name(), "offsite/vm/801/2026-12-03T03:00:00Z");
    let newest = store.newest_finished(&groups[0]).unwrap().unwrap();
    assert_eq!(newest.time, "2026-12-02T21:00:00Z");
    // The manifest's backup-time is the directory's time.
    let m = pbs::Manifest::open(&newest.manifest_path()).unwrap();
    assert_eq!(m.backup_time, newest.epoch);
}

#[test]
fn paths_are_located_as_store_namespace_group_snapshot_or_mount_point() {
    // Located stores are named by their absolute, resolved path.
    let root = sample_store().canonicalize().unwrap();
    let (s, l) = pbs::locate(&root).unwrap();
    assert_eq!((s.root(), l), (root.as_path(), pbs::Located::Store));
    // The fixtures directory holds the store one level down, like a mount point.
    let (s, l) = pbs::locate(&fixtures()).unwrap();
    assert_eq!((s.root(), l), (root.as_path(), pbs::Located::Store));
    let (_, l) = pbs::locate(&root.join("ns/offsite")).unwrap();
    assert_eq!(
        l,
        pbs::Located::Namespace(pbs::Namespace(vec!["offsite".into()]))
    );
    let (s, l) = pbs::locate(&root.join("ns/offsite/vm/801")).unwrap();
    assert_eq!(s.root(), root.as_path());
    let pbs::Located::Group(g) = l else {
        panic!("{l:?}")
    };
    assert_eq!((g.ns.to_string(), g.id.as_str()), ("offsite".into(), "801"));
    let (_, l) = pbs::locate(&root.join("vm/800/2026-12-01T21:00:00Z")).unwrap();
    let pbs::Located::Snapshot(snap) = l else {
        panic!("{l:?}")
    };
    assert_eq!(snap.epoch, 1_796_158_800);
    let e = pbs::locate(&root.join(".chunks")).unwrap_err();
    assert!(matches!(e, pbs::Error::NotFound { .. }), "{e}");
    assert!(
        e.to_string().contains("chunk directory of the datastore"),
        "{e}"
    );
    assert!(e.hint().is_some());
}

#[test]
fn the_sample_key_file_unlocks_without_a_passphrase() {
    let path = fixtures().join("sample-key.json");
    let kf = pbs::KeyFile::parse(&std::fs::read(&path).unwrap(), &path).unwrap();
    assert!(!kf.needs_passphrase());
    let key = kf.unlock(None).unwrap();
    assert_eq!(key.fingerprint().to_string(), SAMPLE_FINGERPRINT);
}

#[test]
fn encrypted_snapshot_without_its_key_names_the_fingerprint() {
    let (store, s) = snapshot(&sample_store(), "ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let e = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap_err();
    assert!(
        matches!(&e, pbs::Error::NeedKey { fingerprint: Some(f), .. } if f == SAMPLE_FINGERPRINT),
        "{e}"
    );
    assert!(e.to_string().contains(SAMPLE_FINGERPRINT), "{e}");
    assert!(e.hint().unwrap().contains(SAMPLE_FINGERPRINT));
    // A wrong key: the same error, naming the key given as well.
    let mut wrong = pbs::Keyring::new();
    wrong.add(pbs::Key::from_raw(&[7; 32]));
    let e = pbs::SnapshotReader::open(&store, &s, &wrong).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(SAMPLE_FINGERPRINT) && msg.contains(&wrong.fingerprints()),
        "{msg}"
    );
    // Several keys: the manifest's key-fingerprint picks the right one.
    let mut both = wrong.clone();
    both.add(sample_key());
    let r = pbs::SnapshotReader::open(&store, &s, &both).unwrap();
    assert_eq!(
        r.signature(),
        pbs::Signature::Verified(sample_key().fingerprint())
    );
}

#[test]
fn encrypted_chunks_with_a_wrong_key_fail_to_decrypt() {
    // Past the manifest (a caller that forces a key): the chunk's tag does not match.
    let (store, s) = snapshot(&sample_store(), "ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let r = pbs::SnapshotReader::open(&store, &s, &keyring()).unwrap();
    let idx = pbs::FixedIndex::open(&s.path.join("drive-scsi0.img.fidx")).unwrap();
    let wrong = pbs::Chunks::new(store.clone(), Some(pbs::Key::from_raw(&[7; 32])));
    let e = wrong
        .load(&idx.digests[0], 4 << 20, &idx.file, 0)
        .unwrap_err();
    assert!(matches!(e, pbs::Error::Decrypt { .. }), "{e}");
    assert!(e.hint().is_some());
    // Read as plain, an encrypted chunk is a crypt-mode error.
    let plain = pbs::Chunks::new(store, None);
    let e = plain
        .load(&idx.digests[0], 4 << 20, &idx.file, 0)
        .unwrap_err();
    assert!(matches!(e, pbs::Error::CryptMode { .. }), "{e}");
    assert!(r.key().is_some());
}

#[test]
fn relative_paths_are_located_from_where_they_are() {
    // `pverescue list .` inside a snapshot directory.
    let snap = sample_store().join("vm/800/2026-12-01T21:00:00Z");
    let rel = pathdiff(&snap);
    let (_, l) = pbs::locate(&rel).unwrap();
    assert!(matches!(l, pbs::Located::Snapshot(s) if s.time == "2026-12-01T21:00:00Z"));
}

/// `snap` relative to the current directory (`../../…`).
fn pathdiff(snap: &std::path::Path) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let depth = cwd.components().count() - 1;
    let mut p = std::path::PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    let abs = snap.canonicalize().unwrap();
    p.join(abs.strip_prefix("/").unwrap())
}
