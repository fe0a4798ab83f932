//! [`Input`]: a decompressed byte stream produced on a worker thread.
//!
//! The worker reads the source, decodes it and sends ~1 MiB chunks through a bounded channel (the `pipe` crate);
//! the buffers come back to be refilled, so a long restore allocates a handful of buffers in total. An empty
//! chunk marks the clean end: a worker that vanishes without one (a panic) is reported, never taken for an end.
//! Dropping the [`Input`] closes the channel: the worker notices at its next send and exits quietly. The drop does
//! not wait for it, because the worker may be blocked reading a pipe that never delivers more.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crate::error::{Error, Result};
use crate::gzip::GzMembers;
use crate::lzop::LzopReader;
use crate::sniff::{Format, SNIFF_LEN, sniff};
use crate::zstdframes::ZstdFrames;

/// Size of the chunks the worker sends.
const CHUNK_LEN: usize = 1 << 20;
/// Read size of the compressed input of the gzip decoder.
const GZIP_INPUT_LEN: usize = 128 << 10;
/// Chunks in flight between the worker and the reader.
const CHANNEL_DEPTH: usize = 4;

/// A decompressed input stream: open with [`open`] or [`from_reader`], then [`Read`] it.
///
/// The compression is recognised by magic number ([`sniff`]) when the `Input` is created; decoding runs on its own
/// thread. Errors come out of `read` as an [`io::Error`] whose inner error is an [`Error`] (see
/// [`Error::from_io`]); after an error every further `read` returns the same error again.
#[derive(Debug)]
pub struct Input {
    name: String,
    format: Format,
    len: Option<u64>,
    counter: Arc<AtomicU64>,
    warnings: Arc<Mutex<Vec<String>>>,
    rx: pipe::Receiver<Vec<u8>, Error>,
    current: Vec<u8>,
    pos: usize,
    finished: Option<std::result::Result<(), Error>>,
}

/// Opens a file, or stdin for `-`, and starts decoding it.
///
/// Errors name the path. The compressed length is known for regular files.
pub fn open(path: &Path) -> Result<Input> {
    if path.as_os_str() == "-" {
        return from_reader(io::stdin(), "<stdin>", None);
    }
    let name = path.display().to_string();
    let open_err = |e: io::Error| Error::Open {
        path: name.clone(),
        source: Arc::new(e),
    };
    let file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    let len = meta.is_file().then_some(meta.len());
    from_reader(file, &name, len)
}

/// Starts decoding any reader; `name` is used in messages and `len` is the compressed length if known.
///
/// The first bytes are read on the calling thread to recognise the format.
pub fn from_reader<R: Read + Send + 'static>(
    mut r: R,
    name: &str,
    len: Option<u64>,
) -> Result<Input> {
    let open_err = |e: io::Error| Error::Open {
        path: name.to_owned(),
        source: Arc::new(e),
    };
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    let mut buf = [0u8; SNIFF_LEN];
    while prefix.len() < SNIFF_LEN {
        match r.read(&mut buf[..SNIFF_LEN - prefix.len()]) {
            Ok(0) => break,
            Ok(n) => prefix.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(e)),
        }
    }
    let format = sniff(&prefix);
    let counter = Arc::new(AtomicU64::new(0));
    let warnings = match format {
        Format::Xz => xz_unchecked(&prefix),
        _ => Vec::new(),
    };
    let warnings = Arc::new(Mutex::new(warnings));
    let (tx, rx) = pipe::channel(CHANNEL_DEPTH);
    let source = Counting {
        inner: io::Cursor::new(prefix).chain(r),
        counter: Arc::clone(&counter),
        format,
    };
    let worker = Worker {
        tx,
        warnings: Arc::clone(&warnings),
        counter: Arc::clone(&counter),
        format,
    };
    thread::Builder::new()
        .name(format!("unpack {format}"))
        .spawn(move || worker.run(source))
        .map_err(open_err)?;
    Ok(Input {
        name: name.to_owned(),
        format,
        len,
        counter,
        warnings,
        rx,
        current: Vec::new(),
        pos: 0,
        finished: None,
    })
}

impl Input {
    /// The format recognised from the magic number.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The path as given, or `<stdin>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compressed length, when the input is a regular file (or the caller of [`from_reader`] said).
    pub fn compressed_len(&self) -> Option<u64> {
        self.len
    }

    /// A counter of the compressed bytes consumed so far, for progress bars polled from another thread.
    ///
    /// It runs ahead of what `read` has returned by the decoded chunks in flight (a few MiB).
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.counter)
    }

    /// Compressed bytes consumed so far (a snapshot of [`Input::counter`]).
    pub fn position(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// Non-fatal findings known so far, such as trailing bytes after an lzop stream; complete after the end.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the next chunk from the worker; false at the end.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if let Some(done) = &self.finished {
            return match done {
                Ok(()) => Ok(false),
                Err(e) => Err(e.clone().into_io()),
            };
        }
        let spent = std::mem::take(&mut self.current);
        if spent.capacity() > 0 {
            // The worker may be gone already; then the buffer is simply freed.
            self.rx.recycle(spent);
        }
        self.pos = 0;
        let msg = self.rx.recv().unwrap_or(Err(Error::WorkerLost {
            format: self.format,
        }));
        match msg {
            // The end marker.
            Ok(v) if v.is_empty() => {
                self.finished = Some(Ok(()));
                Ok(false)
            }
            Ok(v) => {
                self.current = v;
                Ok(true)
            }
            Err(e) => {
                self.finished = Some(Err(e.clone()));
                Err(e.into_io())
            }
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.current.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The source reader: counts compressed bytes and tags read errors with the offset so that decoders pass them
/// through as [`Error::Read`] rather than as corruption.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    format: Format,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.counter.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = self.counter.load(Ordering::Relaxed);
                    return Err(Error::Read {
                        format: self.format,
                        at,
                        source: Arc::new(e),
                    }
                    .into_io());
                }
            }
        }
    }
}

