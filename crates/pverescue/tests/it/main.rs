//! Integration tests of the `pverescue` binary, run as a user would run it.
//!
//! Index:
//! - `util`: running the binary, fixture paths, checksums.
//! - `baremetal`: `extract --map` onto loop devices standing in for disks (root), against the
//!   fixture's provenance and `sha256sum`; refusals (too small, mounted, no `--yes`); existing
//!   files keep holes; `skip`; from a differential.
//! - `real`: archives made by the real Proxmox tools (`testdata/real/`): list, config, verify
//!   and extract must match what the real `vma` printed and wrote.
//! - `fixtures`: our fixtures in every compression (`testdata/vma/`), multi-member streams and
//!   standard input; restores must reproduce the sha256 of the input images.
//! - `damaged`: broken archives fail with pinned, actionable messages and leave nothing behind.
//! - `create`: archives we write are read back by us, by Python `dissect.archive` and by `lzop -t`;
//!   a disk past 4 GiB.
//! - `cli`: help, usage errors, exit codes and JSON shapes.
//! - `diff`: differential backups made by xdelta3 as vzdump did (VMA and tar), the real Proxmox
//!   differential, wrong and truncated inputs, `verify DIR`, `merge`.
//! - `drill`: a backup directory made with real tools (create, zstd, gzip, lzop, xdelta3), one
//!   corrupted archive and one orphan differential: verdicts and reasons, nothing left behind,
//!   also after Ctrl-C in the middle of a check.
//! - `pbs`: `list` and `extract` of the sample PBS datastore in `../shared/fixtures/pbs` against
//!   the sha256 its README gives (plain, deduplicated, encrypted with a key file).
//! - `pxar`: container file trees (pxar, unified and split, plain and encrypted) in datastores
//!   of the test writer, restored as `OUT/X/` and checked against the Python pxar reader;
//!   a backward payload reference, a name leading out.
//! - `patch`: VCDIFF and rdiff deltas from xdelta3 and rdiff, alone and chained.
//! - `partitions`: `pverescue partitions` against sfdisk, sgdisk and lvm2 reports of images
//!   those tools made; human and JSON snapshots.
//! - `mounting`: `mount`/`umount` on the real kernel (root): every supported filesystem, the
//!   image unchanged, nothing leaked after a kill, the errors users meet (LUKS, NTFS, not root,
//!   no /dev/loop-control).
//! - `hardening`: issue 10/12 regressions: planted links, names taken meanwhile, signals, name
//!   collisions, `--verify` against a target damaged between write and re-read.
//! - `hostile`: archives only a hostile writer makes (`vma_writer.py`, from the spec): names
//!   with newlines, escapes and spaces, and what `list`, `config` and `verify` print for them.
//! - `serve`: `serve` of the sample PBS datastore and of raw images to `nbdcopy`, `nbdinfo`,
//!   `qemu-img` and `qemu-io`: README sha256s, holes in the block status, the overlay, signals.
//! - `files`: `ls`, `cp`, `cat` (issue 15) on FAT/ext4 images made by the real tools, raw,
//!   in a `.vma.zst` (staged), on an LVM volume and in a PBS snapshot; hostile names.
//! - `virtnbd`: virtnbdbackup directories (the seed chain of issue 14, from the test-only
//!   writer): `list`, `extract --until` by checkpoint and by file, `--map`, `verify`; every point
//!   compared with the disk state the scenario built.
//! - `generated`: the committed man pages and completions match the flags (`cargo xtask docs`).

mod baremetal;
mod cli;
mod create;
mod damaged;
mod diff;
mod drill;
mod files;
mod fixtures;
mod generated;
mod hardening;
mod hostile;
mod mounting;
mod partitions;
mod patch;
mod pbs;
mod pxar;
mod real;
mod serve;
mod util;
mod virtnbd;
