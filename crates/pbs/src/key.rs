//! Encryption keys: the raw key and what PBS derives from it, key files, fingerprints.
//!
//! From the raw 32-byte key K, PBS derives `id_key = PBKDF2-HMAC-SHA256(K, "_id_key", 10)`; the
//! fingerprint is `SHA-256(SHA-256("Proxmox Backup Encryption Key Fingerprint") || id_key)`,
//! encrypted chunk digests are `SHA-256(plaintext || id_key)` and manifest signatures
//! `HMAC-SHA256(id_key, canonical JSON)` (spec §4).

use std::path::Path;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U16;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// AES-256-GCM with PBS's 16-byte IV (J0 from GHASH) and 16-byte tag.
type Cipher = AesGcm<Aes256, U16>;

/// Largest scrypt memory (128·n·r bytes) a key file may ask for: 1 GiB.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Most PBKDF2 iterations a key file may ask for.
const MAX_PBKDF2_ITER: u64 = 10_000_000;

/// A key's fingerprint: 32 bytes, shown as colon-separated hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses the colon form (`ae:d3:…`, 32 bytes); plain hex is accepted too.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let plain: String = s.trim().chars().filter(|c| *c != ':').collect();
        crate::error::parse_hex32(&plain.to_ascii_lowercase()).map(Fingerprint)
    }

    /// The short form PBS shows: the first 8 bytes.
    pub fn short(&self) -> String {
        colon_hex(&self.0[..8])
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&colon_hex(&self.0))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A raw encryption key and what is derived from it.
#[derive(Clone)]
pub struct Key {
    id_key: [u8; 32],
    fingerprint: Fingerprint,
    cipher: Cipher,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.fingerprint)
    }
}

impl Key {
    /// The key whose raw bytes are `raw`.
    pub fn from_raw(raw: &[u8; 32]) -> Key {
        let mut id_key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(raw, b"_id_key", 10, &mut id_key);
        let mut h = Sha256::new();
        h.update(Sha256::digest(b"Proxmox Backup Encryption Key Fingerprint"));
        h.update(id_key);
        Key {
            id_key,
            fingerprint: Fingerprint(h.finalize().into()),
            cipher: Cipher::new(GenericArray::from_slice(raw)),
        }
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The digest of an encrypted chunk whose plaintext is `data`: `SHA-256(data || id_key)`.
    pub fn chunk_digest(&self, data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(data);
        h.update(self.id_key);
        h.finalize().into()
    }

    /// [`Key::chunk_digest`] of two chunks, computed together ([`sha256x2`]).
    pub fn chunk_digest_pair(&self, a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
        sha256x2::digest_pair(&[a, &self.id_key], &[b, &self.id_key])
    }

    /// `HMAC-SHA256(id_key, msg)`: a manifest's signature.
    pub fn sign(&self, msg: &[u8]) -> [u8; 32] {
        #[allow(clippy::unwrap_used)] // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.id_key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().into()
    }

    /// Decrypts `buf` in place (AES-256-GCM, 16-byte IV, empty AAD); false when the tag does not
    /// match (wrong key or damage), in which case `buf` holds nothing meaningful.
    pub(crate) fn decrypt(&self, iv: &[u8; 16], tag: &[u8; 16], buf: &mut [u8]) -> bool {
        decrypt_with(&self.cipher, iv, tag, buf)
    }
}

fn decrypt_with(cipher: &Cipher, iv: &[u8; 16], tag: &[u8; 16], buf: &mut [u8]) -> bool {
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(iv),
            b"",
            buf,
            GenericArray::from_slice(tag),
        )
        .is_ok()
}

/// How a key file's passphrase becomes the key that wraps the raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kdf {
    /// `kdf: null`: the file holds the raw key itself.
    None,
    /// scrypt with cost `n`, block size `r`, parallelism `p`.
    Scrypt {
        /// CPU/memory cost (a power of two).
        n: u64,
        /// Block size.
        r: u64,
        /// Parallelism.
        p: u64,
        /// Salt.
        salt: Vec<u8>,
    },
    /// PBKDF2-HMAC-SHA256.
    Pbkdf2 {
        /// Iterations.
        iter: u64,
        /// Salt.
        salt: Vec<u8>,
    },
}

