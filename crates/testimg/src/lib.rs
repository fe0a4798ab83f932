//! Test-only helpers shared by the integration tests of `partitions`, `loopmount` and
//! `pverescue`: disk images built by the real tools, and those tools' own reports about them.
//!
//! Expected values in tests come from the tools, never from our code: [`sfdisk_json`] for
//! partition offsets, [`blkid`] for filesystem identity, [`Lvm::report`] (`pvs`/`lvs`) for
//! logical volume extents, [`losetup_info`] and [`findmnt`] for what the kernel did. Images are
//! made with [`sparse`] files, partitioned by `sgdisk`/`sfdisk` ([`run_stdin`]), and filled with
//! filesystems made by `mkfs.*` in separate files and copied in with [`write_at`], because the
//! kernels we test on scan no partition tables. [`GptImage`] is a ready-made GPT image with ext4,
//! btrfs and (optionally) XFS partitions holding [`HELLO`]. LVM2 metadata is written through loop
//! devices ([`Loop`]) with a private configuration ([`Lvm`]), without device-mapper.
//!
//! Helpers panic with the tool's stderr (and the Debian package to install when a tool is
//! missing): they are for tests only. Tests that need root call [`privileged`] first; every
//! skip goes through [`skip`] (or [`skip_unsupported`]), which prints it and records it in a file
//! that `cargo xtask test` counts, and which fails instead under `PVERESCUE_REQUIRE_PRIVILEGED=1`.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let img = testimg::sparse(dir.path(), "x.img", 1 << 20);
//! assert_eq!(std::fs::metadata(&img).unwrap().len(), 1 << 20);
//! assert_eq!(testimg::package_of("sgdisk"), "gdisk");
//! ```

#![deny(missing_docs)]

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// The Debian package that ships `tool`, for the "missing tool" message.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        "sgdisk" => "gdisk",
        "sfdisk" | "partx" | "blkid" | "mkswap" => "fdisk / util-linux",
        "losetup" | "findmnt" => "mount / util-linux",
        t if t.starts_with("mkfs.ext") || t == "mke2fs" => "e2fsprogs",
        "mkfs.xfs" => "xfsprogs",
        "mkfs.btrfs" => "btrfs-progs",
        "mkfs.vfat" => "dosfstools",
        "mkntfs" | "ntfs-3g" => "ntfs-3g",
        "mksquashfs" => "squashfs-tools",
        "xorriso" => "xorriso",
        "cryptsetup" => "cryptsetup-bin",
        "virtnbdrestore" => "virtnbdbackup",
        "qemu-img" | "qemu-nbd" => "qemu-utils",
        "pvcreate" | "vgcreate" | "lvcreate" | "lvextend" | "pvs" | "lvs" | "vgs" => "lvm2",
        _ => "(unknown package)",
    }
}

/// Runs `tool` with `args` (and extra environment), panicking with its stderr on failure and
/// naming the Debian package when the tool is missing.
pub fn run_env(tool: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(tool)
        .args(args)
        .envs(env.iter().copied())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!(
                "test tool `{tool}` is missing: apt-get install {}",
                package_of(tool)
            )
        }
        Err(e) => panic!("cannot run {tool}: {e}"),
    };
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `tool` with `args`.
pub fn run(tool: &str, args: &[&str]) -> String {
    run_env(tool, args, &[])
}

