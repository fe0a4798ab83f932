//! What to release when the process is interrupted: scratch directories, and the process groups
//! of running `--check-cmd` commands.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Process group ids of running check commands (each runs as the leader of its own group).
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Set when an interrupt is being handled: no new check command may start.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// True once an interrupt is being handled: the drill must not start another check command.
pub(crate) fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

fn lock<T>(m: &'static Mutex<Vec<T>>) -> MutexGuard<'static, Vec<T>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Blocks the calling thread for good once an interrupt is being handled, so that the drill does
/// not go on (or end with its own exit code) while the signal thread cleans up and exits.
pub(crate) fn wait_if_stopping() {
    while stopping() {
        std::thread::park();
    }
}

/// Records a directory to remove on a signal.
pub(crate) fn register(dir: &Path) {
    lock(&SCRATCH).push(dir.to_path_buf());
}

/// Forgets a directory (after it was removed or is kept on purpose).
pub(crate) fn unregister(dir: &Path) {
    lock(&SCRATCH).retain(|d| d != dir);
}

/// Records a check command's process group (its pid: it was started with `process_group(0)`).
pub(crate) fn register_child(pgid: u32) {
    if let Ok(id) = i32::try_from(pgid) {
        let mut children = lock(&CHILDREN);
        if stopping() {
            // Started while the interrupt was being handled: stop it at once.
            sys::signal_group(id, libc::SIGKILL);
        } else {
            children.push(id);
        }
    }
}

/// Forgets a check command's process group once it has been waited for.
pub(crate) fn unregister_child(pgid: u32) {
    lock(&CHILDREN).retain(|&c| u32::try_from(c).ok() != Some(pgid));
}

/// What an interrupt released, for the caller to report before the process exits.
#[derive(Debug, Clone, Default)]
pub struct Interrupted {
    /// The signal number (2 for SIGINT, 15 for SIGTERM, 1 for SIGHUP).
    pub signal: i32,
    /// Check commands stopped (their whole process group).
    pub checks_stopped: usize,
    /// Mounts and loop devices released.
    pub mounts_released: usize,
    /// Scratch directories removed.
    pub removed: Vec<PathBuf>,
    /// Scratch directories that could not be removed, with the reason.
    pub not_removed: Vec<(PathBuf, String)>,
}

/// Stops every running check command's process group: SIGTERM, then SIGKILL for what is still
/// there after a second. A check runs in its own group, so a terminal's Ctrl-C does not reach it
/// and a SIGTERM sent to pverescue alone would leave it running, holding a mount busy.
fn stop_children() -> usize {
    let groups: Vec<i32> = {
        let mut children = lock(&CHILDREN);
        STOPPING.store(true, Ordering::SeqCst);
        children.drain(..).collect()
    };
    for &g in &groups {
        sys::signal_group(g, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for &g in &groups {
        // Reap the leader (our child) so that the group can disappear.
        while sys::signal_group(g, 0) && Instant::now() < deadline {
            sys::reap(g, false);
            std::thread::sleep(Duration::from_millis(10));
        }
        if sys::signal_group(g, 0) {
            sys::signal_group(g, libc::SIGKILL);
            sys::reap(g, true);
        }
    }
    groups.len()
}

/// The two system calls the cleanup needs.
#[allow(unsafe_code)]
mod sys {
    /// Sends `signal` to process group `group` (0 only checks that it exists); true on success.
    pub(super) fn signal_group(group: i32, signal: i32) -> bool {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe { libc::kill(-group, signal) == 0 }
    }

    /// Collects the exit status of our child `pid`, waiting for it when `block`.
    pub(super) fn reap(pid: i32, block: bool) {
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: a null status pointer is allowed; waitpid(2) writes nothing then.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), flags) };
    }
}

/// What the interrupt has released so far (filled stage by stage by the actions below).
static DONE: Mutex<Option<Interrupted>> = Mutex::new(None);

fn done(signal: i32, f: impl FnOnce(&mut Interrupted)) {
    let mut d = DONE.lock().unwrap_or_else(|p| p.into_inner());
    f(d.get_or_insert_with(|| Interrupted {
        signal,
        ..Interrupted::default()
    }));
}

/// Makes SIGINT, SIGTERM or SIGHUP stop the running check commands, release every mount and loop
/// device of this process (`loopmount::release_all`), remove every scratch directory of running
/// drills (and whatever else other libraries registered, such as half-written files), call
/// `report` with what was done (the library does not print), and exit with 128 + the signal
/// number, through the process-wide [`cleanup`] handler.
///
/// Use it instead of `loopmount::install_signal_cleanup`, whose release would leave nothing for
/// the report to count.
pub fn install_signal_cleanup(report: fn(&Interrupted)) -> std::io::Result<()> {
    static REPORT: OnceLock<fn(&Interrupted)> = OnceLock::new();
    static REGISTERED: OnceLock<()> = OnceLock::new();
    let _ = REPORT.set(report);
    REGISTERED.get_or_init(|| {
        use cleanup::Stage;
        cleanup::on_signal(Stage::Children, |sig| {
            let n = stop_children();
            done(sig, |d| d.checks_stopped = n);
        });
        cleanup::on_signal(Stage::Mounts, |sig| {
            let n = loopmount::release_all();
            done(sig, |d| d.mounts_released = n);
        });
        cleanup::on_signal(Stage::Dirs, |sig| {
            for dir in lock(&SCRATCH).drain(..) {
                let r = std::fs::remove_dir_all(&dir);
                done(sig, |d| match r {
                    Ok(()) => d.removed.push(dir),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => d.not_removed.push((dir, e.to_string())),
                });
            }
        });
        cleanup::on_signal(Stage::Report, |sig| {
            done(sig, |d| {
                if let Some(report) = REPORT.get() {
                    report(d);
                }
            });
        });
    });
    cleanup::install()
}
