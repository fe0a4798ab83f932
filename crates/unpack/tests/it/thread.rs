//! The worker thread: early drop, the progress counter, repeated errors, opening paths.

use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use unpack::{Error, Format};

use crate::tools::{data, run};

/// How long a test waits for something that should happen at once: far beyond any scheduling
/// delay on a loaded machine, and only reached when the code under test hangs.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `f` on a thread and waits for it to return, failing when it hangs past [`DEADLINE`]
/// (a synchronisation with the end of `f`, not a measure of how fast it is).
fn returns_in_time(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    assert!(
        returned.recv_timeout(DEADLINE).is_ok(),
        "{what} did not return within {DEADLINE:?}"
    );
}

/// A reader that says when it is dropped: the worker thread has stopped and let go of its source.
struct SaysWhenDropped<R> {
    inner: R,
    dropped: mpsc::Sender<()>,
}

impl<R: Read> Read for SaysWhenDropped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R> Drop for SaysWhenDropped<R> {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

#[test]
fn dropping_mid_stream_stops_the_worker() {
    // An endless plain input: the worker would read forever if it did not notice the drop.
    let (dropped, source_dropped) = mpsc::channel();
    let endless = SaysWhenDropped {
        inner: io::repeat(b'x'),
        dropped,
    };
    let mut input = unpack::from_reader(endless, "endless", None).expect("open");
    let mut buf = [0u8; 1000];
    input.read_exact(&mut buf).expect("read");
    returns_in_time("dropping the input", move || drop(input));
    assert!(
        source_dropped.recv_timeout(DEADLINE).is_ok(),
        "the worker still holds its source {DEADLINE:?} after the drop: it did not stop"
    );
}

#[test]
fn dropping_mid_zstd_stream_does_not_hang() {
    let input = data(20_000_000, 41);
    let file = run("zstd", &["-q", "-c"], &input);
    let mut input = unpack::from_reader(io::Cursor::new(file), "big.zst", None).expect("open");
    let mut buf = vec![0u8; 4096];
    input.read_exact(&mut buf).expect("read");
    returns_in_time("dropping a zstd input mid-stream", move || drop(input));
}

/// A reader that delivers some bytes and then blocks until the test ends, like a stalled pipe.
struct Stalled {
    first: Option<Vec<u8>>,
    hold: mpsc::Receiver<()>,
}

impl Read for Stalled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(mut first) = self.first.take() {
            let n = buf.len().min(first.len());
            buf[..n].copy_from_slice(&first[..n]);
            let rest = first.split_off(n);
            self.first = (!rest.is_empty()).then_some(rest);
            return Ok(n);
        }
        let _ = self.hold.recv();
        Ok(0)
    }
}

#[test]
fn dropping_while_the_source_blocks_does_not_hang() {
    let (release, hold) = mpsc::channel();
    let stalled = Stalled {
        first: Some(b"VMA\0 plain".to_vec()),
        hold,
    };
    let input = unpack::from_reader(stalled, "stalled pipe", None).expect("open");
    assert_eq!(input.format(), Format::Plain);
    // The source stays blocked until the drop has returned: a drop that waited for the worker
    // would hang here.
    returns_in_time("dropping while the source blocks", move || drop(input));
    drop(release);
}

#[test]
fn an_error_is_returned_again_on_the_next_read() {
    let mut file = run("zstd", &["-q", "-c"], &data(100_000, 42));
    file.truncate(file.len() / 2);
    let mut input = unpack::from_reader(io::Cursor::new(file), "cut.zst", None).expect("open");
    let mut sink = Vec::new();
    let first = input.read_to_end(&mut sink).expect_err("truncated");
    let second = input.read(&mut [0u8; 10]).expect_err("still failed");
    assert_eq!(first.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(first.to_string(), second.to_string());
    assert!(matches!(
        Error::from_io(&second),
        Some(Error::Truncated {
            format: Format::Zstd,
            ..
        })
    ));
}

#[test]
fn open_names_the_missing_path() {
    let err = unpack::open(std::path::Path::new("/nonexistent/vzdump-qemu-1.vma.zst"))
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "cannot open /nonexistent/vzdump-qemu-1.vma.zst: No such file or directory (os error 2)"
    );
    assert!(err.hint().is_none());
}

#[test]
fn counter_follows_the_compressed_bytes() {
    let file = run("zstd", &["-q", "-c"], &data(3_000_000, 43));
    let len = file.len() as u64;
    let mut input = unpack::from_reader(io::Cursor::new(file), "x.zst", Some(len)).expect("open");
    assert_eq!(input.compressed_len(), Some(len));
    assert_eq!(input.name(), "x.zst");
    let counter = input.counter();
    io::copy(&mut input, &mut io::sink()).expect("decode");
    assert_eq!(counter.load(Ordering::Relaxed), len);
}

/// A worker that dies (a panic in a decoder or a source) is an error, never a clean end: the
/// data after it would otherwise be silently missing.
#[test]
fn a_worker_that_dies_is_an_error_not_an_end() {
    struct Dies(u32);
    impl Read for Dies {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0 += 1;
            if self.0 > 2 {
                panic!("the source broke (expected by the test)");
            }
            let n = buf.len().min(1000);
            buf[..n].fill(7);
            Ok(n)
        }
    }
    let mut input = unpack::from_reader(Dies(0), "dies", None).expect("open");
    let mut out = Vec::new();
    let err = input
        .read_to_end(&mut out)
        .expect_err("a lost worker is an error");
    assert!(
        matches!(
            unpack::Error::from_io(&err),
            Some(unpack::Error::WorkerLost { .. })
        ),
        "{err}"
    );
}
