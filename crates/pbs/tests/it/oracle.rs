//! Cross-checks with an independent Python reader and writer (`tests/oracle/pbs_oracle.py`).

use std::path::Path;

use crate::common::*;
use pbswrite::{WKey, Writer, test_image};

/// `<sha256> <size>` as the oracle prints it.
fn digest_line(data: &[u8]) -> String {
    format!("{} {}\n", sha256_hex(data), data.len())
}

/// The bytes of a dynamic index's stream, read through the crate twice: chunk by chunk, and at
/// random offsets in odd sizes (backwards, so that reads cross chunks differently).
fn read_dynamic(r: &pbs::SnapshotReader, name: &str) -> Vec<u8> {
    use diskview::ReadAt;
    let idx = r.dynamic_index(name).unwrap();
    let chunks = r.chunks_for(name).unwrap();
    let mut out = Vec::new();
    for i in 0..idx.count() {
        let range = idx.chunk_range(i);
        let len = (range.end - range.start) as usize;
        out.extend(
            chunks
                .load(&idx.entries[i].1, len, &idx.file, i as u64)
                .unwrap(),
        );
    }
    assert_eq!(idx.find(0), Some(0));
    assert_eq!(idx.find(idx.size()), None);
    let stream = r.dynamic_stream(name).unwrap();
    assert_eq!(stream.size(), out.len() as u64);
    let mut again = vec![0u8; out.len()];
    let mut end = again.len();
    while end > 0 {
        let start = end.saturating_sub(9_999);
        stream
            .read_exact_at(&mut again[start..end], start as u64)
            .unwrap();
        end = start;
    }
    assert_eq!(again, out);
    assert!(
        stream
            .read_exact_at(&mut [0u8; 2], stream.size() - 1)
            .is_err()
    );
    out
}

#[test]
fn the_oracle_reads_the_sample_like_the_readme() {
    // Checks the oracle itself against the README before trusting it below.
    let store = sample_store();
    let fidx = store.join("ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx");
    let Some(out) = oracle(&[
        "read",
        store.to_str().unwrap(),
        fidx.to_str().unwrap(),
        "--key",
        SAMPLE_KEY,
    ]) else {
        return;
    };
    assert_eq!(
        out,
        "45556f31c69e2e8ed04046f0f43c1fc44d1006d3f6f88dc44dd04eca6301393b 12845056\n"
    );
}

#[test]
fn the_oracle_checks_a_whole_snapshot_like_the_readme() {
    // `read-snapshot` (which `cargo xtask fixtures pbs` trusts for testdata/pbs) checks the
    // signed manifest and decodes every archive: checked here against the sample's README.
    let store = sample_store();
    let snap = store.join("ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let args = |key: &'static str| {
        vec![
            "read-snapshot".to_owned(),
            store.to_str().unwrap().to_owned(),
            snap.to_str().unwrap().to_owned(),
            "--key".to_owned(),
            key.to_owned(),
        ]
    };
    let a = args(SAMPLE_KEY);
    let Some(out) = oracle(&a.iter().map(String::as_str).collect::<Vec<_>>()) else {
        return;
    };
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "45556f31c69e2e8ed04046f0f43c1fc44d1006d3f6f88dc44dd04eca6301393b 12845056 drive-scsi0.img.fidx",
            "6dd24a505132811ae10f93f8e8059f0a82af06fb01911f22752ce77c670d0511 140 qemu-server.conf.blob",
        ]
    );
    // A wrong key fails the signature check: the oracle can say no.
    let wrong = args("00000000000000000000000000000000000000000000000000000000000000ff");
    let out = python().unwrap().args(&wrong).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad manifest signature"));
}

