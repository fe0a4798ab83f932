//! `pverescue mount`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, MountArgs};

/// Runs `pverescue mount`.
pub fn run(_g: &Global, _a: &MountArgs) -> Result<Outcome> {
    bail!("pverescue mount is not available yet")
}
