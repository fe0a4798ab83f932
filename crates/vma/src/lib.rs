//! Read, verify, extract and write Proxmox VE backup archives (VMA) without Proxmox.
//!
//! A VMA file is what `vzdump` writes for a QEMU virtual machine: a header holding the VM's config files
//! and the list of its disks, followed by *extents* that carry the disks' contents in 64 KiB *clusters*,
//! of which only the non-zero 4 KiB *blocks* are stored. Clusters may come in any order and interleave
//! between disks, but every cluster of every disk appears exactly once, which makes an archive
//! self-checking for completeness. Only the header and the extent headers carry checksums (MD5); the
//! disk data itself is unprotected. The format is described in `docs/formats/vma.md`, which follows the
//! reference C implementation in proxmox/pve-qemu.
//!
//! # Main types
//!
//! - [`Reader`] streams an archive from any [`std::io::Read`] (a file, a pipe from a decompressor, stdin)
//!   without seeking. [`Reader::new`] validates the whole [`Header`] ([`Config`]s and [`Device`]s);
//!   [`Reader::next_cluster`] yields each [`Cluster`] after validating its extent ([`Reader::next_extent`]
//!   hands over a whole [`Extent`] with its buffer, for writing on another thread); [`Reader::finish`]
//!   proves the archive ended cleanly and was complete, returning a [`Summary`]. [`Reader::verify`] does
//!   all of that in one call.
//! - [`Writer`] produces archives laid out as the reference `vma create` lays them out, from a
//!   [`NewArchive`] description and clusters written in any order. They differ from the
//!   reference's in `header_size` (and so the header MD5): we round the blobs up once, the
//!   reference grows the header per batch of blobs (`docs/formats/vma.md` §14b).
//! - [`extract::extract_to_dir`] writes configs and sparse raw disk images named like `vma extract` does;
//!   [`extract::extract`] also sends disks to other files, to block devices (zero blocks written as zeros)
//!   or nowhere, in the same single pass. Only what is VMA lives here (which device goes where, the
//!   names, extents turned into writes); the writing, publishing and digests are the `sink` crate's,
//!   shared with every other source.
//! - [`DiskDigest`] and [`Progress`] are `sink`'s, re-exported: the order-independent digest of a
//!   disk computed while writing, and progress in bytes.
//! - [`Error`] says what went wrong and at which byte offset, and [`Error::hint`] suggests what to do.
//!
//! The [`format`] module holds the layout: sizes, limits, magic numbers and field offsets.
//!
//! # Non-goals
//!
//! No decompression (the caller hands in a decompressed stream), no random access or mounting, no
//! repair of damaged archives, and no printing: this crate returns data and errors and leaves
//! presentation to its caller. Differential archives are reconstructed by another crate before they
//! reach this one.
//!
//! # Example
//!
//! Write a small archive with one config and one disk into memory, then read it back:
//!
//! ```
//! use vma::{NewArchive, Config, Reader, Writer};
//!
//! let archive = NewArchive {
//!     uuid: [7; 16],
//!     ctime: 1_700_000_000,
//!     configs: vec![Config { name: "qemu-server.conf".into(), data: b"memory: 512\n".to_vec() }],
//!     devices: vec![("drive-scsi0".into(), 2 * 65536)],
//! };
//! let mut writer = Writer::new(Vec::new(), &archive)?;
//! writer.write_cluster(1, 1, &[0xAB; 4096])?; // one stored block, fifteen zero blocks
//! writer.write_cluster(1, 0, &[])?;           // an all-zero cluster
//! let bytes = writer.finish()?;
//!
//! let mut reader = Reader::new(&bytes[..])?;
//! assert_eq!(reader.header().configs, archive.configs);
//! assert_eq!(reader.header().devices[0].name, "drive-scsi0");
//! let mut clusters = Vec::new();
//! while let Some(c) = reader.next_cluster()? {
//!     clusters.push((c.cluster, c.mask, c.data.len()));
//! }
//! assert_eq!(clusters, [(1, 0b1, 4096), (0, 0, 0)]);
//! let summary = reader.finish()?;
//! assert_eq!(summary.stored_bytes, 4096);
//! assert_eq!(summary.zero_bytes, 2 * 65536 - 4096);
//! # Ok::<(), vma::Error>(())
//! ```
#![deny(missing_docs)]

mod coverage;
mod error;
pub mod extract;
pub mod format;
mod read;
pub mod view;
mod write;

pub use error::{Error, Result};
pub use format::{BLOCK_SIZE, CLUSTER_SIZE};
pub use read::{Cluster, Config, DATA_ALIGN, Device, Extent, Header, Reader, Runs, Summary};
pub use sink::{DiskDigest, Progress};
pub use write::{NewArchive, Writer, encode_header};
