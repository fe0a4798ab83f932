//! Integration tests of `fsread`: images made by the real tools at test time, expected values from
//! the source trees the tests wrote and from independent readers (`debugfs`, `mdir`/`mtype`,
//! `ntfsls`/`ntfscat`), never from `fsread`.
//!
//! - `ext4`: `mkfs.ext4 -d` trees (deep, a hashed directory, links, sparse, unicode, owners).
//! - `fat`: `mkfs.vfat` + `mcopy` (FAT12/16/32, long names, nested, a large file).
//! - `ntfs`: `mkntfs` + `ntfscp`, and an `ntfs-3g` FUSE mount for nested and compressed files.
//! - `hostile`: damaged images: errors, never panics or hangs.

mod ext4;
mod fat;
mod hostile;
mod ntfs;
mod util;
