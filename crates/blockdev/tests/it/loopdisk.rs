//! A loop device as a disk: inspect, zero out, and refusal while mounted or backing a loop.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use blockdev::{Error, Kind, Use, inspect};

/// Returns from the test, recording the skip (`testimg::skip`: a failure under
/// `PVERESCUE_REQUIRE_PRIVILEGED=1`), without root, loop devices or `losetup`.
macro_rules! require_root {
    ($test:literal) => {
        if !testimg::privileged($test) {
            return;
        }
        if Command::new("losetup").arg("--version").output().is_err() {
            testimg::skip($test, "losetup is not installed (Debian package mount)");
            return;
        }
    };
}

/// A loop device over a file, detached on drop.
struct LoopDisk {
    dev: PathBuf,
}

impl LoopDisk {
    /// Kernel name (`loop3`).
    fn name(&self) -> String {
        self.dev.file_name().unwrap().to_str().unwrap().to_owned()
    }

    fn attach(image: &Path) -> LoopDisk {
        LoopDisk::attach_with(image, &[])
    }

    /// Attaches with extra `losetup` options (`-o OFFSET`, `--sizelimit N`, `-P`).
    fn attach_with(image: &Path, opts: &[&str]) -> LoopDisk {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .args(opts)
            .arg(image)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDisk {
            dev: PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
        }
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// Unmounts on drop.
struct Mounted(PathBuf);

impl Mounted {
    /// Mounts `dev` read-only on `mp`.
    fn read_only(dev: &Path, mp: PathBuf) -> Mounted {
        let ok = Command::new("mount")
            .args(["-o", "ro"])
            .arg(dev)
            .arg(&mp)
            .status()
            .unwrap();
        assert!(ok.success());
        Mounted(mp)
    }
}

/// Whether `mkfs.ext4` is there; says why the test is skipped when not.
fn has_mkfs_ext4(test: &str) -> bool {
    let there = Command::new("mkfs.ext4").arg("-V").output().is_ok();
    if !there {
        testimg::skip(
            test,
            "mkfs.ext4 is not installed (Debian package e2fsprogs)",
        );
    }
    there
}

fn mkfs_ext4(path: &Path) {
    let ok = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn image(dir: &Path, size: u64, fill: u8) -> PathBuf {
    let p = dir.join("disk.img");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(&vec![fill; usize::try_from(size).unwrap()])
        .unwrap();
    p
}

#[test]
fn a_loop_device_is_a_block_device_with_size_and_backing_model() {
    require_root!("a_loop_device_is_a_block_device_with_size_and_backing_model");
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 4 << 20, 0x5A);
    let disk = LoopDisk::attach(&img);
    let info = inspect(&disk.dev).unwrap();
    assert_eq!(info.kind, Kind::BlockDevice);
    assert_eq!(info.size, 4 << 20);
    let d = info.device.as_ref().unwrap();
    assert_eq!(
        Some(d.name.as_str()),
        disk.dev.file_name().and_then(|n| n.to_str())
    );
    let canon = std::fs::canonicalize(&img).unwrap();
    assert_eq!(
        d.model.as_deref(),
        Some(format!("loop device backed by {}", canon.display()).as_str())
    );
    assert_eq!(d.sector_size, 512);
    assert!(info.uses.is_empty(), "{:?}", info.uses);
    info.check(4 << 20).unwrap();
    let e = info.check((4 << 20) + 4096).unwrap_err();
    assert!(
        matches!(e, Error::TooSmall { size, needed, .. } if size == 4 << 20 && needed == (4 << 20) + 4096)
    );
    assert!(
        info.describe().contains("4194304 bytes"),
        "{}",
        info.describe()
    );

    // The image file now backs a loop device: refused as a target.
    let file_info = inspect(&img).unwrap();
    assert_eq!(file_info.kind, Kind::RegularFile);
    assert_eq!(
        file_info.uses,
        [Use::LoopBacking {
            device: None,
            loop_device: d.name.clone(),
            offset: 0,
        }]
    );
    assert!(matches!(
        file_info.check(1).unwrap_err(),
        Error::LoopBacking { .. }
    ));
}

#[test]
fn zero_out_zeroes_exactly_the_range() {
    require_root!("zero_out_zeroes_exactly_the_range");
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 1 << 20, 0xFF);
    let disk = LoopDisk::attach(&img);
    let mut f = blockdev::open_exclusive(&disk.dev).unwrap();
    assert_eq!(blockdev::device_size(&f).unwrap(), 1 << 20);
    assert!(blockdev::zero_out(&f, 65536, 131072).unwrap());
    // Unaligned: not available, the caller writes zeros itself.
    assert!(!blockdev::zero_out(&f, 1, 511).unwrap());
    blockdev::flush_buffers(&f).unwrap();
    let mut all = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut all).unwrap();
    assert!(all[..65536].iter().all(|&b| b == 0xFF));
    assert!(all[65536..196608].iter().all(|&b| b == 0));
    assert!(all[196608..].iter().all(|&b| b == 0xFF));
    drop(f);
    drop(disk);
    // The backing file carries the zeros too.
    let back = std::fs::read(&img).unwrap();
    assert_eq!(back, all);
}

