//! A disk at a point in time: the overlay of the extents of every file the point needs, newest
//! file wins, as a [`diskview::ReadAt`] and as an ordered list of writes for a sink.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use diskview::ReadAt;

use crate::error::{Error, Result};
use crate::file::{DataFile, Format, Frame, Payload};
use crate::lz4::Decoder;

/// Where a segment's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// Zeros: a zero frame, or nothing written there by any file.
    Zero,
    /// Frame `frame` of file `file`.
    Data { file: usize, frame: usize },
}

/// One run of the disk with one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Disk range start.
    pub start: u64,
    /// Disk range end.
    pub end: u64,
    src: Src,
}

/// A file's bytes through an `Arc`, for decoders that outlive a borrow.
#[derive(Debug, Clone)]
struct Shared(Arc<DataFile>);

impl ReadAt for Shared {
    fn size(&self) -> u64 {
        self.0.view().size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.view().read_exact_at(buf, offset)
    }
}

/// A decoder left where the last read stopped, so that sequential reads decode each LZ4 frame
/// once.
struct Cursor {
    file: usize,
    frame: usize,
    piece: usize,
    /// Offset within the data frame where the piece starts.
    piece_start: u64,
    dec: Decoder<Shared>,
}

/// A disk as it was at one point in time.
pub struct DiskAt {
    files: Vec<Arc<DataFile>>,
    segments: Vec<Segment>,
    size: u64,
    /// One decoder per file, so that a base file's LZ4 frame cut by newer extents is decoded
    /// once, not again from its start after every cut.
    cursors: Mutex<Vec<Option<Cursor>>>,
}

impl std::fmt::Debug for DiskAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskAt")
            .field(
                "files",
                &self.files.iter().map(|d| &d.path).collect::<Vec<_>>(),
            )
            .field("size", &self.size)
            .finish()
    }
}

/// What a restore wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreReport {
    /// Bytes written as data.
    pub data_bytes: u64,
    /// Bytes written (or left) as zeros.
    pub zero_bytes: u64,
}

impl DiskAt {
    /// The overlay of `files` (oldest first); the disk has the size the newest file names.
    pub fn new(files: Vec<Arc<DataFile>>) -> Result<DiskAt> {
        let size = files.last().map_or(0, |f| f.meta.virtual_size);
        let mut map: BTreeMap<u64, (u64, Src)> = BTreeMap::new();
        if size > 0 {
            map.insert(0, (size, Src::Zero));
        }
        for (fi, file) in files.iter().enumerate() {
            for (ri, fr) in file.frames.iter().enumerate() {
                let end = (fr.start + fr.len).min(size);
                if fr.start >= end {
                    continue;
                }
                let src = match fr.payload {
                    Payload::Zero => Src::Zero,
                    _ => Src::Data {
                        file: fi,
                        frame: ri,
                    },
                };
                overlay(&mut map, fr.start, end, src);
            }
        }
        let segments = map
            .into_iter()
            .map(|(start, (end, src))| Segment { start, end, src })
            .collect();
        Ok(DiskAt {
            files,
            segments,
            size,
            cursors: Mutex::new(Vec::new()),
        })
    }

    /// The files, oldest first.
    pub fn files(&self) -> &[Arc<DataFile>] {
        &self.files
    }

