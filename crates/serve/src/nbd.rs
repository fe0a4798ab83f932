//! One NBD connection: the fixed newstyle handshake, then transmission.
//!
//! Everything a client sends is bounded before it is read: options at 64 KiB, 128 options a
//! connection, requests at 32 MiB (what `NBD_INFO_BLOCK_SIZE` announces). A client that breaks
//! the protocol loses its connection with an [`Error::Protocol`]; the server and other clients
//! go on. Replies to one request are never interleaved with another's; requests are served by a
//! few worker threads, so a slow read does not hold up the others.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Backend;
use crate::error::{Error, Result};
use crate::proto::*;

/// Largest option a client may send.
pub const MAX_OPTION: u32 = 64 * 1024;
/// Options a client may send before it must pick an export.
pub const MAX_OPTIONS: usize = 128;
/// Largest read or write request (announced as the maximum block size).
pub const MAX_REQUEST: u32 = 32 * 1024 * 1024;
/// Block status descriptors in one reply.
pub const MAX_DESCRIPTORS: usize = 8192;

/// One disk served under a name.
#[derive(Clone)]
pub struct Export {
    /// The export name clients ask for (`drive-scsi0`); the first export is also the default
    /// (empty name).
    pub name: String,
    /// A line for `nbdinfo --list`.
    pub description: String,
    /// What it reads from.
    pub backend: Arc<dyn Backend>,
}

/// What the binary may want to report; the library never prints.
pub trait Events: Send + Sync {
    /// A read (or write) failed: the client got an error reply.
    fn io_error(&self, export: &str, offset: u64, len: u32, error: &io::Error) {
        let _ = (export, offset, len, error);
    }
}

/// Reports nothing.
pub struct Quiet;
impl Events for Quiet {}

/// What the handshake settled.
pub struct Negotiated {
    /// Index of the export in the list.
    pub export: usize,
    /// Structured replies were negotiated.
    pub structured: bool,
    /// `base:allocation` was selected.
    pub block_status: bool,
}

fn proto(stage: &'static str, problem: impl Into<String>) -> Error {
    Error::Protocol {
        stage,
        problem: problem.into(),
    }
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}
fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

/// A cursor over an option's data that never reads past it.
struct Data<'a>(&'a [u8]);
impl Data<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

fn option_reply(w: &mut impl Write, opt: u32, kind: u32, data: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(20 + data.len());
    out.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&opt.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    w.write_all(&out)
}

fn find(exports: &[Export], name: &str) -> Option<usize> {
    if name.is_empty() && !exports.is_empty() {
        return Some(0);
    }
    exports.iter().position(|e| e.name == name)
}

/// Transmission flags of an export.
pub fn transmission_flags(export: &Export, structured: bool) -> u16 {
    let mut f = TF_HAS_FLAGS | TF_CAN_MULTI_CONN;
    if export.backend.writable() {
        f |= TF_SEND_FLUSH | TF_SEND_WRITE_ZEROES;
    } else {
        f |= TF_READ_ONLY;
    }
    if structured {
        f |= TF_SEND_DF;
    }
    f
}

