//! The disks of a source as random-access views (the round-2 disk view), named as the user
//! knows them: what `serve` and `fuse` export and what `ls`/`cp`/`cat` read. The one place that
//! turns a path into views, after [`crate::source`] has said what the path is: a PBS snapshot or
//! group (fixed indexes, read at random), a raw image or block device, an uncompressed VMA
//! (indexed in one pass), a compressed VMA or a differential (staged once into sparse files under
//! `--scratch`, the space said first, removed on every path).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cli::{Global, SourceOptions};

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
    /// Staged copies, removed when this value goes.
    _scratch: Option<Scratch>,
}

/// Which disks to open, and what opening them may need.
pub struct Pick<'a> {
    /// Disks wanted by name (`drive-scsi0`, `scsi0`, `drive-scsi0.img.fidx`); empty: all.
    pub names: &'a [String],
    /// Exactly one disk is wanted: several candidates and no name is an error that lists
    /// them (before anything is staged). It names the option that picks (`-d`, `-a`).
    pub one: Option<&'a str>,
    /// Staging place, differential options, PBS keys, virtnbdbackup point.
    pub from: &'a SourceOptions,
}

/// Keeps `candidates` (name, file) that `pick` wants, in order; fails on a name that matches
/// none, or on several candidates when one is wanted without a name.
fn choose(
    what: &str,
    candidates: Vec<(String, String)>,
    pick: &Pick,
    matches: impl Fn(&str, &(String, String)) -> bool,
) -> Result<Vec<(String, String)>> {
    let listed = || {
        candidates
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for want in pick.names {
        if !candidates.iter().any(|c| matches(want, c)) {
            bail!("{what}: no disk named '{want}' (it has: {})", listed());
        }
    }
    if candidates.is_empty() {
        bail!("{what}: it holds no disk");
    }
    let chosen: Vec<(String, String)> = candidates
        .iter()
        .filter(|c| pick.names.is_empty() || pick.names.iter().any(|w| matches(w, c)))
        .cloned()
        .collect();
    if let Some(flag) = pick.one
        && chosen.len() > 1
    {
        bail!(
            "{what}: holds {} disk images: choose one with {flag} ({})",
            chosen.len(),
            listed()
        );
    }
    Ok(chosen)
}

/// The disks and configs of `path` that `pick` wants.
pub fn open_all(g: &Global, path: &Path, pick: &Pick) -> Result<Opened> {
    let canonical =
        std::fs::canonicalize(path).with_context(|| format!("{}: cannot open", path.display()))?;
    if let Some((store, at)) = crate::source::pbs(path) {
        if pick.from.until.is_some() {
            bail!(
                "--until picks a point of a virtnbdbackup directory; a PBS snapshot is one point"
            );
        }
        return pbs_disks(g, path, &canonical, pick, &store, &at);
    }
    if let Some(dir) = crate::source::virtnbd(path) {
        return virtnbd_disks(g, dir, &canonical, pick);
    }
    if pick.from.until.is_some() {
        bail!("--until picks a point of a virtnbdbackup directory");
    }
    let shown = path.display().to_string();
    let found = crate::source::detect(path)?;
    match found.kind {
        backupset::Kind::RawImage => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "disk".into());
            choose(&shown, vec![(name.clone(), shown.clone())], pick, |w, c| {
                *w == c.0
            })
            .with_context(|| format!("{shown}: a raw image is one disk, named '{name}'"))?;
            let view =
                diskview::FileView::open(path).with_context(|| format!("{shown}: cannot open"))?;
            Ok(Opened {
                disks: vec![Disk {
                    description: format!("raw image {shown}"),
                    identity: format!("{}#{name}", canonical.display()),
                    name,
                    view: Arc::new(view),
                }],
                configs: Vec::new(),
                time: None,
                _scratch: None,
            })
        }
        backupset::Kind::Vma | backupset::Kind::Vcdiff => {
            vma_disks(g, path, &canonical, &found, pick)
        }
        backupset::Kind::Tar => bail!(
            "{shown}: a container backup (tar): unpack it with tar, e.g. \
             `tar -xf {shown} ./etc/nginx` (decompress first if needed)"
        ),
        backupset::Kind::Directory => bail!(
            "{shown}: a directory that is neither a PBS snapshot nor a virtnbdbackup backup: \
             disks are read from disk images, VMA archives, PBS snapshots and virtnbdbackup \
             directories"
        ),
        backupset::Kind::Stream => {
            bail!("this command reads its source at random: give a file, not standard input")
        }
        other => bail!("{shown}: {} is no disk or backup of disks", other.name()),
    }
}

