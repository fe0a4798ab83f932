//! Regressions of issue 10 (hardening) items 2–5 and issue 12 item 1: outputs are created and
//! published by one rule that never follows a planted link and never replaces a file that
//! appeared meanwhile; signals remove what was created; names that collide are refused before
//! anything is written; `--verify` fails when the target does not hold what was written.
//!
//! Restores that must be interrupted at a known point read the archive from a pipe: the test
//! writes the first 1.5 MiB (the input is decoded in 1 MiB chunks), waits until the temporary
//! output appears, acts, then writes the rest.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};

use crate::util::{
    expected_files, pverescue, run, run_cmd, run_ok_in, sh, sha256_file, tempdir, testdata,
};

const ARCHIVE: &str = "vma/vzdump-qemu-200-2026_01_01-00_00_00.vma";
/// Enough of an uncompressed 4 MiB archive for its header and some data, not all of it.
const HEAD: usize = 3 << 19;

/// Waits (generously) until `path` exists; fails the test otherwise.
fn wait_for(path: &Path) {
    testimg::wait_for("there", || path.exists(), || path.display().to_string());
}

/// An uncompressed archive of one 4 MiB random disk (drive-scsi0) and a config, in `dir`, with
/// the sha256 of the disk image (computed by `sha256sum`, not by us).
fn big_archive(dir: &Path) -> (PathBuf, String) {
    sh(
        dir,
        "head -c 4194304 /dev/urandom > disk.raw && echo 'cores: 1' > qemu-server.conf && \
         sha256sum disk.raw | cut -d' ' -f1 > disk.sha",
    );
    run_ok_in(
        dir,
        &[
            "create",
            "big.vma",
            "-c",
            "qemu-server.conf",
            "-d",
            "drive-scsi0=disk.raw",
        ],
    );
    let sha = std::fs::read_to_string(dir.join("disk.sha")).unwrap();
    (dir.join("big.vma"), sha.trim().to_owned())
}

/// `pverescue ARGS` reading `archive` from a pipe, after its first [`HEAD`] bytes.
fn spawn_on_pipe(archive: &Path, args: &[&str]) -> (Child, ChildStdin, Vec<u8>) {
    let bytes = std::fs::read(archive).expect("archive");
    assert!(bytes.len() > HEAD + (1 << 20));
    let mut child = pverescue()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pverescue");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&bytes[..HEAD]).expect("write the header");
    (child, stdin, bytes)
}

