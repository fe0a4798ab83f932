//! Helpers to run the real tools that make and describe test images: shared ones from the
//! `testimg` crate, plus the ones that know this crate's types.

use std::path::Path;

pub use testimg::{
    Loop, Lvm, SfdiskPart, blkid, poke, privileged as can_loop, run, run_stdin, sfdisk_json,
    sparse, write_at,
};

/// The name blkid uses for one of our kinds.
pub fn blkid_type(kind: partitions::FsKind) -> &'static str {
    use partitions::FsKind::*;
    match kind {
        Luks => "crypto_LUKS",
        Lvm2Pv => "LVM2_member",
        k => k.name(),
    }
}

/// Scans the image file at `path`.
pub fn scan(path: &Path) -> partitions::Scan {
    let mut f = std::fs::File::open(path).expect("open image");
    partitions::scan(&mut f).unwrap_or_else(|e| panic!("scan {}: {e}", path.display()))
}
