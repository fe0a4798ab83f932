//! The server against real NBD clients: libnbd's `nbdinfo` and `nbdcopy`, and `qemu-img`.
//! Expected bytes are the files the tests wrote; expected holes come from the file's own layout.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serve::{Backend, Export, Listen, Overlay, ReadOnly, Server};

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{tool} is missing (xtask/src/tools.rs installs it)");
    }
    if !ok {
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

/// A 8 MiB disk: data, a 4 MiB hole, data, with a pattern no reader could guess.
fn write_disk(path: &Path) -> Vec<u8> {
    let mut data = vec![0u8; 8 << 20];
    let mut x: u32 = 12345;
    for (i, b) in data.iter_mut().enumerate() {
        if (2 << 20..6 << 20).contains(&i) {
            continue;
        }
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let f = std::fs::File::create(path).unwrap();
    use std::os::unix::fs::FileExt;
    f.set_len(data.len() as u64).unwrap();
    f.write_all_at(&data[..2 << 20], 0).unwrap();
    f.write_all_at(&data[6 << 20..], 6 << 20).unwrap();
    data
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

struct Running {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(exports: Vec<Export>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nbd.sock");
    let server = Server::bind(&Listen::Unix(socket.clone()), exports, 2).unwrap();
    std::thread::spawn(move || {
        server
            .run(
                Arc::new(serve::Quiet),
                Arc::new(|e| eprintln!("client: {e}")),
            )
            .unwrap();
    });
    Running { socket, _dir: dir }
}

fn uri(r: &Running, export: &str) -> String {
    format!("nbd+unix:///{export}?socket={}", r.socket.display())
}

fn raw_export(path: &Path, name: &str) -> Export {
    Export {
        name: name.into(),
        description: format!("test disk {name}"),
        backend: Arc::new(ReadOnly(diskview::FileView::open(path).unwrap())),
    }
}

#[test]
fn nbdinfo_lists_every_export_with_its_size_and_map() {
    if !have("nbdinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.raw"), dir.path().join("b.raw"));
    write_disk(&a);
    std::fs::write(&b, vec![7u8; 1 << 20]).unwrap();
    let r = start(vec![
        raw_export(&a, "drive-scsi0"),
        raw_export(&b, "drive-scsi1"),
    ]);
    let out = Command::new("nbdinfo")
        .args([
            "--list",
            "--json",
            &format!("nbd+unix://?socket={}", r.socket.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let exports = v["exports"].as_array().unwrap();
    let names: Vec<_> = exports
        .iter()
        .map(|e| e["export-name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["drive-scsi0", "drive-scsi1"]);
    assert_eq!(exports[0]["export-size"], 8 << 20);
    assert_eq!(exports[1]["export-size"], 1 << 20);
    assert_eq!(exports[0]["is_read_only"], true);
    assert_eq!(exports[0]["description"], "test disk drive-scsi0");

    // The map: data, the 4 MiB hole (hole,zero = 3), data.
    let out = Command::new("nbdinfo")
        .args(["--map", "--json", &uri(&r, "drive-scsi0")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let extents: Vec<(u64, u64, u64)> = map
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["offset"].as_u64().unwrap(),
                e["length"].as_u64().unwrap(),
                e["type"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        extents,
        vec![
            (0, 2 << 20, 0),
            (2 << 20, 4 << 20, 3),
            (6 << 20, 2 << 20, 0)
        ]
    );
}

#[test]
fn nbdcopy_and_qemu_img_read_the_disk_byte_for_byte_and_keep_the_hole() {
    if !have("nbdcopy") || !have("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.raw");
    let data = write_disk(&a);
    let r = start(vec![raw_export(&a, "drive-scsi0")]);

    let copy = dir.path().join("copy.raw");
    std::fs::File::create(&copy).unwrap();
    let st = Command::new("nbdcopy")
        .args([&uri(&r, "drive-scsi0"), copy.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha(&std::fs::read(&copy).unwrap()), sha(&data));
    use std::os::unix::fs::MetadataExt;
    let blocks = std::fs::metadata(&copy).unwrap().blocks() * 512;
    assert!(
        blocks <= 4 << 20,
        "the 4 MiB hole was written: {blocks} bytes allocated"
    );

    let conv = dir.path().join("conv.raw");
    let st = Command::new("qemu-img")
        .args([
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            &uri(&r, "drive-scsi0"),
            conv.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha(&std::fs::read(&conv).unwrap()), sha(&data));
    let st = Command::new("qemu-img")
        .args([
            "compare",
            "-f",
            "raw",
            "-F",
            "raw",
            a.to_str().unwrap(),
            &uri(&r, "drive-scsi0"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn concurrent_clients_read_the_same_bytes() {
    if !have("nbdcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.raw");
    let data = write_disk(&a);
    let r = start(vec![raw_export(&a, "d")]);
    let want = sha(&data);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (u, out) = (uri(&r, "d"), dir.path().join(format!("c{i}.raw")));
            std::thread::spawn(move || {
                let st = Command::new("nbdcopy")
                    .args(["--connections=2", "--requests=8", &u, out.to_str().unwrap()])
                    .status()
                    .unwrap();
                assert!(st.success());
                sha(&std::fs::read(&out).unwrap())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

#[test]
fn a_client_that_sends_garbage_or_leaves_mid_read_does_not_take_the_server_down() {
    if !have("nbdcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.raw");
    let data = write_disk(&a);
    let r = start(vec![raw_export(&a, "d")]);
    use std::io::{Read, Write};
    // Garbage after the greeting.
    let mut s = std::os::unix::net::UnixStream::connect(&r.socket).unwrap();
    let mut greeting = [0u8; 18];
    s.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting[..8], b"NBDMAGIC");
    s.write_all(&[0, 0, 0, 3]).unwrap();
    s.write_all(&[0xff; 64]).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // the server closes this connection
    // A client that asks for a big read and leaves without reading the reply.
    let mut s = std::os::unix::net::UnixStream::connect(&r.socket).unwrap();
    s.read_exact(&mut greeting).unwrap();
    s.write_all(&3u32.to_be_bytes()).unwrap();
    s.write_all(&0x4948_4156_454f_5054u64.to_be_bytes())
        .unwrap();
    s.write_all(&1u32.to_be_bytes()).unwrap(); // NBD_OPT_EXPORT_NAME
    s.write_all(&1u32.to_be_bytes()).unwrap();
    s.write_all(b"d").unwrap();
    let mut info = [0u8; 10];
    s.read_exact(&mut info).unwrap();
    let mut req = Vec::new();
    req.extend_from_slice(&0x2560_9513u32.to_be_bytes());
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&1u64.to_be_bytes());
    req.extend_from_slice(&0u64.to_be_bytes());
    req.extend_from_slice(&(8u32 << 20).to_be_bytes());
    s.write_all(&req).unwrap();
    drop(s);
    // The server still serves.
    let out = dir.path().join("after.raw");
    let st = Command::new("nbdcopy")
        .args([&uri(&r, "d"), out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha(&std::fs::read(&out).unwrap()), sha(&data));
}

#[test]
fn an_overlay_takes_writes_and_the_backup_stays_as_it_was() {
    if !have("nbdcopy") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.raw");
    let data = write_disk(&a);
    let before = sha(&std::fs::read(&a).unwrap());
    let ov_path = dir.path().join("ov");
    let base: Arc<dyn Backend> = Arc::new(ReadOnly(diskview::FileView::open(&a).unwrap()));
    let overlay = Overlay::open(&ov_path, base.clone(), "a.raw#d").unwrap();
    let r = start(vec![Export {
        name: "d".into(),
        description: String::new(),
        backend: Arc::new(overlay),
    }]);
    // A client writes 100 KiB at an odd offset (inside the hole and across a block border).
    let offset = (3 << 20) - 3000;
    // qemu-io (qemu-utils) is the independent writer.
    let st = Command::new("qemu-io")
        .args([
            "-f",
            "raw",
            "-c",
            &format!("write -P 0x5a {offset} 102400"),
            &uri(&r, "d"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let mut want = data.clone();
    want[offset..offset + 102_400].fill(0x5a);
    let out = dir.path().join("after.raw");
    let st = Command::new("nbdcopy")
        .args([&uri(&r, "d"), out.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        sha(&std::fs::read(&out).unwrap()),
        sha(&want),
        "the client reads back its write"
    );
    assert_eq!(
        sha(&std::fs::read(&a).unwrap()),
        before,
        "the backup is untouched"
    );

    // Reopened later, the overlay and the backup read as one image again.
    let again = Overlay::open(&ov_path, base.clone(), "a.raw#d").unwrap();
    assert_eq!(again.written_blocks(), 3, "100 KiB across a 64 KiB border");
    let mut buf = vec![0u8; data.len()];
    again.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(sha(&buf), sha(&want));
    drop(again);
    // Laid over another disk, it is refused.
    let err = Overlay::open(&ov_path, base, "other#d").err().unwrap();
    assert!(err.to_string().contains("made for another disk"), "{err}");
}
