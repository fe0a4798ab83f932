//! One data file: a stream file indexed frame by frame, or a raw image.
//!
//! [`DataFile::open`] reads the meta frame, every frame header and, for compressed files, the
//! structure of every LZ4 frame and the trailer, which must agree with each other; nothing is
//! decoded. [`DataFile::check`] then decodes every LZ4 frame (checksums included).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use diskview::{FileView, ReadAt};

use crate::error::{Error, Result};
use crate::format::{
    self, HEADER_LEN, Header, Kind, MAX_META, MAX_TRAILER, Meta, TERM, TrailerEntry,
};
use crate::lz4;

/// One LZ4 frame of a compressed data frame.
#[derive(Debug)]
pub struct Piece {
    /// Offset of the LZ4 frame in the file.
    pub at: u64,
    /// Its compressed length.
    pub len: u64,
    /// Its decoded length: from the LZ4 header when stored, else learnt when first decoded.
    pub decoded: OnceLock<u64>,
}

/// Where a frame's bytes come from.
#[derive(Debug)]
pub enum Payload {
    /// A zero frame.
    Zero,
    /// Uncompressed data at this file offset.
    Plain(u64),
    /// LZ4 frames, in order.
    Lz4(Vec<Piece>),
}

/// One data or zero frame.
#[derive(Debug)]
pub struct Frame {
    /// Disk offset.
    pub start: u64,
    /// Length on the disk (uncompressed).
    pub len: u64,
    /// Offset of the frame header in the file (for errors).
    pub header_at: u64,
    /// The bytes.
    pub payload: Payload,
}

/// What kind of data file this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A sparse stream, uncompressed.
    Stream,
    /// A sparse stream with LZ4-compressed data frames.
    Lz4Stream,
    /// A raw image (`-t raw`, or a raw disk's `*.copy.data`): no header, the disk itself.
    Raw,
}

/// One data file with its frame index.
pub struct DataFile {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub format: Format,
    /// The meta frame (for a raw image: a made-up one, with the disk name from the file name).
    pub meta: Meta,
    /// Data and zero frames, in disk order, not overlapping.
    pub frames: Vec<Frame>,
    /// The compression trailer was missing (the LZ4 frames were found by their structure).
    pub trailer_missing: bool,
    view: View,
}

impl std::fmt::Debug for DataFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFile")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("meta", &self.meta)
            .field("frames", &self.frames.len())
            .finish()
    }
}

/// The bytes of a data file: a file, or anything else that reads at offsets (tests, fuzzing).
pub type View = Box<dyn ReadAt + Send + Sync>;

fn io_err<'a>(file: &'a Path, op: &'static str) -> impl Fn(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        file: file.to_owned(),
        source,
    }
}

use crate::lz4::read_at as read;

fn expect_term(view: &dyn ReadAt, file: &Path, at: u64, after: &'static str) -> Result<()> {
    let mut t = [0u8; 2];
    read(view, file, at, &mut t, after)?;
    if &t != TERM {
        return Err(Error::Malformed {
            file: file.to_owned(),
            what: after,
            at,
            expected: "\\r\\n".into(),
            found: format::shown(&t),
        });
    }
    Ok(())
}

/// Checks `path` against its `<path>.chksum` (virtnbdbackup's decimal Adler-32 of the whole
/// file, seed 1): `Ok(None)` without a checksum file, else `(recorded, computed)`.
pub fn adler_check(path: &Path) -> Result<Option<(u32, u32)>> {
    let mut sum_path = path.as_os_str().to_owned();
    sum_path.push(".chksum");
    let sum_path = std::path::PathBuf::from(sum_path);
    let text = match std::fs::read(&sum_path) {
        Ok(t) if t.len() <= 64 => t,
        Ok(t) => {
            return Err(Error::Limit {
                file: sum_path,
                what: "checksum file length",
                at: 0,
                value: t.len() as u64,
                limit: 64,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                op: "read",
                file: sum_path,
                source,
            });
        }
    };
    let recorded: u32 = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| Error::Malformed {
            file: sum_path.clone(),
            what: "checksum file",
            at: 0,
            expected: "a decimal Adler-32".into(),
            found: format::shown(&text),
        })?;
    let mut f = std::fs::File::open(path).map_err(io_err(path, "open"))?;
    let mut a = adler2::Adler32::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io::Read::read(&mut f, &mut buf).map_err(io_err(path, "read"))?;
        if n == 0 {
            break;
        }
        a.write_slice(&buf[..n]);
    }
    Ok(Some((recorded, a.checksum())))
}

