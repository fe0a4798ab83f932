//! `cargo xtask e2e`: end-to-end tests of the shipped artifacts, run by `cargo xtask test` after
//! `cargo test`.
//!
//! 1. `cargo xtask dist` and `cargo xtask image` (the static binary is checked by `file` and
//!    `readelf` while it is built); the image is written twice and must be byte-identical.
//! 2. The static binary in an empty chroot: only `/pverescue`, the fixtures in `/backups` and an
//!    empty `/restore`. No `/dev`, `/proc`, `/etc`, libraries or time zone files.
//! 3. The image in a container: Docker when a daemon answers or `dockerd` can be started (ours
//!    is stopped by its PID afterwards), otherwise `runc` on a bundle unpacked from the image.
//!    The same steps as in the chroot, plus a loop mount inside the container with
//!    `--cap-add SYS_ADMIN --device /dev/loop-control --device /dev/loopN`, seen from the host
//!    through a shared bind mount; and `docker build -f container/Containerfile` must give the
//!    same files as our image.
//!
//! Every restored disk is compared with the sha256 recorded by the real tools (the
//! `extract.files` lists and `testdata/real/README.md`), never with our own output. Every step
//! always runs: none is chosen by what the binary says it supports. Nothing is left
//! behind: containers run with `--rm`, mounts and loop devices are released by guards.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::dist::{self, hex};
use crate::{image, output, root, run_cmd, tools};

/// Where the chroot, the restores and our dockerd live (`target/e2e`).
fn work_dir() -> PathBuf {
    root().join("target/e2e")
}

/// The real Proxmox archives and what the real `vma extract` wrote from them.
const REAL: &[(&str, &str)] = &[
    (
        "real/vzdump-qemu-101-2026_11_20-21_00_03.vma.zst",
        "testdata/real/expected/vzdump-qemu-101-2026_11_20-21_00_03/extract.files",
    ),
    (
        "real/vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo",
        "testdata/real/expected/vzdump-qemu-105-2026_11_20-21_10_17/extract.files",
    ),
];
/// `list` output the real `vma list` printed (CTIME in UTC).
const LIST: (&str, &str) = (
    "real/vzdump-qemu-101-2026_11_20-21_00_03.vma.zst",
    "testdata/real/expected/vzdump-qemu-101-2026_11_20-21_00_03/list.stdout",
);
/// Our fixture (two disks, two configs), restored as `r2`.
const GPT_FIXTURE: (&str, &str) = (
    "vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.zst",
    "testdata/vma/expected.files",
);
/// The real differential and its full (found beside it by name).
const DIFF: &str =
    "real/vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst";
const DIFF_FULL: &str = "real/vzdump-qemu-100-2020_05_01-01_00_02.vma.zst";
/// The disk that applying the differential and extracting gives, from `testdata/real/README.md`
/// (checked below to still say so): the Proxmox-patched xdelta3 made it.
const DIFF_DISK: (&str, &str, u64) = (
    "disk-drive-scsi0.raw",
    "48f1eed4c01dbc000321d585a351ae33994124ca62981aee822b2e1544999acb",
    50_331_648,
);
/// The restored disk of the real archive 101 (`r0`): GPT, partition 1 holding ext4. Files read
/// through the mount are compared with what e2fsprogs' `debugfs` reads from the image.
const GPT_DISK: &str = "r0/disk-drive-scsi0.raw";
const KNOWN_FILES: &[&str] = &["/etc/hostname", "/srv/blobs/rand00.bin"];

