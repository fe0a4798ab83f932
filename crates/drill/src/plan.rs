//! Finding the VMs in backup directories and archives, and each VM's newest restorable point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backupset::{FileClass, Member, Role};
use serde::Serialize;

use crate::{Error, Result};

/// What a drill will do: one entry per VM, in VMID order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The VMs found.
    pub vms: Vec<VmPlan>,
}

/// One VM: the point chosen, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmPlan {
    /// The VMID from the file names (`101`), or the file name for a file not named by vzdump.
    pub vmid: String,
    /// The newest restorable point, if any.
    pub point: Option<Point>,
    /// Why no point could be chosen.
    pub problem: Option<String>,
    /// Backups of this VM newer than the chosen point that cannot be restored, with the reason.
    pub notes: Vec<String>,
    /// The restorable points older than the chosen one, newest first: where the drill falls
    /// back when the chosen point turns out to be damaged.
    pub older: Vec<Point>,
}

/// A restorable point: a full, or a full and one of its differentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// The full backup.
    pub full: PathBuf,
    /// The differential on top of it, when the newest point is one.
    pub differential: Option<PathBuf>,
    /// The point's time as written in the name (`2026_11_20-21_00_03`).
    pub time: String,
}

impl Point {
    /// The file to open: the differential when there is one (it finds its full), else the full.
    pub fn file(&self) -> &Path {
        self.differential.as_deref().unwrap_or(&self.full)
    }

    /// The archives used, full first.
    pub fn archives(&self) -> Vec<PathBuf> {
        let mut v = vec![self.full.clone()];
        v.extend(self.differential.clone());
        v
    }
}

/// VMID and time of a vzdump file name (`vzdump-qemu-101-2026_11_20-21_00_03.vma.zst`); for a
/// differential, the time is the differential's own (after `--differential-`).
///
/// The naming rule itself (what is a full, what is a differential, which full it belongs to) is
/// `backupset`'s; this only splits the fields the drill sorts by.
fn vmid_and_time(name: &str) -> Option<(String, String)> {
    let full = backupset::full_name_of(name).unwrap_or(name);
    let rest = ["vzdump-qemu-", "vzdump-lxc-", "vzdump-openvz-"]
        .iter()
        .find_map(|p| full.strip_prefix(p))?;
    let (vmid, rest) = rest.split_once('-')?;
    let full_time = rest.split('.').next()?;
    let time = match name.split_once(backupset::name::DIFF_MARKER) {
        Some((_, d)) => d.split('.').next()?,
        None => full_time,
    };
    Some((vmid.to_owned(), time.to_owned()))
}

