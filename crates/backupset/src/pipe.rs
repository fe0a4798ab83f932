//! A producer on its own thread feeding a [`Read`]er through a bounded channel.
//!
//! Decoding a differential (or applying an rdiff delta) runs on a worker thread while the
//! caller verifies or writes the bytes, so the steps of a pipeline overlap like the processes
//! of a shell pipeline. Errors keep their type: the [`io::Error`] produced on the worker is
//! handed to the reader unchanged.

use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

/// Size of the chunks handed over.
const CHUNK: usize = 1 << 20;
/// Chunks in flight.
const DEPTH: usize = 4;

/// The reading end; dropping it stops the worker at its next write.
#[derive(Debug)]
pub struct Pipe {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// Set after the end or an error: later reads repeat it.
    done: Option<Option<(io::ErrorKind, String)>>,
}

/// The writing end given to the worker.
pub struct ChunkWriter {
    tx: SyncSender<io::Result<Vec<u8>>>,
    recycled: Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.buf.clear();
        self.tx
            .send(Ok(full))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader gone"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `produce` on a thread named `name`; its output is read from the returned [`Pipe`].
pub fn spawn<F>(name: &str, produce: F) -> io::Result<Pipe>
where
    F: FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(DEPTH);
    let (recycle, recycled) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut w = ChunkWriter {
                tx,
                recycled,
                buf: Vec::with_capacity(CHUNK),
            };
            let result = produce(&mut w).and_then(|()| w.send());
            if let Err(e) = result {
                // Nobody may be listening any more; then there is nothing to report to.
                let _ = w.tx.send(Err(e));
            }
        })?;
    Ok(Pipe {
        rx,
        recycle,
        current: Vec::new(),
        pos: 0,
        done: None,
    })
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            if let Some(done) = &self.done {
                return match done {
                    None => Ok(0),
                    Some((kind, text)) => Err(io::Error::new(*kind, text.clone())),
                };
            }
            let spent = std::mem::take(&mut self.current);
            if spent.capacity() > 0 {
                let _ = self.recycle.send(spent);
            }
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => {
                    self.done = Some(Some((e.kind(), e.to_string())));
                    return Err(e);
                }
                // The worker finished and dropped its sender: a clean end.
                Err(_) => self.done = Some(None),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_and_errors() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let copy = data.clone();
        let mut p = spawn("t", move |w| w.write_all(&copy)).expect("spawn");
        let mut out = Vec::new();
        p.read_to_end(&mut out).expect("read");
        assert_eq!(out, data);
        let mut p = spawn("t", |w| {
            w.write_all(b"abc")?;
            Err(io::Error::other("boom"))
        })
        .expect("spawn");
        let mut out = Vec::new();
        let err = p.read_to_end(&mut out).expect_err("fails");
        assert_eq!(err.to_string(), "boom");
        assert!(p.read(&mut [0; 4]).is_err(), "the error repeats");
    }
}