/// Runs the handshake on `r`/`w`. `Ok(None)`: the client aborted or listed the exports and
/// left.
pub fn handshake(
    r: &mut impl Read,
    w: &mut impl Write,
    exports: &[Export],
) -> Result<Option<Negotiated>> {
    let mut hello = Vec::with_capacity(18);
    hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    w.write_all(&hello)?;
    w.flush()?;
    let client = match read_u32(r) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if client & !(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES) != 0 {
        return Err(proto(
            "handshake",
            format!("unknown client flags {client:#x} (known: 0x1 fixed newstyle, 0x2 no zeroes)"),
        ));
    }
    let no_zeroes = client & CLIENT_NO_ZEROES != 0;
    let mut structured = false;
    let mut block_status = false;
    for _ in 0..MAX_OPTIONS {
        let magic = match read_u64(r) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if magic != IHAVEOPT {
            return Err(proto(
                "option",
                format!("expected the option magic {IHAVEOPT:#x}, found {magic:#x}"),
            ));
        }
        let opt = read_u32(r)?;
        let len = read_u32(r)?;
        if len > MAX_OPTION {
            if opt == OPT_EXPORT_NAME {
                return Err(proto("option", format!("export name of {len} bytes")));
            }
            io::copy(&mut r.take(u64::from(len)), &mut io::sink())?;
            option_reply(w, opt, REP_ERR_TOO_BIG, b"option too large")?;
            w.flush()?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        r.read_exact(&mut data)?;
        match opt {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data);
                let Some(i) = find(exports, &name) else {
                    return Err(proto("export name", format!("no export named {name:?}")));
                };
                let mut out = Vec::with_capacity(134);
                out.extend_from_slice(&exports[i].backend.size().to_be_bytes());
                out.extend_from_slice(&transmission_flags(&exports[i], structured).to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                w.write_all(&out)?;
                w.flush()?;
                return Ok(Some(Negotiated {
                    export: i,
                    structured,
                    block_status,
                }));
            }
            OPT_ABORT => {
                let _ = option_reply(w, opt, REP_ACK, &[]).and_then(|()| w.flush());
                return Ok(None);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    option_reply(w, opt, REP_ERR_INVALID, b"NBD_OPT_LIST takes no data")?;
                } else {
                    for e in exports {
                        let mut d = Vec::new();
                        d.extend_from_slice(&(e.name.len() as u32).to_be_bytes());
                        d.extend_from_slice(e.name.as_bytes());
                        d.extend_from_slice(e.description.as_bytes());
                        option_reply(w, opt, REP_SERVER, &d)?;
                    }
                    option_reply(w, opt, REP_ACK, &[])?;
                }
            }
            OPT_INFO | OPT_GO => {
                let mut d = Data(&data);
                let parsed = (|| {
                    let name = d.string()?;
                    let n = d.u16()?;
                    let mut infos = Vec::new();
                    for _ in 0..n {
                        infos.push(d.u16()?);
                    }
                    d.0.is_empty().then_some((name, infos))
                })();
                let Some((name, infos)) = parsed else {
                    option_reply(w, opt, REP_ERR_INVALID, b"malformed NBD_OPT_INFO/GO")?;
                    w.flush()?;
                    continue;
                };
                let Some(i) = find(exports, &name) else {
                    option_reply(w, opt, REP_ERR_UNKNOWN, b"no such export")?;
                    w.flush()?;
                    continue;
                };
                let e = &exports[i];
                let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                info.extend_from_slice(&e.backend.size().to_be_bytes());
                info.extend_from_slice(&transmission_flags(e, structured).to_be_bytes());
                option_reply(w, opt, REP_INFO, &info)?;
                if infos.contains(&INFO_NAME) {
                    let mut d = INFO_NAME.to_be_bytes().to_vec();
                    d.extend_from_slice(e.name.as_bytes());
                    option_reply(w, opt, REP_INFO, &d)?;
                }
                if infos.contains(&INFO_DESCRIPTION) && !e.description.is_empty() {
                    let mut d = INFO_DESCRIPTION.to_be_bytes().to_vec();
                    d.extend_from_slice(e.description.as_bytes());
                    option_reply(w, opt, REP_INFO, &d)?;
                }
                let mut bs = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                bs.extend_from_slice(&1u32.to_be_bytes());
                bs.extend_from_slice(&4096u32.to_be_bytes());
                bs.extend_from_slice(&MAX_REQUEST.to_be_bytes());
                option_reply(w, opt, REP_INFO, &bs)?;
                option_reply(w, opt, REP_ACK, &[])?;
                w.flush()?;
                if opt == OPT_GO {
                    return Ok(Some(Negotiated {
                        export: i,
                        structured,
                        block_status,
                    }));
                }
            }
            OPT_STRUCTURED_REPLY => {
                if data.is_empty() {
                    structured = true;
                    option_reply(w, opt, REP_ACK, &[])?;
                } else {
                    option_reply(w, opt, REP_ERR_INVALID, b"takes no data")?;
                }
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                let set = opt == OPT_SET_META_CONTEXT;
                let mut d = Data(&data);
                let parsed = (|| {
                    let name = d.string()?;
                    let n = d.u32()?;
                    let mut queries = Vec::new();
                    for _ in 0..n {
                        queries.push(d.string()?);
                    }
                    d.0.is_empty().then_some((name, queries))
                })();
                if set && !structured {
                    option_reply(w, opt, REP_ERR_INVALID, b"structured replies first")?;
                } else if let Some((name, queries)) = parsed {
                    if find(exports, &name).is_none() {
                        option_reply(w, opt, REP_ERR_UNKNOWN, b"no such export")?;
                    } else {
                        if set {
                            block_status = false;
                        }
                        let wanted = |q: &str| {
                            q == BASE_ALLOCATION || (!set && (q == "base:" || q.is_empty()))
                        };
                        let matched = if queries.is_empty() {
                            !set
                        } else {
                            queries.iter().any(|q| wanted(q))
                        };
                        if matched {
                            let mut d = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                            d.extend_from_slice(BASE_ALLOCATION.as_bytes());
                            option_reply(w, opt, REP_META_CONTEXT, &d)?;
                            if set {
                                block_status = true;
                            }
                        }
                        option_reply(w, opt, REP_ACK, &[])?;
                    }
                } else {
                    option_reply(w, opt, REP_ERR_INVALID, b"malformed meta context option")?;
                }
            }
            OPT_STARTTLS => option_reply(w, opt, REP_ERR_POLICY, b"no TLS: use a Unix socket")?,
            _ => option_reply(w, opt, REP_ERR_UNSUP, &[])?,
        }
        w.flush()?;
    }
    Err(proto(
        "handshake",
        format!("more than {MAX_OPTIONS} options without choosing an export"),
    ))
}

