//! The drill report: plain serde types, documented field by field (`docs/drill.md` is the schema).

use std::path::PathBuf;

use serde::Serialize;

/// Version of the JSON schema in `docs/drill.md`.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole drill.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// True when every VM passed.
    pub passed: bool,
    /// Whether disks were written to scratch (false with `--no-write`).
    pub wrote: bool,
    /// One entry per VM, in VMID order.
    pub vms: Vec<VmReport>,
}

/// One VM's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VmReport {
    /// The VMID.
    pub vmid: String,
    /// True when the point verified, restored, re-read identically, every kernel-mountable
    /// filesystem mounted and every check that ran passed.
    pub passed: bool,
    /// Why it failed (absent when it passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The archives used: the full, then the differential if any.
    pub archives: Vec<PathBuf>,
    /// Time of the point, as in the file name.
    pub time: Option<String>,
    /// Compressed bytes read from the file opened (the differential's, for a differential).
    pub bytes_read: u64,
    /// Bytes of the (reconstructed) VMA archive read.
    pub archive_bytes: u64,
    /// Bytes written to scratch: stored (non-zero) blocks of the restored disks.
    pub bytes_written: u64,
    /// Sum of the disk sizes.
    pub disk_bytes: u64,
    /// Seconds for the whole VM (restore, re-read, mounts, checks).
    pub seconds: f64,
    /// Seconds of the streaming restore alone (read, decompress, write).
    pub restore_seconds: f64,
    /// Disk bytes per second of the streaming restore: `disk_bytes / restore_seconds`.
    pub throughput: f64,
    /// Measured time of the streaming restore of the whole disk set (`restore_seconds`); not a
    /// prediction for other storage (see `docs/drill.md`).
    pub rto_seconds: Option<f64>,
    /// The disks.
    pub disks: Vec<DiskReport>,
    /// Each check's result.
    pub checks: Vec<CheckReport>,
    /// Things to read that did not fail the VM (newer orphan differentials, warnings).
    pub notes: Vec<String>,
    /// When the chosen (newest) point failed and an older restorable point exists: how the next
    /// older point fared. The VM still fails (its newest backup is damaged); this says what a
    /// restore could fall back to.
    pub fallback: Option<Fallback>,
}

/// The drill of the next older point after the newest one failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fallback {
    /// The archives of that point.
    pub archives: Vec<PathBuf>,
    /// Its time, as in the file name.
    pub time: String,
    /// True when it verified, restored, re-read identically and passed its checks.
    pub passed: bool,
    /// Why it failed (absent when it passed).
    pub reason: Option<String>,
}

/// One restored disk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskReport {
    /// Device name (`drive-scsi0`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Bytes of stored (non-zero) blocks.
    pub stored_bytes: u64,
    /// Order-independent digest computed while writing (hex), when written.
    pub digest: Option<String>,
    /// Whether re-reading the restored image gave the same digest (`null` when not written).
    pub verified: Option<bool>,
    /// Partition table: `gpt`, `mbr`, `none` (`null` when not written or unreadable).
    pub table: Option<String>,
    /// The partitions.
    pub partitions: Vec<PartitionReport>,
    /// Filesystems that mount(2) could read.
    pub filesystems: Vec<FsReport>,
}

/// One partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// Number as Linux gives it.
    pub number: u32,
    /// Byte offset.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Type name (`Linux filesystem`, `EFI System`…).
    pub type_name: String,
}

/// One filesystem and what happened when mounting it.
#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    /// `1` for partition 1, `vg/lv` for an LVM volume, `disk` for a whole-disk filesystem.
    pub id: String,
    /// Filesystem type (`ext4`…).
    pub fstype: String,
    /// Byte offset in the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Volume label.
    pub label: Option<String>,
    /// `mounted`, `skipped` or `failed`.
    pub mount: MountState,
    /// Why it was skipped or failed.
    pub detail: Option<String>,
}

/// What happened to a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    /// Mounted read-only (and unmounted again).
    Mounted,
    /// Not tried: not root, `--no-mount`, `--no-write`, or a filesystem the kernel lacks.
    Skipped,
    /// Mounting failed: the VM fails.
    Failed,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `file` (`--check-file`) or `cmd` (`--check-cmd`).
    pub kind: String,
    /// The path or command as given.
    pub check: String,
    /// `true`/`false`, or `null` when it could not run (no filesystem mounted).
    pub passed: Option<bool>,
    /// Where the file was found, the command's exit status and mount point, or why it was skipped.
    pub detail: String,
}
