//! Loop devices with offset and size limit, read-only mounts, and guards that always clean up.
//!
//! The kernels pverescue runs on scan no partition tables and have no device-mapper, so a
//! partition (or a linear LVM volume) inside a raw disk image is exposed as its own loop device
//! with a byte offset and a size limit, then mounted. This crate does exactly that, and makes
//! sure nothing is left behind:
//!
//! - [`LoopDevice::attach`] asks `/dev/loop-control` for a free device (`LOOP_CTL_GET_FREE`) and
//!   binds the image with `LOOP_CONFIGURE` (offset, size limit, read-only, autoclear in one
//!   atomic call), falling back to `LOOP_SET_FD` + `LOOP_SET_STATUS64` on kernels before 5.8.
//!   When another process grabs the device first, the next free one is tried.
//! - [`mount_image`] attaches and mounts in one step and returns a [`Mount`] guard. Read-only is
//!   the default: read-only loop device, `MS_RDONLY`, and the option that stops the filesystem
//!   from replaying its journal into the image ([`read_only_options`]: ext3/ext4 `noload`, XFS
//!   `norecovery`, btrfs `rescue=nologreplay`). [`Access::ReadWrite`] is explicit.
//! - The guard unmounts and detaches on drop and on every error path; [`Mount::keep`] leaves a
//!   mount in place for a later [`unmount`], which finds the loop device through
//!   `/proc/self/mountinfo` and sysfs and releases it too.
//! - [`install_signal_cleanup`] starts a thread that, on SIGINT/SIGTERM/SIGHUP, releases every
//!   active mount and loop device of this process, then exits with 128 + the signal number.
//!   Attach, mount and release run under one lock, so a signal never cuts a mount in half.
//! - Errors are actionable ([`Error::hint`]): not root, no `/dev/loop-control` (inside a
//!   container: the `docker run --cap-add SYS_ADMIN --device /dev/loop-control --device
//!   /dev/loopN` flags), a free loop device with no node, or a filesystem type the kernel does
//!   not have (checked against `/proc/filesystems`: a userspace route is needed).
//! - [`MountSpec::mount_command`] spells the same mount as a `mount(8)` command line, and
//!   [`userspace_route`] the FUSE driver line for filesystems the kernel lacks (NTFS, FAT, exFAT,
//!   ISO 9660), so users can see and reproduce what happens.
//!
//! # Why a private ioctl module and not `loopdev-3`
//!
//! `loopdev-3` generates its bindings with bindgen at build time, which needs libclang on every
//! build machine and complicates static and musl builds. The loop interface is five ioctls and
//! two small `repr(C)` structures that are part of the kernel's stable ABI, so the private `sys`
//! module declares them directly with `libc` (with compile-time size checks). It is the only
//! place in this crate with `unsafe` (`blockdev` has a private ioctl module of its own), and
//! every block states why it is sound.
//!
//! # Non-goals
//!
//! Partition parsing (the `partitions` crate gives offsets), device-mapper, NBD, FUSE, and
//! mounting filesystems the kernel lacks.
//!
//! # Example
//!
//! ```
//! use loopmount::{Access, MountSpec, read_only_options};
//!
//! // Read-only mounts never replay a journal into the image.
//! assert_eq!(read_only_options("xfs"), ["norecovery"]);
//! let spec = MountSpec::read_only(1 << 20, 16 << 20, "ext4");
//! assert_eq!((spec.access, spec.option_string().as_str()), (Access::ReadOnly, "noload"));
//! assert_eq!(
//!     spec.mount_command("disk.raw".as_ref(), "/mnt".as_ref()),
//!     "mount -o ro,loop,offset=1048576,sizelimit=16777216,noload -t ext4 disk.raw /mnt"
//! );
//!
//! // A filesystem type this kernel does not have is refused before any device is attached.
//! # if !std::fs::read_to_string("/proc/filesystems").unwrap_or_default().contains("nosuchfs") {
//! let err = loopmount::check_fs_available("nosuchfs").unwrap_err();
//! assert!(err.hint().unwrap().contains("userspace"));
//! # }
//! ```
//!
//! Mounting needs root:
//!
//! ```no_run
//! # fn main() -> loopmount::Result<()> {
//! loopmount::install_signal_cleanup()?;
//! let spec = loopmount::MountSpec::read_only(1 << 20, 16 << 20, "ext4");
//! let mount = loopmount::mount_image("disk.raw".as_ref(), &spec, "/mnt/p1".as_ref())?;
//! println!("{} on {}", mount.device().display(), mount.mountpoint().display());
//! mount.unmount()?; // or just drop it
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![allow(unsafe_code)] // Only in the private `sys` module; see the essay above.

mod command;
mod error;
mod loopdev;
mod mount;
mod registry;
mod sys;

pub use command::{shell_quote, userspace_route};
pub use error::{CONTAINER_FLAGS, Error, Result};
pub use loopdev::{AttachOptions, LOOP_CONTROL, LoopDevice};
pub use mount::{
    Access, Mount, MountInfo, MountSpec, Unmounted, check_fs_available, loop_backing, mount_image,
    mounts, read_only_options, unmount,
};
pub use registry::{install_signal_cleanup, release_all};
