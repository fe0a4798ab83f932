//! Helpers to run the real tools that make and describe test images.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian package that ships `tool`, for the "missing tool" message.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "sgdisk" => "gdisk",
        "sfdisk" | "partx" | "blkid" | "mkswap" => "util-linux / fdisk",
        "losetup" => "mount",
        t if t.starts_with("mkfs.ext") || t == "mke2fs" => "e2fsprogs",
        "mkfs.xfs" => "xfsprogs",
        "mkfs.btrfs" => "btrfs-progs",
        "mkfs.vfat" => "dosfstools",
        "mkntfs" => "ntfs-3g",
        "mksquashfs" => "squashfs-tools",
        "xorriso" => "xorriso",
        "cryptsetup" => "cryptsetup-bin",
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

/// Runs `tool` with `stdin` as its input.
pub fn run_stdin(tool: &str, args: &[&str], stdin: &str) -> String {
    use std::process::Stdio;
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
    let mut f = OpenOptions::new()
        .write(true)
        .open(img)
        .expect("open image");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(&data).expect("write");
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

/// The name blkid uses for one of our kinds.
pub fn blkid_type(kind: partitions::FsKind) -> &'static str {
    use partitions::FsKind::*;
    match kind {
        Luks => "crypto_LUKS",
        Lvm2Pv => "LVM2_member",
        k => k.name(),
    }
}

/// Scans the image file at `path`.
pub fn scan(path: &Path) -> partitions::Scan {
    let mut f = std::fs::File::open(path).expect("open image");
    partitions::scan(&mut f).unwrap_or_else(|e| panic!("scan {}: {e}", path.display()))
}

/// True when loop devices can be attached; prints why a test is skipped otherwise.
pub fn can_loop(test: &str) -> bool {
    // SAFETY-free check: geteuid through the `id` tool keeps this crate free of unsafe code.
    let uid = run("id", &["-u"]);
    if uid.trim() != "0" {
        eprintln!(
            "SKIP {test}: needs root for loop devices (running as uid {})",
            uid.trim()
        );
        return false;
    }
    if !Path::new("/dev/loop-control").exists() {
        eprintln!("SKIP {test}: /dev/loop-control is missing");
        return false;
    }
    true
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
