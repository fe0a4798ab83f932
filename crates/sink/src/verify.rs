//! `--verify`: re-read a written disk and compare it with the digest made while writing it.

use std::fs::File;
use std::path::Path;

use crate::digest::DiskDigest;
use crate::error::{Error, Result, file_err};
use crate::write::{TargetKind, WrittenDisk};

/// Drops what the kernel caches of a block device, so that a re-read reads the device (the
/// caller's `BLKFLSBUF`).
pub type FlushBuffers = fn(&File) -> std::io::Result<()>;

/// The environment variable naming a shell command run, with the written path as `$1`, after a
/// disk is written and before it is re-read: the test suite's way to damage a target between the
/// two and prove that verification catches it. Never set it outside tests.
pub const BEFORE_VERIFY_HOOK: &str = "PVERESCUE_TEST_BEFORE_VERIFY";

/// Re-reads `disk` from its target and compares it with the digest computed while writing.
/// Returns `Ok(false)` when there is no digest to compare with (nothing was checked).
pub fn verify(disk: &WrittenDisk, flush: Option<FlushBuffers>) -> Result<bool> {
    let Some(want) = disk.digest else {
        return Ok(false);
    };
    run_test_hook(&disk.path);
    let got = reread(&disk.path, disk.size, disk.kind, flush)?;
    if got != want {
        return Err(Error::VerifyMismatch {
            disk: disk.name.clone(),
            path: disk.path.clone(),
            expected: want.to_string(),
            found: got.to_string(),
        });
    }
    Ok(true)
}

/// The digest of the first `size` bytes at `path`, read from the device itself for a device.
pub fn reread(
    path: &Path,
    size: u64,
    kind: TargetKind,
    flush: Option<FlushBuffers>,
) -> Result<DiskDigest> {
    let f = File::open(path).map_err(file_err("re-read", path))?;
    if kind == TargetKind::Device
        && let Some(flush) = flush
    {
        // Read what is on the device, not what is still cached in memory.
        flush(&f).map_err(file_err("flush the buffers of", path))?;
    }
    DiskDigest::of_reader(std::io::BufReader::with_capacity(1 << 20, f), size)
        .map_err(file_err("re-read", path))
}

/// Runs the [`BEFORE_VERIFY_HOOK`] command when it is set.
fn run_test_hook(path: &Path) {
    if let Some(cmd) = std::env::var_os(BEFORE_VERIFY_HOOK) {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .arg("sh")
            .arg(path)
            .status();
    }
}
