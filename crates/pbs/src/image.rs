//! Chunks read and checked, a fixed index as a random-access disk, and its restore.
//!
//! [`Chunks`] loads one chunk: file, CRC-32, crypt mode, decryption, decompression, length and
//! digest (plain SHA-256, or keyed for encrypted chunks). [`FixedImage`] puts a `.fidx` behind
//! [`diskview::ReadAt`] with a small cache of decoded chunks; chunks whose digest is that of an
//! all-zero chunk are known zeros and never read. [`restore_fixed`] writes an image into a
//! [`sink::DiskWriter`] in order while a few threads decode ahead, at most a fixed number of
//! chunks ahead of the writer, so memory stays flat whatever the image size.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

use crate::blob::Blob;
use crate::error::{Error, Result, hex};
use crate::format::MAX_BLOB_DATA;
use crate::index::{DynamicIndex, FixedIndex};
use crate::key::Key;
use crate::store::Datastore;

/// Decoded chunk bytes a restore may hold ahead of its writer.
const WINDOW_BYTES: usize = 96 << 20;

/// Decoded chunks a [`FixedImage`] keeps for random reads.
const CACHE_CHUNKS: usize = 16;

/// The chunk store of a datastore, read with the key of one snapshot (or none).
///
/// With a key, every chunk must be encrypted and is checked against the keyed digest; without
/// one, every chunk must be plain.
#[derive(Debug, Clone)]
pub struct Chunks {
    store: Datastore,
    key: Option<Key>,
}

impl Chunks {
    /// Chunks of `store`, decrypted with `key` when the index is encrypted.
    pub fn new(store: Datastore, key: Option<Key>) -> Chunks {
        Chunks { store, key }
    }

    /// The digest a chunk holding `data` has under this crypt mode.
    pub fn digest_of(&self, data: &[u8]) -> [u8; 32] {
        match &self.key {
            Some(k) => k.chunk_digest(data),
            None => Sha256::digest(data).into(),
        }
    }

