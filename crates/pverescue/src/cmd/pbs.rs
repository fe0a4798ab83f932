//! `list` and `extract` of a Proxmox Backup Server datastore copy (the `pbs` crate): the same
//! verbs as for a VMA archive, chosen when the path is a datastore, namespace, group or snapshot
//! directory (recognised in [`crate::source`]).
//!
//! What is restored: disk images (`X.img.fidx` → `OUT/X.img`, exact size, sparse) and config
//! blobs (`X.conf.blob` → `OUT/X.conf`), through the same sinks as a VMA restore; container
//! file trees (`X.pxar.didx`, or split `X.mpxar.didx` + `X.ppxar.didx`) → the directory
//! `OUT/X/`, through the `pxar` crate's extraction (a temporary tree published without
//! replacing).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{ConfigArgs, ExtractArgs, Global};
use crate::output;
use crate::progress::Bar;

/// The environment variable PBS itself reads a key file's password from.
const PASSWORD_ENV: &str = "PBS_ENCRYPTION_PASSWORD";

#[derive(Debug, Serialize)]
struct SnapshotLine {
    /// `[ns/]type/id/time`; for an empty group, `[ns/]type/id`.
    snapshot: String,
    path: String,
    /// The backup time (absent for an empty group).
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    /// A group directory without any snapshot (only `owner`/`notes`), listed so that it is
    /// seen; present (true) only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    empty_group: bool,
    finished: bool,
    protected: bool,
    archives: Vec<ArchiveLine>,
    encrypted: bool,
    /// `encrypt` when an archive is encrypted, else `sign-only` when the manifest is signed,
    /// else `none` (also for an unfinished snapshot).
    crypt_mode: &'static str,
    verify_state: Option<String>,
    /// The group's owner (`root@pam`), from its `owner` file.
    owner: Option<String>,
    /// The snapshot's notes, from its manifest.
    notes: Option<String>,
}

#[derive(Debug, Serialize)]
struct ArchiveLine {
    name: String,
    /// `image`, `config`, `tree`, `tree-metadata` or `tree-payload` (split pxar), `other`.
    kind: &'static str,
    size: u64,
    crypt_mode: String,
}

/// What an archive of a snapshot is, by its name.
fn kind_of(name: &str) -> &'static str {
    if name.ends_with(".fidx") {
        "image"
    } else if name.ends_with(".mpxar.didx") {
        "tree-metadata"
    } else if name.ends_with(".ppxar.didx") {
        "tree-payload"
    } else if name.ends_with(".pcat1.didx") {
        "catalog"
    } else if name.ends_with(".didx") {
        "tree"
    } else if name.ends_with(".blob") {
        "config"
    } else {
        "other"
    }
}

