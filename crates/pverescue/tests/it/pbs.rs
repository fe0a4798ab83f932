//! `list` and `extract` of a Proxmox Backup Server datastore copy: the sample store of
//! `../shared/fixtures/pbs` (written by a writer checked byte for byte against PBS 3.2.4's own
//! code), whose README gives the sha256 of every decoded image and config: the expected values
//! here come from that README, never from our reader.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::util::{pverescue, run, run_cmd, sha256_file, tempdir};

pub(crate) fn fixture() -> PathBuf {
    crate::util::root().join("../shared/fixtures/pbs")
}

/// The README's "Expected decoded streams": archive path (relative to the store) → sha256.
pub(crate) fn expected() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixture().join("README.md")).expect("fixture README");
    text.lines()
        .skip_while(|l| !l.starts_with("## Expected decoded streams"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0].len() == 64).then(|| (f[2].to_owned(), f[0].to_owned()))
        })
        .collect()
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn list_shows_every_snapshot_of_the_store_and_the_archives_of_one() {
    let store = fixture().join("datastore");
    let r = run(&["list", s(&store)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "vm/800/2026-12-01T21:00:00Z",
            "vm/800/2026-12-02T21:00:00Z",
            "offsite/vm/801/2026-12-03T03:00:00Z"
        ]
    );
    assert!(
        r.stdout.lines().nth(2).unwrap_or("").contains("encrypted"),
        "{}",
        r.stdout
    );
    let r = run(&[
        "--json",
        "list",
        s(&store.join("vm/800/2026-12-01T21:00:00Z")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let archives: Vec<&str> = v[0]["archives"]
        .as_array()
        .expect("archives")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        archives,
        [
            "qemu-server.conf.blob",
            "drive-scsi0.img.fidx",
            "drive-efidisk0.img.fidx"
        ]
    );
}

#[test]
fn extract_a_group_restores_its_newest_snapshot_as_pbs_wrote_it() {
    let want = expected();
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let store = fixture().join("datastore");
    let r = run(&["extract", s(&store.join("vm/800")), s(&out), "--verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("2026-12-02T21:00:00Z"),
        "says which: {}",
        r.stderr
    );
    for (file, archive) in [
        (
            "drive-scsi0.img",
            "vm/800/2026-12-02T21:00:00Z/drive-scsi0.img.fidx",
        ),
        (
            "drive-efidisk0.img",
            "vm/800/2026-12-02T21:00:00Z/drive-efidisk0.img.fidx",
        ),
    ] {
        assert_eq!(sha256_file(&out.join(file)), want[archive], "{file}");
    }
    let conf = want
        .iter()
        .find(|(k, _)| k.starts_with("qemu-server.conf.blob"))
        .expect("conf line")
        .1;
    assert_eq!(&sha256_file(&out.join("qemu-server.conf")), conf);
    // The 4 MiB zero chunk stays a hole.
    assert!(crate::util::allocated(&out.join("drive-scsi0.img")) <= 12_845_056 - (4 << 20));
}

#[test]
fn an_encrypted_snapshot_needs_its_key_before_anything_is_written() {
    let want = expected();
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let snap = fixture().join("datastore/ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let r = run(&["extract", s(&snap), s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ae:d3:71:f7"),
        "names the key: {}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!out.exists(), "nothing written without the key");
    let key = fixture().join("sample-key.json");
    let r = run_cmd(
        pverescue()
            .args(["--json", "extract", s(&snap), s(&out), "--keyfile"])
            .arg(&key),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sha256_file(&out.join("drive-scsi0.img")),
        want["ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx"]
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["snapshot"], "offsite/vm/801/2026-12-03T03:00:00Z");
}

#[test]
fn a_whole_store_is_not_extracted_by_accident() {
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let r = run(&["extract", s(&fixture().join("datastore")), s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("give a snapshot or a group"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn verify_reads_every_chunk_once_and_names_every_snapshot_a_bad_chunk_breaks() {
    let tmp = tempdir();
    let copy = tmp.path().join("datastore");
    crate::util::sh(
        tmp.path(),
        &format!(
            "cp -r '{}' datastore && chmod -R u+w datastore",
            s(&fixture().join("datastore"))
        ),
    );
    let r = run(&[
        "verify",
        s(&copy),
        "--keyfile",
        s(&fixture().join("sample-key.json")),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK   ")).count(),
        3,
        "{}",
        r.stdout
    );
    // Without the key: nothing wrong found, but not everything checked (exit 1).
    let r = run(&["verify", s(&copy)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("CRC-checked only"), "{}", r.stdout);

    // The EFI disk's only chunk is shared by both snapshots of VM 800. Its digest is the first
    // entry of the fixed index, right after the index's 4096-byte header (spec pbs.md).
    let fidx = std::fs::read(copy.join("vm/800/2026-12-01T21:00:00Z/drive-efidisk0.img.fidx"))
        .expect("fidx");
    let digest: String = fidx[4096..4128]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let chunk = copy.join(".chunks").join(&digest[..4]).join(&digest);
    let mut bytes = std::fs::read(&chunk).expect("chunk");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&chunk, &bytes).expect("write");
    let r = run(&[
        "--json",
        "verify",
        s(&copy),
        "--keyfile",
        s(&fixture().join("sample-key.json")),
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let bad = v["bad_chunks"].as_array().expect("bad chunks");
    assert_eq!(bad.len(), 1, "{v:#}");
    assert_eq!(bad[0]["digest"], digest);
    let users: Vec<String> = bad[0]["needed_by"]
        .as_array()
        .expect("needed_by")
        .iter()
        .map(|u| {
            format!(
                "{}/{}",
                u[0].as_str().unwrap_or(""),
                u[1].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        users,
        [
            "vm/800/2026-12-01T21:00:00Z/drive-efidisk0.img.fidx",
            "vm/800/2026-12-02T21:00:00Z/drive-efidisk0.img.fidx"
        ]
    );
    let oks: Vec<bool> = v["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["ok"].as_bool().unwrap_or(true))
        .collect();
    assert_eq!(oks, [false, false, true], "{v:#}");
}

#[test]
fn config_of_a_snapshot_prints_the_blob_as_pbs_stored_it() {
    let want = expected();
    let snap = fixture().join("datastore/vm/800/2026-12-01T21:00:00Z");
    let out = pverescue()
        .args(["config", s(&snap)])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&out.stdout)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let conf = want
        .iter()
        .find(|(k, _)| k.starts_with("qemu-server.conf.blob"))
        .expect("conf line")
        .1;
    assert_eq!(&sha, conf);
}

#[test]
fn extract_picks_archives_with_a() {
    let want = expected();
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let snap = fixture().join("datastore/vm/800/2026-12-01T21:00:00Z");
    let r = run(&["extract", s(&snap), s(&out), "-a", "drive-efidisk0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["drive-efidisk0.img"]);
    assert_eq!(
        sha256_file(&out.join("drive-efidisk0.img")),
        want["vm/800/2026-12-01T21:00:00Z/drive-efidisk0.img.fidx"]
    );
    let r = run(&["extract", s(&snap), s(&tmp.path().join("x")), "-a", "nope"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("drive-scsi0.img.fidx"),
        "lists what there is: {}",
        r.stderr
    );
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn bare_metal_from_a_pbs_snapshot_onto_a_loop_device() {
    if !testimg::privileged("bare_metal_from_a_pbs_snapshot_onto_a_loop_device") {
        return;
    }
    let want = expected();
    let tmp = tempdir();
    let backing = tmp.path().join("disk.img");
    // A larger device full of old data: the image must land at its start, verified.
    crate::util::sh(tmp.path(), "head -c 16777216 /dev/urandom > disk.img");
    let dev = testimg::Loop::attach(&backing, 0, 0, &[]);
    let snap = fixture().join("datastore/vm/800/2026-12-01T21:00:00Z");
    let r = run(&[
        "extract",
        s(&snap),
        "--map",
        &format!("scsi0={}", dev.0),
        "--map",
        "efidisk0=skip",
        "--verify",
    ]);
    assert_eq!(r.code, 2, "refused without --yes: {}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    let r = run(&[
        "--json",
        "extract",
        s(&snap),
        "--map",
        &format!("scsi0={}", dev.0),
        "--map",
        "efidisk0=skip",
        "--yes",
        "--verify",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["images"][0]["verified"], true, "{v:#}");
    assert_eq!(v["not_written"][0], "drive-efidisk0.img.fidx");
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("head -c 12845056 {} | sha256sum", dev.0)])
        .output()
        .expect("sha256sum");
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        got.split_whitespace().next(),
        Some(want["vm/800/2026-12-01T21:00:00Z/drive-scsi0.img.fidx"].as_str())
    );
}

#[test]
fn a_password_protected_key_file_is_unlocked_with_password_file() {
    let want = expected();
    let tmp = tempdir();
    let key = password_key_file(tmp.path(), "drill pass");
    std::fs::write(tmp.path().join("pw"), "drill pass\n").expect("pw");
    let snap = fixture().join("datastore/ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let out = tmp.path().join("restore");
    // Without a terminal to ask (a new session has none), it says how to give the password.
    let r = run_cmd(
        std::process::Command::new("setsid")
            .arg("-w")
            .arg(env!("CARGO_BIN_EXE_pverescue"))
            .env_remove("PBS_ENCRYPTION_PASSWORD")
            .args(["extract", s(&snap), s(&out), "--keyfile", s(&key)]),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--password-file"), "{}", r.stderr);
    let r = run(&[
        "extract",
        s(&snap),
        s(&out),
        "--keyfile",
        s(&key),
        "--password-file",
        s(&tmp.path().join("pw")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sha256_file(&out.join("drive-scsi0.img")),
        want["ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx"]
    );
}

#[test]
fn without_a_password_the_terminal_is_asked_without_echo() {
    let want = expected();
    let tmp = tempdir();
    let key = password_key_file(tmp.path(), "tty pass");
    let snap = fixture().join("datastore/ns/offsite/vm/801/2026-12-03T03:00:00Z");
    let out = tmp.path().join("restore");
    // A terminal from Python's pty module: the password is typed once the prompt has appeared
    // (no sleeps), and everything the terminal shows is collected.
    let typist = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
def more():
    global seen
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    seen += chunk
    return bool(chunk)
while b"Password for the key file" not in seen and more():
    pass
os.write(fd, b"tty pass\n")
while more():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let run = std::process::Command::new("python3")
        .args([
            "-c",
            typist,
            env!("CARGO_BIN_EXE_pverescue"),
            "-q",
            "extract",
        ])
        .args([s(&snap), s(&out), "--keyfile", s(&key)])
        .env_remove("PBS_ENCRYPTION_PASSWORD")
        .output()
        .expect("python3");
    let shown = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(shown.contains("Password for the key file"), "{shown}");
    assert!(
        !shown.contains("tty pass"),
        "the password was echoed: {shown}"
    );
    assert_eq!(
        sha256_file(&out.join("drive-scsi0.img")),
        want["ns/offsite/vm/801/2026-12-03T03:00:00Z/drive-scsi0.img.fidx"]
    );
}

/// `DIR/key.json`: the sample's raw key (its README) in a PBS key file protected by `password`
/// (PBKDF2, AES-256-GCM: iv, tag, then the sealed key, spec pbs.md), written by Python's
/// `cryptography`, not by us.
fn password_key_file(dir: &std::path::Path, password: &str) -> PathBuf {
    let script = r#"
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = bytes.fromhex("4cc84cf4d29d4ea0a6ad2ded7e5be21eb85458457f10d2e0dd4fd66938dd2d71")
salt = b"p" * 32
derived = hashlib.pbkdf2_hmac("sha256", sys.argv[2].encode(), salt, 1000, 32)
iv = b"i" * 16
sealed = AESGCM(derived).encrypt(iv, key, None)
b64 = lambda b: base64.b64encode(b).decode()
t = "2026-01-01T00:00:00+00:00"
json.dump({"kdf": {"PBKDF2": {"iter": 1000, "salt": b64(salt)}}, "created": t, "modified": t,
           "data": b64(iv + sealed[-16:] + sealed[:-16])}, open(sys.argv[1], "w"))
"#;
    let key = dir.join("key.json");
    let ok = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&key)
        .arg(password)
        .status()
        .expect("python3");
    assert!(
        ok.success(),
        "python3 with cryptography (cargo xtask install-test-deps)"
    );
    key
}
