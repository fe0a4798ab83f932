//! NTFS through the `ntfs` crate, with LZNT1-compressed files decoded here.

use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom};

use ntfs::attribute_value::NtfsAttributeValue;
use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsFileAttributeFlags, NtfsFileNamespace};
use ntfs::{NtfsAttributeFlags, NtfsFile, NtfsReadSeek};

use crate::io::Cursor;
use crate::{
    Entry, Error, FileReader, FileType, Kind, MAX_DIR_ENTRIES, Result, Stat, Tree, View,
    components, lznt1, show,
};

/// MFT records below this number are the filesystem's own ($MFT, $Bitmap, $UpCase…, and
/// reserved ones); listings leave them out as Windows and `ntfsls` do.
const FIRST_USER_RECORD: u64 = 24;

/// Clusters per compression unit. The attribute header's exponent is private in `ntfs` 0.4;
/// Windows and ntfs-3g only ever write 4 (16 clusters), and compression exists only for
/// clusters of at most 4 KiB.
const UNIT_CLUSTERS: u64 = 16;

/// At most this many data runs in one compressed file.
const MAX_RUNS: usize = 1 << 20;

/// Seconds between 1601-01-01 and 1970-01-01.
const NT_EPOCH_OFFSET: i64 = 11_644_473_600;

/// An NTFS filesystem.
pub(crate) struct Ntfs {
    ntfs: ntfs::Ntfs,
    fs: RefCell<Cursor>,
}

/// `r`, unless `fs` was read past its end meanwhile: the structure that pointed there is
/// corrupt, whatever was parsed from the zeros.
fn overrun<T>(fs: &mut Cursor, path: &[u8], r: Result<T>) -> Result<T> {
    match fs.take_overrun() {
        Some(at) => Err(Error::corrupt(
            "NTFS",
            at,
            format!(
                "{}: a read failed or reached past the end of the filesystem",
                show(path)
            ),
        )),
        None => r,
    }
}

fn err(path: &[u8], e: ntfs::NtfsError) -> Error {
    Error::corrupt("NTFS", 0, format!("{}: {e}", show(path)))
}

impl Ntfs {
    pub(crate) fn open(view: View) -> Result<Ntfs> {
        let mut fs = Cursor::padded(view);
        let ntfs = ntfs::Ntfs::new(&mut fs).map_err(|e| err(b"/", e));
        let mut ntfs = overrun(&mut fs, b"/", ntfs)?;
        let upcase = ntfs.read_upcase_table(&mut fs).map_err(|e| err(b"/", e));
        overrun(&mut fs, b"/", upcase)?;
        Ok(Ntfs {
            ntfs,
            fs: RefCell::new(fs),
        })
    }

    /// `r`, unless the work behind it read past the end of the filesystem.
    fn checked<T>(&self, path: &[u8], r: Result<T>) -> Result<T> {
        overrun(&mut self.fs.borrow_mut(), path, r)
    }

