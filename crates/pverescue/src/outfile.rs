//! Writing a new output file without ever replacing an existing one: the `sink` crate's rule
//! (temporary name created with `O_EXCL|O_NOFOLLOW`, published by a rename that never replaces,
//! removed on failure and on SIGINT/SIGTERM), with the command's own messages.

use std::fs::File;
use std::path::Path;

use anyhow::{Result, bail};

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

/// Creates `out` through a temporary file next to it (see the module documentation); warns about
/// temporary files that an interrupted earlier run left for the same name.
pub fn create_new<T>(
    out: &Path,
    command: &str,
    write: impl FnOnce(&mut File, &Path) -> Result<T>,
) -> Result<T> {
    refuse_existing(out, command)?;
    cleanup::install()?;
    if let Ok((dir, name)) = sink::OutDir::parent_of(out) {
        for left in sink::publish::leftovers(&dir, Some(&name)) {
            eprintln!(
                "pverescue: warning: {} was left by an interrupted run of pverescue; \
                 remove it with: rm {}",
                left.display(),
                left.display()
            );
        }
    }
    sink::create_new(out, write)
}
