//! Integration tests of the `pverescue` binary, run as a user would run it.
//!
//! Index:
//! - `util`: running the binary, fixture paths, checksums.
//! - `real`: archives made by the real Proxmox tools (`testdata/real/`): list, config, verify
//!   and extract must match what the real `vma` printed and wrote.
//! - `fixtures`: our fixtures in every compression (`testdata/vma/`), multi-member streams and
//!   standard input; restores must reproduce the sha256 of the input images.
//! - `damaged`: broken archives fail with pinned, actionable messages and leave nothing behind.
//! - `create`: archives we write are read back by us, by Python `dissect.archive` and by `lzop -t`.
//! - `cli`: help, usage errors, exit codes and JSON shapes.

mod cli;
mod create;
mod damaged;
mod fixtures;
mod real;
mod util;
