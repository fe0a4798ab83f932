//! GPT images made by sgdisk, checked against sfdisk's and sgdisk's reports.

use partitions::{Error, FsKind, PartitionKind, TableKind};

use crate::tools::*;

const MIB: u64 = 1 << 20;

/// A 64 MiB GPT image: ESP (FAT), root (ext4), swap, LVM (empty), with names.
fn make_gpt(dir: &std::path::Path) -> std::path::PathBuf {
    let img = sparse(dir, "gpt.img", 64 * MIB);
    let p = img.to_str().expect("path");
    run(
        "sgdisk",
        &[
            "-n",
            "1:2048:+8M",
            "-t",
            "1:ef00",
            "-c",
            "1:EFI system",
            "-n",
            "2:0:+24M",
            "-t",
            "2:8300",
            "-c",
            "2:root",
            "-n",
            "3:0:+8M",
            "-t",
            "3:8200",
            "-c",
            "3:swap",
            "-n",
            "4:0:0",
            "-t",
            "4:8e00",
            p,
        ],
    );
    let esp = sparse(dir, "esp.fs", 8 * MIB);
    run("mkfs.vfat", &["-n", "ESP", esp.to_str().expect("path")]);
    write_at(&img, MIB, &esp);
    let root = sparse(dir, "root.fs", 24 * MIB);
    run(
        "mkfs.ext4",
        &["-q", "-L", "rootfs", root.to_str().expect("path")],
    );
    write_at(&img, 9 * MIB, &root);
    let swap = sparse(dir, "swap.fs", 8 * MIB);
    run("mkswap", &["-L", "swp", swap.to_str().expect("path")]);
    write_at(&img, 33 * MIB, &swap);
    img
}

fn check_against_sfdisk(img: &std::path::Path, scan: &partitions::Scan) {
    let (ss, expected) = sfdisk_json(img);
    assert_eq!(scan.sector_size, ss);
    assert_eq!(
        scan.partitions.len(),
        expected.len(),
        "{:#?}",
        scan.partitions
    );
    for (p, (number, start, size, ty, name)) in scan.partitions.iter().zip(&expected) {
        assert_eq!(p.number, *number);
        assert_eq!(p.kind, PartitionKind::Gpt);
        assert_eq!(p.start_sector, *start, "partition {number}");
        assert_eq!(p.start, start * ss, "partition {number}");
        assert_eq!(p.size, size * ss, "partition {number}");
        assert_eq!(p.end_sector, start + size - 1, "partition {number}");
        assert_eq!(&p.type_id, ty, "partition {number}");
        assert_eq!(&p.name, name, "partition {number}");
    }
}

#[test]
fn gpt_512_matches_sfdisk_sgdisk_and_blkid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    let scan = scan(&img);
    assert_eq!(scan.table, TableKind::Gpt);
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    check_against_sfdisk(&img, &scan);

    // sgdisk -p prints the disk GUID and the type names in its own words.
    let sg = run("sgdisk", &["-p", img.to_str().expect("path")]);
    let guid = sg
        .lines()
        .find_map(|l| l.strip_prefix("Disk identifier (GUID): "))
        .expect("guid line");
    assert_eq!(scan.disk_id.as_deref(), Some(guid.trim()));
    let names: Vec<&str> = scan
        .partitions
        .iter()
        .map(|p| p.type_name.as_str())
        .collect();
    assert_eq!(
        names,
        ["EFI System", "Linux filesystem", "Linux swap", "Linux LVM"]
    );

    for p in &scan.partitions[..3] {
        let fs = p.fs.as_ref().expect("fs");
        let (ty, label, uuid) = blkid(&img, p.start);
        assert_eq!(blkid_type(fs.kind), ty, "partition {}", p.number);
        assert_eq!(fs.label, label, "partition {}", p.number);
        assert_eq!(fs.uuid, uuid, "partition {}", p.number);
    }
    assert_eq!(
        scan.partitions[3].fs.as_ref().map(|f| f.kind),
        Some(FsKind::Unknown)
    );

    let targets = scan.mount_targets();
    let ids: Vec<(&str, u64, u64, &str)> = targets
        .iter()
        .map(|t| (t.id.as_str(), t.offset, t.size, t.fstype))
        .collect();
    assert_eq!(
        ids,
        [
            ("1", MIB, 8 * MIB, "vfat"),
            ("2", 9 * MIB, 24 * MIB, "ext4")
        ]
    );
}

