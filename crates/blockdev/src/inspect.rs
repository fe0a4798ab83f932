//! What a path is, how large it is, and who uses it: sysfs, `/proc/self/mountinfo`, `/proc/swaps`.

use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;

/// What kind of target a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A block device (a disk, a partition, a loop device…).
    BlockDevice,
    /// An existing regular file.
    RegularFile,
    /// Nothing exists at the path yet.
    Missing,
}

/// Kernel facts about a block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Kernel name (`sda`, `nvme0n1`, `loop3`, `sdb1`).
    pub name: String,
    /// Major and minor device numbers.
    pub dev: (u32, u32),
    /// Model from `/sys/class/block/<name>/device/model` (with the vendor in front when there is
    /// one), or for a loop device its backing file; `None` when the kernel says nothing.
    pub model: Option<String>,
    /// Logical sector size in bytes.
    pub sector_size: u32,
    /// Whether the kernel marks the device read-only.
    pub read_only: bool,
    /// Kernel names of its partitions as the kernel sees them.
    pub partitions: Vec<String>,
}

/// Something that uses a target and makes overwriting it unsafe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// `device` (the target or a partition of it) is mounted on `mountpoint`.
    Mounted {
        /// Kernel name of the mounted device.
        device: String,
        /// The mount point.
        mountpoint: PathBuf,
    },
    /// `device` is held by `holder` (device-mapper, md…).
    Held {
        /// Kernel name of the held device.
        device: String,
        /// Kernel name of the holder.
        holder: String,
    },
    /// `device` is active swap.
    Swap {
        /// Kernel name of the swap device, or the path of the target when it is a swap file.
        device: String,
    },
    /// The target backs a loop device, at any offset (`pverescue mount` maps a partition this way).
    LoopBacking {
        /// What backs it: the kernel name of the target or of one of its partitions, or for a loop
        /// device target "its backing file …"; `None` when the target file itself does.
        device: Option<String>,
        /// Kernel name of the loop device.
        loop_device: String,
        /// Where in the backing the loop device starts, in bytes.
        offset: u64,
    },
}

/// Everything [`inspect`] found out about a target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The path as given.
    pub path: PathBuf,
    /// Block device, regular file or nothing.
    pub kind: Kind,
    /// Size in bytes (0 for [`Kind::Missing`]).
    pub size: u64,
    /// Kernel facts, for block devices.
    pub device: Option<DeviceInfo>,
    /// What uses it (empty when nothing does).
    pub uses: Vec<Use>,
}

impl TargetInfo {
    /// One line naming the target for a confirmation prompt, e.g.
    /// `/dev/sdb: block device sdb, ATA Samsung SSD 870, 500107862016 bytes`.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.device) {
            (Kind::BlockDevice, Some(d)) => format!(
                "{}: block device {}, {}, {} bytes",
                self.path.display(),
                d.name,
                d.model.as_deref().unwrap_or("model unknown"),
                self.size
            ),
            (Kind::Missing, _) => format!("{}: new file", self.path.display()),
            _ => format!("{}: regular file, {} bytes", self.path.display(), self.size),
        }
    }

    /// Checks that a disk of `needed` bytes may be written here: large enough (block devices;
    /// files are resized), not read-only, and not used by anything.
    pub fn check(&self, needed: u64) -> Result<()> {
        let path = self.path.clone();
        if let Some(u) = self.uses.first() {
            return Err(match u.clone() {
                Use::Mounted { device, mountpoint } => Error::Mounted {
                    path,
                    device,
                    mountpoint,
                },
                Use::Held { device, holder } => Error::Held {
                    path,
                    device,
                    holder,
                },
                Use::Swap { device } => Error::Swap { path, device },
                Use::LoopBacking {
                    device,
                    loop_device,
                    offset,
                } => Error::LoopBacking {
                    path,
                    device,
                    loop_device,
                    offset,
                },
            });
        }
        if self.kind == Kind::BlockDevice {
            if self.device.as_ref().is_some_and(|d| d.read_only) {
                return Err(Error::ReadOnly { path });
            }
            if self.size < needed {
                return Err(Error::TooSmall {
                    path,
                    size: self.size,
                    needed,
                });
            }
        }
        Ok(())
    }
}

