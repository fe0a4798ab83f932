//! What the user pointed at: the one module that asks what a path is ([`detect`], by content,
//! through `backupset::detect`) and opens it for the commands: a path or `-`, decompressed by
//! content, a differential reconstructed against its full, ready for the VMA reader.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::DiffOptions;

/// What `path` is, recognised by content (a directory, `-`, a VMA or tar archive, a delta, a raw
/// image…), naming the path when it cannot be looked at.
pub fn detect(path: &Path) -> Result<backupset::Detected> {
    // The library's error names the path and what failed.
    Ok(backupset::detect(path)?)
}

/// The Proxmox Backup Server datastore `path` belongs to and what it is there (store,
/// namespace, group, snapshot), or `None` when it is no such directory.
pub fn pbs(path: &Path) -> Option<(pbs::Datastore, pbs::Located)> {
    if !path.is_dir() {
        return None;
    }
    pbs::locate(path).ok()
}

/// An opened archive: a full, or a differential read as the full it stands for. The VMA reader
/// borrows it so that its warnings and counters stay reachable after the archive has been read.
/// (Not called a source: in `vcdiff`, the source is a delta's base.)
pub struct Input {
    /// The (reconstructed) archive stream.
    pub archive: backupset::Archive,
}

impl Input {
    /// Opens `path` (or standard input for `-`); a differential's full is found by its name or
    /// taken from `--base`.
    pub fn open(path: &Path, diff: &DiffOptions) -> Result<Self> {
        Input::open_with(path, &open_options(diff)?)
    }

    /// Opens `path` with the library's options (a full given as `base`, for `merge` and
    /// `verify DIR`). Paths that hold no archive to read are refused here with what to do.
    pub fn open_with(path: &Path, opts: &backupset::OpenOptions) -> Result<Self> {
        // A path that cannot be looked at fails below, in the words of the archive reader.
        let kind = detect(path).map(|d| d.kind).ok();
        let name = path.display();
        match kind.unwrap_or(backupset::Kind::Stream) {
            backupset::Kind::Directory => bail!(
                "{name}: is a directory, not an archive: `pverescue verify {name}` checks every \
                 backup in it, `pverescue drill {name}` restores the newest of each VM"
            ),
            backupset::Kind::Rdiff => bail!(
                "{name}: is an rdiff delta, not a backup archive: apply it with \
                 `pverescue patch BASE DELTA... -o OUT`"
            ),
            backupset::Kind::RdiffSignature => bail!(
                "{name}: is an rdiff signature, not a backup archive: there is nothing to \
                 restore from it (deltas are applied with `pverescue patch`)"
            ),
            _ => {}
        }
        let archive = backupset::Archive::open(path, opts)?;
        Ok(Self { archive })
    }

    /// The name to show for this input.
    pub fn name(&self) -> &str {
        self.archive.name()
    }

    /// Reads and validates the VMA header.
    pub fn vma(&mut self) -> Result<vma::Reader<&mut backupset::Archive>> {
        let name = self.archive.name().to_owned();
        if self.archive.content() == backupset::Content::Tar {
            bail!(
                "{name}: this is a tar archive (a container backup), not a VMA: check it with \
                 `pverescue verify`, rebuild a differential with `pverescue merge`, unpack it with tar"
            );
        }
        vma::Reader::new(&mut self.archive)
            .with_context(|| format!("{name}: cannot read the VMA header"))
    }

    /// Prints the warnings known so far on stderr; `Warnings` when there were any.
    pub fn print_warnings(&self) -> crate::Outcome {
        let warnings = self.archive.warnings();
        for w in &warnings {
            eprintln!("pverescue: warning: {}: {w}", self.name());
        }
        if warnings.is_empty() {
            crate::Outcome::Success
        } else {
            crate::Outcome::Warnings
        }
    }

    /// `(differential of <full>)` for messages, or an empty string for a full.
    pub fn diff_note(&self) -> String {
        self.archive
            .diff()
            .map(|d| format!(" (differential of {})", d.base.display()))
            .unwrap_or_default()
    }
}

/// One disk of a source, read at random: what `ls`, `cp` and `cat` look into. A staged copy
/// (compressed VMA, differential) lives as long as this value and is removed with it.
pub struct DiskSource {
    /// The disk's bytes.
    pub view: fsread::View,
    /// The source and disk for messages (`backup.vma.zst, drive-scsi0`).
    pub name: String,
    /// The staging directory to remove, if any.
    _scratch: Option<Scratch>,
}

