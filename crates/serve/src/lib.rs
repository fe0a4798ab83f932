//! Instant access: the disks of a backup served over the NBD protocol, read-only, with an
//! optional copy-on-write [`Overlay`] so that a VM can boot and write without touching the backup.
//!
//! Any [`diskview::ReadAt`] becomes an [`Export`] through [`ReadOnly`]; [`Server::bind`] listens
//! on a Unix socket or a TCP address and serves every client in a thread of its own, each
//! client's requests on a few worker threads. What the server speaks (the NetworkBlockDevice
//! project's `proto.md`): the fixed newstyle handshake with `NBD_OPT_GO`, `INFO`, `LIST`,
//! `EXPORT_NAME`, `ABORT`, structured replies (reads answer known-zero ranges with
//! `NBD_REPLY_TYPE_OFFSET_HOLE`), and the `base:allocation` metadata context for
//! `NBD_CMD_BLOCK_STATUS`, so that `nbdcopy` and `qemu-img convert` skip holes. No TLS (a Unix
//! socket, or a loopback address, is the safe route) and no extended headers; clients fall back.
//!
//! Why our own: the `nbd` crate (0.3) is a sketch of the old handshake without structured replies
//! or block status, and nbdkit's bindings need nbdkit and a C plugin host. The protocol part here
//! is small, bounded at every length a client sends, and fuzzed (`fuzz/`).
//!
//! ```no_run
//! use std::sync::Arc;
//! let disk = diskview::FileView::open("disk.raw".as_ref())?;
//! let export = serve::Export {
//!     name: "drive-scsi0".into(),
//!     description: "disk.raw".into(),
//!     backend: Arc::new(serve::ReadOnly(disk)),
//! };
//! let server = serve::Server::bind(&serve::Listen::Unix("/tmp/disk.sock".into()), vec![export], 2)?;
//! server.run(Arc::new(serve::Quiet), Arc::new(|e| eprintln!("{e}")))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod backend;
mod error;
pub mod fuse;
pub mod nbd;
mod overlay;
#[allow(missing_docs)]
pub mod proto;
mod server;

pub use backend::{Backend, ReadOnly, View};
pub use error::{Error, Result};
pub use nbd::{Events, Export, Quiet};
pub use overlay::{BLOCK as OVERLAY_BLOCK, Overlay};
pub use server::{HANDSHAKE_TIMEOUT, Listen, Server};
