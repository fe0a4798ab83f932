//! One pattern for overlapping the steps of a restore: a worker thread, a bounded channel, and
//! buffers that go back to the producer instead of being freed.
//!
//! Decompression (`unpack`), differential decoding (`backupset`) and disk writing (`vma`'s
//! extract) each run beside the thread that parses, like the processes of a shell pipeline.
//! They all use this crate:
//!
//! - [`channel`]: a bounded [`Sender`]/[`Receiver`] pair of `Result<T, E>` items with a return
//!   path for spent items ([`Receiver::recycle`], [`Sender::recycled`]), so a long restore
//!   allocates a handful of buffers in total. Errors cross unchanged: the receiver gets the
//!   producer's own `E`, not a copy rebuilt from its message.
//! - [`spawn`]: runs a producer on a named thread and returns the receiving end.
//! - [`ordered`]: `N` workers map inputs to outputs (PBS chunks decode and hash independently),
//!   and the results come out in input order; at most `depth` are in flight, so memory does not
//!   grow with the input.
//!
//! Dropping a [`Receiver`] makes the producer's next [`Sender::send`] fail with [`Gone`], which
//! is how a consumer that stops early (an error, a closed pipe) stops the producer.
//!
//! ```
//! let rx = pipe::spawn("count", 2, |tx: &mut pipe::Sender<u32, String>| {
//!     for i in 0..5 {
//!         tx.send(i).map_err(|_| "gone".to_string())?;
//!     }
//!     Err("boom".to_string())
//! })?;
//! let got: Vec<_> = rx.into_iter().collect();
//! assert_eq!(got, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4), Err("boom".to_string())]);
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver as MpscReceiver, Sender as MpscSender, SyncSender};
use std::sync::{Arc, Mutex};

/// The consumer is gone: the producer should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the consumer stopped reading")
    }
}

impl std::error::Error for Gone {}

/// The producing end of a [`channel`].
#[derive(Debug)]
pub struct Sender<T, E> {
    tx: SyncSender<Result<T, E>>,
    recycled: MpscReceiver<T>,
}

impl<T, E> Sender<T, E> {
    /// Sends an item, waiting while `depth` items are in flight.
    pub fn send(&self, item: T) -> Result<(), Gone> {
        self.tx.send(Ok(item)).map_err(|_| Gone)
    }

    /// Sends the error that ends the stream.
    pub fn fail(&self, e: E) -> Result<(), Gone> {
        self.tx.send(Err(e)).map_err(|_| Gone)
    }

    /// An item the consumer has finished with, to be reused, if one is waiting.
    pub fn recycled(&self) -> Option<T> {
        self.recycled.try_recv().ok()
    }
}

/// The consuming end of a [`channel`]; iterate it or call [`Receiver::recv`].
#[derive(Debug)]
pub struct Receiver<T, E> {
    rx: MpscReceiver<Result<T, E>>,
    recycle: MpscSender<T>,
}

impl<T, E> Receiver<T, E> {
    /// The next item, the producer's error, or `None` at the end (the producer returned or was
    /// dropped).
    pub fn recv(&self) -> Option<Result<T, E>> {
        self.rx.recv().ok()
    }

    /// Hands a spent item back to the producer for reuse (dropped if the producer has ended).
    pub fn recycle(&self, item: T) {
        let _ = self.recycle.send(item);
    }
}

impl<T, E> Iterator for Receiver<T, E> {
    type Item = Result<T, E>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

/// A bounded channel with at most `depth` items in flight (at least one), and a return path.
pub fn channel<T, E>(depth: usize) -> (Sender<T, E>, Receiver<T, E>) {
    let (tx, rx) = mpsc::sync_channel(depth.max(1));
    let (recycle, recycled) = mpsc::channel();
    (Sender { tx, recycled }, Receiver { rx, recycle })
}

/// Runs `produce` on a thread named `name`; its items are read from the returned [`Receiver`].
/// An error it returns is delivered as the last item.
pub fn spawn<T, E, F>(name: &str, depth: usize, produce: F) -> std::io::Result<Receiver<T, E>>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(&mut Sender<T, E>) -> Result<(), E> + Send + 'static,
{
    let (mut tx, rx) = channel(depth);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Err(e) = produce(&mut tx) {
                // Nobody may be listening any more; then there is nothing to report to.
                let _ = tx.fail(e);
            }
        })?;
    Ok(rx)
}

