//! `pverescue umount`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, UmountArgs};

/// Runs `pverescue umount`.
pub fn run(_g: &Global, _a: &UmountArgs) -> Result<Outcome> {
    bail!("pverescue umount is not available yet")
}
