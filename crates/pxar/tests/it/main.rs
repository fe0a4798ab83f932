//! Tests of the pxar reader and extraction. Archives come from the test writer in `pbswrite`
//! (written from the spec), checked by an independent Python reader (`tests/oracle`); expected
//! values come from the spec's worked example, from that reader, or from the trees on disk.
//!
//! - `spec`: the worked example of spec §7 read back (offsets, lookups, hardlink, goodbye).
//! - `roundtrip`: every entry kind, v1 and split, listed by the reader and by the oracle.
//! - `extract`: trees made on disk, archived, extracted and compared by a Python script.
//! - `hostile`: names leading out, symlink-then-file, bad sizes, truncation, bad goodbye tables,
//!   bad payload references.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod extract;
mod hostile;
mod roundtrip;
mod spec;
mod util;
