//! `pverescue completions`: SCAFFOLD, being implemented (replace this file).

use anyhow::{Result, bail};

use crate::Outcome;
use crate::cli::{CompletionsArgs, Global};

/// Runs `pverescue completions`.
pub fn run(_g: &Global, _a: &CompletionsArgs) -> Result<Outcome> {
    bail!("pverescue completions is not available yet")
}