/// A PBS key file (`/etc/pve/priv/storage/<id>.enc`, `proxmox-backup-client key create`), parsed
/// but not yet unlocked.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: std::path::PathBuf,
    /// How the passphrase is stretched.
    pub kdf: Kdf,
    data: Vec<u8>,
    /// The fingerprint stored in the file, if any.
    pub fingerprint: Option<Fingerprint>,
    /// The passphrase hint stored in the file, if any.
    pub hint: Option<String>,
}

impl KeyFile {
    /// Reads and parses the key file at `path`.
    pub fn open(path: &Path) -> Result<KeyFile> {
        let bytes =
            crate::store::read_bounded(path, crate::format::MAX_SMALL_FILE, "key file size")?;
        KeyFile::parse(&bytes, path)
    }

    /// Parses the JSON of a key file; `path` is for messages.
    pub fn parse(json: &[u8], path: &Path) -> Result<KeyFile> {
        let bad = |reason: String| Error::KeyFile {
            file: path.to_path_buf(),
            reason,
        };
        let v: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| bad(format!("not a PBS key file (JSON: {e})")))?;
        let b64 = |v: &serde_json::Value, what: &str| -> Result<Vec<u8>> {
            let s = v
                .as_str()
                .ok_or_else(|| bad(format!("`{what}` is not a base64 string")))?;
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| bad(format!("`{what}` is not base64: {e}")))
        };
        let num = |v: &serde_json::Value, what: &str| -> Result<u64> {
            v.get(what)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| bad(format!("kdf parameter `{what}` is missing or not a number")))
        };
        let kdf = match v.get("kdf") {
            None | Some(serde_json::Value::Null) => Kdf::None,
            Some(k) => {
                if let Some(s) = k.get("Scrypt") {
                    Kdf::Scrypt {
                        n: num(s, "n")?,
                        r: num(s, "r")?,
                        p: num(s, "p")?,
                        salt: b64(s.get("salt").unwrap_or(&serde_json::Value::Null), "salt")?,
                    }
                } else if let Some(s) = k.get("PBKDF2") {
                    Kdf::Pbkdf2 {
                        iter: num(s, "iter")?,
                        salt: b64(s.get("salt").unwrap_or(&serde_json::Value::Null), "salt")?,
                    }
                } else {
                    return Err(bad(format!(
                        "unknown kdf {k} (expected null, Scrypt or PBKDF2)"
                    )));
                }
            }
        };
        let data = b64(
            v.get("data").ok_or_else(|| bad("no `data` field".into()))?,
            "data",
        )?;
        let fingerprint = match v.get("fingerprint") {
            None | Some(serde_json::Value::Null) => None,
            Some(f) => Some(
                f.as_str()
                    .and_then(Fingerprint::parse)
                    .ok_or_else(|| bad(format!("`fingerprint` {f} is not 32 hex bytes")))?,
            ),
        };
        let hint = v.get("hint").and_then(|h| h.as_str()).map(str::to_owned);
        Ok(KeyFile {
            path: path.to_path_buf(),
            kdf,
            data,
            fingerprint,
            hint,
        })
    }

    /// True when [`KeyFile::unlock`] needs a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        self.kdf != Kdf::None
    }

    /// The raw key: directly for `kdf: null`, else by deriving a wrapping key from `passphrase`
    /// and decrypting `data` (`iv[16] tag[16] ciphertext`). Checks the stored fingerprint.
    pub fn unlock(&self, passphrase: Option<&[u8]>) -> Result<Key> {
        let bad = |reason: String| Error::KeyFile {
            file: self.path.clone(),
            reason,
        };
        let raw: Vec<u8> = match &self.kdf {
            Kdf::None => self.data.clone(),
            kdf => {
                let pass = passphrase.ok_or_else(|| Error::NeedPassphrase {
                    file: self.path.clone(),
                })?;
                let mut wrap = [0u8; 32];
                match kdf {
                    Kdf::Scrypt { n, r, p, salt } => {
                        if !n.is_power_of_two() || *n < 2 {
                            return Err(bad(format!("scrypt n = {n} is not a power of two")));
                        }
                        let mem = 128u64.saturating_mul(*n).saturating_mul(*r);
                        if mem > MAX_SCRYPT_MEMORY || *p > 16 {
                            return Err(bad(format!(
                                "scrypt parameters n = {n}, r = {r}, p = {p} need {mem} bytes, more than the {MAX_SCRYPT_MEMORY} accepted"
                            )));
                        }
                        let params = scrypt::Params::new(
                            n.trailing_zeros() as u8,
                            u32::try_from(*r).unwrap_or(u32::MAX),
                            u32::try_from(*p).unwrap_or(u32::MAX),
                            32,
                        )
                        .map_err(|e| bad(format!("scrypt parameters: {e}")))?;
                        scrypt::scrypt(pass, salt, &params, &mut wrap)
                            .map_err(|e| bad(format!("scrypt: {e}")))?;
                    }
                    Kdf::Pbkdf2 { iter, salt } => {
                        if *iter == 0 || *iter > MAX_PBKDF2_ITER {
                            return Err(bad(format!(
                                "PBKDF2 iterations {iter} outside 1..={MAX_PBKDF2_ITER}"
                            )));
                        }
                        pbkdf2::pbkdf2_hmac::<Sha256>(pass, salt, *iter as u32, &mut wrap);
                    }
                    Kdf::None => {}
                }
                if self.data.len() < 32 {
                    return Err(Error::Truncated {
                        file: self.path.clone(),
                        what: "wrapped key (iv, tag, ciphertext)",
                        at: 0,
                        needed: 32 + 32,
                        available: self.data.len() as u64,
                    });
                }
                let (iv, rest) = self.data.split_at(16);
                let (tag, ct) = rest.split_at(16);
                let mut buf = ct.to_vec();
                let cipher = Cipher::new(GenericArray::from_slice(&wrap));
                let (Ok(iv), Ok(tag)) = (<[u8; 16]>::try_from(iv), <[u8; 16]>::try_from(tag))
                else {
                    return Err(bad("wrapped key too short".into()));
                };
                if !decrypt_with(&cipher, &iv, &tag, &mut buf) {
                    return Err(bad(
                        "the passphrase does not unlock this key (wrong passphrase or damaged file)"
                            .into(),
                    ));
                }
                buf
            }
        };
        let raw: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("the key is {} bytes, expected 32", raw.len())))?;
        let key = Key::from_raw(&raw);
        if let Some(f) = self.fingerprint
            && f != key.fingerprint
        {
            return Err(bad(format!(
                "the key's fingerprint is {}, the file says {f}",
                key.fingerprint
            )));
        }
        Ok(key)
    }
}

