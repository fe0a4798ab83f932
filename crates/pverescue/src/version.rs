//! Version strings: the package version, the git commit and the formats this build reads.

/// `pverescue -V`: one line.
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PVERESCUE_COMMIT"),
    ")"
);

/// `pverescue --version`: the version, the commit, the formats and how the binary was linked.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("PVERESCUE_COMMIT"),
    "\narchives: vma (read, write)",
    "\ncompression: gzip, zstd, lzop, bzip2, xz (read); gzip, zstd, lzop (write)",
    "\nbuild: ",
    env!("PVERESCUE_BUILD")
);
