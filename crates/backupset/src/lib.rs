//! Proxmox VE backup files as a set: fulls, their differentials, and deltas in general.
//!
//! The community "differential backup" patches made vzdump write a new backup as a VCDIFF delta
//! against the last full, named `<full name>--differential-<time>.vcdiff[.<ext>]`
//! (`docs/formats/differential.md`, sections 2 and 3). This crate holds that knowledge and the
//! plumbing that joins `unpack`, `vcdiff` and `vma`, so that the command-line tool only
//! orchestrates:
//!
//! - [`name`]: the naming rule ([`full_name_of`]: everything before `--differential-`) and
//!   [`classify`] for file names.
//! - [`scan`]: a backup directory as a list of fulls, differentials with their full, and
//!   orphans (differentials whose full is gone); [`survey`] also says what it skipped and why,
//!   and recognises renamed archives by their content.
//! - [`Archive`]: opens a full or a differential and reads as the full archive it stands for.
//!   A differential is recognised by the VCDIFF magic after its outer compression is removed,
//!   never by its name; its full is found by name or given ([`OpenOptions::base`]), and may use
//!   another compressor. The pipeline unpack(full) → vcdiff(unpack(diff)) runs in one pass,
//!   the decoder on its own thread.
//! - [`check_into`]: reads an archive to its end and proves it complete (VMA: every cluster of
//!   every disk; tar: every header checksum, every member, the end marker), copying the bytes
//!   to a writer on the way (`merge`) or to nowhere (`verify`).
//! - [`tar::check`]: the tar structure check used for container backups.
//! - [`patch::chain`]: content-agnostic patching with a chain of VCDIFF and rdiff deltas.
//! - [`Error`] names the file, the step and the offset; [`DeltaError`] travels inside
//!   [`std::io::Error`]s while a differential is decoded and knows which full the differential
//!   was made against, for the hint on a wrong base.
//!
//! # Non-goals
//!
//! Writing files (the caller owns output names, temporary files and renames), printing, and
//! making deltas.
//!
//! # Example
//!
//! The real Proxmox differential in `testdata/real` (made with pve-xdelta3 from a zstd full)
//! opens as a VMA and checks completely; its full is found by the naming rule:
//!
//! ```
//! use std::path::Path;
//! let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real");
//! let diff = dir.join(
//!     "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst",
//! );
//! let mut archive = backupset::Archive::open(&diff, &Default::default())?;
//! assert_eq!(archive.content(), backupset::Content::Vma);
//! let info = archive.diff().expect("a differential");
//! assert!(info.base.ends_with("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst"));
//! let checked = backupset::check_into(&mut archive, &mut std::io::sink(), &mut ())?;
//! let backupset::Checked::Vma { summary, .. } = checked else { panic!("a VMA") };
//! assert_eq!(summary.bytes_read, 11_042_304);
//! assert!(archive.warnings().is_empty());
//! # Ok::<(), backupset::Error>(())
//! ```
#![deny(missing_docs)]

mod check;
mod detect;
mod error;
pub mod name;
mod open;
pub mod patch;
mod pipe;
pub mod scan;
pub mod tar;

pub use check::{Checked, check_into};
pub use detect::{Detected, Kind, detect};
pub use error::{DeltaError, Error, Result};
pub use name::{FileClass, classify, full_name_of, full_path_of};
pub use open::{Archive, Content, DiffInfo, OpenOptions};
pub use scan::{Member, Role, Skipped, Survey, scan, survey};