/// Bytes of the image at `path` that `qemu-img map` reports as allocated data (zero runs of a
/// qcow2 image that were left unallocated do not count).
pub fn qemu_img_data_bytes(path: &Path) -> u64 {
    let text = run(
        "qemu-img",
        &["map", "--output=json", path.to_str().expect("utf-8 path")],
    );
    // One object per line: {"start": …, "length": N, …, "data": true|false, …}.
    text.split('}')
        .filter(|o| o.contains("\"data\": true") || o.contains("\"data\":true"))
        .filter_map(|o| {
            let rest = &o[o.find("\"length\"")? + 8..];
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

/// Formats the file at `path` as LUKS2 with the passphrase `secret` and a cheap key derivation
/// (tests stay fast), adding `extra` cryptsetup arguments such as `--label` or `--uuid`. Needs no
/// device-mapper.
pub fn luks_format(path: &str, extra: &[&str]) {
    let mut args = vec![
        "luksFormat",
        "-q",
        "--type",
        "luks2",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        "-",
    ];
    args.extend_from_slice(extra);
    args.push(path);
    run_stdin("cryptsetup", &args, "secret");
}

/// `sh -c SCRIPT` with `args` as `$1`, `$2`…, for pipelines of real tools (`xdelta3 … | zstd`);
/// panics with the script when it fails.
pub fn sh(script: &str, args: &[&Path]) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("sh");
    assert!(st.success(), "{script} failed with {st}");
}

/// Runs `tool` with `stdin` as its input.
pub fn run_stdin(tool: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("test tool `{tool}` ({}): {e}", package_of(tool)));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates a sparse file of `size` bytes.
pub fn sparse(dir: &Path, name: &str, size: u64) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).expect("create image");
    f.set_len(size).expect("size image");
    p
}

/// Copies the whole of `src` into `img` at byte `offset`.
pub fn write_at(img: &Path, offset: u64, src: &Path) {
    let data = std::fs::read(src).expect("read source");
    poke(img, offset, &data);
}

/// Overwrites bytes of `img` at `offset`.
pub fn poke(img: &Path, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .open(img)
        .expect("open image");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(bytes).expect("write");
}

/// Makes a filesystem of `size` bytes in its own file `dir/name` with `mkfs` (tool and
/// arguments; the file path is appended) and returns the file.
pub fn mkfs(dir: &Path, name: &str, size: u64, mkfs: &[&str]) -> PathBuf {
    let f = sparse(dir, name, size);
    let mut args = mkfs[1..].to_vec();
    let path = f.to_str().expect("utf-8 path").to_string();
    args.push(&path);
    run(mkfs[0], &args);
    f
}

/// One partition as sfdisk reports it: node number, start sector, sectors, type, name.
pub type SfdiskPart = (u32, u64, u64, String, Option<String>);

/// `sfdisk --json` of `img`: sector size and partitions.
pub fn sfdisk_json(img: &Path) -> (u64, Vec<SfdiskPart>) {
    let out = run("sfdisk", &["--json", img.to_str().expect("utf-8 path")]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("sfdisk json");
    let t = &v["partitiontable"];
    let ss = t["sectorsize"].as_u64().unwrap_or(512);
    let parts = t["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            let node = p["node"].as_str().expect("node");
            let digits: String = node
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect();
            let number: u32 = digits
                .chars()
                .rev()
                .collect::<String>()
                .parse()
                .expect("number");
            (
                number,
                p["start"].as_u64().expect("start"),
                p["size"].as_u64().expect("size"),
                p["type"].as_str().expect("type").to_string(),
                p["name"].as_str().map(str::to_string),
            )
        })
        .collect();
    (ss, parts)
}

/// `blkid -p` of `img` at `offset`: (TYPE, LABEL, UUID).
pub fn blkid(img: &Path, offset: u64) -> (String, Option<String>, Option<String>) {
    let out = run(
        "blkid",
        &[
            "-p",
            "-o",
            "export",
            "-O",
            &offset.to_string(),
            img.to_str().expect("utf-8 path"),
        ],
    );
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
    };
    (get("TYPE").expect("blkid TYPE"), get("LABEL"), get("UUID"))
}

/// Set to `1` (as `.ci/run` does), a test that would skip for lack of root, loop devices or a
/// tool fails instead: CI must run every privileged test.
pub const REQUIRE_PRIVILEGED: &str = "PVERESCUE_REQUIRE_PRIVILEGED";

