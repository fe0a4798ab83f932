//! `pverescue partitions`: the partitions, LVM volumes and filesystems of a disk image, with byte
//! offsets and, for everything mountable, the `pverescue mount` and `mount(8)` command lines.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use partitions::{MountTarget, Scan, ScanOptions};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, PartitionsArgs};
use crate::output;

mod render;

pub use render::table;

/// The mount point shown in suggested command lines.
pub const EXAMPLE_MOUNTPOINT: &str = "/mnt";

/// The JSON form: the scan plus the mount targets with their command lines.
#[derive(Debug, Serialize)]
struct Report<'a> {
    image: String,
    #[serde(flatten)]
    scan: &'a Scan,
    mount_targets: Vec<Target>,
}

/// One mount target with the commands that mount it.
#[derive(Debug, Serialize)]
pub(crate) struct Target {
    #[serde(flatten)]
    pub(crate) target: MountTarget,
    pub(crate) pverescue_command: String,
    pub(crate) mount_command: String,
}

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

/// Prints `pverescue: <error>` and a hint, for errors whose hint the command computes.
pub fn print_failure(err: &anyhow::Error, hint: Option<String>) {
    eprintln!("pverescue: {}", output::error_line(err));
    if let Some(h) = hint {
        eprintln!("hint: {h}");
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

/// Runs `pverescue partitions`.
pub fn run(g: &Global, a: &PartitionsArgs) -> Result<Outcome> {
    let scan = scan(&a.image, a.sector_size)?;
    let targets: Vec<Target> = scan
        .mount_targets()
        .into_iter()
        .map(|t| {
            let spec = loopmount::MountSpec::read_only(t.offset, t.size, t.fstype);
            Target {
                pverescue_command: pverescue_command(&a.image, EXAMPLE_MOUNTPOINT, &t),
                mount_command: spec.mount_command(&a.image, Path::new(EXAMPLE_MOUNTPOINT)),
                target: t,
            }
        })
        .collect();
    if g.json {
        output::print_json(&Report {
            image: a.image.to_string_lossy().into_owned(),
            scan: &scan,
            mount_targets: targets,
        })?;
    } else {
        std::io::stdout()
            .lock()
            .write_all(render::human(&scan, &a.image, &targets).as_bytes())?;
    }
    print_warnings(&a.image, &scan);
    Ok(if scan.warnings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}
