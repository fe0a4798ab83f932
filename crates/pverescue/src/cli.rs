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
    /// Progress on stderr: a bar on a terminal, JSON lines for scripts, or none
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// The image format of restored disks (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiskFormat {
    // A raw image, the exact disk size, zero runs as holes.
    Raw,
    // A qcow2 (version 3) image, zero runs unallocated.
    Qcow2,
}

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    // A bar when stderr is a terminal and neither --quiet nor --json is given.
    Auto,
    // One JSON object a line on stderr ({"label","done","total","rate"}, bytes), whatever
    // stderr is: about every second and once at the end.
    Json,
    // No progress.
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    List(ListArgs),
    Config(ConfigArgs),
    Verify(VerifyArgs),
    Extract(ExtractArgs),
    Create(CreateArgs),
    Merge(MergeArgs),
    Patch(PatchArgs),
    Partitions(PartitionsArgs),
    Mount(MountArgs),
    Umount(UmountArgs),
    Drill(DrillArgs),
    Serve(ServeArgs),
    Fuse(FuseArgs),
    Ls(LsArgs),
    Cp(CpArgs),
    Cat(CatArgs),
    Completions(CompletionsArgs),
    #[command(hide = true)]
    Manpage(ManpageArgs),
}

impl Command {
    /// The subcommand's name as typed (`extract`), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::List(_) => "list",
            Command::Config(_) => "config",
            Command::Verify(_) => "verify",
            Command::Extract(_) => "extract",
            Command::Create(_) => "create",
            Command::Merge(_) => "merge",
            Command::Patch(_) => "patch",
            Command::Partitions(_) => "partitions",
            Command::Mount(_) => "mount",
            Command::Umount(_) => "umount",
            Command::Drill(_) => "drill",
            Command::Serve(_) => "serve",
            Command::Fuse(_) => "fuse",
            Command::Ls(_) => "ls",
            Command::Cp(_) => "cp",
            Command::Cat(_) => "cat",
            Command::Completions(_) => "completions",
            Command::Manpage(_) => "manpage",
        }
    }
}

/// List the configs and disks of a VMA archive (output compatible with `vma list`).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  pverescue list vzdump-qemu-100-2024_01_02-03_04_05.vma.zst\n  \
                        zstd -dc backup.vma.zst | pverescue list -\n  \
                        pverescue list --json backup.vma.lzo\n  \
                        pverescue list /backup/vm1    # a virtnbdbackup directory"
)]
pub struct ListArgs {
    /// The archive (.vma, .vma.zst, .vma.gz, .vma.lzo, …, or a differential), or - for standard input.
    pub archive: PathBuf,
    #[command(flatten)]
    pub diff: DiffOptions,
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
    #[command(flatten)]
    pub diff: DiffOptions,
    #[command(flatten)]
    pub keys: PbsKeys,
}

/// Check archives completely: structure, checksums, and that every cluster of every disk is present.
#[derive(Debug, Args)]
#[command(
    after_help = "Unlike `vma verify`, a missing cluster (an interrupted backup) is an error. \
                        A directory is scanned for fulls and differentials (each checked with its \
                        full); a differential whose full is missing fails. Container backups \
                        (tar) get a structural check.\n\n\
                        Examples:\n  pverescue verify /mnt/usb/dump/vzdump-qemu-*.vma.zst\n  \
                        pverescue verify /mnt/usb/dump\n  \
                        pverescue verify --json backup.vma.gz\n  \
                        pverescue verify /backup/vm1  # a virtnbdbackup directory"
)]
pub struct VerifyArgs {
    /// Archives, differentials or backup directories to check, or - for standard input.
    #[arg(required = true)]
    pub archives: Vec<PathBuf>,
    #[command(flatten)]
    pub diff: DiffOptions,
    #[command(flatten)]
    pub keys: PbsKeys,
}

