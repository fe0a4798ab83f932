//! Scanning a backup directory: every full, every differential with its full, and orphans.

use std::fs;
use std::path::{Path, PathBuf};

use crate::detect::Kind;
use crate::error::{Error, Result};
use crate::name::{FileClass, classify};

/// The role of one backup file in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A full backup.
    Full,
    /// A differential whose full is present.
    Differential {
        /// The full next to it.
        base: PathBuf,
    },
    /// A differential whose full is missing.
    Orphan {
        /// Where the full should be.
        expected_base: PathBuf,
    },
}

/// A backup file found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path of the file (the directory joined with its name).
    pub path: PathBuf,
    /// What it is.
    pub role: Role,
}

/// A file of a backup directory that is not checked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Path of the file (the directory joined with its name).
    pub path: PathBuf,
    /// Why it is not a backup to check, e.g. "a task log, not a backup".
    pub reason: String,
    /// True for the files vzdump writes next to a backup (`.log`, `.notes`, `.protected`):
    /// expected, so callers may leave them out of their listings.
    pub companion: bool,
}

/// What [`survey`] found in a directory: the backups, and everything else with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// The backups, sorted by name, each full right before its differentials.
    pub members: Vec<Member>,
    /// The other entries, sorted by name.
    pub skipped: Vec<Skipped>,
}

/// Lists the backups in `dir` (not recursive), sorted by name, so each full comes right before
/// its differentials. See [`survey`] for what counts as a backup; the rest is left out.
pub fn scan(dir: &Path) -> Result<Vec<Member>> {
    Ok(survey(dir)?.members)
}

/// Sorts the entries of `dir` (not recursive) into backups and skipped files.
///
/// A file named by vzdump (`vzdump-qemu-…`, or `…--differential-….vcdiff[.ext]`) is a backup by
/// its name, as before. Any other file is recognised by its content, as `verify FILE` does: a
/// VMA or tar archive inside any supported compression is a full (a renamed backup is still a
/// backup). A VCDIFF delta under another name is skipped, since its name does not say which
/// full it needs. Everything else (logs, notes, directories, unreadable files) is skipped with
/// the reason, so that a caller can say why nothing was found.
pub fn survey(dir: &Path) -> Result<Survey> {
    let io = |source| Error::Io {
        op: "read directory",
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        // Follows symlinks: a link to a backup is a backup.
        let kind = fs::metadata(entry.path()).map(|m| m.file_type());
        entries.push((entry.file_name().to_string_lossy().into_owned(), kind));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Survey::default();
    for (name, kind) in entries {
        let path = dir.join(&name);
        let skip = |reason: String| Skipped {
            path: path.clone(),
            reason,
            companion: false,
        };
        match kind {
            Ok(k) if k.is_file() => {}
            Ok(k) if k.is_dir() => {
                out.skipped
                    .push(skip("a directory (the scan is not recursive)".into()));
                continue;
            }
            Ok(_) => {
                out.skipped.push(skip("not a regular file".into()));
                continue;
            }
            Err(e) => {
                out.skipped.push(skip(format!("cannot stat: {e}")));
                continue;
            }
        }
        let role = match classify(&name) {
            FileClass::Full => Role::Full,
            FileClass::Differential { full } => {
                let base = dir.join(&full);
                if base.is_file() {
                    Role::Differential { base }
                } else {
                    Role::Orphan {
                        expected_base: base,
                    }
                }
            }
            FileClass::Other => {
                if let Some(reason) = companion(&name) {
                    out.skipped.push(Skipped {
                        companion: true,
                        ..skip(reason)
                    });
                    continue;
                }
                match sniff(&path) {
                    Ok(()) => Role::Full,
                    Err(reason) => {
                        out.skipped.push(skip(reason));
                        continue;
                    }
                }
            }
        };
        out.members.push(Member { path, role });
    }
    Ok(out)
}

/// The files vzdump writes next to a backup (spec: vma.md, file names), skipped unread.
fn companion(name: &str) -> Option<String> {
    [
        (".log", "a task log"),
        (".notes", "backup notes"),
        (".protected", "a protection marker"),
    ]
    .iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(_, what)| format!("{what}, not a backup"))
}

/// Recognises a backup not named by vzdump by its content ([`crate::detect`]): `Ok` for a VMA
/// or tar archive, else why it is not one.
fn sniff(path: &Path) -> std::result::Result<(), String> {
    let found = crate::detect(path).map_err(|e| format!("cannot read it ({e})"))?;
    let format = found.compression;
    match found.kind {
        Kind::Vma | Kind::Tar => Ok(()),
        Kind::Vcdiff => Err(
            "a VCDIFF delta whose name does not say which full it belongs to \
                    (`verify --base FULL FILE` checks it)"
                .into(),
        ),
        Kind::Empty => Err("not a backup: empty".into()),
        Kind::Unknown { reason } if reason.contains("does not decode") => {
            Err(format!("not a backup: {reason}"))
        }
        _ => Err(format!(
            "not a backup: not named vzdump-…, and no VMA or tar archive inside ({format} data)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fulls_diffs_and_orphans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let full = "vzdump-qemu-1-2020_01_01-00_00_00.vma.zst";
        for name in [
            full.to_owned(),
            format!("{full}--differential-2020_01_02-00_00_00.vcdiff.zst"),
            format!("{full}--differential-2020_01_02-00_00_00.log"),
            "vzdump-qemu-2-2020_01_01-00_00_00.vma--differential-2020_01_02-00_00_00.vcdiff"
                .to_owned(),
            "README".to_owned(),
        ] {
            fs::write(dir.path().join(name), b"x").expect("write");
        }
        let found = scan(dir.path()).expect("scan");
        let roles: Vec<&Role> = found.iter().map(|m| &m.role).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(roles[0], &Role::Full);
        assert!(matches!(roles[1], Role::Differential { base } if base.ends_with(full)));
        assert!(matches!(roles[2], Role::Orphan { .. }));
        assert!(scan(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn survey_recognises_renamed_archives_and_says_what_it_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.zst");
        fs::copy(&fixture, dir.path().join("web.bak")).expect("copy");
        fs::write(
            dir.path().join("vzdump-qemu-1-2020_01_01-00_00_00.log"),
            b"log",
        )
        .expect("log");
        fs::write(dir.path().join("empty.vma"), b"").expect("empty");
        // A VCDIFF header (magic, version 0) under a name that does not name its full.
        fs::write(dir.path().join("delta.bin"), [0xd6, 0xc3, 0xc4, 0, 0]).expect("delta");
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let s = survey(dir.path()).expect("survey");
        assert_eq!(
            s.members,
            [Member {
                path: dir.path().join("web.bak"),
                role: Role::Full
            }]
        );
        let skipped: Vec<(String, bool)> = s
            .skipped
            .iter()
            .map(|k| {
                let name = k.path.file_name().expect("name").to_string_lossy();
                (format!("{name}: {}", k.reason), k.companion)
            })
            .collect();
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(
            skipped[0].0.starts_with("delta.bin: a VCDIFF delta"),
            "{skipped:?}"
        );
        assert_eq!(skipped[1], ("empty.vma: not a backup: empty".into(), false));
        assert!(skipped[2].0.starts_with("sub: a directory"), "{skipped:?}");
        assert_eq!(
            skipped[3],
            (
                "vzdump-qemu-1-2020_01_01-00_00_00.log: a task log, not a backup".into(),
                true
            )
        );
    }
}
