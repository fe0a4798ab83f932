//! Version strings: the package version, the git commit and the formats this build reads.

/// `pverescue --version`.
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PVERESCUE_COMMIT"),
    ")"
);

/// `pverescue --version --verbose` style text shown by `--help`'s long version.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("PVERESCUE_COMMIT"),
    "\narchives: vma (read, write)",
    "\ncompression: gzip, zstd, lzop, bzip2, xz (read); gzip, zstd, lzop (write)",
    "\nbuild: ",
    env!("PVERESCUE_BUILD")
);