    /// The digest of a chunk of `len` zero bytes under this crypt mode. Computed once per
    /// process for each length and key (a 4 MiB hash costs milliseconds, and every index opened
    /// needs it); the plain 4 MiB one is a constant.
    pub fn zero_digest(&self, len: usize) -> [u8; 32] {
        type Memo = Vec<((usize, Option<[u8; 32]>), [u8; 32])>;
        static MEMO: Mutex<Memo> = Mutex::new(Vec::new());
        let id = (len, self.key.as_ref().map(|k| k.fingerprint().0));
        if id == (4 << 20, None) {
            return crate::format::ZERO_CHUNK_4M;
        }
        let known = MEMO
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, d)| *d);
        if let Some(d) = known {
            return d;
        }
        let d = self.digest_of(&vec![0u8; len]);
        let mut memo = MEMO.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() < 16 {
            memo.push((id, d));
        }
        d
    }

    /// The digests of two chunks holding `a` and `b`, computed together ([`sha256x2`]: two
    /// SHA-256 streams interleaved on one core).
    pub fn digest_pair_of(&self, a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
        match &self.key {
            Some(k) => k.chunk_digest_pair(a, b),
            None => sha256x2::digest_pair(&[a], &[b]),
        }
    }

    /// Loads and checks chunk `digest` (entry `entry` of `index`), which must decode to exactly
    /// `len` bytes.
    pub fn load(&self, digest: &[u8; 32], len: usize, index: &Path, entry: u64) -> Result<Vec<u8>> {
        let mut out = vec![0u8; chunk_len(len, index, entry)?];
        self.load_into(digest, &mut out, index, entry)?;
        Ok(out)
    }

    /// [`Chunks::load`] into a buffer aligned for direct I/O.
    pub fn load_aligned(
        &self,
        digest: &[u8; 32],
        len: usize,
        index: &Path,
        entry: u64,
    ) -> Result<AlignedChunk> {
        let mut out = AlignedChunk::new(chunk_len(len, index, entry)?);
        self.load_into(digest, out.as_mut_slice(), index, entry)?;
        Ok(out)
    }

    /// Loads and checks chunk `digest`, which must decode to exactly `out.len()` bytes, into
    /// `out`.
    pub fn load_into(
        &self,
        digest: &[u8; 32],
        out: &mut [u8],
        index: &Path,
        entry: u64,
    ) -> Result<()> {
        self.load_into_with(digest, out, index, entry, &mut Vec::new())
    }

    /// [`Chunks::load_into`], reading the chunk file into `file_buf` (whose memory is reused).
    pub fn load_into_with(
        &self,
        digest: &[u8; 32],
        out: &mut [u8],
        index: &Path,
        entry: u64,
        file_buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.read_decode(digest, out, index, entry, file_buf)?;
        self.check_digest(digest, self.digest_of(out), &self.store.chunk_path(digest))
    }

    /// Two chunks at once, as [`Chunks::load_into_with`] each: read and decoded one after the
    /// other, their digests computed together. One result per chunk.
    pub fn load_pair_into_with(
        &self,
        a: PairPart<'_>,
        b: PairPart<'_>,
        file_buf: &mut Vec<u8>,
    ) -> [Result<()>; 2] {
        let ra = self.read_decode(a.digest, a.out, a.index, a.entry, file_buf);
        let rb = self.read_decode(b.digest, b.out, b.index, b.entry, file_buf);
        let path = |d: &[u8; 32]| self.store.chunk_path(d);
        match (ra, rb) {
            (Ok(()), Ok(())) => {
                let (da, db) = self.digest_pair_of(a.out, b.out);
                [
                    self.check_digest(a.digest, da, &path(a.digest)),
                    self.check_digest(b.digest, db, &path(b.digest)),
                ]
            }
            (Ok(()), Err(e)) => [
                self.check_digest(a.digest, self.digest_of(a.out), &path(a.digest)),
                Err(e),
            ],
            (Err(e), Ok(())) => [
                Err(e),
                self.check_digest(b.digest, self.digest_of(b.out), &path(b.digest)),
            ],
            (Err(x), Err(y)) => [Err(x), Err(y)],
        }
    }

    /// Reads chunk `digest` and decodes it into `out` with every check but its digest.
    fn read_decode(
        &self,
        digest: &[u8; 32],
        out: &mut [u8],
        index: &Path,
        entry: u64,
        file_buf: &mut Vec<u8>,
    ) -> Result<()> {
        if !self.store.read_chunk_into(digest, file_buf)? {
            return Err(Error::MissingChunk {
                file: self.store.chunk_path(digest),
                digest: hex(digest),
                index: index.to_path_buf(),
                entry,
            });
        }
        self.decode_unchecked(file_buf, digest, out, &self.store.chunk_path(digest))
    }

    /// Checks and decodes the bytes of a chunk file, which must decode to `len` bytes.
    pub fn decode(
        &self,
        bytes: &[u8],
        digest: &[u8; 32],
        len: usize,
        file: &Path,
    ) -> Result<Vec<u8>> {
        let mut out = vec![0u8; chunk_len(len, file, 0)?];
        self.decode_into(bytes, digest, &mut out, file)?;
        Ok(out)
    }

    /// Checks and decodes the bytes of a chunk file into `out`, which it must fill exactly.
    pub fn decode_into(
        &self,
        bytes: &[u8],
        digest: &[u8; 32],
        out: &mut [u8],
        file: &Path,
    ) -> Result<()> {
        self.decode_unchecked(bytes, digest, out, file)?;
        self.check_digest(digest, self.digest_of(out), file)
    }

    /// [`Chunks::decode_into`] without the digest check.
    fn decode_unchecked(
        &self,
        bytes: &[u8],
        digest: &[u8; 32],
        out: &mut [u8],
        file: &Path,
    ) -> Result<()> {
        let blob = Blob::parse(bytes, file)?;
        if blob.kind.is_encrypted() != self.key.is_some() {
            return Err(Error::CryptMode {
                file: file.to_path_buf(),
                digest: hex(digest),
                expected: if self.key.is_some() {
                    "encrypted"
                } else {
                    "not encrypted"
                },
                found: blob.kind.name(),
            });
        }
        let n = blob.decode_into(self.key.as_ref(), out, file)?;
        if n != out.len() {
            return Err(Error::Invalid {
                file: file.to_path_buf(),
                what: "decoded chunk length",
                at: blob.kind.header_len() as u64,
                expected: out.len().to_string(),
                found: n.to_string(),
            });
        }
        Ok(())
    }

    /// An error unless `found` is `digest`, the digest chunk file `file` must have.
    fn check_digest(&self, digest: &[u8; 32], found: [u8; 32], file: &Path) -> Result<()> {
        if found != *digest {
            return Err(Error::Checksum {
                file: file.to_path_buf(),
                what: "chunk digest",
                at: 0,
                expected: hex(digest),
                found: hex(&found),
            });
        }
        Ok(())
    }

    /// The datastore.
    pub fn store(&self) -> &Datastore {
        &self.store
    }
}

