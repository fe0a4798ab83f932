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
    fn attach(image: &Path) -> LoopDisk {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
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
            loop_device: d.name.clone()
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
    let ok = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .unwrap();
    assert!(ok.success());
    let disk = LoopDisk::attach(&img);
    let mp = t.path().join("mnt");
    std::fs::create_dir(&mp).unwrap();
    let ok = Command::new("mount")
        .args(["-o", "ro"])
        .arg(&disk.dev)
        .arg(&mp)
        .status()
        .unwrap();
    assert!(ok.success());
    let guard = Mounted(mp.clone());
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