    /// The file record of `path`.
    fn find(&self, path: &[u8]) -> Result<NtfsFile<'_>> {
        let fs = &mut *self.fs.borrow_mut();
        let mut file = self.ntfs.root_directory(fs).map_err(|e| err(path, e))?;
        for c in components(path) {
            if !file.is_directory() {
                return Err(Error::NotADirectory { path: show(path) });
            }
            let name = std::str::from_utf8(c).map_err(|_| Error::NotFound { path: show(path) })?;
            let index = file.directory_index(fs).map_err(|e| err(path, e))?;
            let mut finder = index.finder();
            let entry = NtfsFileNameIndex::find(&mut finder, &self.ntfs, fs, name)
                .ok_or_else(|| Error::NotFound { path: show(path) })?
                .map_err(|e| err(path, e))?;
            let next = entry.to_file(&self.ntfs, fs).map_err(|e| err(path, e))?;
            file = next;
        }
        Ok(file)
    }

    fn stat_of(&self, file: &NtfsFile<'_>, path: &[u8]) -> Result<Stat> {
        let info = file.info().map_err(|e| err(path, e))?;
        let attrs = info.file_attributes();
        let dir = file.is_directory();
        let kind = if attrs.contains(NtfsFileAttributeFlags::REPARSE_POINT) {
            FileType::Other
        } else if dir {
            FileType::Dir
        } else {
            FileType::File
        };
        let size = if kind == FileType::File {
            let fs = &mut *self.fs.borrow_mut();
            match file.data(fs, "") {
                Some(item) => {
                    let item = item.map_err(|e| err(path, e))?;
                    item.to_attribute()
                        .map_err(|e| err(path, e))?
                        .value_length()
                }
                None => 0,
            }
        } else {
            0
        };
        let t = info.modification_time().nt_timestamp();
        let secs = i64::try_from(t / 10_000_000).unwrap_or(i64::MAX) - NT_EPOCH_OFFSET;
        Ok(Stat {
            kind,
            mode: match (dir, attrs.contains(NtfsFileAttributeFlags::READ_ONLY)) {
                (true, _) => 0o755,
                (false, false) => 0o644,
                (false, true) => 0o444,
            },
            uid: None,
            gid: None,
            size,
            mtime: secs,
            // Below 10⁷, times 100: below 10⁹.
            mtime_nsec: u32::try_from(t % 10_000_000).unwrap_or(0) * 100,
            ino: Some(file.file_record_number()),
            rdev: 0,
        })
    }
}

impl Tree for Ntfs {
    fn kind(&self) -> Kind {
        Kind::Ntfs
    }

    fn label(&self) -> Option<String> {
        let fs = &mut *self.fs.borrow_mut();
        let name = self.ntfs.volume_name(fs).and_then(|n| n.ok());
        if fs.take_overrun().is_some() {
            return None;
        }
        let l = name?.name().to_string_lossy();
        (!l.is_empty()).then_some(l)
    }

    fn stat(&self, path: &[u8]) -> Result<Stat> {
        let r = self.find(path).and_then(|file| self.stat_of(&file, path));
        self.checked(path, r)
    }

    fn lstat(&self, path: &[u8]) -> Result<Stat> {
        self.stat(path)
    }

    fn list(&self, path: &[u8]) -> Result<Vec<Entry>> {
        let r = self.list_unchecked(path);
        self.checked(path, r)
    }

    fn open<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>> {
        let r = self.open_unchecked(path);
        self.checked(path, r)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>> {
        let r = self.find(path);
        self.checked(path, r)?;
        Err(Error::NotAFile {
            path: show(path),
            kind: "file that is no symlink",
        })
    }
}

impl Ntfs {
    fn list_unchecked(&self, path: &[u8]) -> Result<Vec<Entry>> {
        let dir = self.find(path)?;
        if !dir.is_directory() {
            return Err(Error::NotADirectory { path: show(path) });
        }
        let mut found: Vec<(Vec<u8>, u64)> = Vec::new();
        {
            let fs = &mut *self.fs.borrow_mut();
            let index = dir.directory_index(fs).map_err(|e| err(path, e))?;
            let mut entries = index.entries();
            while let Some(e) = entries.next(fs) {
                let e = e.map_err(|e| err(path, e))?;
                let Some(key) = e.key() else { continue };
                let key = key.map_err(|e| err(path, e))?;
                // A file with a long name also has its 8.3 alias: list the long one only.
                if key.namespace() == NtfsFileNamespace::Dos {
                    continue;
                }
                let record = e.file_reference().file_record_number();
                if record < FIRST_USER_RECORD {
                    continue;
                }
                if found.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::Limit {
                        what: format!("entries in directory {}", show(path)),
                        value: found.len() as u64 + 1,
                        limit: MAX_DIR_ENTRIES as u64,
                    });
                }
                found.push((key.name().to_string_lossy().into_bytes(), record));
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for (name, record) in found {
            let file = {
                let fs = &mut *self.fs.borrow_mut();
                self.ntfs.file(fs, record).map_err(|e| err(path, e))?
            };
            let stat = self.stat_of(&file, path)?;
            out.push(Entry { name, stat });
        }
        Ok(out)
    }

