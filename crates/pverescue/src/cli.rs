//! Command-line definitions: every flag is declared once here and generates the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Restore Proxmox VE backups on any Linux machine, with nothing but this binary.
#[derive(Debug, Parser)]
#[command(
    name = "pverescue",
    version = crate::version::SHORT,
    long_version = crate::version::LONG,
    about = "Restore Proxmox VE and KVM backups on any Linux machine, with nothing but this binary",
    after_help = "Exit codes: 0 success, 1 completed with warnings to read, 2 failure.\n\
                  Archives may be plain, gzip, zstd, lzop, bzip2 or xz: the format is sniffed \
                  from the content, never from the file name. Use - to read standard input.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors: no progress, no summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    List(ListArgs),
    Config(ConfigArgs),
    Verify(VerifyArgs),
    Extract(ExtractArgs),
    Create(CreateArgs),
}

/// List the configs and disks of a VMA archive (output compatible with `vma list`).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  pverescue list vzdump-qemu-100-2024_01_02-03_04_05.vma.zst\n  \
                        zstd -dc backup.vma.zst | pverescue list -\n  \
                        pverescue list --json backup.vma.lzo"
)]
pub struct ListArgs {
    /// The archive (.vma, .vma.zst, .vma.gz, .vma.lzo, …), or - for standard input.
    pub archive: PathBuf,
}

/// Print one config file stored in a VMA archive.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  pverescue config backup.vma.zst\n  \
                        pverescue config backup.vma.zst -c qemu-server.fw")]
pub struct ConfigArgs {
    /// The archive, or - for standard input.
    pub archive: PathBuf,
    /// Name of the config to print.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "NAME",
        default_value = "qemu-server.conf"
    )]
    pub name: String,
}

/// Check archives completely: structure, checksums, and that every cluster of every disk is present.
#[derive(Debug, Args)]
#[command(
    after_help = "Unlike `vma verify`, a missing cluster (an interrupted backup) is an error.\n\n\
                        Examples:\n  pverescue verify /mnt/usb/dump/vzdump-qemu-*.vma.zst\n  \
                        pverescue verify --json backup.vma.gz"
)]
pub struct VerifyArgs {
    /// Archives to check, or - for standard input.
    #[arg(required = true)]
    pub archives: Vec<PathBuf>,
}

/// Restore the disks and configs of a VMA archive into a new directory.
#[derive(Debug, Args)]
#[command(
    after_help = "Disks are written as DIR/disk-<devname>.raw (exactly the disk size, sparse: \
                        zero blocks stay holes) and configs as DIR/<name>, as `vma extract` does. \
                        A disk is first written as tmp-disk-<devname>.raw and renamed only when \
                        every cluster has been seen; on failure the partial files are removed.\n\n\
                        Examples:\n  pverescue extract vzdump-qemu-100-2024_01_02-03_04_05.vma.zst /srv/restore\n  \
                        pverescue extract backup.vma.lzo /srv/restore -d drive-scsi0\n  \
                        ssh backuphost cat backup.vma.zst | pverescue extract - /srv/restore"
)]
pub struct ExtractArgs {
    /// The archive, or - for standard input.
    pub archive: PathBuf,
    /// Target directory; it must not exist (see --force).
    pub dir: PathBuf,
    /// Restore only these drives (e.g. drive-scsi0 or scsi0), comma separated.
    #[arg(
        short = 'd',
        long = "drives",
        value_name = "DRIVE,...",
        value_delimiter = ','
    )]
    pub drives: Option<Vec<String>>,
    /// Use an existing target directory and overwrite files in it.
    #[arg(long)]
    pub force: bool,
    /// Write zero blocks explicitly instead of leaving holes (for targets that need it).
    #[arg(long)]
    pub write_zeroes: bool,
}

/// Make a VMA archive from raw disk images and config files.
#[derive(Debug, Args)]
#[command(
    after_help = "The output is compressed according to its extension (.zst, .gz, .lzo; \
                        anything else is plain VMA). An existing file is never overwritten.\n\n\
                        Examples:\n  pverescue create vzdump-qemu-100-2024_01_02-03_04_05.vma.zst \
                        -c qemu-server.conf -d drive-scsi0=disk.raw\n  \
                        pverescue create out.vma -c vm.conf -d a.raw -d b.raw"
)]
pub struct CreateArgs {
    /// The archive to write (.vma, .vma.zst, .vma.gz or .vma.lzo).
    pub output: PathBuf,
    /// Config files to store, under their base names (e.g. qemu-server.conf).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub configs: Vec<PathBuf>,
    /// Disk images as [NAME=]IMAGE; NAME defaults to drive-scsi0, drive-scsi1, …
    #[arg(short = 'd', long = "disk", value_name = "[NAME=]IMAGE")]
    pub disks: Vec<String>,
    /// Archive uuid (default: random), for reproducible archives.
    #[arg(long, value_name = "UUID")]
    pub uuid: Option<String>,
    /// Archive creation time in seconds since the epoch (default: now), for reproducible archives.
    #[arg(long, value_name = "SECONDS")]
    pub ctime: Option<i64>,
}
