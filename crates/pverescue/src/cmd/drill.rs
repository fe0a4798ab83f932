//! `pverescue drill`: prove that the newest backup of every VM restores, mounts and passes checks.

use std::io::Write as _;

use anyhow::{Context, Result};

use crate::Outcome;
use crate::cli::{DrillArgs, Global};
use crate::output;

/// Prints one line per VM on stderr as the drill goes.
struct Lines {
    quiet: bool,
}

impl drill::Progress for Lines {
    fn vm_started(&mut self, vm: &drill::VmPlan) {
        if let (false, Some(p)) = (self.quiet, &vm.point) {
            eprintln!(
                "drill: VM {} from {}",
                vm.vmid,
                output::text(&p.file().display().to_string())
            );
        }
    }
}

/// Says on stderr what an interrupt cleaned up, before the process exits with 128 + signal.
fn report_interrupt(done: &drill::Interrupted) {
    let name = match done.signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    };
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut did = vec![
        format!(
            "stopped {}",
            plural(done.checks_stopped, "check command", "check commands")
        ),
        format!(
            "released {}",
            plural(done.mounts_released, "mount", "mounts")
        ),
    ];
    for d in &done.removed {
        did.push(format!("removed {}", d.display()));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "pverescue: drill interrupted by {name}: {}",
        output::text(&did.join(", "))
    );
    for (d, e) in &done.not_removed {
        let _ = writeln!(
            stderr,
            "pverescue: could not remove {}: {e}",
            output::text(&d.display().to_string())
        );
    }
}

/// Runs `pverescue drill`.
pub fn run(g: &Global, a: &DrillArgs) -> Result<Outcome> {
    drill::install_signal_cleanup(report_interrupt).context("cannot install the signal handler")?;
    // A directory without backups (an unmounted share, a wrong path) is a failure, not a drill
    // of nothing that passes.
    for dir in a.paths.iter().filter(|p| p.is_dir()) {
        let survey = backupset::survey(dir)
            .with_context(|| format!("{}: cannot scan the directory", dir.display()))?;
        if survey.members.is_empty() {
            anyhow::bail!("{}", super::verify::no_backups(dir, &survey.skipped));
        }
    }
    let plan = drill::plan(&a.paths)?;
    let opts = drill::Options {
        scratch: a.scratch.clone().unwrap_or_else(std::env::temp_dir),
        no_write: a.no_write,
        no_mount: a.no_mount,
        keep: a.keep,
        check_files: a.check_files.clone(),
        check_cmds: a.check_cmds.clone(),
    };
    let report = drill::run(
        &plan,
        &opts,
        &mut Lines {
            quiet: g.quiet || g.json,
        },
    )?;
    if let Some(path) = &a.report {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        print_table(&report)?;
    }
    Ok(if report.passed {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn print_table(report: &drill::Report) -> std::io::Result<()> {
    output::outln!(
        "{:<6} {:<4} {:>10} {:>10} {:>8} {:>10} {:>9}  archives",
        "VMID",
        "OK",
        "disks",
        "written",
        "seconds",
        "MiB/s",
        "restore s"
    )?;
    for vm in &report.vms {
        let archives: Vec<String> = vm
            .archives
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        output::outln!(
            "{:<6} {:<4} {:>10} {:>10} {:>8.2} {:>10.1} {:>9}  {}",
            vm.vmid,
            if vm.passed { "PASS" } else { "FAIL" },
            output::size(vm.disk_bytes),
            output::size(vm.bytes_written),
            vm.seconds,
            vm.throughput / (1024.0 * 1024.0),
            vm.rto_seconds
                .map_or_else(|| "-".into(), |s| format!("{s:.2}")),
            output::text(&archives.join(" + "))
        )?;
        for d in &vm.disks {
            let verified = match d.verified {
                Some(true) => "re-read ok",
                Some(false) => "RE-READ DIFFERS",
                None => "not written",
            };
            output::outln!(
                "       disk {} {} ({}), table {}",
                output::name(&d.name),
                output::size(d.size),
                verified,
                d.table.as_deref().unwrap_or("-")
            )?;
            for f in &d.filesystems {
                let state = match f.mount {
                    drill::MountState::Mounted => "mounted",
                    drill::MountState::Skipped => "skipped",
                    drill::MountState::Failed => "FAILED",
                };
                let detail = f
                    .detail
                    .as_deref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default();
                output::outln!(
                    "         fs {} {} {state}{}",
                    f.id,
                    f.fstype,
                    output::text(&detail)
                )?;
            }
        }
        for c in &vm.checks {
            let state = match c.passed {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "skipped",
            };
            output::outln!(
                "       check {} {:?} {state}: {}",
                c.kind,
                c.check,
                output::text(&c.detail)
            )?;
        }
        for n in &vm.notes {
            output::outln!("       note: {}", output::text(n))?;
        }
        if let Some(r) = &vm.reason {
            output::outln!("       reason: {}", output::text(r))?;
        }
    }
    let failed = report.vms.iter().filter(|v| !v.passed).count();
    output::outln!(
        "{} VM{}: {} passed, {failed} failed",
        report.vms.len(),
        if report.vms.len() == 1 { "" } else { "s" },
        report.vms.len() - failed
    )?;
    Ok(())
}