fn snapshot_line(s: &pbs::Snapshot) -> SnapshotLine {
    let manifest = s
        .finished
        .then(|| pbs::Manifest::open(&s.manifest_path()).ok())
        .flatten();
    SnapshotLine {
        snapshot: s.name(),
        path: s.path.display().to_string(),
        time: Some(s.time.clone()),
        empty_group: false,
        finished: s.finished,
        protected: s.protected,
        archives: manifest
            .as_ref()
            .map(|m| {
                m.files
                    .iter()
                    .map(|f| ArchiveLine {
                        name: f.filename.clone(),
                        kind: kind_of(&f.filename),
                        size: f.size,
                        crypt_mode: f.crypt_mode.name().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        encrypted: manifest.as_ref().is_some_and(pbs::Manifest::is_encrypted),
        crypt_mode: match &manifest {
            Some(m) if m.is_encrypted() => "encrypt",
            Some(m)
                if m.files
                    .iter()
                    .any(|f| f.crypt_mode == pbs::CryptMode::SignOnly) =>
            {
                "sign-only"
            }
            _ => "none",
        },
        verify_state: manifest
            .as_ref()
            .and_then(|m| m.verify_state().map(str::to_owned)),
        owner: s
            .path
            .parent()
            .and_then(|g| std::fs::read_to_string(g.join("owner")).ok())
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty()),
        notes: manifest.as_ref().and_then(|m| m.notes().map(str::to_owned)),
    }
}

/// A line for a group without snapshots.
fn empty_group_line(group: &pbs::Group) -> SnapshotLine {
    let base = format!("{}/{}", group.backup_type, group.id);
    SnapshotLine {
        snapshot: if group.ns.is_root() {
            base
        } else {
            format!("{}/{base}", group.ns)
        },
        path: group.path.display().to_string(),
        time: None,
        empty_group: true,
        finished: false,
        protected: false,
        archives: Vec::new(),
        encrypted: false,
        crypt_mode: "none",
        verify_state: None,
        owner: group.owner.clone().filter(|o| !o.is_empty()),
        notes: group.notes.clone(),
    }
}

/// The groups a path covers that hold no snapshot at all (PBS leaves them after pruning or a
/// failed move).
fn empty_groups(store: &pbs::Datastore, at: &pbs::Located) -> Result<Vec<pbs::Group>> {
    let groups = match at {
        pbs::Located::Store | pbs::Located::Namespace(_) => {
            let mut all = Vec::new();
            for ns in store.namespaces()? {
                if let pbs::Located::Namespace(want) = at
                    && !ns.0.starts_with(&want.0)
                {
                    continue;
                }
                all.extend(store.groups(&ns)?);
            }
            all
        }
        pbs::Located::Group(group) => vec![group.clone()],
        pbs::Located::Snapshot(_) => Vec::new(),
    };
    let mut out = Vec::new();
    for group in groups {
        if store.snapshots(&group)?.is_empty() {
            out.push(group);
        }
    }
    Ok(out)
}

/// `pverescue list` of a datastore, namespace, group or snapshot.
pub fn list(g: &Global, store: &pbs::Datastore, at: &pbs::Located) -> Result<Outcome> {
    let snapshots = snapshots_of(store, at)?;
    let mut lines: Vec<SnapshotLine> = snapshots.iter().map(snapshot_line).collect();
    lines.extend(empty_groups(store, at)?.iter().map(empty_group_line));
    if g.json {
        output::print_json(&lines)?;
        return Ok(Outcome::Success);
    }
    let mut out = std::io::stdout().lock();
    // Columns: the snapshot names padded to the longest (escaped as printed).
    let width = lines
        .iter()
        .map(|l| output::name(&l.snapshot).chars().count())
        .max()
        .unwrap_or(0);
    for l in &lines {
        let size: u64 = l.archives.iter().map(|a| a.size).sum();
        let mut marks = Vec::new();
        if !l.finished && !l.empty_group {
            marks.push("unfinished");
        }
        if l.protected {
            marks.push("protected");
        }
        match l.crypt_mode {
            "encrypt" => marks.push("encrypted"),
            "sign-only" => marks.push("signed"),
            _ => {}
        }
        let verified = l
            .verify_state
            .as_ref()
            .map(|v| format!("verify {}", output::text(v)));
        if let Some(v) = &verified {
            marks.push(v.as_str());
        }
        let owner = l
            .owner
            .as_ref()
            .map(|o| format!("owner {}", output::text(o)));
        if let Some(o) = &owner {
            marks.push(o.as_str());
        }
        if l.empty_group {
            let line = format!(
                "{:<width$}  empty group (no snapshots)  {}",
                output::name(&l.snapshot),
                marks.join(", ")
            );
            writeln!(out, "{}", line.trim_end())?;
            continue;
        }
        let archives = format!(
            "{} archive{}",
            l.archives.len(),
            if l.archives.len() == 1 { "" } else { "s" }
        );
        let line = format!(
            "{:<width$}  {archives:<11} {:>10}  {}",
            output::name(&l.snapshot),
            output::size(size),
            marks.join(", ")
        );
        writeln!(out, "{}", line.trim_end())?;
        if matches!(at, pbs::Located::Snapshot(_)) {
            if let Some(n) = &l.notes {
                writeln!(out, "  notes: {}", output::text(n))?;
            }
            for a in &l.archives {
                let kind = match a.kind {
                    "tree" => "  file tree",
                    "tree-metadata" => "  file tree (split: metadata)",
                    "tree-payload" => "  file tree (split: file data)",
                    _ => "",
                };
                writeln!(
                    out,
                    "  {:<32} {:>12}  {}{kind}",
                    output::name(&a.name),
                    output::size(a.size),
                    a.crypt_mode
                )?;
            }
        }
    }
    Ok(Outcome::Success)
}

/// The key files given with `--keyfile`, unlocked with the password of `--password-file` (its
/// first line) or `PBS_ENCRYPTION_PASSWORD`.
pub(crate) fn keyring(k: &crate::cli::PbsKeys) -> Result<pbs::Keyring> {
    let mut keys = pbs::Keyring::new();
    let password: Option<Vec<u8>> = match &k.password_file {
        Some(p) => {
            let text = std::fs::read(p)
                .with_context(|| format!("{}: cannot read the password file", p.display()))?;
            let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
            Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        }
        None => std::env::var_os(PASSWORD_ENV).map(|p| p.into_encoded_bytes()),
    };
    let mut password = password;
    for f in &k.keyfiles {
        let kf = pbs::KeyFile::open(f)?;
        if kf.needs_passphrase() && password.is_none() {
            password = prompt(&format!("Password for the key file {}: ", f.display()))?;
        }
        if kf.needs_passphrase() && password.is_none() {
            bail!(
                "{}: the key file is protected by a password: give it with --password-file \
                 FILE or in {PASSWORD_ENV}",
                f.display()
            );
        }
        let key = kf
            .unlock(password.as_deref())
            .with_context(|| format!("{}: cannot unlock the key", f.display()))?;
        keys.add(key);
    }
    Ok(keys)
}

/// Asks for a password on the terminal, without echo; `None` when there is no terminal.
fn prompt(question: &str) -> Result<Option<Vec<u8>>> {
    use std::io::{BufRead, IsTerminal};
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Ok(None);
    };
    if !tty.is_terminal() {
        return Ok(None);
    }
    let saved = rustix::termios::tcgetattr(&tty).context("cannot read the terminal's settings")?;
    // Ctrl-C at the prompt must not leave the terminal without echo.
    static SAVED: std::sync::Mutex<Option<rustix::termios::Termios>> = std::sync::Mutex::new(None);
    static REGISTERED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved.clone());
    REGISTERED.get_or_init(|| {
        cleanup::on_signal(cleanup::Stage::Children, |_| {
            let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let (Some(t), Ok(tty)) = (saved, std::fs::File::open("/dev/tty")) {
                let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &t);
            }
        });
    });
    cleanup::install().context("cannot install the signal handler")?;
    let mut quiet = saved.clone();
    quiet.local_modes -= rustix::termios::LocalModes::ECHO;
    rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &quiet)
        .context("cannot turn the terminal's echo off")?;
    let mut w = &tty;
    let asked = write!(w, "{question}").and_then(|()| w.flush());
    let mut line = Vec::new();
    let read = asked.and_then(|()| std::io::BufReader::new(&tty).read_until(b'\n', &mut line));
    // Echo back on whatever happened, then end the prompt's line.
    let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &saved);
    SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    let _ = writeln!(w);
    read.context("cannot read the password from the terminal")?;
    while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

