//! The real tools the tests and fixtures use, and how to install them on Debian/Ubuntu.

use std::process::Command;

use anyhow::{Result, bail};

use crate::run_cmd;

/// (command that must be on PATH, Debian package providing it).
pub const TOOLS: &[(&str, &str)] = &[
    ("zstd", "zstd"),
    ("gzip", "gzip"),
    ("pigz", "pigz"),
    ("lzop", "lzop"),
    ("bzip2", "bzip2"),
    ("xz", "xz-utils"),
    ("xdelta3", "xdelta3"),
    ("rdiff", "rdiff"),
    ("tar", "tar"),
    ("cmp", "diffutils"),
    ("sgdisk", "gdisk"),
    ("sfdisk", "fdisk"),
    ("parted", "parted"),
    ("partx", "util-linux"),
    ("losetup", "mount"),
    ("mkfs.ext4", "e2fsprogs"),
    ("mkfs.xfs", "xfsprogs"),
    ("mkfs.btrfs", "btrfs-progs"),
    ("mkfs.vfat", "dosfstools"),
    ("mkntfs", "ntfs-3g"),
    ("debugfs", "e2fsprogs"),
    ("mcopy", "mtools"),
    ("setfattr", "attr"),
    ("pvcreate", "lvm2"),
    ("mksquashfs", "squashfs-tools"),
    ("xorriso", "xorriso"),
    ("cryptsetup", "cryptsetup-bin"),
    ("file", "file"),
    ("sha256sum", "coreutils"),
    ("nbdinfo", "libnbd-bin"),
    ("nbdcopy", "libnbd-bin"),
    ("qemu-img", "qemu-utils"),
    ("qemu-io", "qemu-utils"),
    ("qemu-nbd", "qemu-utils"),
    ("getfacl", "acl"),
    ("getfattr", "attr"),
    // The real virtnbdbackup restorer (Debian 1.9.15) and what it runs: the oracle of the
    // virtnbd tests, and the qcow2 checker.
    ("virtnbdrestore", "virtnbdbackup"),
];

/// What the end-to-end tests of the artifacts (`xtask/src/e2e.rs`) need besides [`TOOLS`]:
/// installed only when root, because those tests skip otherwise.
pub const E2E_TOOLS: &[(&str, &str)] = &[
    ("dockerd", "docker.io"),
    ("runc", "runc"),
    ("readelf", "binutils"),
    ("file", "file"),
    ("chroot", "coreutils"),
];

/// Installs the [`E2E_TOOLS`] that are missing (root only; the caller checks).
pub fn ensure_e2e() -> Result<()> {
    let mut missing: Vec<&str> = E2E_TOOLS
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// `apt-get update` and `apt-get install` of `packages`, non-interactively.
fn apt_install(packages: &[&str]) -> Result<()> {
    eprintln!("xtask: installing {}", packages.join(" "));
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    run_cmd(Command::new("apt-get").arg("update").arg("-qq").envs(env))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .envs(env),
    )
}

/// Python modules used as independent oracles, with their PyPI names.
pub const PYTHON: &[(&str, &str)] = &[
    ("dissect.archive", "dissect.archive"),
    // The independent PBS reader/writer of crates/pbs/tests/oracle (AES-256-GCM).
    ("cryptography", "cryptography"),
];

/// True when running as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when `name` is an executable on PATH (or in the sbin directories).
pub fn have(name: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| std::path::Path::new(dir).join(name).is_file())
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| have(p))
}

fn have_module(py: &str, module: &str) -> bool {
    Command::new(py)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs every missing tool and Python module, or says exactly what to install.
pub fn ensure_all() -> Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    let py = python();
    if py.is_none() {
        missing.push("python3");
        missing.push("python3-pip");
    }
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "missing test tools; install them with:\n  sudo apt-get update && sudo apt-get \
                 install -y {}",
                missing.join(" ")
            );
        }
        apt_install(&missing)?;
    }
    let Some(py) = python() else {
        bail!("python3 is still missing after installing it")
    };
    for (module, package) in PYTHON {
        if !have_module(py, module) {
            eprintln!("xtask: installing Python module {package}");
            let pip = Command::new(py)
                .args(["-m", "pip", "install", "-q", package])
                .status()
                .is_ok_and(|s| s.success());
            // Debian's system Python refuses plain pip installs (PEP 668).
            if !pip {
                run_cmd(Command::new(py).args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--break-system-packages",
                    package,
                ]))?;
            }
        }
    }
    Ok(())
}
