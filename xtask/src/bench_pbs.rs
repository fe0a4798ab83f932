//! `cargo xtask bench-pbs`: restore of a Proxmox Backup Server snapshot against a bare
//! decompressor, in one run.
//!
//! A datastore is written once under `target/bench-pbs/` by the test writer `pbswrite` (from
//! the spec, not from the `pbs` reader): one VM snapshot holding one image of the bench mix
//! (¼ pseudo-random, ½ system binaries, ¼ zeros, as `cargo xtask bench`), cut into 4 MiB chunks,
//! each a zstd blob (level 1, as PBS writes them; the zero quarter is the one zero chunk, stored
//! once). Next to it, the same compressed chunk payloads in index order, concatenated into one
//! file of zstd frames: what a bare decompressor needs to produce the image, with no checking.
//!
//! Measured, every pair in turn (A B A B …) so that machine drift hits both alike:
//!
//! - `zstd -dc FRAMES > /dev/null`: single-threaded zstd, no CRC, no SHA-256, no writes;
//! - `pverescue extract -q SNAPSHOT OUT`: every chunk's CRC-32 and SHA-256 checked, the image
//!   written to a sparse file and synced before it is renamed into place;
//! - the same restore on one core (`taskset -c 0`, so the decoding pool has one thread): what a
//!   one-core decode-and-verify reader, as PBS's own client is, needs;
//! - peak RSS of pverescue (GNU time, from `wait4`), at every size given (1 and 4 GiB: flat);
//! - the SHA-256 throughput of the `sha2` crate on this CPU (and whether it has SHA-NI, which
//!   `sha2` 0.10 detects at run time).
//!
//! The restored image is compared with the image's SHA-256 recorded when the store was
//! written, and `zstd -dc FRAMES` with it too (once, when the files are made), so neither side
//! of the ratio can be fast by being wrong.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use sha2::{Digest, Sha256};

use crate::bench::{Timing, middle, paired, time_shell_full, write_image};
use crate::root;

const GIB: u64 = 1 << 30;
/// The chunk size PVE uses for VM images.
const CHUNK: usize = 4 << 20;
/// Where the one snapshot lives in the store.
pub(crate) const SNAPSHOT: &str = "vm/900/2026-12-01T21:00:00Z";
/// Its backup time (the snapshot directory's name).
const TIME: i64 = 1_796_158_800;

