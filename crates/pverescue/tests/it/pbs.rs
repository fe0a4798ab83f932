//! `list`, `extract`, `verify` and `config` of Proxmox Backup Server datastore copies: the
//! sample store of `../shared/fixtures/pbs` (written by a writer checked byte for byte against
//! PBS 3.2.4's own code) and our own `testdata/pbs` (`cargo xtask fixtures pbs`: plain, zstd,
//! encrypted, sign-only, a namespace, a group with shared chunks and an unfinished snapshot).
//! Both READMEs give the sha256 of every decoded image and config (the sample's from its
//! makers, ours from the independent Python reader `pbs_oracle.py`): the expected values here
//! come from there, never from our reader.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::util::{pverescue, run, run_cmd, sha256_file, tempdir};

pub(crate) fn fixture() -> PathBuf {
    crate::util::root().join("../shared/fixtures/pbs")
}

/// The README's "Expected decoded streams": archive path (relative to the store) → sha256.
pub(crate) fn expected() -> BTreeMap<String, String> {
    expected_in(&fixture().join("README.md"))
}

/// The "Expected decoded streams" of a fixture README: `<sha256> <size> <archive path>` lines.
fn expected_in(readme: &std::path::Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(readme).expect("fixture README");
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

// Our own fixtures (`testdata/pbs`, see its README).

fn own() -> PathBuf {
    crate::util::testdata("pbs")
}

fn own_expected() -> BTreeMap<String, String> {
    expected_in(&own().join("README.md"))
}

/// The fingerprint of `testdata/pbs/key.json`, from the README.
fn own_fingerprint(which: &str) -> String {
    let text = std::fs::read_to_string(own().join("README.md")).expect("README");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("- `{which}`")))
        .expect("key line");
    line.split("fingerprint `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .expect("fingerprint")
        .to_owned()
}

/// A writable copy of the fixture store in `dir`.
fn own_copy(dir: &std::path::Path) -> PathBuf {
    crate::util::sh(
        dir,
        &format!(
            "cp -r '{}' store && chmod -R u+w store",
            s(&own().join("store"))
        ),
    );
    dir.join("store")
}

/// Every entry left in `dir` (none when it does not exist).
fn left_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_fixture_snapshot_restores_as_the_oracle_decoded_it() {
    let want = own_expected();
    let key = own().join("key.json");
    let mut snapshots: Vec<&str> = want
        .keys()
        .filter_map(|k| k.rsplit_once('/').map(|(snap, _)| snap))
        .collect();
    snapshots.dedup();
    assert_eq!(snapshots.len(), 6, "{want:#?}");
    for snap in snapshots {
        let tmp = tempdir();
        let out = tmp.path().join("restore");
        let path = own().join("store").join(snap);
        let r = run(&[
            "-q",
            "extract",
            s(&path),
            s(&out),
            "--keyfile",
            s(&key),
            "--verify",
        ]);
        assert_eq!(r.code, 0, "{snap}: {}", r.stderr);
        for (file, restored) in [
            ("drive-scsi0.img.fidx", "drive-scsi0.img"),
            ("qemu-server.conf.blob", "qemu-server.conf"),
        ] {
            assert_eq!(
                sha256_file(&out.join(restored)),
                want[&format!("{snap}/{file}")],
                "{snap}/{file}"
            );
        }
    }
}

