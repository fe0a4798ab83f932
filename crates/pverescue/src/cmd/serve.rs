//! `pverescue serve`: the disks of a backup over NBD until Ctrl-C (see the `serve` crate).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, ServeArgs};
use crate::output;

/// Default TCP address (qemu-nbd's port, loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10809";

#[derive(Serialize)]
struct ExportLine {
    name: String,
    size: u64,
    source: String,
    uri: String,
    overlay: Option<PathBuf>,
    qemu: String,
    qemu_img: String,
    nbdcopy: String,
}

#[derive(Serialize)]
struct Started {
    address: String,
    read_only: bool,
    exports: Vec<ExportLine>,
}

/// Shell quoting for the printed command lines.
fn sh(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:=,@+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

struct Report;

impl serve::Events for Report {
    fn io_error(&self, export: &str, offset: u64, len: u32, error: &std::io::Error) {
        eprintln!(
            "pverescue: {}: a client's request of {len} bytes at offset {offset} failed: {}",
            output::name(export),
            output::text(&error.to_string())
        );
    }
}

/// `pverescue serve SOURCE`.
pub fn run(g: &Global, a: &ServeArgs) -> Result<Outcome> {
    let opened = crate::disks::open_all(
        g,
        &a.source,
        &crate::disks::Pick {
            names: &a.select,
            one: None,
            from: &a.from,
        },
    )?;
    let disks = opened.disks;
    cleanup::install().context("cannot install the signal handler")?;
    let listen = match (&a.socket, &a.listen) {
        (Some(p), _) => serve::Listen::Unix(p.clone()),
        (None, Some(l)) if l.chars().all(|c| c.is_ascii_digit()) => {
            serve::Listen::Tcp(format!("127.0.0.1:{l}"))
        }
        (None, Some(l)) => serve::Listen::Tcp(l.clone()),
        (None, None) => serve::Listen::Tcp(DEFAULT_LISTEN.into()),
    };
    let several = disks.len() > 1;
    let mut exports = Vec::new();
    let mut lines = Vec::new();
    for d in disks {
        let base: Arc<dyn serve::Backend> = Arc::new(serve::ReadOnly(d.view));
        let overlay = a.overlay.as_ref().map(|p| {
            if several {
                let mut s = p.clone().into_os_string();
                s.push(format!(".{}", d.name));
                PathBuf::from(s)
            } else {
                p.clone()
            }
        });
        let backend: Arc<dyn serve::Backend> = match &overlay {
            Some(p) => Arc::new(serve::Overlay::open(p, base, &d.identity)?),
            None => base,
        };
        lines.push((
            d.name.clone(),
            backend.size(),
            d.description.clone(),
            overlay,
        ));
        exports.push(serve::Export {
            name: d.name,
            description: d.description,
            backend,
        });
    }
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let server = serve::Server::bind(&listen, exports, threads)?;
    let address = server.address();
    let uri = |name: &str| match &listen {
        serve::Listen::Unix(p) => format!("nbd+unix:///{name}?socket={}", p.display()),
        serve::Listen::Tcp(_) => format!("nbd://{address}/{name}"),
    };
    let read_only = a.overlay.is_none();
    let started = Started {
        address: address.clone(),
        read_only,
        exports: lines
            .into_iter()
            .map(|(name, size, source, overlay)| {
                let u = uri(&name);
                let snapshot = if read_only { ",snapshot=on" } else { "" };
                ExportLine {
                    qemu: format!(
                        "qemu-system-x86_64 -enable-kvm -m 2048 -drive {}",
                        sh(&format!("file={u},format=raw,if=virtio{snapshot}"))
                    ),
                    qemu_img: format!(
                        "qemu-img convert -p -O qcow2 {} {}",
                        sh(&u),
                        sh(&format!("{name}.qcow2"))
                    ),
                    nbdcopy: format!(
                        "nbdcopy --progress {} {}",
                        sh(&u),
                        sh(&format!("{name}.raw"))
                    ),
                    uri: u,
                    name,
                    size,
                    source,
                    overlay,
                }
            })
            .collect(),
    };
    if g.json {
        output::print_json(&started)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Serving {} disk{} on {} ({}); Ctrl-C stops.",
            started.exports.len(),
            if started.exports.len() == 1 { "" } else { "s" },
            output::text(&address),
            if read_only {
                "read-only; qemu's snapshot=on keeps the guest's writes in memory"
            } else {
                "writes go to the overlay, never to the backup"
            }
        )?;
        for e in &started.exports {
            writeln!(
                out,
                "\n{}  {}  {}",
                output::name(&e.name),
                output::size(e.size),
                output::text(&e.source)
            )?;
            if let Some(o) = &e.overlay {
                writeln!(out, "  overlay: {}", output::text(&o.display().to_string()))?;
            }
            writeln!(out, "  boot:  {}", e.qemu)?;
            writeln!(out, "  copy:  {}", e.qemu_img)?;
            writeln!(out, "  copy:  {}", e.nbdcopy)?;
        }
        out.flush()?;
    }
    if let serve::Listen::Tcp(addr) = &listen
        && !addr.starts_with("127.")
        && !addr.starts_with("[::1]")
        && !addr.starts_with("localhost")
    {
        eprintln!(
            "pverescue: warning: {} is reachable from the network, and NBD has no \
                 authentication: anyone who can connect can read these disks",
            output::text(addr)
        );
    }
    let quiet = g.quiet;
    server.run(
        Arc::new(Report),
        Arc::new(move |e: &serve::Error| {
            // A client that leaves mid-handshake (nbdinfo --list does) is no news.
            if !quiet && matches!(e, serve::Error::Protocol { .. }) {
                eprintln!(
                    "pverescue: a client was disconnected: {}",
                    output::text(&e.to_string())
                );
            }
        }),
    )?;
    Ok(Outcome::Success)
}