/// Serve the disks of a backup over NBD, read-only, until Ctrl-C: boot a VM from it or copy it
/// with any NBD client.
#[derive(Debug, Args)]
#[command(
    after_help = "Every disk is one export, named like the disk (drive-scsi0 for a PBS \
                  snapshot, the file name for a raw image). The exact qemu-system-x86_64, \
                  qemu-img and nbdcopy lines for each export are printed at start (with --json: \
                  one JSON object on stdout). Reads of known-zero ranges are answered as holes \
                  and block status reports them, so copies stay sparse. Without --overlay the \
                  exports are read-only; with it, writes land in the overlay file (made if \
                  missing, continued if it exists) and the backup is never written. Ctrl-C or \
                  SIGTERM stop the server (exit 130/143), remove the socket and save the \
                  overlay's map.\n\n\
                  Examples:\n  pverescue serve /mnt/usb/datastore/vm/100 --socket /tmp/vm100.sock\n  \
                  pverescue serve disk.raw --listen 127.0.0.1:10809\n  \
                  pverescue serve /mnt/usb/datastore/vm/100 --socket /tmp/vm100.sock --overlay /var/tmp/vm100.overlay\n  \
                  nbdcopy 'nbd+unix:///drive-scsi0?socket=/tmp/vm100.sock' drive-scsi0.raw"
)]
pub struct ServeArgs {
    /// A PBS snapshot or group directory, a virtnbdbackup directory, a VMA archive or
    /// differential, or a raw disk image.
    pub source: PathBuf,
    /// Listen on this Unix socket (it must not exist; removed on exit).
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    pub socket: Option<PathBuf>,
    /// Listen on this TCP address (default 127.0.0.1:10809; a bare port means 127.0.0.1:PORT).
    /// There is no authentication: never listen beyond loopback on an untrusted network.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Serve only these disks (e.g. drive-scsi0, scsi0 or drive-scsi0.img.fidx; repeatable).
    #[arg(
        short = 'd',
        short_alias = 'a',
        long = "disk",
        alias = "archive",
        value_name = "NAME"
    )]
    pub select: Vec<String>,
    /// Take writes into this copy-on-write overlay file (one disk), or FILE.<disk> (several);
    /// the backup is never written.
    #[arg(long, value_name = "FILE")]
    pub overlay: Option<PathBuf>,
    /// Threads serving the requests of each client (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub from: SourceOptions,
}

/// Show the disks of a backup as read-only files (FUSE) until unmounted or Ctrl-C.
#[derive(Debug, Args)]
#[command(
    after_help = "MOUNTPOINT shows one file a disk (drive-scsi0.raw) and the configs \
                  (qemu-server.conf), read-only; SEEK_DATA/SEEK_HOLE follow the backup's zero \
                  ranges. The command stays in the foreground: `pverescue umount MOUNTPOINT` \
                  (or umount, or Ctrl-C) ends it. Needs /dev/fuse and root (no libfuse, no \
                  fusermount).\n\n\
                  Examples:\n  pverescue fuse /mnt/usb/datastore/vm/100 /mnt/vm100 &\n  \
                  pverescue mount /mnt/vm100/drive-scsi0.raw /mnt/root\n  \
                  pverescue umount /mnt/root; pverescue umount /mnt/vm100"
)]
pub struct FuseArgs {
    /// A PBS snapshot or group directory, a virtnbdbackup directory, a VMA archive or
    /// differential, or a raw disk image.
    pub source: PathBuf,
    /// An empty directory to show the files in.
    pub mountpoint: PathBuf,
    /// Show only these disks (e.g. drive-scsi0 or scsi0; repeatable).
    #[arg(
        short = 'd',
        short_alias = 'a',
        long = "disk",
        alias = "archive",
        value_name = "NAME"
    )]
    pub select: Vec<String>,
    #[command(flatten)]
    pub from: SourceOptions,
}

