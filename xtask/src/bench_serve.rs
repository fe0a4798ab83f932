//! `cargo xtask bench-serve`: instant access over NBD against `qemu-nbd`, in one run.
//!
//! One image of the bench mix (¼ pseudo-random, ½ system binaries, ¼ zeros), as a sparse raw
//! file and as the PBS snapshot `cargo xtask bench-pbs` writes (4 MiB zstd chunks, made once by
//! `pbswrite`). Each case starts its server, lets `nbdcopy URI null:` read the whole export
//! (libnbd's defaults: several connections, many requests in flight, holes skipped by block
//! status), and stops the server again, so every PBS run starts cold and decodes and checks
//! (CRC-32, zstd, SHA-256) every chunk the first time it is read. Cases run in turn (A B C A B
//! C …), so machine drift hits them alike:
//!
//! - `qemu-nbd --read-only` serving the raw file (the reference);
//! - `pverescue serve` of the raw file;
//! - `pverescue serve` of the PBS snapshot;
//! - peak RSS of the pverescue server (`VmHWM` before it is stopped).
//!
//! Before timing, one copy of each pverescue export is written to a file and compared with
//! the image's SHA-256, so no side can be fast by being wrong.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::bench::{make_image, middle, time_shell_full};
use crate::{output, root};

const GIB: u64 = 1 << 30;

struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(mut cmd: Command, socket: &Path) -> Result<Server> {
        let _ = fs::remove_file(socket);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            ensure!(Instant::now() < deadline, "the server made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Server {
            child,
            socket: socket.to_path_buf(),
        })
    }

    fn uri(&self, export: &str) -> String {
        format!("nbd+unix:///{export}?socket={}", self.socket.display())
    }

    /// Peak RSS (KiB) so far.
    fn peak_kib(&self) -> u64 {
        fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let (sizes, runs) = crate::bench::size_args("bench-serve", args, &[1])?;
    let bin = crate::bench::prepare()?;
    for tool in ["nbdcopy", "qemu-nbd"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("{tool} is missing: apt-get install libnbd-bin qemu-utils");
        }
    }
    let work = root().join("target/bench-serve");
    fs::create_dir_all(&work)?;
    let mut report = crate::bench::report_header(&bin)?;
    writeln!(report, "qemu-nbd: {}", first_line("qemu-nbd")?)?;
    writeln!(report, "nbdcopy: {}", first_line("nbdcopy")?)?;
    writeln!(
        report,
        "\nWall seconds of `nbdcopy URI null:`, medians of {runs}; every server started cold.\n\n\
         | image | qemu-nbd raw | pverescue raw | ratio | pverescue PBS (every chunk checked) | ratio | pverescue peak RSS raw / PBS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|")?;
    for gib in sizes {
        bench_size(&bin, &work, gib, runs, &mut report)?;
    }
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

fn first_line(tool: &str) -> Result<String> {
    Ok(output(Command::new(tool).arg("--version"))?
        .lines()
        .next()
        .unwrap_or("")
        .to_owned())
}

fn bench_size(bin: &Path, work: &Path, gib: u64, runs: usize, report: &mut String) -> Result<()> {
    let made = crate::bench_pbs::make(&root().join("target/bench-pbs"), gib)?;
    let snapshot = made.store.join(crate::bench_pbs::SNAPSHOT);
    let raw = work.join(format!("{gib}g.raw"));
    if !raw.exists() {
        eprintln!("bench-serve: writing a {gib} GiB raw image (once)");
        make_image(&raw, gib * GIB)?;
    }
    let sha = |p: &Path| -> Result<String> {
        Ok(output(Command::new("sha256sum").arg(p))?
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned())
    };
    ensure!(
        sha(&raw)? == made.sha256,
        "the raw image and the PBS snapshot differ"
    );
    let sock = work.join("nbd.sock");
    let qemu = || {
        let mut c = Command::new("qemu-nbd");
        c.args([
            "--read-only",
            "--persistent",
            "--shared=16",
            "-f",
            "raw",
            "-k",
        ])
        .arg(&sock)
        .arg(&raw);
        c
    };
    let ours = |source: &Path| {
        let mut c = Command::new(bin);
        c.arg("serve").arg(source).arg("--socket").arg(&sock);
        c
    };
    // Once: what each pverescue export serves is the image.
    for (source, export) in [(&raw, format!("{gib}g")), (&snapshot, "drive-scsi0".into())] {
        let s = Server::start(ours(source), &sock)?;
        let out = work.join("check.raw");
        let _ = fs::remove_file(&out);
        let st = Command::new("nbdcopy")
            .arg(s.uri(&export))
            .arg(&out)
            .status()?;
        s.stop();
        ensure!(st.success(), "nbdcopy of {export} failed");
        ensure!(sha(&out)? == made.sha256, "{export} served other bytes");
        fs::remove_file(&out)?;
    }
    let copy = |cmd: Command, export: &str| -> Result<(f64, u64)> {
        let s = Server::start(cmd, &sock)?;
        let t = time_shell_full(&format!("nbdcopy '{}' null:", s.uri(export)))?;
        let peak = s.peak_kib();
        s.stop();
        Ok((t.wall, peak))
    };
    let (mut q, mut r, mut p) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rss_raw, mut rss_pbs) = (0, 0);
    for _ in 0..runs.max(1) {
        q.push(copy(qemu(), "")?.0);
        let (t, m) = copy(ours(&raw), &format!("{gib}g"))?;
        r.push(t);
        rss_raw = rss_raw.max(m);
        let (t, m) = copy(ours(&snapshot), "drive-scsi0")?;
        p.push(t);
        rss_pbs = rss_pbs.max(m);
    }
    let (q, r, p) = (middle(q), middle(r), middle(p));
    writeln!(
        report,
        "| {gib} GiB | {q:.2} s | {r:.2} s | **{:.2}** | {p:.2} s | **{:.2}** | {} / {} MiB |",
        r / q,
        p / q,
        rss_raw / 1024,
        rss_pbs / 1024
    )?;
    Ok(())
}
