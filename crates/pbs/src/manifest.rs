//! The snapshot manifest, `index.json.blob` (spec §6).
//!
//! A plain or zstd blob holding JSON: `backup-type`, `backup-id`, `backup-time`, `files` (name,
//! crypt mode, size, checksum), `signature` and `unprotected`. Signed manifests (crypt modes
//! `encrypt` and `sign-only`) carry `HMAC-SHA256(id_key, canonical JSON)` over everything but
//! `signature` and `unprotected`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::blob::Blob;
use crate::error::{Error, Result, hex, parse_hex32};
use crate::format::MAX_BLOB_DATA;
use crate::index::{DynamicIndex, FixedIndex};
use crate::key::{Fingerprint, Key};

/// How an archive was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptMode {
    /// Plain.
    None,
    /// Encrypted (and the manifest signed).
    Encrypt,
    /// Plain data, signed manifest.
    SignOnly,
}

impl CryptMode {
    /// The manifest's spelling (`none`, `encrypt`, `sign-only`).
    pub fn name(self) -> &'static str {
        match self {
            CryptMode::None => "none",
            CryptMode::Encrypt => "encrypt",
            CryptMode::SignOnly => "sign-only",
        }
    }
}

/// One archive of a snapshot as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The file name in the snapshot directory (`drive-scsi0.img.fidx`).
    pub filename: String,
    /// How it is protected.
    pub crypt_mode: CryptMode,
    /// Image or stream size for indexes, file length for blobs.
    pub size: u64,
    /// Index checksum for indexes, SHA-256 of the file for blobs.
    pub csum: [u8; 32],
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from.
    pub file: PathBuf,
    /// `vm`, `ct` or `host`.
    pub backup_type: String,
    /// The group id (`100`).
    pub backup_id: String,
    /// Backup time, seconds since the epoch.
    pub backup_time: i64,
    /// The archives.
    pub files: Vec<FileEntry>,
    /// The signature, hex, if signed.
    pub signature: Option<String>,
    /// The `unprotected` object (verify state, notes, key fingerprint, upload stats).
    pub unprotected: serde_json::Value,
    /// The whole JSON, for the signature.
    json: serde_json::Value,
}

impl Manifest {
    /// Reads and parses `index.json.blob` at `path`.
    pub fn open(path: &Path) -> Result<Manifest> {
        let bytes =
            crate::store::read_bounded(path, crate::format::MAX_BLOB_FILE, "blob file size")?;
        Manifest::parse_blob(&bytes, path)
    }

    /// Parses the bytes of `index.json.blob` (`file` names it in errors). The manifest is never
    /// encrypted.
    pub fn parse_blob(bytes: &[u8], file: &Path) -> Result<Manifest> {
        let blob = Blob::parse(bytes, file)?;
        if blob.kind.is_encrypted() {
            return Err(Error::Manifest {
                file: file.to_path_buf(),
                reason: "it is an encrypted blob; manifests never are".into(),
            });
        }
        Manifest::parse_json(&blob.decode(None, MAX_BLOB_DATA, file)?, file)
    }