/// `pverescue fuse SOURCE MOUNTPOINT`.
pub fn fuse(g: &Global, a: &crate::cli::FuseArgs) -> Result<Outcome> {
    let opened = crate::disks::open_all(
        g,
        &a.source,
        &crate::disks::Pick {
            names: &a.select,
            one: None,
            from: &a.from,
        },
    )?;
    let mp = std::fs::canonicalize(&a.mountpoint)
        .with_context(|| format!("{}: cannot find the mount point", a.mountpoint.display()))?;
    if !mp.is_dir() {
        bail!("{}: not a directory", mp.display());
    }
    let mut files = Vec::new();
    let mut names = Vec::new();
    for d in opened.disks {
        let name = format!("{}.raw", d.name);
        names.push((name.clone(), d.view.size()));
        files.push((
            name,
            serve::fuse::Content::Disk(Arc::new(serve::ReadOnly(d.view))),
        ));
    }
    for (name, bytes) in opened.configs {
        names.push((name.clone(), bytes.len() as u64));
        files.push((name, serve::fuse::Content::Bytes(Arc::new(bytes))));
    }
    let time = opened
        .time
        .and_then(|t| u64::try_from(t).ok())
        .map_or(std::time::SystemTime::UNIX_EPOCH, |t| {
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t)
        });
    cleanup::install().context("cannot install the signal handler")?;
    // Ctrl-C or SIGTERM: unmount (lazily, in case a reader still holds a file) before exiting.
    let on_signal = mp.clone();
    cleanup::on_signal(cleanup::Stage::Mounts, move |_| {
        let _ = serve::fuse::detach(&on_signal);
    });
    let fsname = format!(
        "{}{}",
        crate::cmd::umount::FUSE_SOURCE_PREFIX,
        a.source.display()
    );
    let session = serve::fuse::mount(serve::fuse::Files::new(files, time), &mp, &fsname)
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(1 | 13) => "FUSE needs root (or CAP_SYS_ADMIN) here",
                Some(2 | 19) => "the kernel has no FUSE (/dev/fuse is missing): modprobe fuse, or use `pverescue serve`",
                _ => "is MOUNTPOINT an empty directory that nothing is mounted on?",
            };
            anyhow::anyhow!("{}: cannot mount: {e} ({hint})", mp.display())
        })?;
    if g.json {
        #[derive(Serialize)]
        struct Mounted<'a> {
            mountpoint: &'a std::path::Path,
            files: Vec<serde_json::Value>,
        }
        output::print_json(&Mounted {
            mountpoint: &mp,
            files: names
                .iter()
                .map(|(n, s)| serde_json::json!({"name": n, "size": s}))
                .collect(),
        })?;
    } else if !g.quiet {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}: read-only; `pverescue umount {}` or Ctrl-C ends it",
            mp.display(),
            mp.display()
        )?;
        for (n, s) in &names {
            writeln!(out, "  {}  {}", output::name(n), output::size(*s))?;
        }
        out.flush()?;
    }
    // Returns when the filesystem is unmounted from outside.
    let ended = session.join();
    // Ended by Ctrl-C/SIGTERM: the signal thread exits with 130/143 once it is done.
    cleanup::wait_if_interrupted();
    ended.with_context(|| format!("{}: the FUSE session failed", mp.display()))?;
    Ok(Outcome::Success)
}
