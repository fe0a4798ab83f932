//! `list` and `extract` of container file trees in PBS snapshots: datastores written by the
//! test writer (`pbswrite`) holding pxar archives of `pbswrite::pxar` (unified and split,
//! plain and encrypted). The restored trees are checked against the independent Python pxar
//! reader's listing of the same archive bytes (modes, owners, mtimes, contents, link targets,
//! xattrs, hardlinks), never against our reader.

// Test code: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pbswrite::pxar::{Node, Split};
use pbswrite::{WKey, Writer};

use crate::util::{run, tempdir};

const SNAP: &str = "ct/200/2026-12-05T10:00:00Z";
/// The sample store's raw key (its README), as `../shared/fixtures/pbs/sample-key.json`.
const SAMPLE_KEY: &str = "4cc84cf4d29d4ea0a6ad2ded7e5be21eb85458457f10d2e0dd4fd66938dd2d71";

fn key_file() -> PathBuf {
    crate::util::root().join("../shared/fixtures/pbs/sample-key.json")
}

fn oracle_script() -> PathBuf {
    crate::util::root().join("crates/pxar/tests/oracle/pxar_oracle.py")
}

/// Cuts a stream into chunks of about 40 KiB (any cut points will do: a restorer never runs
/// the chunker).
fn cuts(len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (1..).map(|i| i * 40_000).take_while(|&c| c < len).collect();
    v.push(len);
    v
}

/// A store with one container snapshot: `pct.conf` and the tree as `root.pxar.didx` (unified)
/// or `root.mpxar.didx` + `root.ppxar.didx` (split), encrypted with the sample key if asked.
/// Returns the snapshot directory and the archive's streams.
fn store(
    root: &Path,
    tree: &Node,
    split: Option<&Split>,
    encrypted: bool,
) -> (PathBuf, Vec<u8>, Option<Vec<u8>>) {
    let key = encrypted.then(|| {
        let raw: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&SAMPLE_KEY[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        WKey::new(raw.try_into().unwrap())
    });
    let mut w = Writer::new(root, key);
    let dir = root.join(SNAP);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![w.blob(&dir, "pct.conf.blob", b"arch: amd64\nhostname: ct200\n")];
    let (meta, payload) = match split {
        None => {
            let b = pbswrite::pxar::unified(tree);
            files.push(w.didx(&dir, "root.pxar.didx", &b, &cuts(b.len())));
            // Snapshots of unified archives carry a catalog: not a tree, not restored.
            files.push(w.didx(&dir, "catalog.pcat1.didx", b"not a pxar", &[10]));
            (b, None)
        }
        Some(how) => {
            let (m, p) = pbswrite::pxar::split(tree, how);
            files.push(w.didx(&dir, "root.mpxar.didx", &m, &cuts(m.len())));
            files.push(w.didx(&dir, "root.ppxar.didx", &p, &cuts(p.len())));
            (m, Some(p))
        }
    };
    w.manifest(&dir, "ct", "200", 1_796_464_800, &files);
    (dir, meta, payload)
}

/// Checks the tree at `out` against the oracle's listing of the archive: every entry, with
/// `skip` paths expected absent.
const CHECK: &str = r##"
import hashlib, json, os, stat, subprocess, sys
oracle, out, meta = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = subprocess.run([sys.executable, oracle] + meta, check=True, capture_output=True).stdout
bad, n = [], 0
for line in lines.decode().splitlines():
    e = json.loads(line)
    p = os.path.join(os.fsencode(out), bytes.fromhex(e["raw"])) if e["raw"] else os.fsencode(out)
    n += 1
    if e["kind"] == "hardlink":
        if not os.path.samefile(p, os.path.join(out, e["target"])): bad.append(("hardlink", e["path"]))
        continue
    st = os.lstat(p)
    got = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
           "mtime": [st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9]}
    kinds = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "symlink": stat.S_IFLNK, "fifo": stat.S_IFIFO,
             "socket": stat.S_IFSOCK, "blockdev": stat.S_IFBLK, "chardev": stat.S_IFCHR}
    if stat.S_IFMT(st.st_mode) != kinds[e["kind"]]: bad.append(("kind", e["path"]))
    if "device" in e and [os.major(st.st_rdev), os.minor(st.st_rdev)] != e["device"]:
        bad.append(("device", e["path"]))
    for k in got:
        if got[k] != e[k]: bad.append((k, e["path"], got[k], e[k]))
    if e["kind"] == "file":
        if hashlib.sha256(open(p, "rb").read()).hexdigest() != e["sha256"]: bad.append(("data", e["path"]))
    if e["kind"] == "symlink" and os.fsdecode(os.readlink(p)) != e["target"]: bad.append(("target", e["path"]))
    if e["kind"] in ("file", "dir"):
        for name, value in e["xattrs"].items():
            if os.getxattr(p, bytes.fromhex(name)).hex() != value: bad.append(("xattr", e["path"], name))