/// Runs the end-to-end tests; `Ok(Some(reason))` when this machine cannot run them.
pub fn run(args: &[String]) -> Result<Option<String>> {
    let mut runtime = std::env::var("PVERESCUE_E2E_RUNTIME").ok();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runtime" => {
                runtime = Some(it.next().context("--runtime needs docker or runc")?.clone())
            }
            other => bail!("unknown e2e option {other} (use --runtime docker|runc)"),
        }
    }
    if let Some(reason) = cannot_run() {
        println!("xtask e2e: SKIPPED (end-to-end artifact tests): {reason}");
        return Ok(Some(reason));
    }
    tools::ensure_e2e()?;
    let start = Instant::now();
    let mut report = Report::default();
    let d = report.time(
        "dist: static binary built and checked (file, readelf, size)",
        dist::build,
    )?;
    let bin_size = fs::metadata(&d.binary)?.len();
    let img = report.time("image: OCI layout and docker archive written", || {
        image::write(&d.binary, &d.version, &dist::dist_dir())
    })?;
    report.time("image: a second build is byte-identical", || {
        reproducible(&d)
    })?;
    report.note(format!(
        "sizes: binary {bin_size} bytes ({}), bundle {} bytes, image archive {} bytes",
        d.triple,
        fs::metadata(&d.bundle)?.len(),
        fs::metadata(&img.archive)?.len()
    ));
    ensure!(
        fs::metadata(&img.archive)?.len() < 10 * 1000 * 1000,
        "the image archive is over the 10 MB goal"
    );

    let work = work_dir();
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
    }
    fs::create_dir_all(&work)?;

    // The static binary in an empty chroot.
    let chroot = work.join("chroot");
    fs::create_dir_all(chroot.join("restore"))?;
    fs::copy(&d.binary, chroot.join("pverescue"))?;
    stage_fixtures(&chroot.join("backups"))?;
    let mut runner = Chroot {
        dir: chroot.clone(),
    };
    report.time(&format!("chroot: {COMMON_STEPS}"), || {
        run_common(&mut runner, &chroot.join("restore"))
    })?;

    // The image in a container.
    let backups = work.join("backups");
    stage_fixtures(&backups)?;
    let restore = work.join("restore");
    fs::create_dir_all(&restore)?;
    let mut container = report.time("container runtime ready", || {
        Container::start(runtime.as_deref(), &work, &img, &backups, &restore)
    })?;
    report.note(format!("container runtime: {}", container.describe()));
    let result = (|| -> Result<()> {
        report.time(&format!("container: {COMMON_STEPS}"), || {
            run_common(&mut container, &restore)
        })?;
        report.time(
            "container: loop mount of partition 1 (real GPT disk), files match debugfs, umount",
            || mount_in_container(&mut container, &work, &restore),
        )?;
        if let Container::Docker(docker) = &container {
            report.time(
                "docker build -f container/Containerfile gives the same files",
                || docker.check_containerfile(&img),
            )?;
        }
        Ok(())
    })();
    let stopped = container.stop();
    result?;
    stopped?;
    fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    report.note(format!("total: {:.1} s", start.elapsed().as_secs_f64()));
    report.print();
    Ok(None)
}

/// Why the end-to-end tests cannot run here, if they cannot.
fn cannot_run() -> Option<String> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Some("the artifacts are x86_64 Linux binaries; this is not x86_64 Linux".into());
    }
    if !tools::is_root() {
        return Some(
            "not root: chroot, container runtimes and loop devices need root (run \
             `cargo xtask e2e` as root)"
                .into(),
        );
    }
    None
}

/// Timings and notes, printed at the end.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn time<T>(&mut self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("xtask e2e: {what} ...");
        let t = Instant::now();
        let r = f().with_context(|| format!("e2e step failed: {what}"));
        let line = format!(
            "{} {what} ({:.1} s)",
            if r.is_ok() { "ok  " } else { "FAIL" },
            t.elapsed().as_secs_f64()
        );
        eprintln!("xtask e2e: {line}");
        self.lines.push(line);
        r
    }

    fn note(&mut self, line: String) {
        eprintln!("xtask e2e: {line}");
        self.lines.push(line);
    }

    fn print(&self) {
        println!("\nend-to-end artifact tests:");
        for l in &self.lines {
            println!("  {l}");
        }
        let passed = self.lines.iter().filter(|l| l.starts_with("ok")).count();
        println!("e2e: {passed} passed, 0 failed");
    }
}

/// The image written a second time into a scratch directory must match byte for byte.
fn reproducible(d: &dist::Dist) -> Result<()> {
    let again = root().join("target/e2e-repro");
    if again.exists() {
        fs::remove_dir_all(&again)?;
    }
    fs::create_dir_all(&again)?;
    image::write(&d.binary, &d.version, &again)?;
    let first = dist::dist_dir();
    let mut compared = 0;
    for rel in list_files(&again)? {
        let a = fs::read(first.join(&rel)).with_context(|| format!("first build lacks {rel}"))?;
        let b = fs::read(again.join(&rel))?;
        ensure!(a == b, "{rel} differs between two image builds");
        compared += 1;
    }
    ensure!(compared >= 5, "only {compared} files compared");
    fs::remove_dir_all(&again)?;
    Ok(())
}

