//! `--no-write` (verify only) over every kind of backup: a VMA, a container tar (good and cut
//! short) and a cut VMA. Expected values come from the files themselves (their lengths, as
//! `stat` gives them) and from how each one was made.

use std::path::Path;

use testimg::sh;

use crate::directory::{vm_report, vma_of};

#[test]
fn no_write_verifies_every_kind_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dump = w.join("dump");
    std::fs::create_dir(&dump).unwrap();

    // VM 500: a 1 MiB disk (a pattern with zero blocks) as a zstd VMA.
    let image = w.join("disk.raw");
    let mut bytes = vec![0u8; 1 << 20];
    for (i, b) in bytes.iter_mut().enumerate() {
        if (i / 4096) % 2 == 1 {
            *b = (i % 251) as u8;
        }
    }
    std::fs::write(&image, &bytes).unwrap();
    let vma = w.join("500.vma");
    vma_of(&image, &vma);
    let full = dump.join("vzdump-qemu-500-2026_01_01-00_00_00.vma.zst");
    sh("zstd -q -c \"$1\" > \"$2\"", &[&vma, &full]);

    // VM 501: a container backup, GNU tar of a small tree, zstd. VM 502: the same tar cut in
    // half before compression (the compression is intact, the tar is not).
    let tree = w.join("rootfs");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/hostname"), "ct501\n").unwrap();
    std::fs::write(tree.join("data.bin"), vec![7u8; 300_000]).unwrap();
    let tar = w.join("ct.tar");
    sh("tar -C \"$1\" -cf \"$2\" .", &[&tree, &tar]);
    sh(
        "zstd -q -c \"$1\" > \"$2\"",
        &[
            &tar,
            &dump.join("vzdump-lxc-501-2026_01_01-00_00_00.tar.zst"),
        ],
    );
    let half = std::fs::metadata(&tar).unwrap().len() / 2;
    sh(
        "head -c \"$3\" \"$1\" | zstd -q > \"$2\"",
        &[
            &tar,
            &dump.join("vzdump-lxc-502-2026_01_01-00_00_00.tar.zst"),
            Path::new(&half.to_string()),
        ],
    );

    // VM 503: the plain VMA cut 100 KiB before its end.
    let cut = dump.join("vzdump-qemu-503-2026_01_01-00_00_00.vma");
    std::fs::copy(&vma, &cut).unwrap();
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len - 100 * 1024)
        .unwrap();

    let plan = drill::plan(std::slice::from_ref(&dump)).unwrap();
    let scratch = w.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let opts = drill::Options {
        scratch: scratch.clone(),
        no_write: true,
        ..Default::default()
    };
    let report = drill::run(&plan, &opts, &mut ()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["wrote"], false);
    assert_eq!(json["passed"], false);
    let vm = |id: &str| vm_report(&json, id);

    let v500 = vm("500");
    assert_eq!(v500["passed"], true, "{v500:#}");
    assert_eq!(v500["bytes_read"], std::fs::metadata(&full).unwrap().len());
    assert_eq!(
        v500["archive_bytes"],
        std::fs::metadata(&vma).unwrap().len()
    );
    assert_eq!(v500["disk_bytes"], 1 << 20);
    assert_eq!(v500["bytes_written"], 0);
    assert_eq!(v500["disks"][0]["name"], "drive-scsi0");
    assert_eq!(v500["disks"][0]["size"], 1 << 20);
    assert_eq!(v500["disks"][0]["verified"], serde_json::Value::Null);

    let v501 = vm("501");
    assert_eq!(v501["passed"], true, "{v501:#}");
    assert!(
        v501["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "container backup (tar): verified completely, not restored"),
        "{v501:#}"
    );

    let v502 = vm("502");
    assert_eq!(v502["passed"], false, "{v502:#}");
    assert!(v502["reason"].as_str().unwrap().contains("tar"), "{v502:#}");

    let v503 = vm("503");
    assert_eq!(v503["passed"], false, "{v503:#}");
    assert!(
        v503["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}: restore failed: truncated", cut.display())),
        "{v503:#}"
    );

    // Nothing was written: not even the drill's own directory.
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}