/// Reads only the meta frame of `path`: `None` for a file that does not start like a stream.
pub fn read_meta(path: &Path) -> Result<Option<Meta>> {
    let view = FileView::open(path).map_err(io_err(path, "open"))?;
    let mut b = [0u8; HEADER_LEN];
    read(&view, path, 0, &mut b, "meta frame header")?;
    if !looks_like_stream(&b) {
        return Ok(None);
    }
    let h = format::parse_header(&b, path, 0)?;
    if h.kind != Kind::Meta || h.len > MAX_META {
        return Ok(None);
    }
    let mut json = vec![0u8; usize::try_from(h.len).unwrap_or(0)];
    read(&view, path, HEADER_LEN as u64, &mut json, "meta JSON")?;
    Meta::parse(&json, path, HEADER_LEN as u64).map(Some)
}

/// True when `bytes` (the first bytes of a file) start like a stream file's meta frame.
pub fn looks_like_stream(bytes: &[u8]) -> bool {
    bytes.starts_with(b"meta ")
}

impl DataFile {
    /// Opens and indexes `path`. A file that does not start with `meta ` is a raw image of the
    /// disk `raw_disk` (the caller knows it from the file name, the only place it is written).
    pub fn open(path: &Path, raw_disk: Option<&str>) -> Result<DataFile> {
        let view = FileView::open(path).map_err(io_err(path, "open"))?;
        DataFile::from_view(path, Box::new(view), raw_disk)
    }

    /// Indexes the bytes of `view`, named `path` in errors; see [`DataFile::open`].
    pub fn from_view(path: &Path, view: View, raw_disk: Option<&str>) -> Result<DataFile> {
        let mut first = [0u8; HEADER_LEN];
        let n = first
            .len()
            .min(usize::try_from(view.size()).unwrap_or(usize::MAX));
        read(&*view, path, 0, &mut first[..n], "meta frame header")?;
        if !looks_like_stream(&first[..n]) {
            let Some(disk) = raw_disk else {
                return Err(Error::Malformed {
                    file: path.to_owned(),
                    what: "meta frame header",
                    at: 0,
                    expected: "`meta `".into(),
                    found: format::shown(&first[..n.min(5)]),
                });
            };
            return Ok(DataFile::raw(path, view, disk));
        }
        DataFile::stream(path, view)
    }

    fn raw(path: &Path, view: View, disk: &str) -> DataFile {
        let size = view.size();
        DataFile {
            path: path.to_owned(),
            format: Format::Raw,
            meta: Meta {
                virtual_size: size,
                data_size: size,
                date: None,
                disk_name: disk.to_owned(),
                disk_format: Some("raw".into()),
                // A `-t raw` full (`<disk>.full.data`) created the first checkpoint; the name is
                // all a raw image has to say so.
                checkpoint: if path.to_string_lossy().ends_with(".full.data") {
                    "virtnbdbackup.0".into()
                } else {
                    String::new()
                },
                parent: None,
                incremental: false,
                compressed: false,
                compression_level: None,
                stream_version: 0,
            },
            frames: vec![Frame {
                start: 0,
                len: size,
                header_at: 0,
                payload: Payload::Plain(0),
            }],
            trailer_missing: false,
            view,
        }
    }

