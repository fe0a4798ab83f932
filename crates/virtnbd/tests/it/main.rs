#![allow(missing_docs)]
//! Tests of the virtnbd crate. Chains are written by `vnbdwrite` (from the spec) and every
//! restored point is compared by SHA-256 with the disk state the test built itself; the real
//! `virtnbdrestore` reads the same chains as an independent reader.
//!
//! - `chains`: the seed case (full → inc1 → diff → inc2), every point, plain and LZ4 with split
//!   extents; offline incrementals, gaps, orphans, raw disks, a resized disk.
//! - `damaged`: truncated files, flipped headers, a bad LZ4 frame, a lying trailer.
//! - `upstream`: files written by virtnbdbackup's own writer code, read by the crate.
//! - `oracle`: the same chains restored by virtnbdrestore (libvirt's test driver, qemu-nbd).

mod chains;
mod damaged;
mod oracle;
mod upstream;
mod util;