/// Opens the one disk of `path` that `fs` names (`-d` for VMA, `-a` for PBS), by content:
/// a PBS snapshot or group, a VMA archive or differential, or a raw image or block device.
/// A hook for later sources: virtnbdbackup directories and pxar archives are recognised here
/// and refused with what to do until their readers land.
pub fn open_disk(
    g: &crate::cli::Global,
    path: &Path,
    fs: &crate::cli::FsSource,
) -> Result<DiskSource> {
    let shown = path.display().to_string();
    if let Some((store, at)) = pbs(path) {
        if fs.disk.is_some() {
            bail!("-d picks disks of a VMA archive; for a PBS snapshot pick the image with -a");
        }
        let snapshot = crate::cmd::pbs::one_snapshot(g, path, &store, &at)?;
        let keys = crate::cmd::pbs::keyring(&fs.keys)?;
        let reader = pbs::SnapshotReader::open(&store, &snapshot, &keys)?;
        let files: Vec<String> = reader
            .manifest()
            .files
            .iter()
            .map(|f| f.filename.clone())
            .collect();
        let images: Vec<&String> = files.iter().filter(|f| f.ends_with(".img.fidx")).collect();
        let chosen = match &fs.archive {
            Some(want) => files
                .iter()
                .find(|f| {
                    *f == want
                        || f.strip_suffix(".img.fidx") == Some(want)
                        || f.strip_suffix(".fidx") == Some(want)
                        || f.strip_suffix(".img.fidx")
                            .and_then(|s| s.strip_prefix("drive-"))
                            == Some(want)
                })
                .with_context(|| {
                    format!(
                        "{}: no archive named '{want}' in the snapshot (it has: {})",
                        snapshot.name(),
                        files.join(", ")
                    )
                })?,
            None => match images.as_slice() {
                [one] => *one,
                [] if files
                    .iter()
                    .any(|f| f.ends_with(".pxar.didx") || f.ends_with(".mpxar.didx")) =>
                {
                    bail!(
                        "{}: a container backup (pxar): browsing pxar archives is not available yet; \
                     `pverescue list {shown}` shows its archives",
                        snapshot.name()
                    )
                }
                [] => bail!("{}: the snapshot holds no disk image", snapshot.name()),
                many => bail!(
                    "{}: the snapshot holds {} disk images: choose one with -a ({})",
                    snapshot.name(),
                    many.len(),
                    many.iter()
                        .map(|f| f.trim_end_matches(".img.fidx"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        };
        if chosen.ends_with(".didx") {
            bail!(
                "{}: {chosen} is a pxar archive (files of a container): browsing pxar archives is \
                 not available yet",
                snapshot.name()
            );
        }
        if !chosen.ends_with(".fidx") {
            bail!("{}: {chosen} is not a disk image", snapshot.name());
        }
        let image = reader.fixed_image(chosen)?;
        return Ok(DiskSource {
            view: std::sync::Arc::new(image),
            name: format!(
                "{}, {}",
                snapshot.name(),
                chosen.trim_end_matches(".img.fidx")
            ),
            _scratch: None,
        });
    }
    if fs.archive.is_some() {
        bail!("-a picks the disk image of a PBS snapshot; for a VMA archive pick the disk with -d");
    }
    let detected = detect(path)?;
    match detected.kind {
        backupset::Kind::RawImage => {
            if fs.disk.is_some() {
                bail!("{shown}: a raw disk image holds one disk: -d is for VMA archives");
            }
            let view =
                diskview::FileView::open(path).with_context(|| format!("{shown}: cannot open"))?;
            Ok(DiskSource {
                view: std::sync::Arc::new(view),
                name: shown,
                _scratch: None,
            })
        }
        backupset::Kind::Vma | backupset::Kind::Vcdiff => match indexed(path, &detected, fs)? {
            Some(disk) => Ok(disk),
            None => stage(g, path, fs),
        },
        backupset::Kind::Tar => bail!(
            "{shown}: a container backup (tar): unpack it with tar, e.g. \
             `tar -xf {shown} ./etc/nginx` (decompress first if needed)"
        ),
        backupset::Kind::Directory => bail!(
            "{shown}: a directory that is no PBS snapshot: ls/cp/cat read disk images, VMA \
             archives and PBS snapshots (virtnbdbackup directories are not read yet)"
        ),
        backupset::Kind::Stream => {
            bail!("ls, cp and cat read their source at random: give a file, not standard input")
        }
        other => bail!(
            "{shown}: {} is no disk or backup that holds files",
            other.name()
        ),
    }
}

/// The disk of a VMA archive that `-d` names, or its only disk; otherwise the choices.
fn choose_drive(name: &str, header: &vma::Header, want: Option<&str>) -> Result<(String, u64)> {
    let disks: Vec<(String, u64)> = header
        .devices
        .iter()
        .filter(|d| !d.is_vmstate())
        .map(|d| (d.name.clone(), d.size))
        .collect();
    Ok(match want {
        Some(want) => header
            .drive(want)
            .map(|d| (d.name.clone(), d.size))
            .with_context(|| {
                format!(
                    "{name}: no disk named '{want}' (it has: {})",
                    disks
                        .iter()
                        .map(|d| d.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
        None => match disks.as_slice() {
            [one] => one.clone(),
            [] => bail!("{name}: the archive holds no disk"),
            many => bail!(
                "{name}: the archive holds {} disks: choose one with -d ({})",
                many.len(),
                many.iter()
                    .map(|d| d.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    })
}

/// An uncompressed VMA (not a differential) is read in place through an index of its extents,
/// built in one pass; `None` when the archive is compressed or a differential.
fn indexed(
    path: &Path,
    detected: &backupset::Detected,
    fs: &crate::cli::FsSource,
) -> Result<Option<DiskSource>> {
    if detected.kind != backupset::Kind::Vma || detected.compression != unpack::Format::Plain {
        return Ok(None);
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let header = vma::Reader::new(std::io::BufReader::new(file))
        .with_context(|| format!("{name}: cannot read the VMA header"))?
        .header()
        .clone();
    let (drive, _) = choose_drive(&name, &header, fs.disk.as_deref())?;
    let view = vma::view::DiskView::open(path, &drive)
        .with_context(|| format!("{name}: cannot index {drive}"))?;
    Ok(Some(DiskSource {
        view: std::sync::Arc::new(view),
        name: format!("{name}, {drive}"),
        _scratch: None,
    }))
}

/// A scratch directory of ours, removed (with what is in it) when dropped or on a signal.
struct Scratch {
    dir: std::path::PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stages the chosen disk of a VMA archive or differential into a sparse file under
/// `--scratch`, after saying how much room it may take.
fn stage(g: &crate::cli::Global, path: &Path, fs: &crate::cli::FsSource) -> Result<DiskSource> {
    let mut input = Input::open(path, &fs.diff)?;
    let name = input.name().to_owned();
    let reader = input.vma()?;
    let (drive, size) = choose_drive(&name, reader.header(), fs.disk.as_deref())?;
    let base = fs.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(".pverescue-stage-{}", std::process::id()));
    cleanup::install().context("cannot install the signal handler")?;
    std::fs::create_dir(&dir)
        .with_context(|| format!("{}: cannot create the scratch directory", dir.display()))?;
    let scratch = Scratch { dir: dir.clone() };
    {
        let dir = dir.clone();
        cleanup::on_signal(cleanup::Stage::Files, move |_| {
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
    let free = rustix::fs::statvfs(&dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(u64::MAX);
    if !g.quiet && !g.json {
        eprintln!(
            "pverescue: {name} cannot be read at random: staging {drive} into {} first \
             (a sparse file: up to {} for a {} disk; {} free there)",
            base.display(),
            crate::output::size(size),
            crate::output::size(size),
            crate::output::size(free)
        );
    }
    let file = dir.join("disk.raw");
    let opts = vma::extract::ExtractOptions {
        drives: Some(vec![drive.clone()]),
        write_zeroes: false,
        force: false,
    };
    let outputs = vma::extract::Outputs {
        dir: None,
        targets: vec![(drive.clone(), vma::extract::Target::File(file.clone()))],
        digest: false,
    };
    vma::extract::extract(reader, &opts, outputs, &mut ())
        .with_context(|| format!("{name}: cannot stage {drive} into {}", dir.display()))?;
    input.print_warnings();
    let view = diskview::FileView::open(&file)
        .with_context(|| format!("{}: cannot open the staged disk", file.display()))?;
    Ok(DiskSource {
        view: std::sync::Arc::new(view),
        name: format!("{name}, {drive}"),
        _scratch: Some(scratch),
    })
}

/// The library's options from the command-line flags.
pub fn open_options(diff: &DiffOptions) -> Result<backupset::OpenOptions> {
    Ok(backupset::OpenOptions {
        base: diff.base.clone(),
        source_window: parse_size(&diff.source_window)
            .with_context(|| format!("--source-window {}", diff.source_window))?,
    })
}

/// Parses a size such as `128M`, `1G`, `64KiB` or `1048576` (binary multiples).
pub fn parse_size(text: &str) -> Result<usize> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{text:?} is not a size like 128M or 1G"))?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .and_then(|b| usize::try_from(b).ok())
        .with_context(|| format!("{text} is too large"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128M").expect("ok"), 128 << 20);
        assert_eq!(parse_size("1G").expect("ok"), 1 << 30);
        assert_eq!(parse_size("64KiB").expect("ok"), 64 << 10);
        assert_eq!(parse_size("4096").expect("ok"), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
