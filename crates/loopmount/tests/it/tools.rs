//! Helpers: real tools, image building, and leak checks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::Digest;

const MIB: u64 = 1 << 20;

fn package_of(tool: &str) -> &'static str {
    match tool {
        "sgdisk" => "gdisk",
        "sfdisk" => "fdisk",
        "losetup" | "findmnt" => "mount / util-linux",
        "mkfs.ext4" => "e2fsprogs",
        "mkfs.xfs" => "xfsprogs",
        "mkfs.btrfs" => "btrfs-progs",
        _ => "(unknown package)",
    }
}

/// Runs `tool`, panicking with its stderr on failure and naming the package when missing.
pub fn run(tool: &str, args: &[&str]) -> String {
    let out = match Command::new(tool).args(args).output() {
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
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when the test can use loop devices and mount; prints the skip reason otherwise.
pub fn privileged(test: &str) -> bool {
    let uid = run("id", &["-u"]);
    if uid.trim() != "0" {
        eprintln!("SKIP {test}: needs root (running as uid {})", uid.trim());
        return false;
    }
    if !Path::new("/dev/loop-control").exists() {
        eprintln!("SKIP {test}: /dev/loop-control is missing");
        return false;
    }
    true
}

/// A GPT image with p1 = ext4 holding `hello.txt`, p2 = btrfs holding `hello.txt`, p3 = empty
/// xfs; returns the image and (offset, size) per partition as sfdisk reports them.
pub struct Image {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The image file.
    pub path: PathBuf,
    /// (offset, size) of partitions 1..=3 from `sfdisk --json`.
    pub parts: Vec<(u64, u64)>,
}

/// The text written into every filesystem.
pub const HELLO: &str = "hello from the image\n";

impl Image {
    /// Builds the image; `xfs` adds the 300 MiB XFS partition.
    pub fn new(xfs: bool) -> Image {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk.img");
        let total = if xfs { 460 } else { 150 };
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(total * MIB))
            .expect("image");
        let p = path.to_str().expect("utf-8");
        let mut args = vec!["-n", "1:2048:+16M", "-n", "2:0:+120M"];
        if xfs {
            args.extend(["-n", "3:0:+300M"]);
        }
        args.push(p);
        run("sgdisk", &args);
        let json: serde_json::Value =
            serde_json::from_str(&run("sfdisk", &["--json", p])).expect("json");
        let parts: Vec<(u64, u64)> = json["partitiontable"]["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|x| {
                (
                    x["start"].as_u64().expect("start") * 512,
                    x["size"].as_u64().expect("size") * 512,
                )
            })
            .collect();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).expect("mkdir");
        std::fs::write(src.join("hello.txt"), HELLO).expect("write");
        let s = src.to_str().expect("utf-8");
        let fs = |name: &str, size: u64, mkfs: &[&str]| {
            let f = dir.path().join(name);
            std::fs::File::create(&f)
                .and_then(|h| h.set_len(size))
                .expect("fs file");
            let mut a = mkfs[1..].to_vec();
            let fp = f.to_str().expect("utf-8").to_string();
            a.push(&fp);
            run(mkfs[0], &a);
            f
        };
        let ext4 = fs(
            "p1.fs",
            parts[0].1,
            &["mkfs.ext4", "-q", "-L", "p1", "-d", s],
        );
        let btrfs = fs(
            "p2.fs",
            parts[1].1,
            &["mkfs.btrfs", "-q", "-L", "p2", "--rootdir", s],
        );
        write_at(&path, parts[0].0, &ext4);
        write_at(&path, parts[1].0, &btrfs);
        if xfs {
            let x = fs("p3.fs", parts[2].1, &["mkfs.xfs", "-q", "-L", "p3"]);
            write_at(&path, parts[2].0, &x);
        }
        Image { dir, path, parts }
    }

    /// A fresh empty directory to mount on.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        let mp = self.dir.path().join(name);
        std::fs::create_dir_all(&mp).expect("mountpoint");
        mp
    }
}

fn write_at(img: &Path, offset: u64, src: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let data = std::fs::read(src).expect("read fs");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(img)
        .expect("open image");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(&data).expect("write");
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

/// Asserts (after up to two seconds) that `losetup` lists no device backed by `img`.
pub fn assert_no_loop_for(img: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let out = run("losetup", &["-j", img.to_str().expect("utf-8")]);
        if out.trim().is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "leftover loop device for {}: {out}",
            img.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
