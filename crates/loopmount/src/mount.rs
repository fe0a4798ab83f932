//! Mounting a loop device, the guard that releases it, and unmounting by mount point.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::loopdev::{AttachOptions, LoopDevice};
use crate::registry::{self, Registry};
use crate::sys;

/// Read-only (the default) or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Read-only loop device and mount, with the options that stop journal replay.
    #[default]
    ReadOnly,
    /// Read-write loop device and mount: the image may change.
    ReadWrite,
}

/// What to mount: a byte range of an image with a filesystem type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Byte offset of the filesystem in the image.
    pub offset: u64,
    /// Size in bytes (0: to the end of the image).
    pub size: u64,
    /// Filesystem type for mount(2) (`ext4`, `xfs`, `btrfs`...).
    pub fstype: String,
    /// Read-only or read-write.
    pub access: Access,
    /// Extra mount options, appended to the ones this crate adds.
    pub options: Vec<String>,
}

impl MountSpec {
    /// A read-only mount of `size` bytes at `offset` as `fstype`.
    pub fn read_only(offset: u64, size: u64, fstype: &str) -> Self {
        MountSpec {
            offset,
            size,
            fstype: fstype.into(),
            access: Access::ReadOnly,
            options: Vec::new(),
        }
    }

    /// The option string passed to mount(2).
    pub fn option_string(&self) -> String {
        let mut opts: Vec<String> = match self.access {
            Access::ReadOnly => read_only_options(&self.fstype)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Access::ReadWrite => Vec::new(),
        };
        opts.extend(self.options.iter().cloned());
        opts.join(",")
    }
}

/// The options that keep a read-only mount from writing to the image (journal/log replay).
pub fn read_only_options(fstype: &str) -> &'static [&'static str] {
    match fstype {
        "ext3" | "ext4" => &["noload"],
        "xfs" => &["norecovery"],
        "btrfs" => &["rescue=nologreplay"],
        _ => &[],
    }
}

/// A mounted filesystem on its own loop device; unmounted and detached on drop.
#[derive(Debug)]
pub struct Mount {
    device: Option<LoopDevice>,
    device_path: PathBuf,
    mountpoint: PathBuf,
    fstype: String,
    mounted: bool,
}

/// Attaches `spec`'s range of `image` to a loop device and mounts it on `mountpoint`.
///
/// Read-only by default: the loop device is read-only, the mount has `MS_RDONLY` and the
/// filesystem's no-replay option (see [`read_only_options`]). On any error, everything attached
/// so far is released before returning.
pub fn mount_image(image: &Path, spec: &MountSpec, mountpoint: &Path) -> Result<Mount> {
    check_fs_available(&spec.fstype)?;
    let mp = std::fs::canonicalize(mountpoint)
        .map_err(|e| Error::from_io("mount point", mountpoint, e))?;
    if !mp.is_dir() {
        return Err(Error::NotADirectory { path: mp });
    }
    let read_only = spec.access == Access::ReadOnly;
    let attach = AttachOptions {
        offset: spec.offset,
        size_limit: spec.size,
        read_only,
        autoclear: true,
    };
    let options = spec.option_string();
    let flags = if read_only { sys::MS_RDONLY } else { 0 };
    // Hold the registry across attach and mount so a signal's cleanup sees either nothing or
    // the complete mount.
    let mut reg = registry::lock();
    let mut dev = LoopDevice::attach_locked(&mut reg, image, &attach)?;
    let device_path = dev.path().to_path_buf();
    let r = sys::mount(
        &device_path.to_string_lossy(),
        &mp.to_string_lossy(),
        &spec.fstype,
        flags,
        &options,
    );
    if let Err(e) = r {
        let _ = dev.detach_locked(&mut reg);
        return Err(match e.raw_os_error() {
            Some(libc::ENODEV) => Error::FsNotInKernel {
                fstype: spec.fstype.clone(),
            },
            Some(libc::EPERM | libc::EACCES) => Error::NotRoot { op: "mount" },
            _ => Error::Mount {
                device: device_path,
                mountpoint: mp,
                fstype: spec.fstype.clone(),
                options,
                source: e,
            },
        });
    }
    reg.set_mountpoint(dev.id(), Some(mp.clone()));
    Ok(Mount {
        device: Some(dev),
        device_path,
        mountpoint: mp,
        fstype: spec.fstype.clone(),
        mounted: true,
    })
}

impl Mount {
    /// The mount point (absolute).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The loop device (`/dev/loopN`).
    pub fn device(&self) -> &Path {
        &self.device_path
    }

    /// The filesystem type.
    pub fn fstype(&self) -> &str {
        &self.fstype
    }

    /// Unmounts and detaches now, reporting errors (drop does the same, lazily if busy).
    pub fn unmount(mut self) -> Result<()> {
        let mut reg = registry::lock();
        self.release_locked(&mut reg, false)
    }

    /// Leaves the filesystem mounted after this guard (and the process) goes away; returns the
    /// mount point and device. The loop device detaches itself when it is unmounted later (for
    /// example by [`unmount`]).
    pub fn keep(mut self) -> (PathBuf, PathBuf) {
        let mut reg = registry::lock();
        if let Some(dev) = self.device.as_mut() {
            dev.release_handle(&mut reg);
        }
        self.device = None;
        self.mounted = false;
        (self.mountpoint.clone(), self.device_path.clone())
    }

