//! Proxmox Backup Server datastores, read offline.
//!
//! tmp essay
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

pub use blob::{Blob, BlobKind};
pub use error::{Error, Result};
pub use image::{Chunks, Damaged, FixedImage, RestoreOptions, RestoreReport, restore_fixed};
pub use index::{DynamicIndex, FixedIndex, IndexHeader};
pub use key::{Fingerprint, Kdf, Key, KeyFile, Keyring};
pub use manifest::{CryptMode, FileEntry, Manifest};
pub use snapshot::{Signature, SnapshotReader};
pub use store::{
    BACKUP_TYPES, Datastore, Group, Located, Namespace, SEARCH_DEPTH, Snapshot, locate, parse_time,
};
