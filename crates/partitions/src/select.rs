//! Choosing one mount target from a scan: by partition number, by `vg/lv`, or automatically when
//! there is exactly one, with errors that say what the image holds instead.

use crate::fs::{FsInfo, FsKind};
use crate::{MountTarget, PartitionKind, Scan};

/// Which item of a [`Scan`] to mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// The only mountable item, if there is exactly one.
    Auto,
    /// The partition with this Linux number.
    Partition(u32),
    /// The logical volume `vg/lv`.
    Lv(&'a str),
}

/// Why [`Scan::select`] found nothing to mount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// More than one item could be mounted and none was chosen.
    #[error("the image holds {} mountable filesystems: choose one", choices.len())]
    Ambiguous {
        /// Every mountable item.
        choices: Vec<MountTarget>,
    },
    /// Nothing in the image is a filesystem mount(2) could read.
    #[error("the image holds no mountable filesystem ({found})")]
    NothingMountable {
        /// What the image holds, for the message (`partition 1: swap, partition 2: luks`).
        found: String,
    },
    /// The partition number does not exist.
    #[error("there is no partition {number} (partitions: {available})")]
    NoSuchPartition {
        /// The requested number.
        number: u32,
        /// The numbers that exist, comma separated, or `none`.
        available: String,
    },
    /// The logical volume does not exist.
    #[error("there is no logical volume {name} (logical volumes: {available})")]
    NoSuchLv {
        /// The requested `vg/lv`.
        name: String,
        /// The `vg/lv` names that exist, comma separated, or `none`.
        available: String,
    },
    /// The partition is the MBR extended container.
    #[error("partition {number} is the extended partition that holds the logical ones ({logical})")]
    Extended {
        /// Its number.
        number: u32,
        /// The logical partition numbers, comma separated, or `none`.
        logical: String,
    },
    /// The item is an encrypted LUKS container.
    #[error("{what} is an encrypted volume ({detail})")]
    Encrypted {
        /// `partition 2`, `LV vg0/home`, `the whole disk`.
        what: String,
        /// LUKS version and UUID.
        detail: String,
        /// Byte offset of the container in the image.
        offset: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// The partition is an LVM2 physical volume.
    #[error("{what} is an LVM2 physical volume{}", vg.as_ref().map(|v| format!(" of volume group {v}")).unwrap_or_default())]
    LvmPv {
        /// `partition 2` or `the whole disk`.
        what: String,
        /// Its volume group, when known.
        vg: Option<String>,
        /// The `vg/lv` names that can be mounted by offset.
        mountable_lvs: Vec<String>,
    },
    /// The LV is not one linear run inside this image.
    #[error("logical volume {name} cannot be mounted by offset: {reason}")]
    NeedsDeviceMapper {
        /// `vg/lv`.
        name: String,
        /// Why (striped, thin, spread over PVs, PV missing...).
        reason: String,
    },
    /// The item holds swap, or data that is no known filesystem.
    #[error("{what} holds {kind}, not a filesystem that can be mounted")]
    NotAFilesystem {
        /// `partition 3`...
        what: String,
        /// `swap`, or `unknown data (first bytes …)`.
        kind: String,
    },
}