enum Job {
    Read {
        cookie: u64,
        offset: u64,
        len: u32,
        flags: u16,
    },
    Write {
        cookie: u64,
        offset: u64,
        data: Vec<u8>,
    },
    Zeroes {
        cookie: u64,
        offset: u64,
        len: u32,
    },
    Flush {
        cookie: u64,
    },
    Status {
        cookie: u64,
        offset: u64,
        len: u32,
        flags: u16,
    },
}

struct Replier<'a, W: Write> {
    w: Mutex<W>,
    structured: bool,
    export: &'a Export,
    events: &'a dyn Events,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn chunk_header(out: &mut Vec<u8>, flags: u16, ty: u16, cookie: u64, len: usize) {
    out.extend_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&cookie.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

impl<W: Write> Replier<'_, W> {
    fn send(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut w = lock(&self.w);
        for p in parts {
            w.write_all(p)?;
        }
        w.flush()
    }

    fn ok(&self, cookie: u64) -> io::Result<()> {
        if self.structured {
            let mut h = Vec::with_capacity(20);
            chunk_header(&mut h, REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0);
            self.send(&[&h])
        } else {
            self.simple(cookie, 0)
        }
    }

    fn simple(&self, cookie: u64, error: u32) -> io::Result<()> {
        let mut h = Vec::with_capacity(16);
        h.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        h.extend_from_slice(&error.to_be_bytes());
        h.extend_from_slice(&cookie.to_be_bytes());
        self.send(&[&h])
    }

    fn error(&self, cookie: u64, errno: u32, message: &str) -> io::Result<()> {
        if !self.structured {
            return self.simple(cookie, errno);
        }
        let msg: String = message.chars().take(1000).collect();
        let mut p = errno.to_be_bytes().to_vec();
        p.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        p.extend_from_slice(msg.as_bytes());
        let mut h = Vec::with_capacity(20);
        chunk_header(&mut h, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, p.len());
        self.send(&[&h, &p])
    }

    fn io_failed(&self, cookie: u64, offset: u64, len: u32, e: &io::Error) -> io::Result<()> {
        self.events.io_error(&self.export.name, offset, len, e);
        let errno = match e.kind() {
            io::ErrorKind::PermissionDenied => EPERM,
            io::ErrorKind::UnexpectedEof => EINVAL,
            _ => EIO,
        };
        self.error(cookie, errno, &e.to_string())
    }

    fn run(&self, job: Job) -> io::Result<()> {
        let backend = &self.export.backend;
        match job {
            Job::Read {
                cookie,
                offset,
                len,
                flags,
            } => {
                let zeros = if self.structured && flags & CMD_FLAG_DF == 0 {
                    backend
                        .zero_ranges(offset, u64::from(len))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let segments = segments(offset, u64::from(len), &zeros);
                let mut datas = Vec::with_capacity(segments.len());
                for (r, zero) in &segments {
                    if *zero {
                        datas.push(Vec::new());
                        continue;
                    }
                    let mut buf = vec![0u8; (r.end - r.start) as usize];
                    if let Err(e) = backend.read_exact_at(&mut buf, r.start) {
                        return self.io_failed(cookie, r.start, len, &e);
                    }
                    datas.push(buf);
                }
                if !self.structured {
                    let mut h = Vec::with_capacity(16);
                    h.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
                    h.extend_from_slice(&0u32.to_be_bytes());
                    h.extend_from_slice(&cookie.to_be_bytes());
                    let mut parts: Vec<&[u8]> = vec![&h];
                    parts.extend(datas.iter().map(|d| d.as_slice()));
                    return self.send(&parts);
                }
                if segments.is_empty() {
                    return self.ok(cookie);
                }
                let mut w = lock(&self.w);
                let last = segments.len() - 1;
                for (i, ((r, zero), data)) in segments.iter().zip(&datas).enumerate() {
                    let flags = if i == last { REPLY_FLAG_DONE } else { 0 };
                    let mut h = Vec::with_capacity(32);
                    if *zero {
                        chunk_header(&mut h, flags, REPLY_TYPE_OFFSET_HOLE, cookie, 12);
                        h.extend_from_slice(&r.start.to_be_bytes());
                        h.extend_from_slice(&((r.end - r.start) as u32).to_be_bytes());
                        w.write_all(&h)?;
                    } else {
                        chunk_header(
                            &mut h,
                            flags,
                            REPLY_TYPE_OFFSET_DATA,
                            cookie,
                            8 + data.len(),
                        );
                        h.extend_from_slice(&r.start.to_be_bytes());
                        w.write_all(&h)?;
                        w.write_all(data)?;
                    }
                }
                w.flush()
            }
            Job::Write {
                cookie,
                offset,
                data,
            } => match backend.write_at(&data, offset) {
                Ok(()) => self.ok(cookie),
                Err(e) => self.io_failed(cookie, offset, data.len() as u32, &e),
            },
            Job::Zeroes {
                cookie,
                offset,
                len,
            } => {
                let zero = vec![0u8; (len as usize).min(1 << 20)];
                let mut pos = offset;
                let end = offset + u64::from(len);
                while pos < end {
                    let n = (end - pos).min(zero.len() as u64) as usize;
                    if let Err(e) = backend.write_at(&zero[..n], pos) {
                        return self.io_failed(cookie, pos, len, &e);
                    }
                    pos += n as u64;
                }
                self.ok(cookie)
            }
            Job::Flush { cookie } => match backend.flush() {
                Ok(()) => self.ok(cookie),
                Err(e) => self.io_failed(cookie, 0, 0, &e),
            },
            Job::Status {
                cookie,
                offset,
                len,
                flags,
            } => {
                let end = (offset + u64::from(len)).min(backend.size());
                let zeros = match backend.zero_ranges(offset, end - offset) {
                    Ok(z) => z,
                    Err(e) => return self.io_failed(cookie, offset, len, &e),
                };
                let mut p = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                let max = if flags & CMD_FLAG_REQ_ONE != 0 {
                    1
                } else {
                    MAX_DESCRIPTORS
                };
                for (r, zero) in segments(offset, end - offset, &zeros).into_iter().take(max) {
                    p.extend_from_slice(&((r.end - r.start) as u32).to_be_bytes());
                    let state = if zero { STATE_HOLE | STATE_ZERO } else { 0 };
                    p.extend_from_slice(&state.to_be_bytes());
                }
                let mut h = Vec::with_capacity(20);
                chunk_header(
                    &mut h,
                    REPLY_FLAG_DONE,
                    REPLY_TYPE_BLOCK_STATUS,
                    cookie,
                    p.len(),
                );
                self.send(&[&h, &p])
            }
        }
    }
}

