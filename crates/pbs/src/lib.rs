//! Proxmox Backup Server datastores, read offline.
//!
//! The PBS server is gone; its datastore directory is left (a USB disk, an rsync, bucket or tape
//! copy). This crate reads it without the server, following `shared/specs/pbs.md` (§13b for
//! what PBS 4.x changed). It knows the format and nothing of the command line: it never prints,
//! and every malformed-input [`Error`] names the file, the byte offset, what was expected and
//! what was found, with a [`Error::hint`] where there is advice to give.
//!
//! **Finding things.** [`locate`] turns a path into a [`Datastore`] and what the path is in it
//! ([`Located`]): the store itself (the directory holding `.chunks/`), a [`Namespace`]
//! (`ns/a/ns/b`), a [`Group`] (`vm/100`, with its `owner` and `notes`), a [`Snapshot`] (finished
//! when it has a manifest; `.protected` noted), or a mount point holding exactly one store a few
//! levels below. [`Datastore`] lists namespaces, groups and snapshots and finds chunk files
//! (`.chunks/XXXX/<digest>`; a missing `XXXX` directory is a missing chunk, not a broken store).
//!
//! **Reading a snapshot.** [`SnapshotReader::open`] reads the manifest ([`Manifest`]), picks the
//! [`Key`] it names (`key-fingerprint`) from a [`Keyring`] and checks its HMAC signature; an
//! encrypted snapshot without its key fails there, naming the fingerprint it needs, before
//! anything else is read. Keys come from [`KeyFile`]s (`kdf` null, scrypt or PBKDF2). The reader
//! then opens archives against the manifest (size and checksum of every file): config blobs
//! ([`SnapshotReader::blob`]), dynamic indexes as streams read at random ([`DynamicStream`],
//! what the pxar reader takes), and fixed indexes as a [`FixedImage`].
//!
//! **Chunks and images.** [`Chunks::load`] reads one chunk and checks everything there is to
//! check: the [`Blob`] magic and CRC-32, the crypt mode, the AES-256-GCM tag, the zstd frames
//! (never decoding past the expected length), the length and the digest (plain SHA-256, or keyed
//! with the key's `id_key`). A [`FixedImage`] is a disk as a [`diskview::ReadAt`] (random reads
//! through a small cache; chunks whose digest is that of an all-zero chunk are known zeros and
//! never read), and [`restore_fixed`] writes it into a [`sink::DiskWriter`] in order while a
//! pool of threads decodes and checks the chunks ahead of the writer, within a fixed window, so
//! memory does not grow with the disk. With [`RestoreOptions::zero_fill`], missing or damaged
//! chunks become zeros listed in the [`RestoreReport`] instead of an error.
//!
//! **Verifying.** [`verify`] checks snapshots (a whole store, a group, one snapshot): every
//! manifest, index and blob, then every distinct chunk once on a pool, however many snapshots
//! share it. Each missing or damaged chunk is reported once with every snapshot and archive that
//! needs it ([`VerifyReport`]); chunks of encrypted snapshots whose key was not given are
//! CRC-checked only, and the verdict says so.
//!
//! **Limits.** Every length read from disk is bounded before it allocates: blob files and
//! decoded chunks at 16 MiB ([`format::MAX_BLOB_DATA`]), indexes at 2^24 entries, fixed chunk
//! sizes to powers of two from 64 KiB to 4 MiB (checked before any division), key derivation
//! costs to 1 GiB of scrypt memory.
//!
//! **Not here (yet).** pxar archives (their own crate reads the streams of a [`DynamicIndex`]),
//! catalogs, tape, S3 buckets, the RSA master key, and writing datastores (the tests have their
//! own writer, checked by an independent Python reader).
//!
//! **Crypto crates.** AES-256-GCM is RustCrypto's `aes-gcm` 0.10.3 (`AesGcm<Aes256, U16>`: PBS
//! uses a 16-byte IV): the audited, widely used line, maintained by the RustCrypto organisation,
//! with the CVE-2023-42811 fix; 0.11 is a recent rewrite on new trait crates and would not share
//! `digest` 0.10 with `sha2`, `hmac`, `pbkdf2` and `scrypt` here.
//!
//! ```
//! use diskview::ReadAt;
//! # fn main() -> pbs::Result<()> {
//! let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/pbs/datastore");
//! let (store, _) = pbs::locate(sample.as_ref())?;
//! let snapshots = store.all_snapshots()?;
//! assert_eq!(snapshots[0].name(), "vm/800/2026-12-01T21:00:00Z");
//!
//! let reader = pbs::SnapshotReader::open(&store, &snapshots[0], &pbs::Keyring::new())?;
//! let image = reader.fixed_image("drive-scsi0.img.fidx")?;
//! assert_eq!(image.size(), 12_845_056);
//! // Chunk 1 is the 4 MiB zero chunk: known zeros, never read.
//! assert_eq!(image.zero_ranges(0, image.size()).unwrap(), vec![(4 << 20)..(8 << 20)]);
//! let mut mbr = [0u8; 512];
//! image.read_exact_at(&mut mbr, 0).unwrap();
//!
//! // The encrypted snapshot needs its key, and says which.
//! let err = pbs::SnapshotReader::open(&store, &snapshots[2], &pbs::Keyring::new()).unwrap_err();
//! assert!(err.to_string().contains("ae:d3:71:f7"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod blob;
mod error;
pub mod format;
mod image;
mod index;
mod key;
mod manifest;
mod snapshot;
mod store;
mod verify;

pub use blob::{Blob, BlobKind};
pub use error::{Error, Result};
pub use image::{
    Chunks, Damaged, DynamicStream, FixedImage, RestoreOptions, RestoreReport, restore_fixed,
};
pub use index::{DynamicIndex, FixedIndex, IndexHeader};
pub use key::{Fingerprint, Kdf, Key, KeyFile, Keyring};
pub use manifest::{CryptMode, FileEntry, Manifest};
pub use snapshot::{Signature, SnapshotReader};
pub use store::{
    BACKUP_TYPES, Datastore, Group, Located, Namespace, SEARCH_DEPTH, Snapshot, locate, parse_time,
};
pub use verify::{BadChunk, SnapshotVerdict, VerifyReport, verify};
