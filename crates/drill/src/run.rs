//! Executing a plan: one VM after the other, a failure never stopping the others.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Instant;

use vma::extract::{ExtractOptions, Outputs, Target};

use crate::cleanup;
use crate::plan::{Plan, VmPlan};
use crate::report::{
    CheckReport, DiskReport, Fallback, FsReport, MountState, PartitionReport, Report,
    SCHEMA_VERSION, VmReport,
};
use crate::{Error, Result};

/// How to run a drill.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where to restore (a directory `pverescue-drill-<pid>` is made inside and removed at the end).
    pub scratch: PathBuf,
    /// Verify only: stream every disk to nowhere (no restore, no mounts, no checks).
    pub no_write: bool,
    /// Do not mount, even as root (checks are then reported as skipped).
    pub no_mount: bool,
    /// Keep the restored images (mounts are always released).
    pub keep: bool,
    /// Paths that must exist in some mounted filesystem (`--check-file`).
    pub check_files: Vec<String>,
    /// Commands run with each mount point as argument (`--check-cmd`).
    pub check_cmds: Vec<String>,
}

/// Receives a line per VM as the drill goes; every method has a no-op default.
pub trait Progress {
    /// A VM is about to be drilled.
    fn vm_started(&mut self, _vm: &VmPlan) {}
    /// A VM is done.
    fn vm_finished(&mut self, _vm: &VmReport) {}
}

impl Progress for () {}

/// Runs every VM of `plan`; a failing VM is reported and the others go on.
///
/// Scratch files and mounts are released after each VM (restored images stay with
/// [`Options::keep`]); call [`crate::install_signal_cleanup`] first so that an interrupt releases
/// them too.
pub fn run(plan: &Plan, opts: &Options, progress: &mut dyn Progress) -> Result<Report> {
    let root = opts
        .scratch
        .join(format!("pverescue-drill-{}", std::process::id()));
    if !opts.no_write {
        std::fs::create_dir_all(&root).map_err(|source| Error::Io {
            op: "create scratch directory",
            path: root.clone(),
            source,
        })?;
        cleanup::register(&root);
    }
    let mut vms = Vec::new();
    for vm in &plan.vms {
        progress.vm_started(vm);
        let r = drill_vm(vm, opts, &root);
        cleanup::wait_if_stopping();
        progress.vm_finished(&r);
        vms.push(r);
    }
    if !opts.no_write {
        if opts.keep {
            cleanup::unregister(&root);
        } else {
            let removed = std::fs::remove_dir_all(&root);
            cleanup::unregister(&root);
            removed.map_err(|source| Error::Io {
                op: "remove scratch directory",
                path: root.clone(),
                source,
            })?;
        }
    }
    Ok(Report {
        schema: SCHEMA_VERSION,
        passed: vms.iter().all(|v| v.passed),
        wrote: !opts.no_write,
        vms,
    })
}

