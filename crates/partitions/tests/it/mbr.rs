//! MBR images with extended and logical partitions made by sfdisk.

use partitions::{Error, PartitionKind, TableKind};

use crate::tools::*;

const MIB: u64 = 1 << 20;

/// p1 ext4, p2 extended holding 5 (ext3), 6 (swap), 7 (empty Linux), p3 FAT.
fn make_mbr(dir: &std::path::Path) -> std::path::PathBuf {
    let img = sparse(dir, "mbr.img", 200 * MIB);
    // Named lines put 5-7 inside the extended partition 2 and leave slot 4 empty.
    let layout = "label: dos\n\
                  mbr.img1 : start=2048, size=16M, type=83, bootable\n\
                  mbr.img2 : size=150M, type=5\n\
                  mbr.img3 : size=16M, type=c\n\
                  mbr.img5 : start=36864, size=100M, type=83\n\
                  mbr.img6 : size=8M, type=82\n\
                  mbr.img7 : size=8M, type=83\n";
    run_stdin("sfdisk", &["-q", img.to_str().expect("path")], layout);
    img
}

fn fill(dir: &std::path::Path, img: &std::path::Path, scan: &partitions::Scan) {
    let ext = sparse(dir, "p1.fs", 16 * MIB);
    run(
        "mkfs.ext4",
        &["-q", "-L", "boot", ext.to_str().expect("path")],
    );
    write_at(img, scan.partitions[0].start, &ext);
    let ext3 = sparse(dir, "p5.fs", 100 * MIB);
    run(
        "mkfs.ext3",
        &["-q", "-L", "big", ext3.to_str().expect("path")],
    );
    write_at(img, scan.partition(5).expect("p5").start, &ext3);
    let swap = sparse(dir, "p6.fs", 8 * MIB);
    run("mkswap", &[swap.to_str().expect("path")]);
    write_at(img, scan.partition(6).expect("p6").start, &swap);
    let fat = sparse(dir, "p3.fs", 16 * MIB);
    run(
        "mkfs.vfat",
        &["-F", "16", "-n", "FATTY", fat.to_str().expect("path")],
    );
    write_at(img, scan.partition(3).expect("p3").start, &fat);
}

#[test]
fn extended_and_logical_partitions_match_sfdisk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_mbr(dir.path());
    let first = scan(&img);
    fill(dir.path(), &img, &first);
    let scan = scan(&img);
    assert_eq!(scan.table, TableKind::Mbr);
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    let (ss, expected) = sfdisk_json(&img);
    assert_eq!(ss, 512);
    let mut ours: Vec<_> = scan.partitions.iter().collect();
    ours.sort_by_key(|p| p.number);
    assert_eq!(ours.len(), expected.len(), "{ours:#?}");
    for (p, (n, start, size, ty, _)) in ours.iter().zip(&expected) {
        assert_eq!(p.number, *n);
        assert_eq!(
            (p.start, p.size),
            (start * 512, size * 512),
            "partition {n}"
        );
        assert_eq!(
            p.type_id,
            format!("{:#04x}", u8::from_str_radix(ty, 16).expect("hex"))
        );
    }
    // sfdisk -d states the disk id and the boot flag.
    let dump = run("sfdisk", &["-d", img.to_str().expect("path")]);
    let id = dump
        .lines()
        .find_map(|l| l.strip_prefix("label-id: "))
        .expect("label-id");
    assert_eq!(scan.disk_id.as_deref(), Some(id));
    assert!(
        dump.lines()
            .any(|l| l.contains("mbr.img1 ") && l.contains("bootable"))
    );
    assert!(scan.partitions[0].bootable);

    let kinds: Vec<(u32, PartitionKind)> = ours.iter().map(|p| (p.number, p.kind)).collect();
    use PartitionKind::*;
    assert_eq!(
        kinds,
        [
            (1, Primary),
            (2, Extended),
            (3, Primary),
            (5, Logical),
            (6, Logical),
            (7, Logical)
        ]
    );
    // Filesystems agree with blkid at the same offsets.
    for n in [1, 3, 5, 6] {
        let p = scan.partition(n).expect("partition");
        let fs = p.fs.as_ref().expect("fs");
        let (ty, label, uuid) = blkid(&img, p.start);
        assert_eq!(
            (blkid_type(fs.kind), &fs.label, &fs.uuid),
            (ty.as_str(), &label, &uuid),
            "{n}"
        );
    }
    assert_eq!(
        scan.partition(3)
            .and_then(|p| p.fs.as_ref()?.detail.clone())
            .as_deref(),
        Some("FAT16")
    );
    // partx reads the table on its own too: same starts.
    let partx = run(
        "partx",
        &["-g", "-o", "NR,START", img.to_str().expect("path")],
    );
    for line in partx.lines() {
        let f: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().expect("num"))
            .collect();
        let p = scan.partition(f[0] as u32).expect("partx partition");
        assert_eq!(p.start_sector, f[1]);
    }
}

/// Byte offset of the first EBR (the start of the extended partition).
fn first_ebr(img: &std::path::Path) -> u64 {
    let (_, parts) = sfdisk_json(img);
    parts.iter().find(|p| p.0 == 2).expect("extended").1 * 512
}

#[test]
fn extended_chain_loop_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_mbr(dir.path());
    let ebr = first_ebr(&img);
    // Make the first EBR's link entry point back at the first EBR itself.
    let mut link = [0u8; 16];
    link[4] = 0x05;
    link[8..12].copy_from_slice(&0u32.to_le_bytes());
    link[12..16].copy_from_slice(&2048u32.to_le_bytes());
    poke(&img, ebr + 446 + 16, &link);
    let mut f = std::fs::File::open(&img).expect("open");
    let err = partitions::scan(&mut f).expect_err("loop");
    assert!(
        matches!(err, Error::ExtendedLoop { at } if at == ebr),
        "{err}"
    );
}

#[test]
fn extended_link_out_of_range_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = make_mbr(dir.path());
    let ebr = first_ebr(&img);
    let mut link = [0u8; 16];
    link[4] = 0x05;
    link[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    link[12..16].copy_from_slice(&2048u32.to_le_bytes());
    poke(&img, ebr + 446 + 16, &link);
    let mut f = std::fs::File::open(&img).expect("open");
    let err = partitions::scan(&mut f).expect_err("range");
    assert!(
        matches!(err, Error::OutOfRange { at, .. } if at == ebr + 446 + 16),
        "{err}"
    );
}