/// The disks of a virtnbdbackup directory at the point `--until` names (default: the newest
/// restorable one), each an overlay of the extents of the files that point needs (nothing
/// staged), and the domain XML saved with that point.
fn virtnbd_disks(g: &Global, dir: &Path, canonical: &Path, pick: &Pick) -> Result<Opened> {
    let shown = dir.display().to_string();
    let b = virtnbd::Backup::open(dir)
        .with_context(|| format!("{shown}: cannot read the virtnbdbackup directory"))?;
    let selected = b.select(pick.from.until.as_deref())?;
    let candidates: Vec<(String, String)> = selected
        .iter()
        .map(|s| (s.disk.name.clone(), s.disk.name.clone()))
        .collect();
    let chosen = choose(&shown, candidates, pick, |w, c| *w == c.0)?;
    let mut disks = Vec::new();
    let mut configs = Vec::new();
    for s in selected
        .iter()
        .filter(|s| chosen.iter().any(|c| c.0 == s.disk.name))
    {
        if let Some(note) = &s.note
            && !g.quiet
            && !g.json
        {
            eprintln!("pverescue: note: {}", crate::output::text(note));
        }
        let point = b.entries[s.point.file].name.clone();
        let view = virtnbd::DiskAt::new(b.files_of(s.point)?)?;
        disks.push(Disk {
            description: format!("{shown}, {} as of {point}", s.disk.name),
            identity: format!("{}#{}@{point}", canonical.display(), s.disk.name),
            name: s.disk.name.clone(),
            view: Arc::new(view),
        });
        if configs.is_empty()
            && let Some(name) = b.config_of(s.point)
        {
            let bytes = std::fs::read(dir.join(&name))
                .with_context(|| format!("cannot read {}", dir.join(&name).display()))?;
            configs.push(("vmconfig.xml".to_owned(), bytes));
        }
    }
    Ok(Opened {
        disks,
        configs,
        time: None,
        _scratch: None,
    })
}

/// Names a PBS disk image answers to: its file name, without `.img.fidx` or `.fidx`, and
/// without `drive-`.
fn pbs_matches(want: &str, file: &str) -> bool {
    let short = file.strip_suffix(".img.fidx");
    want == file
        || short == Some(want)
        || file.strip_suffix(".fidx") == Some(want)
        || short.and_then(|s| s.strip_prefix("drive-")) == Some(want)
}

fn pbs_disks(
    g: &Global,
    path: &Path,
    canonical: &Path,
    pick: &Pick,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<Opened> {
    let snapshot = crate::cmd::pbs::one_snapshot(g, path, store, at)?;
    let keys = crate::cmd::pbs::keyring(&pick.from.keys)?;
    let reader = pbs::SnapshotReader::open(store, &snapshot, &keys)?;
    let files: Vec<String> = reader
        .manifest()
        .files
        .iter()
        .map(|f| f.filename.clone())
        .collect();
    let trees = files
        .iter()
        .any(|f| f.ends_with(".pxar.didx") || f.ends_with(".mpxar.didx"));
    for want in pick.names {
        if files
            .iter()
            .any(|f| f.ends_with(".didx") && f.starts_with(want.as_str()))
        {
            bail!(
                "{}: {want} is a pxar archive (the files of a container), not a disk: browse it \
                 with `pverescue ls {} -a {want}` or restore it with `pverescue extract`",
                snapshot.name(),
                path.display()
            );
        }
    }
    let images: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.ends_with(".img.fidx"))
        .map(|f| (f.trim_end_matches(".img.fidx").to_owned(), f.clone()))
        .collect();
    if images.is_empty() && trees {
        bail!(
            "{}: a container backup (pxar) holds files, not disks: `pverescue ls {}` browses \
             them and `pverescue extract {} OUT` restores them",
            snapshot.name(),
            path.display(),
            path.display()
        );
    }
    let chosen = choose(&snapshot.name(), images, pick, |w, c| pbs_matches(w, &c.1))?;
    let mut disks = Vec::new();
    for (name, f) in chosen {
        let image = reader.fixed_image(&f)?;
        disks.push(Disk {
            description: format!("{}/{f}", snapshot.name()),
            identity: format!("{}#{}/{f}", canonical.display(), snapshot.name()),
            name,
            view: Arc::new(image),
        });
    }
    let mut configs = Vec::new();
    for f in &files {
        if let Some(name) = f.strip_suffix(".blob") {
            configs.push((name.to_owned(), reader.blob(f)?));
        }
    }
    Ok(Opened {
        disks,
        configs,
        time: Some(snapshot.epoch),
        _scratch: None,
    })
}

