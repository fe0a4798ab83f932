//! Fuzzes `partitions::scan` over arbitrary images: it must never panic, never allocate more than
//! its limits allow, and every offset it reports must stay representable.
//!
//! Run: `cargo +nightly fuzz run partitions_scan -- -max_len=262144` in `crates/partitions/fuzz`.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for opts in [partitions::ScanOptions::default(), partitions::ScanOptions::with_sector_size(4096)] {
        if let Ok(scan) = partitions::scan_with(&mut Cursor::new(data), &opts) {
            for p in &scan.partitions {
                assert!(p.start.checked_add(p.size).is_some());
                assert!(p.end_sector >= p.start_sector || p.size == 0);
            }
            for t in scan.mount_targets() {
                assert!(t.offset.checked_add(t.size).is_some());
            }
            for lv in scan.volume_groups.iter().flat_map(|g| &g.logical_volumes) {
                if let Some(r) = lv.byte_range() {
                    assert!(r.offset.checked_add(r.size).is_some_and(|end| end <= scan.disk_size));
                }
            }
        }
    }
});
