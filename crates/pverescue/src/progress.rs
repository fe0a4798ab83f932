//! Progress display: a bar on a terminal with bytes, rate and ETA, nothing otherwise.
//!
//! Libraries report the position in the stream they parse ([`sink::Progress`]); the bar shows how
//! much of the *input file* has been read instead, through the decompressor's byte counter, so
//! that its percentage, rate and ETA follow the time left whatever the archive's layout. Without a
//! known input size (standard input), it shows bytes and rate only.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::Global;

/// Renders a library's progress reports as an indicatif bar when stderr is a terminal.
pub struct Bar {
    bar: Option<ProgressBar>,
    /// Input bytes consumed (the decompressor's counter), when known.
    counter: Option<Arc<AtomicU64>>,
}

impl Bar {
    /// A bar labelled `label`, or a silent one when quiet, in JSON mode or not on a terminal.
    pub fn new(g: &Global, label: &str) -> Self {
        if g.quiet || g.json || !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                counter: None,
            };
        }
        let bar = ProgressBar::no_length();
        bar.set_style(spinner_style());
        bar.set_message(label.to_owned());
        Self {
            bar: Some(bar),
            counter: None,
        }
    }

    /// Follows the bytes read of the input file at `path` (its size is the total, when it is a
    /// regular file) through `counter`, instead of the stream positions reported.
    pub fn input(mut self, path: &Path, counter: Arc<AtomicU64>) -> Self {
        let size = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file() && path != Path::new("-"))
            .map(|m| m.len());
        self.counter = Some(counter);
        if let (Some(bar), Some(size)) = (&self.bar, size) {
            self.set_total_on(bar, size);
        }
        self
    }

    /// Sets the total of the positions reported (bytes).
    pub fn total(self, total: u64) -> Self {
        if let Some(bar) = &self.bar {
            self.set_total_on(bar, total);
        }
        self
    }

    fn set_total_on(&self, bar: &ProgressBar, total: u64) {
        bar.set_length(total);
        bar.set_style(bar_style());
    }

    /// Sets the position directly (bytes done).
    pub fn position(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {percent:>3}% {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {bytes} {binary_bytes_per_sec} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl sink::Progress for Bar {
    fn read(&mut self, done: u64) {
        let done = match &self.counter {
            Some(c) => c.load(Ordering::Relaxed),
            None => done,
        };
        self.position(done);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
