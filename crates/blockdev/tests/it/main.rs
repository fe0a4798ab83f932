//! Integration tests of the `blockdev` crate, against real loop devices standing in for disks.
//! They need root and `losetup`; without them each test records why it
//! is skipped (`testimg::skip`), and fails instead under `PVERESCUE_REQUIRE_PRIVILEGED=1`.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod loopdisk;