    fn stream(path: &Path, view: View) -> Result<DataFile> {
        let size = view.size();
        let header_at = |view: &dyn ReadAt, at: u64| -> Result<Header> {
            let mut b = [0u8; HEADER_LEN];
            read(view, path, at, &mut b, "frame header")?;
            format::parse_header(&b, path, at)
        };
        let h = header_at(&*view, 0)?;
        if h.kind != Kind::Meta {
            return Err(Error::Malformed {
                file: path.to_owned(),
                what: "first frame",
                at: 0,
                expected: "a meta frame".into(),
                found: format!("{:?}", h.kind),
            });
        }
        if h.len > MAX_META {
            return Err(Error::Limit {
                file: path.to_owned(),
                what: "meta frame length",
                at: 0,
                value: h.len,
                limit: MAX_META,
            });
        }
        let mut json = vec![0u8; usize::try_from(h.len).unwrap_or(0)];
        read(&*view, path, HEADER_LEN as u64, &mut json, "meta JSON")?;
        let meta = Meta::parse(&json, path, HEADER_LEN as u64)?;
        let mut pos = HEADER_LEN as u64 + h.len;
        expect_term(&*view, path, pos, "terminator after the meta JSON")?;
        pos += 2;

        // The trailer of a compressed file: the last 40 bytes are its `comp` header.
        let mut trailer: Option<(Vec<TrailerEntry>, u64)> = None;
        let mut trailer_missing = false;
        if meta.compressed {
            trailer = read_trailer(&*view, path, size, pos)?;
            trailer_missing = trailer.is_none();
        }
        let end_of_frames = trailer.as_ref().map_or(size, |t| t.1);

        let mut frames: Vec<Frame> = Vec::new();
        let mut next_free = 0u64;
        let mut data_sum = 0u64;
        let mut data_count = 0usize;
        loop {
            let h = header_at(&*view, pos)?;
            let at = pos;
            pos += HEADER_LEN as u64;
            match h.kind {
                Kind::Stop => break,
                Kind::Data | Kind::Zero => {
                    let end = h
                        .start
                        .checked_add(h.len)
                        .filter(|&e| e <= meta.virtual_size);
                    let Some(end) = end else {
                        return Err(Error::Malformed {
                            file: path.to_owned(),
                            what: "frame",
                            at,
                            expected: format!(
                                "an extent within the disk's {} bytes",
                                meta.virtual_size
                            ),
                            found: format!("{} bytes at {}", h.len, h.start),
                        });
                    };
                    if h.start < next_free {
                        return Err(Error::Malformed {
                            file: path.to_owned(),
                            what: "frame",
                            at,
                            expected: format!(
                                "a disk offset of at least {next_free} (frames ascend and never overlap)"
                            ),
                            found: h.start.to_string(),
                        });
                    }
                    next_free = end;
                    let payload = if h.kind == Kind::Zero {
                        Payload::Zero
                    } else if !meta.compressed {
                        let p = Payload::Plain(pos);
                        pos = pos
                            .checked_add(h.len)
                            .filter(|&p| p <= size)
                            .ok_or_else(|| Error::Truncated {
                                file: path.to_owned(),
                                what: "data payload",
                                at: pos,
                                needed: h.len,
                                available: size.saturating_sub(pos),
                            })?;
                        expect_term(&*view, path, pos, "terminator after a data payload")?;
                        pos += 2;
                        p
                    } else {
                        let entry = trailer
                            .as_ref()
                            .map(|t| {
                                t.0.get(data_count).ok_or_else(|| Error::Malformed {
                                    file: path.to_owned(),
                                    what: "compression trailer",
                                    at: t.1,
                                    expected: format!(
                                        "an entry for data frame {data_count} (at byte {at})"
                                    ),
                                    found: format!("{} entries", t.0.len()),
                                })
                            })
                            .transpose()?;
                        let pieces = walk_pieces(&*view, path, pos, end_of_frames, h, entry)?;
                        pos = pieces.last().map_or(pos, |p| p.at + p.len);
                        expect_term(&*view, path, pos, "terminator after compressed data")?;
                        pos += 2;
                        Payload::Lz4(pieces)
                    };
                    if h.kind == Kind::Data {
                        data_sum = data_sum.saturating_add(h.len);
                        data_count += 1;
                    }
                    if h.len > 0 {
                        frames.push(Frame {
                            start: h.start,
                            len: h.len,
                            header_at: at,
                            payload,
                        });
                    }
                }
                other => {
                    return Err(Error::Malformed {
                        file: path.to_owned(),
                        what: "frame header",
                        at,
                        expected: "a data, zero or stop frame".into(),
                        found: format!("{other:?}"),
                    });
                }
            }
        }
        if data_sum != meta.data_size {
            return Err(Error::Malformed {
                file: path.to_owned(),
                what: "stop frame",
                at: pos - HEADER_LEN as u64,
                expected: format!(
                    "data frames adding up to the meta frame's dataSize of {}",
                    meta.data_size
                ),
                found: data_sum.to_string(),
            });
        }
        if let Some((entries, trailer_at)) = &trailer {
            if entries.len() != data_count {
                return Err(Error::Malformed {
                    file: path.to_owned(),
                    what: "compression trailer",
                    at: *trailer_at,
                    expected: format!("{data_count} entries, one per data frame"),
                    found: entries.len().to_string(),
                });
            }
            if pos != *trailer_at {
                return Err(Error::Malformed {
                    file: path.to_owned(),
                    what: "compression trailer",
                    at: pos,
                    expected: format!(
                        "the trailer JSON right after the stop frame (it starts at byte {trailer_at})"
                    ),
                    found: format!("{} other bytes", trailer_at.abs_diff(pos)),
                });
            }
        } else if pos != size && !meta.compressed {
            return Err(Error::Malformed {
                file: path.to_owned(),
                what: "end of file",
                at: pos,
                expected: "the end of the file after the stop frame".into(),
                found: format!("{} more bytes", size - pos),
            });
        }
        Ok(DataFile {
            path: path.to_owned(),
            format: if meta.compressed {
                Format::Lz4Stream
            } else {
                Format::Stream
            },
            meta,
            frames,
            trailer_missing,
            view,
        })
    }