pub fn run(args: &[String]) -> Result<()> {
    let (sizes, runs) = crate::bench::size_args("bench-pbs", args, &[1, 4])?;
    let bin = crate::bench::prepare()?;
    let work = root().join("target/bench-pbs");
    fs::create_dir_all(&work)?;
    let mut report = crate::bench::report_header(&bin)?;
    writeln!(report, "zstd: {}", crate::fixtures::version("zstd"))?;
    sha_line(&mut report)?;
    writeln!(
        report,
        "\nWall seconds, medians; CPU seconds (user + system) in brackets.\n\n\
         | image | chunks | store | zstd -dc frames → /dev/null | pverescue extract -q | \
         ratio | one core (taskset -c 0) | pverescue peak RSS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|---|")?;
    for gib in sizes {
        bench_size(&bin, &work, gib, runs, &mut report)?;
    }
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

/// What was made for one size: the store, the frames file and the image's SHA-256.
pub(crate) struct Made {
    pub store: PathBuf,
    frames: PathBuf,
    pub sha256: String,
    chunks: usize,
}

fn bench_size(bin: &Path, work: &Path, gib: u64, runs: usize, report: &mut String) -> Result<()> {
    let made = make(work, gib)?;
    let snap = made.store.join(SNAPSHOT);
    let out = work.join("restore");
    let image = out.join("drive-scsi0.img");
    let extract = |pin: &str| -> Result<Timing> {
        let _ = fs::remove_dir_all(&out);
        time_shell_full(&format!(
            "{pin}'{}' extract -q '{}' '{}'",
            bin.display(),
            snap.display(),
            out.display()
        ))
    };
    // Once, unmeasured: the restore must give the image that was written.
    extract("")?;
    ensure!(
        sha256_of(&image)? == made.sha256,
        "the restored image differs from the one written into the store"
    );
    let mut rss = 0;
    let (mut zstd_cpu, mut ours_cpu) = (Vec::new(), Vec::new());
    let (zstd, ours) = paired(
        runs,
        || {
            let t = time_shell_full(&format!("zstd -dc '{}' > /dev/null", made.frames.display()))?;
            zstd_cpu.push(t.cpu);
            Ok(t.wall)
        },
        || {
            let t = extract("")?;
            rss = rss.max(t.rss_kib);
            ours_cpu.push(t.cpu);
            Ok(t.wall)
        },
    )?;
    let (mut one_wall, mut one_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let t = extract("taskset -c 0 ")?;
        one_wall.push(t.wall);
        one_cpu.push(t.cpu);
    }
    ensure!(
        sha256_of(&image)? == made.sha256,
        "the one-core restore differs from the image written into the store"
    );
    let _ = fs::remove_dir_all(&out);
    let (zstd_cpu, ours_cpu) = (middle(zstd_cpu), middle(ours_cpu));
    let (one_core, one_cpu) = (middle(one_wall), middle(one_cpu));
    writeln!(
        report,
        "| {gib} GiB | {} × 4 MiB | {} MB | {zstd:.2} s ({zstd_cpu:.2} s) | {ours:.2} s \
         ({ours_cpu:.2} s) | **{:.2}** | {one_core:.2} s ({one_cpu:.2} s) | {} MiB |",
        made.chunks,
        crate::fixtures::pbs::dir_size(&made.store)? / 1_000_000,
        ours / zstd,
        rss / 1024
    )?;
    eprintln!(
        "bench-pbs: {gib} GiB: zstd -dc {zstd:.2} s (cpu {zstd_cpu:.2}), pverescue {ours:.2} s \
         (cpu {ours_cpu:.2}, ratio {:.2}), one core {one_core:.2} s, peak RSS {} MiB",
        ours / zstd,
        rss / 1024
    );
    Ok(())
}

/// Writes the store and the frames file for `gib` GiB, once (a `made` file marks them done).
pub(crate) fn make(work: &Path, gib: u64) -> Result<Made> {
    let dir = work.join(format!("{gib}g"));
    let made = Made {
        store: dir.join("store"),
        frames: dir.join("chunks.zst"),
        sha256: String::new(),
        chunks: usize::try_from((gib * GIB).div_ceil(CHUNK as u64))?,
    };
    let marker = dir.join("made");
    if let Ok(sha) = fs::read_to_string(&marker) {
        return Ok(Made {
            sha256: sha.trim().to_owned(),
            ..made
        });
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    eprintln!("bench-pbs: writing a datastore with a {gib} GiB image (once)");
    let started = Instant::now();
    let mut w = pbswrite::Writer::new(&made.store, None);
    let snap = made.store.join(SNAPSHOT);
    fs::create_dir_all(&snap)?;
    fs::write(made.store.join("vm/900/owner"), "root@pam\n")?;
    let frames = BufWriter::with_capacity(1 << 20, File::create(&made.frames)?);
    let mut chunker = Chunker {
        w: &mut w,
        f: None,
        buf: Vec::with_capacity(CHUNK),
        frames,
        hash: Sha256::new(),
    };
    chunker.f = Some(chunker.w.fidx_stream(CHUNK));
    write_image(&mut chunker, gib * GIB, true)?;
    chunker.flush_chunk(true)?;
    let Chunker {
        f,
        mut frames,
        hash,
        ..
    } = chunker;
    frames.flush()?;
    let sha256 = crate::fixtures::hex(&hash.finalize());
    let f = f.context("index")?;
    let conf = w.blob(
        &snap,
        "qemu-server.conf.blob",
        b"name: bench\nscsi0: pbs:vm-900-disk-0,size=1G\n",
    );
    let disk = w.fidx_finish(f, &snap, "drive-scsi0.img.fidx");
    w.manifest(&snap, "vm", "900", TIME, &[conf, disk]);
    // The frames must decompress to the same image, or the baseline would measure something
    // else.
    let check = crate::output(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("zstd -dc '{}' | sha256sum", made.frames.display())),
    )?;
    ensure!(
        check.split_whitespace().next() == Some(sha256.as_str()),
        "zstd -dc of the frames file does not give the image ({check})"
    );
    fs::write(&marker, format!("{sha256}\n"))?;
    eprintln!(
        "bench-pbs: written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Made { sha256, ..made })
}

/// Cuts what is written into 4 MiB chunks, stores each as a zstd blob, and appends its
/// compressed payload (the blob after its 12-byte header, spec pbs.md §3) to the frames file.
struct Chunker<'a> {
    w: &'a mut pbswrite::Writer,
    f: Option<pbswrite::FidxStream>,
    buf: Vec<u8>,
    frames: BufWriter<File>,
    hash: Sha256,
}

impl Chunker<'_> {
    fn flush_chunk(&mut self, last: bool) -> std::io::Result<()> {
        let full = self.buf.len() >= CHUNK;
        let rest = last && !self.buf.is_empty();
        if !full && !rest {
            return Ok(());
        }
        self.hash.update(&self.buf);
        let f = self.f.as_mut().ok_or(std::io::ErrorKind::Other)?;
        let blob = self.w.fidx_push(f, &self.buf, pbswrite::Kind::Zstd);
        self.frames.write_all(&blob[12..])?;
        self.buf.clear();
        Ok(())
    }
}

impl Write for Chunker<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.flush_chunk(false)?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 throughput here (best of three passes over 256 MiB cut into 4 MiB chunks, as a
/// restore hashes them): the `sha2` crate one chunk after the other, and `sha256x2` two chunks
/// at once (what the restore uses); and whether the CPU offers SHA-NI.
fn sha_line(report: &mut String) -> Result<()> {
    let data = crate::fixtures::pseudo_random(256 << 20, 7);
    let chunks: Vec<&[u8]> = data.chunks(4 << 20).collect();
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let one = best(&|| {
        for c in &chunks {
            std::hint::black_box(Sha256::digest(std::hint::black_box(c)));
        }
    });
    let two = best(&|| {
        for p in chunks.chunks(2) {
            let (a, b) = (p[0], p.get(1).copied().unwrap_or_default());
            std::hint::black_box(sha256x2::digest_pair(&[a], &[b]));
        }
    });
    let flags = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let sha_ni = flags
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "sha_ni"));
    let t = Instant::now();
    std::hint::black_box(crc32fast::hash(std::hint::black_box(&data)));
    let crc = t.elapsed().as_secs_f64();
    let mb = |secs: f64| data.len() as f64 / secs / 1e6;
    writeln!(
        report,
        "SHA-256 on one core: sha2 0.10 {:.0} MB/s, sha256x2 (two chunks interleaved{}) {:.0} MB/s; \
         CPU SHA-NI: {}; CRC-32 (crc32fast): {:.0} MB/s",
        mb(one),
        if sha256x2::interleaved() {
            ""
        } else {
            ": not on this CPU, sha2 twice"
        },
        mb(two),
        if sha_ni { "yes" } else { "no" },
        mb(crc)
    )?;
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String> {
    let out = crate::output(std::process::Command::new("sha256sum").arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or("").to_owned())
}