/// Relative paths of the regular files under `dir`, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(base, &p, out)?;
            } else {
                out.push(p.strip_prefix(base)?.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Puts the fixture archives under `dest/real` and `dest/vma` (hard links when possible).
fn stage_fixtures(dest: &Path) -> Result<()> {
    let mut names: Vec<&str> = REAL.iter().map(|r| r.0).collect();
    names.extend([LIST.0, GPT_FIXTURE.0, DIFF, DIFF_FULL]);
    for rel in names {
        let src = root().join("testdata").join(rel);
        let dst = dest.join(rel);
        if dst.exists() {
            continue;
        }
        fs::create_dir_all(dst.parent().context("no parent")?)?;
        if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

/// Output of one run of the binary or the image.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self, what: &str) -> Result<Self> {
        ensure!(
            self.code == 0,
            "{what}: exit code {}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }
}

fn out_of(cmd: &mut Command) -> Result<Out> {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// Extra privileges a run needs for a loop mount.
struct MountOpts {
    /// Host directory that is a shared mount, seen as `/mnt` inside.
    shared: PathBuf,
    /// Free loop devices to pass, e.g. `/dev/loop3`.
    loops: Vec<PathBuf>,
}

/// Runs `pverescue ARGS` somewhere with the fixtures at `/backups` (read-only) and `/restore`.
trait Runner {
    fn run(&mut self, args: &[&str], mount: Option<&MountOpts>) -> Result<Out>;
}

/// The static binary in a directory holding nothing else but the fixtures.
struct Chroot {
    dir: PathBuf,
}

impl Runner for Chroot {
    fn run(&mut self, args: &[&str], mount: Option<&MountOpts>) -> Result<Out> {
        ensure!(mount.is_none(), "no mounts in the chroot test");
        out_of(
            Command::new("chroot")
                .arg(&self.dir)
                .arg("/pverescue")
                .args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("TZ", "UTC"),
        )
    }
}

/// What [`run_common`] covers, for the report.
const COMMON_STEPS: &str =
    "list, extract (real zstd and lzop archives, our fixture), differential restore, partitions";

/// list, extract of real archives and of our fixture, differential, partitions: every step runs,
/// whatever the binary's help says (a command that regresses fails here instead of being skipped).
fn run_common(r: &mut dyn Runner, restore_host: &Path) -> Result<()> {
    let list = r
        .run(&["list", &format!("/backups/{}", LIST.0)], None)?
        .ok("list")?;
    let want = fs::read_to_string(root().join(LIST.1))?;
    ensure!(
        list.stdout == want,
        "list output differs from the real vma's\nours:\n{}\nvma:\n{want}",
        list.stdout
    );
    for (i, (archive, expected)) in REAL.iter().chain([&GPT_FIXTURE]).enumerate() {
        let dir = format!("r{i}");
        r.run(
            &[
                "extract",
                "-q",
                &format!("/backups/{archive}"),
                &format!("/restore/{dir}"),
            ],
            None,
        )?
        .ok(&format!("extract {archive}"))?;
        compare_with_provenance(
            &restore_host.join(&dir),
            &expected_files(&root().join(expected))?,
        )
        .with_context(|| format!("restore of {archive}"))?;
    }
    // A differential with its full beside it.
    let readme = fs::read_to_string(root().join("testdata/real/README.md"))?;
    ensure!(
        readme.contains(DIFF_DISK.1),
        "testdata/real/README.md no longer records {}",
        DIFF_DISK.1
    );
    r.run(
        &[
            "extract",
            "-q",
            &format!("/backups/{DIFF}"),
            "/restore/diff",
        ],
        None,
    )?
    .ok("extract of a differential with its full beside it")?;
    let disk = restore_host.join("diff").join(DIFF_DISK.0);
    let (sha, size) = sha256_file(&disk)?;
    ensure!(
        sha == DIFF_DISK.1 && size == DIFF_DISK.2,
        "differential restore: {} is {sha} ({size} bytes), the README says {} ({} bytes)",
        disk.display(),
        DIFF_DISK.1,
        DIFF_DISK.2
    );
    let o = r
        .run(
            &["partitions", "--json", &format!("/restore/{GPT_DISK}")],
            None,
        )?
        .ok("partitions")?;
    check_partitions(&o.stdout, &restore_host.join(GPT_DISK))?;
    Ok(())
}

/// `pverescue partitions --json` must show partition 1 where util-linux `partx` sees it, holding
/// ext4.
fn check_partitions(json: &str, image: &Path) -> Result<()> {
    let (start, size) = partx_first(image)?;
    let v: serde_json::Value = serde_json::from_str(json)
        .with_context(|| format!("partitions --json printed:\n{json}"))?;
    let p = &v["partitions"][0];
    ensure!(
        p["number"] == 1 && p["start"] == start && p["size"] == size && p["fs"]["kind"] == "ext4",
        "partitions --json disagrees with partx (partition 1 at {start}, {size} bytes, ext4):\n{json}"
    );
    Ok(())
}

/// Byte offset and size of partition 1, as util-linux `partx` reads the table.
fn partx_first(image: &Path) -> Result<(u64, u64)> {
    let o = output(
        Command::new("partx")
            .args(["-g", "-b", "-o", "START,SIZE", "-n", "1"])
            .arg(image),
    )?;
    let f: Vec<u64> = o
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [start_sector, size] = f[..] else {
        bail!("partx printed {o:?}");
    };
    Ok((start_sector * 512, size))
}

/// Parses an `extract.files` list: `<sha256>  <name>  size=<n>` per line.
fn expected_files(path: &Path) -> Result<BTreeMap<String, (String, u64)>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [sha, name, size] = f[..] else {
            bail!("{}: bad line {line:?}", path.display());
        };
        let size = size
            .strip_prefix("size=")
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("{}: bad size in {line:?}", path.display()))?;
        out.insert(name.to_owned(), (sha.to_owned(), size));
    }
    Ok(out)
}

/// The directory must hold exactly the expected files with the expected sha256 and sizes.
fn compare_with_provenance(dir: &Path, want: &BTreeMap<String, (String, u64)>) -> Result<()> {
    let got = list_files(dir)?;
    let names: Vec<&String> = want.keys().collect();
    ensure!(
        got.iter().collect::<Vec<_>>() == names,
        "{} holds {got:?}, expected {names:?}",
        dir.display()
    );
    for (name, (sha, size)) in want {
        let (s, n) = sha256_file(&dir.join(name))?;
        ensure!(
            &s == sha && n == *size,
            "{name}: sha256 {s} ({n} bytes), expected {sha} ({size} bytes)"
        );
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

/// Mounts partition 1 of a real archive's disk inside the container onto a shared bind mount,
/// reads known files from the host and compares them with e2fsprogs' reading of the image,
/// unmounts inside the container, and checks that no mount and no loop device is left.
fn mount_in_container(r: &mut dyn Runner, work: &Path, restore_host: &Path) -> Result<()> {
    let image = restore_host.join(GPT_DISK);
    ensure!(image.is_file(), "{} was not restored", image.display());
    let guard = SharedMount::new(&work.join("shared"), &image)?;
    let loops = free_loop_devices()?;
    ensure!(!loops.is_empty(), "no free loop device on the host");
    let opts = MountOpts {
        shared: guard.dir.clone(),
        loops,
    };
    fs::create_dir_all(guard.dir.join("m"))?;
    r.run(
        &[
            "mount",
            &format!("/restore/{GPT_DISK}"),
            "/mnt/m",
            "-p",
            "1",
        ],
        Some(&opts),
    )?
    .ok("mount inside the container")?;
    let (start, _) = partx_first(&image)?;
    for file in KNOWN_FILES {
        let seen = fs::read(guard.dir.join("m").join(file.trim_start_matches('/')))
            .with_context(|| format!("{file} is not visible on the host through the mount"))?;
        let oracle = Command::new("debugfs")
            .args(["-R", &format!("cat {file}")])
            .arg(format!("{}?offset={start}", image.display()))
            .stderr(Stdio::null())
            .output()
            .context("cannot run debugfs")?
            .stdout;
        ensure!(
            !seen.is_empty() && seen == oracle,
            "{file} read through the container's mount ({} bytes) differs from debugfs ({} bytes)",
            seen.len(),
            oracle.len()
        );
    }
    r.run(&["umount", "/mnt/m"], Some(&opts))?
        .ok("umount inside the container")?;
    ensure!(
        !is_mountpoint(&guard.dir.join("m"))?,
        "the mount is still there after `pverescue umount`"
    );
    let left = loops_backed_by(&image)?;
    ensure!(
        left.is_empty(),
        "loop devices left attached after umount: {left:?}"
    );
    guard.release()
}

/// A host directory bind-mounted onto itself and made shared, so that mounts made inside a
/// container (`bind-propagation=rshared`) show on the host. Drop unmounts whatever is left and
/// detaches loop devices backed by `image`.
struct SharedMount {
    dir: PathBuf,
    image: PathBuf,
    active: bool,
}

impl SharedMount {
    fn new(dir: &Path, image: &Path) -> Result<Self> {
        fs::create_dir_all(dir)?;
        run_cmd(Command::new("mount").arg("--bind").arg(dir).arg(dir))?;
        let g = Self {
            dir: dir.to_path_buf(),
            image: image.to_path_buf(),
            active: true,
        };
        run_cmd(Command::new("mount").arg("--make-shared").arg(dir))?;
        Ok(g)
    }

    fn cleanup(&mut self) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let inner = self.dir.join("m");
        if is_mountpoint(&inner).unwrap_or(false) {
            let _ = Command::new("umount").arg(&inner).status();
            if is_mountpoint(&inner).unwrap_or(false) {
                let _ = Command::new("umount").arg("-l").arg(&inner).status();
            }
        }
        for dev in loops_backed_by(&self.image).unwrap_or_default() {
            let _ = Command::new("losetup").arg("-d").arg(&dev).status();
        }
        run_cmd(Command::new("umount").arg(&self.dir))
    }

    fn release(mut self) -> Result<()> {
        self.cleanup()
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            eprintln!("xtask e2e: cleanup of {}: {e:#}", self.dir.display());
        }
    }
}

/// True when `path` is a mount point (per /proc/self/mountinfo).
fn is_mountpoint(path: &Path) -> Result<bool> {
    let p = path.canonicalize()?;
    let p = p.to_string_lossy();
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info.lines().any(|l| l.split(' ').nth(4) == Some(&*p)))
}

/// `/dev/loopN` nodes with nothing attached.
fn free_loop_devices() -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir("/sys/block")? {
        let name = e?.file_name().to_string_lossy().into_owned();
        let Some(n) = name
            .strip_prefix("loop")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let busy = Path::new("/sys/block")
            .join(&name)
            .join("loop/backing_file")
            .exists();
        let node = PathBuf::from(format!("/dev/loop{n}"));
        if !busy && node.exists() {
            out.push(node);
        }
    }
    out.sort();
    Ok(out)
}

