//! `pverescue umount`: unmount what `pverescue mount` mounted and release its loop device.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, UmountArgs};
use crate::output;
use crate::output::print_failure;

/// How the source of a `pverescue fuse` mount starts in the mount table (`pverescue:PATH`).
pub const FUSE_SOURCE_PREFIX: &str = "pverescue:";

/// The JSON form of a completed unmount.
#[derive(Debug, Serialize)]
struct Unmounted {
    mountpoint: String,
    device: Option<String>,
    detached: bool,
}

/// Runs `pverescue umount`.
pub fn run(g: &Global, a: &UmountArgs) -> Result<Outcome> {
    let mp = std::fs::canonicalize(&a.mountpoint)
        .with_context(|| format!("{}: cannot find the mount point", a.mountpoint.display()))?;
    let mounts = loopmount::mounts().context("cannot read the mount table")?;
    let Some(entry) = mounts.iter().rev().find(|m| m.mountpoint == mp) else {
        return Err(anyhow!("{}: nothing is mounted there", mp.display()));
    };
    let is_loop = entry
        .source
        .strip_prefix("/dev/loop")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    // `pverescue fuse` mounts are ours too; unmounting one ends that command.
    let is_ours = is_loop
        || (entry.fstype.starts_with("fuse") && entry.source.starts_with(FUSE_SOURCE_PREFIX));
    if !is_ours {
        print_failure(
            &anyhow!(
                "{}: {} is mounted there, not a loop device: pverescue umount only releases what \
                 pverescue mount made",
                mp.display(),
                entry.source
            ),
            Some(format!(
                "use umount {}",
                loopmount::shell_quote(&mp.to_string_lossy())
            )),
        );
        return Ok(Outcome::Failed);
    }
    let u = match loopmount::unmount(&mp) {
        Ok(u) => u,
        Err(e) => {
            let hint = e.hint();
            print_failure(&anyhow!(e).context(format!("{}", mp.display())), hint);
            return Ok(Outcome::Failed);
        }
    };
    let device = u.device.as_ref().map(|d| d.to_string_lossy().into_owned());
    if g.json {
        output::print_json(&Unmounted {
            mountpoint: u.mountpoint.to_string_lossy().into_owned(),
            device: device.clone(),
            detached: u.detached,
        })?;
    } else if !g.quiet {
        let mut out = std::io::stdout().lock();
        match (&device, u.detached) {
            (Some(d), true) => writeln!(out, "unmounted {}, released {d}", mp.display())?,
            _ => writeln!(out, "unmounted {}", mp.display())?,
        }
    }
    if let (Some(d), false) = (&device, u.detached) {
        eprintln!(
            "pverescue: warning: {d} is still attached (another mount or process uses it); \
             `losetup -d {d}` releases it once unused"
        );
        return Ok(Outcome::Warnings);
    }
    Ok(Outcome::Success)
}
