//! `cargo xtask dist`: the static, stripped, LTO-built `pverescue` and the rescue bundle.
//!
//! The binary is built with the `dist` profile (fat LTO, one codegen unit, stripped, abort on
//! panic) for `x86_64-unknown-linux-musl` when that target and a musl C compiler are installed,
//! otherwise for `x86_64-unknown-linux-gnu` with `+crt-static`. The explicit `--target` keeps
//! RUSTFLAGS away from build scripts and proc-macros. The result is checked with `file` and
//! `readelf` (no NEEDED entries, no program interpreter) and against the size goal, then written
//! to `target/dist/pverescue` and packed with its man pages, completions, a README and
//! `SHA256SUMS` into `target/dist/pverescue-<version>-x86_64-linux.tar.gz`.
//!
//! Every file in the bundle gets the same modification time (`SOURCE_DATE_EPOCH`, else the time
//! of the HEAD commit), owner 0:0 and a fixed mode, so the bundle is reproducible.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::{output, root, run_cmd, tools};

/// Size goal of the static binary.
pub const MAX_BINARY_BYTES: u64 = 8 * 1000 * 1000;

/// Shells whose completion scripts ship in the bundle (and in `completions/`).
pub const SHELLS: &[(&str, &str)] = &[
    ("bash", "pverescue.bash"),
    ("zsh", "_pverescue"),
    ("fish", "pverescue.fish"),
];

/// What `cargo xtask dist` produced.
pub struct Dist {
    /// `target/dist/pverescue`.
    pub binary: PathBuf,
    /// The package version, e.g. `0.1.0`.
    pub version: String,
    /// The rust target the binary was built for.
    pub triple: &'static str,
    /// `target/dist/pverescue-<version>-x86_64-linux.tar.gz`.
    pub bundle: PathBuf,
}

/// `target/dist` in the repository, whatever `CARGO_TARGET_DIR` says.
pub fn dist_dir() -> PathBuf {
    root().join("target/dist")
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask dist takes no options (got {a})");
    }
    let d = build()?;
    println!("{}", d.binary.display());
    println!("{}", d.bundle.display());
    Ok(())
}

/// Builds and checks the static binary, then writes it and the bundle under `target/dist`.
pub fn build() -> Result<Dist> {
    for (tool, pkg) in [("file", "file"), ("readelf", "binutils")] {
        ensure!(
            tools::have(tool),
            "`{tool}` is needed to check the static binary: apt-get install {pkg}"
        );
    }
    let triple = pick_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask dist: building pverescue for {triple} (static, LTO, stripped)");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args([
            "build",
            "-q",
            "--profile",
            "dist",
            "-p",
            "pverescue",
            "--target",
        ])
        .arg(triple)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    run_cmd(&mut cmd)?;
    let built = target_dir().join(triple).join("dist/pverescue");
    check_static(&built)?;

    let dir = dist_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let binary = dir.join("pverescue");
    // Replace rather than overwrite in place: the old file may be running (ETXTBSY).
    let tmp = dir.join(".pverescue.tmp");
    fs::copy(&built, &tmp).with_context(|| format!("cannot copy {}", built.display()))?;
    fs::rename(&tmp, &binary)?;

    let short = output(Command::new(&binary).arg("-V"))?;
    let version = short
        .split_whitespace()
        .nth(1)
        .context("`pverescue -V` printed no version")?
        .to_owned();
    let long = output(Command::new(&binary).arg("--version"))?;
    ensure!(
        long.contains("static"),
        "`pverescue --version` does not report a static build:\n{long}"
    );
    let bundle = write_bundle(&binary, &version, &dir)?;
    let size = fs::metadata(&binary)?.len();
    eprintln!(
        "xtask dist: {} ({size} bytes, {triple}), {} ({} bytes)",
        binary.display(),
        bundle.display(),
        fs::metadata(&bundle)?.len()
    );
    Ok(Dist {
        binary,
        version,
        triple,
        bundle,
    })
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from)
}

/// musl when its rust target and a musl C compiler are installed, else glibc `+crt-static`.
fn pick_target() -> &'static str {
    let musl = "x86_64-unknown-linux-musl";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == musl)
        })
        .unwrap_or(false);
    if installed && (tools::have("x86_64-linux-musl-gcc") || tools::have("musl-gcc")) {
        musl
    } else {
        if installed {
            eprintln!("xtask dist: {musl} is installed but musl-tools is not; using glibc");
        }
        "x86_64-unknown-linux-gnu"
    }
}

/// Fails unless `file` and `readelf` agree that `bin` is static, stripped and small enough.
pub fn check_static(bin: &Path) -> Result<()> {
    let file = output(Command::new("file").arg("-b").arg(bin))?;
    ensure!(
        file.contains("statically linked") || file.contains("static-pie linked"),
        "{} is not statically linked; file says: {}",
        bin.display(),
        file.trim()
    );
    ensure!(
        !file.contains("not stripped"),
        "{} is not stripped; file says: {}",
        bin.display(),
        file.trim()
    );
    let dynamic = output(Command::new("readelf").arg("-d").arg(bin))?;
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    ensure!(
        needed.is_empty(),
        "{} needs shared libraries:\n{}",
        bin.display(),
        needed.join("\n")
    );
    let headers = output(Command::new("readelf").arg("-lW").arg(bin))?;
    ensure!(
        !headers
            .lines()
            .any(|l| l.trim_start().starts_with("INTERP")),
        "{} asks for a program interpreter (dynamic loader)",
        bin.display()
    );
    let size = fs::metadata(bin)?.len();
    ensure!(
        size < MAX_BINARY_BYTES,
        "{} is {size} bytes, over the {MAX_BINARY_BYTES}-byte goal",
        bin.display()
    );
    Ok(())
}