#[test]
fn a_mounted_device_is_refused_with_its_mount_point() {
    require_root!("a_mounted_device_is_refused_with_its_mount_point");
    if Command::new("mkfs.ext4").arg("-V").output().is_err() {
        testimg::skip(
            "a_mounted_device_is_refused_with_its_mount_point",
            "mkfs.ext4 is not installed (Debian package e2fsprogs)",
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 8 << 20, 0);
    mkfs_ext4(&img);
    let disk = LoopDisk::attach(&img);
    let mp = t.path().join("mnt");
    std::fs::create_dir(&mp).unwrap();
    let guard = Mounted::read_only(&disk.dev, mp.clone());
    let info = inspect(&disk.dev).unwrap();
    let e = info.check(1 << 20).unwrap_err();
    match &e {
        Error::Mounted { mountpoint, .. } => {
            assert_eq!(mountpoint, &std::fs::canonicalize(&mp).unwrap())
        }
        other => panic!("expected Mounted, got {other}"),
    }
    assert!(e.hint().unwrap().contains("unmount"));
    // The kernel agrees: an exclusive open is refused.
    assert!(matches!(
        blockdev::open_exclusive(&disk.dev).unwrap_err(),
        Error::Busy { .. }
    ));
    drop(guard);
    drop(disk);
}

#[test]
fn directories_and_character_devices_are_refused() {
    let e = inspect(Path::new("/dev/null")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/null is a character device, not a block device or a regular file"
    );
    let t = tempfile::tempdir().unwrap();
    assert!(matches!(
        inspect(t.path()).unwrap_err(),
        Error::Unsupported {
            kind: "directory",
            ..
        }
    ));
}

/// `pverescue mount` maps a partition as a loop device with an offset, backed by the disk: the
/// kernel lists it neither as a holder of the disk nor refuses an exclusive open of the disk.
#[test]
fn issue10_item6_offset_loop_over_the_target_device_is_refused() {
    require_root!("issue10_item6_offset_loop_over_the_target_device_is_refused");
    if !has_mkfs_ext4("issue10_item6_offset_loop_over_the_target_device_is_refused") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 16 << 20, 0);
    let disk = LoopDisk::attach(&img);
    let part = LoopDisk::attach_with(&disk.dev, &["-o", "1048576", "--sizelimit", "8388608"]);
    mkfs_ext4(&part.dev);
    let mp = t.path().join("mnt");
    std::fs::create_dir(&mp).unwrap();
    let guard = Mounted::read_only(&part.dev, mp);
    // What the kernel offers does not protect the disk.
    drop(blockdev::open_exclusive(&disk.dev).unwrap());
    let info = inspect(&disk.dev).unwrap();
    assert_eq!(
        info.uses,
        [Use::LoopBacking {
            device: Some(disk.name()),
            loop_device: part.name(),
            offset: 1 << 20,
        }]
    );
    let e = info.check(1 << 20).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} is in use: {} backs the loop device {} from offset 1048576",
            disk.dev.display(),
            disk.name(),
            part.name()
        )
    );
    assert!(e.hint().unwrap().contains("losetup -d"), "{:?}", e.hint());
    drop(guard);
    drop(part);
    // The kernel lets go of a loop device a moment after its last user does.
    testimg::wait_for(
        "free",
        || inspect(&disk.dev).unwrap().check(1 << 20).is_ok(),
        || format!("{:?}", inspect(&disk.dev).unwrap().check(1 << 20)),
    );
}