/// Keys for encrypted Proxmox Backup Server snapshots.
#[derive(Debug, Args)]
pub struct PbsKeys {
    /// A PBS encryption key file (repeatable; the snapshot's manifest says which key it needs);
    /// a password is read from PBS_ENCRYPTION_PASSWORD.
    #[arg(long = "keyfile", value_name = "FILE")]
    pub keyfiles: Vec<PathBuf>,
    /// Read the key files' password from the first line of this file instead of
    /// PBS_ENCRYPTION_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Restore the disks and configs of a VMA archive into a new directory, or disks onto devices.
#[derive(Debug, Args)]
#[command(
    after_help = "Disks are written as DIR/disk-<devname>.raw (exactly the disk size, sparse: \
                        zero blocks stay holes) and configs as DIR/<name>, as `vma extract` does. \
                        Every file is first written as .<name>.partial-<pid> and gets its name \
                        only when every cluster has been seen, never replacing a file (with \
                        --force, replacing a file but never writing through a link); on failure, \
                        Ctrl-C or SIGTERM everything the run created is removed.\n\n\
                        --map sends a disk elsewhere in the same pass, like Proxmox's restore map: \
                        onto a block device (bare metal: zero blocks are written as zeros, with \
                        BLKZEROOUT when the device supports it), onto a file (zero blocks stay \
                        holes), or nowhere (skip: read and verified only). A device must hold at \
                        least the disk, and neither it nor a partition of it may be mounted, held \
                        (device-mapper, md) or swap. Overwriting a device or an existing file \
                        needs --yes. DIR may be left out when every disk is mapped.\n\n\
                        Examples:\n  pverescue extract vzdump-qemu-100-2024_01_02-03_04_05.vma.zst /srv/restore\n  \
                        pverescue extract backup.vma.lzo /srv/restore -d drive-scsi0\n  \
                        ssh backuphost cat backup.vma.zst | pverescue extract - /srv/restore\n  \
                        pverescue extract backup.vma.zst --map drive-scsi0=/dev/sdb --yes --verify\n  \
                        pverescue extract backup.vma.zst /srv/restore --map scsi1=skip\n\n\
                        A Proxmox Backup Server snapshot (or a group: its newest finished \
                        snapshot) is restored the same way: X.img.fidx as DIR/X.img and \
                        X.conf.blob as DIR/X.conf, every chunk checked (CRC-32, SHA-256, and \
                        the AES-256-GCM tag with --keyfile).\n\n\
                        Examples:\n  pverescue extract /mnt/usb/store/vm/100 /srv/restore\n  \
                        pverescue extract /mnt/usb/store/vm/100/2024-01-02T03:04:05Z /srv/restore \\\n      \
                        --keyfile /root/pbs.key -a drive-scsi0\n  \
                        pverescue extract /mnt/usb/store/vm/100 --map scsi0=/dev/sdb --yes --verify\n\n\
                        A virtnbdbackup directory (libvirt/KVM) restores each disk to \
                        DIR/<disk>.raw and the domain XML of that point to DIR/vmconfig.xml, as of \
                        the newest restorable point or the one --until names:\n  \
                        pverescue extract /backup/vm1 /srv/restore\n  \
                        pverescue extract /backup/vm1 /srv/restore --until virtnbdbackup.2\n  \
                        pverescue extract /backup/vm1 /srv/restore --until vda.diff.1719830400.data -d vda\n  \
                        pverescue extract /backup/vm1 /srv/restore --format qcow2"
)]
pub struct ExtractArgs {
    /// The archive, or - for standard input.
    pub archive: PathBuf,
    /// Target directory for configs and unmapped disks; it must not exist (see --force).
    /// Optional when every disk is mapped.
    pub dir: Option<PathBuf>,
    /// Restore only these drives (e.g. drive-scsi0 or scsi0), comma separated.
    #[arg(
        short = 'd',
        long = "drives",
        value_name = "DRIVE,...",
        value_delimiter = ','
    )]
    pub drives: Option<Vec<String>>,
    /// Write a disk to a block device or file instead of DIR, or skip it (repeatable).
    #[arg(long = "map", value_name = "DRIVE=PATH|skip", value_parser = crate::targets::parse_map)]
    pub maps: Vec<crate::targets::MapArg>,
    /// Confirm overwriting the devices and existing files given with --map.
    #[arg(long)]
    pub yes: bool,
    /// After writing, re-read every written disk and compare it with a digest made while writing.
    #[arg(long)]
    pub verify: bool,
    /// Use an existing target directory and overwrite files in it.
    #[arg(long)]
    pub force: bool,
    /// Write zero blocks explicitly instead of leaving holes (for targets that need it).
    #[arg(long)]
    pub write_zeroes: bool,
    /// Proxmox Backup Server: restore only this archive (drive-scsi0.img.fidx, or drive-scsi0;
    /// root.pxar or root.mpxar for a file tree; repeatable).
    #[arg(short = 'a', long = "archive", id = "select", value_name = "ARCHIVE")]
    pub select: Vec<String>,
    /// Proxmox Backup Server: restore around missing or damaged chunks instead of stopping:
    /// a copy a verify job renamed to <digest>.N.bad is used when it passes every check, else
    /// zeros are written; every such range is listed and the exit code is 1.
    #[arg(long)]
    pub zero_fill: bool,
    #[command(flatten)]
    pub keys: PbsKeys,
    /// virtnbdbackup: the point in time, a checkpoint name (the state right after the
    /// incremental that created it) or a data file's name (the state right after that file);
    /// default: the newest restorable point.
    #[arg(long, value_name = "CHECKPOINT|FILE")]
    pub until: Option<String>,
    /// virtnbdbackup: write disks into DIR as raw images (sparse) or as qcow2 images (zero runs
    /// unallocated).
    #[arg(long, value_enum, default_value_t = DiskFormat::Raw)]
    pub format: DiskFormat,
    #[command(flatten)]
    pub diff: DiffOptions,
}