impl SelectError {
    /// What to do about it, in one line.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SelectError::Ambiguous { .. } => {
                "name one with -p N (partition) or --lv VG/LV (logical volume)".into()
            }
            SelectError::Encrypted { offset, size, .. } => format!(
                "this kernel has no device-mapper (dm-crypt), so LUKS cannot be opened here; on a \
                 machine that has it: losetup -r -f --show -o {offset} --sizelimit {size} IMAGE, \
                 then cryptsetup open --readonly /dev/loopN rescue and mount -o ro \
                 /dev/mapper/rescue DIR"
            ),
            SelectError::LvmPv { mountable_lvs, .. } if !mountable_lvs.is_empty() => format!(
                "mount a logical volume instead: --lv {}",
                mountable_lvs.join(" or --lv ")
            ),
            SelectError::LvmPv { .. } => {
                "none of its logical volumes can be mounted by offset: see `pverescue partitions`"
                    .into()
            }
            SelectError::NeedsDeviceMapper { .. } => {
                "only linear LVs inside one image can be mounted without device-mapper; on a \
                 machine with device-mapper, attach the image with losetup and run vgchange -ay"
                    .into()
            }
            SelectError::NotAFilesystem { kind, .. } if kind.starts_with("unknown") => {
                "if you know the filesystem type, pass it with -t TYPE".into()
            }
            SelectError::NothingMountable { .. } => {
                "see `pverescue partitions IMAGE` for what the image holds".into()
            }
            _ => return None,
        })
    }
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Refuses containers and non-filesystems; `forced` allows unrecognised content. `offset` and
/// `size` place the item in the image.
fn check_fs(
    scan: &Scan,
    what: &str,
    (offset, size): (u64, u64),
    fs: &FsInfo,
    forced: bool,
) -> Result<(), SelectError> {
    match fs.kind {
        FsKind::Luks => Err(SelectError::Encrypted {
            what: what.into(),
            offset,
            size,
            detail: [
                fs.detail.clone(),
                fs.uuid.as_ref().map(|u| format!("UUID {u}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        }),
        FsKind::Lvm2Pv => {
            let vg = scan
                .partitions
                .iter()
                .filter_map(|p| p.lvm.as_ref())
                .chain(scan.whole_disk_lvm.as_ref())
                .find(|_| true)
                .and_then(|pv| pv.vg_name.clone());
            Err(SelectError::LvmPv {
                what: what.into(),
                vg: vg.clone(),
                mountable_lvs: scan
                    .mount_targets()
                    .into_iter()
                    .filter(|t| t.id.contains('/'))
                    .filter(|t| {
                        vg.as_ref()
                            .is_none_or(|v| t.id.starts_with(&format!("{v}/")))
                    })
                    .map(|t| t.id)
                    .collect(),
            })
        }
        FsKind::Swap => Err(SelectError::NotAFilesystem {
            what: what.into(),
            kind: "swap".into(),
        }),
        FsKind::Unknown if !forced => Err(SelectError::NotAFilesystem {
            what: what.into(),
            kind: format!(
                "unknown data (first bytes {})",
                fs.first_bytes.as_deref().unwrap_or("?")
            ),
        }),
        _ => Ok(()),
    }
}

fn target(id: String, offset: u64, size: u64, fs: &FsInfo) -> MountTarget {
    MountTarget {
        id,
        offset,
        size,
        fstype: fs.kind.mount_type().unwrap_or(fs.kind.name()),
        fs: fs.kind,
        label: fs.label.clone(),
    }
}

impl Scan {
    /// Picks the item `selector` names. `forced_type` is true when the caller supplies the
    /// filesystem type itself: content that was not recognised is then selectable too (its
    /// [`MountTarget::fstype`] is `unknown`), while swap, LUKS and LVM PVs are still refused.
    pub fn select(
        &self,
        selector: Selector<'_>,
        forced_type: bool,
    ) -> Result<MountTarget, SelectError> {
        match selector {
            Selector::Auto => {
                let mut targets = self.mount_targets();
                match targets.len() {
                    1 => Ok(targets.remove(0)),
                    0 => {
                        // With a single candidate, say precisely why it cannot be mounted.
                        let parts: Vec<u32> = self
                            .partitions
                            .iter()
                            .filter(|p| p.kind != PartitionKind::Extended)
                            .map(|p| p.number)
                            .collect();
                        match (parts.as_slice(), &self.whole_disk_fs) {
                            ([n], _) => self.select(Selector::Partition(*n), forced_type),
                            ([], Some(fs)) => {
                                check_fs(
                                    self,
                                    "the whole disk",
                                    (0, self.disk_size),
                                    fs,
                                    forced_type,
                                )?;
                                Ok(target("disk".into(), 0, self.disk_size, fs))
                            }
                            _ => Err(self.nothing_mountable()),
                        }
                    }
                    _ => Err(SelectError::Ambiguous { choices: targets }),
                }
            }
            Selector::Partition(number) => {
                let Some(p) = self.partition(number) else {
                    return Err(SelectError::NoSuchPartition {
                        number,
                        available: list(self.partitions.iter().map(|p| p.number.to_string())),
                    });
                };
                if p.kind == PartitionKind::Extended {
                    return Err(SelectError::Extended {
                        number,
                        logical: list(
                            self.partitions
                                .iter()
                                .filter(|l| l.kind == PartitionKind::Logical)
                                .map(|l| l.number.to_string()),
                        ),
                    });
                }
                let what = format!("partition {number}");
                let fs = p.fs.as_ref().ok_or_else(|| SelectError::NotAFilesystem {
                    what: what.clone(),
                    kind: "nothing readable (it starts past the end of the image)".into(),
                })?;
                check_fs(self, &what, (p.start, p.size), fs, forced_type)?;
                Ok(target(number.to_string(), p.start, p.size, fs))
            }
            Selector::Lv(name) => {
                let Some(lv) = self.logical_volume(name) else {
                    return Err(SelectError::NoSuchLv {
                        name: name.into(),
                        available: list(
                            self.volume_groups
                                .iter()
                                .flat_map(|g| &g.logical_volumes)
                                .filter(|l| l.visible)
                                .map(|l| format!("{}/{}", l.vg, l.name)),
                        ),
                    });
                };
                let (Some(range), Some(fs)) = (lv.byte_range(), lv.fs.as_ref()) else {
                    return Err(SelectError::NeedsDeviceMapper {
                        name: name.into(),
                        reason: lv
                            .needs_device_mapper
                            .clone()
                            .unwrap_or_else(|| "its extents are not one run".into()),
                    });
                };
                check_fs(
                    self,
                    &format!("LV {name}"),
                    (range.offset, range.size),
                    fs,
                    forced_type,
                )?;
                Ok(target(name.into(), range.offset, range.size, fs))
            }
        }
    }

    fn nothing_mountable(&self) -> SelectError {
        let mut found: Vec<String> = self
            .partitions
            .iter()
            .filter(|p| p.kind != PartitionKind::Extended)
            .map(|p| {
                let kind = p.fs.as_ref().map_or("nothing", |f| f.kind.name());
                format!("partition {}: {kind}", p.number)
            })
            .collect();
        if let Some(fs) = &self.whole_disk_fs {
            found.push(format!("the whole disk: {}", fs.kind.name()));
        }
        for lv in self.volume_groups.iter().flat_map(|g| &g.logical_volumes) {
            if lv.visible {
                let kind = match (&lv.fs, &lv.needs_device_mapper) {
                    (_, Some(_)) => "needs device-mapper",
                    (Some(f), None) => f.kind.name(),
                    (None, None) => "nothing",
                };
                found.push(format!("LV {}/{}: {kind}", lv.vg, lv.name));
            }
        }
        SelectError::NothingMountable {
            found: if found.is_empty() {
                "no partitions, no filesystem signature".into()
            } else {
                found.join(", ")
            },
        }
    }
}