#[test]
fn list_of_the_fixture_store_shows_times_sizes_crypt_modes_verify_state_and_markers() {
    let store = own().join("store");
    let r = run(&["list", s(&store)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("fixture_list", r.stdout);
    let r = run(&["list", s(&store.join("vm/100/2026-01-01T00:00:00Z"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("fixture_list_snapshot", r.stdout);
    let r = run(&["--json", "list", s(&store)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.stdout.replace(s(&store), "[STORE]");
    insta::assert_snapshot!("fixture_list_json", json);
    // A namespace lists only what is in it; a mount point finds the store below it.
    let r = run(&["list", s(&store.join("ns/offsite"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.starts_with("offsite/vm/100/2026-01-04T00:00:00Z "),
        "{}",
        r.stdout
    );
    let below = run(&["list", s(&own())]);
    assert_eq!(below.code, 0, "{}", below.stderr);
    assert_eq!(
        below.stdout,
        run(&["list", s(&store)]).stdout,
        "a directory holding the store lists it"
    );
}

#[test]
fn a_group_means_its_newest_finished_snapshot_and_says_which() {
    let want = own_expected();
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    // 2026-01-03 is newer but unfinished (no manifest): 2026-01-02 is restored.
    let r = run(&["extract", s(&own().join("store/vm/100")), s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("vm/100/2026-01-02T00:00:00Z"),
        "says which: {}",
        r.stderr
    );
    assert!(
        r.stdout.contains("vm/100/2026-01-02T00:00:00Z"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sha256_file(&out.join("drive-scsi0.img")),
        want["vm/100/2026-01-02T00:00:00Z/drive-scsi0.img.fidx"]
    );
}

#[test]
fn a_missing_or_wrong_key_is_one_line_naming_the_fingerprint_before_anything_is_written() {
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let snap = own().join("store/vm/101/2026-01-01T00:00:00Z");
    let needed = own_fingerprint("key.json");
    let given = own_fingerprint("other-key.json");
    for keys in [
        &[][..],
        &["--keyfile", s(&own().join("other-key.json"))][..],
    ] {
        let mut args = vec!["extract", s(&snap), s(&out)];
        args.extend_from_slice(keys);
        let r = run(&args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or("");
        assert!(
            first.contains(&needed),
            "names the key it needs: {}",
            r.stderr
        );
        if !keys.is_empty() {
            assert!(
                r.stderr.contains(&given[..11]),
                "names the key given: {}",
                r.stderr
            );
        }
        assert!(!out.exists(), "nothing written: {:?}", left_in(&out));
    }
}

#[test]
fn verify_prints_a_line_per_snapshot_then_every_bad_chunk_with_who_needs_it() {
    let tmp = tempdir();
    let store = own_copy(tmp.path());
    let key = own().join("key.json");
    let r = run(&["verify", s(&store), "--keyfile", s(&key)]);
    // Nothing damaged; the unfinished snapshot is reported, not checked: a warning (exit 1).
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("1 unfinished snapshot"), "{}", r.stderr);
    insta::assert_snapshot!("fixture_verify_clean", r.stdout);
    let r = run(&["verify", s(&store.join("vm/100/2026-01-02T00:00:00Z"))]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Without the key, a sign-only snapshot's data is checked, its signature not: exit 1.
    let signed = store.join("host/signed/2026-01-01T00:00:00Z");
    let r = run(&["verify", s(&signed)]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("signature not checked"), "{}", r.stdout);
    let r = run(&["--json", "verify", s(&signed), "--keyfile", s(&key)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["snapshots"][0]["signature"], "verified", "{v:#}");
    // Another key (not the one the manifest names) checks nothing either.
    let r = run(&[
        "verify",
        s(&signed),
        "--keyfile",
        s(&own().join("other-key.json")),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("signature not checked"), "{}", r.stdout);

    // Chunk 4 (text) is shared by the first two snapshots of vm/100, the sign-only snapshot
    // and the namespace's copy; its digest is entry 4 of the fixed index, after the
    // 4096-byte header (spec pbs.md §5).
    let fidx = std::fs::read(store.join("vm/100/2026-01-01T00:00:00Z/drive-scsi0.img.fidx"))
        .expect("fidx");
    let digest: String = fidx[4096 + 4 * 32..4096 + 5 * 32]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let chunk = store.join(".chunks").join(&digest[..4]).join(&digest);
    let mut bytes = std::fs::read(&chunk).expect("chunk");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&chunk, &bytes).expect("write");
    let r = run(&["verify", s(&store), "--keyfile", s(&key)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    insta::assert_snapshot!(
        "fixture_verify_bad_chunk",
        r.stdout.replace(s(&store), "[STORE]")
    );
    let r = run(&["--json", "verify", s(&store), "--keyfile", s(&key)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    insta::assert_snapshot!(
        "fixture_verify_bad_chunk_json",
        r.stdout.replace(s(&store), "[STORE]")
    );
}

/// Each kind of damage: one clear error naming the file, exit 2, and nothing left in OUT (no
/// final name, no temporary).
#[test]
fn damaged_snapshots_fail_with_one_clear_error_and_leave_nothing() {
    let snap = "vm/100/2026-01-01T00:00:00Z";
    let index = |store: &std::path::Path| store.join(snap).join("drive-scsi0.img.fidx");
    let chunk_of = |store: &std::path::Path, i: usize| {
        let fidx = std::fs::read(index(store)).expect("fidx");
        let digest: String = fidx[4096 + i * 32..4096 + (i + 1) * 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        store.join(".chunks").join(&digest[..4]).join(&digest)
    };
    let flip = |path: &std::path::Path, at: usize| {
        let mut b = std::fs::read(path).expect("read");
        b[at] ^= 0x04;
        std::fs::write(path, b).expect("write");
    };
    type Damage = fn(
        &std::path::Path,
        &dyn Fn(&std::path::Path, usize) -> PathBuf,
        &dyn Fn(&std::path::Path, usize),
    );
    let cases: Vec<(&str, Box<Damage>)> = vec![
        // Chunk 5 (noise, stored uncompressed): the restore fails after earlier chunks were
        // written.
        (
            "a flipped byte in a chunk",
            Box::new(|st, chunk, flip| flip(&chunk(st, 5), 100)),
        ),
        (
            "a flipped byte in a compressed chunk",
            Box::new(|st, chunk, flip| flip(&chunk(st, 4), 20)),
        ),
        (
            "a missing chunk",
            Box::new(|st, chunk, _| std::fs::remove_file(chunk(st, 8)).expect("rm")),
        ),
        (
            "a flipped digest in the index",
            Box::new(|st, _, flip| {
                flip(
                    &st.join("vm/100/2026-01-01T00:00:00Z/drive-scsi0.img.fidx"),
                    4096 + 40,
                )
            }),
        ),
        (
            "a flipped size in the index header",
            Box::new(|st, _, flip| {
                flip(
                    &st.join("vm/100/2026-01-01T00:00:00Z/drive-scsi0.img.fidx"),
                    66,
                )
            }),
        ),
        (
            "a truncated index",
            Box::new(|st, _, _| {
                let p = st.join("vm/100/2026-01-01T00:00:00Z/drive-scsi0.img.fidx");
                let b = std::fs::read(&p).expect("read");
                std::fs::write(&p, &b[..b.len() - 20]).expect("write");
            }),
        ),
        (
            "a flipped byte in the config blob",
            Box::new(|st, _, flip| {
                flip(
                    &st.join("vm/100/2026-01-01T00:00:00Z/qemu-server.conf.blob"),
                    30,
                )
            }),
        ),
        (
            "a flipped byte in the manifest",
            Box::new(|st, _, flip| {
                flip(&st.join("vm/100/2026-01-01T00:00:00Z/index.json.blob"), 40)
            }),
        ),
    ];
    let mut report = String::new();
    for (what, damage) in cases {
        let tmp = tempdir();
        let store = own_copy(tmp.path());
        damage(&store, &chunk_of, &flip);
        let out = tmp.path().join("restore");
        let r = run(&["-q", "extract", s(&store.join(snap)), s(&out)]);
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(
            left_in(&out).is_empty(),
            "{what}: left behind {:?}",
            left_in(&out)
        );
        let stderr = r
            .stderr
            .replace(s(&store), "[STORE]")
            .replace(s(&out), "[OUT]");
        assert!(
            stderr.contains("[STORE]/"),
            "{what}: names the file: {stderr}"
        );
        report.push_str(&format!("## {what}\n{stderr}\n"));
    }
    insta::assert_snapshot!("fixture_damage", report);
}

/// `--zero-fill`: a missing chunk and a damaged one become zeros, listed, exit 1; an intact
/// `.bad` copy (a verify job's rename) is used instead. The expected image is the undamaged
/// restore (itself checked against the oracle's sha256) with those ranges zeroed by hand.
#[test]
fn zero_fill_restores_around_bad_chunks_and_lists_every_range() {
    let want = own_expected();
    let snap = "vm/100/2026-01-01T00:00:00Z";
    let tmp = tempdir();
    let store = own_copy(tmp.path());
    let good = tmp.path().join("good");
    let r = run(&["-q", "extract", s(&store.join(snap)), s(&good)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let image = good.join("drive-scsi0.img");
    assert_eq!(
        sha256_file(&image),
        want[&format!("{snap}/drive-scsi0.img.fidx")]
    );
    let fidx = std::fs::read(store.join(snap).join("drive-scsi0.img.fidx")).expect("fidx");
    let chunk = |i: usize| {
        let d: String = fidx[4096 + i * 32..4096 + (i + 1) * 32]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        store.join(".chunks").join(&d[..4]).join(&d)
    };
    // Chunk 1 (noise) damaged, chunk 8 (the short last one) missing, chunk 4 renamed to
    // <digest>.0.bad but intact.
    let mut b = std::fs::read(chunk(1)).expect("chunk 1");
    b[500] ^= 0x80;
    std::fs::write(chunk(1), b).expect("write");
    std::fs::remove_file(chunk(8)).expect("rm");
    let c4 = chunk(4);
    std::fs::rename(
        &c4,
        c4.with_file_name(format!(
            "{}.0.bad",
            s(c4.file_name().expect("name").as_ref())
        )),
    )
    .expect("rename");

    let out = tmp.path().join("out");
    let r = run(&["extract", s(&store.join(snap)), s(&out)]);
    assert_eq!(r.code, 2, "refused without --zero-fill: {}", r.stderr);
    assert!(left_in(&out).is_empty());
    let r = run(&[
        "--json",
        "extract",
        s(&store.join(snap)),
        s(&out),
        "--zero-fill",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let ranges = |key: &str| -> Vec<(u64, u64)> {
        v["images"][0][key]
            .as_array()
            .expect("ranges")
            .iter()
            .map(|r| {
                (
                    r["start"].as_u64().expect("start"),
                    r["end"].as_u64().expect("end"),
                )
            })
            .collect()
    };
    let cs = 64 << 10;
    assert_eq!(ranges("zero_filled"), [(cs, 2 * cs), (8 * cs, 536_576)]);
    assert_eq!(ranges("from_bad_copies"), [(4 * cs, 5 * cs)]);
    assert_eq!(r.stderr.matches("warning:").count(), 3, "{}", r.stderr);
    let mut expected = std::fs::read(&image).expect("good image");
    expected[cs as usize..2 * cs as usize].fill(0);
    expected[8 * cs as usize..].fill(0);
    let got = std::fs::read(out.join("drive-scsi0.img")).expect("restored");
    assert!(got == expected, "zero-filled image differs");
}

#[test]
fn zero_fill_is_refused_for_a_vma_archive() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let r = run(&[
        "extract",
        "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma",
        s(&out),
        "--zero-fill",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Proxmox Backup Server"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn empty_groups_and_writer_leftovers_are_listed_not_fatal() {
    // Spec pbs.md §13b: groups with only `owner`, `*.tmp_fidx` leftovers, `lost+found`.
    let tmp = tempdir();
    let store = own_copy(tmp.path());
    std::fs::create_dir_all(store.join("vm/999")).expect("mkdir");
    std::fs::write(store.join("vm/999/owner"), "root@pam\n").expect("owner");
    std::fs::create_dir_all(store.join("ns/offsite/ct/5")).expect("mkdir");
    std::fs::create_dir_all(store.join("lost+found")).expect("mkdir");
    std::fs::write(
        store.join("vm/100/2026-01-03T00:00:00Z/drive-scsi1.img.tmp_fidx"),
        [0u8; 100],
    )
    .expect("leftover");
    let r = run(&["list", s(&store)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tail: Vec<&str> = r.stdout.lines().skip(7).collect();
    assert_eq!(
        tail,
        [
            "vm/999                               empty group (no snapshots)  owner root@pam",
            "offsite/ct/5                         empty group (no snapshots)",
        ],
        "{}",
        r.stdout
    );
    let r = run(&["--json", "list", s(&store.join("ns/offsite"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v[1]["snapshot"], "offsite/ct/5");
    assert_eq!(v[1]["empty_group"], true);
    assert!(v[0].get("empty_group").is_none(), "{v:#}");
    let r = run(&["verify", s(&store.join("vm/999"))]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no snapshots found here"), "{}", r.stderr);
    let r = run(&["verify", s(&store.join("vm/100"))]);
    assert_eq!(
        r.code, 1,
        "the unfinished one is skipped: {}{}",
        r.stdout, r.stderr
    );
}