#[test]
fn damaged_primary_header_falls_back_to_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    let (_, expected) = sfdisk_json(&img);
    // Flip a byte of the primary header's "my LBA" field: the header CRC no longer matches.
    poke(&img, 512 + 24, &[0x7f]);
    let scan = scan(&img);
    assert_eq!(scan.table, TableKind::Gpt);
    assert_eq!(scan.partitions.len(), expected.len());
    for (p, e) in scan.partitions.iter().zip(&expected) {
        assert_eq!((p.number, p.start_sector, p.size / 512), (e.0, e.1, e.2));
    }
    let backup_at = 64 * MIB - 512;
    assert!(
        scan.warnings
            .iter()
            .any(|w| w.contains("primary GPT is damaged")
                && w.contains("checksum mismatch in GPT header")
                && w.contains(&format!("backup GPT at byte {backup_at}"))),
        "{:?}",
        scan.warnings
    );
    // sgdisk agrees that the primary is damaged and recovers the same table.
    let verify = std::process::Command::new("sgdisk")
        .args(["-v", img.to_str().expect("path")])
        .output()
        .expect("sgdisk -v");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        text.contains("Main header: ERROR") && text.contains("Backup header: OK"),
        "{text}"
    );
}

#[test]
fn damaged_entry_array_falls_back_to_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    let (_, expected) = sfdisk_json(&img);
    // The primary entry array starts at LBA 2; damage entry 1's name.
    poke(&img, 1024 + 60, b"XX");
    let scan = scan(&img);
    assert_eq!(scan.partitions.len(), expected.len());
    assert_eq!(scan.partitions[0].name.as_deref(), Some("EFI system"));
    assert!(
        scan.warnings
            .iter()
            .any(|w| w.contains("checksum mismatch in GPT entry array at byte 1024")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn both_copies_damaged_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    poke(&img, 512 + 24, &[0x7f]);
    poke(&img, 64 * MIB - 512 + 24, &[0x7f]);
    let mut f = std::fs::File::open(&img).expect("open");
    let err = partitions::scan(&mut f).expect_err("both damaged");
    assert!(matches!(err, Error::GptUnusable { .. }), "{err}");
    assert!(err.to_string().contains("at byte 512"), "{err}");
}

#[test]
fn truncated_image_keeps_primary_and_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .and_then(|f| f.set_len(40 * MIB))
        .expect("truncate");
    let scan = scan(&img);
    assert_eq!(scan.partitions.len(), 4);
    assert!(
        scan.warnings.iter().any(|w| w.contains("backup GPT")),
        "{:?}",
        scan.warnings
    );
    assert!(
        scan.warnings
            .iter()
            .any(|w| w.contains("partition 4") && w.contains("truncated")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn gpt_4096_byte_sectors_via_loop_device() {
    if !can_loop("gpt_4096_byte_sectors_via_loop_device") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), "gpt4k.img", 64 * MIB);
    let expected = {
        let dev = Loop::attach(&img, 0, 0, &["--sector-size", "4096"]);
        run(
            "sgdisk",
            &[
                "-n",
                "1:256:+16M",
                "-c",
                "1:data",
                "-n",
                "2:0:0",
                "-t",
                "2:8200",
                &dev.0,
            ],
        );
        sfdisk_json(std::path::Path::new(&dev.0))
    };
    assert_eq!(expected.0, 4096, "sfdisk must see 4096-byte sectors");
    let fs = sparse(dir.path(), "data.fs", 16 * MIB);
    run(
        "mkfs.ext4",
        &["-q", "-L", "four-k", fs.to_str().expect("path")],
    );
    write_at(&img, 256 * 4096, &fs);

    let scan = scan(&img);
    assert_eq!((scan.table, scan.sector_size), (TableKind::Gpt, 4096));
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    check_against_sfdisk_4k(&scan, &expected.1);
    let p1 = &scan.partitions[0];
    assert_eq!(
        p1.fs.as_ref().and_then(|f| f.label.as_deref()),
        Some("four-k")
    );
    // Also the backup at the last 4 KiB sector.
    poke(&img, 4096 + 24, &[0x7f]);
    let scan = crate::tools::scan(&img);
    assert_eq!(scan.sector_size, 4096);
    check_against_sfdisk_4k(&scan, &expected.1);
    assert!(
        scan.warnings
            .iter()
            .any(|w| w.contains(&format!("byte {}", 64 * MIB - 4096)))
    );
}

fn check_against_sfdisk_4k(scan: &partitions::Scan, expected: &[SfdiskPart]) {
    assert_eq!(scan.partitions.len(), expected.len());
    for (p, (n, start, size, ty, name)) in scan.partitions.iter().zip(expected) {
        assert_eq!((p.number, p.start, p.size), (*n, start * 4096, size * 4096));
        assert_eq!((&p.type_id, &p.name), (ty, name));
    }
}

/// Any random-access view scans like the file it shows: here the GPT image as a window of a
/// larger image (a disk inside a bigger file at 1 MiB), read through `diskview`.
#[test]
fn a_window_of_a_larger_image_scans_through_the_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_gpt(dir.path());
    let outer = sparse(dir.path(), "outer.img", 66 * MIB);
    write_at(&outer, MIB, &img);
    let file = diskview::FileView::open(&outer).expect("open");
    let window = diskview::Window::new(&file, MIB, 64 * MIB).expect("window");
    let scan = partitions::scan_view(&window, &partitions::ScanOptions::default()).expect("scan");
    assert_eq!(scan.table, TableKind::Gpt);
    assert_eq!(scan.disk_size, 64 * MIB);
    check_against_sfdisk(&img, &scan);
}
