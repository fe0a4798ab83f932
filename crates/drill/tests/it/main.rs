//! Integration tests of the `drill` crate: a backup directory built by real tools (zstd, xdelta3,
//! sgdisk, mkfs, tar), with expected results known from how each VM was built.
//!
//! - `directory`: four VMs, good and bad, mounted and checked when root; nothing left behind.
//! - `choice`: which point is restored (newer full, orphan fall back, only an orphan, a corrupt
//!   newest differential), checked by the restored disk's content.
//! - `modes`: `--no-write` over a VMA, container tars (good and cut) and a cut VMA.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod choice;
mod directory;
mod modes;
