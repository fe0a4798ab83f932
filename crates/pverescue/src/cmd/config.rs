//! `pverescue config`: print one stored config file.

use std::io::Write;

use anyhow::{Result, bail};

use crate::Outcome;
use crate::archive::Source;
use crate::cli::{ConfigArgs, Global};

/// Runs `pverescue config`. Reading stops after the header: the configs are all in it.
pub fn run(_g: &Global, a: &ConfigArgs) -> Result<Outcome> {
    let mut source = Source::open(&a.archive, &a.diff)?;
    let name = source.name().to_owned();
    let reader = source.vma()?;
    let header = reader.header();
    let Some(config) = header.configs.iter().find(|c| c.name == a.name) else {
        let names: Vec<String> = header
            .configs
            .iter()
            .map(|c| crate::output::name(&c.name).into_owned())
            .collect();
        let have = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        bail!(
            "{name}: no config named '{}' in the archive (it has: {have})",
            a.name
        );
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&config.data)?;
    out.flush()?;
    Ok(source.print_warnings())
}
