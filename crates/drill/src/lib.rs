//! Restore drills: prove that the newest backup of every VM restores, mounts and passes checks.
//!
//! A backup nobody has restored is a hope, not a backup. A drill takes backup directories (or
//! archives), finds every VM in them, and for each one does what a real recovery would do, then
//! reports what it measured:
//!
//! 1. [`plan`] groups the files by VMID and chooses the newest *restorable point*: the newest full,
//!    or the newest differential whose full is present (naming and classification come from the
//!    `backupset` crate). An orphan differential is never chosen; a VM that has nothing else fails.
//!    The [`Plan`] is a value of its own, so a caller can print it before running it.
//! 2. [`run`] opens each point as one stream (a differential is decoded against its full on the
//!    fly), verifies it completely while restoring it into a scratch directory with
//!    [`vma::extract::extract`] (or, with [`Options::no_write`], streams it to nowhere), re-reads
//!    every restored image and compares its [`vma::DiskDigest`] with the one computed while
//!    writing, finds partitions and filesystems (`partitions`), mounts every filesystem the kernel
//!    can read read-only through its own loop device (`loopmount`), runs the checks
//!    ([`Options::check_files`], [`Options::check_cmds`]), unmounts, and removes the scratch files.
//! 3. The [`Report`] holds one [`VmReport`] per VM: archives, bytes, times, throughput, disks,
//!    partitions, filesystems, checks, the measured restore time of the whole disk set, and
//!    `passed` with the `reason` when not. It is plain serde data; `docs/drill.md` is its schema.
//!
//! A failing VM never stops the drill. Mounting needs root; without it (or with
//! [`Options::no_mount`]) filesystems and checks are reported as skipped with the reason, never as
//! passed.
//!
//! # Restore time (`rto_seconds`)
//!
//! `throughput = disk_bytes / restore_seconds`, where `restore_seconds` is the streaming pass alone
//! (read, decompress, decode a differential, write), and `rto_seconds = restore_seconds`: the
//! *measured* time of the streaming restore of the VM's whole disk set onto the scratch directory,
//! not a prediction for other storage. `docs/drill.md` says how to get a figure to plan with (run
//! the drill where the recovery would run). With `--no-write` it is a lower bound.
//!
//! An interrupt stops the running check commands (each leads its own process group), releases
//! the mounts and removes the scratch directory; [`install_signal_cleanup`] hands an
//! [`Interrupted`] summary to the caller to print before the process exits.
//!
//! # Non-goals
//!
//! Booting the VM, restoring container backups (tar archives are verified completely and reported
//! with a note), and choosing older points when the newest one is damaged: the drill's question is
//! whether the newest backup works.
//!
//! # Example
//!
//! A verify-only drill over a real Proxmox backup:
//!
//! ```
//! use std::path::Path;
//! let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
//!     .join("../../testdata/real/vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo");
//! let plan = drill::plan(&[archive])?;
//! assert_eq!(plan.vms[0].vmid, "105");
//! let opts = drill::Options { no_write: true, ..Default::default() };
//! let report = drill::run(&plan, &opts, &mut ())?;
//! assert!(report.passed);
//! assert_eq!(report.vms[0].disks[0].name, "drive-scsi0");
//! assert!(report.vms[0].rto_seconds.is_some());
//! # Ok::<(), drill::Error>(())
//! ```

#![deny(missing_docs)]

mod cleanup;
mod plan;
mod report;
mod run;

use std::path::PathBuf;

pub use cleanup::{Interrupted, install_signal_cleanup};
pub use plan::{Plan, Point, VmPlan, plan};
pub use report::{
    CheckReport, DiskReport, Fallback, FsReport, MountState, PartitionReport, Report,
    SCHEMA_VERSION, VmReport,
};
pub use run::{Options, Progress, run};

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What stops a drill as a whole (a single VM's failure is in its [`VmReport`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path given does not exist.
    #[error("{}: no such file or directory", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A backup directory could not be listed.
    #[error("cannot scan {}: {reason}", path.display())]
    Scan {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The scratch directory could not be made or removed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
