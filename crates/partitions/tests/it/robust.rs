//! Property tests: mutated tables never panic and never report offsets that overflow.

use std::io::Cursor;

use proptest::prelude::*;

/// A 64 KiB image: MBR with a primary, an extended partition with a two-EBR chain, and a GPT
/// header plus entry array (with valid CRCs) as if it were a 4 KiB-sector disk.
fn seed() -> Vec<u8> {
    let mut img = vec![0u8; 64 * 1024];
    let put = |img: &mut Vec<u8>, sector: usize, slot: usize, ty: u8, start: u32, len: u32| {
        let at = sector * 512 + 446 + 16 * slot;
        img[at + 4] = ty;
        img[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        img[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
        img[sector * 512 + 510] = 0x55;
        img[sector * 512 + 511] = 0xAA;
    };
    put(&mut img, 0, 0, 0x83, 2, 8);
    put(&mut img, 0, 1, 0x05, 10, 100);
    put(&mut img, 10, 0, 0x83, 1, 10);
    put(&mut img, 10, 1, 0x05, 20, 30);
    put(&mut img, 30, 0, 0x8e, 1, 10);
    // GPT at LBA 1 of a 4096-byte-sector disk: header at 4096, entries at 8192.
    let mut entries = vec![0u8; 4 * 128];
    entries[0] = 0xAF;
    entries[32..40].copy_from_slice(&3u64.to_le_bytes());
    entries[40..48].copy_from_slice(&9u64.to_le_bytes());
    img[8192..8192 + entries.len()].copy_from_slice(&entries);
    let h = 4096;
    img[h..h + 8].copy_from_slice(b"EFI PART");
    img[h + 12..h + 16].copy_from_slice(&92u32.to_le_bytes());
    img[h + 24..h + 32].copy_from_slice(&1u64.to_le_bytes());
    img[h + 32..h + 40].copy_from_slice(&15u64.to_le_bytes());
    img[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
    img[h + 80..h + 84].copy_from_slice(&4u32.to_le_bytes());
    img[h + 84..h + 88].copy_from_slice(&128u32.to_le_bytes());
    img[h + 88..h + 92].copy_from_slice(&crc32fast::hash(&entries).to_le_bytes());
    let crc = crc32fast::hash(&img[h..h + 92]);
    img[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
    img
}

fn check(img: Vec<u8>) {
    for opts in [
        partitions::ScanOptions::default(),
        partitions::ScanOptions::with_sector_size(512),
    ] {
        let direct = partitions::scan_with(&mut Cursor::new(&img), &opts);
        // The same bytes seen through a window at an offset of a larger disk (how a partition or
        // a staged image is read) scan the same: nothing depends on where the view sits.
        let mut outer = vec![0xa5u8; 3 * 4096];
        outer.extend_from_slice(&img);
        outer.extend_from_slice(&[0x5a; 4096]);
        let window = diskview::Window::new(&outer[..], 3 * 4096, img.len() as u64).expect("window");
        let through = partitions::scan_view(&window, &opts);
        match (&direct, &through) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("direct {direct:?} but through a window {through:?}"),
        }
        if let Ok(scan) = direct {
            for p in &scan.partitions {
                assert!(p.start.checked_add(p.size).is_some());
            }
            for t in scan.mount_targets() {
                assert!(t.offset.checked_add(t.size).is_some());
            }
        }
    }
}

#[test]
fn the_seed_is_a_gpt_with_one_partition() {
    let scan = partitions::scan(&mut Cursor::new(seed())).expect("seed scans");
    assert_eq!(
        (scan.table, scan.sector_size),
        (partitions::TableKind::Gpt, 4096)
    );
    assert_eq!(scan.partitions.len(), 1);
    // Forced to 512-byte sectors, the same bytes are an MBR with logical partitions 5 and 6.
    let opts = partitions::ScanOptions::with_sector_size(512);
    let scan = partitions::scan_with(&mut Cursor::new(seed()), &opts).expect("mbr");
    let numbers: Vec<u32> = scan.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 5, 6]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_tables_never_panic(
        edits in proptest::collection::vec((0usize..64 * 1024, any::<u8>()), 1..16),
        cut in 512usize..=64 * 1024,
    ) {
        let mut img = seed();
        for (at, b) in edits {
            img[at] = b;
        }
        img.truncate(cut);
        check(img);
    }

    #[test]
    fn table_fields_take_any_value(slot in 0usize..8, value in any::<u32>()) {
        // Overwrite one 32-bit field of the MBR/EBR entries or GPT header with any value.
        let fields = [446 + 8, 446 + 12, 462 + 8, 462 + 12, 10 * 512 + 462 + 8, 4096 + 80, 4096 + 84, 4096 + 72];
        let mut img = seed();
        let at = fields[slot];
        img[at..at + 4].copy_from_slice(&value.to_le_bytes());
        check(img);
    }
}
