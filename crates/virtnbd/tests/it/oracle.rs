//! The real virtnbdrestore (Debian's virtnbdbackup 1.9.15) restores the chains `vnbdwrite`
//! writes, through libvirt's in-process test driver and qemu-nbd: the writer is checked by an
//! independent reader, and the restored images by the test's own disk states.

use std::path::Path;

use vnbdwrite::Options;

use crate::util::{restore, seed, sha, write_chain};

/// Restores `dir` with virtnbdrestore (optionally `--until`), returns the raw image of vda.
pub fn virtnbdrestore(dir: &Path, until: Option<&str>) -> Vec<u8> {
    let out = tempfile::tempdir().expect("tempdir");
    let o = out.path().join("restore");
    let (i, o_s) = (dir.to_str().expect("utf-8"), o.to_str().expect("utf-8"));
    let mut args = vec!["-i", i, "-o", o_s, "-U", "test:///default"];
    if let Some(u) = until {
        args.extend(["--until", u]);
    }
    testimg::run("virtnbdrestore", &args);
    let qcow = std::fs::read_dir(&o)
        .expect("restore dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "qcow2") || p.file_name().is_some_and(|n| n == "vda")
        })
        .unwrap_or_else(|| {
            panic!(
                "no image in {o:?}: {:?}",
                std::fs::read_dir(&o)
                    .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            )
        });
    let raw = out.path().join("vda.raw");
    let args = [
        "convert",
        "-O",
        "raw",
        qcow.to_str().expect("utf-8"),
        raw.to_str().expect("utf-8"),
    ];
    // The qemu-nbd that virtnbdrestore started may hold the image's lock a moment longer.
    let converted = (0..200).any(|_| {
        let ok = std::process::Command::new("qemu-img")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    });
    if !converted {
        testimg::run("qemu-img", &args);
    }
    std::fs::read(raw).expect("raw")
}

fn chain_dir(o: Options, big: bool) -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let size = if big { 40 << 20 } else { 4 << 20 };
    let (files, states) = seed(size, big);
    let dir = tempfile::tempdir().expect("tempdir");
    write_chain(
        dir.path(),
        &files,
        o,
        &["virtnbdbackup.0", "virtnbdbackup.1", "virtnbdbackup.2"],
    );
    for (i, f) in files.iter().enumerate() {
        let ident = f.name.trim_start_matches("vda.").trim_end_matches(".data");
        let ident = ident
            .split_once('.')
            .map_or("virtnbdbackup.0", |(_, id)| id);
        vnbdwrite::write_file(
            &dir.path().join(format!("vmconfig.{ident}.xml")),
            vnbdwrite::domain_xml("vm1", &["vda"]).as_bytes(),
            i as u64,
        );
    }
    (dir, states)
}

#[test]
fn virtnbdrestore_reads_our_chains_like_we_do() {
    for (what, o, big) in [
        ("plain", Options::default(), true),
        (
            "lz4",
            Options {
                compress: Some(2),
                ..Options::default()
            },
            true,
        ),
        (
            "lz4-small",
            Options {
                compress: Some(1),
                ..Options::default()
            },
            false,
        ),
    ] {
        let (dir, states) = chain_dir(o, big);
        // The whole chain in mtime order: full, inc1, diff, inc2 = the state after inc2.
        let theirs = virtnbdrestore(dir.path(), None);
        assert_eq!(
            sha(&theirs),
            sha(&states[3]),
            "{what}: virtnbdrestore, whole chain"
        );
        let ours = restore(dir.path(), None).expect("restore");
        assert_eq!(
            sha(&ours[0].1),
            sha(&states[3]),
            "{what}: pverescue, newest"
        );
        // --until virtnbdbackup.1 is right in both (no differential shares that name).
        let theirs = virtnbdrestore(dir.path(), Some("virtnbdbackup.1"));
        assert_eq!(
            sha(&theirs),
            sha(&states[1]),
            "{what}: virtnbdrestore --until 1"
        );
    }
}

#[test]
fn issue_37_until_stops_at_the_differential_in_virtnbdrestore_not_here() {
    let (dir, states) = chain_dir(Options::default(), false);
    // virtnbdrestore stops after the first file whose checkpoint is virtnbdbackup.2: the
    // differential, so it gives the state after the diff instead of after inc2.
    let theirs = virtnbdrestore(dir.path(), Some("virtnbdbackup.2"));
    assert_eq!(
        sha(&theirs),
        sha(&states[2]),
        "virtnbdrestore's known wrong point"
    );
    let ours = restore(dir.path(), Some("virtnbdbackup.2")).expect("restore");
    assert_eq!(sha(&ours[0].1), sha(&states[3]), "the state after inc2");
}