/// Where the kernel's tables live; tests point these at a fake tree.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// `/sys`.
    pub sys: PathBuf,
    /// `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// `/proc/swaps`.
    pub swaps: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            sys: "/sys".into(),
            mountinfo: "/proc/self/mountinfo".into(),
            swaps: "/proc/swaps".into(),
        }
    }
}

/// Finds out what `path` is, its size, its model, and whether anything uses it.
///
/// Nothing is written. A block device is opened read-only for its size (`BLKGETSIZE64`), sector
/// size and read-only flag; mounts are matched by device number in `/proc/self/mountinfo`, for the
/// device and each of its partitions; holders come from sysfs; swap from `/proc/swaps`. Loop
/// devices backed by the device, a partition or (for a loop device) its backing file count as users
/// at any offset: the kernel lists them neither as holders nor as exclusive openers. A regular file
/// is checked against the backing files of loop devices (by inode) and against swap files.
pub fn inspect(path: &Path) -> Result<TargetInfo> {
    inspect_with(&Host::default(), path)
}

pub(crate) fn inspect_with(host: &Host, path: &Path) -> Result<TargetInfo> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(TargetInfo {
                path: path.to_path_buf(),
                kind: Kind::Missing,
                size: 0,
                device: None,
                uses: Vec::new(),
            });
        }
        Err(source) => return Err(io_err("inspect", path, source)),
    };
    let ft = meta.file_type();
    if ft.is_file() {
        let loops = loop_devices(host);
        let mut uses = loop_backing_uses(&loops, path, (meta.dev(), meta.ino()));
        uses.extend(swap_file_uses(host, (meta.dev(), meta.ino())));
        return Ok(TargetInfo {
            path: path.to_path_buf(),
            kind: Kind::RegularFile,
            size: meta.len(),
            device: None,
            uses,
        });
    }
    if !ft.is_block_device() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            kind,
        });
    }
    let file = File::open(path).map_err(|e| io_err("open", path, e))?;
    let size = sys::size64(&file).map_err(|e| io_err("read the size of", path, e))?;
    let sector_size =
        sys::sector_size(&file).map_err(|e| io_err("read the sector size of", path, e))?;
    let read_only =
        sys::read_only(&file).map_err(|e| io_err("read the read-only flag of", path, e))?;
    let dev = split_dev(meta.rdev());
    let (device, uses) = device_facts(host, dev, sector_size, read_only);
    Ok(TargetInfo {
        path: path.to_path_buf(),
        kind: Kind::BlockDevice,
        size,
        device: Some(device),
        uses,
    })
}

