//! Progress display: a bar on a terminal with bytes, rate and ETA; with `--progress=json`, one
//! JSON object a line on stderr (`{"label","done","total","rate"}`, bytes and bytes per second,
//! about every second and once at the end) for a wrapper script to follow; nothing otherwise.
//!
//! Libraries report the position in the stream they parse ([`sink::Progress`]); the bar shows how
//! much of the *input file* has been read instead, through the decompressor's byte counter, so
//! that its percentage, rate and ETA follow the time left whatever the archive's layout. Without a
//! known input size (standard input), it shows bytes and rate only.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{Global, ProgressMode};

/// Renders a library's progress reports as an indicatif bar when stderr is a terminal, or as
/// NDJSON lines when asked.
pub struct Bar {
    bar: Option<ProgressBar>,
    /// The NDJSON emitter, with `--progress=json`.
    lines: Option<Lines>,
    /// Input bytes consumed (the decompressor's counter), when known.
    counter: Option<Arc<AtomicU64>>,
}

/// `--progress=json` state.
struct Lines {
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last: Option<Instant>,
}

/// One NDJSON progress line.
#[derive(Serialize)]
struct Line<'a> {
    label: &'a str,
    done: u64,
    total: Option<u64>,
    /// Bytes per second since the start.
    rate: u64,
}

impl Lines {
    fn emit(&mut self, force: bool) {
        let now = Instant::now();
        if !force && self.last.is_some_and(|t| now - t < Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        let secs = (now - self.started).as_secs_f64();
        let line = Line {
            label: &self.label,
            done: self.done,
            total: self.total,
            rate: if secs > 0.0 {
                (self.done as f64 / secs) as u64
            } else {
                0
            },
        };
        if let Ok(text) = serde_json::to_string(&line) {
            // A closed stderr is not worth failing a restore for.
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }
}

impl Bar {
    /// A bar labelled `label`; silent when quiet, in JSON mode or not on a terminal, unless
    /// `--progress=json` asks for lines.
    pub fn new(g: &Global, label: &str) -> Self {
        let mut this = Self {
            bar: None,
            lines: None,
            counter: None,
        };
        match g.progress {
            ProgressMode::None => {}
            ProgressMode::Json => {
                this.lines = Some(Lines {
                    label: label.to_owned(),
                    total: None,
                    done: 0,
                    started: Instant::now(),
                    last: None,
                });
            }
            ProgressMode::Auto if g.quiet || g.json || !std::io::stderr().is_terminal() => {}
            ProgressMode::Auto => {
                let bar = ProgressBar::no_length();
                bar.set_style(spinner_style());
                bar.set_message(label.to_owned());
                this.bar = Some(bar);
            }
        }
        this
    }

    /// Follows the bytes read of the input file at `path` (its size is the total, when it is a
    /// regular file) through `counter`, instead of the stream positions reported.
    pub fn input(mut self, path: &Path, counter: Arc<AtomicU64>) -> Self {
        let size = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file() && path != Path::new("-"))
            .map(|m| m.len());
        self.counter = Some(counter);
        match size {
            Some(size) => self.total(size),
            None => self,
        }
    }

    /// Sets the total of the positions reported (bytes).
    pub fn total(mut self, total: u64) -> Self {
        if let Some(bar) = &self.bar {
            self.set_total_on(bar, total);
        }
        if let Some(l) = &mut self.lines {
            l.total = Some(total);
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
        if let Some(l) = &mut self.lines {
            l.done = done;
            l.emit(false);
        }
    }

    /// Removes the bar from the terminal; writes the last JSON line.
    pub fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(mut l) = self.lines.take() {
            // The counter knows the final position even when no report came after the end.
            if let Some(c) = &self.counter {
                l.done = c.load(Ordering::Relaxed);
            }
            l.emit(true);
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
