//! `pverescue list`: configs and disks of an archive, in `vma list` form or as JSON.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, ListArgs};
use crate::output;
use crate::source::Input;

/// The JSON form of an archive's header.
#[derive(Debug, Serialize)]
pub struct Listing {
    /// The input as named on the command line.
    pub file: String,
    /// The compression found by sniffing the content.
    pub compression: String,
    /// For a differential, the full it was applied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The archive uuid.
    pub uuid: String,
    /// Creation time, seconds since the epoch.
    pub ctime: i64,
    /// Creation time, RFC 3339 UTC.
    pub ctime_utc: String,
    /// Stored configs in slot order.
    pub configs: Vec<ConfigEntry>,
    /// Devices in dev_id order.
    pub devices: Vec<DeviceEntry>,
}

/// One config of a [`Listing`].
#[derive(Debug, Serialize)]
pub struct ConfigEntry {
    /// File name of the config.
    pub name: String,
    /// Size in bytes.
    pub size: usize,
}

/// One device of a [`Listing`].
#[derive(Debug, Serialize)]
pub struct DeviceEntry {
    /// VMA device id.
    pub dev_id: u8,
    /// Device name, e.g. `drive-scsi0`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// True for saved VM memory rather than a disk.
    pub vmstate: bool,
}

impl Listing {
    /// Builds the listing of a header read from `file`.
    pub fn new(file: &str, compression: unpack::Format, h: &vma::Header) -> Self {
        Self {
            file: file.to_owned(),
            compression: compression.to_string(),
            base: None,
            uuid: output::uuid(&h.uuid),
            ctime: h.ctime,
            ctime_utc: output::rfc3339(h.ctime),
            configs: h
                .configs
                .iter()
                .map(|c| ConfigEntry {
                    name: c.name.clone(),
                    size: c.data.len(),
                })
                .collect(),
            devices: h
                .devices
                .iter()
                .map(|d| DeviceEntry {
                    dev_id: d.id,
                    name: d.name.clone(),
                    size: d.size,
                    vmstate: d.is_vmstate(),
                })
                .collect(),
        }
    }
}

/// Writes the `vma list` compatible lines for a header. Names are escaped ([`output::name`]), so
/// each line stays one line and each name one `\S+` token, as qmrestore parses them.
pub fn write_plain(out: &mut impl Write, h: &vma::Header) -> std::io::Result<()> {
    for c in &h.configs {
        writeln!(
            out,
            "CFG: size: {} name: {}",
            c.data.len(),
            output::name(&c.name)
        )?;
    }
    for d in &h.devices {
        if d.is_vmstate() {
            writeln!(out, "VMSTATE: dev_id={} memory: {}", d.id, d.size)?;
        } else {
            writeln!(
                out,
                "DEV: dev_id={} size: {} devname: {}",
                d.id,
                d.size,
                output::name(&d.name)
            )?;
        }
    }
    writeln!(out, "CTIME: {}", output::ctime(h.ctime))
}

/// Runs `pverescue list`.
pub fn run(g: &Global, a: &ListArgs) -> Result<Outcome> {
    if let Some((store, at)) = crate::source::pbs(&a.archive) {
        return super::pbs::list(g, &store, &at);
    }
    if let Some(dir) = crate::source::virtnbd(&a.archive) {
        return super::virtnbd::list(g, dir);
    }
    let mut source = Input::open(&a.archive, &a.diff)?;
    let format = source.archive.compression();
    let name = source.name().to_owned();
    let base = source.archive.diff().map(|d| d.base.display().to_string());
    let reader = source.vma()?;
    if g.json {
        let mut listing = Listing::new(&name, format, reader.header());
        listing.base = base;
        output::print_json(&listing)?;
    } else {
        write_plain(&mut std::io::stdout().lock(), reader.header())?;
    }
    Ok(source.print_warnings())
}
