//! `pverescue mount`: mount one partition or linear LV of a disk image through its own loop
//! device (offset + size limit), read-only unless `--rw` is confirmed, and leave it mounted.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use loopmount::{Access, MountSpec};
use partitions::{MountTarget, SelectError};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, MountArgs};
use crate::image::{print_warnings, pverescue_command, scan};
use crate::output;
use crate::output::print_failure;

/// What a user types to confirm `--rw` on a terminal.
pub const CONFIRMATION: &str = "yes, modify the image";

/// The JSON form of a completed mount.
#[derive(Debug, Serialize)]
struct Mounted {
    image: String,
    target: String,
    offset: u64,
    size: u64,
    fstype: String,
    read_only: bool,
    device: String,
    mountpoint: String,
    umount_command: String,
    warnings: Vec<String>,
}

fn what(t: &MountTarget) -> String {
    match t.id.as_str() {
        "disk" => "the whole disk".into(),
        id if id.contains('/') => format!("LV {id}"),
        id => format!("partition {id}"),
    }
}

/// Lists the choices with the command for each, on stderr.
fn print_choices(image: &Path, mountpoint: &Path, choices: &[MountTarget]) {
    let mp = mountpoint.to_string_lossy();
    let rows: Vec<Vec<String>> = choices
        .iter()
        .map(|t| {
            vec![
                format!("  {}", pverescue_command(image, &mp, t)),
                format!(
                    "# {} {}{}, {} bytes at byte {}",
                    what(t),
                    t.fstype,
                    t.label
                        .as_ref()
                        .map(|l| format!(" label={}", loopmount::shell_quote(l)))
                        .unwrap_or_default(),
                    t.size,
                    t.offset
                ),
            ]
        })
        .collect();
    eprint!("{}", crate::cmd::partitions::table(&rows));
}

/// Asks for the confirmation words on a terminal; `Err` says why `--rw` is refused.
fn confirm_rw(a: &MountArgs) -> Result<()> {
    if a.yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow!(
            "--rw modifies the image (journal replay, timestamps, any write) and standard input \
             is not a terminal to confirm it: add --yes"
        ));
    }
    eprint!(
        "--rw mounts {} read-write: this modifies the image.\nType \"{CONFIRMATION}\" to \
         continue: ",
        a.image.display()
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    if line.trim() == CONFIRMATION {
        Ok(())
    } else {
        Err(anyhow!("not confirmed: nothing was mounted"))
    }
}

/// Runs `pverescue mount`.
pub fn run(g: &Global, a: &MountArgs) -> Result<Outcome> {
    loopmount::install_signal_cleanup().context("cannot install the signal handler")?;
    let scan = scan(&a.image, None)?;
    print_warnings(&a.image, &scan);
    let selector = a.volume.selector();
    let image = a.image.display();
    let target = match scan.select(selector, a.fstype.is_some()) {
        Ok(t) => t,
        Err(SelectError::Ambiguous { choices }) => {
            eprintln!(
                "pverescue: {image}: it holds {} mountable filesystems: choose one",
                choices.len()
            );
            print_choices(&a.image, &a.mountpoint, &choices);
            return Ok(Outcome::Failed);
        }
        Err(e) => {
            let hint = e.hint();
            print_failure(&anyhow!(e).context(format!("{image}")), hint);
            return Ok(Outcome::Failed);
        }
    };
    if a.rw
        && let Err(e) = confirm_rw(a)
    {
        print_failure(&e, None);
        return Ok(Outcome::Failed);
    }
    let fstype = a.fstype.as_deref().unwrap_or(target.fstype);
    let mut spec = MountSpec::read_only(target.offset, target.size, fstype);
    if a.rw {
        spec.access = Access::ReadWrite;
    }
    let mount = match loopmount::mount_image(&a.image, &spec, &a.mountpoint) {
        Ok(m) => m,
        Err(e) => {
            let route = match &e {
                loopmount::Error::FsNotInKernel { fstype } => loopmount::userspace_route(
                    fstype,
                    &a.image,
                    spec.offset,
                    spec.size,
                    &a.mountpoint,
                ),
                _ => None,
            };
            let hint = route.or_else(|| e.hint());
            let err = anyhow!(e).context(format!("{image}: cannot mount {}", what(&target)));
            print_failure(&err, hint);
            return Ok(Outcome::Failed);
        }
    };
    let (mountpoint, device) = mount.keep();
    let mp = loopmount::shell_quote(&mountpoint.to_string_lossy());
    let umount_command = format!("pverescue umount {mp}");
    if g.json {
        output::print_json(&Mounted {
            image: a.image.to_string_lossy().into_owned(),
            target: target.id.clone(),
            offset: spec.offset,
            size: spec.size,
            fstype: spec.fstype.clone(),
            read_only: !a.rw,
            device: device.to_string_lossy().into_owned(),
            mountpoint: mountpoint.to_string_lossy().into_owned(),
            umount_command,
            warnings: scan.warnings.clone(),
        })?;
    } else if !g.quiet {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "mounted {} ({}, bytes {}..{}) of {image} {} on {} via {}",
            what(&target),
            spec.fstype,
            spec.offset,
            spec.offset.saturating_add(spec.size),
            if a.rw { "READ-WRITE" } else { "read-only" },
            mountpoint.display(),
            device.display()
        )?;
        writeln!(out, "unmount with: {umount_command}")?;
    }
    Ok(if scan.warnings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}