/// Loop devices whose backing file is `image`.
fn loops_backed_by(image: &Path) -> Result<Vec<PathBuf>> {
    let want = image.canonicalize()?;
    let mut out = Vec::new();
    for e in fs::read_dir("/sys/block")? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let backing = Path::new("/sys/block")
            .join(&name)
            .join("loop/backing_file");
        if let Ok(b) = fs::read_to_string(&backing)
            && Path::new(b.trim()) == want
        {
            out.push(PathBuf::from(format!("/dev/{name}")));
        }
    }
    Ok(out)
}

/// `major:minor` of a device node, from sysfs.
fn dev_numbers(node: &Path) -> Result<(u32, u32)> {
    let name = node
        .file_name()
        .context("no device name")?
        .to_string_lossy();
    let sys = if name == "loop-control" {
        PathBuf::from("/sys/class/misc/loop-control/dev")
    } else {
        Path::new("/sys/block").join(&*name).join("dev")
    };
    let s = fs::read_to_string(&sys).with_context(|| format!("cannot read {}", sys.display()))?;
    let (a, b) = s.trim().split_once(':').context("bad dev file")?;
    Ok((a.parse()?, b.parse()?))
}

/// The container runtime that runs the image.
enum Container {
    Docker(Docker),
    Runc(Runc),
}