/// Where skip records go: `$PVERESCUE_SKIP_DIR`, else `skips/` in the target directory of the
/// running test binary (`target/debug/deps/it-…` gives `target/skips`).
pub const SKIP_DIR: &str = "PVERESCUE_SKIP_DIR";

/// True when the test can use loop devices and mount; otherwise records the skip (see [`skip`])
/// and returns false, or panics under [`REQUIRE_PRIVILEGED`].
pub fn privileged(test: &str) -> bool {
    let uid = run("id", &["-u"]);
    if uid.trim() != "0" {
        skip(
            test,
            &format!(
                "needs root for loop devices and mounts (running as uid {})",
                uid.trim()
            ),
        );
        return false;
    }
    if !Path::new("/dev/loop-control").exists() {
        skip(test, "/dev/loop-control is missing");
        return false;
    }
    true
}

/// Records that `test` skips (all or part of itself) for `reason`, which the caller then does by
/// returning: prints `SKIP test: reason` to stderr and writes it to a file of its own in the skip
/// directory ([`SKIP_DIR`]), which `cargo xtask test` empties before the run and counts after it.
/// Under [`REQUIRE_PRIVILEGED`]`=1` it panics instead: use it for what CI provides (root, loop
/// devices, installed tools), and [`skip_unsupported`] for what CI cannot be required to have.
pub fn skip(test: &str, reason: &str) {
    record_skip(test, reason);
    if std::env::var(REQUIRE_PRIVILEGED).as_deref() == Ok("1") {
        panic!("{REQUIRE_PRIVILEGED}=1, and {test} would skip: {reason}");
    }
}

/// Like [`skip`], but never fails: for a feature the machine's filesystem or kernel lacks (the
/// skip is still recorded and counted).
pub fn skip_unsupported(test: &str, reason: &str) {
    record_skip(test, reason);
}

fn record_skip(test: &str, reason: &str) {
    let krate = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "?".into());
    let line = format!("SKIP {krate}::{test}: {reason}");
    eprintln!("{line}");
    let Some(dir) = skip_dir() else {
        eprintln!("testimg: cannot tell where to record the skip (set {SKIP_DIR})");
        return;
    };
    let name: String = format!("{krate}--{test}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // One file per test: concurrent tests never write the same file.
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{name}.skip")), format!("{line}\n")));
    if let Err(e) = written {
        eprintln!("testimg: cannot record the skip in {}: {e}", dir.display());
    }
}

/// The skip directory: [`SKIP_DIR`], else `skips/` beside the profile directory that holds
/// the running test binary.
pub fn skip_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(SKIP_DIR) {
        return Some(PathBuf::from(d));
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<binary>: the target directory is three levels up.
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.parent()?.join("skips"))
}

/// A loop device attached with `losetup` for the test; detached on drop.
pub struct Loop(pub String);