/// Finds every VM in `paths` (backup directories, scanned without recursion, or archive files)
/// and chooses each VM's newest restorable point: the newest full or differential whose full is
/// present. Orphan differentials (full missing) are never chosen; a VM with nothing else fails.
pub fn plan(paths: &[PathBuf]) -> Result<Plan> {
    let mut members: Vec<Member> = Vec::new();
    let mut strangers: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            members.extend(backupset::scan(p).map_err(|e| Error::Scan {
                path: p.clone(),
                reason: e.to_string(),
            })?);
            continue;
        }
        if !p.is_file() {
            return Err(Error::NotFound { path: p.clone() });
        }
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let role = match name.as_deref().map(backupset::classify) {
            Some(FileClass::Full) => Role::Full,
            Some(FileClass::Differential { .. }) => match backupset::full_path_of(p) {
                Some(base) if base.is_file() => Role::Differential { base },
                Some(base) => Role::Orphan {
                    expected_base: base,
                },
                None => {
                    strangers.push(p.clone());
                    continue;
                }
            },
            _ => {
                strangers.push(p.clone());
                continue;
            }
        };
        members.push(Member {
            path: p.clone(),
            role,
        });
    }
    members.sort_by(|a, b| a.path.cmp(&b.path));
    members.dedup_by(|a, b| a.path == b.path);

    // Candidates per VM: (time, point or orphan reason).
    type Cand = (String, std::result::Result<Point, String>);
    let mut by_vm: BTreeMap<(usize, String), Vec<Cand>> = BTreeMap::new();
    for m in members {
        let name = m
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((vmid, time)) = vmid_and_time(&name) else {
            strangers.push(m.path);
            continue;
        };
        let cand = match m.role {
            Role::Full => Ok(Point {
                full: m.path,
                differential: None,
                time: time.clone(),
            }),
            Role::Differential { base } => Ok(Point {
                full: base,
                differential: Some(m.path),
                time: time.clone(),
            }),
            Role::Orphan { expected_base } => Err(format!(
                "orphan differential {}: its full {} is missing",
                m.path.display(),
                expected_base.display()
            )),
        };
        // Numeric VMIDs sort as numbers.
        let key = (vmid.len(), vmid);
        by_vm.entry(key).or_default().push((time, cand));
    }

    let mut vms = Vec::new();
    for ((_, vmid), mut cands) in by_vm {
        cands.sort_by(|a, b| a.0.cmp(&b.0));
        let mut notes = Vec::new();
        let mut point = None;
        let mut older = Vec::new();
        for (_, c) in cands.into_iter().rev() {
            match c {
                Ok(p) if point.is_none() => point = Some(p),
                Ok(p) => older.push(p),
                Err(why) if point.is_none() => notes.push(why),
                Err(_) => {}
            }
        }
        let problem = match point {
            Some(_) => None,
            None => Some(format!("no restorable backup: {}", notes.join("; "))),
        };
        if problem.is_some() {
            notes.clear();
        }
        vms.push(VmPlan {
            vmid,
            point,
            problem,
            notes,
            older,
        });
    }
    for s in strangers {
        vms.push(VmPlan {
            vmid: s.display().to_string(),
            point: None,
            problem: Some(format!(
                "{} is not named like a vzdump backup (vzdump-qemu-<vmid>-<time>.vma[.ext])",
                s.display()
            )),
            notes: Vec::new(),
            older: Vec::new(),
        });
    }
    Ok(Plan { vms })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_split_into_vmid_and_time() {
        assert_eq!(
            vmid_and_time("vzdump-qemu-101-2026_11_20-21_00_03.vma.zst"),
            Some(("101".into(), "2026_11_20-21_00_03".into()))
        );
        assert_eq!(
            vmid_and_time(
                "vzdump-qemu-7-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst"
            ),
            Some(("7".into(), "2020_05_03-01_00_05".into()))
        );
        assert_eq!(vmid_and_time("notes.txt"), None);
    }

    #[test]
    fn newest_restorable_point_per_vm() {
        let t = tempfile::tempdir().unwrap();
        let names = [
            "vzdump-qemu-100-2026_01_01-00_00_00.vma.zst",
            "vzdump-qemu-100-2026_01_01-00_00_00.vma.zst--differential-2026_01_02-00_00_00.vcdiff.zst",
            "vzdump-qemu-100-2026_01_01-00_00_00.vma.zst--differential-2026_01_03-00_00_00.vcdiff.zst",
            "vzdump-qemu-100-2025_12_01-00_00_00.vma.lzo",
            "vzdump-qemu-100-2025_11_01-00_00_00.vma.zst--differential-2026_01_09-00_00_00.vcdiff",
            "vzdump-qemu-20-2026_01_05-00_00_00.vma.gz",
            "vzdump-qemu-300-2026_01_01-00_00_00.vma.zst--differential-2026_01_02-00_00_00.vcdiff.zst",
            "vzdump-qemu-100-2026_01_01-00_00_00.log",
        ];
        for n in names {
            std::fs::write(t.path().join(n), b"x").unwrap();
        }
        let plan = plan(&[t.path().to_path_buf()]).unwrap();
        let ids: Vec<&str> = plan.vms.iter().map(|v| v.vmid.as_str()).collect();
        assert_eq!(ids, ["20", "100", "300"]);
        let vm100 = &plan.vms[1];
        let p = vm100.point.as_ref().unwrap();
        assert_eq!(p.full, t.path().join(names[0]));
        assert_eq!(
            p.differential.as_deref(),
            Some(t.path().join(names[2]).as_path())
        );
        assert_eq!(vm100.notes.len(), 1, "the newer orphan is noted");
        assert!(vm100.notes[0].starts_with("orphan differential"));
        let vm300 = &plan.vms[2];
        assert!(vm300.point.is_none());
        assert!(
            vm300.problem.as_ref().unwrap().contains("is missing"),
            "{vm300:?}"
        );
    }
}
