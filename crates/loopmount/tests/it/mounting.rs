//! Mounting ext4, btrfs and xfs partitions by offset, read-only and read-write.

use loopmount::{Access, AttachOptions, LoopDevice, MountSpec, mount_image};

use crate::tools::*;

#[test]
fn ext4_and_btrfs_read_only_by_offset_leave_the_image_untouched() {
    if !privileged("ext4_and_btrfs_read_only_by_offset_leave_the_image_untouched") {
        return;
    }
    let img = Image::new(false);
    let before = sha256(&img.path);
    for (i, fstype, opt) in [(0, "ext4", "norecovery"), (1, "btrfs", "nologreplay")] {
        let (offset, size) = img.parts[i];
        let mp = img.mountpoint(fstype);
        let m = mount_image(&img.path, &MountSpec::read_only(offset, size, fstype), &mp)
            .unwrap_or_else(|e| panic!("mount {fstype}: {e} ({:?})", e.hint()));
        assert_eq!(
            std::fs::read_to_string(mp.join("hello.txt")).expect("read"),
            HELLO
        );
        let (ty, options) = findmnt(&mp).expect("mounted");
        assert_eq!(ty, fstype);
        assert!(options.split(',').any(|o| o == "ro"), "{options}");
        let (lo_off, lo_size, ro, back) = losetup_info(m.device());
        assert_eq!((lo_off, lo_size, ro), (offset, size, true));
        assert_eq!(back, img.path.to_str().expect("utf-8"));
        assert!(
            std::fs::write(mp.join("new"), "x").is_err(),
            "a read-only mount accepted a write"
        );
        assert!(
            options.contains(opt),
            "{fstype}: no-replay option missing in {options}"
        );
        m.unmount().expect("unmount");
        assert!(findmnt(&mp).is_none());
        assert_no_loop_for(&img.path);
    }
    assert_eq!(
        sha256(&img.path),
        before,
        "the image changed under read-only mounts"
    );
}

#[test]
fn xfs_read_write_then_read_only() {
    if !privileged("xfs_read_write_then_read_only") {
        return;
    }
    let img = Image::new(true);
    let (offset, size) = img.parts[2];
    let mp = img.mountpoint("xfs");
    let mut spec = MountSpec::read_only(offset, size, "xfs");
    spec.access = Access::ReadWrite;
    let m = mount_image(&img.path, &spec, &mp).expect("rw mount");
    assert!(
        !losetup_info(m.device()).2,
        "the loop device must be writable"
    );
    std::fs::write(mp.join("written.txt"), HELLO).expect("write in rw mode");
    m.unmount().expect("unmount");
    assert_no_loop_for(&img.path);

    let before = sha256(&img.path);
    let m =
        mount_image(&img.path, &MountSpec::read_only(offset, size, "xfs"), &mp).expect("ro mount");
    assert_eq!(
        std::fs::read_to_string(mp.join("written.txt")).expect("read"),
        HELLO
    );
    let (_, options) = findmnt(&mp).expect("mounted");
    assert!(options.contains("norecovery"), "{options}");
    drop(m);
    assert!(findmnt(&mp).is_none(), "drop must unmount");
    assert_no_loop_for(&img.path);
    assert_eq!(sha256(&img.path), before);
}

#[test]
fn keep_then_unmount_by_mount_point() {
    if !privileged("keep_then_unmount_by_mount_point") {
        return;
    }
    let img = Image::new(false);
    let (offset, size) = img.parts[0];
    let mp = img.mountpoint("kept");
    let m =
        mount_image(&img.path, &MountSpec::read_only(offset, size, "ext4"), &mp).expect("mount");
    let (kept_mp, dev) = m.keep();
    assert_eq!(kept_mp, std::fs::canonicalize(&mp).expect("canonical"));
    assert!(findmnt(&mp).is_some(), "keep must leave it mounted");
    assert_eq!(loopmount::loop_backing(&dev).map(|b| b.1), Some(offset));
    let done = loopmount::unmount(&mp).expect("unmount by path");
    assert_eq!(done.device.as_deref(), Some(dev.as_path()));
    assert!(done.detached);
    assert!(findmnt(&mp).is_none());
    assert_no_loop_for(&img.path);
}

#[test]
fn attach_only_exposes_the_range() {
    if !privileged("attach_only_exposes_the_range") {
        return;
    }
    let img = Image::new(false);
    let (offset, size) = img.parts[0];
    let dev = LoopDevice::attach(&img.path, &AttachOptions::range(offset, size)).expect("attach");
    assert_eq!(dev.status().expect("status"), (offset, size, true));
    let (o, s, ro, _) = losetup_info(dev.path());
    assert_eq!((o, s, ro), (offset, size, true));
    // The ext4 magic at 0x438 of the partition is at 0x438 of the device.
    let data = std::fs::read(dev.path()).expect("read device");
    assert_eq!(data.len() as u64, size);
    assert_eq!(&data[0x438..0x43a], &[0x53, 0xEF]);
    drop(dev);
    assert_no_loop_for(&img.path);
}