    fn release_locked(&mut self, reg: &mut Registry, lazy_if_busy: bool) -> Result<()> {
        if self.mounted {
            let mp = self.mountpoint.to_string_lossy().into_owned();
            match sys::umount(&mp, 0) {
                Ok(()) => {}
                Err(e) if lazy_if_busy && e.raw_os_error() == Some(libc::EBUSY) => {
                    sys::umount(&mp, sys::MNT_DETACH).map_err(|source| Error::Unmount {
                        mountpoint: self.mountpoint.clone(),
                        source,
                    })?;
                }
                Err(source) => {
                    return Err(Error::Unmount {
                        mountpoint: self.mountpoint.clone(),
                        source,
                    });
                }
            }
            self.mounted = false;
        }
        match self.device.take() {
            Some(mut dev) => dev.detach_locked(reg),
            None => Ok(()),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted || self.device.is_some() {
            let mut reg = registry::lock();
            let _ = self.release_locked(&mut reg, true);
        }
    }
}

/// Fails with [`Error::FsNotInKernel`] when `fstype` is neither registered in
/// `/proc/filesystems` nor loadable (no module directory for the running kernel).
pub fn check_fs_available(fstype: &str) -> Result<()> {
    let Ok(list) = std::fs::read_to_string("/proc/filesystems") else {
        return Ok(());
    };
    if list
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fstype))
    {
        return Ok(());
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if Path::new("/lib/modules").join(release.trim()).is_dir() {
        return Ok(()); // The kernel may load a module for it on mount.
    }
    Err(Error::FsNotInKernel {
        fstype: fstype.into(),
    })
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// Per-mount options (`ro,relatime`...).
    pub options: String,
    /// Filesystem type.
    pub fstype: String,
    /// Source device or name.
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

/// The mount table of this process's namespace.
pub fn mounts() -> Result<Vec<MountInfo>> {
    let path = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(path).map_err(|e| Error::from_io("read", path, e))?;
    Ok(text.lines().filter_map(parse_mountinfo_line).collect())
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (before, after) = line.split_once(" - ")?;
    let f: Vec<&str> = before.split(' ').collect();
    let a: Vec<&str> = after.split(' ').collect();
    Some(MountInfo {
        mountpoint: PathBuf::from(unescape(f.get(4)?)),
        options: f.get(5)?.to_string(),
        fstype: a.first()?.to_string(),
        source: unescape(a.get(1)?),
        super_options: a.get(2).unwrap_or(&"").to_string(),
    })
}

pub use blockdev::loop_backing;
use blockdev::unescape;

/// What [`unmount`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmounted {
    /// The mount point.
    pub mountpoint: PathBuf,
    /// The loop device that was mounted there, if it was one.
    pub device: Option<PathBuf>,
    /// True when the loop device is no longer bound.
    pub detached: bool,
}

/// Unmounts whatever is mounted at `mountpoint` and releases its loop device (found through
/// `/proc/self/mountinfo` and `/sys/block/loopN/loop`), unless another mount still uses it.
pub fn unmount(mountpoint: &Path) -> Result<Unmounted> {
    let mp = std::fs::canonicalize(mountpoint)
        .map_err(|e| Error::from_io("mount point", mountpoint, e))?;
    let entry = mounts()?
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == mp)
        .ok_or_else(|| Error::NotMounted { path: mp.clone() })?;
    let device = Some(PathBuf::from(&entry.source)).filter(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("loop"))
    });
    let before = device.as_deref().and_then(loop_backing);
    let _reg = registry::lock();
    sys::umount(&mp.to_string_lossy(), 0).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => Error::NotRoot { op: "umount" },
        Some(libc::EINVAL) => Error::NotMounted { path: mp.clone() },
        _ => Error::Unmount {
            mountpoint: mp.clone(),
            source: e,
        },
    })?;
    let Some(dev) = device else {
        return Ok(Unmounted {
            mountpoint: mp,
            device: None,
            detached: false,
        });
    };
    let still_used = mounts()?.iter().any(|m| Path::new(&m.source) == dev);
    if !still_used && before.is_some() && loop_backing(&dev) == before {
        // Not autoclear (or not yet cleared): detach it ourselves, as it is still bound to the
        // same file and offset as before the unmount.
        if let Ok(f) = std::fs::File::open(&dev) {
            let _ = sys::clr_fd(&f);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !still_used && loop_backing(&dev).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let detached = loop_backing(&dev).is_none();
    Ok(Unmounted {
        mountpoint: mp,
        device: Some(dev),
        detached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let line =
            "36 35 7:3 / /mnt/with\\040space ro,relatime shared:1 - ext4 /dev/loop3 ro,norecovery";
        let m = parse_mountinfo_line(line).expect("parse");
        assert_eq!(m.mountpoint, Path::new("/mnt/with space"));
        assert_eq!(
            (m.fstype.as_str(), m.source.as_str()),
            ("ext4", "/dev/loop3")
        );
        assert_eq!(m.options, "ro,relatime");
    }

    #[test]
    fn read_only_options_per_fs() {
        assert_eq!(MountSpec::read_only(0, 0, "ext4").option_string(), "noload");
        let mut s = MountSpec::read_only(0, 0, "btrfs");
        s.options.push("subvol=@".into());
        assert_eq!(s.option_string(), "rescue=nologreplay,subvol=@");
        s.access = Access::ReadWrite;
        assert_eq!(s.option_string(), "subvol=@");
    }
}
