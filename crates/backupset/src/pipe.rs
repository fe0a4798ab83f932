//! A producer on its own thread feeding a [`Read`]er, through the `pipe` crate.
//!
//! Decoding a differential (or applying an rdiff delta) runs on a worker thread while the
//! caller verifies or writes the bytes, so the steps of a pipeline overlap like the processes
//! of a shell pipeline. Errors keep their type: the [`io::Error`] produced on the worker reaches
//! the reader with its payload (a [`crate::DeltaError`]) reachable, on the first read and on
//! every read after it.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Size of the chunks handed over.
const CHUNK: usize = 1 << 20;
/// Chunks in flight.
const DEPTH: usize = 4;

/// The reading end; dropping it stops the worker at its next write.
#[derive(Debug)]
pub struct Pipe {
    rx: pipe::Receiver<Vec<u8>, io::Error>,
    current: Vec<u8>,
    pos: usize,
    /// Set after the end (`None`) or an error: later reads repeat it.
    done: Option<Option<Arc<io::Error>>>,
}

/// The writing end given to the worker.
pub struct ChunkWriter<'a> {
    tx: &'a pipe::Sender<Vec<u8>, io::Error>,
    buf: Vec<u8>,
}

impl ChunkWriter<'_> {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut next = self
            .tx
            .recycled()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.tx
            .send(full)
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e))
    }
}

impl Write for ChunkWriter<'_> {
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
    F: FnOnce(&mut ChunkWriter<'_>) -> io::Result<()> + Send + 'static,
{
    let rx = pipe::spawn(
        name,
        DEPTH,
        move |tx: &mut pipe::Sender<Vec<u8>, io::Error>| {
            let mut w = ChunkWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            produce(&mut w).and_then(|()| w.send())
        },
    )?;
    Ok(Pipe {
        rx,
        current: Vec::new(),
        pos: 0,
        done: None,
    })
}

/// The worker's error, shared so that every read after it can return it again; its message and
/// its payload (as the error's source) are the original's.
#[derive(Debug)]
struct Repeated(Arc<io::Error>);

impl fmt::Display for Repeated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Repeated {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.0.get_ref() {
            Some(inner) => Some(inner),
            None => Some(&*self.0),
        }
    }
}

fn repeat(e: &Arc<io::Error>) -> io::Error {
    io::Error::new(e.kind(), Repeated(Arc::clone(e)))
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            if let Some(done) = &self.done {
                return match done {
                    None => Ok(0),
                    Some(e) => Err(repeat(e)),
                };
            }
            let spent = std::mem::take(&mut self.current);
            if spent.capacity() > 0 {
                self.rx.recycle(spent);
            }
            self.pos = 0;
            match self.rx.recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    let e = Arc::new(e);
                    self.done = Some(Some(Arc::clone(&e)));
                    return Err(repeat(&e));
                }
                // The worker finished: a clean end.
                None => self.done = Some(None),
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

    #[derive(Debug)]
    struct Payload;
    impl fmt::Display for Payload {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("boom")
        }
    }
    impl std::error::Error for Payload {}

    fn payload(e: &io::Error) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> =
            e.get_ref().map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(c) = cur {
            if c.downcast_ref::<Payload>().is_some() {
                return true;
            }
            cur = c.source();
        }
        false
    }

    #[test]
    fn passes_bytes_and_typed_errors_on_every_read() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let copy = data.clone();
        let mut p = spawn("t", move |w| w.write_all(&copy)).expect("spawn");
        let mut out = Vec::new();
        p.read_to_end(&mut out).expect("read");
        assert_eq!(out, data);
        let mut p = spawn("t", |w| {
            w.write_all(b"abc")?;
            Err(io::Error::new(io::ErrorKind::InvalidData, Payload))
        })
        .expect("spawn");
        let mut out = Vec::new();
        let err = p.read_to_end(&mut out).expect_err("fails");
        assert_eq!(err.to_string(), "boom");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(payload(&err), "the payload is reachable");
        let again = p.read(&mut [0; 4]).expect_err("the error repeats");
        assert!(
            payload(&again),
            "the payload is reachable after the first read too"
        );
        assert_eq!(again.to_string(), "boom");
    }
}