impl Container {
    fn start(
        want: Option<&str>,
        work: &Path,
        img: &image::Image,
        backups: &Path,
        restore: &Path,
    ) -> Result<Self> {
        if want != Some("runc") {
            match Docker::start(work, img, backups, restore) {
                Ok(d) => return Ok(Self::Docker(d)),
                Err(e) if want == Some("docker") => return Err(e),
                Err(e) => eprintln!("xtask e2e: Docker unavailable, using runc instead: {e:#}"),
            }
        }
        Ok(Self::Runc(Runc::new(work, img, backups, restore)?))
    }

    fn describe(&self) -> String {
        match self {
            Self::Docker(d) => d.describe.clone(),
            Self::Runc(r) => r.describe.clone(),
        }
    }

    fn stop(&mut self) -> Result<()> {
        match self {
            Self::Docker(d) => d.stop(),
            Self::Runc(_) => Ok(()),
        }
    }
}

impl Runner for Container {
    fn run(&mut self, args: &[&str], mount: Option<&MountOpts>) -> Result<Out> {
        match self {
            Self::Docker(d) => d.run(args, mount),
            Self::Runc(r) => r.run(args, mount),
        }
    }
}

/// A Docker daemon: one that was already running, or our own `dockerd` child.
struct Docker {
    host: Option<String>,
    daemon: Option<Child>,
    dir: PathBuf,
    image: String,
    backups: PathBuf,
    restore: PathBuf,
    describe: String,
}

