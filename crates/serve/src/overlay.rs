//! A copy-on-write overlay: writes of a client land in a sparse file of their own, blocks of
//! 64 KiB, with a bitmap of the written blocks; the backup is never written.
//!
//! The file is the disk's size (rounded up to a block) of data at the disk's own offsets, mostly
//! holes, then the bitmap (one bit a block, little-endian 64-bit words), then a 128-byte footer:
//! `PVROVL01`, version 1 (u32), block size (u32), disk size (u64), bitmap offset (u64), bitmap
//! bytes (u64), the SHA-256 of the identity of the disk it was made for (32 bytes), zeros. The
//! bitmap is written at every flush and when the overlay is closed (also on SIGINT/SIGTERM);
//! data written after the last flush of a crashed run is lost, as a disk cache's would be.
//! Opening an existing overlay continues it, so the overlay and the backup read as one image
//! again later; an overlay made for another disk is refused.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use sha2::{Digest, Sha256};

use crate::Backend;
use crate::error::{Error, Result};

/// Block size of the overlay map.
pub const BLOCK: u64 = 64 * 1024;
const FOOTER: u64 = 128;
const MAGIC: &[u8; 8] = b"PVROVL01";

/// Every open overlay, so that a signal persists their maps before the process exits.
static OPEN: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    file: File,
    path: PathBuf,
    size: u64,
    ident: [u8; 32],
    map: RwLock<Vec<u64>>,
    /// Serialises writes (read-modify-write of partial blocks) and map saves.
    writing: Mutex<bool>,
}

/// A writable view of a read-only backend; see the module documentation.
pub struct Overlay {
    base: Arc<dyn Backend>,
    inner: Arc<Inner>,
}

