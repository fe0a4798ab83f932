//! `pverescue merge`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, MergeArgs};

/// Runs `pverescue merge`.
pub fn run(_g: &Global, _a: &MergeArgs) -> Result<Outcome> {
    bail!("pverescue merge is not available yet")
}