/// Several keys; a snapshot's manifest names the one it needs.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds a key (a second key with the same fingerprint is ignored).
    pub fn add(&mut self, key: Key) {
        if self.find(&key.fingerprint).is_none() {
            self.keys.push(key);
        }
    }

    /// The key with fingerprint `f`.
    pub fn find(&self, f: &Fingerprint) -> Option<&Key> {
        self.keys.iter().find(|k| k.fingerprint == *f)
    }

    /// The keys, in the order added.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Fingerprints of all keys, for messages.
    pub fn fingerprints(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.fingerprint.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sample_key_fingerprint_from_the_fixture_readme() {
        // ../shared/fixtures/pbs/README.md gives the raw key and its fingerprint.
        let raw = crate::error::parse_hex32(
            "4cc84cf4d29d4ea0a6ad2ded7e5be21eb85458457f10d2e0dd4fd66938dd2d71",
        )
        .unwrap();
        assert_eq!(
            Key::from_raw(&raw).fingerprint().to_string(),
            "ae:d3:71:f7:4b:6f:a4:12:b7:02:26:ee:08:b5:88:a0:92:e3:7f:26:eb:89:ce:0e:7d:e4:17:ee:31:73:2b:4b"
        );
    }

    #[test]
    fn fingerprint_parse_round_trip_and_short_form() {
        let f = Fingerprint([0xab; 32]);
        assert_eq!(Fingerprint::parse(&f.to_string()), Some(f));
        assert_eq!(f.short(), "ab:ab:ab:ab:ab:ab:ab:ab");
        assert_eq!(Fingerprint::parse("ab:cd"), None);
    }
}
