//! Where restored disks and files go, whatever the source.
//!
//! Every source (a VMA stream, a PBS snapshot, a virtnbdbackup chain) ends in the same few
//! places, and this crate is the one copy of them:
//!
//! - [`publish`]: the one rule for creating outputs. A new file is created under a temporary
//!   name with `O_EXCL|O_NOFOLLOW` relative to a directory handle ([`OutDir`]), and published by
//!   a rename that never replaces ([`NewFile::publish`]); everything a run creates is recorded in
//!   a [`Created`] and removed again on failure, panic or signal. [`create_new`] wraps it for
//!   single-file outputs.
//! - [`write`]: a [`DiskWriter`] per disk, to a new sparse file, an existing file, or a block
//!   device ([`Target`]), with direct I/O, coalesced zeros and early writeback.
//! - [`digest`]: the order-independent [`DiskDigest`] fed by byte ranges while writing, and
//!   [`verify`]: the re-read that `--verify` compares with it.
//! - [`qcow2`]: a new qcow2 image taking the same `write`/`zero` calls, zero runs left
//!   unallocated (for `--format qcow2`).
//! - [`sparse`]: the one zero test and the sparse write of file contents.
//! - [`progress`]: the [`Progress`] trait, counted in bytes, that a command renders.
//!
//! Nothing here knows an archive format: sources turn their records into `write`/`zero` calls at
//! disk offsets.
//!
//! ```
//! # fn main() -> Result<(), sink::Error> {
//! let tmp = tempfile::tempdir().map_err(|e| sink::Error::InvalidTarget { reason: e.to_string() })?;
//! let created = sink::Created::new();
//! let dir = sink::OutDir::create(&tmp.path().join("restore"), false, &created)?;
//! let disk = sink::Disk { id: 0, name: "drive-scsi0".into(), size: 1 << 20 };
//! let opts = sink::WriteOptions { digest: true, ..Default::default() };
//! let mut w = sink::DiskWriter::new_in_dir(disk, &dir, "disk-drive-scsi0.raw".as_ref(), opts, &created)?;
//! w.write(4096, &[0xab; 4096])?;
//! w.zero(0, 4096)?;
//! w.zero(8192, (1 << 20) - 8192)?;
//! let written = w.finish(&created)?;
//! assert!(sink::verify::verify(&written, None)?);
//! created.commit();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod digest;
mod error;
pub mod progress;
pub mod publish;
pub mod qcow2;
pub mod sparse;
pub mod verify;
pub mod write;

pub use digest::{DigestBuilder, DiskDigest, LEAF_SIZE, Part};
pub use error::{Error, Result};
pub use progress::Progress;
pub use publish::{Created, NewFile, OutDir, create_new};
pub use sparse::{is_zero, write_sparse};
pub use write::{
    DATA_ALIGN, Disk, DiskWriter, Flusher, Target, TargetKind, WriteOptions, WrittenDisk, ZeroOut,
};