    /// The file's bytes.
    pub fn view(&self) -> &dyn ReadAt {
        &*self.view
    }

    /// The file's size.
    pub fn file_size(&self) -> u64 {
        self.view.size()
    }

    /// Decodes every LZ4 frame (checking its checksums and decoded size) and reads every plain
    /// payload; the errors name the file and the offset.
    pub fn check(&self, progress: &mut dyn FnMut(u64)) -> Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for f in &self.frames {
            match &f.payload {
                Payload::Zero => {}
                Payload::Plain(at) => {
                    let mut done = 0u64;
                    while done < f.len {
                        let n = (f.len - done).min(buf.len() as u64) as usize;
                        read(
                            &*self.view,
                            &self.path,
                            at + done,
                            &mut buf[..n],
                            "data payload",
                        )?;
                        done += n as u64;
                    }
                    progress(at + f.len);
                }
                Payload::Lz4(pieces) => {
                    let mut total = 0u64;
                    for p in pieces {
                        let n = self.decode_piece(f, p, &mut |_| Ok(()))?;
                        total = total.saturating_add(n);
                        progress(p.at + p.len);
                    }
                    if total != f.len {
                        return Err(self.lz4_err(
                            f,
                            pieces.first().map_or(f.header_at, |p| p.at),
                            format!(
                                "its LZ4 frames decode to {total} bytes, the data frame says {}",
                                f.len
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn lz4_err(&self, f: &Frame, at: u64, reason: String) -> Error {
        Error::Lz4 {
            file: self.path.clone(),
            at,
            disk_offset: f.start,
            reason,
        }
    }

    /// Decodes one LZ4 frame whole, handing the decoded bytes to `out` in pieces; returns its
    /// decoded length (and remembers it).
    pub fn decode_piece(
        &self,
        f: &Frame,
        p: &Piece,
        out: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let mut dec = lz4::Decoder::new(&*self.view, p.at, p.len)
            .map_err(|e| self.lz4_err(f, p.at, e.to_string()))?;
        let mut buf = vec![0u8; 1 << 20];
        let limit = p.decoded.get().copied().unwrap_or(f.len);
        loop {
            let want = (limit + 1 - dec.pos).min(buf.len() as u64) as usize;
            let n = dec
                .read_some(&mut buf[..want])
                .map_err(|e| self.lz4_err(f, p.at, e.to_string()))?;
            if n == 0 {
                break;
            }
            if dec.pos > limit {
                return Err(self.lz4_err(f, p.at, format!("decodes to more than {limit} bytes")));
            }
            out(&buf[..n])?;
        }
        let n = dec.pos;
        match p.decoded.get() {
            Some(&d) if d != n => Err(self.lz4_err(
                f,
                p.at,
                format!("decodes to {n} bytes, its header says {d}"),
            )),
            _ => {
                let _ = p.decoded.set(n);
                Ok(n)
            }
        }
    }
}

/// Reads the trailer of a compressed file: `Ok(None)` when the file does not end with a `comp`
/// header (the LZ4 frames are then found by their structure), else the entries and the offset
/// where the trailer JSON starts.
fn read_trailer(
    view: &dyn ReadAt,
    path: &Path,
    size: u64,
    frames_at: u64,
) -> Result<Option<(Vec<TrailerEntry>, u64)>> {
    if size < frames_at + HEADER_LEN as u64 + 2 {
        return Ok(None);
    }
    let at = size - HEADER_LEN as u64;
    let mut b = [0u8; HEADER_LEN];
    read(view, path, at, &mut b, "comp frame header")?;
    if &b[..4] != b"comp" {
        return Ok(None);
    }
    let h = format::parse_header(&b, path, at)?;
    let limit = MAX_TRAILER.min(at.saturating_sub(frames_at + 2));
    if h.len > limit {
        return Err(Error::Limit {
            file: path.to_owned(),
            what: "compression trailer length",
            at,
            value: h.len,
            limit,
        });
    }
    let json_at = at - 2 - h.len;
    expect_term(view, path, at - 2, "terminator after the trailer JSON")?;
    let mut json = vec![0u8; usize::try_from(h.len).unwrap_or(0)];
    read(view, path, json_at, &mut json, "compression trailer")?;
    Ok(Some((
        format::parse_trailer(&json, path, json_at)?,
        json_at,
    )))
}

/// Finds the LZ4 frames of the data frame whose payload starts at `at`, by their structure,
/// and checks them against the trailer entry when there is one.
fn walk_pieces(
    view: &dyn ReadAt,
    path: &Path,
    at: u64,
    end: u64,
    h: Header,
    entry: Option<&TrailerEntry>,
) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut pos = at;
    let mut decoded_known = 0u64;
    loop {
        let mut b = [0u8; 2];
        read(view, path, pos, &mut b, "compressed data")?;
        if &b == TERM && !pieces.is_empty() {
            break;
        }
        let shape = lz4::walk(view, path, pos, end)?;
        if let Some(c) = shape.content_size {
            decoded_known = decoded_known.saturating_add(c);
            if decoded_known > h.len {
                return Err(Error::Malformed {
                    file: path.to_owned(),
                    what: "LZ4 frame",
                    at: pos,
                    expected: format!(
                        "at most {} decoded bytes in the data frame for disk offset {}",
                        h.len, h.start
                    ),
                    found: format!("content sizes adding up to {decoded_known}"),
                });
            }
        }
        let decoded = OnceLock::new();
        if let Some(c) = shape.content_size {
            let _ = decoded.set(c);
        }
        pieces.push(Piece {
            at: pos,
            len: shape.len,
            decoded,
        });
        pos += shape.len;
    }
    if let Some(entry) = entry {
        let want = entry.pieces();
        let found: Vec<u64> = pieces.iter().map(|p| p.len).collect();
        if want != found {
            return Err(Error::Malformed {
                file: path.to_owned(),
                what: "compression trailer",
                at,
                expected: format!(
                    "the lengths of the LZ4 frames of the data frame for disk offset {}: {found:?}",
                    h.start
                ),
                found: format!("{want:?}"),
            });
        }
    }
    Ok(pieces)
}
