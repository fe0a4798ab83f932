//! Scanning a backup directory: every full, every differential with its full, and orphans.

use std::fs;
use std::path::{Path, PathBuf};

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

/// Lists the backups in `dir` (not recursive), sorted by name, so each full comes right before
/// its differentials. Logs and other files are left out.
pub fn scan(dir: &Path) -> Result<Vec<Member>> {
    let io = |source| Error::Io {
        op: "read directory",
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_file = entry
            .file_type()
            .map(|t| t.is_file() || t.is_symlink())
            .unwrap_or(false);
        if is_file {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in &names {
        let path = dir.join(name);
        let role = match classify(name) {
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
            FileClass::Other => continue,
        };
        out.push(Member { path, role });
    }
    Ok(out)
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
}
