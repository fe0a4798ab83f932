//! `pverescue manpage`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{Global, ManpageArgs};

/// Runs `pverescue manpage`.
pub fn run(_g: &Global, _a: &ManpageArgs) -> Result<Outcome> {
    bail!("pverescue manpage is not available yet")
}