/// `offset..offset + len` cut into zero and data pieces, in order, by the zero ranges (which
/// are clipped to the request and may be given in any state of tidiness).
pub fn segments(offset: u64, len: u64, zeros: &[Range<u64>]) -> Vec<(Range<u64>, bool)> {
    let end = offset + len;
    let mut out: Vec<(Range<u64>, bool)> = Vec::new();
    let mut pos = offset;
    let push = |r: Range<u64>, zero: bool, out: &mut Vec<(Range<u64>, bool)>| {
        if r.start >= r.end {
            return;
        }
        match out.last_mut() {
            Some((last, z)) if *z == zero && last.end == r.start => last.end = r.end,
            _ => out.push((r, zero)),
        }
    };
    for z in zeros {
        let (s, e) = (z.start.max(pos), z.end.min(end));
        if s >= e {
            continue;
        }
        push(pos..s, false, &mut out);
        push(s..e, true, &mut out);
        pos = e;
    }
    push(pos..end, false, &mut out);
    out
}

/// Serves requests of a negotiated connection until the client disconnects, with `workers`
/// threads (0: on this thread, one request at a time). Returns when the client sent `NBD_CMD_DISC` or closed the connection.
pub fn transmission<R: Read, W: Write + Send>(
    r: &mut R,
    w: W,
    export: &Export,
    negotiated: &Negotiated,
    workers: usize,
    events: &dyn Events,
) -> Result<()> {
    let replier = Replier {
        w: Mutex::new(w),
        structured: negotiated.structured,
        export,
        events,
    };
    if workers == 0 {
        // Inline: every request answered before the next is read (the fuzz target's mode;
        // threads would only add their own bookkeeping to its leak checks).
        return requests(r, &Dispatch::Inline, &replier, negotiated);
    }
    let (tx, rx): (SyncSender<Job>, Receiver<Job>) = sync_channel(workers * 2);
    let rx = Mutex::new(rx);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let job = match lock(&rx).recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    if replier.run(job).is_err() {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        // The sender goes with this statement: the workers then finish and the scope joins them.
        requests(r, &Dispatch::Workers(tx), &replier, negotiated)
    })
}