fn drill_vm(vm: &VmPlan, opts: &Options, root: &Path) -> VmReport {
    let started = Instant::now();
    let mut r = VmReport {
        vmid: vm.vmid.clone(),
        notes: vm.notes.clone(),
        ..VmReport::default()
    };
    let result = match (&vm.point, &vm.problem) {
        (Some(point), _) => {
            r.archives = point.archives();
            r.time = Some(point.time.clone());
            let dir = root.join(format!("vm-{}", sanitize(&vm.vmid)));
            let res = restore_and_check(point.file(), &dir, opts, &mut r);
            if !opts.keep {
                let _ = std::fs::remove_dir_all(&dir);
            }
            res
        }
        (None, Some(problem)) => Err(problem.clone()),
        (None, None) => Err("nothing to restore".into()),
    };
    match result {
        Ok(()) => r.passed = true,
        Err(reason) => {
            // The newest point is damaged: drill the next older one, so the report says what a
            // restore can fall back to (the VM still fails).
            let mut reason = reason;
            if let Some(older) = vm.older.first() {
                let mut scratch = VmReport::default();
                let dir = root.join(format!("vm-{}-older", sanitize(&vm.vmid)));
                let res = restore_and_check(older.file(), &dir, opts, &mut scratch);
                if !opts.keep {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                reason.push_str(&match &res {
                    Ok(()) => format!(
                        "; the next older point ({}) restores and passes",
                        older.time
                    ),
                    Err(why) => format!("; the next older point ({}) fails too: {why}", older.time),
                });
                r.fallback = Some(Fallback {
                    archives: older.archives(),
                    time: older.time.clone(),
                    passed: res.is_ok(),
                    reason: res.err(),
                });
            }
            r.reason = Some(reason);
        }
    }
    r.seconds = started.elapsed().as_secs_f64();
    r
}

fn restore_and_check(
    file: &Path,
    dir: &Path,
    opts: &Options,
    r: &mut VmReport,
) -> std::result::Result<(), String> {
    let mut archive = backupset::Archive::open(file, &backupset::OpenOptions::default())
        .map_err(|e| with_hint(&e.to_string(), e.hint()))?;
    let counter = archive.counter();
    if archive.content() == backupset::Content::Tar {
        let t0 = Instant::now();
        backupset::check_into(&mut archive, &mut std::io::sink(), &mut ())
            .map_err(|e| with_hint(&e.to_string(), e.hint()))?;
        r.restore_seconds = t0.elapsed().as_secs_f64();
        r.bytes_read = counter.load(Ordering::Relaxed);
        r.notes
            .push("container backup (tar): verified completely, not restored".into());
        r.notes.extend(archive.warnings());
        return Ok(());
    }
    let name = archive.name().to_owned();
    let t0 = Instant::now();
    let reader = vma::Reader::new(&mut archive).map_err(|e| {
        with_hint(
            &format!("{name}: cannot read the VMA header: {e}"),
            e.hint(),
        )
    })?;
    let devices = reader.header().devices.clone();
    let outputs = if opts.no_write {
        Outputs {
            dir: None,
            targets: devices
                .iter()
                .map(|d| (d.name.clone(), Target::Skip))
                .collect(),
            digest: false,
        }
    } else {
        Outputs {
            dir: Some(dir.join("restore")),
            targets: Vec::new(),
            digest: true,
        }
    };
    if !opts.no_write {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let report = vma::extract::extract(reader, &ExtractOptions::default(), outputs, &mut ())
        .map_err(|e| with_hint(&format!("{name}: restore failed: {e}"), e.hint()))?;
    r.restore_seconds = t0.elapsed().as_secs_f64();
    r.bytes_read = counter.load(Ordering::Relaxed);
    r.archive_bytes = report.summary.bytes_read;
    r.notes.extend(archive.warnings());
    let disks: Vec<&vma::Device> = devices.iter().filter(|d| !d.is_vmstate()).collect();
    r.disk_bytes = disks.iter().map(|d| d.size).sum();
    if r.restore_seconds > 0.0 {
        r.throughput = r.disk_bytes as f64 / r.restore_seconds;
        // Measured, not modelled: see docs/drill.md.
        r.rto_seconds = Some(r.restore_seconds);
    }
    if opts.no_write {
        for d in &disks {
            r.disks.push(DiskReport {
                name: d.name.clone(),
                size: d.size,
                ..DiskReport::default()
            });
        }
        return checks_without_mounts(opts, r, "--no-write: nothing was restored");
    }

    let mut failures = Vec::new();
    let mut mounts = Vec::new();
    let mount_skip = mount_skip_reason(opts);
    for w in report.disks.iter().filter(|w| !w.name.eq("vmstate")) {
        r.bytes_written += w.stored_bytes;
        let mut d = DiskReport {
            name: w.name.clone(),
            size: w.size,
            stored_bytes: w.stored_bytes,
            digest: w.digest.map(|g| g.to_string()),
            ..DiskReport::default()
        };
        match sink::verify::verify(w, None) {
            Ok(checked) => d.verified = checked.then_some(true),
            Err(e @ sink::Error::VerifyMismatch { .. }) => {
                d.verified = Some(false);
                failures.push(e.to_string());
            }
            Err(e) => failures.push(format!("{}: {e}", w.name)),
        }
        let scan = File::open(&w.path)
            .map_err(|e| e.to_string())
            .and_then(|mut f| partitions::scan(&mut f).map_err(|e| e.to_string()));
        match scan {
            Ok(scan) => {
                d.table = Some(
                    serde_json_name(&scan.table).unwrap_or_else(|| format!("{:?}", scan.table)),
                );
                d.partitions = scan
                    .partitions
                    .iter()
                    .map(|p| PartitionReport {
                        number: p.number,
                        start: p.start,
                        size: p.size,
                        type_name: p.type_name.clone(),
                    })
                    .collect();
                r.notes
                    .extend(scan.warnings.iter().map(|x| format!("{}: {x}", w.name)));
                for t in scan.mount_targets() {
                    let mut fs = FsReport {
                        id: t.id.clone(),
                        fstype: t.fstype.to_owned(),
                        offset: t.offset,
                        size: t.size,
                        label: t.label.clone(),
                        mount: MountState::Skipped,
                        detail: None,
                    };
                    if let Some(why) = &mount_skip {
                        fs.detail = Some(why.clone());
                    } else if let Err(e) = loopmount::check_fs_available(t.fstype) {
                        fs.detail = Some(e.to_string());
                    } else {
                        let mp = dir
                            .join("mnt")
                            .join(format!("{}-{}", w.name, sanitize(&t.id)));
                        let spec = loopmount::MountSpec::read_only(t.offset, t.size, t.fstype);
                        let m = std::fs::create_dir_all(&mp)
                            .map_err(|e| e.to_string())
                            .and_then(|()| {
                                loopmount::mount_image(&w.path, &spec, &mp)
                                    .map_err(|e| e.to_string())
                            });
                        match m {
                            Ok(m) => {
                                fs.mount = MountState::Mounted;
                                mounts.push((format!("{} {}", w.name, t.id), m));
                            }
                            Err(e) => {
                                fs.mount = MountState::Failed;
                                fs.detail = Some(e.clone());
                                failures.push(format!(
                                    "{} filesystem {} ({}) did not mount: {e}",
                                    w.name, t.id, t.fstype
                                ));
                            }
                        }
                    }
                    d.filesystems.push(fs);
                }
            }
            Err(e) => failures.push(format!("{}: partitions unreadable: {e}", w.name)),
        }
        r.disks.push(d);
    }

    if mounts.is_empty() {
        let why = mount_skip.unwrap_or_else(|| "no filesystem could be mounted".into());
        let _ = checks_without_mounts(opts, r, &why);
    } else {
        run_checks(opts, r, &mounts);
        // A check stopped by an interrupt must not be reported as failed: the signal thread
        // is releasing everything and ends the process.
        cleanup::wait_if_stopping();
    }
    for (what, m) in mounts {
        if let Err(e) = m.unmount() {
            failures.push(format!("{what}: unmount failed: {e}"));
        }
    }
    let failed_checks: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| format!("check {} {:?} failed: {}", c.kind, c.check, c.detail))
        .collect();
    failures.extend(failed_checks);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Records every check as skipped.
fn checks_without_mounts(
    opts: &Options,
    r: &mut VmReport,
    why: &str,
) -> std::result::Result<(), String> {
    for f in &opts.check_files {
        r.checks.push(CheckReport {
            kind: "file".into(),
            check: f.clone(),
            passed: None,
            detail: why.to_owned(),
        });
    }
    for c in &opts.check_cmds {
        r.checks.push(CheckReport {
            kind: "cmd".into(),
            check: c.clone(),
            passed: None,
            detail: why.to_owned(),
        });
    }
    Ok(())
}

fn run_checks(opts: &Options, r: &mut VmReport, mounts: &[(String, loopmount::Mount)]) {
    for f in &opts.check_files {
        let rel = f.trim_start_matches('/');
        let found: Vec<&str> = mounts
            .iter()
            .filter(|(_, m)| std::fs::symlink_metadata(m.mountpoint().join(rel)).is_ok())
            .map(|(what, _)| what.as_str())
            .collect();
        r.checks.push(CheckReport {
            kind: "file".into(),
            check: f.clone(),
            passed: Some(!found.is_empty()),
            detail: if found.is_empty() {
                format!("not found in any of {} mounted filesystems", mounts.len())
            } else {
                format!("found in {}", found.join(", "))
            },
        });
    }
    for c in &opts.check_cmds {
        for (what, m) in mounts {
            if cleanup::stopping() {
                return;
            }
            // The command gets the mount point as its last argument, as a shell would pass "$1".
            // It leads its own process group, so that an interrupt can stop it with everything
            // it started (cleanup::stop_children) before the mounts are released.
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("{c} \"$1\""))
                .arg("sh")
                .arg(m.mountpoint())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .and_then(|child| {
                    let pid = child.id();
                    cleanup::register_child(pid);
                    let out = child.wait_with_output();
                    cleanup::unregister_child(pid);
                    out
                });
            let (passed, detail) = match out {
                Ok(o) => (o.status.success(), format!("{what}: {}", o.status)),
                Err(e) => (false, format!("{what}: cannot run sh: {e}")),
            };
            r.checks.push(CheckReport {
                kind: "cmd".into(),
                check: c.clone(),
                passed: Some(passed),
                detail,
            });
        }
    }
}

/// Why mounting is off, if it is.
fn mount_skip_reason(opts: &Options) -> Option<String> {
    if opts.no_mount {
        return Some("--no-mount".into());
    }
    // /proc/self belongs to the effective user of this process.
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Some("not root: mounting needs root (CAP_SYS_ADMIN)".into());
    }
    None
}

fn serde_json_name(t: &partitions::TableKind) -> Option<String> {
    Some(
        match t {
            partitions::TableKind::Gpt => "gpt",
            partitions::TableKind::Mbr => "mbr",
            partitions::TableKind::None => "none",
            _ => return None,
        }
        .into(),
    )
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn with_hint(msg: &str, hint: Option<String>) -> String {
    match hint {
        Some(h) => format!("{msg} (hint: {h})"),
        None => msg.to_owned(),
    }
}
