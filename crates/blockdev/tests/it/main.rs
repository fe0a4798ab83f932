//! Integration tests of the `blockdev` crate, against real loop devices standing in for disks.
//! They need root and `losetup`; without them each test prints why it is skipped.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod loopdisk;
