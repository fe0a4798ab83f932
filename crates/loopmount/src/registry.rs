//! Every loop device and mount this process holds, so that a signal can release them all.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::error::{Error, Result};
use crate::sys;

/// One active loop device, and where it is mounted.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Registry id.
    pub id: u64,
    /// `/dev/loopN`.
    pub device: PathBuf,
    /// Mount point, once mounted.
    pub mountpoint: Option<PathBuf>,
}

/// The registry: the next id and the active entries.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next: u64,
    pub entries: Vec<Entry>,
}

impl Registry {
    /// Adds a device and returns its id.
    pub(crate) fn add(&mut self, device: PathBuf) -> u64 {
        self.next += 1;
        self.entries.push(Entry {
            id: self.next,
            device,
            mountpoint: None,
        });
        self.next
    }

    /// Records the mount point of entry `id`.
    pub(crate) fn set_mountpoint(&mut self, id: u64, mountpoint: Option<PathBuf>) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            e.mountpoint = mountpoint;
        }
    }

    /// Forgets entry `id`.
    pub(crate) fn remove(&mut self, id: u64) {
        self.entries.retain(|e| e.id != id);
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    entries: Vec::new(),
});

/// Locks the registry. Attach, mount and release all happen under this lock, so a signal's
/// cleanup never runs in the middle of one of them.
pub(crate) fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Unmounts and detaches everything registered; returns how many entries were released.
///
/// Mounts that are busy are detached lazily (`MNT_DETACH`), so the kernel frees them as soon as
/// the last file is closed; the loop devices have autoclear set and follow.
pub fn release_all() -> usize {
    let mut reg = lock();
    release_locked(&mut reg)
}

fn release_locked(reg: &mut Registry) -> usize {
    let n = reg.entries.len();
    for e in reg.entries.drain(..) {
        if let Some(mp) = &e.mountpoint {
            let mp = mp.to_string_lossy();
            if sys::umount(&mp, 0).is_err() {
                let _ = sys::umount(&mp, sys::MNT_DETACH);
            }
        }
        if let Ok(dev) = std::fs::File::open(&e.device) {
            let _ = sys::clr_fd(&dev);
        }
    }
    n
}

/// Makes SIGINT, SIGTERM and SIGHUP release every active mount and loop device of this crate,
/// then exit with status 128 + signal number, through the process-wide [`cleanup`] handler
/// (which also runs what other libraries registered, e.g. removing half-written files).
///
/// Call it early in `main`. Signals that arrive while a mount is being set up wait until that
/// mount is complete and registered, then everything is released.
pub fn install_signal_cleanup() -> Result<()> {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        cleanup::on_signal(cleanup::Stage::Mounts, |_| {
            let mut reg = lock();
            release_locked(&mut reg);
        });
    });
    cleanup::install().map_err(|source| Error::Io {
        op: "install signal handler",
        path: PathBuf::new(),
        source,
    })
}
