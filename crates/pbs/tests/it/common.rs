//! Shared helpers: fixture paths, hashing, restoring into a file through `sink`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// `shared/fixtures/pbs`, beside the repository.
pub fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/pbs");
    assert!(
        p.join("datastore/.chunks").is_dir(),
        "the sample datastore is missing: expected {} (shared/ beside the repository)",
        p.display()
    );
    p
}

/// The sample datastore.
pub fn sample_store() -> PathBuf {
    fixtures().join("datastore")
}

/// The raw sample key of the fixture README.
pub const SAMPLE_KEY: &str = "4cc84cf4d29d4ea0a6ad2ded7e5be21eb85458457f10d2e0dd4fd66938dd2d71";
/// Its fingerprint, from the README.
pub const SAMPLE_FINGERPRINT: &str = "ae:d3:71:f7:4b:6f:a4:12:b7:02:26:ee:08:b5:88:a0:92:e3:7f:26:eb:89:ce:0e:7d:e4:17:ee:31:73:2b:4b";

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn sample_key() -> pbs::Key {
    pbs::Key::from_raw(&unhex(SAMPLE_KEY).try_into().unwrap())
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Copies a directory tree, leaving every copy writable.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::write(&to, std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

/// A writable copy of the sample datastore in a new temporary directory.
pub fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("datastore");
    copy_tree(&sample_store(), &store);
    (tmp, store)
}

/// Restores `image` into a new sparse file through `sink` and returns its bytes and the report.
pub fn restore(
    image: &pbs::FixedImage,
    opts: &pbs::RestoreOptions,
) -> pbs::Result<(Vec<u8>, pbs::RestoreReport)> {
    let tmp = tempfile::tempdir().unwrap();
    let created = sink::Created::new();
    let dir = sink::OutDir::create(&tmp.path().join("out"), false, &created).unwrap();
    let disk = sink::Disk {
        id: 0,
        name: "disk".into(),
        size: image.index().size,
    };
    let wopts = sink::WriteOptions {
        digest: true,
        ..Default::default()
    };
    let mut w =
        sink::DiskWriter::new_in_dir(disk, &dir, "disk.raw".as_ref(), wopts, &created).unwrap();
    let report = pbs::restore_fixed(image, Some(&mut w), &mut (), opts)?;
    let written = w.finish(&created).unwrap();
    assert!(sink::verify::verify(&written, None).unwrap());
    created.commit();
    Ok((std::fs::read(&written.path).unwrap(), report))
}

/// The snapshot at `name` (`vm/800/2026-…`) of the store at `root`.
pub fn snapshot(root: &Path, name: &str) -> (pbs::Datastore, pbs::Snapshot) {
    match pbs::locate(&root.join(name)).unwrap() {
        (store, pbs::Located::Snapshot(s)) => (store, s),
        other => panic!("{name} is not a snapshot: {other:?}"),
    }
}

/// `python3` with the `cryptography` package and the `zstd` command, or `None` after printing
/// why the cross-check is skipped.
pub fn python() -> Option<Command> {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("zstd").arg("--version").output().is_ok();
    if !ok {
        // Counted by `cargo xtask test`, and a failure in CI (which installs both).
        testimg::skip(
            "pbs python oracle",
            "the Python oracle needs python3 with `cryptography` (pip) and the zstd command",
        );
        return None;
    }
    let mut c = Command::new("python3");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/pbs_oracle.py"));
    Some(c)
}

/// Runs the oracle with `args`; its stdout.
pub fn oracle(args: &[&str]) -> Option<String> {
    let out = python()?.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pbs_oracle.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}