#[test]
fn the_oracle_still_agrees_with_the_testdata_readme() {
    // testdata/pbs (`cargo xtask fixtures pbs`) lists what the oracle decoded when it was
    // made; a store edited since, or a README out of date, fails here.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pbs");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let key = readme
        .split("raw key `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap()
        .to_owned();
    let mut want: Vec<String> = readme
        .lines()
        .filter(|l| l.len() > 64 && l.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut snapshots: Vec<String> = want
        .iter()
        .filter_map(|l| {
            l.rsplit_once('/')
                .map(|(a, _)| a.split(' ').nth(2).unwrap().to_owned())
        })
        .collect();
    snapshots.dedup();
    assert_eq!(snapshots.len(), 6, "{want:?}");
    let store = dir.join("store");
    let mut got = Vec::new();
    for snap in &snapshots {
        let path = store.join(snap);
        let Some(out) = oracle(&[
            "read-snapshot",
            store.to_str().unwrap(),
            path.to_str().unwrap(),
            "--key",
            &key,
        ]) else {
            return;
        };
        for l in out.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            got.push(format!("{} {} {snap}/{}", f[0], f[1], f[2]));
        }
    }
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// Writes a plain and an encrypted snapshot with the test writer: every blob kind, a fixed
/// index with a zero chunk and a short last chunk, a dynamic index, a config blob.
fn write_store(root: &Path, image: &[u8], stream: &[u8]) {
    for (key, ns, time) in [
        (None, "", 1_700_000_000i64),
        (Some([9u8; 32]), "ns/a/ns/b/", 1_700_000_100),
    ] {
        let mut w = Writer::new(root, key.map(WKey::new));
        let t = pbs::parse_time("2023-11-14T22:13:20Z").unwrap() + (time - 1_700_000_000);
        let name = if time == 1_700_000_000 {
            "2023-11-14T22:13:20Z"
        } else {
            "2023-11-14T22:15:00Z"
        };
        assert_eq!(pbs::parse_time(name), Some(t));
        let dir = root.join(format!("{ns}vm/900/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            w.fidx(&dir, "drive-scsi0.img.fidx", image, 64 << 10),
            w.didx(
                &dir,
                "root.pxar.didx",
                stream,
                &[1000, 70_000, 70_001, stream.len()],
            ),
            w.blob(&dir, "qemu-server.conf.blob", b"memory: 1024\n"),
        ];
        w.manifest(&dir, "vm", "900", t, &files);
    }
}

#[test]
fn our_writer_is_read_alike_by_the_oracle_and_the_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut image = test_image((64 << 10) * 9 + 1234);
    image[(64 << 10) * 3..(64 << 10) * 4].fill(0);
    let stream = test_image(150_000);
    write_store(&root, &image, &stream);
    let key_hex = "09".repeat(32);
    for (snap, key) in [
        ("vm/900/2023-11-14T22:13:20Z", None),
        (
            "ns/a/ns/b/vm/900/2023-11-14T22:15:00Z",
            Some(key_hex.as_str()),
        ),
    ] {
        let dir = root.join(snap);
        for (file, data) in [
            ("drive-scsi0.img.fidx", &image),
            ("root.pxar.didx", &stream),
        ] {
            let mut args = vec![
                "read",
                root.to_str().unwrap(),
                dir.join(file).to_str().unwrap().to_owned().leak(),
            ];
            args.extend(key.iter().flat_map(|k| ["--key", k]));
            if let Some(out) = oracle(&args) {
                assert_eq!(out, digest_line(data), "oracle on {snap}/{file}");
            }
        }
        let mut keys = pbs::Keyring::new();
        keys.add(pbs::Key::from_raw(&[9; 32]));
        let (store, s) = snapshot(&root, snap);
        let r = pbs::SnapshotReader::open(&store, &s, &keys).unwrap();
        let img = r.fixed_image("drive-scsi0.img.fidx").unwrap();
        let (bytes, report) = restore(&img, &pbs::RestoreOptions::default()).unwrap();
        assert_eq!(sha256_hex(&bytes), sha256_hex(&image), "crate on {snap}");
        let zero_chunks: u64 = image
            .chunks(64 << 10)
            .filter(|c| c.iter().all(|&b| b == 0))
            .map(|c| c.len() as u64)
            .sum();
        assert!(zero_chunks >= 64 << 10);
        assert_eq!(
            report.zero_bytes, zero_chunks,
            "{snap}: zero chunks (keyed when encrypted) are known"
        );
        assert_eq!(read_dynamic(&r, "root.pxar.didx"), stream);
        assert_eq!(r.blob("qemu-server.conf.blob").unwrap(), b"memory: 1024\n");
        assert_eq!(r.signature() == pbs::Signature::Unsigned, key.is_none());
    }
    let store = pbs::Datastore::open(&root).unwrap();
    assert_eq!(
        store
            .namespaces()
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        ["", "a", "a/b"]
    );
}

#[test]
fn the_oracles_datastore_and_key_files_are_read_by_the_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let Some(out) = oracle(&["write", root.to_str().unwrap()]) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let raw: [u8; 32] = unhex(v["key"].as_str().unwrap()).try_into().unwrap();
    assert_eq!(
        pbs::Key::from_raw(&raw).fingerprint().to_string(),
        v["fingerprint"].as_str().unwrap()
    );
    // The three key files hold the same key: kdf null, scrypt and PBKDF2.
    let mut keys = pbs::Keyring::new();
    for name in ["plain.json", "scrypt.json", "pbkdf2.json"] {
        let path = tmp.path().join(name);
        let kf = pbs::KeyFile::parse(&std::fs::read(&path).unwrap(), &path).unwrap();
        assert_eq!(kf.needs_passphrase(), name != "plain.json");
        if kf.needs_passphrase() {
            assert!(matches!(
                kf.unlock(None),
                Err(pbs::Error::NeedPassphrase { .. })
            ));
            let e = kf.unlock(Some(b"wrong pass")).unwrap_err();
            assert!(e.to_string().contains("passphrase does not unlock"), "{e}");
        }
        let key = kf.unlock(Some(b"oracle pass")).unwrap();
        assert_eq!(
            key.fingerprint().to_string(),
            v["fingerprint"].as_str().unwrap(),
            "{name}"
        );
        keys.add(key);
    }
    assert_eq!(keys.keys().len(), 1);
    for (snap, files) in v["archives"].as_object().unwrap() {
        let (store, s) = snapshot(&root, snap);
        let r = pbs::SnapshotReader::open(&store, &s, &keys).unwrap();
        let img = r.fixed_image("disk.img.fidx").unwrap();
        let (bytes, _) = restore(&img, &pbs::RestoreOptions::default()).unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            files["disk.img.fidx"].as_str().unwrap(),
            "{snap}"
        );
        assert_eq!(
            sha256_hex(&read_dynamic(&r, "root.pxar.didx")),
            files["root.pxar.didx"].as_str().unwrap()
        );
        assert_eq!(
            sha256_hex(&r.blob("host.conf.blob").unwrap()),
            files["host.conf.blob"].as_str().unwrap()
        );
    }
}