impl Docker {
    fn start(work: &Path, img: &image::Image, backups: &Path, restore: &Path) -> Result<Self> {
        ensure!(
            tools::have("docker"),
            "no docker CLI (apt-get install docker.io)"
        );
        // Sockets need short paths (108 bytes), so our daemon lives under /tmp.
        let dir =
            std::env::temp_dir().join(format!("pverescue-e2e-dockerd-{}", std::process::id()));
        let mut d = Self {
            host: None,
            daemon: None,
            dir: dir.clone(),
            image: img.tags[0].clone(),
            backups: backups.to_path_buf(),
            restore: restore.to_path_buf(),
            describe: String::new(),
        };
        let existing = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success());
        if let Some(o) = existing {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            d.describe = format!("docker (daemon {v} that was already running)");
        } else {
            ensure!(
                tools::have("dockerd"),
                "no dockerd (apt-get install docker.io)"
            );
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            fs::create_dir_all(&dir)?;
            let sock = dir.join("docker.sock");
            let log = fs::File::create(work.join("dockerd.log"))?;
            let child = Command::new("dockerd")
                .arg("--data-root")
                .arg(dir.join("data"))
                .arg("--exec-root")
                .arg(dir.join("exec"))
                .arg("--pidfile")
                .arg(dir.join("docker.pid"))
                .arg("--host")
                .arg(format!("unix://{}", sock.display()))
                .args(["--iptables=false", "--bridge=none"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("cannot start dockerd")?;
            let pid = child.id();
            d.daemon = Some(child);
            d.host = Some(format!("unix://{}", sock.display()));
            let t = Instant::now();
            let version = loop {
                if let Some(st) = d.daemon.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    d.daemon = None;
                    let log = fs::read_to_string(work.join("dockerd.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(8).collect();
                    let _ = d.stop();
                    bail!(
                        "dockerd exited with {st}: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                if let Ok(o) = d
                    .docker()
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .output()
                    && o.status.success()
                {
                    break String::from_utf8_lossy(&o.stdout).trim().to_owned();
                }
                if t.elapsed() > Duration::from_secs(90) {
                    let _ = d.stop();
                    bail!("dockerd did not answer within 90 s (log: target/e2e/dockerd.log)");
                }
                std::thread::sleep(Duration::from_millis(500));
            };
            d.describe = format!(
                "docker (our own dockerd {version}, PID {pid}, up in {:.1} s)",
                t.elapsed().as_secs_f64()
            );
        }
        let loaded = output(d.docker().arg("load").arg("-i").arg(&img.archive));
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                let _ = d.stop();
                return Err(e.context("docker load of target/dist/pverescue-image.tar"));
            }
        };
        if !loaded.contains(&d.image) {
            let _ = d.stop();
            bail!("docker load did not load {}: {loaded}", d.image);
        }
        // Docker recomputed the layer digest while loading; it must be the one we wrote.
        let layers = output(d.docker().args([
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            &d.image,
        ]));
        match layers {
            Ok(l) if l.contains(&img.diff_id) => Ok(d),
            other => {
                let _ = d.stop();
                bail!(
                    "docker's layer digests {other:?} do not include ours ({})",
                    img.diff_id
                )
            }
        }
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        if let Some(h) = &self.host {
            c.arg("--host").arg(h);
        }
        c.stdin(Stdio::null());
        c
    }

    fn run(&mut self, args: &[&str], mount: Option<&MountOpts>) -> Result<Out> {
        let mut c = self.docker();
        c.args(["run", "--rm", "--network", "none"])
            .arg("-v")
            .arg(format!("{}:/backups:ro", self.backups.display()))
            .arg("-v")
            .arg(format!("{}:/restore", self.restore.display()));
        if let Some(m) = mount {
            c.args(["--cap-add", "SYS_ADMIN", "--device", "/dev/loop-control"]);
            for l in &m.loops {
                c.arg("--device").arg(l);
            }
            c.arg("--mount").arg(format!(
                "type=bind,source={},target=/mnt,bind-propagation=rshared",
                m.shared.display()
            ));
        }
        c.arg(&self.image).args(args);
        out_of(&mut c)
    }

    /// `docker build -f container/Containerfile target/dist` must give the files of our image.
    fn check_containerfile(&self, img: &image::Image) -> Result<()> {
        let tag = "pverescue-containerfile:e2e";
        run_cmd(
            self.docker()
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "-t", tag, "-f"])
                .arg(root().join("container/Containerfile"))
                .arg(dist::dist_dir())
                .stdout(Stdio::null()),
        )?;
        let id = output(self.docker().args(["create", tag]))?
            .trim()
            .to_owned();
        let export = self.dir.join("containerfile-export.tar");
        let exported = run_cmd(self.docker().args(["export", "-o"]).arg(&export).arg(&id));
        let _ = output(self.docker().args(["rm", &id]));
        exported?;
        let ours = tar_listing(&fs::read(&img.rootfs)?)?;
        let theirs = tar_listing(&fs::read(&export)?)?;
        let _ = fs::remove_file(&export);
        // Docker adds the mount points it manages; only compare what our image defines.
        let theirs: BTreeMap<_, _> = theirs
            .into_iter()
            .filter(|(p, _)| {
                !matches!(
                    p.as_str(),
                    ".dockerenv"
                        | "dev/"
                        | "proc/"
                        | "sys/"
                        | "etc/hostname"
                        | "etc/hosts"
                        | "etc/resolv.conf"
                        | "etc/mtab"
                        | "dev/console"
                        | "dev/pts/"
                        | "dev/shm/"
                )
            })
            .collect();
        ensure!(
            ours == theirs,
            "docker build of container/Containerfile differs from our image:\nours:   {ours:?}\ndocker: {theirs:?}"
        );
        let ep = output(self.docker().args(["image", "inspect", "--format", "{{json .Config.Entrypoint}} {{index .Config.Labels \"org.opencontainers.image.version\"}}", tag]))?;
        let _ = output(self.docker().args(["rmi", tag]));
        ensure!(
            ep.contains("[\"/pverescue\"]")
                && ep.contains(img.tags[0].trim_start_matches("pverescue:")),
            "Containerfile image: entrypoint/version label {ep:?}"
        );
        Ok(())
    }

