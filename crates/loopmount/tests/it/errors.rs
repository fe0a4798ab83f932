//! Error paths: each must say what is wrong and leave no loop device behind.

use loopmount::{Error, MountSpec, mount_image};

use crate::tools::*;

#[test]
fn wrong_type_unknown_type_bad_range_and_bad_mount_point() {
    if !privileged("wrong_type_unknown_type_bad_range_and_bad_mount_point") {
        return;
    }
    let img = Image::new(false);
    let (offset, size) = img.parts[0];
    let mp = img.mountpoint("err");

    let err = mount_image(&img.path, &MountSpec::read_only(offset, size, "xfs"), &mp)
        .expect_err("xfs on ext4");
    assert!(matches!(err, Error::Mount { .. }), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("dmesg")),
        "{:?}",
        err.hint()
    );
    assert!(findmnt(&mp).is_none());
    assert_no_loop_for(&img.path);

    let listed = std::fs::read_to_string("/proc/filesystems").expect("proc");
    if !listed.split_whitespace().any(|t| t == "vfat") {
        let err = mount_image(&img.path, &MountSpec::read_only(offset, size, "vfat"), &mp)
            .expect_err("vfat");
        assert!(
            matches!(&err, Error::FsNotInKernel { fstype } if fstype == "vfat"),
            "{err}"
        );
        assert!(err.hint().is_some_and(|h| h.contains("userspace")));
    }

    let len = std::fs::metadata(&img.path).expect("meta").len();
    let err =
        mount_image(&img.path, &MountSpec::read_only(len, 4096, "ext4"), &mp).expect_err("range");
    assert!(
        matches!(err, Error::OutOfRange { offset, .. } if offset == len),
        "{err}"
    );

    let file = img.dir.path().join("not-a-dir");
    std::fs::write(&file, "").expect("file");
    let err = mount_image(
        &img.path,
        &MountSpec::read_only(offset, size, "ext4"),
        &file,
    )
    .expect_err("file");
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");

    let err = loopmount::unmount(&mp).expect_err("nothing mounted");
    assert!(matches!(err, Error::NotMounted { .. }), "{err}");
    assert_no_loop_for(&img.path);
}

#[test]
fn hints_name_the_container_flags() {
    let e = Error::NoLoopControl {
        path: "/dev/loop-control".into(),
    };
    let h = e.hint().expect("hint");
    assert!(
        h.contains("--cap-add SYS_ADMIN --device /dev/loop-control --device /dev/loop0"),
        "{h}"
    );
    let e = Error::NoLoopNode {
        path: "/dev/loop9".into(),
        number: 9,
    };
    assert!(e.hint().expect("hint").contains("--device /dev/loop9"));
    let e = Error::NotRoot { op: "mount" };
    assert!(e.to_string().contains("permission denied"));
}
