//! Disk states and chains for the tests.

use std::path::Path;

use sha2::Digest;
use vnbdwrite::Options;

pub use vnbdwrite::scenario::*;

pub fn sha(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Plain, LZ4 (one frame per extent), LZ4 with extents split every 128 KiB.
pub fn variants() -> Vec<(&'static str, Options)> {
    vec![
        ("plain", Options::default()),
        (
            "lz4",
            Options {
                compress: Some(2),
                ..Options::default()
            },
        ),
        (
            "lz4-split",
            Options {
                compress: Some(1),
                split: 128 << 10,
                content_size: false,
                ..Options::default()
            },
        ),
    ]
}

/// Restores the point `until` of `dir` into memory, one image per disk (name, bytes).
pub fn restore(dir: &Path, until: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, virtnbd::Error> {
    let b = virtnbd::Backup::open(dir)?;
    let mut out = Vec::new();
    for s in b.select(until)? {
        let disk = virtnbd::DiskAt::new(b.files_of(s.point)?)?;
        let mut img = Vec::new();
        disk.restore(&mut img, &mut |_| {})?;
        img.resize(diskview::ReadAt::size(&disk) as usize, 0);
        out.push((s.disk.name.clone(), img));
    }
    Ok(out)
}