    /// Removes our images; stops our dockerd (by PID) and removes its directory.
    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.daemon.take() else {
            if self.host.is_none() {
                // Someone else's daemon: remove only what we loaded.
                let _ = output(self.docker().args(["rmi", "pverescue:latest", &self.image]));
            }
            return Ok(());
        };
        let pid = child.id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let t = Instant::now();
        while child.try_wait()?.is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Overlay mounts under our data root must be gone before removing it.
        let info = fs::read_to_string("/proc/self/mountinfo")?;
        let prefix = self.dir.to_string_lossy().into_owned();
        for mp in info.lines().filter_map(|l| l.split(' ').nth(4)) {
            if mp.starts_with(&prefix) {
                let _ = Command::new("umount").arg("-l").arg(mp).status();
            }
        }
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        self.host = None;
        Ok(())
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if self.daemon.is_some()
            && let Err(e) = self.stop()
        {
            eprintln!("xtask e2e: stopping dockerd: {e:#}");
        }
    }
}

/// Paths and modes in a tar, for comparing filesystems: path → (mode, sha256 of content).
fn tar_listing(data: &[u8]) -> Result<BTreeMap<String, (u32, String)>> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(data);
    for e in ar.entries()? {
        let mut e = e?;
        let path = e
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if path.is_empty() {
            continue;
        }
        let mode = e.header().mode()? & 0o7777;
        let mut buf = Vec::new();
        e.read_to_end(&mut buf)?;
        out.insert(path, (mode, hex(&Sha256::digest(&buf))));
    }
    Ok(out)
}

