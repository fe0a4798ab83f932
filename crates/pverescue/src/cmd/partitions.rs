//! `pverescue partitions`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, PartitionsArgs};

/// Runs `pverescue partitions`.
pub fn run(_g: &Global, _a: &PartitionsArgs) -> Result<Outcome> {
    bail!("pverescue partitions is not available yet")
}