#[test]
fn sign_only_snapshots_read_without_the_key_and_check_their_signature_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let image = test_image(200_000);
    let mut w = Writer::new(&root, None);
    let dir = root.join("host/signed/2023-11-14T22:13:20Z");
    std::fs::create_dir_all(&dir).unwrap();
    let files = [w.fidx(&dir, "disk.img.fidx", &image, 64 << 10)];
    let sign_with = |seed: u8| {
        let key = WKey::new([seed; 32]);
        w.manifest_as(
            &dir,
            "host",
            "signed",
            1_700_000_000,
            &files,
            "sign-only",
            Some(&key),
        );
    };
    sign_with(5);
    let (store, s) = snapshot(&root, "host/signed/2023-11-14T22:13:20Z");
    let r = pbs::SnapshotReader::open(&store, &s, &pbs::Keyring::new()).unwrap();
    assert_eq!(r.signature(), pbs::Signature::NotChecked);
    let (bytes, _) = restore(
        &r.fixed_image("disk.img.fidx").unwrap(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(sha256_hex(&bytes), sha256_hex(&image));
    let mut keys = pbs::Keyring::new();
    keys.add(pbs::Key::from_raw(&[5; 32]));
    let r = pbs::SnapshotReader::open(&store, &s, &keys).unwrap();
    assert_eq!(
        r.signature(),
        pbs::Signature::Verified(pbs::Key::from_raw(&[5; 32]).fingerprint())
    );
    // Signed by another key than the one it names: a signature error.
    sign_with(6);
    let text = {
        let raw = std::fs::read(dir.join("index.json.blob")).unwrap();
        let json = zstd::decode_all(&raw[12..]).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["unprotected"]["key-fingerprint"] =
            serde_json::json!(pbs::Key::from_raw(&[5; 32]).fingerprint().to_string());
        serde_json::to_vec(&v).unwrap()
    };
    std::fs::write(
        dir.join("index.json.blob"),
        pbswrite::encode_blob(&text, pbswrite::Kind::Zstd, None, 0),
    )
    .unwrap();
    let e = pbs::SnapshotReader::open(&store, &s, &keys).unwrap_err();
    assert!(matches!(e, pbs::Error::Signature { .. }), "{e}");
}
