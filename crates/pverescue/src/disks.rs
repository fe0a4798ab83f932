//! The disks of a source as random-access views (the round-2 disk view), named as the user
//! knows them: what `serve` exports (and what `ls`/`cp` read). One place resolves a path into
//! views, after [`crate::source`] has said what the path is.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cli::Global;
use crate::cli::PbsKeys;

/// A disk view shared by threads.
pub type View = Arc<dyn diskview::ReadAt + Send + Sync>;

/// One disk of a source.
pub struct Disk {
    /// The name clients and `--map` use (`drive-scsi0`).
    pub name: String,
    /// Where it comes from, for people (`vm/100/2026-…/drive-scsi0.img.fidx`).
    pub description: String,
    /// Identity of the disk, for overlays: source path and name.
    pub identity: String,
    /// The disk.
    pub view: View,
}

/// What a source holds for random access: its disks and its small config files.
pub struct Opened {
    /// The disks.
    pub disks: Vec<Disk>,
    /// Config files (`qemu-server.conf`), name and bytes.
    pub configs: Vec<(String, Vec<u8>)>,
    /// When the backup was taken (seconds since the epoch), where the source says.
    pub time: Option<i64>,
}

/// The disks of `path`, restricted to the archives named in `select` (empty: all).
pub fn open(g: &Global, path: &Path, select: &[String], keys: &PbsKeys) -> Result<Vec<Disk>> {
    Ok(open_all(g, path, select, keys)?.disks)
}

/// The disks and configs of `path`; `select` restricts the disks.
pub fn open_all(g: &Global, path: &Path, select: &[String], keys: &PbsKeys) -> Result<Opened> {
    let canonical =
        std::fs::canonicalize(path).with_context(|| format!("{}: cannot open", path.display()))?;
    if let Some((store, at)) = crate::source::pbs(path) {
        return pbs_disks(g, path, &canonical, select, keys, &store, &at);
    }
    let found = crate::source::detect(path)?;
    match found.kind {
        backupset::Kind::RawImage => {
            let view = diskview::FileView::open(path)
                .with_context(|| format!("{}: cannot open", path.display()))?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "disk".into());
            if !select.is_empty() && !select.contains(&name) {
                bail!(
                    "{}: a raw image is one disk, named '{name}'",
                    path.display()
                );
            }
            Ok(Opened {
                disks: vec![Disk {
                    description: format!("raw image {}", path.display()),
                    identity: format!("{}#{name}", canonical.display()),
                    name,
                    view: Arc::new(view),
                }],
                configs: Vec::new(),
                time: None,
            })
        }
        other => bail!(
            "{}: {} sources cannot be read at random yet; restore it with `pverescue extract` \
             and use the raw image",
            path.display(),
            other.name()
        ),
    }
}

fn pbs_disks(
    g: &Global,
    path: &Path,
    canonical: &Path,
    select: &[String],
    keys: &PbsKeys,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<Opened> {
    let snapshot = crate::cmd::pbs::one_snapshot(g, path, store, at)?;
    let keys = crate::cmd::pbs::keyring(keys)?;
    let reader = pbs::SnapshotReader::open(store, &snapshot, &keys)?;
    let images: Vec<String> = reader
        .manifest()
        .files
        .iter()
        .map(|f| f.filename.clone())
        .filter(|f| f.ends_with(".img.fidx"))
        .collect();
    let short = |f: &str| f.strip_suffix(".img.fidx").unwrap_or(f).to_owned();
    for want in select {
        if !images.iter().any(|f| f == want || short(f) == *want) {
            bail!(
                "{}: no disk image named '{want}' in the snapshot (it has: {})",
                snapshot.name(),
                images.join(", ")
            );
        }
    }
    let mut disks = Vec::new();
    for f in images {
        let name = short(&f);
        if !select.is_empty() && !select.iter().any(|w| *w == f || *w == name) {
            continue;
        }
        let image = reader.fixed_image(&f)?;
        disks.push(Disk {
            description: format!("{}/{f}", snapshot.name()),
            identity: format!("{}#{}/{f}", canonical.display(), snapshot.name()),
            name,
            view: Arc::new(image),
        });
    }
    if disks.is_empty() {
        bail!("{}: the snapshot has no disk image", snapshot.name());
    }
    let mut configs = Vec::new();
    for f in reader.manifest().files.iter().map(|f| f.filename.as_str()) {
        if let Some(name) = f.strip_suffix(".blob") {
            configs.push((name.to_owned(), reader.blob(f)?));
        }
    }
    Ok(Opened {
        disks,
        configs,
        time: Some(snapshot.epoch),
    })
}