/// Make a VMA archive from raw disk images and config files.
#[derive(Debug, Args)]
#[command(
    after_help = "The output is compressed according to its extension (.zst, .gz, .lzo; \
                        anything else is plain VMA). An existing file is never overwritten.\n\n\
                        Examples:\n  pverescue create vzdump-qemu-100-2024_01_02-03_04_05.vma.zst \\\n      \
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

/// Options for reading a differential backup (`…--differential-<time>.vcdiff[.zst|.gz|.lzo]`).
#[derive(Debug, Args)]
pub struct DiffOptions {
    /// The full backup a differential was made against (default: found next to the
    /// differential by its name, everything before `--differential-`).
    #[arg(long, value_name = "FULL")]
    pub base: Option<PathBuf>,
    /// How far back in the full a differential may copy from, e.g. 128M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "128M")]
    pub source_window: String,
}

/// Rebuild a standalone full archive from a full backup and one of its differentials.
#[derive(Debug, Args)]
#[command(
    after_help = "The result is checked completely (a VMA: every cluster of every disk; a tar: \
                        its structure) while it is written under a temporary name, and gets its \
                        name only then. What `pve-xdelta3 -d` did, without Proxmox.\n\n\
                        Examples:\n  full=vzdump-qemu-100-2020_05_01-01_00_02.vma.zst\n  \
                        delta=$full--differential-2020_05_03-01_00_05.vcdiff.zst\n  \
                        pverescue merge \"$full\" \"$delta\" \\\n      \
                        -o vzdump-qemu-100-2020_05_03-01_00_05.vma.zst"
)]
pub struct MergeArgs {
    /// The full backup (.vma[.zst|.gz|.lzo] or .tar[...]).
    pub full: PathBuf,
    /// The differential made against it (.vcdiff[.zst|.gz|.lzo]).
    pub diff: PathBuf,
    /// The archive to write; compressed by its extension; never overwritten.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    #[command(flatten)]
    pub diff_opts: DiffOptions,
}

/// Apply VCDIFF (xdelta3) or rdiff (librsync) deltas to any file, like `xdelta3 -d` or `rdiff patch`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each delta's format is recognised from its content; compressed bases and \
                        deltas are unpacked on the fly. Several deltas apply as a chain without \
                        intermediate files (an rdiff delta needs random access to its basis: a \
                        compressed one is unpacked to a temporary file next to OUT, and the \
                        command says so).\n\n\
                        Examples:\n  pverescue patch vm-0.qcow2 d1.vcdiff d2.vcdiff -o vm-2.qcow2\n  \
                        pverescue patch disk.raw.zst disk.rdiff -o new.raw\n  \
                        pverescue patch /dev/null made-without-source.vcdiff -o -"
)]
pub struct PatchArgs {
    /// The file the first delta was made against (/dev/null for a delta made without a source).
    pub base: PathBuf,
    /// One or more deltas, applied in order as a chain.
    #[arg(required = true)]
    pub deltas: Vec<PathBuf>,
    /// Where to write the result, or - for standard output; never overwritten.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// How far back in the base a VCDIFF delta may copy from, e.g. 128M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "128M")]
    pub source_window: String,
    /// Most new data an rdiff delta before the last may hold in memory, e.g. 512M, 4G (default:
    /// half of the memory available).
    #[arg(long, value_name = "SIZE")]
    pub rdiff_memory: Option<String>,
}

/// Show the partitions, LVM volumes and filesystems of a disk image, with byte offsets.
#[derive(Debug, Args)]
pub struct PartitionsArgs {
    /// A raw disk image (e.g. disk-drive-scsi0.raw) or block device.
    pub image: PathBuf,
    /// Logical sector size to assume instead of detecting it (512 or 4096).
    #[arg(long, value_name = "BYTES")]
    pub sector_size: Option<u32>,
}

