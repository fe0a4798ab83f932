//! pxar archives, the file trees of Proxmox container and host backups, read at random.
//!
//! An [`Archive`] reads a unified `.pxar` (v1), or a split archive's metadata stream (`.mpxar`,
//! v2) together with its payload stream (`.ppxar`), through [`diskview::ReadAt`]: a
//! `pbs::DynamicStream` over a datastore's chunks, a file, or bytes in memory. The format is
//! `shared/specs/pbs.md` §7, in code in [`format`].
//!
//! - **Random access** for browsing (and a later `fsread` layer: open by path, list, stat, read a
//!   byte range, read a link): [`Archive::root`], [`Archive::read_dir`] and [`Archive::lookup`]
//!   go through the goodbye tables (the hash of every name checked, collisions confirmed by
//!   name), never reading more than the directories on the way. An [`Entry`] carries its
//!   [`Metadata`] (mode, owner, mtime with nanoseconds, xattrs, [`Acl`], fcaps, quota project id)
//!   and its [`Kind`]; [`Archive::read_file_at`] reads a file's bytes from either stream.
//! - **A checked pass** for extraction: [`Archive::walk`] yields every entry front to back and
//!   checks each goodbye table against what it saw (hashes, offsets, sizes of subdirectories,
//!   the tail, the search-tree order).
//! - **Split archives**: a PAYLOAD_REF is checked where it points (a PAYLOAD header whose size
//!   matches) when the file is read; old clients wrote references that go backwards or repeat,
//!   which [`extract`] reports as a damaged file rather than an aborted restore.
//! - [`extract`]: a tree (or a sub-tree) into a new directory, built under a temporary name and
//!   published without replacing anything; every name resolved relative to a directory handle,
//!   never through a link.
//!
//! Every length read from the archive is bounded before it allocates ([`format`]'s `MAX_*`); a
//! malformed archive is an [`Error`] naming the archive, the byte offset, what was expected and
//! what was found.
//!
//! Not here: writing archives (the tests have their own writer in `pbswrite`), the catalog,
//! chattr flags.
//!
//! ```
//! # fn main() -> pxar::Result<()> {
//! // The worked example of spec §7: a.txt, its hardlink b.txt, a directory d, a symlink l.
//! let bytes = pbswrite::pxar::spec_example();
//! let ar = pxar::Archive::open(bytes, None, "example.pxar")?;
//! let a = ar.lookup(b"a.txt")?;
//! let mut buf = [0u8; 16];
//! let n = ar.read_file_at(&a, &mut buf, 0)?;
//! assert_eq!(&buf[..n], b"hello\n");
//! let names: Vec<Vec<u8>> = ar.read_dir(&ar.root()?)?.into_iter().map(|e| e.path).collect();
//! assert_eq!(names, [&b"a.txt"[..], b"b.txt", b"d", b"l"]);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
pub mod extract;
pub mod format;
mod read;

pub use error::{Error, Result, Stream};
pub use read::{
    Acl, AclDefault, Archive, Data, Entry, Event, GoodbyeItem, Kind, Metadata, Walk, check_name,
};