fn data_end(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

fn map_words(size: u64) -> u64 {
    size.div_ceil(BLOCK).div_ceil(64)
}

impl Overlay {
    /// Opens the overlay at `path` over `base`, creating it (never replacing a file that is not
    /// an overlay) when it does not exist. `identity` names the disk (source and export) so that
    /// an overlay is never laid over another disk.
    pub fn open(path: &Path, base: Arc<dyn Backend>, identity: &str) -> Result<Overlay> {
        let size = base.size();
        let ident: [u8; 32] = Sha256::digest(identity.as_bytes()).into();
        let words = map_words(size);
        let words_len = usize::try_from(words).map_err(|_| Error::Overlay {
            path: path.to_path_buf(),
            problem: format!("a disk of {size} bytes needs too large a map"),
        })?;
        let io_err = |e: io::Error| Error::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(rustix_nofollow())
            .open(path);
        let (file, map) = match file {
            Ok(file) => {
                let inner_map = vec![0u64; words_len];
                file.set_len(data_end(size) + words * 8 + FOOTER)
                    .map_err(io_err)?;
                (file, inner_map)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(rustix_nofollow())
                    .open(path)
                    .map_err(io_err)?;
                let map = read_existing(&file, path, size, &ident, words_len)?;
                (file, map)
            }
            Err(e) => return Err(io_err(e)),
        };
        let inner = Arc::new(Inner {
            file,
            path: path.to_path_buf(),
            size,
            ident,
            map: RwLock::new(map),
            writing: Mutex::new(true),
        });
        inner.save().map_err(io_err)?;
        register(&inner);
        Ok(Overlay { base, inner })
    }

    /// The overlay file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many blocks have been written (ever, in this overlay).
    pub fn written_blocks(&self) -> u64 {
        let map = self.inner.map.read().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    fn is_written(map: &[u64], block: u64) -> bool {
        usize::try_from(block / 64)
            .ok()
            .and_then(|i| map.get(i))
            .is_some_and(|w| w & (1 << (block % 64)) != 0)
    }
}

/// O_NOFOLLOW: never write through a link someone put at the overlay's name.
fn rustix_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

fn read_existing(
    file: &File,
    path: &Path,
    size: u64,
    ident: &[u8; 32],
    words: usize,
) -> Result<Vec<u64>> {
    let bad = |problem: String| Error::Overlay {
        path: path.to_path_buf(),
        problem,
    };
    let io_err = |e: io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(bad("it is not a regular file".into()));
    }
    let len = meta.len();
    if len < FOOTER {
        return Err(bad(format!(
            "it is {len} bytes, too short for an overlay footer; not an overlay (pick a new name)"
        )));
    }
    let mut footer = [0u8; FOOTER as usize];
    file.read_exact_at(&mut footer, len - FOOTER)
        .map_err(io_err)?;
    if &footer[..8] != MAGIC {
        return Err(bad(format!(
            "no overlay footer at offset {}: expected {:?}, found {:?}; it is not an overlay, and is left alone (pick a new name)",
            len - FOOTER,
            String::from_utf8_lossy(MAGIC),
            String::from_utf8_lossy(&footer[..8])
        )));
    }
    let u32_at = |o: usize| u32::from_le_bytes(footer[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |o: usize| u64::from_le_bytes(footer[o..o + 8].try_into().unwrap_or([0; 8]));
    let (version, block, fsize, map_off, map_len) =
        (u32_at(8), u32_at(12), u64_at(16), u64_at(24), u64_at(32));
    if version != 1 || u64::from(block) != BLOCK {
        return Err(bad(format!(
            "overlay version {version} with {block}-byte blocks; this pverescue writes version 1 with {BLOCK}-byte blocks"
        )));
    }
    if fsize != size || footer[40..72] != ident[..] {
        return Err(bad(format!(
            "it was made for another disk (of {fsize} bytes; this one has {size}); an overlay only fits the disk it was made for"
        )));
    }
    let want = words as u64 * 8;
    if map_off != data_end(size) || map_len != want || len != map_off + map_len + FOOTER {
        return Err(bad(format!(
            "its map is at {map_off} ({map_len} bytes) in a file of {len} bytes; expected {} ({want} bytes) in {} bytes",
            data_end(size),
            data_end(size) + want + FOOTER
        )));
    }
    let mut raw = vec![0u8; words * 8];
    file.read_exact_at(&mut raw, map_off).map_err(io_err)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

fn register(inner: &Arc<Inner>) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        cleanup::on_signal(cleanup::Stage::Files, |_| {
            for o in lock(&OPEN).iter().filter_map(Weak::upgrade) {
                let _ = o.save();
            }
        });
    });
    let mut open = lock(&OPEN);
    open.retain(|w| w.strong_count() > 0);
    open.push(Arc::downgrade(inner));
}

impl Inner {
    /// Writes the map and the footer, then syncs (when anything changed since the last save).
    fn save(&self) -> io::Result<()> {
        let mut dirty = lock(&self.writing);
        if !*dirty {
            return Ok(());
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut raw = Vec::with_capacity(map.len() * 8);
        for w in map.iter() {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        let map_off = data_end(self.size);
        let mut footer = [0u8; FOOTER as usize];
        footer[..8].copy_from_slice(MAGIC);
        footer[8..12].copy_from_slice(&1u32.to_le_bytes());
        footer[12..16].copy_from_slice(&(BLOCK as u32).to_le_bytes());
        footer[16..24].copy_from_slice(&self.size.to_le_bytes());
        footer[24..32].copy_from_slice(&map_off.to_le_bytes());
        footer[32..40].copy_from_slice(&(raw.len() as u64).to_le_bytes());
        footer[40..72].copy_from_slice(&self.ident);
        self.file.sync_data()?;
        self.file.write_all_at(&raw, map_off)?;
        self.file
            .write_all_at(&footer, map_off + raw.len() as u64)?;
        self.file.sync_data()?;
        *dirty = false;
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: a failure here has nobody to tell; the last flush stands.
        let _ = self.save();
    }
}

impl Backend for Overlay {
    fn size(&self) -> u64 {
        self.inner.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        diskview::check_range(self.inner.size, offset, buf.len())?;
        let map = self.inner.map.read().unwrap_or_else(|p| p.into_inner());
        let end = offset + buf.len() as u64;
        let mut pos = offset;
        while pos < end {
            let written = Overlay::is_written(&map, pos / BLOCK);
            // Extend the run while blocks have the same state.
            let mut run_end = ((pos / BLOCK) + 1) * BLOCK;
            while run_end < end && Overlay::is_written(&map, run_end / BLOCK) == written {
                run_end += BLOCK;
            }
            let run_end = run_end.min(end);
            let part = &mut buf[(pos - offset) as usize..(run_end - offset) as usize];
            if written {
                self.inner.file.read_exact_at(part, pos)?;
            } else {
                self.base.read_exact_at(part, pos)?;
            }
            pos = run_end;
        }
        Ok(())
    }

    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let base = self.base.zero_ranges(offset, len)?;
        let map = self.inner.map.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Range<u64>> = Vec::new();
        for r in base {
            let mut pos = r.start;
            while pos < r.end {
                let next = ((pos / BLOCK) + 1) * BLOCK;
                let piece = pos..next.min(r.end);
                if !Overlay::is_written(&map, pos / BLOCK) {
                    match out.last_mut() {
                        Some(last) if last.end == piece.start => last.end = piece.end,
                        _ => out.push(piece),
                    }
                }
                pos = next;
            }
        }
        Ok(out)
    }

    fn writable(&self) -> bool {
        true
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let size = self.inner.size;
        diskview::check_range(size, offset, buf.len())?;
        let mut dirty = lock(&self.inner.writing);
        let end = offset + buf.len() as u64;
        let mut block_buf = Vec::new();
        let mut pos = offset;
        while pos < end {
            let block = pos / BLOCK;
            let b_start = block * BLOCK;
            let b_end = (b_start + BLOCK).min(size);
            let w_end = end.min(b_end);
            let data = &buf[(pos - offset) as usize..(w_end - offset) as usize];
            let known = {
                let map = self.inner.map.read().unwrap_or_else(|p| p.into_inner());
                Overlay::is_written(&map, block)
            };
            if known || (pos == b_start && w_end == b_end) {
                self.inner.file.write_all_at(data, pos)?;
            } else {
                // First write into this block: copy the backup's block, then change it.
                block_buf.resize((b_end - b_start) as usize, 0);
                self.base.read_exact_at(&mut block_buf, b_start)?;
                let at = (pos - b_start) as usize;
                block_buf[at..at + data.len()].copy_from_slice(data);
                self.inner.file.write_all_at(&block_buf, b_start)?;
            }
            if !known {
                let mut map = self.inner.map.write().unwrap_or_else(|p| p.into_inner());
                if let Some(w) = usize::try_from(block / 64)
                    .ok()
                    .and_then(|i| map.get_mut(i))
                {
                    *w |= 1 << (block % 64);
                }
            }
            pos = w_end;
        }
        *dirty = true;
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.save()
    }
}