/// Mount a partition or LVM volume of a disk image read-only, through a loop device.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// A raw disk image or block device.
    pub image: PathBuf,
    /// Where to mount it (an existing directory).
    pub mountpoint: PathBuf,
    #[command(flatten)]
    pub volume: Volume,
    /// Filesystem type to use instead of the detected one.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub fstype: Option<String>,
    /// Mount read-write: this modifies the image (journal replay, timestamps).
    #[arg(long)]
    pub rw: bool,
    /// Confirm --rw without asking.
    #[arg(long)]
    pub yes: bool,
}

/// Which partition or logical volume of a disk (`mount`, `ls`, `cp`, `cat`).
#[derive(Debug, Args)]
pub struct Volume {
    /// Partition number (as in `pverescue partitions`).
    #[arg(
        short = 'p',
        long = "partition",
        value_name = "N",
        conflicts_with = "lv"
    )]
    pub partition: Option<u32>,
    /// LVM logical volume as VG/LV.
    #[arg(long, value_name = "VG/LV")]
    pub lv: Option<String>,
}

impl Volume {
    /// The choice as `partitions` takes it: the only filesystem when none is named.
    pub fn selector(&self) -> partitions::Selector<'_> {
        match (self.partition, &self.lv) {
            (Some(n), _) => partitions::Selector::Partition(n),
            (None, Some(lv)) => partitions::Selector::Lv(lv),
            (None, None) => partitions::Selector::Auto,
        }
    }
}

/// Where the filesystem of `ls`, `cp` and `cat` is: which disk of the source, which partition or
/// logical volume of that disk.
#[derive(Debug, Args)]
pub struct FsSource {
    #[command(flatten)]
    pub volume: Volume,
    /// The disk of a VMA archive when it has several (drive-scsi0 or scsi0).
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// The disk image of a PBS snapshot when it has several (drive-scsi0.img.fidx or drive-scsi0).
    #[arg(short = 'a', long = "archive", value_name = "ARCHIVE")]
    pub archive: Option<String>,
    #[command(flatten)]
    pub from: SourceOptions,
}

/// What reading the disks of any source may need (`ls`, `cp`, `cat`, `serve`, `fuse`).
#[derive(Debug, Args)]
pub struct SourceOptions {
    /// Where a compressed VMA or a differential is staged first: sparse files of the disks'
    /// sizes, removed when the command ends [default: $TMPDIR or /tmp].
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    #[command(flatten)]
    pub diff: DiffOptions,
    /// virtnbdbackup: the point in time, a checkpoint name or a data file's name (default:
    /// the newest restorable point).
    #[arg(long, value_name = "CHECKPOINT|FILE")]
    pub until: Option<String>,
    #[command(flatten)]
    pub keys: PbsKeys,
}

/// List a directory inside a backup or disk image, without mounting (ext2/3/4, FAT, NTFS).
#[derive(Debug, Args)]
#[command(
    after_help = "SOURCE is a raw disk image or block device, a VMA archive or \
                        differential (compressed ones are staged once under --scratch), a PBS \
                        snapshot or group directory (a disk image, or a container's file tree: \
                        -a picks), or a pxar archive file (.pxar, or .mpxar with its .ppxar). The filesystem is found on its own when the \
                        disk holds one; otherwise choose with -p or --lv. Works as a normal user: \
                        no loop device, no mount, no FUSE. FAT times carry no zone and are shown \
                        as UTC.\n\n\
                        Examples:\n  pverescue ls disk-drive-scsi0.raw /etc\n  \
                        pverescue ls vzdump-qemu-100-2024_01_02-03_04_05.vma.zst -p 2 -l /home\n  \
                        pverescue ls /mnt/pbs/vm/100/2024-01-02T03:04:05Z -a drive-scsi0 -R /etc/nginx\n  \
                        pverescue ls --json win.raw -p 3 /Users"
)]
pub struct LsArgs {
    /// The backup or disk image.
    pub source: PathBuf,
    /// The directory (or file) to list.
    #[arg(default_value = "/")]
    pub path: std::ffi::OsString,
    /// Long form: type and mode, owner, size, modification time (UTC), link target.
    #[arg(short = 'l', long = "long")]
    pub long: bool,
    /// List subdirectories too.
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,
    #[command(flatten)]
    pub fs: FsSource,
}