/// Sysfs facts and users of the device `dev`.
fn device_facts(
    host: &Host,
    dev: (u32, u32),
    sector_size: u32,
    read_only: bool,
) -> (DeviceInfo, Vec<Use>) {
    let link = host.sys.join(format!("dev/block/{}:{}", dev.0, dev.1));
    let dir = fs::canonicalize(&link).unwrap_or(link);
    let name = file_name(&dir).unwrap_or_else(|| format!("{}:{}", dev.0, dev.1));
    // A partition's model is its disk's.
    let disk_dir = if dir.join("partition").exists() {
        dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf)
    } else {
        dir.clone()
    };
    let model = model(&disk_dir);

    // The device itself and its partitions: (name, dev, sysfs dir).
    let mut parts = Vec::new();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let p = e.path();
            if !p.join("partition").exists() {
                continue;
            }
            if let (Some(n), Some(d)) = (file_name(&p), read_dev(&p)) {
                parts.push((n, d, p));
            }
        }
    }
    parts.sort();
    let mut all = vec![(name.clone(), dev, dir.clone())];
    all.extend(parts.iter().cloned());

    let mut uses = Vec::new();
    let mounts = fs::read_to_string(&host.mountinfo).unwrap_or_default();
    for (n, d, _) in &all {
        for mp in mountpoints_of(&mounts, *d) {
            uses.push(Use::Mounted {
                device: n.clone(),
                mountpoint: mp,
            });
        }
    }
    for (n, _, p) in &all {
        if let Ok(rd) = fs::read_dir(p.join("holders")) {
            let mut holders: Vec<String> =
                rd.flatten().filter_map(|e| file_name(&e.path())).collect();
            holders.sort();
            for h in holders {
                uses.push(Use::Held {
                    device: n.clone(),
                    holder: h,
                });
            }
        }
    }
    // Loop devices backed by the device or a partition; for a loop device, also the other loop
    // devices over its backing file. Loop devices do not appear among the holders.
    let loops = loop_devices(host);
    let own_backing = loops
        .iter()
        .find(|l| l.name == name)
        .map(|l| (l.backing.clone(), l.file));
    // For a partition: its disk and its byte range on that disk, for loop devices over the disk.
    let in_disk = (disk_dir != dir)
        .then(|| {
            let sectors = |f: &str| -> Option<u64> {
                fs::read_to_string(dir.join(f)).ok()?.trim().parse().ok()
            };
            let start = sectors("start")?.checked_mul(512)?;
            let end = start.checked_add(sectors("size")?.checked_mul(512)?)?;
            Some((file_name(&disk_dir)?, read_dev(&disk_dir)?, start, end))
        })
        .flatten();
    for l in &loops {
        if let Some((n, _, _)) = all.iter().find(|(_, d, _)| l.block == Some(*d)) {
            uses.push(Use::LoopBacking {
                device: Some(n.clone()),
                loop_device: l.name.clone(),
                offset: l.offset,
            });
        } else if let Some((backing, Some(file))) = &own_backing
            && l.name != name
            && l.file == Some(*file)
        {
            uses.push(Use::LoopBacking {
                device: Some(format!("its backing file {backing}")),
                loop_device: l.name.clone(),
                offset: l.offset,
            });
        } else if let Some((disk, disk_dev, start, end)) = &in_disk
            && l.block == Some(*disk_dev)
            && l.offset < *end
            && (l.sizelimit == 0 || l.offset.saturating_add(l.sizelimit) > *start)
        {
            uses.push(Use::LoopBacking {
                device: Some(format!("its disk {disk}")),
                loop_device: l.name.clone(),
                offset: l.offset,
            });
        }
    }
    let swaps = fs::read_to_string(&host.swaps).unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let Some(p) = line.split_whitespace().next() else {
            continue;
        };
        let Ok(m) = fs::metadata(unescape(p)) else {
            continue;
        };
        if !m.file_type().is_block_device() {
            continue;
        }
        let sd = split_dev(m.rdev());
        if let Some((n, _, _)) = all.iter().find(|(_, d, _)| *d == sd) {
            uses.push(Use::Swap { device: n.clone() });
        }
    }
    let info = DeviceInfo {
        name,
        dev,
        model,
        sector_size,
        read_only,
        partitions: parts.into_iter().map(|(n, _, _)| n).collect(),
    };
    (info, uses)
}

/// The model of the disk at sysfs `dir`: vendor and model, or a loop device's backing file.
fn model(dir: &Path) -> Option<String> {
    let read = |p: PathBuf| {
        fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    if let Some(backing) = read(dir.join("loop/backing_file")) {
        return Some(format!("loop device backed by {backing}"));
    }
    let model = read(dir.join("device/model"));
    let vendor = read(dir.join("device/vendor"));
    match (vendor, model) {
        (Some(v), Some(m)) => Some(format!("{v} {m}")),
        (None, Some(m)) => Some(m),
        (Some(v), None) => Some(v),
        (None, None) => None,
    }
}

/// Mount points in mountinfo `text` whose device number is `dev` (field 3, `major:minor`).
pub(crate) fn mountpoints_of(text: &str, dev: (u32, u32)) -> Vec<PathBuf> {
    let want = format!("{}:{}", dev.0, dev.1);
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (_, _, majmin, _, mp) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            (majmin == want).then(|| PathBuf::from(unescape(mp)))
        })
        .collect()
}