/// The disks of a VMA archive or differential: indexed in place when the archive is an
/// uncompressed full, otherwise staged.
fn vma_disks(
    g: &Global,
    path: &Path,
    canonical: &Path,
    detected: &backupset::Detected,
    pick: &Pick,
) -> Result<Opened> {
    let mut input = crate::source::Input::open(path, &pick.from.diff)?;
    let name = input.name().to_owned();
    let counter = input.archive.counter();
    let reader = input.vma()?;
    let header = reader.header().clone();
    let candidates: Vec<(String, String)> = header
        .devices
        .iter()
        .filter(|d| !d.is_vmstate())
        .map(|d| (d.name.clone(), d.name.clone()))
        .collect();
    let chosen = choose(&name, candidates, pick, |w, c| {
        header.drive(w).is_some_and(|d| d.name == c.0)
    })?;
    let configs: Vec<(String, Vec<u8>)> = header
        .configs
        .iter()
        .map(|c| (c.name.clone(), c.data.clone()))
        .collect();
    let identity = |drive: &str| format!("{}#{drive}", canonical.display());
    let time = Some(header.ctime);
    if detected.kind == backupset::Kind::Vma && detected.compression == unpack::Format::Plain {
        drop(input);
        let mut disks = Vec::new();
        for (drive, _) in chosen {
            let view = vma::view::DiskView::open(path, &drive)
                .with_context(|| format!("{name}: cannot index {drive}"))?;
            disks.push(Disk {
                description: format!("{name}, {drive}"),
                identity: identity(&drive),
                name: drive,
                view: Arc::new(view),
            });
        }
        return Ok(Opened {
            disks,
            configs,
            time,
            _scratch: None,
        });
    }
    // Compressed or a differential: one pass writes every chosen disk into scratch files.
    let size: u64 = chosen
        .iter()
        .filter_map(|(d, _)| header.drive(d).map(|d| d.size))
        .sum();
    let base = pick.from.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = Scratch::create(&base)?;
    let free = rustix::fs::statvfs(&scratch.dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX);
    if !g.quiet && !g.json {
        eprintln!(
            "pverescue: {name} cannot be read at random: staging {} into {} first \
             (sparse files: up to {}; {} free there)",
            chosen
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            base.display(),
            crate::output::size(size),
            crate::output::size(free)
        );
    }
    let targets: Vec<(String, vma::extract::Target)> = chosen
        .iter()
        .enumerate()
        .map(|(i, (d, _))| {
            (
                d.clone(),
                vma::extract::Target::File(scratch.dir.join(format!("disk{i}.raw"))),
            )
        })
        .collect();
    let opts = vma::extract::ExtractOptions {
        drives: Some(chosen.iter().map(|c| c.0.clone()).collect()),
        write_zeroes: false,
        force: false,
    };
    let outputs = vma::extract::Outputs {
        dir: None,
        targets,
        digest: false,
    };
    // Progress as for extract: archive bytes read, of the file size, with rate and ETA.
    let mut bar = crate::progress::Bar::new(g, &format!("staging {name}")).input(path, counter);
    vma::extract::extract(reader, &opts, outputs, &mut bar)
        .with_context(|| format!("{name}: cannot stage into {}", scratch.dir.display()))?;
    bar.finish();
    input.print_warnings();
    let mut disks = Vec::new();
    for (i, (drive, _)) in chosen.into_iter().enumerate() {
        let file = scratch.dir.join(format!("disk{i}.raw"));
        let view = diskview::FileView::open(&file)
            .with_context(|| format!("{}: cannot open the staged disk", file.display()))?;
        disks.push(Disk {
            description: format!("{name}, {drive} (staged)"),
            identity: identity(&drive),
            name: drive,
            view: Arc::new(view),
        });
    }
    Ok(Opened {
        disks,
        configs,
        time,
        _scratch: Some(scratch),
    })
}