/// Copy files and directory trees out of a backup or disk image, like `cp -a`, without mounting.
#[derive(Debug, Args)]
#[command(
    after_help = "Each PATH lands in DEST under its own name (a directory as DEST/<name>/, \
                        `/` fills DEST itself); DEST is created when missing. Modes (setuid, \
                        setgid and sticky too), modification times, symlinks (as links), \
                        hardlinks and, when run as root, owners are kept; zero blocks stay holes. \
                        Nothing is written outside DEST and nothing is replaced without --force: \
                        a directory is built as DEST/.NAME.partial-PID and renamed when all of it \
                        is written, a single file likewise; on failure or Ctrl-C what the run \
                        created is removed. Entries that cannot be \
                        copied (device nodes, names with / or .., unreadable files) are skipped \
                        with a warning and exit code 1.\n\n\
                        Examples:\n  pverescue cp disk-drive-scsi0.raw /etc/nginx ./restored\n  \
                        pverescue cp backup.vma.zst -p 1 /home/alice/db.sql /var/lib/x /tmp/out\n  \
                        pverescue cp win.raw -p 3 '/Users/Bob/Documents' ./bob\n  \
                        pverescue cp /mnt/pbs/ct/200 /etc/nginx ./restored   # a container's pxar tree"
)]
pub struct CpArgs {
    /// The backup or disk image.
    pub source: PathBuf,
    /// What to copy, then the directory to copy into.
    #[arg(required = true, num_args = 2.., value_name = "PATH... DEST")]
    pub paths: Vec<std::ffi::OsString>,
    /// Replace files that exist in DEST (never writing through a link).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub fs: FsSource,
}

/// Print one file of a backup or disk image on standard output, without mounting.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  pverescue cat disk-drive-scsi0.raw /etc/fstab\n  \
                        pverescue cat backup.vma.zst -p 2 /var/backups/db.sql.gz | gunzip | less"
)]
pub struct CatArgs {
    /// The backup or disk image.
    pub source: PathBuf,
    /// The file.
    pub path: std::ffi::OsString,
    #[command(flatten)]
    pub fs: FsSource,
}

/// Unmount what `pverescue mount` mounted and release its loop device.
#[derive(Debug, Args)]
pub struct UmountArgs {
    /// The mount point.
    pub mountpoint: PathBuf,
}

/// Restore drill: prove that the newest backup of every VM restores, mounts and passes checks.
#[derive(Debug, Args)]
#[command(
    after_help = "For each VM found (by VMID in vzdump file names), the newest restorable point \
                        is chosen: the newest full, or the newest differential whose full is \
                        present. It is verified completely while restored into a scratch \
                        directory, re-read and compared, its partitions found and every \
                        filesystem the kernel can read mounted read-only (root only) for the \
                        checks; then everything is unmounted and removed, also on Ctrl-C. A \
                        failing VM does not stop the drill. Exit code 0 only when every VM \
                        passed, 2 otherwise. The JSON report is documented in docs/drill.md.\n\n\
                        Examples:\n  pverescue drill /mnt/pbs/dump --report drill.json\n  \
                        pverescue drill /mnt/pbs/dump --check-file /etc/hostname \\\n      \
                        --check-cmd 'test -d'\n  \
                        pverescue drill --no-write vzdump-qemu-100-2024_01_02-03_04_05.vma.zst"
)]
pub struct DrillArgs {
    /// Backup directories (not recursive) and archives.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Where to restore (default: the temporary directory); needs room for the largest VM.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    /// A path that must exist in some mounted filesystem of each VM (repeatable).
    #[arg(long = "check-file", value_name = "PATH")]
    pub check_files: Vec<String>,
    /// A command run with each mount point as its last argument; must exit 0 (repeatable).
    #[arg(long = "check-cmd", value_name = "CMD")]
    pub check_cmds: Vec<String>,
    /// Verify only: stream every disk to nowhere (no restore, mounts or checks).
    #[arg(long)]
    pub no_write: bool,
    /// Restore and re-read, but do not mount (checks are reported as skipped).
    #[arg(long)]
    pub no_mount: bool,
    /// Keep the restored images in the scratch directory (mounts are always released).
    #[arg(long)]
    pub keep: bool,
}

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  pverescue completions bash > /etc/bash_completion.d/pverescue\n  \
                        pverescue completions zsh > \"${fpath[1]}/_pverescue\"\n  \
                        pverescue completions fish > ~/.config/fish/completions/pverescue.fish"
)]
pub struct CompletionsArgs {
    /// The shell to print the script for.
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    pub shell: String,
}

/// Write the man pages into a directory.
#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Output directory.
    pub dir: PathBuf,
}