/// A loop device and what backs it, from `/sys/block/loop*/loop/`.
#[derive(Debug, Clone)]
struct LoopDevice {
    /// Kernel name (`loop3`).
    name: String,
    /// `backing_file` as the kernel prints it.
    backing: String,
    /// Offset into the backing, in bytes.
    offset: u64,
    /// Bytes of the backing it maps; 0: up to the end.
    sizelimit: u64,
    /// Device number of a block-device backing.
    block: Option<(u32, u32)>,
    /// Device and inode of a regular-file backing.
    file: Option<(u64, u64)>,
}

/// Every configured loop device, by name.
fn loop_devices(host: &Host) -> Vec<LoopDevice> {
    let Ok(rd) = fs::read_dir(host.sys.join("block")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd.flatten().filter_map(|e| file_name(&e.path())).collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let dir = host.sys.join("block").join(&name).join("loop");
            let backing = fs::read_to_string(dir.join("backing_file")).ok()?;
            let backing = backing.trim_end_matches('\n').to_owned();
            let number = |f: &str| -> u64 {
                fs::read_to_string(dir.join(f))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            };
            let (offset, sizelimit) = (number("offset"), number("sizelimit"));
            let meta = fs::metadata(&backing).ok();
            let block = meta
                .as_ref()
                .filter(|m| m.file_type().is_block_device())
                .map(|m| split_dev(m.rdev()));
            let file = meta
                .as_ref()
                .filter(|m| m.is_file())
                .map(|m| (m.dev(), m.ino()));
            Some(LoopDevice {
                name,
                backing,
                offset,
                sizelimit,
                block,
                file,
            })
        })
        .collect()
}

/// Loop devices backed by the regular file at `path` with device and inode `id`: by inode, so that
/// another name of the file counts, or by name when the backing cannot be looked up.
fn loop_backing_uses(loops: &[LoopDevice], path: &Path, id: (u64, u64)) -> Vec<Use> {
    let canonical = fs::canonicalize(path).ok();
    loops
        .iter()
        .filter(|l| {
            l.file == Some(id)
                || (l.file.is_none() && canonical.as_deref() == Some(Path::new(&l.backing)))
        })
        .map(|l| Use::LoopBacking {
            device: None,
            loop_device: l.name.clone(),
            offset: l.offset,
        })
        .collect()
}

/// Swap files in `/proc/swaps` that are the file with device and inode `id`.
fn swap_file_uses(host: &Host, id: (u64, u64)) -> Vec<Use> {
    let swaps = fs::read_to_string(&host.swaps).unwrap_or_default();
    swaps
        .lines()
        .skip(1)
        .filter_map(|line| {
            let p = unescape(line.split_whitespace().next()?);
            let m = fs::metadata(&p).ok()?;
            (m.is_file() && (m.dev(), m.ino()) == id).then_some(Use::Swap { device: p })
        })
        .collect()
}

