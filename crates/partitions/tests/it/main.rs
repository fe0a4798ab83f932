//! Integration tests: images made at test time by real tools (sgdisk, sfdisk, mkfs.*, lvm2), with
//! every expected value taken from those tools' own reports.

mod fs;
mod gpt;
mod lvm;
mod mbr;
mod robust;
mod tools;
