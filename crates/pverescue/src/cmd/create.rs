//! `pverescue create`: make a VMA archive from raw images and config files.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{CreateArgs, Global};
use crate::progress::Bar;
use crate::{outfile, output};

#[derive(Debug, Serialize)]
struct Json {
    file: String,
    compression: String,
    uuid: String,
    ctime: i64,
    configs: Vec<String>,
    disks: Vec<JsonDisk>,
}

#[derive(Debug, Serialize)]
struct JsonDisk {
    name: String,
    image: String,
    size: u64,
}

/// A disk to archive: its device name, the image it comes from and its size.
struct DiskSpec {
    name: String,
    image: PathBuf,
    size: u64,
}

/// Runs `pverescue create`.
pub fn run(g: &Global, a: &CreateArgs) -> Result<Outcome> {
    if a.configs.is_empty() && a.disks.is_empty() {
        bail!("nothing to archive: give at least one -c CONFIG or -d [NAME=]IMAGE");
    }
    let out = &a.output;
    outfile::refuse_existing(out, "create")?;
    let disks = a
        .disks
        .iter()
        .enumerate()
        .map(|(i, spec)| disk_spec(i, spec))
        .collect::<Result<Vec<_>>>()?;
    let mut configs = Vec::new();
    for path in &a.configs {
        let data =
            fs::read(path).with_context(|| format!("{}: cannot read config", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{}: a config file needs a file name", path.display()))?;
        configs.push(vma::Config { name, data });
    }
    let uuid = match &a.uuid {
        Some(text) => output::parse_uuid(text).with_context(|| {
            format!(
                "--uuid {text}: expected 32 hex digits like 6a1d2f64-3b7e-4c55-9b1e-0d2a7c9e1f01"
            )
        })?,
        None => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).map_err(|e| {
                anyhow::anyhow!("cannot get random bytes for the archive uuid: {e}")
            })?;
            bytes
        }
    };
    let ctime = match a.ctime {
        Some(t) => t,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    let archive = vma::NewArchive {
        uuid,
        ctime,
        configs,
        devices: disks.iter().map(|d| (d.name.clone(), d.size)).collect(),
    };
    let compression = unpack::Format::from_path(out);

    outfile::create_new(out, "create", |file, tmp| {
        write_archive(g, file, tmp, &archive, &disks, compression)
    })?;

    if g.json {
        output::print_json(&Json {
            file: out.display().to_string(),
            compression: compression.to_string(),
            uuid: output::uuid(&uuid),
            ctime,
            configs: archive.configs.iter().map(|c| c.name.clone()).collect(),
            disks: disks
                .iter()
                .map(|d| JsonDisk {
                    name: d.name.clone(),
                    image: d.image.display().to_string(),
                    size: d.size,
                })
                .collect(),
        })?;
    } else if !g.quiet {
        let size = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        println!("created {} ({})", out.display(), output::size(size));
        for c in &archive.configs {
            println!("  config {}", c.name);
        }
        for d in &disks {
            println!(
                "  disk   {} = {} ({})",
                d.name,
                d.image.display(),
                output::size(d.size)
            );
        }
    }
    Ok(Outcome::Success)
}

fn disk_spec(index: usize, spec: &str) -> Result<DiskSpec> {
    let (name, image) = match spec.split_once('=') {
        Some((name, image)) if !name.contains('/') => (name.to_owned(), PathBuf::from(image)),
        _ => (format!("drive-scsi{index}"), PathBuf::from(spec)),
    };
    let mut file = File::open(&image)
        .with_context(|| format!("{}: cannot open disk image", image.display()))?;
    // Seeking to the end works for regular files and block devices alike.
    let size = file
        .seek(SeekFrom::End(0))
        .with_context(|| format!("{}: cannot determine the size", image.display()))?;
    if size == 0 || size % 512 != 0 {
        bail!(
            "{}: size {size} is not a positive multiple of 512 bytes, which VMA requires \
             (pad it with `truncate -s %512 FILE` on a copy)",
            image.display()
        );
    }
    Ok(DiskSpec { name, image, size })
}

fn write_archive(
    g: &Global,
    file: &mut File,
    tmp: &Path,
    archive: &vma::NewArchive,
    disks: &[DiskSpec],
    compression: unpack::Format,
) -> Result<()> {
    let file = file
        .try_clone()
        .with_context(|| format!("{}: cannot reopen", tmp.display()))?;
    let sink = unpack::compressor(file, compression)?;
    let mut writer = vma::Writer::new(sink, archive)?;
    let total: u64 = disks.iter().map(|d| d.size).sum();
    let mut bar = Bar::new(g, "create").total(total);
    let mut before = 0u64;
    for (i, disk) in disks.iter().enumerate() {
        let dev_id =
            u8::try_from(i + 1).context("too many disks for one VMA archive (254 at most)")?;
        let mut image = File::open(&disk.image)
            .with_context(|| format!("{}: cannot open disk image", disk.image.display()))?;
        writer
            .write_disk(dev_id, &mut image, disk.size, &mut Offset(&mut bar, before))
            .with_context(|| format!("{}: cannot archive", disk.image.display()))?;
        before += disk.size;
    }
    let sink = writer.finish()?;
    sink.finish()
        .with_context(|| format!("{}: cannot finish the compressed stream", tmp.display()))?;
    Ok(())
}

/// Reports the bytes of one disk as a position in all the disks.
struct Offset<'a>(&'a mut Bar, u64);

impl sink::Progress for Offset<'_> {
    fn read(&mut self, done: u64) {
        self.0.position(self.1 + done);
    }
}
