//! What must be undone when the process is interrupted, in one place.
//!
//! Several libraries hold things that must not outlive an interrupted run: `loopmount` holds loop
//! devices and mounts, `sink` holds half-written files, `drill` holds scratch directories and
//! running check commands. Each registers an undo action here with [`on_signal`], and the binary
//! calls [`install`] once: on SIGINT, SIGTERM or SIGHUP one thread runs every action, in
//! [`Stage`] order (children first, then mounts and loop devices, then files, then
//! directories, then a report), and exits with 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).
//!
//! An action must take the lock its library uses while setting things up, so that a signal seen
//! in the middle of a set-up waits until the set-up is complete and registered, and then undoes it
//! whole. Actions never panic and never print: the process is about to exit.
//!
//! ```
//! cleanup::on_signal(cleanup::Stage::Files, |_signal| { /* remove half-written files */ });
//! cleanup::install()?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

use std::sync::{Mutex, MutexGuard, OnceLock};

/// When an action runs relative to the others: earlier stages first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Child processes (stop them before removing what they use).
    Children,
    /// Mounts and loop devices.
    Mounts,
    /// Files this process created.
    Files,
    /// Directories this process created (after the files in them).
    Dirs,
    /// Telling the user what was undone (the binary's callback), last.
    Report,
}

type Action = Box<dyn Fn(i32) + Send + Sync>;

static ACTIONS: Mutex<Vec<(Stage, Action)>> = Mutex::new(Vec::new());

fn actions() -> MutexGuard<'static, Vec<(Stage, Action)>> {
    ACTIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers `action` to run on an interrupt, in `stage`. Actions of one stage run in the order
/// they were registered. Registering is meant to happen once per library (the action then undoes
/// whatever that library holds at the time), not once per resource.
/// The action receives the signal number.
pub fn on_signal(stage: Stage, action: impl Fn(i32) + Send + Sync + 'static) {
    actions().push((stage, Box::new(action)));
}

/// Runs every registered action in stage order, as signal `signal` would (without exiting).
/// For a caller that must give up everything at once for another reason.
pub fn run_all(signal: i32) {
    run_sorted(&mut actions(), signal);
}

fn run_sorted(list: &mut [(Stage, Action)], signal: i32) {
    list.sort_by_key(|(stage, _)| *stage);
    for (_, action) in list.iter() {
        action(signal);
    }
}

/// The signal being handled, 0 when none.
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// For a thread that ends because an action undid what it waited on (a FUSE session whose
/// mount the action removed): when a signal is being handled, waits for the signal thread to
/// finish the actions and exit with 128 + the signal (never returns); otherwise returns at once.
pub fn wait_if_interrupted() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) != 0 {
        loop {
            std::thread::park();
        }
    }
}

/// Ends the process with `code` in a way no interrupt can contradict: a signal whose actions are
/// already running wins (this call waits, and the process exits with 128 + the signal once they
/// are done); otherwise the process exits with `code` and a signal arriving now undoes nothing.
/// Without this, a command that finished (a mount made and kept) while a signal was being handled
/// could exit 0 after the actions had undone its work.
pub fn exit(code: i32) -> ! {
    // The signal thread holds this lock from before it marks the interrupt until the process
    // has exited; holding it here until exit keeps its actions from starting.
    let _held = actions();
    std::process::exit(code)
}

/// Starts (once per process) the thread that, on SIGINT, SIGTERM or SIGHUP, runs every
/// registered action and exits with 128 + the signal number. Later calls do nothing.
pub fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let r = INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("cleanup-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    // Held until the process exits, so that [`exit`] cannot end it with another code.
                    let mut list = actions();
                    INTERRUPTED.store(sig, std::sync::atomic::Ordering::SeqCst);
                    run_sorted(&mut list, sig);
                    std::process::exit(128 + sig);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    r.clone().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn actions_run_in_stage_order() {
        let order = Arc::new(Mutex::new(Vec::new()));
        for (stage, tag) in [
            (Stage::Dirs, "dirs"),
            (Stage::Files, "files"),
            (Stage::Children, "children"),
            (Stage::Mounts, "mounts"),
            (Stage::Files, "files2"),
        ] {
            let order = Arc::clone(&order);
            on_signal(stage, move |_| {
                order.lock().unwrap_or_else(|p| p.into_inner()).push(tag)
            });
        }
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        on_signal(Stage::Children, move |sig| {
            c.fetch_add(usize::try_from(sig).unwrap_or(0), Ordering::SeqCst);
        });
        run_all(15);
        let got = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(got, ["children", "mounts", "files", "files2", "dirs"]);
        assert_eq!(count.load(Ordering::SeqCst), 15);
    }
}