    /// Bytes of the disk that hold data (not zero frames or unwritten areas).
    pub fn data_bytes(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.src != Src::Zero)
            .map(|s| s.end - s.start)
            .sum()
    }

    /// Reads `buf.len()` bytes of segment `seg` at disk offset `at`.
    fn read_seg(
        &self,
        seg: &Segment,
        at: u64,
        buf: &mut [u8],
        cursors: &mut Vec<Option<Cursor>>,
    ) -> Result<()> {
        match seg.src {
            Src::Zero => {
                buf.fill(0);
                Ok(())
            }
            Src::Data { file, frame } => {
                let df = &self.files[file];
                let fr = &df.frames[frame];
                let within = at - fr.start;
                match &fr.payload {
                    Payload::Zero => {
                        buf.fill(0);
                        Ok(())
                    }
                    Payload::Plain(p) => {
                        df.view()
                            .read_exact_at(buf, p + within)
                            .map_err(|source| Error::Io {
                                op: "read",
                                file: df.path.clone(),
                                source,
                            })
                    }
                    Payload::Lz4(_) => self.read_lz4(file, frame, within, buf, cursors),
                }
            }
        }
    }

    fn read_lz4(
        &self,
        fi: usize,
        ri: usize,
        mut within: u64,
        mut buf: &mut [u8],
        cursors: &mut Vec<Option<Cursor>>,
    ) -> Result<()> {
        let df = &self.files[fi];
        let fr: &Frame = &df.frames[ri];
        if cursors.len() <= fi {
            cursors.resize_with(fi + 1, || None);
        }
        let cursor = &mut cursors[fi];
        let Payload::Lz4(pieces) = &fr.payload else {
            return Ok(());
        };
        while !buf.is_empty() {
            // Find the piece holding `within`, learning unknown decoded sizes on the way.
            let (mut pi, mut pstart) = (0usize, 0u64);
            loop {
                let Some(p) = pieces.get(pi) else {
                    return Err(df.lz4_err(
                        fr,
                        pieces.last().map_or(fr.header_at, |p| p.at),
                        format!("its LZ4 frames end before byte {within} of {}", fr.len),
                    ));
                };
                let n = match p.decoded.get() {
                    Some(&n) => n,
                    None => df.decode_piece(fr, p, &mut |_| Ok(()))?,
                };
                if within < pstart + n {
                    break;
                }
                pstart += n;
                pi += 1;
            }
            let p = &pieces[pi];
            let plen = p.decoded.get().copied().unwrap_or(0);
            let last = pi + 1 == pieces.len();
            if pstart + plen > fr.len || (last && pstart + plen < fr.len) {
                return Err(df.lz4_err(
                    fr,
                    p.at,
                    format!(
                        "its LZ4 frames decode to {} bytes or more, the data frame says {}",
                        pstart + plen,
                        fr.len
                    ),
                ));
            }
            let reuse = matches!(cursor, Some(c) if c.file == fi && c.frame == ri && c.piece == pi && c.piece_start + c.dec.pos <= within);
            if !reuse {
                let dec = Decoder::new(Shared(df.clone()), p.at, p.len)
                    .map_err(|e| df.lz4_err(fr, p.at, e.to_string()))?;
                *cursor = Some(Cursor {
                    file: fi,
                    frame: ri,
                    piece: pi,
                    piece_start: pstart,
                    dec,
                });
            }
            let Some(c) = cursor.as_mut() else { continue };
            let lz = |e: io::Error| df.lz4_err(fr, p.at, e.to_string());
            c.dec.skip(within - pstart - c.dec.pos).map_err(lz)?;
            let n = (pstart + plen - within).min(buf.len() as u64) as usize;
            c.dec.read_exact(&mut buf[..n]).map_err(lz)?;
            within += n as u64;
            buf = &mut buf[n..];
            if within == pstart + plen && !last && within == fr.len {
                return Err(df.lz4_err(
                    fr,
                    pieces[pi + 1].at,
                    format!("an LZ4 frame follows the data frame's {} bytes", fr.len),
                ));
            }
            if within == pstart + plen {
                // The whole piece is out: its end (and content checksum) must follow.
                c.dec.finish(plen).map_err(lz)?;
                *cursor = None;
            }
        }
        Ok(())
    }

    /// Writes the disk into `out`: data in disk order, zero runs as zeros (holes in a new
    /// file); every byte once.
    pub fn restore<O: Out + ?Sized>(
        &self,
        out: &mut O,
        progress: &mut dyn FnMut(u64),
    ) -> std::result::Result<RestoreReport, O::Error> {
        const CHUNK: usize = 4 << 20;
        let mut store = vec![0u8; CHUNK + 4096];
        let shift = store.as_ptr().align_offset(4096).min(4096);
        let buf = &mut store[shift..shift + CHUNK];
        let mut report = RestoreReport::default();
        let mut cursors = Vec::new();
        for seg in &self.segments {
            let raw_holes = match seg.src {
                Src::Data { file, .. } if self.files[file].format == Format::Raw => self.files
                    [file]
                    .view()
                    .zero_ranges(seg.start, seg.end - seg.start)
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if seg.src == Src::Zero {
                out.zero(seg.start, seg.end - seg.start)?;
                report.zero_bytes += seg.end - seg.start;
                progress(seg.end - seg.start);
                continue;
            }
            let mut at = seg.start;
            for r in data_runs(seg.start..seg.end, &raw_holes) {
                if at < r.start {
                    out.zero(at, r.start - at)?;
                    report.zero_bytes += r.start - at;
                }
                at = r.start;
                while at < r.end {
                    let n = (r.end - at).min(CHUNK as u64) as usize;
                    self.read_seg(seg, at, &mut buf[..n], &mut cursors)?;
                    out.write(at, &buf[..n])?;
                    report.data_bytes += n as u64;
                    at += n as u64;
                    progress(n as u64);
                }
            }
            if at < seg.end {
                out.zero(at, seg.end - at)?;
                report.zero_bytes += seg.end - at;
            }
        }
        Ok(report)
    }
}

