//! `pverescue serve` against real NBD clients (libnbd's `nbdinfo`/`nbdcopy`, `qemu-img`,
//! `qemu-io`): the sample PBS datastore's disks must arrive with the sha256 its README gives,
//! holes must show in the block status, writes go to the overlay only, and a signal removes the
//! socket and keeps the overlay.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pbs::{expected, fixture};
use crate::util::{pverescue, require_tool, run, sha256_file, tempdir};

struct Serving {
    child: Child,
    socket: PathBuf,
}

fn start(args: &[&str], socket: &Path) -> Serving {
    let child = pverescue()
        .arg("serve")
        .args(args)
        .arg("--socket")
        .arg(socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pverescue serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the server never made its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Serving {
        child,
        socket: socket.to_path_buf(),
    }
}

impl Serving {
    fn uri(&self, export: &str) -> String {
        format!("nbd+unix:///{export}?socket={}", self.socket.display())
    }

    /// Sends `signal`, waits, and returns (exit code, stdout, stderr).
    fn stop(mut self, signal: &str) -> (i32, String, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nbdcopy(uri: &str, out: &Path) {
    let st = Command::new("nbdcopy")
        .args([uri, out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success(), "nbdcopy {uri}");
}

#[test]
fn a_pbs_snapshot_is_served_disk_by_disk_as_pbs_wrote_it() {
    require_tool("nbdcopy", "libnbd-bin");
    require_tool("nbdinfo", "libnbd-bin");
    require_tool("qemu-img", "qemu-utils");
    let dir = tempdir();
    let snap = "vm/800/2026-12-01T21:00:00Z";
    let store = fixture().join("datastore");
    let s = start(
        &["--json", store.join(snap).to_str().unwrap()],
        &dir.path().join("s.sock"),
    );
    let want = expected();
    for disk in ["drive-scsi0", "drive-efidisk0"] {
        let out = dir.path().join(format!("{disk}.raw"));
        nbdcopy(&s.uri(disk), &out);
        assert_eq!(
            sha256_file(&out),
            want[&format!("{snap}/{disk}.img.fidx")],
            "{disk}"
        );
    }
    // qemu-img reads it too, and compares equal with what nbdcopy wrote.
    let st = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(dir.path().join("drive-scsi0.raw"))
        .arg(s.uri("drive-scsi0"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // Chunk 1 of scsi0 is PBS's zero chunk (the README): a hole in the block status.
    let map = Command::new("nbdinfo")
        .args(["--map", "--json", &s.uri("drive-scsi0")])
        .output()
        .unwrap();
    assert!(map.status.success());
    let map: serde_json::Value = serde_json::from_slice(&map.stdout).unwrap();
    let holes: Vec<(u64, u64)> = map
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_u64() == Some(3))
        .map(|e| (e["offset"].as_u64().unwrap(), e["length"].as_u64().unwrap()))
        .collect();
    assert_eq!(holes, vec![(4 << 20, 4 << 20)]);

    let socket = s.socket.clone();
    let (code, stdout, _) = s.stop("-TERM");
    assert_eq!(
        code, 143,
        "SIGTERM ends the server as it ends every command"
    );
    assert!(!socket.exists(), "the socket is removed");
    let started: serde_json::Value =
        serde_json::from_str(&stdout).expect("--json prints one object");
    let names: Vec<&str> = started["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["drive-scsi0", "drive-efidisk0"]);
    assert_eq!(started["read_only"], true);
    assert!(
        started["exports"][0]["qemu"]
            .as_str()
            .unwrap()
            .contains("snapshot=on")
    );
}

#[test]
fn an_encrypted_snapshot_is_served_with_its_key_and_refused_without() {
    require_tool("nbdcopy", "libnbd-bin");
    let dir = tempdir();
    let snap = "ns/offsite/vm/801/2026-12-03T03:00:00Z";
    let path = fixture().join("datastore").join(snap);
    let r = run(&[
        "serve",
        path.to_str().unwrap(),
        "--socket",
        dir.path().join("x.sock").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ae:d3:71:f7"),
        "names the key it needs: {}",
        r.stderr
    );
    assert!(!dir.path().join("x.sock").exists());
    let key = fixture().join("sample-key.json");
    let s = start(
        &[
            path.to_str().unwrap(),
            "-a",
            "drive-scsi0",
            "--keyfile",
            key.to_str().unwrap(),
        ],
        &dir.path().join("s.sock"),
    );
    let out = dir.path().join("d.raw");
    nbdcopy(&s.uri("drive-scsi0"), &out);
    assert_eq!(
        sha256_file(&out),
        expected()[&format!("{snap}/drive-scsi0.img.fidx")]
    );
}

#[test]
fn the_overlay_takes_writes_keeps_them_across_a_restart_and_the_image_is_untouched() {
    require_tool("nbdcopy", "libnbd-bin");
    require_tool("qemu-io", "qemu-utils");
    let dir = tempdir();
    let image = dir.path().join("disk.raw");
    let mut data: Vec<u8> = (0..(3u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&image, &data).unwrap();
    let before = sha256_file(&image);
    let overlay = dir.path().join("disk.overlay");
    let args = [
        image.to_str().unwrap(),
        "--overlay",
        overlay.to_str().unwrap(),
    ];
    let s = start(&args, &dir.path().join("s.sock"));
    let st = Command::new("qemu-io")
        .args([
            "-f",
            "raw",
            "-c",
            "write -P 0xab 70000 5000",
            &s.uri("disk"),
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    data[70000..75000].fill(0xab);
    let want = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&data))
    };
    let out = dir.path().join("out.raw");
    nbdcopy(&s.uri("disk"), &out);
    assert_eq!(sha256_file(&out), want, "the client reads its write back");
    let (code, _, _) = s.stop("-INT");
    assert_eq!(code, 130);
    assert_eq!(sha256_file(&image), before, "the backup is never written");

    // After Ctrl-C, a new server continues the overlay: the write is still there.
    let s = start(&args, &dir.path().join("s2.sock"));
    let out2 = dir.path().join("out2.raw");
    nbdcopy(&s.uri("disk"), &out2);
    assert_eq!(sha256_file(&out2), want);
    drop(s);
    // Over another disk, the overlay is refused.
    let other = dir.path().join("other.raw");
    std::fs::write(&other, vec![1u8; 3 << 20]).unwrap();
    let r = run(&[
        "serve",
        other.to_str().unwrap(),
        "--overlay",
        overlay.to_str().unwrap(),
        "--socket",
        dir.path().join("s3.sock").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("made for another disk"), "{}", r.stderr);
}

#[test]
fn an_existing_socket_path_is_never_replaced() {
    let dir = tempdir();
    let taken = dir.path().join("taken");
    std::fs::write(&taken, b"mine").unwrap();
    let image = dir.path().join("disk.raw");
    std::fs::write(&image, vec![1u8; 4096]).unwrap();
    let r = run(&[
        "serve",
        image.to_str().unwrap(),
        "--socket",
        taken.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read(&taken).unwrap(), b"mine");
}

/// True when FUSE tests can run (root and /dev/fuse); records the skip otherwise.
fn fuse_possible(test: &str) -> bool {
    if !testimg::privileged(test) {
        return false;
    }
    if !Path::new("/dev/fuse").exists() {
        testimg::skip(test, "/dev/fuse is missing");
        return false;
    }
    true
}

/// Starts `pverescue fuse ARGS MP` and waits until the mount is there.
fn start_fuse(args: &[&str], mp: &Path) -> Child {
    let child = pverescue()
        .arg("fuse")
        .args(args)
        .arg(mp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pverescue fuse");
    testimg::wait_for(
        "the FUSE mount",
        || testimg::findmnt(mp).is_some(),
        || format!("{} is not mounted", mp.display()),
    );
    child
}

#[test]
fn fuse_shows_every_disk_and_config_as_files_with_their_holes() {
    if !fuse_possible("fuse_shows_every_disk_and_config_as_files_with_their_holes") {
        return;
    }
    let dir = tempdir();
    let mp = dir.path().join("mnt");
    std::fs::create_dir(&mp).unwrap();
    let snap = "vm/800/2026-12-01T21:00:00Z";
    let child = start_fuse(
        &[fixture().join("datastore").join(snap).to_str().unwrap()],
        &mp,
    );
    let want = expected();
    let mut names: Vec<String> = std::fs::read_dir(&mp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["drive-efidisk0.raw", "drive-scsi0.raw", "qemu-server.conf"]
    );
    for disk in ["drive-scsi0", "drive-efidisk0"] {
        assert_eq!(
            sha256_file(&mp.join(format!("{disk}.raw"))),
            want[&format!("{snap}/{disk}.img.fidx")]
        );
    }
    // The README's sha256 of the config.
    assert_eq!(
        sha256_file(&mp.join("qemu-server.conf")),
        "6dd24a505132811ae10f93f8e8059f0a82af06fb01911f22752ce77c670d0511"
    );
    // SEEK_HOLE/SEEK_DATA through the kernel: chunk 1 (4..8 MiB) is the zero chunk.
    let seek = Command::new("python3")
        .arg("-c")
        .arg(
            "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); \
             print(os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 4<<20, os.SEEK_DATA))",
        )
        .arg(mp.join("drive-scsi0.raw"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seek.stdout).trim(),
        format!("{} {}", 4 << 20, 8 << 20)
    );
    // Writing is refused.
    assert!(
        std::fs::OpenOptions::new()
            .write(true)
            .open(mp.join("drive-scsi0.raw"))
            .is_err()
    );

    let r = run(&["umount", mp.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(testimg::findmnt(&mp).is_none());
}

#[test]
fn a_disk_shown_by_fuse_mounts_with_pverescue_mount_and_ctrl_c_unmounts_it() {
    if !fuse_possible("a_disk_shown_by_fuse_mounts_with_pverescue_mount_and_ctrl_c_unmounts_it") {
        return;
    }
    let gpt = testimg::GptImage::new(false);
    let mp = gpt.mountpoint("fuse");
    let child = start_fuse(&[gpt.path.to_str().unwrap()], &mp);
    let exposed = mp.join("disk.raw");
    assert_eq!(sha256_file(&exposed), testimg::sha256(&gpt.path));
    let root = gpt.mountpoint("root");
    let r = run(&[
        "mount",
        exposed.to_str().unwrap(),
        root.to_str().unwrap(),
        "-p",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("hello.txt")).unwrap(),
        testimg::HELLO
    );
    let r = run(&["umount", root.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    testimg::assert_no_loop_for(&exposed);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(testimg::findmnt(&mp).is_none(), "Ctrl-C unmounts");
}

/// The sha256 the real `vma extract` wrote for `file` of a `testdata/real` archive.
fn real_sha(archive: &str, file: &str) -> String {
    let listing = crate::util::testdata(&format!("real/expected/{archive}/extract.files"));
    std::fs::read_to_string(listing)
        .unwrap()
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(file))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned()
}

#[test]
fn vma_archives_are_served_indexed_in_place_or_staged_and_the_stage_is_removed() {
    require_tool("nbdcopy", "libnbd-bin");
    let dir = tempdir();
    // Uncompressed: indexed in place, nothing staged.
    let plain = "vzdump-qemu-105-2026_11_20-21_10_17";
    let s = start(
        &[crate::util::testdata(&format!("real/{plain}.vma"))
            .to_str()
            .unwrap()],
        &dir.path().join("a.sock"),
    );
    let out = dir.path().join("a.raw");
    nbdcopy(&s.uri("drive-scsi0"), &out);
    assert_eq!(sha256_file(&out), real_sha(plain, "disk-drive-scsi0.raw"));
    let (_, _, stderr) = s.stop("-TERM");
    assert!(!stderr.contains("staging"), "{stderr}");

    // zstd: staged once under --scratch, said first, removed after SIGTERM.
    let zst = "vzdump-qemu-101-2026_11_20-21_00_03";
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let s = start(
        &[
            crate::util::testdata(&format!("real/{zst}.vma.zst"))
                .to_str()
                .unwrap(),
            "--scratch",
            scratch.to_str().unwrap(),
        ],
        &dir.path().join("b.sock"),
    );
    let out = dir.path().join("b.raw");
    nbdcopy(&s.uri("drive-scsi0"), &out);
    assert_eq!(sha256_file(&out), real_sha(zst, "disk-drive-scsi0.raw"));
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        1,
        "one staging directory"
    );
    let (code, _, stderr) = s.stop("-TERM");
    assert_eq!(code, 143);
    assert!(stderr.contains("staging drive-scsi0"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "the stage is removed"
    );
}
