//! Verifying snapshots or a whole store: every manifest, index and blob, and every chunk read
//! once however many snapshots share it.
//!
//! A chunk that is missing or damaged is reported once, with every snapshot and archive that
//! needs it. Chunks of encrypted snapshots whose key was not given are checked as far as that is
//! possible (the file exists, is an encrypted blob, and its CRC-32 matches), and the report says
//! so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::blob::Blob;
use crate::error::{Error, Result, hex};
use crate::image::Chunks;
use crate::index::{DynamicIndex, FixedIndex};
use crate::key::{Key, Keyring};
use crate::manifest::{CryptMode, Manifest};
use crate::snapshot::{Signature, SnapshotReader};
use crate::store::{Datastore, Snapshot, read_bounded};

/// How a snapshot fared.
#[derive(Debug)]
pub struct SnapshotVerdict {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The manifest signature, when the manifest could be read.
    pub signature: Option<Signature>,
    /// Its chunks were only CRC-checked: it is encrypted and its key was not given.
    pub crc_only: bool,
    /// Problems with the manifest, indexes and blobs (chunk problems are in `bad_chunks`).
    pub problems: Vec<Error>,
    /// How many of the store's bad chunks this snapshot needs.
    pub bad_chunks: usize,
}

impl SnapshotVerdict {
    /// True when nothing is wrong (an unfinished snapshot is not "ok").
    pub fn ok(&self) -> bool {
        self.snapshot.finished && self.problems.is_empty() && self.bad_chunks == 0
    }
}

/// A chunk that is missing or damaged, and who needs it.
#[derive(Debug)]
pub struct BadChunk {
    /// Its digest, hex.
    pub digest: String,
    /// Its file.
    pub path: PathBuf,
    /// What is wrong.
    pub error: Error,
    /// `(snapshot name, archive file name)` of every archive that references it.
    pub needed_by: Vec<(String, String)>,
}

/// The result of [`verify`].
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// One verdict per snapshot, in the order given.
    pub snapshots: Vec<SnapshotVerdict>,
    /// Distinct chunks checked.
    pub chunks: u64,
    /// Of those, chunks only CRC-checked (encrypted, no key).
    pub chunks_crc_only: u64,
    /// Bytes of chunk files read.
    pub bytes_read: u64,
    /// Missing or damaged chunks.
    pub bad_chunks: Vec<BadChunk>,
}

impl VerifyReport {
    /// True when every snapshot is ok.
    pub fn ok(&self) -> bool {
        self.bad_chunks.is_empty() && self.snapshots.iter().all(SnapshotVerdict::ok)
    }
}

/// How a chunk is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain chunk: decode and SHA-256.
    Plain,
    /// Encrypted with the key at this keyring index: decrypt, decode, keyed digest.
    Key(usize),
    /// Encrypted, key unknown: CRC only.
    CrcOnly,
}

struct Job {
    digest: [u8; 32],
    len: u64,
    mode: Mode,
    /// Indexes into the archive table.
    users: Vec<u32>,
    /// Entry number in the first referencing archive, for messages.
    entry: u64,
}

/// Verifies `snapshots` of `store` with the keys in `keys`, reading every distinct chunk once on
/// `threads` threads (0 = one per core). `progress` gets the chunk bytes read.
pub fn verify(
    store: &Datastore,
    snapshots: &[Snapshot],
    keys: &Keyring,
    threads: usize,
    progress: &mut dyn sink::Progress,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut archives: Vec<(usize, String)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut by_digest: HashMap<[u8; 32], usize> = HashMap::new();
    let key_slot = |k: &Key| {
        keys.keys()
            .iter()
            .position(|x| x.fingerprint() == k.fingerprint())
    };
    for (si, snap) in snapshots.iter().enumerate() {
        let mut v = SnapshotVerdict {
            snapshot: snap.clone(),
            signature: None,
            crc_only: false,
            problems: Vec::new(),
            bad_chunks: 0,
        };
        if !snap.finished {
            report.snapshots.push(v);
            continue;
        }
        let (manifest, key) = match SnapshotReader::open(store, snap, keys) {
            Ok(r) => {
                v.signature = Some(r.signature());
                (r.manifest().clone(), r.key().cloned())
            }
            Err(Error::NeedKey { .. }) => match Manifest::open(&snap.manifest_path()) {
                Ok(m) => {
                    v.crc_only = true;
                    (m, None)
                }
                Err(e) => {
                    v.problems.push(e);
                    report.snapshots.push(v);
                    continue;
                }
            },
            Err(e) => {
                v.problems.push(e);
                report.snapshots.push(v);
                continue;
            }
        };
        for f in &manifest.files {
            let path = snap.path.join(&f.filename);
            let mode = match (f.crypt_mode, &key) {
                (CryptMode::Encrypt, Some(k)) => key_slot(k).map_or(Mode::CrcOnly, Mode::Key),
                (CryptMode::Encrypt, None) => Mode::CrcOnly,
                _ => Mode::Plain,
            };
            let entries: Result<Vec<([u8; 32], u64)>> = if f.filename.ends_with(".fidx") {
                FixedIndex::open(&path).and_then(|idx| {
                    manifest.check_fixed(&idx)?;
                    Ok((0..idx.count())
                        .map(|i| {
                            let r = idx.chunk_range(i);
                            (idx.digests[i], r.end - r.start)
                        })
                        .collect())
                })
            } else if f.filename.ends_with(".didx") {
                DynamicIndex::open(&path).and_then(|idx| {
                    manifest.check_dynamic(&idx)?;
                    Ok((0..idx.count())
                        .map(|i| {
                            let r = idx.chunk_range(i);
                            (idx.entries[i].1, r.end - r.start)
                        })
                        .collect())
                })
            } else {
                check_blob(&manifest, &path, f.crypt_mode, key.as_ref()).map(|()| Vec::new())
            };
            let entries = match entries {
                Ok(e) => e,
                Err(e) => {
                    v.problems.push(e);
                    continue;
                }
            };
            let archive = u32::try_from(archives.len()).unwrap_or(u32::MAX);
            archives.push((si, f.filename.clone()));
            for (entry, (digest, len)) in entries.into_iter().enumerate() {
                let j = *by_digest.entry(digest).or_insert_with(|| {
                    jobs.push(Job {
                        digest,
                        len,
                        mode,
                        users: Vec::new(),
                        entry: entry as u64,
                    });
                    jobs.len() - 1
                });
                let job = &mut jobs[j];
                // A key now known for a chunk first met without one.
                if job.mode == Mode::CrcOnly && matches!(mode, Mode::Key(_)) {
                    job.mode = mode;
                }
                if job.users.last() != Some(&archive) {
                    job.users.push(archive);
                }
            }
        }
        report.snapshots.push(v);
    }
    let index_paths: Vec<PathBuf> = archives
        .iter()
        .map(|(si, name)| snapshots[*si].path.join(name))
        .collect();
    let results = check_chunks(
        store,
        keys,
        &jobs,
        &index_paths,
        threads,
        progress,
        &mut report.bytes_read,
    );
    report.chunks = jobs.len() as u64;
    report.chunks_crc_only = jobs.iter().filter(|j| j.mode == Mode::CrcOnly).count() as u64;
    for (job, result) in jobs.into_iter().zip(results) {
        let Some(error) = result else { continue };
        let mut needed_by = Vec::with_capacity(job.users.len());
        let mut counted = Vec::new();
        for a in job.users {
            let Some((si, name)) = archives.get(a as usize) else {
                continue;
            };
            if !counted.contains(si) {
                counted.push(*si);
                report.snapshots[*si].bad_chunks += 1;
            }
            needed_by.push((snapshots[*si].name(), name.clone()));
        }
        report.bad_chunks.push(BadChunk {
            digest: hex(&job.digest),
            path: store.chunk_path(&job.digest),
            error,
            needed_by,
        });
    }
    report
}