/// Maps `inputs` through `work` on `workers` threads named `name`, and returns the results in
/// input order. At most `depth` inputs are taken ahead of the consumer, so memory stays bounded
/// whatever the number of inputs. The first error ends the stream (in order: results before it
/// are delivered first).
pub fn ordered<I, O, E, W>(
    name: &str,
    workers: usize,
    depth: usize,
    inputs: impl Iterator<Item = I> + Send + 'static,
    work: W,
) -> std::io::Result<Receiver<O, E>>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
    W: Fn(I) -> Result<O, E> + Send + Sync + 'static,
{
    let depth = depth.max(workers).max(1);
    // Numbered inputs, shared by the workers.
    let inputs = Arc::new(Mutex::new(inputs.enumerate()));
    // Numbered results, reordered by the collector; a slot per input in flight.
    let (done_tx, done_rx) = mpsc::sync_channel::<(usize, Result<O, E>)>(depth);
    // Tickets: a worker takes an input only with a ticket, returned when its result is delivered.
    let (ticket_tx, ticket_rx) = mpsc::sync_channel::<()>(depth);
    for _ in 0..depth {
        let _ = ticket_tx.send(());
    }
    let ticket_rx = Arc::new(Mutex::new(ticket_rx));
    let work = Arc::new(work);
    for i in 0..workers.max(1) {
        let (inputs, done_tx, ticket_rx, work) = (
            Arc::clone(&inputs),
            done_tx.clone(),
            Arc::clone(&ticket_rx),
            Arc::clone(&work),
        );
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                loop {
                    if ticket_rx
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .recv()
                        .is_err()
                    {
                        return;
                    }
                    let next = inputs.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((n, input)) = next else { return };
                    if done_tx.send((n, work(input))).is_err() {
                        return;
                    }
                }
            })?;
    }
    drop(done_tx);
    let (tx, rx) = channel(depth);
    std::thread::Builder::new()
        .name(format!("{name}-order"))
        .spawn(move || {
            let mut waiting = BTreeMap::new();
            let mut next = 0usize;
            for (n, result) in done_rx.iter() {
                waiting.insert(n, result);
                while let Some(result) = waiting.remove(&next) {
                    next += 1;
                    let sent = match result {
                        Ok(o) => tx.send(o),
                        Err(e) => {
                            // The first error in order ends the stream; the workers stop when
                            // their next result finds nobody listening.
                            let _ = tx.fail(e);
                            return;
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                    // The consumer has room again: let the workers take one more input.
                    let _ = ticket_tx.send(());
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn items_and_the_error_cross_unchanged_and_buffers_come_back() {
        #[derive(Debug, PartialEq)]
        struct MyError(u32);
        let rx = spawn("t", 2, |tx: &mut Sender<Vec<u8>, MyError>| {
            let mut reused = 0;
            for i in 0..10u8 {
                let mut buf = match tx.recycled() {
                    Some(b) => {
                        reused += 1;
                        b
                    }
                    None => Vec::new(),
                };
                buf.clear();
                buf.push(i);
                tx.send(buf).map_err(|_| MyError(0))?;
            }
            Err(MyError(reused))
        })
        .unwrap();
        let mut got = Vec::new();
        let mut end = None;
        for item in &mut { rx } {
            match item {
                Ok(b) => got.push(b[0]),
                Err(e) => end = Some(e),
            }
        }
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        assert!(matches!(end, Some(MyError(_))));
    }

    #[test]
    fn a_dropped_receiver_stops_the_producer() {
        let (done_tx, done_rx) = mpsc::channel();
        let rx = spawn("t", 1, move |tx: &mut Sender<u32, Gone>| {
            let mut i = 0;
            let r = loop {
                if let Err(g) = tx.send(i) {
                    break Err(g);
                }
                i += 1;
            };
            let _ = done_tx.send(i);
            r
        })
        .unwrap();
        assert_eq!(rx.recv(), Some(Ok(0)));
        drop(rx);
        // The producer stops (a few items in flight at most) instead of running forever.
        assert!(done_rx.recv().unwrap() < 10);
    }

    #[test]
    fn ordered_results_come_in_input_order_with_bounded_lookahead() {
        let taken = Arc::new(Mutex::new(0usize));
        let t = Arc::clone(&taken);
        let inputs = (0..200u64).inspect(move |_| *t.lock().unwrap() += 1);
        let rx = ordered("o", 2, 4, inputs, |i: u64| -> Result<u64, String> {
            // Uneven work so that results finish out of order.
            if i.is_multiple_of(3) {
                std::thread::yield_now();
            }
            Ok(i * i)
        })
        .unwrap();
        let first = rx.recv().unwrap().unwrap();
        assert_eq!(first, 0);
        let got: Vec<u64> = std::iter::once(first)
            .chain(rx.map(Result::unwrap))
            .collect();
        assert_eq!(got, (0..200u64).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(*taken.lock().unwrap(), 200);
    }

    #[test]
    fn ordered_stops_at_the_first_error_in_order() {
        let rx = ordered("o", 2, 3, 0..100u32, |i| {
            if i == 7 || i == 9 {
                Err(format!("bad {i}"))
            } else {
                Ok(i)
            }
        })
        .unwrap();
        let got: Vec<Result<u32, String>> = rx.collect();
        let mut want: Vec<Result<u32, String>> = (0..7).map(Ok).collect();
        want.push(Err("bad 7".into()));
        assert_eq!(got, want);
    }
}
