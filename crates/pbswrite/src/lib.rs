//! Test-only: a writer of Proxmox Backup Server datastores, written from `shared/specs/pbs.md`
//! (never from the `pbs` crate's reader): blobs of the four kinds, fixed and dynamic indexes,
//! manifests (signed when a key is used). An independent Python reader
//! (`crates/pbs/tests/oracle/pbs_oracle.py`) checks what it writes.

// A test writer: failing loudly on an I/O error is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod pxar;

use std::path::{Path, PathBuf};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Magic = first 8 bytes of SHA-256 of the label (spec §3, §5).
pub fn magic(label: &str) -> [u8; 8] {
    Sha256::digest(label.as_bytes())[..8].try_into().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Zstd,
    Enc,
    EncZstd,
}

/// The writer's view of a raw key: id_key by PBKDF2 (spec §4).
pub struct WKey {
    pub raw: [u8; 32],
    pub id_key: [u8; 32],
}

impl WKey {
    pub fn new(raw: [u8; 32]) -> WKey {
        let mut id_key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&raw, b"_id_key", 10, &mut id_key);
        WKey { raw, id_key }
    }

    /// The fingerprint, as colon hex (spec §4).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(Sha256::digest(b"Proxmox Backup Encryption Key Fingerprint"));
        h.update(self.id_key);
        let fp: Vec<String> = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        fp.join(":")
    }

    /// A PBS key file holding the raw key without a password (`"kdf": null`, spec §4).
    pub fn key_file_json(&self) -> String {
        let t = "2026-01-01T00:00:00Z";
        let json = serde_json::json!({
            "kdf": null,
            "created": t,
            "modified": t,
            "data": base64(&self.raw),
            "fingerprint": self.fingerprint(),
        });
        serde_json::to_string_pretty(&json).unwrap() + "\n"
    }
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Encodes `data` as a blob of `kind` (IV derived from `seq`, as any random IV would do).
pub fn encode_blob(data: &[u8], kind: Kind, key: Option<&WKey>, seq: u64) -> Vec<u8> {
    let payload = match kind {
        Kind::Zstd | Kind::EncZstd => zstd::bulk::compress(data, 1).unwrap(),
        _ => data.to_vec(),
    };
    match kind {
        Kind::Plain | Kind::Zstd => {
            let label = if kind == Kind::Plain {
                "Proxmox Backup uncompressed blob v1.0"
            } else {
                "Proxmox Backup zstd compressed blob v1.0"
            };
            let mut out = magic(label).to_vec();
            out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            out.extend_from_slice(&payload);
            out
        }
        Kind::Enc | Kind::EncZstd => {
            let key = key.expect("encrypted blobs need a key");
            let cipher = AesGcm::<Aes256, U16>::new(GenericArray::from_slice(&key.raw));
            let iv: [u8; 16] = Sha256::digest(seq.to_le_bytes())[..16].try_into().unwrap();
            let mut ct = payload;
            let tag = cipher
                .encrypt_in_place_detached(GenericArray::from_slice(&iv), b"", &mut ct)
                .unwrap();
            let label = if kind == Kind::Enc {
                "Proxmox Backup encrypted blob v1.0"
            } else {
                "Proxmox Backup zstd compressed encrypted blob v1.0"
            };
            let mut out = magic(label).to_vec();
            out.extend_from_slice(&crc32fast::hash(&ct).to_le_bytes());
            out.extend_from_slice(&iv);
            out.extend_from_slice(&tag);
            out.extend_from_slice(&ct);
            out
        }
    }
}

/// A datastore being written.
pub struct Writer {
    pub root: PathBuf,
    pub key: Option<WKey>,
    seq: u64,
}

/// A fixed index being written chunk by chunk.
pub struct FidxStream {
    body: Vec<u8>,
    size: u64,
    cs: usize,
    last_short: bool,
}

pub struct FileInfo {
    pub name: String,
    pub size: u64,
    pub csum: [u8; 32],
}

impl Writer {
    pub fn new(root: &Path, key: Option<WKey>) -> Writer {
        std::fs::create_dir_all(root.join(".chunks")).unwrap();
        Writer {
            root: root.to_path_buf(),
            key,
            seq: 0,
        }
    }