print("bad", bad) if bad else print("ok", n)
"##;

fn check_tree(out: &Path, meta: &[u8], payload: Option<&[u8]>) {
    let tmp = tempdir();
    let m = tmp.path().join("a.mpxar");
    std::fs::write(&m, meta).unwrap();
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(CHECK)
        .arg(oracle_script())
        .arg(out)
        .arg(&m);
    if let Some(p) = payload {
        let pp = tmp.path().join("a.ppxar");
        std::fs::write(&pp, p).unwrap();
        cmd.arg(pp);
    }
    let o = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.starts_with("ok "), "{text}");
}

/// The sample's one entry with a quota project id is the one warning (exit 1): project ids are
/// not set.
fn only_the_project_id_warning(r: &crate::util::Run) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].contains("suid: quota project id 42 not applied"),
        "{}",
        r.stderr
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn a_unified_tree_is_restored_as_out_x_and_listed_as_a_tree() {
    if !is_root() {
        testimg::skip(
            "a_unified_tree_is_restored_as_out_x_and_listed_as_a_tree",
            "needs root (owners, devices)",
        );
        return;
    }
    let tmp = tempdir();
    let (snap, meta, _) = store(
        &tmp.path().join("store"),
        &pbswrite::pxar::sample_tree(),
        None,
        false,
    );
    let r = run(&["list", s(&snap)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("root.pxar.didx") && r.stdout.contains("file tree"),
        "{}",
        r.stdout
    );
    let out = tmp.path().join("out");
    let r = run(&["--json", "extract", s(&snap), s(&out)]);
    only_the_project_id_warning(&r);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let t = &v["trees"][0];
    assert_eq!(t["archive"], "root.pxar.didx");
    assert_eq!(t["path"], s(&out.join("root")));
    // The sample: 6 files, 3 directories, 1 symlink, 1 hardlink, 4 specials.
    assert_eq!(
        (t["files"].as_u64(), t["dirs"].as_u64()),
        (Some(6), Some(3))
    );
    assert_eq!(
        (t["hardlinks"].as_u64(), t["specials"].as_u64()),
        (Some(1), Some(4))
    );
    check_tree(&out.join("root"), &meta, None);
    assert_eq!(
        std::fs::read(out.join("pct.conf")).unwrap(),
        b"arch: amd64\nhostname: ct200\n"
    );
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["pct.conf", "root"]);
}