/// A scratch directory of ours, removed (with what is in it) when dropped or on a signal.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create(base: &Path) -> Result<Scratch> {
        let dir = base.join(format!(".pverescue-stage-{}", std::process::id()));
        cleanup::install().context("cannot install the signal handler")?;
        {
            let dir = dir.clone();
            cleanup::on_signal(cleanup::Stage::Files, move |_| {
                let _ = std::fs::remove_dir_all(&dir);
            });
        }
        std::fs::create_dir(&dir)
            .with_context(|| format!("{}: cannot create the scratch directory", dir.display()))?;
        Ok(Scratch { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file tree to browse instead of a disk's filesystem: a pxar archive of a PBS snapshot (the
/// one `-a` names, or the only one of a snapshot without disk images), or a pxar file (a split
/// `.mpxar` with its `.ppxar` beside it). `None`: the source holds disks.
pub fn open_tree(
    g: &Global,
    path: &Path,
    fs: &crate::cli::FsSource,
) -> Result<Option<(Box<dyn fsread::Tree>, String)>> {
    if let Some((store, at)) = crate::source::pbs(path) {
        let snapshot = crate::cmd::pbs::one_snapshot_quiet(path, &store, &at)?;
        let keys = crate::cmd::pbs::keyring(&fs.from.keys)?;
        let reader = pbs::SnapshotReader::open(&store, &snapshot, &keys)?;
        let files: Vec<String> = reader
            .manifest()
            .files
            .iter()
            .map(|f| f.filename.clone())
            .collect();
        let trees: Vec<&String> = files
            .iter()
            .filter(|f| f.ends_with(".pxar.didx") || f.ends_with(".mpxar.didx"))
            .collect();
        let chosen = match &fs.archive {
            Some(want) => trees.into_iter().find(|f| {
                *f == want
                    || f.strip_suffix(".didx") == Some(want)
                    || f.strip_suffix(".pxar.didx") == Some(want)
                    || f.strip_suffix(".mpxar.didx") == Some(want)
            }),
            None if !files.iter().any(|f| f.ends_with(".img.fidx")) => match trees.as_slice() {
                [one] => Some(*one),
                [] => None,
                many => bail!(
                    "{}: the snapshot holds {} file trees: choose one with -a ({})",
                    snapshot.name(),
                    many.len(),
                    many.iter()
                        .map(|f| f.trim_end_matches(".didx"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            None => None,
        };
        let Some(file) = chosen else {
            return Ok(None);
        };
        if matches!(at, pbs::Located::Group(_)) {
            crate::cmd::pbs::say_group_snapshot(g, &snapshot);
        }
        let meta: fsread::View = Arc::new(reader.dynamic_stream(file)?);
        let payload: Option<fsread::View> = match file.strip_suffix(".mpxar.didx") {
            Some(stem) => {
                let p = format!("{stem}.ppxar.didx");
                Some(Arc::new(reader.dynamic_stream(&p).with_context(|| {
                    format!("{}: {file} needs its file data {p}", snapshot.name())
                })?))
            }
            None => None,
        };
        let name = format!("{}, {}", snapshot.name(), file.trim_end_matches(".didx"));
        let tree = fsread::pxar::Pxar::open(meta, payload, &name).with_context(|| name.clone())?;
        return Ok(Some((Box::new(tree), name)));
    }
    // A pxar file: recognised by its first item.
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let mut head = [0u8; 8];
    use std::os::unix::fs::FileExt;
    if file.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    let first = u64::from_le_bytes(head);
    if ![
        pxar::format::ENTRY,
        pxar::format::ENTRY_V1,
        pxar::format::FORMAT_VERSION,
    ]
    .contains(&first)
    {
        return Ok(None);
    }
    let shown = path.display().to_string();
    let meta: fsread::View =
        Arc::new(diskview::FileView::new(file).with_context(|| format!("{shown}: cannot open"))?);
    let payload: Option<fsread::View> = match path.extension().and_then(|e| e.to_str()) {
        Some("mpxar") => {
            let p = path.with_extension("ppxar");
            Some(Arc::new(diskview::FileView::open(&p).with_context(
                || {
                    format!(
                        "{shown}: a split archive needs its file data {}",
                        p.display()
                    )
                },
            )?))
        }
        _ => None,
    };
    let tree = fsread::pxar::Pxar::open(meta, payload, &shown).with_context(|| shown.clone())?;
    Ok(Some((Box::new(tree), shown)))
}
