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

/// `path` when it is a virtnbdbackup directory (a `*.data` file starting with a stream's meta
/// frame), recognised by content.
pub fn virtnbd(path: &Path) -> Option<&Path> {
    (path.is_dir() && virtnbd::is_backup_dir(path)).then_some(path)
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
    /// What holds the view's staged copy, if any.
    _opened: crate::disks::Opened,
}

/// Opens the one disk of `path` that `fs` names (`-d` for VMA, `-a` for PBS), through
/// [`crate::disks`]: a PBS snapshot or group, a VMA archive or differential, or a raw image or
/// block device.
pub fn open_disk(
    g: &crate::cli::Global,
    path: &Path,
    fs: &crate::cli::FsSource,
) -> Result<DiskSource> {
    let is_pbs = pbs(path).is_some();
    if is_pbs && fs.disk.is_some() {
        bail!("-d picks disks of a VMA archive; for a PBS snapshot pick the image with -a");
    }
    if !is_pbs && fs.archive.is_some() {
        bail!("-a picks the disk image of a PBS snapshot; for a VMA archive pick the disk with -d");
    }
    let names: Vec<String> = fs.disk.iter().chain(&fs.archive).cloned().collect();
    let mut opened = crate::disks::open_all(
        g,
        path,
        &crate::disks::Pick {
            names: &names,
            one: Some(if is_pbs { "-a" } else { "-d" }),
            from: &fs.from,
        },
    )?;
    let disk = opened
        .disks
        .pop()
        .with_context(|| format!("{}: no disk", path.display()))?;
    let name = match disk.description.strip_prefix("raw image ") {
        Some(p) => p.to_owned(),
        None => disk.description.trim_end_matches(" (staged)").to_owned(),
    };
    Ok(DiskSource {
        view: disk.view,
        name,
        _opened: opened,
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