#[test]
fn a_split_encrypted_tree_is_restored_with_its_key_and_picked_with_a() {
    if !is_root() {
        testimg::skip(
            "a_split_encrypted_tree_is_restored_with_its_key_and_picked_with_a",
            "needs root (owners, devices)",
        );
        return;
    }
    let tmp = tempdir();
    let how = Split {
        padding: 5,
        quirk_sizes: true,
        ..Split::default()
    };
    let (snap, meta, payload) = store(
        &tmp.path().join("store"),
        &pbswrite::pxar::sample_tree(),
        Some(&how),
        true,
    );
    let out = tmp.path().join("out");
    // Without the key nothing is written.
    let r = run(&["extract", s(&snap), s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!out.exists());
    let r = run(&[
        "extract",
        s(&snap),
        s(&out),
        "--keyfile",
        s(&key_file()),
        "-a",
        "root.mpxar",
    ]);
    only_the_project_id_warning(&r);
    assert!(r.stdout.contains("tree   root/"), "{}", r.stdout);
    check_tree(&out.join("root"), &meta, payload.as_deref());
    // Only the tree was picked.
    assert!(!out.join("pct.conf").exists());
}

#[test]
fn a_backward_payload_reference_is_a_damaged_file_and_the_rest_is_restored() {
    let tmp = tempdir();
    let how = Split {
        reuse: vec![(b"text".to_vec(), b"big".to_vec())],
        ..Split::default()
    };
    let tree = Node::Dir(
        pbswrite::pxar::Meta::mode(0o040755),
        vec![
            (
                b"big".to_vec(),
                Node::File(pbswrite::pxar::Meta::mode(0o100644), b"big data".to_vec()),
            ),
            (
                b"text".to_vec(),
                Node::File(pbswrite::pxar::Meta::mode(0o100644), b"other".to_vec()),
            ),
        ],
    );
    let (snap, _, _) = store(&tmp.path().join("store"), &tree, Some(&how), false);
    let out = tmp.path().join("out");
    let r = run(&["--json", "extract", s(&snap), s(&out)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("text: left out") && r.stderr.contains("points back"),
        "{}",
        r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["trees"][0]["damaged"][0]["path"], "text");
    assert_eq!(std::fs::read(out.join("root/big")).unwrap(), b"big data");
    assert!(!out.join("root/text").exists());
}

#[test]
fn a_name_leading_out_fails_and_leaves_nothing() {
    let tmp = tempdir();
    let m = pbswrite::pxar::Meta::mode(0o100644);
    let tree = Node::Dir(
        pbswrite::pxar::Meta::mode(0o040755),
        vec![
            (b"fine".to_vec(), Node::File(m.clone(), b"ok".to_vec())),
            (b"../escaped".to_vec(), Node::File(m, b"evil".to_vec())),
        ],
    );
    let (snap, _, _) = store(&tmp.path().join("store"), &tree, None, false);
    let out = tmp.path().join("out");
    let r = run(&["extract", s(&snap), s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("../escaped") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    assert!(!tmp.path().join("escaped").exists());
}

/// SIGTERM while a tree is half extracted: the temporary tree and the output directory go. The
/// restore is held in the middle by a chunk file that is a FIFO nobody writes.
#[test]
fn sigterm_during_a_tree_restore_leaves_nothing() {
    let tmp = tempdir();
    let store_dir = tmp.path().join("store");
    let (snap, _, _) = store(&store_dir, &pbswrite::pxar::sample_tree(), None, false);
    let didx = std::fs::read(snap.join("root.pxar.didx")).unwrap();
    let last: String = didx[didx.len() - 32..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let chunk = store_dir.join(".chunks").join(&last[..4]).join(&last);
    std::fs::remove_file(&chunk).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(&chunk)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = tmp.path().join("out");
    let child = crate::util::pverescue()
        .args(["extract", s(&snap), s(&out)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = out.join(format!(".root.partial-{}", child.id()));
    let start = std::time::Instant::now();
    while !partial.exists() {
        assert!(
            start.elapsed().as_secs() < 20,
            "{} never appeared",
            partial.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Let it write what comes before the FIFO chunk.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(partial.join("empty").exists() || partial.join("big").exists());
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let r = child.wait_with_output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        !out.exists(),
        "left: {:?}",
        std::fs::read_dir(&out).map(|d| d.count())
    );
}

/// A missing chunk that holds only a file's data: that file is left out and named, the rest of
/// the tree is restored (exit 1).
#[test]
fn a_missing_chunk_of_file_data_leaves_out_that_file_only() {
    let tmp = tempdir();
    let store_dir = tmp.path().join("store");
    let (snap, meta, _) = store(&store_dir, &pbswrite::pxar::sample_tree(), None, false);
    let didx = std::fs::read(snap.join("root.pxar.didx")).unwrap();
    // The chunk holding byte 200 000: inside `big` (its first MiB is 0x5a), whose data starts
    // within the first chunk.
    assert_eq!(meta[200_000], 0x5a);
    let entry = (0..(didx.len() - 4096) / 40)
        .map(|i| 4096 + 40 * i)
        .find(|&o| u64::from_le_bytes(didx[o..o + 8].try_into().unwrap()) > 200_000)
        .unwrap();
    let digest: String = didx[entry + 8..entry + 40]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::remove_file(store_dir.join(".chunks").join(&digest[..4]).join(&digest)).unwrap();
    let out = tmp.path().join("out");
    let r = run(&["--json", "extract", s(&snap), s(&out)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let damaged = &v["trees"][0]["damaged"];
    assert_eq!(damaged.as_array().map(Vec::len), Some(1), "{damaged}");
    assert_eq!(damaged[0]["path"], "big");
    assert!(r.stderr.contains("big: left out"), "{}", r.stderr);
    assert!(!out.join("root/big").exists());
    assert_eq!(
        std::fs::read(out.join("root/text")).unwrap(),
        b"some text\n"
    );
    assert_eq!(
        std::fs::read(out.join("root/sub/inner")).unwrap(),
        b"inner\n"
    );
}

/// As an ordinary user (here `nobody`, switched to by `setpriv`): the tree is restored, owned by
/// the user; devices are not created and capabilities not set, and the warnings say so (exit 1).
#[test]
fn as_an_ordinary_user_devices_and_capabilities_are_listed_not_applied() {
    if !is_root() {
        testimg::skip(
            "as_an_ordinary_user_devices_and_capabilities_are_listed_not_applied",
            "needs root to switch to another user",
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (snap, _, _) = store(
        &tmp.path().join("store"),
        &pbswrite::pxar::sample_tree(),
        None,
        false,
    );
    let out = tmp.path().join("out");
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_pverescue"))
        .args(["--json", "extract", s(&snap), s(&out)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["trees"][0];
    assert_eq!(t["owners"], false);
    let what: Vec<(String, String)> = t["not_applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_owned(),
                n["what"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("sda", "device 8:0"),
        ("null", "device 1:3"),
        ("suid", "file capabilities"),
    ] {
        assert!(
            what.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {what:?}"
        );
    }
    let m = std::fs::metadata(out.join("root/suid")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&m), 65534);
    assert_eq!(
        std::fs::read(out.join("root/sub/inner")).unwrap(),
        b"inner\n"
    );
    assert!(!out.join("root/sda").exists());
    // Modes are kept (setgid too: the directory's group is the user's own).
    let m = std::fs::metadata(out.join("root/sub")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o2775);
}

/// A small tree whose every byte the test states: `etc/hostname`, `etc/motd` (a hardlink to
/// it), `link` (a symlink into `etc`), `data/blob` (64 KiB of a pattern).
fn browse_tree() -> Node {
    use pbswrite::pxar::Meta;
    let mut host = Meta::mode(0o100640);
    host.uid = 101;
    host.gid = 202;
    host.mtime = (1_700_000_123, 5);
    let blob: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    Node::Dir(
        Meta::mode(0o040755),
        vec![
            (
                b"data".to_vec(),
                Node::Dir(
                    Meta::mode(0o040700),
                    vec![(b"blob".to_vec(), Node::File(Meta::mode(0o100600), blob))],
                ),
            ),
            (
                b"etc".to_vec(),
                Node::Dir(
                    Meta::mode(0o040755),
                    vec![
                        (b"hostname".to_vec(), Node::File(host, b"ct200\n".to_vec())),
                        (b"motd".to_vec(), Node::Hardlink(b"etc/hostname".to_vec())),
                    ],
                ),
            ),
            (
                b"link".to_vec(),
                Node::Symlink(Meta::mode(0o120777), b"etc/hostname".to_vec()),
            ),
        ],
    )
}

#[test]
fn ls_cat_and_cp_browse_a_container_snapshot_and_a_pxar_file() {
    let tmp = tempdir();
    for (i, split) in [None, Some(Split::default())].iter().enumerate() {
        let (snap, meta, payload) = store(
            &tmp.path().join(format!("store{i}")),
            &browse_tree(),
            split.as_ref(),
            false,
        );
        let r = run(&["cat", s(&snap), "/link"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "ct200\n"), "{}", r.stderr);
        let r = run(&["cat", s(&snap), "etc/motd"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "ct200\n"), "{}", r.stderr);
        let r = run(&["ls", s(&snap), "-l", "/etc"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let line = r.stdout.lines().find(|l| l.ends_with("hostname")).unwrap();
        assert!(line.starts_with("-rw-r-----"), "{line}");
        assert!(line.contains("101") && line.contains("202"), "{line}");
        let r = run(&["--json", "ls", s(&snap), "/"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let names: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["data", "etc", "link"], "{}", r.stdout);
        // cp of a directory: contents and the hardlink kept.
        let dest = tmp.path().join(format!("dest{i}"));
        std::fs::create_dir(&dest).unwrap();
        let r = run(&["cp", s(&snap), "/etc", "/data", s(&dest)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            std::fs::read(dest.join("etc/hostname")).unwrap(),
            b"ct200\n"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(dest.join("etc/hostname")).unwrap().ino(),
            std::fs::metadata(dest.join("etc/motd")).unwrap().ino()
        );
        let blob: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(std::fs::read(dest.join("data/blob")).unwrap(), blob);
        // The same archive as plain files: `.pxar`, or `.mpxar` with its `.ppxar` beside it.
        let file = match &payload {
            None => {
                let f = tmp.path().join("root.pxar");
                std::fs::write(&f, &meta).unwrap();
                f
            }
            Some(p) => {
                let f = tmp.path().join("root.mpxar");
                std::fs::write(&f, &meta).unwrap();
                std::fs::write(tmp.path().join("root.ppxar"), p).unwrap();
                f
            }
        };
        let out = crate::util::pverescue()
            .args(["cat", s(&file), "data/blob"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == blob,
            "cat of the .pxar file gives other bytes"
        );
    }
}
