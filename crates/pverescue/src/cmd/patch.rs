//! `pverescue patch`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, PatchArgs};

/// Runs `pverescue patch`.
pub fn run(_g: &Global, _a: &PatchArgs) -> Result<Outcome> {
    bail!("pverescue patch is not available yet")
}
