//! The checks behind the `blob`, `index` and `manifest` fuzz targets, shared with the stdin
//! reproducer and the seed writer. Each asserts properties of what the parsers accept, not just
//! "no crash".

use std::path::Path;

use sha2::{Digest, Sha256};

const FILE: &str = "fuzz-input";
/// The decode limit used here: small, so that limits are reached.
const LIMIT: usize = 1 << 20;

/// First byte of an input that the harness encrypts itself (no blob magic starts with it):
/// `0xEE kind payload`, where an odd kind means "zstd compressed then encrypted". The fuzzer
/// cannot forge a GCM tag, so this is how the decrypted paths see arbitrary data.
const SEAL: u8 = 0xEE;

/// The key of the fuzz targets.
const KEY: [u8; 32] = [0x42; 32];

/// An encrypted blob of `payload` under [`KEY`] (16-byte IV, empty AAD, as PBS writes them).
fn seal(compressed: bool, payload: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::aead::consts::U16;
    use aes_gcm::aead::generic_array::GenericArray;
    use aes_gcm::{AesGcm, KeyInit, aes::Aes256};
    let cipher = AesGcm::<Aes256, U16>::new(GenericArray::from_slice(&KEY));
    let iv = [7u8; 16];
    let mut ct = payload.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&iv), b"", &mut ct)
        .expect("payloads of fuzz size encrypt");
    let magic: [u8; 8] = if compressed {
        [0xe6, 0x59, 0x1b, 0xbf, 0x0b, 0xbf, 0xd8, 0x0b]
    } else {
        [0x7b, 0x67, 0x85, 0xbe, 0x22, 0x2d, 0x4c, 0xf0]
    };
    let mut out = magic.to_vec();
    out.extend(crc(&ct).to_le_bytes());
    out.extend(iv);
    out.extend(tag);
    out.extend(ct);
    out
}

