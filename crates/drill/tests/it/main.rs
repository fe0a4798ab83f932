//! Integration tests of the `drill` crate: a backup directory built by real tools (zstd, xdelta3,
//! sgdisk, mkfs), with expected results known from how each VM was built.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod choice;
mod directory;
