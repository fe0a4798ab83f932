//! virtnbdbackup directories read offline: stream files, chains, and a disk at any point in
//! time.
//!
//! [virtnbdbackup] backs up libvirt/KVM guests as a full followed by incremental and
//! differential *stream files* (`vda.full.data`, `vda.inc.virtnbdbackup.1.data`,
//! `vda.diff.1719830400.data`): a meta frame with JSON, then data and zero frames at disk
//! offsets, plain or LZ4-compressed, then a stop frame and, when compressed, a trailer listing
//! the LZ4 frames' lengths. The format and the chain rules are in
//! `../shared/specs/virtnbdbackup.md`; this crate follows §2–§9.
//!
//! - [`DataFile`]: one data file indexed frame by frame ([`DataFile::open`] reads every frame
//!   header and walks every LZ4 frame's structure, checked against the trailer, without
//!   decoding; [`DataFile::check`] decodes it all). A file that does not start with a meta frame
//!   is a raw image (`-t raw`, or a raw disk's `*.copy.data`).
//! - [`Backup`]: a directory, its [`DiskChain`]s and their [`Point`]s in time, each with the
//!   files it needs or the reason it cannot be restored, worked out from the headers alone
//!   (never from mtimes). [`Backup::select`] picks the point of every disk for `--until`.
//! - [`DiskAt`]: a disk at one point, an overlay of the extents of its files (newest wins) that
//!   is a [`diskview::ReadAt`] and writes itself into an [`Out`] in disk order
//!   ([`DiskAt::restore`]).
//!
//! [`file::adler_check`] compares a file with its `.chksum` (Adler-32 of the whole file).
//! Not done here: zip archives of the stdout mode (unzip them first).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // A full backup of a 1 MiB disk vda: 4 KiB of data at 64 KiB, the rest zero frames.
//! let mut f = Vec::new();
//! let meta = br#"{"virtualSize": 1048576, "dataSize": 4096, "diskName": "vda",
//!   "checkpointName": "virtnbdbackup.0", "parentCheckpoint": "", "incremental": false,
//!   "compressed": false, "streamVersion": 2, "date": "2026-01-01T00:00:00"}"#;
//! f.extend(format!("meta {:016x} {:016x}\r\n", 0, meta.len()).as_bytes());
//! f.extend(meta);
//! f.extend(b"\r\n");
//! f.extend(format!("zero {:016x} {:016x}\r\n", 0, 65536).as_bytes());
//! f.extend(format!("data {:016x} {:016x}\r\n", 65536, 4096).as_bytes());
//! f.extend([0xab; 4096]);
//! f.extend(b"\r\n");
//! f.extend(format!("zero {:016x} {:016x}\r\n", 69632, 1048576 - 69632).as_bytes());
//! f.extend(format!("stop {:016x} {:016x}\r\n", 0, 0).as_bytes());
//! std::fs::write(dir.path().join("vda.full.data"), f)?;
//!
//! let backup = virtnbd::Backup::open(dir.path())?;
//! let chosen = backup.select(None)?;
//! let disk = virtnbd::DiskAt::new(backup.files_of(chosen[0].point)?)?;
//! use diskview::ReadAt;
//! let mut b = [0u8; 2];
//! disk.read_exact_at(&mut b, 65535)?;
//! assert_eq!(b, [0, 0xab]);
//! assert_eq!(disk.zero_ranges(0, 1 << 20)?, vec![0..65536, 69632..1048576]);
//! # Ok(()) }
//! ```
//!
//! [virtnbdbackup]: https://github.com/abbbi/virtnbdbackup
#![deny(missing_docs)]

pub mod chain;
mod error;
pub mod file;
pub mod format;
pub mod lz4;
pub mod view;

pub use chain::{Backup, DiskChain, Entry, Level, Point, Selected, is_backup_dir};
pub use error::{Error, Result};
pub use file::{DataFile, Format};
pub use format::Meta;
pub use view::{DiskAt, Out, RestoreReport};
