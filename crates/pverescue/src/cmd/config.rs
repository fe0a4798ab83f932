//! `pverescue config`: print one stored config file.

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{ConfigArgs, Global};
use crate::output;
use crate::source::Input;

/// The JSON form: the config's bytes as text when they are UTF-8 (they normally are), as hex
/// otherwise, so the exact bytes are always recoverable.
#[derive(Debug, Serialize)]
struct Json<'a> {
    file: &'a str,
    name: &'a str,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
}

/// Runs `pverescue config`. Reading stops after the header: the configs are all in it.
pub fn run(g: &Global, a: &ConfigArgs) -> Result<Outcome> {
    if let Some((store, at)) = crate::source::pbs(&a.archive) {
        return super::pbs::config(g, a, &store, &at);
    }
    let mut source = Input::open(&a.archive, &a.diff)?;
    let name = source.name().to_owned();
    let reader = source.vma()?;
    let header = reader.header();
    let Some(config) = header.configs.iter().find(|c| c.name == a.name) else {
        let names: Vec<String> = header
            .configs
            .iter()
            .map(|c| output::name(&c.name).into_owned())
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
    if g.json {
        let text = std::str::from_utf8(&config.data).ok();
        output::print_json(&Json {
            file: &name,
            name: &config.name,
            size: config.data.len(),
            text,
            hex: text
                .is_none()
                .then(|| config.data.iter().map(|b| format!("{b:02x}")).collect()),
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(&config.data)?;
        out.flush()?;
    }
    Ok(source.print_warnings())
}