/// runc on a bundle unpacked from our image layer.
struct Runc {
    bundle: PathBuf,
    state: PathBuf,
    base: serde_json::Value,
    backups: PathBuf,
    restore: PathBuf,
    n: u32,
    describe: String,
}

impl Runc {
    fn new(work: &Path, img: &image::Image, backups: &Path, restore: &Path) -> Result<Self> {
        ensure!(
            tools::have("runc"),
            "neither Docker nor runc is available (apt-get install runc)"
        );
        let bundle = work.join("bundle");
        let rootfs = bundle.join("rootfs");
        fs::create_dir_all(&rootfs)?;
        let mut ar = tar::Archive::new(fs::File::open(&img.rootfs)?);
        ar.set_preserve_permissions(true);
        ar.unpack(&rootfs)
            .context("cannot unpack the image layer")?;
        run_cmd(Command::new("runc").arg("spec").current_dir(&bundle))?;
        let base: serde_json::Value =
            serde_json::from_slice(&fs::read(bundle.join("config.json"))?)?;
        let version = output(Command::new("runc").arg("--version"))?;
        Ok(Self {
            bundle,
            state: work.join("runc-state"),
            base,
            backups: backups.to_path_buf(),
            restore: restore.to_path_buf(),
            n: 0,
            describe: format!(
                "runc ({}) on a bundle unpacked from target/dist/pverescue-rootfs.tar",
                version.lines().next().unwrap_or("?")
            ),
        })
    }

    fn run(&mut self, args: &[&str], mount: Option<&MountOpts>) -> Result<Out> {
        use serde_json::json;
        let mut cfg = self.base.clone();
        let mut argv = vec!["/pverescue".to_owned()];
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        cfg["process"]["args"] = json!(argv);
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["env"] = json!(["PATH=/", "TZ=UTC"]);
        let mounts = cfg["mounts"]
            .as_array_mut()
            .context("runc spec has no mounts")?;
        mounts.push(json!({"destination": "/backups", "type": "bind",
            "source": self.backups, "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/restore", "type": "bind",
            "source": self.restore, "options": ["rbind", "rw"]}));
        if let Some(m) = mount {
            mounts.push(json!({"destination": "/mnt", "type": "bind",
                "source": m.shared, "options": ["rbind", "rshared"]}));
            for set in ["bounding", "effective", "permitted"] {
                if let Some(caps) = cfg["process"]["capabilities"][set].as_array_mut() {
                    caps.push(json!("CAP_SYS_ADMIN"));
                }
            }
            let mut devices = Vec::new();
            let mut allow = Vec::new();
            let ctl = PathBuf::from("/dev/loop-control");
            for (node, kind) in std::iter::once((&ctl, "c")).chain(m.loops.iter().map(|l| (l, "b")))
            {
                let (major, minor) = dev_numbers(node)?;
                devices.push(
                    json!({"path": node, "type": kind, "major": major, "minor": minor,
                    "fileMode": 0o660, "uid": 0, "gid": 0}),
                );
                allow.push(
                    json!({"allow": true, "type": kind, "major": major, "minor": minor,
                    "access": "rwm"}),
                );
            }
            cfg["linux"]["devices"] = json!(devices);
            // runc makes the whole tree rslave by default, which cuts /mnt off from the host's
            // peer group; keep it shared so the mount shows on the host.
            cfg["linux"]["rootfsPropagation"] = json!("shared");
            if let Some(rules) = cfg["linux"]["resources"]["devices"].as_array_mut() {
                rules.extend(allow);
            }
        }
        fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&cfg)?,
        )?;
        self.n += 1;
        let id = format!("pverescue-e2e-{}-{}", std::process::id(), self.n);
        let out = out_of(
            Command::new("runc")
                .arg("--root")
                .arg(&self.state)
                .args(["run", "--bundle"])
                .arg(&self.bundle)
                .arg(&id),
        );
        // `runc run` removes the container when its process exits; make sure on errors too.
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "--force", &id])
            .stderr(Stdio::null())
            .status();
        out
    }
}