/// Where requests go: to the worker threads, or answered on the spot.
enum Dispatch {
    Workers(SyncSender<Job>),
    Inline,
}

fn requests<R: Read, W: Write>(
    r: &mut R,
    dispatch: &Dispatch,
    replier: &Replier<'_, W>,
    negotiated: &Negotiated,
) -> Result<()> {
    let size = replier.export.backend.size();
    loop {
        let mut h = [0u8; 28];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let magic = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if magic != REQUEST_MAGIC {
            return Err(proto(
                "request",
                format!("expected the request magic {REQUEST_MAGIC:#x}, found {magic:#x}"),
            ));
        }
        let flags = u16::from_be_bytes([h[4], h[5]]);
        let ty = u16::from_be_bytes([h[6], h[7]]);
        let cookie = u64::from_be_bytes(h[8..16].try_into().unwrap_or([0; 8]));
        let offset = u64::from_be_bytes(h[16..24].try_into().unwrap_or([0; 8]));
        let len = u32::from_be_bytes([h[24], h[25], h[26], h[27]]);
        let in_range = offset
            .checked_add(u64::from(len))
            .is_some_and(|end| end <= size);
        let send = |job: Job| match dispatch {
            Dispatch::Workers(tx) => tx
                .send(job)
                .map_err(|_| Error::Connection(io::ErrorKind::BrokenPipe.into())),
            Dispatch::Inline => replier.run(job).map_err(Error::from),
        };
        match ty {
            CMD_READ => {
                if !in_range || len > MAX_REQUEST {
                    replier.error(
                        cookie,
                        EINVAL,
                        "read past the end of the export, or too large",
                    )?;
                } else {
                    send(Job::Read {
                        cookie,
                        offset,
                        len,
                        flags,
                    })?;
                }
            }
            CMD_WRITE => {
                if len > MAX_REQUEST {
                    return Err(proto(
                        "request",
                        format!("write of {len} bytes (at most {MAX_REQUEST})"),
                    ));
                }
                let mut data = vec![0u8; len as usize];
                r.read_exact(&mut data)?;
                if !replier.export.backend.writable() {
                    replier.error(
                        cookie,
                        EPERM,
                        "the export is read-only (serve with --overlay FILE to take writes)",
                    )?;
                } else if !in_range {
                    replier.error(cookie, ENOSPC, "write past the end of the export")?;
                } else {
                    send(Job::Write {
                        cookie,
                        offset,
                        data,
                    })?;
                }
            }
            CMD_WRITE_ZEROES => {
                if !replier.export.backend.writable() {
                    replier.error(cookie, EPERM, "the export is read-only")?;
                } else if !in_range {
                    replier.error(cookie, ENOSPC, "write past the end of the export")?;
                } else {
                    send(Job::Zeroes {
                        cookie,
                        offset,
                        len,
                    })?;
                }
            }
            CMD_DISC => return Ok(()),
            CMD_FLUSH => send(Job::Flush { cookie })?,
            CMD_BLOCK_STATUS => {
                if !negotiated.block_status {
                    replier.error(cookie, EINVAL, "base:allocation was not negotiated")?;
                } else if len == 0 || offset >= size {
                    replier.error(cookie, EINVAL, "block status outside the export")?;
                } else {
                    send(Job::Status {
                        cookie,
                        offset,
                        len,
                        flags,
                    })?;
                }
            }
            _ => replier.error(cookie, EINVAL, "command not supported")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn segments_cover_the_request_and_clip_the_zero_ranges() {
        let s = segments(10, 100, &[0..20, 30..40, 40..50, 100..200]);
        let want = vec![
            (10..20, true),
            (20..30, false),
            (30..50, true),
            (50..100, false),
            (100..110, true),
        ];
        assert_eq!(s, want);
        assert_eq!(segments(0, 0, &[]), vec![]);
        assert_eq!(segments(5, 5, &[]), vec![(5..10, false)]);
    }
}