/// The temporary name a process gives an output (`.NAME.partial-PID`).
fn partial(dir: &Path, name: &str, child: &Child) -> PathBuf {
    dir.join(format!(".{name}.partial-{}", child.id()))
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn issue10_item2_force_never_writes_through_planted_symlinks() {
    let tmp = tempdir();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    let dir = tmp.path().join("restore");
    std::fs::create_dir(&dir).unwrap();
    // Links where round 1 put its temporary names, and at every final name.
    for name in [
        "tmp-disk-drive-scsi0.raw",
        ".tmp-config-qemu-server.conf",
        "disk-drive-scsi0.raw",
        "disk-drive-virtio1.raw",
        "qemu-server.conf",
        "qemu-server.fw",
    ] {
        std::os::unix::fs::symlink(&outside, dir.join(name)).unwrap();
    }
    let archive = testdata(ARCHIVE);
    let r = run(&[
        "extract",
        archive.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    for (name, (sha, _)) in expected_files(&testdata("vma/expected.files")) {
        let p = dir.join(&name);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.file_type().is_file(), "{name} is not a regular file");
        assert_eq!(sha256_file(&p), sha, "{name}");
    }
}

#[test]
fn issue10_item2_a_mapped_file_that_is_a_link_is_refused() {
    let tmp = tempdir();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    let link = tmp.path().join("disk.raw");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let archive = testdata(ARCHIVE);
    let map = format!("drive-scsi0={}", link.display());
    let r = run(&[
        "extract",
        archive.to_str().unwrap(),
        "--map",
        &map,
        "--map",
        "drive-virtio1=skip",
        "--yes",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is a symbolic link"), "{}", r.stderr);
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
}

#[test]
fn issue10_item3_map_file_created_during_the_restore_is_not_replaced() {
    let tmp = tempdir();
    let (archive, sha) = big_archive(tmp.path());
    let target = tmp.path().join("target.raw");
    let map = format!("drive-scsi0={}", target.display());
    let (child, mut stdin, bytes) =
        spawn_on_pipe(&archive, &["extract", "-", "--map", &map, "--yes"]);
    let tmpname = partial(tmp.path(), "target.raw", &child);
    wait_for(&tmpname);
    std::fs::write(&target, b"theirs").unwrap();
    stdin.write_all(&bytes[HEAD..]).unwrap();
    drop(stdin);
    let (code, stderr) = finish(child);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("appeared while it was being restored"),
        "{stderr}"
    );
    assert!(stderr.contains("mv -n"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    // The restored disk is kept, complete, under the temporary name the message gives.
    assert!(stderr.contains(&tmpname.display().to_string()), "{stderr}");
    assert_eq!(sha256_file(&tmpname), sha);
}

fn interrupted_extract_leaves_nothing(sig: &str, code: i32) {
    let tmp = tempdir();
    let (archive, _) = big_archive(tmp.path());
    let dir = tmp.path().join("restore");
    let (child, stdin, _) = spawn_on_pipe(&archive, &["extract", "-", dir.to_str().unwrap()]);
    wait_for(&partial(&dir, "disk-drive-scsi0.raw", &child));
    signal(&child, sig);
    let (got, stderr) = finish(child);
    drop(stdin);
    assert_eq!(got, code, "{stderr}");
    assert!(!dir.exists(), "{} is left: {:?}", dir.display(), ls(&dir));
}

fn ls(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn issue10_item4_sigterm_during_extract_removes_what_it_created() {
    interrupted_extract_leaves_nothing("-TERM", 143);
}

#[test]
fn issue10_item4_ctrl_c_during_extract_removes_what_it_created() {
    interrupted_extract_leaves_nothing("-INT", 130);
}

#[test]
fn issue10_item4_after_sigkill_a_rerun_says_what_was_left() {
    let tmp = tempdir();
    let (archive, _) = big_archive(tmp.path());
    let dir = tmp.path().join("restore");
    let (child, stdin, _) = spawn_on_pipe(&archive, &["extract", "-", dir.to_str().unwrap()]);
    let left = partial(&dir, "disk-drive-scsi0.raw", &child);
    wait_for(&left);
    signal(&child, "-KILL");
    let _ = finish(child);
    drop(stdin);
    let r = run(&["extract", archive.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("interrupted run"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&left.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("rm -r {}", dir.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // --force restores into it, as the hint says.
    let r = run(&[
        "extract",
        archive.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn issue10_item4_sigterm_during_patch_removes_the_partial_output() {
    let tmp = tempdir();
    // A delta of mostly new data, larger than what is written before the signal.
    sh(
        tmp.path(),
        "head -c 1048576 /dev/urandom > base && head -c 3145728 /dev/urandom > new && \
         xdelta3 -e -0 -S none -s base new delta && mkfifo pipe",
    );
    let out = tmp.path().join("out");
    let child = pverescue()
        .args(["patch", "base", "pipe", "-o", "out"])
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let delta = std::fs::read(tmp.path().join("delta")).unwrap();
    assert!(delta.len() > HEAD + (1 << 20));
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join("pipe"))
        .unwrap();
    pipe.write_all(&delta[..HEAD]).unwrap();
    wait_for(&partial(tmp.path(), "out", &child));
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    drop(pipe);
    assert_eq!(code, 143, "{stderr}");
    assert!(!out.exists());
    let names = ls(tmp.path());
    assert!(!names.iter().any(|n| n.contains(".partial-")), "{names:?}");
}

/// An archive with one disk and the given configs, made by `pverescue create` (the real `vma`
/// would take such names too: they are plain file names).
fn archive_with_configs(dir: &Path, configs: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    sh(
        dir,
        "head -c 131072 /dev/urandom > in/disk.raw && echo 'cores: 1' > in/qemu-server.conf",
    );
    let mut args = vec!["create".to_owned(), "a.vma".to_owned()];
    for c in configs {
        std::fs::write(dir.join("in").join(c), b"x").unwrap();
        args.extend(["-c".into(), format!("in/{c}")]);
    }
    args.extend(["-d".into(), "drive-scsi0=in/disk.raw".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok_in(dir, &args);
    dir.join("a.vma")
}

#[test]
fn issue10_item5_names_that_collide_with_our_own_are_refused_before_writing() {
    for (config, other) in [
        ("disk-drive-scsi0.raw", "the image of drive-scsi0"),
        (".qemu-server.conf.partial-7", "temporary names"),
    ] {
        let tmp = tempdir();
        let a = archive_with_configs(tmp.path(), &["qemu-server.conf", config]);
        let dir = tmp.path().join("restore");
        let r = run(&["extract", a.to_str().unwrap(), dir.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(other), "{config}: {}", r.stderr);
        assert!(!dir.exists(), "{config}: something was written");
        // --force into an existing directory: still refused, nothing written.
        std::fs::create_dir(&dir).unwrap();
        let r = run(&[
            "extract",
            a.to_str().unwrap(),
            dir.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(ls(&dir).is_empty(), "{config}: {:?}", ls(&dir));
    }
}

/// Restores drive-scsi0 to a file with `--verify`, after the hook has (or has not) damaged it.
fn verify_with_hook(hook: Option<&str>) -> (crate::util::Run, PathBuf, tempfile::TempDir) {
    let tmp = tempdir();
    let target = tmp.path().join("disk.raw");
    let map = format!("drive-scsi0={}", target.display());
    let archive = testdata(ARCHIVE);
    let mut cmd = pverescue();
    cmd.args([
        "--json",
        "extract",
        archive.to_str().unwrap(),
        "--map",
        &map,
        "--map",
        "drive-virtio1=skip",
        "--yes",
        "--verify",
    ]);
    if let Some(h) = hook {
        cmd.env("PVERESCUE_TEST_BEFORE_VERIFY", h);
    }
    (run_cmd(&mut cmd), target, tmp)
}

#[test]
fn issue12_item1_verify_fails_when_the_target_reads_back_differently() {
    // One byte changed between the write and the re-read.
    let (r, _, _tmp) = verify_with_hook(Some(
        "printf '\\377' | dd of=\"$1\" bs=1 seek=4097 conv=notrunc status=none",
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("reads back differently"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: the target does not hold"),
        "{}",
        r.stderr
    );
}

#[test]
fn issue12_item1_verify_reports_what_was_checked() {
    let (r, target, _tmp) = verify_with_hook(None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["disks"][0]["verified"], serde_json::Value::Bool(true));
    assert_eq!(v["skipped"][0], "drive-virtio1");
    let want = &expected_files(&testdata("vma/expected.files"))["disk-drive-scsi0.raw"];
    assert_eq!(sha256_file(&target), want.0);
}

#[test]
fn issue12_item1_drill_fails_a_vm_whose_restore_reads_back_differently() {
    let tmp = tempdir();
    let archive = testdata(ARCHIVE);
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let drill = |hook: Option<&str>| {
        let mut cmd = pverescue();
        cmd.args([
            "--json",
            "drill",
            archive.to_str().unwrap(),
            "--no-mount",
            "--scratch",
            scratch.to_str().unwrap(),
        ]);
        if let Some(h) = hook {
            cmd.env("PVERESCUE_TEST_BEFORE_VERIFY", h);
        }
        let out = cmd.output().expect("drill");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), v)
    };
    let (code, v) = drill(None);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["vms"][0]["disks"][0]["verified"], true, "{v:#}");
    // Damage only drive-scsi0, between its restore and its re-read.
    let (code, v) = drill(Some(
        "case \"$1\" in *scsi0*) printf '\\377' | dd of=\"$1\" bs=1 seek=4097 conv=notrunc status=none;; esac",
    ));
    assert_eq!(code, 2, "{v:#}");
    let vm = &v["vms"][0];
    assert_eq!(vm["passed"], false, "{v:#}");
    assert_eq!(vm["disks"][0]["verified"], false, "{v:#}");
    assert_eq!(vm["disks"][1]["verified"], true, "{v:#}");
    assert!(
        vm["reason"]
            .as_str()
            .unwrap_or("")
            .contains("reads back differently"),
        "{v:#}"
    );
    assert!(ls(&scratch).is_empty(), "{:?}", ls(&scratch));
}

#[test]
fn issue11_one_word_for_an_uncompressed_archive_in_every_command() {
    let tmp = tempdir();
    sh(
        tmp.path(),
        "head -c 65536 /dev/urandom > disk.raw && echo 'cores: 1' > qemu-server.conf",
    );
    let json = |args: &[&str]| -> serde_json::Value {
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(args);
        let r = run_ok_in(tmp.path(), &json_args);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let created = json(&[
        "create",
        "a.vma",
        "-c",
        "qemu-server.conf",
        "-d",
        "drive-scsi0=disk.raw",
    ]);
    let listed = json(&["list", "a.vma"]);
    let extracted = json(&["extract", "a.vma", "out"]);
    let merged_word = created["compression"].clone();
    assert_eq!(merged_word, "plain", "{created:#}");
    assert_eq!(listed["compression"], merged_word, "{listed:#}");
    assert_eq!(extracted["compression"], merged_word, "{extracted:#}");
}

#[test]
fn issue11_paths_are_recognised_by_content_in_one_place() {
    let tmp = tempdir();
    // A directory given where an archive is expected.
    let r = run(&["list", tmp.path().to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
    assert!(r.stderr.contains("pverescue verify"), "{}", r.stderr);
    // An rdiff delta made by the real rdiff, under a backup's name.
    sh(
        tmp.path(),
        "head -c 100000 /dev/urandom > a && head -c 100000 /dev/urandom > b && \
         rdiff signature a sig && rdiff delta sig b vzdump-qemu-1-2026_01_01-00_00_00.vma",
    );
    let delta = tmp.path().join("vzdump-qemu-1-2026_01_01-00_00_00.vma");
    let r = run(&["extract", delta.to_str().unwrap(), "/nonexistent/out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is an rdiff delta"), "{}", r.stderr);
    assert!(r.stderr.contains("pverescue patch"), "{}", r.stderr);
    // A renamed VMA archive is still one.
    let renamed = tmp.path().join("backup.bin");
    std::fs::copy(testdata(ARCHIVE), &renamed).unwrap();
    let r = run(&["list", renamed.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn issue11_progress_json_is_ndjson_in_bytes_of_the_archive() {
    let tmp = tempdir();
    let (archive, _) = big_archive(tmp.path());
    let out = pverescue()
        .args(["--progress", "json", "extract", "-q"])
        .arg(&archive)
        .arg(tmp.path().join("out"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "-q prints nothing on stdout");
    let size = std::fs::metadata(&archive).unwrap().len();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(!lines.is_empty());
    let done: Vec<u64> = lines.iter().map(|l| l["done"].as_u64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["done"], size);
    assert_eq!(last["total"], size);
    assert!(last["rate"].as_u64().is_some());
    assert_eq!(last["label"], archive.to_str().unwrap());
}