/// Checks a blob file against the manifest and decodes it when it can.
fn check_blob(
    manifest: &Manifest,
    path: &std::path::Path,
    mode: CryptMode,
    key: Option<&Key>,
) -> Result<()> {
    let bytes = read_bounded(path, crate::format::MAX_BLOB_FILE, "blob file size")?;
    manifest.check_blob(path, &bytes)?;
    let blob = Blob::parse(&bytes, path)?;
    if blob.kind.is_encrypted() && key.is_none() {
        return Ok(());
    }
    let key = if mode == CryptMode::Encrypt || blob.kind.is_encrypted() {
        key
    } else {
        None
    };
    blob.decode(key, crate::format::MAX_BLOB_DATA, path)
        .map(|_| ())
}

/// Checks every job's chunk on a pool; `None` = good.
fn check_chunks(
    store: &Datastore,
    keys: &Keyring,
    jobs: &[Job],
    index_paths: &[PathBuf],
    threads: usize,
    progress: &mut dyn sink::Progress,
    bytes_read: &mut u64,
) -> Vec<Option<Error>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(2, |p| p.get()),
        t => t,
    }
    .clamp(1, jobs.len().max(1));
    let plain = Chunks::new(store.clone(), None);
    let keyed: Vec<Chunks> = keys
        .keys()
        .iter()
        .map(|k| Chunks::new(store.clone(), Some(k.clone())))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Error>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, results, plain, keyed) = (&next, &results, &plain, &keyed);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let index = job
                        .users
                        .first()
                        .and_then(|a| index_paths.get(*a as usize))
                        .cloned()
                        .unwrap_or_default();
                    let (read, outcome) = check_one(store, plain, keyed, job, index);
                    if let Err(e) = outcome {
                        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(e);
                    }
                    let _ = tx.send(read);
                }
            });
        }
        drop(tx);
        for read in rx {
            *bytes_read += read;
            progress.read(*bytes_read);
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Checks one chunk; returns the bytes read and the outcome.
fn check_one(
    store: &Datastore,
    plain: &Chunks,
    keyed: &[Chunks],
    job: &Job,
    index: PathBuf,
) -> (u64, Result<()>) {
    let file = store.chunk_path(&job.digest);
    let bytes = match store.read_chunk(&job.digest) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return (
                0,
                Err(Error::MissingChunk {
                    file,
                    digest: hex(&job.digest),
                    index,
                    entry: job.entry,
                }),
            );
        }
        Err(e) => return (0, Err(e)),
    };
    let read = bytes.len() as u64;
    let len = usize::try_from(job.len).unwrap_or(usize::MAX);
    let outcome = match job.mode {
        Mode::Plain => plain.decode(&bytes, &job.digest, len, &file).map(|_| ()),
        Mode::Key(k) => match keyed.get(k) {
            Some(c) => c.decode(&bytes, &job.digest, len, &file).map(|_| ()),
            None => Ok(()),
        },
        Mode::CrcOnly => Blob::parse(&bytes, &file).and_then(|b| {
            if b.kind.is_encrypted() {
                Ok(())
            } else {
                Err(Error::CryptMode {
                    file: file.clone(),
                    digest: hex(&job.digest),
                    expected: "encrypted",
                    found: b.kind.name(),
                })
            }
        }),
    };
    (read, outcome)
}
