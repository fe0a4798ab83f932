//! Scratch directories to remove when the process is interrupted.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records a directory to remove on a signal.
pub(crate) fn register(dir: &Path) {
    lock().push(dir.to_path_buf());
}

/// Forgets a directory (after it was removed or is kept on purpose).
pub(crate) fn unregister(dir: &Path) {
    lock().retain(|d| d != dir);
}

/// Starts (once) a thread that, on SIGINT, SIGTERM or SIGHUP, releases every mount and loop device
/// of this process (`loopmount::release_all`), removes every scratch directory of running drills,
/// and exits with 128 + the signal number.
///
/// Use it instead of `loopmount::install_signal_cleanup`, which exits before scratch files could be
/// removed.
pub fn install_signal_cleanup() -> std::io::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let r = INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("drill-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    loopmount::release_all();
                    for d in lock().drain(..) {
                        let _ = std::fs::remove_dir_all(d);
                    }
                    std::process::exit(128 + sig);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    r.clone().map_err(std::io::Error::other)
}
