//! Writing a new output file without ever replacing an existing one.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Fails when `out` exists: outputs are never overwritten.
pub fn refuse_existing(out: &Path, command: &str) -> Result<()> {
    if out.symlink_metadata().is_ok() {
        bail!(
            "{}: already exists; pverescue {command} never overwrites a file",
            out.display()
        );
    }
    Ok(())
}

/// Creates `out` through a temporary file next to it: `write` fills the temporary file
/// (created exclusively), which is then synced and hard-linked to `out`. A hard link fails when
/// the name exists, so a file created meanwhile is never replaced. The temporary name is
/// removed in every case, so on failure nothing is left behind.
pub fn create_new<T>(
    out: &Path,
    command: &str,
    write: impl FnOnce(File, &Path) -> Result<T>,
) -> Result<T> {
    refuse_existing(out, command)?;
    let tmp = temp_name(out)?;
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("{}: cannot create", tmp.display()))?;
    let result = write(file, &tmp).and_then(|value| {
        // Make the file durable before it gets its final name.
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("{}: fsync failed", tmp.display()))?;
        fs::hard_link(&tmp, out).with_context(|| format!("{}: cannot create", out.display()))?;
        Ok(value)
    });
    let _ = fs::remove_file(&tmp);
    result
}

/// `.<name>.partial-<pid>` in the directory of `out`.
fn temp_name(out: &Path) -> Result<PathBuf> {
    let file = out
        .file_name()
        .with_context(|| format!("{}: not a file name", out.display()))?;
    let tmp = format!(".{}.partial-{}", file.to_string_lossy(), std::process::id());
    Ok(out.with_file_name(tmp))
}