    pub fn digest(&self, data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(data);
        if let Some(k) = &self.key {
            h.update(k.id_key);
        }
        h.finalize().into()
    }

    pub fn chunk_path(&self, d: &[u8; 32]) -> PathBuf {
        let h: String = d.iter().map(|b| format!("{b:02x}")).collect();
        self.root.join(".chunks").join(&h[..4]).join(h)
    }

    /// Stores a chunk as `kind` (an encrypted kind when the writer has a key) and returns its
    /// digest.
    pub fn chunk(&mut self, data: &[u8], kind: Kind) -> [u8; 32] {
        self.chunk_blob(data, kind).0
    }

    /// [`Writer::chunk`], also returning the bytes of the chunk file.
    pub fn chunk_blob(&mut self, data: &[u8], kind: Kind) -> ([u8; 32], Vec<u8>) {
        let d = self.digest(data);
        let p = self.chunk_path(&d);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        self.seq += 1;
        let blob = encode_blob(data, kind, self.key.as_ref(), self.seq);
        std::fs::write(p, &blob).unwrap();
        (d, blob)
    }

    /// Starts a fixed index of chunk size `cs` written chunk by chunk ([`Writer::fidx_push`]),
    /// for images too large to hold in memory.
    pub fn fidx_stream(&self, cs: usize) -> FidxStream {
        FidxStream {
            body: Vec::new(),
            size: 0,
            cs,
            last_short: false,
        }
    }

    /// Stores the next chunk of `f` as `kind` and returns the chunk file's bytes. Every chunk
    /// but the last must be exactly the chunk size.
    pub fn fidx_push(&mut self, f: &mut FidxStream, data: &[u8], kind: Kind) -> Vec<u8> {
        assert!(!f.last_short, "a short chunk must be the last");
        assert!(
            !data.is_empty() && data.len() <= f.cs,
            "chunk of {} bytes",
            data.len()
        );
        f.last_short = data.len() < f.cs;
        let (d, blob) = self.chunk_blob(data, kind);
        f.body.extend_from_slice(&d);
        f.size += data.len() as u64;
        blob
    }