    fn open_unchecked<'a>(&'a self, path: &[u8]) -> Result<Box<dyn FileReader + 'a>> {
        let file = self.find(path)?;
        let stat = self.stat_of(&file, path)?;
        if stat.kind != FileType::File {
            return Err(Error::NotAFile {
                path: show(path),
                kind: stat.kind.word(),
            });
        }
        let fs = &mut *self.fs.borrow_mut();
        let mut compressed = None;
        if let Some(item) = file.data(fs, "") {
            let item = item.map_err(|e| err(path, e))?;
            let attr = item.to_attribute().map_err(|e| err(path, e))?;
            if attr.flags().contains(NtfsAttributeFlags::ENCRYPTED) {
                return Err(Error::Feature {
                    fs: "ntfs",
                    feature: format!("EFS encryption ({} is encrypted)", show(path)),
                });
            }
            if attr.flags().contains(NtfsAttributeFlags::COMPRESSED) && !attr.is_resident() {
                let value = attr.value(fs).map_err(|e| err(path, e))?;
                let NtfsAttributeValue::NonResident(v) = value else {
                    return Err(Error::Feature {
                        fs: "ntfs",
                        feature: format!(
                            "compression over an attribute list ({} is a large fragmented \
                             compressed file)",
                            show(path)
                        ),
                    });
                };
                let mut runs = Vec::new();
                for r in v.data_runs() {
                    let r = r.map_err(|e| err(path, e))?;
                    if runs.len() >= MAX_RUNS {
                        return Err(Error::Limit {
                            what: format!("data runs of {}", show(path)),
                            value: runs.len() as u64 + 1,
                            limit: MAX_RUNS as u64,
                        });
                    }
                    runs.push((
                        r.data_position().value().map(|p| p.get()),
                        r.allocated_size(),
                    ));
                }
                compressed = Some(Compressed::new(
                    runs,
                    u64::from(self.ntfs.cluster_size()),
                    path,
                )?);
            }
        }
        Ok(Box::new(NtfsReader {
            tree: self,
            record: file.file_record_number(),
            size: stat.size,
            pos: 0,
            path: path.to_vec(),
            compressed,
        }))
    }
}

struct NtfsReader<'a> {
    tree: &'a Ntfs,
    record: u64,
    size: u64,
    pos: u64,
    path: Vec<u8>,
    compressed: Option<Compressed>,
}

impl FileReader for NtfsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let want = usize::try_from(self.size.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..want];
        let fs = &mut *self.tree.fs.borrow_mut();
        let r = self.read_inner(fs, buf);
        overrun(fs, &self.path, r)?;
        self.pos += want as u64;
        Ok(want)
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.pos = pos;
        Ok(())
    }

    fn ino(&self) -> Option<u64> {
        Some(self.record)
    }
}

impl NtfsReader<'_> {
    fn read_inner(&mut self, fs: &mut Cursor, buf: &mut [u8]) -> Result<()> {
        if let Some(c) = &mut self.compressed {
            c.read(fs, self.pos, buf, &self.path)?;
        } else {
            let path = &self.path;
            let file = self
                .tree
                .ntfs
                .file(fs, self.record)
                .map_err(|e| err(path, e))?;
            let item = file
                .data(fs, "")
                .ok_or_else(|| Error::corrupt("NTFS", 0, format!("{}: no data", show(path))))?
                .map_err(|e| err(path, e))?;
            let attr = item.to_attribute().map_err(|e| err(path, e))?;
            let mut value = attr.value(fs).map_err(|e| err(path, e))?;
            value
                .seek(fs, SeekFrom::Start(self.pos))
                .map_err(|e| err(path, e))?;
            value.read_exact(fs, buf).map_err(|e| err(path, e))?;
        }
        Ok(())
    }
}

/// A compressed file's data runs as compression units, the last one decoded kept.
struct Compressed {
    /// `(byte position on disk or None when sparse, bytes)` in file order.
    runs: Vec<(Option<u64>, u64)>,
    cluster: u64,
    /// The decoded unit: its index and bytes.
    cache: Option<(u64, Vec<u8>)>,
}