impl Loop {
    /// Attaches `img` from `offset` for `size` bytes (0: to the end), with `extra` losetup flags.
    pub fn attach(img: &Path, offset: u64, size: u64, extra: &[&str]) -> Loop {
        let (o, s) = (offset.to_string(), size.to_string());
        let mut args = vec!["-f", "--show", "-o", &o];
        if size > 0 {
            args.extend(["--sizelimit", &s]);
        }
        args.extend(extra);
        args.push(img.to_str().expect("utf-8 path"));
        Loop(run("losetup", &args).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// Runs lvm2 commands with a private configuration that only sees some devices and needs no
/// device-mapper (metadata is written, nothing is activated).
pub struct Lvm {
    dir: tempfile::TempDir,
}

impl Lvm {
    /// A configuration that accepts exactly `devs` (e.g. `/dev/loop3`).
    pub fn new(devs: &[&str]) -> Lvm {
        let dir = tempfile::tempdir().expect("tempdir");
        let accept: Vec<String> = devs.iter().map(|d| format!("\"a|^{d}$|\"")).collect();
        let conf = format!(
            "devices {{ filter = [ {}, \"r|.*|\" ] obtain_device_list_from_udev = 0 }}\n\
             activation {{ udev_sync = 0 udev_rules = 0 }}\n\
             backup {{ backup = 0 archive = 0 }}\n\
             global {{ use_lvmpolld = 0 }}\n",
            accept.join(", ")
        );
        std::fs::write(dir.path().join("lvm.conf"), conf).expect("lvm.conf");
        Lvm { dir }
    }

    /// Runs an lvm2 tool with this configuration.
    pub fn run(&self, tool: &str, args: &[&str]) -> String {
        let sysdir = self.dir.path().to_str().expect("path");
        run_env(
            tool,
            args,
            &[
                ("LVM_SYSTEM_DIR", sysdir),
                ("LVM_SUPPRESS_FD_WARNINGS", "1"),
            ],
        )
    }

    /// `lvcreate` that writes metadata only (no device-mapper here).
    pub fn lvcreate(&self, args: &[&str]) {
        let mut all = vec!["--driverloaded", "n", "-an", "-Zn", "-y", "-q"];
        all.extend(args);
        self.run("lvcreate", &all);
    }

    /// A `pvs`/`lvs`/`vgs` report of `fields` in bytes, one row per line, fields split on `|`.
    pub fn report(&self, tool: &str, fields: &str) -> Vec<Vec<String>> {
        let out = self.run(
            tool,
            &[
                "--noheadings",
                "--units",
                "b",
                "--nosuffix",
                "--separator",
                "|",
                "-o",
                fields,
            ],
        );
        out.lines()
            .map(|l| l.trim().split('|').map(str::to_string).collect())
            .collect()
    }
}

/// The text written into every filesystem of a [`GptImage`].
pub const HELLO: &str = "hello from the image\n";

/// A GPT image with p1 = ext4 holding `hello.txt`, p2 = btrfs holding `hello.txt`, and
/// optionally p3 = empty XFS, with (offset, size) per partition as sfdisk reports them.
pub struct GptImage {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The image file.
    pub path: PathBuf,
    /// (offset, size) in bytes of partitions 1..=3 from `sfdisk --json`.
    pub parts: Vec<(u64, u64)>,
}

impl GptImage {
    /// Builds the image; `xfs` adds the 300 MiB XFS partition.
    pub fn new(xfs: bool) -> GptImage {
        let dir = tempfile::tempdir().expect("tempdir");
        let total = if xfs { 460 } else { 150 };
        let path = sparse(dir.path(), "disk.img", total * MIB);
        let p = path.to_str().expect("utf-8");
        let mut args = vec!["-n", "1:2048:+16M", "-n", "2:0:+120M"];
        if xfs {
            args.extend(["-n", "3:0:+300M"]);
        }
        args.push(p);
        run("sgdisk", &args);
        let (ss, table) = sfdisk_json(&path);
        let parts: Vec<(u64, u64)> = table.iter().map(|t| (t.1 * ss, t.2 * ss)).collect();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).expect("mkdir");
        std::fs::write(src.join("hello.txt"), HELLO).expect("write");
        let s = src.to_str().expect("utf-8");
        let d = dir.path();
        let ext4 = mkfs(
            d,
            "p1.fs",
            parts[0].1,
            &["mkfs.ext4", "-q", "-L", "p1", "-d", s],
        );
        let btrfs = mkfs(
            d,
            "p2.fs",
            parts[1].1,
            &["mkfs.btrfs", "-q", "-L", "p2", "--rootdir", s],
        );
        write_at(&path, parts[0].0, &ext4);
        write_at(&path, parts[1].0, &btrfs);
        if xfs {
            let x = mkfs(d, "p3.fs", parts[2].1, &["mkfs.xfs", "-q", "-L", "p3"]);
            write_at(&path, parts[2].0, &x);
        }
        for f in ["p1.fs", "p2.fs", "p3.fs"] {
            let _ = std::fs::remove_file(d.join(f));
        }
        GptImage { dir, path, parts }
    }

    /// A fresh empty directory to mount on.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        let mp = self.dir.path().join(name);
        std::fs::create_dir_all(&mp).expect("mountpoint");
        mp
    }
}

/// SHA-256 of a file, in hex.
pub fn sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Flips one byte of the zstd file at `path`, from the middle of the stream on, where the real
/// `zstd -t` rejects the result, and returns its offset. About 0.5 % of single-byte flips leave a
/// frame that both `zstd -t` and our decoder accept, so a fixed flip is corrupt only most of the
/// time: each candidate is checked by the real tool, the independent oracle.
pub fn corrupt_zstd(path: &Path) -> u64 {
    let mut bytes = std::fs::read(path).expect("read the zstd file");
    let start = bytes.len() / 2;
    for at in start..bytes.len() {
        bytes[at] ^= 0x40;
        std::fs::write(path, &bytes).expect("write the zstd file");
        let tested = Command::new("zstd")
            .args(["-q", "-t"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .expect("zstd (Debian package zstd)");
        if !tested.success() {
            return at as u64;
        }
        bytes[at] ^= 0x40;
    }
    std::fs::write(path, &bytes).expect("write the zstd file");
    panic!(
        "no flip from byte {start} on makes zstd -t reject {}",
        path.display()
    );
}

/// How long [`wait_for`] waits: far beyond any delay on a loaded machine (the kernel releases
/// loop devices asynchronously), reached only when something is really left behind or stuck.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `cond` holds, polling, and panics naming `what` (with `cond`'s last state from
/// `describe`) after [`DEADLINE`]. A synchronisation, not a timing assertion: it returns as soon
/// as `cond` holds.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool, describe: impl Fn() -> String) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "still not {what} after {DEADLINE:?}: {}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts (waiting up to [`DEADLINE`] for the kernel) that `losetup` lists no device backed by
/// `img`.
pub fn assert_no_loop_for(img: &Path) {
    let listed = || run("losetup", &["-j", img.to_str().expect("utf-8")]);
    wait_for(
        &format!("free of loop devices backed by {}", img.display()),
        || listed().trim().is_empty(),
        listed,
    );
}

/// The lines of `losetup -a` that mention `needle` (e.g. a test's temporary directory), sorted.
pub fn losetup_lines(needle: &str) -> Vec<String> {
    let mut v: Vec<String> = run("losetup", &["-a"])
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// `findmnt` of `mp`: (fstype, options), or `None` when nothing is mounted there.
pub fn findmnt(mp: &Path) -> Option<(String, String)> {
    let out = Command::new("findmnt")
        .args([
            "-n",
            "-o",
            "FSTYPE,OPTIONS",
            "--mountpoint",
            mp.to_str().expect("utf-8"),
        ])
        .output()
        .expect("findmnt (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

/// `losetup --json -l` of one device: (offset, sizelimit, ro, backing file).
pub fn losetup_info(dev: &Path) -> (u64, u64, bool, String) {
    let out = run(
        "losetup",
        &[
            "--json",
            "--list",
            "--output",
            "NAME,OFFSET,SIZELIMIT,RO,BACK-FILE",
            dev.to_str().expect("utf-8"),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let d = &v["loopdevices"][0];
    let num = |k: &str| {
        d[k].as_u64()
            .or_else(|| d[k].as_str().and_then(|s| s.parse().ok()))
            .expect("number")
    };
    let ro = d["ro"]
        .as_bool()
        .unwrap_or_else(|| d["ro"].as_str() == Some("1") || d["ro"].as_u64() == Some(1));
    (
        num("offset"),
        num("sizelimit"),
        ro,
        d["back-file"].as_str().expect("back-file").to_string(),
    )
}