    /// Writes the index `f` as `<dir>/<name>`.
    pub fn fidx_finish(&self, f: FidxStream, dir: &Path, name: &str) -> FileInfo {
        let csum: [u8; 32] = Sha256::digest(&f.body).into();
        let mut file = fidx_header(csum, f.size, f.cs as u64);
        file.extend_from_slice(&f.body);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), file).unwrap();
        FileInfo {
            name: name.into(),
            size: f.size,
            csum,
        }
    }

    fn kinds(&self) -> [Kind; 2] {
        if self.key.is_some() {
            [Kind::Enc, Kind::EncZstd]
        } else {
            [Kind::Plain, Kind::Zstd]
        }
    }

    /// Writes `image` as `<dir>/<name>` in chunks of `cs`, alternating the two kinds.
    pub fn fidx(&mut self, dir: &Path, name: &str, image: &[u8], cs: usize) -> FileInfo {
        let kinds = self.kinds();
        let mut f = self.fidx_stream(cs);
        for (i, piece) in image.chunks(cs).enumerate() {
            self.fidx_push(&mut f, piece, kinds[i % 2]);
        }
        self.fidx_finish(f, dir, name)
    }

    /// Writes `stream` as a dynamic index cut at `cuts` (exclusive ends, the last = length).
    pub fn didx(&mut self, dir: &Path, name: &str, stream: &[u8], cuts: &[usize]) -> FileInfo {
        let kinds = self.kinds();
        let mut body = Vec::new();
        let mut start = 0;
        for (i, &end) in cuts.iter().enumerate() {
            let d = self.chunk(&stream[start..end], kinds[(i + 1) % 2]);
            body.extend_from_slice(&(end as u64).to_le_bytes());
            body.extend_from_slice(&d);
            start = end;
        }
        let csum: [u8; 32] = Sha256::digest(&body).into();
        let mut file = index_header(
            &magic("Proxmox Backup dynamic sized chunk index v1.0"),
            csum,
        );
        file.extend_from_slice(&body);
        std::fs::write(dir.join(name), file).unwrap();
        FileInfo {
            name: name.into(),
            size: stream.len() as u64,
            csum,
        }
    }

    /// Writes a blob file; returns its manifest info (SHA-256 and length of the encoded file).
    pub fn blob(&mut self, dir: &Path, name: &str, data: &[u8]) -> FileInfo {
        self.seq += 1;
        let kind = self.kinds()[1];
        let bytes = encode_blob(data, kind, self.key.as_ref(), self.seq);
        std::fs::write(dir.join(name), &bytes).unwrap();
        FileInfo {
            name: name.into(),
            size: bytes.len() as u64,
            csum: Sha256::digest(&bytes).into(),
        }
    }

    /// Writes `index.json.blob` for `files`, signed with the key when there is one.
    pub fn manifest(&self, dir: &Path, ty: &str, id: &str, time: i64, files: &[FileInfo]) {
        let mode = if self.key.is_some() {
            "encrypt"
        } else {
            "none"
        };
        self.manifest_as(dir, ty, id, time, files, mode, self.key.as_ref());
    }

    /// A manifest whose files have crypt mode `mode`, signed with `sign` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn manifest_as(
        &self,
        dir: &Path,
        ty: &str,
        id: &str,
        time: i64,
        files: &[FileInfo],
        mode: &str,
        sign: Option<&WKey>,
    ) {
        self.manifest_with(dir, ty, id, time, files, mode, sign, &serde_json::json!({}));
    }

    /// [`Writer::manifest_as`] with more `unprotected` fields (`verify_state`, `notes`: not
    /// covered by the signature, spec §6).
    #[allow(clippy::too_many_arguments)]
    pub fn manifest_with(
        &self,
        dir: &Path,
        ty: &str,
        id: &str,
        time: i64,
        files: &[FileInfo],
        mode: &str,
        sign: Option<&WKey>,
        extra: &serde_json::Value,
    ) {
        let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let list: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                serde_json::json!({"filename": f.name, "crypt-mode": mode, "size": f.size, "csum": hex(&f.csum)})
            })
            .collect();
        let mut m = serde_json::json!({"backup-type": ty, "backup-id": id, "backup-time": time, "files": list});
        // serde_json's default map is sorted, and compact output has no whitespace: the
        // canonical form of spec §6.
        let canonical = serde_json::to_string(&m).unwrap();
        let (sig, mut unprotected) = match sign {
            Some(k) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&k.id_key).unwrap();
                mac.update(canonical.as_bytes());
                (
                    serde_json::json!(hex(&mac.finalize().into_bytes())),
                    serde_json::json!({"key-fingerprint": k.fingerprint()}),
                )
            }
            None => (serde_json::Value::Null, serde_json::json!({})),
        };
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                unprotected[k] = v.clone();
            }
        }
        m["signature"] = sig;
        m["unprotected"] = unprotected;
        let json = serde_json::to_vec_pretty(&m).unwrap();
        std::fs::write(
            dir.join("index.json.blob"),
            encode_blob(&json, Kind::Zstd, None, 0),
        )
        .unwrap();
    }
}

pub fn index_header(magic: &[u8; 8], csum: [u8; 32]) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(magic);
    h[8..24].copy_from_slice(b"test-writer-uuid");
    h[24..32].copy_from_slice(&1_700_000_000i64.to_le_bytes());
    h[32..64].copy_from_slice(&csum);
    h
}

pub fn fidx_header(csum: [u8; 32], size: u64, cs: u64) -> Vec<u8> {
    let mut h = index_header(&magic("Proxmox Backup fixed sized chunk index v1.0"), csum);
    h[64..72].copy_from_slice(&size.to_le_bytes());
    h[72..80].copy_from_slice(&cs.to_le_bytes());
    h
}

/// Deterministic test data: compressible text, noise, zeros.
pub fn test_image(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while v.len() < len {
        let block = v.len() / 65536;
        match block % 4 {
            0 => {
                v.extend_from_slice(format!("block {block} line {} of text\n", v.len()).as_bytes())
            }
            1 => {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(&x.to_le_bytes());
            }
            _ => v.push(0),
        }
    }
    v.truncate(len);
    v
}