#[derive(Debug, Serialize)]
struct ExtractJson {
    snapshot: String,
    dir: Option<String>,
    images: Vec<ImageJson>,
    configs: Vec<ConfigJson>,
    trees: Vec<TreeJson>,
    skipped: Vec<SkippedJson>,
    not_written: Vec<String>,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct ImageJson {
    archive: String,
    path: String,
    size: u64,
    data_bytes: u64,
    zero_bytes: u64,
    verified: Option<bool>,
    /// Ranges written as zeros with --zero-fill, because their chunk was missing or damaged.
    zero_filled: Vec<RangeJson>,
    /// Ranges taken from a `.bad` copy of their chunk with --zero-fill.
    from_bad_copies: Vec<RangeJson>,
}

#[derive(Debug, Serialize)]
struct RangeJson {
    start: u64,
    end: u64,
    /// Why (zero-filled), or the `.bad` copy used.
    what: String,
}

#[derive(Debug, Serialize)]
struct ConfigJson {
    archive: String,
    path: String,
    size: u64,
}

#[derive(Debug, Serialize)]
struct TreeJson {
    /// The archive (`X.pxar.didx`, or `X.mpxar.didx` of a split pair).
    archive: String,
    /// The payload stream of a split archive.
    payload: Option<String>,
    path: String,
    dirs: u64,
    files: u64,
    symlinks: u64,
    hardlinks: u64,
    /// Devices, fifos and sockets.
    specials: u64,
    data_bytes: u64,
    sparse_bytes: u64,
    /// Whether numeric owners were set (root only).
    owners: bool,
    /// Files left out because their data could not be read.
    damaged: Vec<DamagedJson>,
    /// Metadata or entries the file system (or a non-root user) could not take.
    not_applied: Vec<NotAppliedJson>,
    /// How many more were not applied than are listed.
    not_applied_more: u64,
}

#[derive(Debug, Serialize)]
struct DamagedJson {
    path: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct NotAppliedJson {
    path: String,
    what: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct SkippedJson {
    archive: String,
    reason: String,
}

/// The snapshot a path means: itself, or a group's newest finished snapshot (said on stderr);
/// a store or namespace holds many and is refused.
pub(crate) fn one_snapshot(
    g: &Global,
    path: &Path,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<pbs::Snapshot> {
    let s = one_snapshot_quiet(path, store, at)?;
    if matches!(at, pbs::Located::Group(_)) {
        say_group_snapshot(g, &s);
    }
    Ok(s)
}

/// Tells which snapshot a group directory stands for (on stderr, unless quiet or JSON).
pub(crate) fn say_group_snapshot(g: &Global, s: &pbs::Snapshot) {
    if !g.quiet && !g.json {
        eprintln!(
            "pverescue: using the newest finished snapshot of the group: {}",
            s.name()
        );
    }
}

/// [`one_snapshot`] without saying which snapshot a group means.
pub(crate) fn one_snapshot_quiet(
    path: &Path,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<pbs::Snapshot> {
    Ok(match at {
        pbs::Located::Snapshot(s) => s.clone(),
        pbs::Located::Group(group) => store.newest_finished(group)?.with_context(|| {
            format!(
                "{}: the group has no finished snapshot",
                group.path.display()
            )
        })?,
        pbs::Located::Store | pbs::Located::Namespace(_) => bail!(
            "{}: a datastore or namespace holds many backups: give a snapshot or a group \
             directory (`pverescue list {}` shows them)",
            path.display(),
            path.display()
        ),
    })
}

/// The snapshots a path covers: all of a store or namespace, a group's, or one.
fn snapshots_of(store: &pbs::Datastore, at: &pbs::Located) -> Result<Vec<pbs::Snapshot>> {
    Ok(match at {
        pbs::Located::Store => store.all_snapshots()?,
        pbs::Located::Namespace(ns) => store
            .all_snapshots()?
            .into_iter()
            .filter(|s| s.ns.0.starts_with(&ns.0))
            .collect(),
        pbs::Located::Group(group) => store.snapshots(group)?,
        pbs::Located::Snapshot(s) => vec![s.clone()],
    })
}

/// `pverescue config SNAPSHOT|GROUP [-c NAME]`: a config blob's bytes.
pub fn config(
    g: &Global,
    a: &ConfigArgs,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<Outcome> {
    let snapshot = one_snapshot(g, &a.archive, store, at)?;
    let keys = keyring(&a.keys)?;
    let reader = pbs::SnapshotReader::open(store, &snapshot, &keys)?;
    let want = if a.name.ends_with(".blob") {
        a.name.clone()
    } else {
        format!("{}.blob", a.name)
    };
    let blobs: Vec<&str> = reader
        .manifest()
        .files
        .iter()
        .map(|f| f.filename.as_str())
        .filter(|f| f.ends_with(".blob"))
        .collect();
    if !blobs.contains(&want.as_str()) {
        bail!(
            "{}: no config named '{}' in the snapshot (it has: {})",
            snapshot.name(),
            a.name,
            if blobs.is_empty() {
                "none".to_owned()
            } else {
                blobs.join(", ")
            }
        );
    }
    let bytes = reader.blob(&want)?;
    if g.json {
        #[derive(Serialize)]
        struct Json<'a> {
            snapshot: String,
            name: &'a str,
            size: usize,
            text: Option<&'a str>,
        }
        output::print_json(&Json {
            snapshot: snapshot.name(),
            name: want.trim_end_matches(".blob"),
            size: bytes.len(),
            text: std::str::from_utf8(&bytes).ok(),
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)?;
        out.flush()?;
    }
    Ok(Outcome::Success)
}

#[derive(Debug, Serialize)]
struct VerifyJson {
    snapshots: Vec<VerdictJson>,
    chunks: u64,
    chunks_crc_only: u64,
    bytes_read: u64,
    /// Snapshots without a manifest, not checked (exit code 1 when nothing else is wrong).
    unfinished: usize,
    bad_chunks: Vec<BadChunkJson>,
    /// Nothing checked is damaged (unfinished snapshots aside).
    ok: bool,
}

#[derive(Debug, Serialize)]
struct VerdictJson {
    snapshot: String,
    ok: bool,
    finished: bool,
    crc_only: bool,
    /// `unsigned`, `verified` or `not-checked` (signed, no key given); null when the manifest
    /// could not be read.
    signature: Option<&'static str>,
    problems: Vec<String>,
    bad_chunks: usize,
}

#[derive(Debug, Serialize)]
struct BadChunkJson {
    digest: String,
    path: String,
    error: String,
    needed_by: Vec<(String, String)>,
}

/// `pverescue verify STORE|NAMESPACE|GROUP|SNAPSHOT...`: every chunk read once however many
/// snapshots share it; one line per snapshot, then every bad chunk with who needs it.
pub fn verify(
    g: &Global,
    paths: &[(PathBuf, pbs::Datastore, pbs::Located)],
    keys: &crate::cli::PbsKeys,
) -> Result<Outcome> {
    let keys = keyring(keys)?;
    let mut report = pbs::VerifyReport::default();
    for (path, store, at) in paths {
        let snaps = snapshots_of(store, at)?;
        if snaps.is_empty() {
            bail!("{}: no snapshots found here", path.display());
        }
        let mut bar = Bar::new(g, &path.display().to_string());
        let r = pbs::verify(store, &snaps, &keys, 0, &mut bar);
        bar.finish();
        report.snapshots.extend(r.snapshots);
        report.chunks += r.chunks;
        report.chunks_crc_only += r.chunks_crc_only;
        report.bytes_read += r.bytes_read;
        report.bad_chunks.extend(r.bad_chunks);
    }
    let crc_only = report.snapshots.iter().any(|v| v.crc_only);
    let sig_unchecked = report
        .snapshots
        .iter()
        .any(|v| v.signature == Some(pbs::Signature::NotChecked));
    // An unfinished snapshot (no manifest: aborted, or still running when the copy was made)
    // cannot be checked; it is reported, and is not a damaged backup.
    let unfinished = report
        .snapshots
        .iter()
        .filter(|v| !v.snapshot.finished)
        .count();
    let failed = report
        .snapshots
        .iter()
        .filter(|v| v.snapshot.finished && !v.ok())
        .count();
    let ok = failed == 0 && report.bad_chunks.is_empty();
    if g.json {
        output::print_json(&VerifyJson {
            snapshots: report
                .snapshots
                .iter()
                .map(|v| VerdictJson {
                    snapshot: v.snapshot.name(),
                    ok: v.ok(),
                    finished: v.snapshot.finished,
                    crc_only: v.crc_only,
                    signature: v.signature.map(|sig| match sig {
                        pbs::Signature::Unsigned => "unsigned",
                        pbs::Signature::Verified(_) => "verified",
                        pbs::Signature::NotChecked => "not-checked",
                    }),
                    problems: v.problems.iter().map(ToString::to_string).collect(),
                    bad_chunks: v.bad_chunks,
                })
                .collect(),
            chunks: report.chunks,
            chunks_crc_only: report.chunks_crc_only,
            bytes_read: report.bytes_read,
            unfinished,
            bad_chunks: report
                .bad_chunks
                .iter()
                .map(|b| BadChunkJson {
                    digest: b.digest.clone(),
                    path: b.path.display().to_string(),
                    error: b.error.to_string(),
                    needed_by: b.needed_by.clone(),
                })
                .collect(),
            ok,
        })?;
    } else if !g.quiet || !ok {
        let mut out = std::io::stdout().lock();
        for v in &report.snapshots {
            let name = output::name(&v.snapshot.name()).into_owned();
            if !v.snapshot.finished {
                writeln!(
                    out,
                    "SKIP {name}: unfinished (no manifest: the backup was aborted or was still \
                     running when the store was copied)"
                )?;
            } else if v.ok() {
                let note = if v.crc_only {
                    " (encrypted, no key given: chunks CRC-checked only)"
                } else if v.signature == Some(pbs::Signature::NotChecked) {
                    " (signed, no key given: signature not checked)"
                } else {
                    ""
                };
                writeln!(out, "OK   {name}{note}")?;
            } else {
                let mut why: Vec<String> = v.problems.iter().map(ToString::to_string).collect();
                if v.bad_chunks > 0 {
                    why.push(format!("needs {} bad chunk(s)", v.bad_chunks));
                }
                writeln!(out, "FAIL {name}: {}", output::text(&why.join("; ")))?;
            }
        }
        for b in &report.bad_chunks {
            let users: Vec<String> = b
                .needed_by
                .iter()
                .map(|(s, a)| format!("{s}/{a}"))
                .collect();
            // The error names the chunk's file, and so its digest.
            writeln!(
                out,
                "BAD  {}; needed by {}",
                output::text(&b.error.to_string()),
                output::text(&users.join(", "))
            )?;
        }
        let skipped = if unfinished > 0 {
            format!(", {unfinished} unfinished")
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} snapshot{}: {} ok, {failed} failed{skipped}; {} chunks checked ({} only by CRC)",
            report.snapshots.len(),
            if report.snapshots.len() == 1 { "" } else { "s" },
            report.snapshots.len() - failed - unfinished,
            report.chunks,
            report.chunks_crc_only
        )?;
    }
    Ok(if !ok {
        Outcome::Failed
    } else if crc_only || sig_unchecked || unfinished > 0 {
        // Nothing wrong was found, but not everything could be checked.
        if crc_only {
            eprintln!(
                "pverescue: warning: encrypted snapshots were only CRC-checked: give their key \
                 with --keyfile to check their contents"
            );
        }
        if sig_unchecked {
            eprintln!(
                "pverescue: warning: signed (sign-only) manifests were not checked: give their \
                 key with --keyfile to check their signatures"
            );
        }
        if unfinished > 0 {
            eprintln!(
                "pverescue: warning: {unfinished} unfinished snapshot(s) not checked (no \
                 manifest)"
            );
        }
        Outcome::Warnings
    } else {
        Outcome::Success
    })
}

/// `pverescue extract SNAPSHOT|GROUP OUT`.
pub fn extract(
    g: &Global,
    a: &ExtractArgs,
    store: &pbs::Datastore,
    at: &pbs::Located,
) -> Result<Outcome> {
    let started = Instant::now();
    let snapshot = one_snapshot(g, &a.archive, store, at)?;
    if a.drives.is_some() {
        bail!("-d picks drives of a VMA archive; for a PBS snapshot pick archives with -a");
    }
    if a.dir.is_none() && a.maps.is_empty() {
        bail!(
            "{}: give the directory to restore into (or --map every disk)",
            snapshot.name()
        );
    }
    let keys = keyring(&a.keys)?;
    // A missing or wrong key fails here, naming the fingerprint, before anything is written.
    let reader = pbs::SnapshotReader::open(store, &snapshot, &keys)?;
    let all: Vec<&str> = reader
        .manifest()
        .files
        .iter()
        .map(|f| f.filename.as_str())
        .collect();
    let short = |f: &str| -> String {
        [
            ".img.fidx",
            ".conf.blob",
            ".pxar.didx",
            ".mpxar.didx",
            ".ppxar.didx",
            ".fidx",
            ".didx",
            ".blob",
        ]
        .iter()
        .find_map(|suffix| f.strip_suffix(suffix))
        .unwrap_or(f)
        .to_owned()
    };
    // `-a X.pxar` and `-a X.mpxar` name trees without `.didx`; a split tree needs both streams.
    let names = |f: &str| {
        let pair = f
            .strip_suffix(".ppxar.didx")
            .map(|x| format!("{x}.mpxar.didx"));
        [
            Some(f.to_owned()),
            Some(short(f)),
            f.strip_suffix(".didx").map(str::to_owned),
        ]
        .into_iter()
        .chain(
            pair.iter()
                .flat_map(|p| [Some(p.clone()), p.strip_suffix(".didx").map(str::to_owned)]),
        )
        .flatten()
        .collect::<Vec<String>>()
    };
    for want in &a.select {
        if !all.iter().any(|f| names(f).contains(want)) {
            bail!(
                "{}: no archive named '{want}' in the snapshot (it has: {})",
                snapshot.name(),
                all.join(", ")
            );
        }
    }
    let chosen = |f: &str| a.select.is_empty() || names(f).iter().any(|n| a.select.contains(n));
    cleanup::install().context("cannot install the signal handler")?;
    // The disk images, as --map names them: `drive-scsi0`, `scsi0` or the archive's file name.
    let mut disks: Vec<(String, String, u64)> = Vec::new();
    for file in all.iter().filter(|f| f.ends_with(".fidx") && chosen(f)) {
        let size = diskview::ReadAt::size(&reader.fixed_image(file)?);
        disks.push((file.to_string(), short(file), size));
    }
    let find = |want: &str| {
        disks.iter().find(|(file, name, _)| {
            file == want || name == want || name.strip_prefix("drive-") == Some(want)
        })
    };
    for m in &a.maps {
        if find(&m.drive).is_none() {
            let names: Vec<&str> = disks.iter().map(|d| d.1.as_str()).collect();
            bail!(
                "--map {}: no disk image of that name in {} (it has: {})",
                m.drive,
                snapshot.name(),
                names.join(", ")
            );
        }
    }
    // Every target is checked (and confirmed) before a single byte is written.
    let lookup = |want: &str| find(want).map(|(_, name, size)| (name.clone(), *size));
    let mut mapped = crate::targets::prepare(&lookup, &a.maps, a.yes, g.quiet || g.json)?;
    let created = sink::Created::new();
    let dir = match &a.dir {
        Some(out) => Some(sink::OutDir::create(out, a.force, &created)?),
        None => None,
    };
    let (mut images, mut configs, mut trees, mut skipped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Images mapped to `skip`: not restored, as asked.
    let mut not_written: Vec<String> = Vec::new();
    for (i, f) in reader.manifest().files.iter().enumerate() {
        let file = f.filename.as_str();
        if !chosen(file) {
            continue;
        }
        if let Some(name) = file.strip_suffix(".fidx") {
            let image = reader.fixed_image(file)?;
            let disk = sink::Disk {
                id: u32::try_from(i).unwrap_or(u32::MAX),
                name: name.to_owned(),
                size: diskview::ReadAt::size(&image),
            };
            let opts = sink::WriteOptions {
                write_zeroes: a.write_zeroes,
                replace: a.force,
                digest: a.verify,
            };
            let target = mapped
                .iter()
                .position(|(drive, _)| find(drive).is_some_and(|d| d.0 == file))
                .map(|i| mapped.swap_remove(i).1);
            let writer = match (target, &dir) {
                (Some(t), _) => sink::DiskWriter::for_target(disk, t, opts, &created)?,
                (None, Some(dir)) => Some(sink::DiskWriter::new_in_dir(
                    disk,
                    dir,
                    name.as_ref(),
                    opts,
                    &created,
                )?),
                (None, None) => bail!("{file} has no --map target and no directory was given"),
            };
            let Some(mut w) = writer else {
                not_written.push(file.to_owned());
                continue;
            };
            let mut bar = Bar::new(g, file).total(diskview::ReadAt::size(&image));
            let report = pbs::restore_fixed(
                &image,
                Some(&mut w),
                &mut bar,
                &pbs::RestoreOptions {
                    zero_fill: a.zero_fill,
                    bad_copies: a.zero_fill,
                    ..Default::default()
                },
            )
            .with_context(|| format!("{}: restore of {file} failed", snapshot.name()))?;
            bar.finish();
            let written = w.finish(&created)?;
            let verified = if a.verify {
                Some(sink::verify::verify(
                    &written,
                    Some(blockdev::flush_buffers),
                )?)
            } else {
                None
            };
            images.push(ImageJson {
                archive: file.to_owned(),
                path: written.path.display().to_string(),
                size: written.size,
                data_bytes: report.data_bytes,
                zero_bytes: report.zero_bytes,
                verified,
                zero_filled: report
                    .damaged
                    .iter()
                    .map(|d| RangeJson {
                        start: d.range.start,
                        end: d.range.end,
                        what: d.error.to_string(),
                    })
                    .collect(),
                from_bad_copies: report
                    .from_bad_copies
                    .iter()
                    .map(|(r, p)| RangeJson {
                        start: r.start,
                        end: r.end,
                        what: p.display().to_string(),
                    })
                    .collect(),
            });
        } else if let Some(name) = file.strip_suffix(".blob") {
            // Configs go into the directory; with only --map targets there is none.
            let Some(dir) = &dir else { continue };
            let bytes = reader.blob(file)?;
            let path = dir.write_new(name.as_ref(), &bytes, a.force, &created)?;
            configs.push(ConfigJson {
                archive: file.to_owned(),
                path: path.display().to_string(),
                size: bytes.len() as u64,
            });
        } else if file.ends_with(".pcat1.didx") {
            // The catalog lists the files of the trees for PBS's browser: nothing to restore.
            continue;
        } else if file.ends_with(".ppxar.didx") {
            // Restored with its metadata stream.
            if !all.contains(&format!("{}.mpxar.didx", short(file)).as_str()) {
                skipped.push(SkippedJson {
                    archive: file.to_owned(),
                    reason: "the payload stream of a split tree without its metadata stream \
                             (.mpxar.didx)"
                        .into(),
                });
            }
        } else if file.ends_with(".didx") {
            // Trees go into the directory; with only --map targets there is none.
            let Some(dir) = &dir else { continue };
            let payload = file
                .strip_suffix(".mpxar.didx")
                .map(|x| format!("{x}.ppxar.didx"));
            if let Some(p) = &payload
                && !all.contains(&p.as_str())
            {
                bail!(
                    "{}: {file} is the metadata of a split tree, but its file data {p} is not in \
                     the snapshot",
                    snapshot.name()
                );
            }
            trees.push(extract_tree(g, &reader, dir, file, payload.as_deref())?);
        } else {
            skipped.push(SkippedJson {
                archive: file.to_owned(),
                reason: "not a disk image, config or file tree".into(),
            });
        }
    }
    created.commit();
    let seconds = started.elapsed().as_secs_f64();
    let repaired = images
        .iter()
        .any(|i| !i.zero_filled.is_empty() || !i.from_bad_copies.is_empty());
    let warned = !skipped.is_empty()
        || repaired
        || trees
            .iter()
            .any(|t| !t.damaged.is_empty() || !t.not_applied.is_empty());
    for i in &images {
        for z in &i.zero_filled {
            eprintln!(
                "pverescue: warning: {}: bytes {}..{} written as zeros: {}",
                output::name(&shown(&i.path)),
                z.start,
                z.end,
                output::text(&z.what)
            );
        }
        for b in &i.from_bad_copies {
            eprintln!(
                "pverescue: warning: {}: bytes {}..{} taken from {}, which a verify job had \
                 marked as bad (it passes every check now)",
                output::name(&shown(&i.path)),
                b.start,
                b.end,
                output::text(&b.what)
            );
        }
    }
    for t in &trees {
        for d in &t.damaged {
            eprintln!(
                "pverescue: warning: {}: {}: left out: {}",
                output::name(&t.archive),
                output::name(&d.path),
                output::text(&d.reason)
            );
        }
        for n in &t.not_applied {
            eprintln!(
                "pverescue: warning: {}: {}: {} not applied: {}",
                output::name(&t.archive),
                output::name(&n.path),
                output::text(&n.what),
                output::text(&n.reason)
            );
        }
        if t.not_applied_more > 0 {
            eprintln!(
                "pverescue: warning: {}: {} more not applied (see --json)",
                output::name(&t.archive),
                t.not_applied_more
            );
        }
    }
    for s in &skipped {
        eprintln!(
            "pverescue: warning: {}: {} skipped: {}",
            snapshot.name(),
            output::name(&s.archive),
            s.reason
        );
    }
    if g.json {
        output::print_json(&ExtractJson {
            snapshot: snapshot.name(),
            dir: a.dir.as_ref().map(|d| d.display().to_string()),
            images,
            configs,
            trees,
            skipped,
            not_written,
            seconds,
        })?;
    } else if !g.quiet {
        let mut o = std::io::stdout().lock();
        match &a.dir {
            Some(out) => writeln!(o, "restored {} into {}", snapshot.name(), out.display())?,
            None => writeln!(o, "restored {}", snapshot.name())?,
        }
        for c in &configs {
            writeln!(
                o,
                "  config {:<28} {:>12}",
                output::name(&shown(&c.path)),
                output::size(c.size)
            )?;
        }
        for i in &images {
            let check = if i.verified == Some(true) {
                ", verified"
            } else {
                ""
            };
            let filled: u64 = i.zero_filled.iter().map(|z| z.end - z.start).sum();
            let filled = if filled > 0 {
                format!(", {} ZERO-FILLED", output::size(filled))
            } else {
                String::new()
            };
            writeln!(
                o,
                "  disk   {:<28} {:>12}  ({} data, {} sparse{filled}{check})",
                output::name(&shown(&i.path)),
                output::size(i.size),
                output::size(i.data_bytes),
                output::size(i.zero_bytes)
            )?;
        }
        for t in &trees {
            writeln!(
                o,
                "  tree   {:<28} {:>12}  ({} files, {} directories, {} links{})",
                output::name(&format!("{}/", shown(&t.path))),
                output::size(t.data_bytes + t.sparse_bytes),
                t.files,
                t.dirs,
                t.symlinks + t.hardlinks,
                if t.owners {
                    ""
                } else {
                    "; owners not set: not root"
                }
            )?;
        }
        for n in &not_written {
            writeln!(o, "  skip   {}", output::name(n))?;
        }
        writeln!(o, "in {seconds:.2} s")?;
    }
    Ok(if !warned {
        Outcome::Success
    } else {
        Outcome::Warnings
    })
}

/// The file name of a written path.
fn shown(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Restores the tree of `file` (with its payload stream for a split archive) as `DIR/X/`.
fn extract_tree(
    g: &Global,
    reader: &pbs::SnapshotReader,
    dir: &sink::OutDir,
    file: &str,
    payload: Option<&str>,
) -> Result<TreeJson> {
    let name = file
        .strip_suffix(".mpxar.didx")
        .or_else(|| file.strip_suffix(".pxar.didx"))
        .or_else(|| file.strip_suffix(".didx"))
        .unwrap_or(file);
    let meta = reader.dynamic_stream(file)?;
    let data = payload.map(|p| reader.dynamic_stream(p)).transpose()?;
    let total = diskview::ReadAt::size(&meta) + data.as_ref().map_or(0, diskview::ReadAt::size);
    let ar = pxar::Archive::open(meta, data, file)?;
    let mut bar = Bar::new(g, file).total(total);
    let r = pxar::extract::extract(
        &ar,
        dir.path(),
        name.as_ref(),
        &pxar::extract::Options::for_this_process(),
        &mut bar,
    )
    .with_context(|| format!("{}: restore of {file} failed", reader.snapshot().name()))?;
    bar.finish();
    Ok(TreeJson {
        archive: file.to_owned(),
        payload: payload.map(str::to_owned),
        path: r.path.display().to_string(),
        dirs: r.dirs,
        files: r.files,
        symlinks: r.symlinks,
        hardlinks: r.hardlinks,
        specials: r.specials,
        data_bytes: r.data_bytes,
        sparse_bytes: r.sparse_bytes,
        owners: r.owners,
        damaged: r
            .damaged
            .into_iter()
            .map(|d| DamagedJson {
                path: d.path,
                reason: d.reason,
            })
            .collect(),
        not_applied: r
            .not_applied
            .into_iter()
            .map(|n| NotAppliedJson {
                path: n.path,
                what: n.what,
                reason: n.reason,
            })
            .collect(),
        not_applied_more: r.not_applied_more,
    })
}