    /// Parses manifest JSON.
    pub fn parse_json(json: &[u8], file: &Path) -> Result<Manifest> {
        let bad = |reason: String| Error::Manifest {
            file: file.to_path_buf(),
            reason,
        };
        let v: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| bad(format!("JSON: {e}")))?;
        let str_field = |name: &str| -> Result<String> {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("`{name}` is missing or not a string")))
        };
        let backup_type = str_field("backup-type")?;
        let backup_id = str_field("backup-id")?;
        let backup_time = v
            .get("backup-time")
            .and_then(|x| x.as_i64())
            .ok_or_else(|| bad("`backup-time` is missing or not an integer".into()))?;
        let list = v
            .get("files")
            .and_then(|x| x.as_array())
            .ok_or_else(|| bad("`files` is missing or not a list".into()))?;
        let mut files = Vec::with_capacity(list.len());
        for (i, f) in list.iter().enumerate() {
            let filename = f
                .get("filename")
                .and_then(|x| x.as_str())
                .ok_or_else(|| bad(format!("files[{i}].filename is missing")))?;
            if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".."
            {
                return Err(bad(format!(
                    "files[{i}].filename {filename:?} is not a plain file name"
                )));
            }
            let crypt_mode = match f.get("crypt-mode").and_then(|x| x.as_str()) {
                None | Some("none") => CryptMode::None,
                Some("encrypt") => CryptMode::Encrypt,
                Some("sign-only") => CryptMode::SignOnly,
                Some(other) => {
                    return Err(bad(format!("files[{i}].crypt-mode {other:?} is unknown")));
                }
            };
            let size = f
                .get("size")
                .and_then(|x| x.as_u64())
                .ok_or_else(|| bad(format!("files[{i}].size is missing")))?;
            let csum = f
                .get("csum")
                .and_then(|x| x.as_str())
                .and_then(parse_hex32)
                .ok_or_else(|| bad(format!("files[{i}].csum is not 64 hex digits")))?;
            files.push(FileEntry {
                filename: filename.to_owned(),
                crypt_mode,
                size,
                csum,
            });
        }
        let signature = v
            .get("signature")
            .and_then(|x| x.as_str())
            .map(str::to_owned);
        let unprotected = v
            .get("unprotected")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        Ok(Manifest {
            file: file.to_path_buf(),
            backup_type,
            backup_id,
            backup_time,
            files,
            signature,
            unprotected,
            json: v,
        })
    }

    /// The manifest entry for `filename`.
    pub fn entry(&self, filename: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.filename == filename)
    }

    /// The key fingerprint the manifest names (`unprotected.key-fingerprint`).
    pub fn key_fingerprint(&self) -> Option<Fingerprint> {
        self.unprotected
            .get("key-fingerprint")
            .and_then(|x| x.as_str())
            .and_then(Fingerprint::parse)
    }

    /// True when an archive is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.files
            .iter()
            .any(|f| f.crypt_mode == CryptMode::Encrypt)
    }

    /// The last verify job's verdict (`unprotected.verify_state.state`: `ok` or `failed`).
    pub fn verify_state(&self) -> Option<&str> {
        self.unprotected.get("verify_state")?.get("state")?.as_str()
    }

    /// The snapshot's notes (`unprotected.notes`).
    pub fn notes(&self) -> Option<&str> {
        self.unprotected.get("notes")?.as_str()
    }

    /// The canonical JSON that is signed: no `signature`, no `unprotected`, keys sorted.
    pub fn signed_json(&self) -> Result<String> {
        let mut v = self.json.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("signature");
            o.remove("unprotected");
        }
        let mut out = String::new();
        canonical(&v, &mut out).map_err(|reason| Error::Manifest {
            file: self.file.clone(),
            reason,
        })?;
        Ok(out)
    }

    /// Checks the signature with `key`; a manifest without one fails.
    pub fn verify_signature(&self, key: &Key) -> Result<()> {
        let computed = hex(&key.sign(self.signed_json()?.as_bytes()));
        let stored = self.signature.clone().unwrap_or_else(|| "none".into());
        if !stored.eq_ignore_ascii_case(&computed) {
            return Err(Error::Signature {
                file: self.file.clone(),
                fingerprint: key.fingerprint().to_string(),
                expected: computed,
                found: stored,
            });
        }
        Ok(())
    }

    /// Checks a fixed index against its entry: checksum and image size.
    pub fn check_fixed(&self, index: &FixedIndex) -> Result<&FileEntry> {
        self.check(&index.file, index.header.csum, index.size)
    }

    /// Checks a dynamic index against its entry: checksum and stream size.
    pub fn check_dynamic(&self, index: &DynamicIndex) -> Result<&FileEntry> {
        self.check(&index.file, index.header.csum, index.size())
    }

    /// Checks a blob file's bytes against its entry: SHA-256 and length of the file.
    pub fn check_blob(&self, file: &Path, bytes: &[u8]) -> Result<&FileEntry> {
        self.check(file, Sha256::digest(bytes).into(), bytes.len() as u64)
    }

    fn check(&self, file: &Path, csum: [u8; 32], size: u64) -> Result<&FileEntry> {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let entry = self.entry(name).ok_or_else(|| Error::Manifest {
            file: self.file.clone(),
            reason: format!("it does not list {name:?}"),
        })?;
        if entry.csum != csum {
            return Err(Error::ManifestMismatch {
                file: file.to_path_buf(),
                what: "checksum",
                expected: hex(&entry.csum),
                found: hex(&csum),
            });
        }
        if entry.size != size {
            return Err(Error::ManifestMismatch {
                file: file.to_path_buf(),
                what: "size",
                expected: entry.size.to_string(),
                found: size.to_string(),
            });
        }
        Ok(entry)
    }
}

/// Writes `v` as canonical JSON: keys sorted bytewise, no whitespace, strings as serde_json
/// writes them (raw UTF-8); `null` is refused, as PBS refuses it.
fn canonical(v: &serde_json::Value, out: &mut String) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Null => return Err("a null value in the signed part".into()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out)?;
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&o[k], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The test vector of spec §6: scrypt("test", empty salt, n=65536, r=8, p=1) as the key.
    #[test]
    fn signature_test_vector_from_the_spec() {
        let mut raw = [0u8; 32];
        let params = scrypt::Params::new(16, 8, 1, 32).unwrap();
        scrypt::scrypt(b"test", b"", &params, &mut raw).unwrap();
        let key = Key::from_raw(&raw);
        assert_eq!(
            key.fingerprint().to_string(),
            "12:b9:b7:74:bb:3d:89:95:2b:97:cb:c2:82:f0:0c:14:2b:83:ba:7f:96:62:6a:a1:5a:44:9a:63:e8:91:fe:25"
        );
        let json = format!(
            r#"{{"backup-type":"host","backup-id":"elsa","backup-time":1593179765,
            "files":[{{"filename":"test1.img.fidx","size":200,"csum":"{}","crypt-mode":"encrypt"}},
                     {{"filename":"abc.blob","size":200,"csum":"{}","crypt-mode":"none"}}],
            "signature":"d7b446fb7db081662081d4b40fedd858a1d6307a5aff4ecff7d5bf4fd35679e9",
            "unprotected":{{"note":"ignored"}}}}"#,
            "01".repeat(32),
            "02".repeat(32)
        );
        let m = Manifest::parse_json(json.as_bytes(), Path::new("index.json")).unwrap();
        m.verify_signature(&key).unwrap();
        let other = Key::from_raw(&[7; 32]);
        assert!(matches!(
            m.verify_signature(&other),
            Err(Error::Signature { .. })
        ));
    }

    #[test]
    fn canonical_json_sorts_keys_bytewise_and_keeps_utf8() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"B":[true,"é\""],"a":{"z":1,"y":2}}"#).unwrap();
        let mut s = String::new();
        canonical(&v, &mut s).unwrap();
        assert_eq!(s, r#"{"B":[true,"é\""],"a":{"y":2,"z":1},"b":1}"#);
        let mut s = String::new();
        assert!(canonical(&serde_json::json!({"a": null}), &mut s).is_err());
    }
}
