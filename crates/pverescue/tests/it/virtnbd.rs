//! `list`, `extract` and `verify` of virtnbdbackup directories written by `vnbdwrite` (the
//! test-only writer, checked against the real virtnbdrestore in the virtnbd crate's tests): the
//! seed case of issue 14 (full → inc1 → diff → inc2), compared by SHA-256 with the disk states the
//! scenario built, never with what pverescue reads.

// Test code: a failed step fails the test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use sha2::{Digest, Sha256};
use vnbdwrite::Options;
use vnbdwrite::scenario::{File, seed, write_chain};

use crate::util::{allocated, pverescue, run_cmd, run_ok_in, sha256_file, tempdir};

const SIZE: usize = 4 << 20;
const CPT: &[&str] = &["virtnbdbackup.0", "virtnbdbackup.1", "virtnbdbackup.2"];

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The seed chain in `dir`, with a distinct domain XML saved with every point.
fn chain(dir: &Path, files: &[File], o: Options) {
    write_chain(dir, files, o, CPT);
    for f in files {
        let ident = f.name.trim_start_matches("vda.").trim_end_matches(".data");
        let ident = ident
            .split_once('.')
            .map_or("virtnbdbackup.0", |(_, id)| id);
        let xml = vnbdwrite::domain_xml("vm1", &["vda"])
            .replace("<vcpu>", &format!("<!-- {ident} --><vcpu>"));
        std::fs::write(dir.join(format!("vmconfig.{ident}.xml")), xml).expect("xml");
    }
}

/// The seed chain, LZ4-compressed, in a new directory.
fn lz4_seed_dir() -> tempfile::TempDir {
    let tmp = tempdir();
    let (files, _) = seed(SIZE, false);
    chain(
        tmp.path(),
        &files,
        Options {
            compress: Some(2),
            ..Options::default()
        },
    );
    tmp
}

/// `chain` into `DIR/backup`.
fn backup_in(dir: &Path, files: &[File], o: Options) {
    let src = dir.join("backup");
    std::fs::create_dir(&src).expect("mkdir");
    chain(&src, files, o);
}

fn run_in(dir: &Path, args: &[&str]) -> crate::util::Run {
    run_cmd(pverescue().args(args).current_dir(dir))
}

#[test]
fn virtnbd_list_shows_every_point_with_its_files() {
    let tmp = lz4_seed_dir();
    let r = run_ok_in(tmp.path(), &["list", "."]);
    insta::assert_snapshot!("virtnbd_list", r.stdout);
    let r = run_ok_in(tmp.path(), &["--json", "list", "."]);
    insta::assert_snapshot!("virtnbd_list_json", r.stdout);
}