#[test]
fn issue10_item6_loop_target_whose_backing_file_backs_another_loop_is_refused() {
    require_root!("issue10_item6_loop_target_whose_backing_file_backs_another_loop_is_refused");
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 8 << 20, 0);
    let disk = LoopDisk::attach(&img);
    let part = LoopDisk::attach_with(&img, &["-o", "2097152"]);
    let info = inspect(&disk.dev).unwrap();
    let canon = std::fs::canonicalize(&img).unwrap();
    assert_eq!(
        info.check(1).unwrap_err().to_string(),
        format!(
            "{} is in use: its backing file {} backs the loop device {} from offset 2097152",
            disk.dev.display(),
            canon.display(),
            part.name()
        )
    );
    // The second loop device, seen as a target, is refused for the first one as well.
    let other = inspect(&part.dev).unwrap();
    assert!(
        matches!(&other.uses[..], [Use::LoopBacking { loop_device, offset: 0, .. }] if *loop_device == disk.name()),
        "{:?}",
        other.uses
    );
}

#[test]
fn issue10_item6_image_file_behind_an_offset_loop_under_another_name_is_refused() {
    require_root!("issue10_item6_image_file_behind_an_offset_loop_under_another_name_is_refused");
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 4 << 20, 0);
    let disk = LoopDisk::attach_with(&img, &["-o", "1048576"]);
    // The same file under another name: matched by inode, not by the loop device's path.
    let alias = t.path().join("alias.img");
    std::fs::hard_link(&img, &alias).unwrap();
    for target in [&img, &alias] {
        let info = inspect(target).unwrap();
        assert_eq!(
            info.uses,
            [Use::LoopBacking {
                device: None,
                loop_device: disk.name(),
                offset: 1 << 20,
            }],
            "{}",
            target.display()
        );
        assert_eq!(
            info.check(1).unwrap_err().to_string(),
            format!(
                "{} is in use: it backs the loop device {} from offset 1048576",
                target.display(),
                disk.name()
            )
        );
    }
}

/// Turns swap off on drop.
struct SwapOn(PathBuf);

impl Drop for SwapOn {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0).status();
    }
}

#[test]
fn issue10_item6_active_swap_file_is_refused() {
    require_root!("issue10_item6_active_swap_file_is_refused");
    let t = tempfile::tempdir_in("/var/tmp").unwrap();
    let file = t.path().join("swapfile");
    image(t.path(), 4 << 20, 0);
    std::fs::rename(t.path().join("disk.img"), &file).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let ok = Command::new("mkswap").arg(&file).output().unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let on = Command::new("swapon").arg(&file).output().unwrap();
    if !on.status.success() {
        // Swap files need a file system that supports them (not overlayfs or tmpfs) and a kernel
        // that allows swap here (not in every container).
        eprintln!(
            "skipped: swapon refused: {}",
            String::from_utf8_lossy(&on.stderr).trim()
        );
        return;
    }
    let guard = SwapOn(file.clone());
    let info = inspect(&file).unwrap();
    assert_eq!(
        info.uses,
        [Use::Swap {
            device: file.display().to_string()
        }]
    );
    drop(guard);
}

#[test]
fn active_swap_on_the_target_device_is_refused() {
    require_root!("active_swap_on_the_target_device_is_refused");
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path(), 4 << 20, 0);
    let disk = LoopDisk::attach(&img);
    let ok = Command::new("mkswap").arg(&disk.dev).output().unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let on = Command::new("swapon").arg(&disk.dev).output().unwrap();
    assert!(on.status.success(), "{on:?}");
    let guard = SwapOn(disk.dev.clone());
    let info = inspect(&disk.dev).unwrap();
    assert_eq!(
        info.uses,
        [Use::Swap {
            device: disk.name()
        }]
    );
    assert_eq!(
        info.check(1).unwrap_err().to_string(),
        format!(
            "{} is in use: {} is active swap",
            disk.dev.display(),
            disk.name()
        )
    );
    // The image file behind it is in use through the loop device.
    assert!(matches!(
        &inspect(&img).unwrap().uses[..],
        [Use::LoopBacking { device: None, .. }]
    ));
    drop(guard);
}