/// The worker's end of the channel.
struct Worker {
    tx: pipe::Sender<Vec<u8>, Error>,
    warnings: Arc<Mutex<Vec<String>>>,
    counter: Arc<AtomicU64>,
    format: Format,
}

/// Why pumping stopped early.
enum Stop {
    /// The reader hung up: stop quietly.
    Gone,
    /// Decoding failed.
    Failed(io::Error),
}

impl Worker {
    fn run<R: Read>(self, source: Counting<R>) {
        let result = match self.format {
            Format::Plain => self.pump(source),
            Format::Gzip => {
                let mut gz = GzMembers::new(io::BufReader::with_capacity(GZIP_INPUT_LEN, source));
                let result = self.pump(&mut gz);
                self.warn(gz.warnings());
                result
            }
            // Windows up to 2 GiB (`zstd --long=31`); vzdump's default frames use 2 MiB.
            Format::Zstd => match ZstdFrames::new(source) {
                Ok(mut z) => {
                    let result = self.pump(&mut z);
                    self.warn(&z.warnings());
                    result
                }
                Err(e) => Err(Stop::Failed(e)),
            },
            Format::Lzop => {
                let mut lzop = LzopReader::new(source);
                let result = self.pump(&mut lzop);
                self.warn(lzop.warnings());
                result
            }
            Format::Bzip2 => self.pump(bzip2::read::MultiBzDecoder::new(source)),
            Format::Xz => self.pump(liblzma::read::XzDecoder::new_multi_decoder(source)),
        };
        // If the reader is gone there is nobody to tell.
        let _ = match result {
            // An empty chunk is the end marker.
            Ok(()) => self.tx.send(Vec::new()),
            Err(Stop::Gone) => return,
            Err(Stop::Failed(e)) => self.tx.fail(self.classify(e)),
        };
    }

    /// Passes a decoder's warnings on to the [`Input`].
    fn warn(&self, warnings: &[String]) {
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(warnings);
    }

    /// Copies decoded bytes into chunks and sends them until the decoder ends or fails.
    fn pump<R: Read>(&self, mut decoder: R) -> std::result::Result<(), Stop> {
        loop {
            let mut buf = self
                .tx
                .recycled()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK_LEN));
            buf.resize(CHUNK_LEN, 0);
            let mut filled = 0;
            let mut outcome = Ok(false);
            while filled < CHUNK_LEN {
                match decoder.read(&mut buf[filled..]) {
                    Ok(0) => {
                        outcome = Ok(true);
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            buf.truncate(filled);
            // Good bytes before a failure are delivered first.
            if filled > 0 && self.tx.send(buf).is_err() {
                return Err(Stop::Gone);
            }
            match outcome {
                Ok(false) => {}
                Ok(true) => return Ok(()),
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
    }

    /// Turns a decoder's I/O error into an [`Error`] with the compressed offset reached.
    fn classify(&self, e: io::Error) -> Error {
        if Error::from_io(&e).is_some() {
            if let Some(Ok(err)) = e.into_inner().map(|inner| inner.downcast::<Error>()) {
                return *err;
            }
            return Error::WorkerLost {
                format: self.format,
            };
        }
        let at = self.counter.load(Ordering::Relaxed);
        let format = self.format;
        if e.kind() == io::ErrorKind::UnexpectedEof {
            let what = match format {
                Format::Plain => "the input",
                Format::Gzip => "a gzip member",
                Format::Zstd => "a zstd frame",
                Format::Lzop => "an lzop stream",
                Format::Bzip2 => "a bzip2 stream",
                Format::Xz => "an xz stream",
            };
            return Error::Truncated {
                format,
                what: what.to_owned(),
                at,
                complete_blocks: None,
            };
        }
        Error::Corrupt {
            format,
            at,
            detail: describe(&e),
        }
    }
}

/// The warning for an xz stream whose header says "no integrity check" (`xz --check=none`):
/// the check type is the low nibble of the second stream-flags byte, after the 6-byte magic
/// (xz file format 1.2.1, 2.1.1.2). Only the first stream's header is looked at.
fn xz_unchecked(prefix: &[u8]) -> Vec<String> {
    match prefix.get(7) {
        Some(flags) if flags & 0x0f == 0 => vec![
            "the xz stream at compressed byte 0 has no integrity check: its data was not covered \
             by any checksum"
                .to_owned(),
        ],
        _ => Vec::new(),
    }
}

/// A decoder's message, lower-cased, with the checksum named where the library's wording hides it.
///
/// flate2 and libzstd report checksum failures without the stored and computed values, so those cannot be shown.
pub(crate) fn describe(e: &io::Error) -> String {
    let msg = e.to_string().to_lowercase();
    if msg.contains("gzip stream does not have a matching checksum") {
        // flate2 uses one message for both trailer fields.
        "crc32 or length of uncompressed data does not match the gzip member trailer".to_owned()
    } else if msg.contains("restored data doesn't match checksum") {
        "xxh64 of uncompressed data does not match the zstd frame checksum".to_owned()
    } else {
        msg
    }
}