#[test]
fn virtnbd_list_names_broken_points_and_exits_1() {
    let tmp = tempdir();
    let (files, _) = seed(SIZE, false);
    // inc1 lost: the diff is an orphan and inc2 is broken; the full is fine.
    let kept: Vec<File> = [0, 2, 3].iter().map(|&i| files[i].clone()).collect();
    chain(tmp.path(), &kept, Options::default());
    let r = run_in(tmp.path(), &["list", "."]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    insta::assert_snapshot!("virtnbd_list_broken", r.stdout);
}

#[test]
fn virtnbd_extract_restores_the_point_asked_for() {
    let (files, states) = seed(SIZE, false);
    for o in [
        Options::default(),
        Options {
            compress: Some(2),
            split: 128 << 10,
            ..Options::default()
        },
    ] {
        let tmp = tempdir();
        backup_in(tmp.path(), &files, o);
        for (until, state, xml) in [
            (None, 3, "virtnbdbackup.2"),
            (Some("virtnbdbackup.2"), 3, "virtnbdbackup.2"),
            (Some("vda.diff.1796292000.data"), 2, "1796292000"),
            (Some("virtnbdbackup.1"), 1, "virtnbdbackup.1"),
            (Some("virtnbdbackup.0"), 0, "virtnbdbackup.0"),
        ] {
            let out = tmp
                .path()
                .join(format!("out-{}", until.unwrap_or("newest")));
            let mut args = vec!["extract", "backup", out.to_str().expect("utf-8")];
            if let Some(u) = until {
                args.extend(["--until", u]);
            }
            let r = run_ok_in(tmp.path(), &args);
            assert!(r.stdout.contains("vda.raw"), "{}", r.stdout);
            let img = out.join("vda.raw");
            assert_eq!(sha256_file(&img), sha(&states[state]), "--until {until:?}");
            assert_eq!(std::fs::metadata(&img).expect("img").len(), SIZE as u64);
            assert!(
                allocated(&img) < SIZE as u64 / 2,
                "zero runs stay holes: {}",
                allocated(&img)
            );
            let config = std::fs::read_to_string(out.join("vmconfig.xml")).expect("config");
            assert!(
                config.contains(&format!("<!-- {xml} -->")),
                "{until:?}: {config}"
            );
        }
    }
}

#[test]
fn virtnbd_extract_refuses_an_unrestorable_point_before_writing() {
    let tmp = tempdir();
    let (files, _) = seed(SIZE, false);
    let kept: Vec<File> = [0, 2, 3].iter().map(|&i| files[i].clone()).collect();
    backup_in(tmp.path(), &kept, Options::default());
    let r = run_in(
        tmp.path(),
        &["extract", "backup", "out", "--until", "virtnbdbackup.2"],
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("virtnbdbackup.1") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert!(!tmp.path().join("out").exists(), "nothing is written");
    // The default is the newest restorable point (the full), with a warning about the rest.
    let r = run_in(tmp.path(), &["extract", "backup", "out"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be restored"), "{}", r.stderr);
}

#[test]
fn virtnbd_extract_map_onto_a_file() {
    let tmp = tempdir();
    let (files, states) = seed(SIZE, false);
    backup_in(
        tmp.path(),
        &files,
        Options {
            compress: Some(2),
            ..Options::default()
        },
    );
    let target = tmp.path().join("disk.img");
    let r = run_ok_in(
        tmp.path(),
        &[
            "extract",
            "backup",
            "--map",
            &format!("vda={}", target.display()),
            "--verify",
        ],
    );
    assert!(r.stdout.contains("verified"), "{}", r.stdout);
    assert_eq!(sha256_file(&target), sha(&states[3]));
}

#[test]
fn virtnbd_verify_checks_every_frame_and_every_chain() {
    let tmp = lz4_seed_dir();
    let r = run_ok_in(tmp.path(), &["verify", "."]);
    insta::assert_snapshot!("virtnbd_verify_ok", r.stdout);
    // A flipped byte inside inc1's first LZ4 block: every point after it fails, the full does not.
    let path = tmp.path().join("vda.inc.virtnbdbackup.1.data");
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.windows(6).position(|w| w == b"data 0").expect("data") + 40 + 15 + 4 + 40;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let r = run_in(tmp.path(), &["verify", "."]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    insta::assert_snapshot!("virtnbd_verify_bad_lz4", r.stdout);
}

#[test]
fn virtnbd_extract_qcow2_passes_qemu_img_check_and_compare() {
    let (files, states) = seed(SIZE, false);
    let tmp = tempdir();
    backup_in(
        tmp.path(),
        &files,
        Options {
            compress: Some(2),
            ..Options::default()
        },
    );
    run_ok_in(
        tmp.path(),
        &[
            "extract",
            "backup",
            "raw",
            "--until",
            "vda.diff.1796292000.data",
        ],
    );
    let r = run_ok_in(
        tmp.path(),
        &[
            "extract",
            "backup",
            "q",
            "--until",
            "vda.diff.1796292000.data",
            "--format",
            "qcow2",
        ],
    );
    assert!(r.stdout.contains("vda.qcow2"), "{}", r.stdout);
    let q = tmp.path().join("q/vda.qcow2");
    let qs = q.to_str().expect("utf-8");
    testimg::run("qemu-img", &["check", qs]);
    let raw = tmp.path().join("raw/vda.raw");
    testimg::run(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "qcow2",
            raw.to_str().expect("utf-8"),
            qs,
        ],
    );
    let conv = tmp.path().join("conv.raw");
    testimg::run(
        "qemu-img",
        &["convert", "-O", "raw", qs, conv.to_str().expect("utf-8")],
    );
    assert_eq!(sha256_file(&conv), sha(&states[2]));
    // Zero runs stay unallocated: qemu-img reports data only where the disk is not zero.
    let data = testimg::qemu_img_data_bytes(&q);
    let nonzero_clusters = states[2]
        .chunks(65536)
        .filter(|c| c.iter().any(|&b| b != 0))
        .count() as u64;
    assert_eq!(data, nonzero_clusters * 65536);
    // Refused where it cannot work.
    let r = run_in(
        tmp.path(),
        &["extract", "backup", "q2", "--format", "qcow2", "--verify"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!tmp.path().join("q2").exists());
}

/// ext4 made by `mkfs.ext4 -d` with `/etc/motd` = "before", then changed by `debugfs -w` to
/// "after": a full of the first state and an incremental of the changed 64 KiB blocks.
/// `cat`, `ls` and `serve` must read each point as the test made it.
#[test]
fn ls_cat_and_serve_read_a_chain_at_two_points_in_time() {
    use vnbdwrite::scenario::{BLOCK, header};
    let tmp = tempdir();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/motd"), "before\n").unwrap();
    std::fs::write(src.join("etc/hostname"), "vm1\n").unwrap();
    let a = testimg::mkfs(
        tmp.path(),
        "a.img",
        8 << 20,
        &["mkfs.ext4", "-q", "-d", src.to_str().unwrap()],
    );
    let b = tmp.path().join("b.img");
    std::fs::copy(&a, &b).unwrap();
    let after = tmp.path().join("after");
    std::fs::write(&after, "after\n").unwrap();
    testimg::run(
        "debugfs",
        &["-w", "-R", "rm /etc/motd", b.to_str().unwrap()],
    );
    testimg::run(
        "debugfs",
        &[
            "-w",
            "-R",
            &format!("write {} /etc/motd", after.display()),
            b.to_str().unwrap(),
        ],
    );
    let (s0, s1) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let size = s0.len();
    let files = vec![
        File {
            name: "vda.full.data".into(),
            header: header("vda", size, "virtnbdbackup.0", "", false, 1),
            extents: vnbdwrite::full_extents(&s0, BLOCK),
        },
        File {
            name: "vda.inc.virtnbdbackup.1.data".into(),
            header: header("vda", size, "virtnbdbackup.1", "virtnbdbackup.0", true, 2),
            extents: vnbdwrite::changed_extents(&s0, &s1, BLOCK),
        },
    ];
    let dir = tmp.path().join("backup");
    std::fs::create_dir(&dir).unwrap();
    write_chain(
        &dir,
        &files,
        Options::default(),
        &["virtnbdbackup.0", "virtnbdbackup.1"],
    );
    let d = dir.to_str().unwrap();
    let cat = |until: Option<&str>| {
        let mut args = vec!["cat", d, "/etc/motd"];
        if let Some(u) = until {
            args.extend(["--until", u]);
        }
        run_cmd(pverescue().args(&args))
    };
    let r = cat(None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "after\n"), "{}", r.stderr);
    let r = cat(Some("virtnbdbackup.0"));
    assert_eq!((r.code, r.stdout.as_str()), (0, "before\n"), "{}", r.stderr);
    let r = cat(Some("vda.inc.virtnbdbackup.1.data"));
    assert_eq!((r.code, r.stdout.as_str()), (0, "after\n"), "{}", r.stderr);
    let r = run_cmd(pverescue().args(["ls", d, "/etc"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().collect::<Vec<_>>(), ["hostname", "motd"]);

    // serve: the disk at the first point, byte for byte the image the test made.
    crate::util::require_tool("nbdcopy", "libnbd-bin");
    let sock = tmp.path().join("s.sock");
    let mut child = pverescue()
        .args([
            "serve",
            d,
            "--until",
            "virtnbdbackup.0",
            "--socket",
            sock.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    testimg::wait_for("the socket", || sock.exists(), || "no socket".into());
    let out = tmp.path().join("out.raw");
    let st = std::process::Command::new("nbdcopy")
        .arg(format!("nbd+unix:///vda?socket={}", sock.display()))
        .arg(&out)
        .status()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(st.success());
    assert_eq!(sha256_file(&out), sha(&s0));
}

#[test]
fn virtnbd_verify_checks_chksum_files() {
    let tmp = lz4_seed_dir();
    // virtnbdbackup's `.chksum`: the decimal Adler-32 of the whole file, from Python's zlib.
    for f in ["vda.full.data", "vda.inc.virtnbdbackup.1.data"] {
        let p = tmp.path().join(f);
        let sum = testimg::run(
            "python3",
            &[
                "-c",
                "import sys, zlib; print(zlib.adler32(open(sys.argv[1], 'rb').read()))",
                p.to_str().expect("utf-8"),
            ],
        );
        std::fs::write(tmp.path().join(format!("{f}.chksum")), sum.trim()).expect("chksum");
    }
    let r = run_ok_in(tmp.path(), &["verify", "."]);
    assert!(!r.stdout.contains("FAILED"), "{}", r.stdout);
    std::fs::write(tmp.path().join("vda.full.data.chksum"), "12345").expect("chksum");
    let r = run_in(tmp.path(), &["verify", "."]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("vda.full.data.chksum records Adler-32 12345"),
        "{}",
        r.stdout
    );
}