/// One of the two chunks of [`Chunks::load_pair_into_with`]: its digest, the buffer it must
/// fill exactly, and where the index names it (for errors).
#[derive(Debug)]
pub struct PairPart<'a> {
    /// The chunk's digest.
    pub digest: &'a [u8; 32],
    /// The decoded bytes go here, exactly this many.
    pub out: &'a mut [u8],
    /// The index naming the chunk.
    pub index: &'a Path,
    /// The entry of the index.
    pub entry: u64,
}

/// A decoded chunk whose bytes start on a [`sink::DATA_ALIGN`] boundary, so that a
/// [`sink::DiskWriter`] can write it with direct I/O.
#[derive(Debug)]
pub struct AlignedChunk {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedChunk {
    /// `len` zero bytes, aligned.
    pub fn new(len: usize) -> AlignedChunk {
        let buf = vec![0u8; len + sink::DATA_ALIGN];
        let start =
            (sink::DATA_ALIGN - buf.as_ptr() as usize % sink::DATA_ALIGN) % sink::DATA_ALIGN;
        AlignedChunk { buf, start, len }
    }

    /// This buffer holding `len` bytes (whatever it held before), or a new one if it is too
    /// small: decoders fill it whole, so it need not be cleared.
    pub fn reuse(self, len: usize) -> AlignedChunk {
        if self.buf.len() - self.start >= len {
            AlignedChunk { len, ..self }
        } else {
            AlignedChunk::new(len)
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// The last few decoded chunks of an index, by chunk number. Readers of the same chunk wait
/// for one decode instead of each decoding it (an NBD client reads a 4 MiB chunk in many small
/// requests at once); different chunks decode in parallel.
#[derive(Debug, Default)]
struct ChunkCache(Mutex<Vec<(usize, Arc<Slot>)>>);

/// One cached chunk: empty until its first reader has decoded it (the others wait on the lock).
type Slot = Mutex<Option<Arc<Vec<u8>>>>;

impl ChunkCache {
    /// Chunk `i`, from the cache or from `load`.
    fn get(&self, i: usize, load: impl FnOnce() -> Result<Vec<u8>>) -> Result<Arc<Vec<u8>>> {
        let slot = {
            let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
            match cache.iter().position(|(j, _)| *j == i) {
                Some(at) => {
                    // Most recently used last.
                    let entry = cache.remove(at);
                    let slot = Arc::clone(&entry.1);
                    cache.push(entry);
                    slot
                }
                None => {
                    if cache.len() >= CACHE_CHUNKS {
                        cache.remove(0);
                    }
                    let slot = Arc::new(Mutex::new(None));
                    cache.push((i, Arc::clone(&slot)));
                    slot
                }
            }
        };
        let mut data = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = &*data {
            return Ok(Arc::clone(d));
        }
        // A failed load leaves the slot empty: the next reader tries again (and fails alike).
        let d = Arc::new(load()?);
        *data = Some(Arc::clone(&d));
        Ok(d)
    }
}

/// A failed chunk read as an I/O error for [`diskview::ReadAt`] (the crate error inside).
fn io_invalid(e: Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

/// `len` if a chunk may be that long (entry `entry` of `index` says so), else a limit error.
fn chunk_len(len: usize, index: &Path, entry: u64) -> Result<usize> {
    if len > MAX_BLOB_DATA {
        return Err(Error::Limit {
            file: index.to_path_buf(),
            what: "chunk length",
            at: entry,
            value: len as u64,
            limit: MAX_BLOB_DATA as u64,
        });
    }
    Ok(len)
}

/// A fixed index (`.img.fidx`) read as a disk.
#[derive(Debug)]
pub struct FixedImage {
    chunks: Chunks,
    index: FixedIndex,
    /// Digests of an all-zero full chunk and of an all-zero last chunk.
    zero: [[u8; 32]; 2],
    cache: ChunkCache,
}

impl FixedImage {
    /// The image of `index`, its chunks read from `chunks`.
    pub fn new(chunks: Chunks, index: FixedIndex) -> FixedImage {
        let full = usize::try_from(index.chunk_size).unwrap_or(0);
        let last = index.count().checked_sub(1).map_or(full, |i| {
            let r = index.chunk_range(i);
            usize::try_from(r.end - r.start).unwrap_or(0)
        });
        let zero = [
            chunks.zero_digest(full),
            if last == full {
                chunks.zero_digest(full)
            } else {
                chunks.zero_digest(last.min(full))
            },
        ];
        FixedImage {
            chunks,
            index,
            zero,
            cache: ChunkCache::default(),
        }
    }

    /// The index.
    pub fn index(&self) -> &FixedIndex {
        &self.index
    }

    /// True when chunk `i` is known to be all zeros (its digest is the zero chunk's).
    pub fn is_zero_chunk(&self, i: usize) -> bool {
        let d = &self.index.digests[i];
        let r = self.index.chunk_range(i);
        if r.end - r.start == self.index.chunk_size {
            *d == self.zero[0]
        } else {
            *d == self.zero[1]
        }
    }

    /// Loads and checks chunk `i`, without the cache.
    pub fn load(&self, i: usize) -> Result<Vec<u8>> {
        let r = self.index.chunk_range(i);
        let len = usize::try_from(r.end - r.start).unwrap_or(usize::MAX);
        self.chunks
            .load(&self.index.digests[i], len, &self.index.file, i as u64)
    }

    /// [`FixedImage::load`] into a buffer aligned for direct I/O.
    pub fn load_aligned(&self, i: usize) -> Result<AlignedChunk> {
        let r = self.index.chunk_range(i);
        let len = usize::try_from(r.end - r.start).unwrap_or(usize::MAX);
        self.chunks
            .load_aligned(&self.index.digests[i], len, &self.index.file, i as u64)
    }

    /// [`FixedImage::load_aligned`] into `out` (reused when it is large enough; every byte is
    /// overwritten), reading the chunk file into `file_buf`.
    fn load_reusing(
        &self,
        i: usize,
        out: Option<AlignedChunk>,
        file_buf: &mut Vec<u8>,
    ) -> Result<AlignedChunk> {
        let r = self.index.chunk_range(i);
        let len = usize::try_from(r.end - r.start).unwrap_or(usize::MAX);
        let len = chunk_len(len, &self.index.file, i as u64)?;
        let mut out = match out {
            Some(b) => b.reuse(len),
            None => AlignedChunk::new(len),
        };
        self.chunks.load_into_with(
            &self.index.digests[i],
            out.as_mut_slice(),
            &self.index.file,
            i as u64,
            file_buf,
        )?;
        Ok(out)
    }

    /// [`FixedImage::load_reusing`] of chunks `i` and `j` (neither a zero chunk), their
    /// digests computed together.
    fn load_pair_reusing(
        &self,
        (i, j): (usize, usize),
        bufs: [Option<AlignedChunk>; 2],
        file_buf: &mut Vec<u8>,
    ) -> [Result<AlignedChunk>; 2] {
        let len = |i: usize| {
            let r = self.index.chunk_range(i);
            chunk_len(
                usize::try_from(r.end - r.start).unwrap_or(usize::MAX),
                &self.index.file,
                i as u64,
            )
        };
        let [ba, bb] = bufs;
        let (mut oa, mut ob) = match (len(i), len(j)) {
            (Ok(la), Ok(lb)) => (
                ba.map_or_else(|| AlignedChunk::new(la), |b| b.reuse(la)),
                bb.map_or_else(|| AlignedChunk::new(lb), |b| b.reuse(lb)),
            ),
            // Not reached with a valid index (every chunk is at most the chunk size): one at a time.
            _ => {
                return [
                    self.load_reusing(i, ba, file_buf),
                    self.load_reusing(j, bb, file_buf),
                ];
            }
        };
        let [ra, rb] = self.chunks.load_pair_into_with(
            PairPart {
                digest: &self.index.digests[i],
                out: oa.as_mut_slice(),
                index: &self.index.file,
                entry: i as u64,
            },
            PairPart {
                digest: &self.index.digests[j],
                out: ob.as_mut_slice(),
                index: &self.index.file,
                entry: j as u64,
            },
            file_buf,
        );
        [ra.map(|()| oa), rb.map(|()| ob)]
    }

    /// Chunk `i` from the first of its `.bad` copies that passes every check, and that copy.
    pub fn load_bad_copy(&self, i: usize) -> Option<(AlignedChunk, PathBuf)> {
        let r = self.index.chunk_range(i);
        let len = usize::try_from(r.end - r.start).ok()?;
        let digest = &self.index.digests[i];
        for path in self.chunks.store.bad_chunk_copies(digest) {
            let Ok(bytes) =
                crate::store::read_bounded(&path, crate::format::MAX_BLOB_FILE, "chunk file size")
            else {
                continue;
            };
            let mut out = AlignedChunk::new(chunk_len(len, &self.index.file, i as u64).ok()?);
            if self
                .chunks
                .decode_into(&bytes, digest, out.as_mut_slice(), &path)
                .is_ok()
            {
                return Some((out, path));
            }
        }
        None
    }

    /// Chunk `i`, decoded, from the cache when it is there.
    pub fn chunk(&self, i: usize) -> Result<Arc<Vec<u8>>> {
        self.cache.get(i, || self.load(i))
    }
}

impl diskview::ReadAt for FixedImage {
    fn size(&self) -> u64 {
        self.index.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        diskview::check_range(self.index.size, offset, buf.len())?;
        let cs = self.index.chunk_size;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let i = usize::try_from(at / cs).map_err(std::io::Error::other)?;
            let within = (at % cs) as usize;
            let r = self.index.chunk_range(i);
            let n = (buf.len() - done).min((r.end - at) as usize);
            let dst = &mut buf[done..done + n];
            if self.is_zero_chunk(i) {
                dst.fill(0);
            } else {
                let c = self.chunk(i).map_err(io_invalid)?;
                dst.copy_from_slice(&c[within..within + n]);
            }
            done += n;
        }
        Ok(())
    }

    fn zero_ranges(&self, offset: u64, len: u64) -> std::io::Result<Vec<Range<u64>>> {
        let end = offset.saturating_add(len).min(self.index.size);
        let mut out: Vec<Range<u64>> = Vec::new();
        if offset >= end {
            return Ok(out);
        }
        let cs = self.index.chunk_size;
        let first = usize::try_from(offset / cs).map_err(std::io::Error::other)?;
        let last = usize::try_from((end - 1) / cs).map_err(std::io::Error::other)?;
        for i in first..=last {
            if !self.is_zero_chunk(i) {
                continue;
            }
            let r = self.index.chunk_range(i);
            let r = r.start.max(offset)..r.end.min(end);
            match out.last_mut() {
                Some(prev) if prev.end == r.start => prev.end = r.end,
                _ => out.push(r),
            }
        }
        Ok(out)
    }
}

/// A dynamic index (`.pxar.didx`, `.mpxar.didx`, `.ppxar.didx`) read as a stream at random
/// offsets, for the pxar reader; a few decoded chunks are cached.
#[derive(Debug)]
pub struct DynamicStream {
    chunks: Chunks,
    index: DynamicIndex,
    cache: ChunkCache,
}

impl DynamicStream {
    /// The stream of `index`, its chunks read from `chunks`.
    pub fn new(chunks: Chunks, index: DynamicIndex) -> DynamicStream {
        DynamicStream {
            chunks,
            index,
            cache: ChunkCache::default(),
        }
    }

    /// The index.
    pub fn index(&self) -> &DynamicIndex {
        &self.index
    }

    /// Chunk `i`, decoded and checked, from the cache when it is there.
    pub fn chunk(&self, i: usize) -> Result<Arc<Vec<u8>>> {
        self.cache.get(i, || {
            let r = self.index.chunk_range(i);
            let len = usize::try_from(r.end - r.start).unwrap_or(usize::MAX);
            self.chunks
                .load(&self.index.entries[i].1, len, &self.index.file, i as u64)
        })
    }
}

impl diskview::ReadAt for DynamicStream {
    fn size(&self) -> u64 {
        self.index.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        diskview::check_range(self.index.size(), offset, buf.len())?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let Some(i) = self.index.find(at) else {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            };
            let r = self.index.chunk_range(i);
            let within = (at - r.start) as usize;
            let n = (buf.len() - done).min((r.end - at) as usize);
            let c = self.chunk(i).map_err(io_invalid)?;
            buf[done..done + n].copy_from_slice(&c[within..within + n]);
            done += n;
        }
        Ok(())
    }
}

/// How [`restore_fixed`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Decoding threads; 0 = one per core.
    pub threads: usize,
    /// Write zeros where a chunk is missing or damaged, and report it, instead of failing.
    pub zero_fill: bool,
    /// Where a chunk is missing or damaged, try the copies a PBS verify job renamed as corrupt
    /// (`<digest>.<n>.bad`): one that now decodes to the right digest is used and reported.
    pub bad_copies: bool,
}

/// A range of the image that was zero-filled because its chunk could not be used.
#[derive(Debug)]
pub struct Damaged {
    /// The image bytes.
    pub range: Range<u64>,
    /// Why.
    pub error: Error,
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// Bytes of chunk data written.
    pub data_bytes: u64,
    /// Bytes of known-zero chunks (holes in a sparse file).
    pub zero_bytes: u64,
    /// Chunks zero-filled with [`RestoreOptions::zero_fill`].
    pub damaged: Vec<Damaged>,
    /// Chunks taken from a `.bad` copy with [`RestoreOptions::bad_copies`]: the image range and
    /// the copy used.
    pub from_bad_copies: Vec<(Range<u64>, PathBuf)>,
}

/// The index file of an image, for messages.
impl FixedImage {
    /// The path of the `.fidx` file.
    pub fn file(&self) -> &PathBuf {
        &self.index.file
    }
}

enum Decoded {
    Zero,
    /// Decoded data, and the `.bad` copy it came from.
    Data(AlignedChunk, Option<PathBuf>),
    Failed(Error),
}

/// Reads every chunk of `image` in parallel (CRC, decryption, decompression, digest) and writes
/// the image into `out` in order: data with `write`, known-zero chunks with `zero`. Without
/// `out`, it only reads and checks. Memory is bounded by a window of decoded chunks.
pub fn restore_fixed(
    image: &FixedImage,
    mut out: Option<&mut sink::DiskWriter>,
    progress: &mut dyn sink::Progress,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let n = image.index.count();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |p| p.get()),
        t => t,
    }
    .min(n.max(1));
    // Decoded chunks may run this far ahead of the writer: enough that a slow write (direct
    // I/O, one at a time) does not stop the decoders, which each hold two chunks at a time.
    // Bounded in bytes, whatever the image size (bench-pbs: 24 chunks of 4 MiB took the 1 GiB
    // restore from 0.78 s to 0.69 s here; the disk then keeps up).
    let chunk = usize::try_from(image.index.chunk_size)
        .unwrap_or(usize::MAX)
        .max(1);
    let window = (WINDOW_BYTES / chunk).clamp(threads * 4 + 2, 64);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let written = Mutex::new(0usize);
    let advanced = Condvar::new();
    // Buffers the writer is done with, for the decoders to fill again (at most a window's).
    let spare: Mutex<Vec<AlignedChunk>> = Mutex::new(Vec::new());
    let mut report = RestoreReport::default();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Decoded)>();
        for t in 0..threads {
            let tx = tx.clone();
            let (next, stop, written, advanced, spare) =
                (&next, &stop, &written, &advanced, &spare);
            let spawned = std::thread::Builder::new()
                .name(format!("pbs-decode-{t}"))
                .spawn_scoped(s, move || {
                    let mut file_buf = Vec::new();
                    let spare_buf = || spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let decoded = |i: usize, r: Result<AlignedChunk>| match r {
                        Ok(v) => Decoded::Data(v, None),
                        Err(e) => match opts.bad_copies.then(|| image.load_bad_copy(i)).flatten() {
                            Some((v, path)) => Decoded::Data(v, Some(path)),
                            None => Decoded::Failed(e),
                        },
                    };
                    loop {
                        // Chunks are taken two at a time: their digests are computed together.
                        let i = next.fetch_add(2, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let last = (i + 1).min(n - 1);
                        {
                            let mut w = written.lock().unwrap_or_else(|p| p.into_inner());
                            while last >= *w + window && !stop.load(Ordering::Relaxed) {
                                w = advanced.wait(w).unwrap_or_else(|p| p.into_inner());
                            }
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let data: Vec<usize> =
                            (i..=last).filter(|&k| !image.is_zero_chunk(k)).collect();
                        let mut out: Vec<(usize, Decoded)> = (i..=last)
                            .filter(|&k| image.is_zero_chunk(k))
                            .map(|k| (k, Decoded::Zero))
                            .collect();
                        match data[..] {
                            [a, b] => {
                                let [ra, rb] = image.load_pair_reusing(
                                    (a, b),
                                    [spare_buf(), spare_buf()],
                                    &mut file_buf,
                                );
                                out.push((a, decoded(a, ra)));
                                out.push((b, decoded(b, rb)));
                            }
                            [a] => {
                                let r = image.load_reusing(a, spare_buf(), &mut file_buf);
                                out.push((a, decoded(a, r)));
                            }
                            _ => {}
                        }
                        if out.into_iter().any(|d| tx.send(d).is_err()) {
                            break;
                        }
                    }
                });
            if spawned.is_err() && t == 0 {
                // No thread at all: the loop below would wait forever.
                stop.store(true, Ordering::Relaxed);
            }
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Decoded> = BTreeMap::new();
        let mut at = 0usize;
        let mut write = |i: usize, d: Decoded, report: &mut RestoreReport| -> Result<()> {
            let r = image.index.chunk_range(i);
            let len = r.end - r.start;
            match d {
                Decoded::Data(v, from_bad) => {
                    if let Some(w) = out.as_deref_mut() {
                        w.write(r.start, v.as_slice())?;
                    }
                    spare.lock().unwrap_or_else(|p| p.into_inner()).push(v);
                    report.data_bytes += len;
                    if let Some(path) = from_bad {
                        report.from_bad_copies.push((r.clone(), path));
                    }
                }
                Decoded::Zero => {
                    if let Some(w) = out.as_deref_mut() {
                        w.zero(r.start, len)?;
                    }
                    report.zero_bytes += len;
                }
                Decoded::Failed(e) if opts.zero_fill => {
                    if let Some(w) = out.as_deref_mut() {
                        w.zero(r.start, len)?;
                    }
                    report.damaged.push(Damaged {
                        range: r.clone(),
                        error: e,
                    });
                }
                Decoded::Failed(e) => return Err(e),
            }
            progress.read(r.end);
            progress.wrote(len);
            Ok(())
        };
        let mut result = Ok(());
        for (i, d) in rx.iter() {
            pending.insert(i, d);
            while let Some(d) = pending.remove(&at) {
                if let Err(e) = write(at, d, &mut report) {
                    result = Err(e);
                    break;
                }
                at += 1;
            }
            if result.is_err() {
                break;
            }
            *written.lock().unwrap_or_else(|p| p.into_inner()) = at;
            advanced.notify_all();
        }
        if result.is_ok() && at < n {
            result = Err(Error::Io {
                op: "decode chunks for",
                file: image.index.file.clone(),
                source: std::io::Error::other("no decoding thread could be started"),
            });
        }
        {
            // Under the lock, so that no thread can miss the wake-up between its check and wait.
            let _w = written.lock().unwrap_or_else(|p| p.into_inner());
            stop.store(true, Ordering::Relaxed);
        }
        advanced.notify_all();
        drop(rx);
        result
    })?;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod cache_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn readers_of_one_chunk_share_one_decode_and_a_failure_is_retried() {
        let cache = ChunkCache::default();
        let loads = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let c = cache
                        .get(3, || {
                            loads.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok(vec![7u8; 16])
                        })
                        .unwrap();
                    assert_eq!(*c, vec![7u8; 16]);
                });
            }
        });
        assert_eq!(loads.load(Ordering::SeqCst), 1, "eight readers, one decode");
        let err = cache.get(4, || {
            Err(Error::Truncated {
                file: "x".into(),
                what: "test",
                at: 0,
                needed: 1,
                available: 0,
            })
        });
        assert!(err.is_err());
        assert_eq!(
            *cache.get(4, || Ok(vec![1])).unwrap(),
            vec![1],
            "tried again"
        );
    }
}
