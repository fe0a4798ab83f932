//! Open a backup file or stdin, recognise its compression by magic number, and read it decompressed.
//!
//! Proxmox VE's vzdump pipes its archives through `zstd`, `gzip`/`pigz` or `lzop` (vma.md §11), and people keep
//! backups recompressed with `bzip2` or `xz`. This crate turns any of them, or an uncompressed file, into one plain
//! [`std::io::Read`] stream, verifying each container's own checksums on the way: that is the only end-to-end
//! integrity check a backup has.
//!
//! # Main types
//!
//! - [`open`] (a path, or `-` for stdin) and [`from_reader`] return an [`Input`]. They read the first bytes on the
//!   calling thread, recognise the [`Format`] with [`sniff`] (magic numbers only, never the file name), and start
//!   a worker thread that decodes into ~1 MiB chunks passed through a bounded channel. Reading and decoding thus
//!   overlap with whatever the caller does with the bytes, plain input included.
//! - [`Input`] implements `Read`. It also offers [`Input::counter`], the compressed bytes consumed so far (for a
//!   progress bar on another thread), [`Input::compressed_len`] for the total when it is known, and
//!   [`Input::warnings`] for non-fatal findings such as trailing bytes after an lzop stream.
//! - [`Error`] is the one error type. Decoding errors reach `read` as an [`std::io::Error`] carrying an
//!   [`Error`]; [`Error::from_io`] recovers it. Every malformed-input error names the format and the compressed
//!   byte offset; checksum errors name the checksum with expected and found values; [`Error::hint`] adds advice.
//! - [`LzopReader`] and [`LzopWriter`] are the lzop container (`docs/formats/lzop.md`), usable on their own. LZO1X decoding
//!   comes from the `lzo` crate; encoding is a small greedy LZO1X-1-style compressor of our own (`lzo1x.rs`),
//!   because `lzokay-native`, the registry's encoder, ran at about 10 MB/s. The writer decodes every block again
//!   before writing it and stores it raw if that fails, so an encoder bug could cost space but not data. gzip,
//!   zstd, bzip2 and xz come from `flate2`, `zstd`, `bzip2` and `liblzma`. Concatenated gzip members, zstd frames,
//!   lzop files, bzip2 and xz streams are all decoded.
//! - [`compressor`] wraps a writer for [`Format`] `Plain`, `Gzip`, `Zstd` or `Lzop`, chosen by
//!   [`Format::from_path`] (one enum, one word for each compression, reading or writing); the returned [`FinishWrite`] must be finished to write the trailer.
//!
//! # Non-goals
//!
//! - Seeking. Everything is read once, front to back; the formats above do not allow cheap random access anyway.
//! - Parallel decompression. vzdump writes single gzip members and single zstd frames, which decode on one
//!   thread (platform.md §10); the worker thread already overlaps decoding with the caller's work.
//! - Recovering data past a corrupt block. The stream stops at the first error, after delivering every byte
//!   before it. lzop checks each block before delivering it; gzip, zstd, bzip2 and xz check their checksums at
//!   the end of a member, frame, block or stream, so bytes delivered before such an error may already be damaged:
//!   a caller must treat an error as invalidating the whole output.
//! - lzop features vzdump never uses: multipart files, NRV/zlib methods.
//!
//! # Example
//!
//! ```
//! use std::io::Read;
//! use std::path::Path;
//! use std::sync::atomic::Ordering;
//! use unpack::Format;
//!
//! // A real vzdump archive (made on Proxmox VE with `vma create ... | lzop`) and its uncompressed original.
//! let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real");
//! let mut input = unpack::open(&dir.join("vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo"))?;
//! assert_eq!(input.format(), Format::Lzop);
//! let mut vma = Vec::new();
//! input.read_to_end(&mut vma)?;
//! assert_eq!(vma, std::fs::read(dir.join("vzdump-qemu-105-2026_11_20-21_10_17.vma"))?);
//! assert!(vma.starts_with(b"VMA\0"));
//! assert_eq!(Some(input.counter().load(Ordering::Relaxed)), input.compressed_len());
//! assert!(input.warnings().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod compress;
mod error;
mod gzip;
mod input;
mod lzo1x;
mod lzop;
mod sniff;
mod zstdframes;

pub use compress::{FinishWrite, compressor};
pub use error::{Error, Result};
pub use input::{Input, from_reader, open};
pub use lzop::{LzopReader, LzopWriter, MAX_BLOCK_LEN};
pub use sniff::{Format, SNIFF_LEN, sniff};