impl Compressed {
    fn new(runs: Vec<(Option<u64>, u64)>, cluster: u64, path: &[u8]) -> Result<Compressed> {
        if cluster == 0 || cluster > 4096 {
            return Err(Error::corrupt(
                "NTFS compressed file",
                0,
                format!(
                    "{}: clusters of {cluster} bytes (compression needs at most 4096)",
                    show(path)
                ),
            ));
        }
        Ok(Compressed {
            runs,
            cluster,
            cache: None,
        })
    }

    fn unit_bytes(&self) -> u64 {
        self.cluster * UNIT_CLUSTERS
    }

    fn read(&mut self, fs: &mut Cursor, pos: u64, buf: &mut [u8], path: &[u8]) -> Result<()> {
        let unit = self.unit_bytes();
        let mut done = 0;
        while done < buf.len() {
            let at = pos + done as u64;
            let index = at / unit;
            if self.cache.as_ref().is_none_or(|(i, _)| *i != index) {
                let data = self.decode(fs, index, path)?;
                self.cache = Some((index, data));
            }
            let data = self
                .cache
                .as_ref()
                .map(|(_, d)| d.as_slice())
                .unwrap_or(&[]);
            let off = usize::try_from(at % unit).unwrap_or(0);
            let n = (buf.len() - done).min(data.len().saturating_sub(off));
            if n == 0 {
                // Past the last unit's data: zeros (the file's size says where it ends).
                let n = (buf.len() - done).min(usize::try_from(unit).unwrap_or(0) - off);
                buf[done..done + n].fill(0);
                done += n;
                continue;
            }
            buf[done..done + n].copy_from_slice(&data[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Decodes compression unit `index`: all sparse is zeros, all allocated is stored as is,
    /// allocated clusters followed by sparse ones are LZNT1.
    fn decode(&self, fs: &mut Cursor, index: u64, path: &[u8]) -> Result<Vec<u8>> {
        let unit = self.unit_bytes();
        let start = index * unit;
        // The unit's pieces: (disk position or None, length), walking the runs.
        let mut pieces: Vec<(Option<u64>, u64)> = Vec::new();
        let mut file_off = 0u64;
        for &(disk, len) in &self.runs {
            let end = file_off.saturating_add(len);
            if end > start && file_off < start + unit {
                let from = start.max(file_off);
                let to = (start + unit).min(end);
                pieces.push((disk.map(|d| d + (from - file_off)), to - from));
            }
            if end >= start + unit {
                break;
            }
            file_off = end;
        }
        let allocated: u64 = pieces.iter().filter(|p| p.0.is_some()).map(|p| p.1).sum();
        let unit_len = usize::try_from(unit).unwrap_or(0);
        if allocated == 0 {
            return Ok(vec![0; unit_len]);
        }
        let mut raw = Vec::with_capacity(usize::try_from(allocated).unwrap_or(0));
        for (disk, len) in &pieces {
            let Some(disk) = disk else { break };
            let n = usize::try_from(*len).unwrap_or(0);
            let old = raw.len();
            raw.resize(old + n, 0);
            fs.seek(SeekFrom::Start(*disk))
                .and_then(|_| fs.read_exact(&mut raw[old..]))
                .map_err(|source| Error::Io {
                    at: *disk,
                    len: n,
                    source,
                })?;
        }
        if allocated >= unit {
            return Ok(raw);
        }
        let mut out = Vec::with_capacity(unit_len);
        lznt1::decompress(&raw, &mut out, unit_len).map_err(|e| {
            Error::corrupt(
                "NTFS compression unit",
                pieces.first().and_then(|p| p.0).unwrap_or(0),
                format!("{} (unit {index}): {e}", show(path)),
            )
        })?;
        // A unit that decodes short is zero-filled to its size (Windows writes that).
        out.resize(unit_len, 0);
        Ok(out)
    }
}
