//! Disk images as the image commands (`partitions`, `mount`) see them: opened and scanned with
//! the file named in errors, scan warnings, and the `pverescue mount` line for a target.

use std::path::Path;

use anyhow::{Context, Result};
use partitions::{MountTarget, Scan, ScanOptions};

/// Scans `image` (a file or block device), naming the file in errors.
pub fn scan(image: &Path, sector_size: Option<u32>) -> Result<Scan> {
    let mut f =
        std::fs::File::open(image).with_context(|| format!("{}: cannot open", image.display()))?;
    let opts = sector_size.map_or_else(ScanOptions::default, |s| {
        ScanOptions::with_sector_size(u64::from(s))
    });
    partitions::scan_with(&mut f, &opts)
        .with_context(|| format!("{}: cannot read the partition table", image.display()))
}

/// Prints each scan warning on stderr.
pub fn print_warnings(image: &Path, scan: &Scan) {
    for w in &scan.warnings {
        eprintln!("pverescue: warning: {}: {w}", image.display());
    }
}

/// The `pverescue mount` selector flag for a target id: `-p N`, `--lv VG/LV`, or nothing.
pub fn selector_flag(id: &str) -> String {
    if id == "disk" {
        String::new()
    } else if id.contains('/') {
        format!(" --lv {}", loopmount::shell_quote(id))
    } else {
        format!(" -p {id}")
    }
}

/// `pverescue mount IMAGE MOUNTPOINT [-p N | --lv VG/LV]` for a target.
pub fn pverescue_command(image: &Path, mountpoint: &str, t: &MountTarget) -> String {
    format!(
        "pverescue mount {} {}{}",
        loopmount::shell_quote(&image.to_string_lossy()),
        loopmount::shell_quote(mountpoint),
        selector_flag(&t.id)
    )
}
