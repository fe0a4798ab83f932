//! `pverescue partitions`: the partitions, LVM volumes and filesystems of a disk image, with byte
//! offsets and, for everything mountable, the `pverescue mount` and `mount(8)` command lines.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use partitions::{MountTarget, Scan};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, PartitionsArgs};
use crate::image::{print_warnings, pverescue_command, scan};
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