fn read_dev(dir: &Path) -> Option<(u32, u32)> {
    let s = fs::read_to_string(dir.join("dev")).ok()?;
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn file_name(p: &Path) -> Option<String> {
    p.file_name().and_then(|n| n.to_str()).map(str::to_owned)
}

/// Major and minor of a `dev_t`, as glibc's `gnu_dev_major`/`gnu_dev_minor` split it.
pub(crate) fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

/// The backing file (as the kernel prints it) and the offset of a bound loop device such as
/// `/dev/loop3`, from sysfs; `None` when it is not bound.
pub fn loop_backing(device: &Path) -> Option<(PathBuf, u64)> {
    let name = file_name(device)?;
    loop_devices(&Host::default())
        .into_iter()
        .find(|l| l.name == name)
        .map(|l| (PathBuf::from(l.backing), l.offset))
}

/// Undoes the kernel's octal escapes in mountinfo and swaps (`\040` for a space…).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b.get(i + 1..i + 4) {
            Some(d) if b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mountinfo_matches_by_device_number_and_unescapes() {
        let text = "36 25 7:3 / /mnt/a\\040b rw,relatime shared:1 - ext4 /dev/loop3 rw\n\
                    37 25 7:30 / /other rw - ext4 /dev/loop30 rw\n\
                    38 25 7:3 /sub /bind rw - ext4 /dev/loop3 rw\n";
        assert_eq!(
            mountpoints_of(text, (7, 3)),
            [PathBuf::from("/mnt/a b"), PathBuf::from("/bind")]
        );
        assert!(mountpoints_of(text, (7, 4)).is_empty());
    }

    #[test]
    fn dev_t_split_matches_glibc() {
        // makedev(259, 70000) as glibc encodes it.
        let (ma, mi) = (259u64, 70000u64);
        let dev = ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12);
        assert_eq!(split_dev(dev), (259, 70000));
    }

    /// A fake sysfs: disk `vdz` (250:0) with partition `vdz1` (250:1) held by `dm-7`, and a
    /// mountinfo that mounts the partition.
    #[test]
    fn partitions_holders_and_mounts_of_a_fake_sysfs() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys");
        let disk = sys.join("devices/virtual/block/vdz");
        fs::create_dir_all(disk.join("vdz1/holders/dm-7")).unwrap();
        fs::create_dir_all(disk.join("device")).unwrap();
        fs::create_dir_all(disk.join("holders")).unwrap();
        fs::write(disk.join("device/model"), "QEMU HARDDISK   \n").unwrap();
        fs::write(disk.join("device/vendor"), "ATA\n").unwrap();
        fs::write(disk.join("dev"), "250:0\n").unwrap();
        fs::write(disk.join("vdz1/dev"), "250:1\n").unwrap();
        fs::write(disk.join("vdz1/partition"), "1\n").unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        std::os::unix::fs::symlink(&disk, sys.join("dev/block/250:0")).unwrap();
        let mountinfo = t.path().join("mountinfo");
        fs::write(&mountinfo, "40 1 250:1 / /srv/data rw - xfs /dev/vdz1 rw\n").unwrap();
        let host = Host {
            sys,
            mountinfo,
            swaps: t.path().join("swaps"),
        };
        let (info, uses) = device_facts(&host, (250, 0), 512, false);
        assert_eq!(info.name, "vdz");
        assert_eq!(info.model.as_deref(), Some("ATA QEMU HARDDISK"));
        assert_eq!(info.partitions, ["vdz1"]);
        assert_eq!(
            uses,
            [
                Use::Mounted {
                    device: "vdz1".into(),
                    mountpoint: "/srv/data".into()
                },
                Use::Held {
                    device: "vdz1".into(),
                    holder: "dm-7".into()
                }
            ]
        );
        let target = TargetInfo {
            path: "/dev/vdz".into(),
            kind: Kind::BlockDevice,
            size: 1 << 30,
            device: Some(info),
            uses,
        };
        let e = target.check(1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/vdz is in use: vdz1 is mounted on /srv/data"
        );
        let held = TargetInfo {
            uses: target.uses[1..].to_vec(),
            ..target.clone()
        };
        assert_eq!(
            held.check(1 << 20).unwrap_err().to_string(),
            "/dev/vdz is in use: vdz1 is held by dm-7"
        );
        let free = TargetInfo {
            uses: Vec::new(),
            ..target
        };
        free.check(1 << 30).unwrap();
        assert_eq!(
            free.check((1 << 30) + 512).unwrap_err().to_string(),
            "/dev/vdz is too small: it holds 1073741824 bytes, the disk needs 1073742336 bytes (512 more)"
        );
    }

    /// A fake sysfs under `root` with disk `vdz` (250:0) and its partition `vdz1` (250:1) at bytes
    /// 1 MiB to 3 MiB, plus a real device node at `root/NAME` for `NAME` (`vdz` or `vdz1`), which
    /// loop devices can name as their backing; `None` (test skipped) when mknod is not allowed.
    fn fake_disk_with_node(root: &Path, name: &str) -> Option<(Host, PathBuf)> {
        let node = root.join(name);
        let minor = if name == "vdz1" { "1" } else { "0" };
        let made = std::process::Command::new("mknod")
            .arg(&node)
            .args(["b", "250", minor])
            .output();
        if !made.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: cannot mknod (not root)");
            return None;
        }
        let sys = root.join("sys");
        let disk = sys.join("devices/virtual/block/vdz");
        fs::create_dir_all(disk.join("vdz1")).unwrap();
        fs::write(disk.join("dev"), "250:0\n").unwrap();
        fs::write(disk.join("vdz1/dev"), "250:1\n").unwrap();
        fs::write(disk.join("vdz1/partition"), "1\n").unwrap();
        fs::write(disk.join("vdz1/start"), "2048\n").unwrap();
        fs::write(disk.join("vdz1/size"), "4096\n").unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        std::os::unix::fs::symlink(&disk, sys.join("dev/block/250:0")).unwrap();
        std::os::unix::fs::symlink(disk.join("vdz1"), sys.join("dev/block/250:1")).unwrap();
        let host = Host {
            sys,
            mountinfo: root.join("mountinfo"),
            swaps: root.join("swaps"),
        };
        Some((host, node))
    }

    /// Adds a loop device `name` over `backing` at `offset` for `sizelimit` bytes to a fake sysfs.
    fn fake_loop(host: &Host, name: &str, backing: &Path, offset: u64, sizelimit: u64) {
        let lp = host.sys.join("block").join(name).join("loop");
        fs::create_dir_all(&lp).unwrap();
        fs::write(lp.join("backing_file"), format!("{}\n", backing.display())).unwrap();
        fs::write(lp.join("offset"), format!("{offset}\n")).unwrap();
        fs::write(lp.join("sizelimit"), format!("{sizelimit}\n")).unwrap();
    }

    /// Loop devices do not show among the holders: one backed by a partition of the target (here
    /// through a device node made for the fake partition 250:1) is found from its backing file.
    /// Real partitions of loop devices do not appear in every container, hence the fake sysfs.
    #[test]
    fn issue10_item6_loop_over_a_partition_of_the_target() {
        let t = tempfile::tempdir().unwrap();
        let Some((host, node)) = fake_disk_with_node(t.path(), "vdz1") else {
            return;
        };
        fake_loop(&host, "loop9", &node, 1 << 20, 0);
        let (_, uses) = device_facts(&host, (250, 0), 512, false);
        assert_eq!(
            uses,
            [Use::LoopBacking {
                device: Some("vdz1".into()),
                loop_device: "loop9".into(),
                offset: 1 << 20,
            }]
        );
    }

    /// `pverescue mount DISK` backs its loop device by the whole disk with an offset: a target
    /// that is one of the disk's partitions is in use when that range overlaps it.
    #[test]
    fn issue10_item6_loop_over_the_disk_of_a_partition_target() {
        let t = tempfile::tempdir().unwrap();
        let Some((host, node)) = fake_disk_with_node(t.path(), "vdz") else {
            return;
        };
        // Before, overlapping, after, and to the end from before: the partition is 1 to 3 MiB.
        fake_loop(&host, "loop6", &node, 0, 1 << 20);
        fake_loop(&host, "loop7", &node, 2 << 20, 64 << 10);
        fake_loop(&host, "loop8", &node, 3 << 20, 0);
        fake_loop(&host, "loop9", &node, 0, 0);
        let (info, uses) = device_facts(&host, (250, 1), 512, false);
        assert_eq!(info.name, "vdz1");
        let on_disk = |loop_device: &str, offset| Use::LoopBacking {
            device: Some("its disk vdz".into()),
            loop_device: loop_device.into(),
            offset,
        };
        assert_eq!(uses, [on_disk("loop7", 2 << 20), on_disk("loop9", 0)]);
    }
}
