//! Chains of disk states for the tests of the virtnbd crate and the CLI: deterministic disk
//! contents, and the seed case of issue 14 (full → inc1 → diff → inc2).

use std::path::Path;

use crate::{Extent, Header, Options};

/// A deterministic byte generator (xorshift), so that disk states differ everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fills `len` bytes at `at` of `disk` with compressible but varied data.
    pub fn fill(&mut self, disk: &mut [u8], at: usize, len: usize) {
        let tag = self.next_u64();
        for (i, b) in disk[at..at + len].iter_mut().enumerate() {
            *b = if i % 64 < 40 {
                (tag >> (i % 8 * 8)) as u8
            } else {
                self.next_u64() as u8
            };
        }
    }
}

/// The block size changes are tracked in (virtnbdbackup follows the dirty bitmap's clusters).
pub const BLOCK: usize = 64 << 10;

/// A meta header of disk `disk`; `n` orders the dates.
pub fn header(disk: &str, size: usize, cp: &str, parent: &str, inc: bool, n: u32) -> Header {
    Header {
        virtual_size: size as u64,
        disk: disk.into(),
        checkpoint: cp.into(),
        parent: parent.into(),
        incremental: inc,
        date: format!("2026-12-0{}T10:{:02}:00.{:06}", 1 + n / 50, n % 50, n * 7),
    }
}

/// One file of a chain: name, header, extents.
#[derive(Clone)]
pub struct File {
    /// The file name.
    pub name: String,
    /// Its meta frame.
    pub header: Header,
    /// Its frames.
    pub extents: Vec<Extent>,
}

/// Writes the chain's files into `dir` with mtimes in list order, plus a `.cpt` list and a
/// vmconfig per file.
pub fn write_chain(dir: &Path, files: &[File], o: Options, cpt: &[&str]) {
    for (i, f) in files.iter().enumerate() {
        let bytes = crate::stream(&f.header, &f.extents, o);
        crate::write_file(&dir.join(&f.name), &bytes, i as u64);
    }
    let list: Vec<String> = cpt.iter().map(|c| format!("\"{c}\"")).collect();
    crate::write_file(
        &dir.join("vm1.cpt"),
        format!("[{}]", list.join(", ")).as_bytes(),
        0,
    );
}

/// The seed case: full → inc1 → diff → inc2 of a disk `vda` of `size` bytes. Returns the files
/// and the disk states after each (full, inc1, diff, inc2).
pub fn seed(size: usize, big_extent: bool) -> (Vec<File>, Vec<Vec<u8>>) {
    let mut rng = Rng::new(7);
    let mut s0 = vec![0u8; size];
    rng.fill(&mut s0, 0, 3 * BLOCK);
    rng.fill(&mut s0, 8 * BLOCK, BLOCK / 2);
    if big_extent {
        // One extent of 34 MiB: split into two LZ4 frames at 32 MiB.
        rng.fill(&mut s0, 1 << 20, 34 << 20);
    }
    rng.fill(&mut s0, size - BLOCK, BLOCK);
    let mut s1 = s0.clone();
    rng.fill(&mut s1, BLOCK, BLOCK);
    rng.fill(&mut s1, 20 * BLOCK, 2 * BLOCK);
    let mut s2 = s1.clone();
    rng.fill(&mut s2, 2 * BLOCK, BLOCK);
    s2[9 * BLOCK..10 * BLOCK].fill(0);
    // inc2 is taken after the diff: it holds every change since checkpoint 1.
    let mut s3 = s2.clone();
    rng.fill(&mut s3, 30 * BLOCK, BLOCK);
    rng.fill(&mut s3, 0, 100);
    let files = vec![
        File {
            name: "vda.full.data".into(),
            header: header("vda", size, "virtnbdbackup.0", "", false, 1),
            extents: crate::full_extents(&s0, BLOCK),
        },
        File {
            name: "vda.inc.virtnbdbackup.1.data".into(),
            header: header("vda", size, "virtnbdbackup.1", "virtnbdbackup.0", true, 2),
            extents: crate::changed_extents(&s0, &s1, BLOCK),
        },
        File {
            name: "vda.diff.1796292000.data".into(),
            header: header("vda", size, "virtnbdbackup.2", "virtnbdbackup.1", true, 3),
            extents: crate::changed_extents(&s1, &s2, BLOCK),
        },
        File {
            name: "vda.inc.virtnbdbackup.2.data".into(),
            header: header("vda", size, "virtnbdbackup.2", "virtnbdbackup.1", true, 4),
            extents: crate::changed_extents(&s1, &s3, BLOCK),
        },
    ];
    (files, vec![s0, s1, s2, s3])
}