/// `SOURCE_DATE_EPOCH`, else the commit time of HEAD, else 0.
pub fn source_date_epoch() -> u64 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return t;
    }
    output(
        Command::new("git")
            .current_dir(root())
            .args(["log", "-1", "--format=%ct"]),
    )
    .ok()
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(0)
}

/// The README inside the bundle.
const BUNDLE_README: &str = "\
pverescue {VERSION} for x86_64 Linux: a single static binary, no dependencies
===========================================================================

Restore Proxmox VE backups (vzdump-qemu-*.vma, .vma.zst, .vma.gz, .vma.lzo, ...) on any
x86_64 Linux machine, including a rescue USB system: no Proxmox, no shared libraries, no network.

  ./pverescue list     vzdump-qemu-100-....vma.zst
  ./pverescue verify   vzdump-qemu-100-....vma.zst
  ./pverescue extract  vzdump-qemu-100-....vma.zst /srv/restore
  ./pverescue --help   (every command has --help with examples)

Files:
  pverescue        the static binary (check it with: sha256sum -c SHA256SUMS)
  man/             man pages: man -l man/pverescue.1
  completions/     bash (pverescue.bash), zsh (_pverescue), fish (pverescue.fish)
  SHA256SUMS       sha256 of every file above

Exit codes: 0 success, 1 completed with warnings to read, 2 failure.
The restore cookbook (docs/cookbook.md in the source) has a recipe per situation.
";

/// Writes `pverescue-<version>-x86_64-linux.tar.gz` into `dir` and returns its path.
fn write_bundle(binary: &Path, version: &str, dir: &Path) -> Result<PathBuf> {
    let stem = format!("pverescue-{version}-x86_64-linux");
    let staging = dir.join(format!(".{stem}"));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let man = staging.join("man");
    run_cmd(Command::new(binary).arg("manpage").arg("-q").arg(&man))?;
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    files.push(("pverescue".into(), fs::read(binary)?, 0o755));
    files.push((
        "README".into(),
        BUNDLE_README.replace("{VERSION}", version).into_bytes(),
        0o644,
    ));
    let mut pages: Vec<_> = fs::read_dir(&man)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    pages.sort();
    for page in pages {
        files.push((format!("man/{page}"), fs::read(man.join(&page))?, 0o644));
    }
    for (shell, name) in SHELLS {
        let script = output(Command::new(binary).args(["completions", shell]))?;
        files.push((format!("completions/{name}"), script.into_bytes(), 0o644));
    }
    fs::remove_dir_all(&staging)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sums = String::new();
    for (name, data, _) in &files {
        sums.push_str(&format!("{}  {name}\n", hex(&Sha256::digest(data))));
    }
    files.push(("SHA256SUMS".into(), sums.into_bytes(), 0o644));

    let mtime = source_date_epoch();
    let mut tar = DetTar::new(mtime);
    tar.dir(&format!("{stem}/"))?;
    for sub in ["completions/", "man/"] {
        tar.dir(&format!("{stem}/{sub}"))?;
    }
    for (name, data, mode) in &files {
        tar.file(&format!("{stem}/{name}"), data, *mode)?;
    }
    let path = dir.join(format!("{stem}.tar.gz"));
    write_atomic(&path, &gzip(&tar.finish()?)?)?;
    Ok(path)
}

/// A tar archive with fixed owners, times and ordering (the caller's), for reproducible output.
pub struct DetTar {
    builder: tar::Builder<Vec<u8>>,
    mtime: u64,
}

impl DetTar {
    pub fn new(mtime: u64) -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            mtime,
        }
    }

    fn header(&self, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h
    }

    /// Adds a directory (`path` ends with `/`), mode 0755.
    pub fn dir(&mut self, path: &str) -> Result<()> {
        self.dir_mode(path, 0o755)
    }

    /// Adds a directory with the given mode (e.g. 0o1777 for `tmp/`).
    pub fn dir_mode(&mut self, path: &str, mode: u32) -> Result<()> {
        let mut h = self.header(tar::EntryType::Directory, 0, mode);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .with_context(|| format!("tar: cannot add {path}"))
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<()> {
        let mut h = self.header(tar::EntryType::Regular, data.len() as u64, mode);
        self.builder
            .append_data(&mut h, path, data)
            .with_context(|| format!("tar: cannot add {path}"))
    }

    /// The finished archive.
    pub fn finish(self) -> Result<Vec<u8>> {
        Ok(self.builder.into_inner()?)
    }
}

/// gzip with a zero timestamp and no file name, so equal input gives equal output.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `path` through a temporary name in the same directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .context("no file name")?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
}
