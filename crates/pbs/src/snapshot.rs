//! One snapshot opened for reading: its manifest checked, its key chosen, its archives opened
//! against the manifest.

use std::path::PathBuf;

use crate::blob::Blob;
use crate::error::{Error, Result};
use crate::format::{MAX_BLOB_DATA, MAX_BLOB_FILE};
use crate::image::{Chunks, DynamicStream, FixedImage};
use crate::index::{DynamicIndex, FixedIndex};
use crate::key::{Fingerprint, Key, Keyring};
use crate::manifest::{CryptMode, Manifest};
use crate::store::{Datastore, Snapshot, read_bounded};

/// What is known of a snapshot's manifest signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// Nothing is signed (crypt mode `none`).
    Unsigned,
    /// Signed, and checked with the key of this fingerprint.
    Verified(Fingerprint),
    /// Signed (`sign-only`), but no key was given: the data can be read, the signature not checked.
    NotChecked,
}

/// A finished snapshot opened for reading.
#[derive(Debug)]
pub struct SnapshotReader {
    store: Datastore,
    snapshot: Snapshot,
    manifest: Manifest,
    key: Option<Key>,
    signature: Signature,
}

impl SnapshotReader {
    /// Reads the manifest of `snapshot`; for signed or encrypted snapshots picks the key the
    /// manifest names (`key-fingerprint`) from `keys` and checks the signature with it. An
    /// encrypted snapshot without its key is an error naming the fingerprint, before anything
    /// else is read.
    pub fn open(store: &Datastore, snapshot: &Snapshot, keys: &Keyring) -> Result<SnapshotReader> {
        let manifest = Manifest::open(&snapshot.manifest_path())?;
        let signed = manifest.signature.is_some()
            || manifest
                .files
                .iter()
                .any(|f| f.crypt_mode != CryptMode::None);
        let mut key = None;
        let mut signature = Signature::Unsigned;
        if signed {
            key = match manifest.key_fingerprint() {
                Some(f) => keys.find(&f).cloned(),
                // No fingerprint recorded: the key whose signature matches.
                None => keys
                    .keys()
                    .iter()
                    .find(|k| manifest.verify_signature(k).is_ok())
                    .cloned(),
            };
            match &key {
                Some(k) => {
                    manifest.verify_signature(k)?;
                    signature = Signature::Verified(k.fingerprint());
                }
                None if manifest.is_encrypted() => {
                    return Err(Error::NeedKey {
                        file: snapshot.path.clone(),
                        fingerprint: manifest.key_fingerprint().map(|f| f.to_string()),
                        given: keys
                            .keys()
                            .iter()
                            .map(|k| k.fingerprint().to_string())
                            .collect(),
                    });
                }
                None => signature = Signature::NotChecked,
            }
        }
        Ok(SnapshotReader {
            store: store.clone(),
            snapshot: snapshot.clone(),
            manifest,
            key,
            signature,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The state of the manifest signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The key in use, if any.
    pub fn key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    fn path_of(&self, filename: &str) -> Result<(PathBuf, CryptMode)> {
        let entry = self
            .manifest
            .entry(filename)
            .ok_or_else(|| Error::Manifest {
                file: self.manifest.file.clone(),
                reason: format!("it does not list {filename:?}"),
            })?;
        Ok((self.snapshot.path.join(&entry.filename), entry.crypt_mode))
    }

    /// The chunk store as the archive `filename` needs it read (with the key when encrypted).
    pub fn chunks_for(&self, filename: &str) -> Result<Chunks> {
        let (path, mode) = self.path_of(filename)?;
        self.chunks(mode, &path)
    }

    fn chunks(&self, mode: CryptMode, path: &std::path::Path) -> Result<Chunks> {
        let key = match mode {
            CryptMode::Encrypt => Some(self.key.clone().ok_or_else(|| Error::NeedKey {
                file: path.to_path_buf(),
                fingerprint: self.manifest.key_fingerprint().map(|f| f.to_string()),
                given: Vec::new(),
            })?),
            _ => None,
        };
        Ok(Chunks::new(self.store.clone(), key))
    }

    /// Opens the fixed index `filename` (`drive-scsi0.img.fidx`), checked against the manifest
    /// (checksum and size), as a disk image.
    pub fn fixed_image(&self, filename: &str) -> Result<FixedImage> {
        let (path, mode) = self.path_of(filename)?;
        let index = FixedIndex::open(&path)?;
        self.manifest.check_fixed(&index)?;
        Ok(FixedImage::new(self.chunks(mode, &path)?, index))
    }

    /// Opens the dynamic index `filename`, checked against the manifest.
    pub fn dynamic_index(&self, filename: &str) -> Result<DynamicIndex> {
        let (path, _) = self.path_of(filename)?;
        let index = DynamicIndex::open(&path)?;
        self.manifest.check_dynamic(&index)?;
        Ok(index)
    }

    /// Opens the dynamic index `filename`, checked against the manifest, as a stream read at
    /// random (what a pxar reader takes).
    pub fn dynamic_stream(&self, filename: &str) -> Result<DynamicStream> {
        let index = self.dynamic_index(filename)?;
        Ok(DynamicStream::new(self.chunks_for(filename)?, index))
    }

    /// The decoded content of the blob `filename` (`qemu-server.conf.blob`), checked against
    /// the manifest (SHA-256 and length of the file), decrypted when encrypted.
    pub fn blob(&self, filename: &str) -> Result<Vec<u8>> {
        let (path, mode) = self.path_of(filename)?;
        let bytes = read_bounded(&path, MAX_BLOB_FILE, "blob file size")?;
        self.manifest.check_blob(&path, &bytes)?;
        let blob = Blob::parse(&bytes, &path)?;
        let key = if blob.kind.is_encrypted() || mode == CryptMode::Encrypt {
            self.chunks(CryptMode::Encrypt, &path)?;
            self.key.as_ref()
        } else {
            None
        };
        blob.decode(key, MAX_BLOB_DATA, &path)
    }
}