/// The parts of `range` outside the sorted, disjoint `holes`.
fn data_runs(range: Range<u64>, holes: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = range.start;
    for h in holes {
        let (s, e) = (h.start.max(range.start), h.end.min(range.end));
        if s >= e {
            continue;
        }
        if at < s {
            out.push(at..s);
        }
        at = at.max(e);
    }
    if at < range.end {
        out.push(at..range.end);
    }
    out
}

/// Where [`DiskAt::restore`] writes: a sink's disk writer, a qcow2 writer, a test's buffer.
pub trait Out {
    /// The writer's error, which also carries the reader's.
    type Error: From<Error>;
    /// Writes `data` at disk offset `at`.
    fn write(&mut self, at: u64, data: &[u8]) -> std::result::Result<(), Self::Error>;
    /// Marks `len` bytes at `at` as zeros.
    fn zero(&mut self, at: u64, len: u64) -> std::result::Result<(), Self::Error>;
}

impl Out for Vec<u8> {
    type Error = Error;

    fn write(&mut self, at: u64, data: &[u8]) -> Result<()> {
        let at = usize::try_from(at).map_err(|e| Error::Io {
            op: "write",
            file: "memory".into(),
            source: io::Error::other(e),
        })?;
        if self.len() < at + data.len() {
            self.resize(at + data.len(), 0);
        }
        self[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn zero(&mut self, at: u64, len: u64) -> Result<()> {
        let end = usize::try_from(at + len).map_err(|e| Error::Io {
            op: "write",
            file: "memory".into(),
            source: io::Error::other(e),
        })?;
        if self.len() < end {
            self.resize(end, 0);
        }
        self[at as usize..end].fill(0);
        Ok(())
    }
}

/// Puts `src` over `start..end`, cutting what was there.
fn overlay(map: &mut BTreeMap<u64, (u64, Src)>, start: u64, end: u64, src: Src) {
    let hit: Vec<(u64, u64, Src)> = map
        .range(..end)
        .rev()
        .take_while(|(_, (e, _))| *e > start)
        .map(|(&s, &(e, src))| (s, e, src))
        .collect();
    for (s, e, old) in hit {
        map.remove(&s);
        if s < start {
            map.insert(s, (start, old));
        }
        if e > end {
            map.insert(end, (e, old));
        }
    }
    map.insert(start, (end, src));
}

impl ReadAt for DiskAt {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, mut buf: &mut [u8], offset: u64) -> io::Result<()> {
        diskview::check_range(self.size, offset, buf.len())?;
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        let mut at = offset;
        let mut i = self.segments.partition_point(|s| s.end <= at);
        while !buf.is_empty() {
            let Some(seg) = self.segments.get(i) else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "past the last segment",
                ));
            };
            let n = (seg.end - at).min(buf.len() as u64) as usize;
            self.read_seg(seg, at, &mut buf[..n], &mut cursors)
                .map_err(io::Error::other)?;
            buf = &mut buf[n..];
            at += n as u64;
            i += 1;
        }
        Ok(())
    }

    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out: Vec<Range<u64>> = Vec::new();
        let first = self.segments.partition_point(|s| s.end <= offset);
        for s in self.segments[first..].iter().take_while(|s| s.start < end) {
            if s.src == Src::Zero {
                let r = s.start.max(offset)..s.end.min(end);
                match out.last_mut() {
                    Some(l) if l.end == r.start => l.end = r.end,
                    _ => out.push(r),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_cuts_and_replaces() {
        let mut m = BTreeMap::new();
        m.insert(0, (100, Src::Zero));
        let d = |f| Src::Data { file: f, frame: 0 };
        overlay(&mut m, 10, 20, d(0));
        overlay(&mut m, 30, 60, d(0));
        overlay(&mut m, 15, 40, d(1));
        overlay(&mut m, 0, 5, Src::Zero);
        let got: Vec<(u64, u64, Src)> = m.iter().map(|(&s, &(e, src))| (s, e, src)).collect();
        assert_eq!(
            got,
            vec![
                (0, 5, Src::Zero),
                (5, 10, Src::Zero),
                (10, 15, d(0)),
                (15, 40, d(1)),
                (40, 60, d(0)),
                (60, 100, Src::Zero)
            ]
        );
    }

    #[test]
    fn runs_between_holes() {
        assert_eq!(
            data_runs(10..100, &[0..20, 30..40, 90..200]),
            vec![20..30, 40..90]
        );
        assert_eq!(data_runs(10..100, &[]), vec![10..100]);
    }
}
