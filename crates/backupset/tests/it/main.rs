//! Integration tests of the `backupset` crate (issue 12, item 9), on files made by the real tools:
//!
//! - `names`: [`backupset::classify`] and the naming rule, on the names of the spec's §2.2.
//! - `scan`: a backup directory with fulls, differentials, orphans, logs, a subdirectory and a
//!   symlink.
//! - `open`: differentials made by `xdelta3 -e -s FULL` as vzdump made them (the full
//!   compressed by gzip and decompressed by xdelta3 itself, the delta by zstd) read back as the
//!   archive that went into xdelta3; a missing full, a wrong full given with `base`, and a base
//!   that is itself a differential.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod names;
mod open;
mod scan;