/// Parses and decodes a blob (with a fixed key when encrypted).
pub fn check_blob(data: &[u8]) {
    if let [SEAL, kind, payload @ ..] = data {
        let sealed = seal(kind & 1 == 1, payload);
        let blob = pbs::Blob::parse(&sealed, Path::new(FILE)).expect("a sealed blob parses");
        let key = pbs::Key::from_raw(&KEY);
        match blob.decode(Some(&key), LIMIT, Path::new(FILE)) {
            // The right key always authenticates; only the zstd stage may refuse.
            Err(pbs::Error::Decrypt { .. }) => panic!("the right key failed to decrypt"),
            Ok(out) if kind & 1 == 0 => assert_eq!(out, payload),
            _ => {}
        }
        return;
    }
    let file = Path::new(FILE);
    let Ok(blob) = pbs::Blob::parse(data, file) else {
        return;
    };
    assert_eq!(pbs::BlobKind::from_magic(&data[..8]), Some(blob.kind));
    assert_eq!(blob.payload().len() + blob.kind.header_len(), data.len());
    assert_eq!(
        crc(blob.payload()),
        u32::from_le_bytes([data[8], data[9], data[10], data[11]])
    );
    let key = pbs::Key::from_raw(&KEY);
    match blob.decode(Some(&key), LIMIT, file) {
        Ok(out) => {
            assert!(out.len() <= LIMIT);
            if blob.kind == pbs::BlobKind::Plain {
                assert_eq!(out, blob.payload());
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
}

fn crc(data: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE, reflected), independent of the crate's crc32fast.
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Parses a fixed (even first byte) or dynamic (odd) index; with bit 1 of the first byte set,
/// the index checksum is recomputed first so that mutations reach the checks behind it.
pub fn check_index(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 2 == 2 && bytes.len() >= 4096 {
        let sum = Sha256::digest(&bytes[4096..]);
        bytes[32..64].copy_from_slice(&sum);
    }
    let file = Path::new(FILE);
    if mode & 1 == 0 {
        let Ok(idx) = pbs::FixedIndex::parse(&bytes, file) else {
            return;
        };
        let cs = idx.chunk_size;
        assert!(cs.is_power_of_two() && (64 << 10..=4 << 20).contains(&cs));
        assert_eq!(bytes.len(), 4096 + 32 * idx.count());
        assert_eq!(idx.count() as u64, idx.size.div_ceil(cs));
        let mut end = 0;
        for i in 0..idx.count() {
            let r = idx.chunk_range(i);
            assert!(r.start == end && r.end > r.start && r.end - r.start <= cs);
            end = r.end;
        }
        assert_eq!(end, idx.size);
    } else {
        let Ok(idx) = pbs::DynamicIndex::parse(&bytes, file) else {
            return;
        };
        assert_eq!(bytes.len(), 4096 + 40 * idx.count());
        let mut end = 0;
        for i in 0..idx.count() {
            let r = idx.chunk_range(i);
            assert!(r.start == end && r.end > r.start);
            assert_eq!(idx.find(r.start), Some(i));
            assert_eq!(idx.find(r.end - 1), Some(i));
            end = r.end;
        }
        assert_eq!(end, idx.size());
        assert_eq!(idx.find(end), None);
    }
}

/// Parses a manifest (as a blob when it starts with a blob magic, else as JSON) and computes
/// what is signed.
pub fn check_manifest(data: &[u8]) {
    let file = Path::new(FILE);
    let parsed = if pbs::BlobKind::from_magic(data.get(..8).unwrap_or(&[])).is_some() {
        pbs::Manifest::parse_blob(data, file)
    } else {
        pbs::Manifest::parse_json(data, file)
    };
    let Ok(m) = parsed else {
        return;
    };
    for f in &m.files {
        assert!(!f.filename.is_empty() && !f.filename.contains('/'));
        assert!(f.filename != "." && f.filename != "..");
    }
    if let Ok(signed) = m.signed_json() {
        assert!(!signed.contains("\"unprotected\""));
        let key = pbs::Key::from_raw(&[1; 32]);
        let _ = m.verify_signature(&key);
    }
    let _ = (m.key_fingerprint(), m.verify_state(), m.is_encrypted());
}

/// Seeds: every file of a sample datastore, sorted into the targets' corpora.
pub fn seeds(store: &Path) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            if name.ends_with(".fidx") || name.ends_with(".didx") {
                let mode = if name.ends_with(".didx") { 1u8 } else { 0 };
                out.push(("index", name, [vec![mode], bytes].concat()));
            } else if name == "index.json.blob" {
                out.push(("manifest", name.clone(), bytes.clone()));
                out.push(("blob", name, bytes));
            } else if bytes.len() <= 64 << 10
                && pbs::BlobKind::from_magic(bytes.get(..8).unwrap_or(&[])).is_some()
            {
                out.push(("blob", name, bytes));
            }
        }
    }
    out.push((
        "blob",
        "sealed-plain".into(),
        [&[SEAL, 0][..], b"key: value\n"].concat(),
    ));
    if let Some((_, _, zstd_blob)) = out
        .iter()
        .find(|(t, n, _)| *t == "blob" && n == "index.json.blob")
    {
        let payload = zstd_blob[12..].to_vec();
        out.push((
            "blob",
            "sealed-zstd".into(),
            [vec![SEAL, 1], payload].concat(),
        ));
    }
    // The sample has no dynamic index: a small one, its checksum fixed by mode bit 1.
    let mut didx = vec![3u8];
    let mut header = vec![0u8; 4096];
    header[..8].copy_from_slice(&[0x1c, 0x91, 0x4e, 0xa5, 0x19, 0xba, 0xb3, 0xcd]);
    didx.extend(header);
    for end in [1000u64, 70_000, 70_001] {
        didx.extend(end.to_le_bytes());
        didx.extend([end as u8; 32]);
    }
    out.push(("index", "synthetic.didx".into(), didx));
    out
}
