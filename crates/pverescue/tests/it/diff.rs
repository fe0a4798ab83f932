//! Differential backups and deltas, made by the real tools at test time.
//!
//! Fulls and differentials are made the way the vzdump patches made them
//! (`xdelta3 -e -q -c -s FULL.vma.gz < NEW.vma | zstd`), rdiff deltas with Debian's `rdiff`.
//! Expected outputs are the sha256 of the inputs the deltas were made from (and `xdelta3 -d`
//! reproduces them too), never our own output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const FULL: &str = "vzdump-qemu-200-2026_01_01-00_00_00.vma.gz";
const DIFF: &str =
    "vzdump-qemu-200-2026_01_01-00_00_00.vma.gz--differential-2026_01_02-00_00_00.vcdiff.zst";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A backup directory with a gzip full and a zstd differential made by xdelta3, plus the
/// sha256 of what the differential stands for.
struct Set {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dump: PathBuf,
    /// sha256 of NEW.vma, the archive the differential was made from.
    new_vma_sha: String,
    /// name → sha256 of the images and configs inside NEW.vma.
    new_files: std::collections::BTreeMap<String, (String, u64)>,
}

impl Set {
    fn full(&self) -> PathBuf {
        self.dump.join(FULL)
    }
    fn diff(&self) -> PathBuf {
        self.dump.join(DIFF)
    }
}

fn vzdump_set() -> Set {
    require_tool("xdelta3", "xdelta3");
    require_tool("zstd", "zstd");
    require_tool("gzip", "gzip");
    let tmp = tempdir();
    let root = tmp.path().to_path_buf();
    let fixture = testdata("vma/vzdump-qemu-200-2026_01_01-00_00_00.vma");
    let img = root.join("img");
    let r = run(&["extract", "-q", s(&fixture), s(&img)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // About 5 % of the first disk changes, in scattered places.
    let disk = img.join("disk-drive-scsi0.raw");
    let mut data = fs::read(&disk).expect("read disk");
    for i in 0..50u64 {
        let at = ((i * 2_654_435_761) % (data.len() as u64 - 8192)) as usize;
        for (k, b) in data[at..at + 8192].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(k as u8) | 1;
        }
    }
    fs::write(&disk, &data).expect("write disk");
    let new_vma = root.join("new.vma");
    let r = run(&[
        "create",
        "-q",
        s(&new_vma),
        "--uuid",
        "0c0ffee0-1234-4abc-8def-000000000201",
        "--ctime",
        "1767312000",
        "-c",
        s(&img.join("qemu-server.conf")),
        "-c",
        s(&img.join("qemu-server.fw")),
        "-d",
        &format!("drive-scsi0={}", s(&disk)),
        "-d",
        &format!("drive-virtio1={}", s(&img.join("disk-drive-virtio1.raw"))),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut new_files = std::collections::BTreeMap::new();
    for e in fs::read_dir(&img).expect("img") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        new_files.insert(
            name,
            (sha256_file(&p), fs::metadata(&p).expect("stat").len()),
        );
    }
    let dump = root.join("dump");
    fs::create_dir(&dump).expect("mkdir");
    sh(&dump, &format!("gzip -c '{}' > {FULL}", s(&fixture)));
    // The vzdump pipeline of the pve-patches (spec section 2.3).
    sh(
        &dump,
        &format!(
            "xdelta3 -e -q -c -s {FULL} < '{}' | zstd -q > {DIFF}",
            s(&new_vma)
        ),
    );
    let new_vma_sha = sha256_file(&new_vma);
    // The reference decoder reproduces NEW.vma from the files: the fixture is sound.
    sh(
        &dump,
        &format!("zstd -dc {DIFF} | xdelta3 -d -c -s {FULL} > ../xdelta3.vma"),
    );
    assert_eq!(sha256_file(&root.join("xdelta3.vma")), new_vma_sha);
    Set {
        _tmp: tmp,
        root,
        dump,
        new_vma_sha,
        new_files,
    }
}

#[test]
fn vzdump_differential_extracts_lists_and_merges() {
    let set = vzdump_set();
    let out = set.root.join("restore");
    let r = run(&["extract", "-q", s(&set.diff()), s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_dir_matches(&out, &set.new_files);
    // The same restore from the archive the real xdelta3 rebuilt: file for file identical.
    let from_xdelta3 = set.root.join("restore-xdelta3");
    let r = run(&[
        "extract",
        "-q",
        s(&set.root.join("xdelta3.vma")),
        s(&from_xdelta3),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut theirs = std::collections::BTreeMap::new();
    for e in fs::read_dir(&from_xdelta3).expect("dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        theirs.insert(
            name,
            (sha256_file(&p), fs::metadata(&p).expect("stat").len()),
        );
    }
    assert_dir_matches(&out, &theirs);

    let r = run(&["list", s(&set.diff())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("devname: drive-virtio1"), "{}", r.stdout);
    let r = run(&["config", s(&set.diff())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        fs::read_to_string(out.join("qemu-server.conf")).expect("conf")
    );

    let merge_to =
        |out: &std::path::Path| run(&["merge", "-q", s(&set.full()), s(&set.diff()), "-o", s(out)]);
    let merged = set.root.join("merged.vma");
    let r = merge_to(&merged);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sha256_file(&merged), set.new_vma_sha);

    // Recompressed by extension; zstd itself decompresses it to NEW.vma.
    let zst = set.root.join("merged.vma.zst");
    let r = merge_to(&zst);
    assert_eq!(r.code, 0, "{}", r.stderr);
    sh(&set.root, "zstd -dc merged.vma.zst > unz.vma");
    assert_eq!(sha256_file(&set.root.join("unz.vma")), set.new_vma_sha);

    // Never overwritten.
    let r = merge_to(&merged);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    // Arguments swapped: the "diff" is a full.
    let r = run(&[
        "merge",
        s(&set.diff()),
        s(&set.full()),
        "-o",
        s(&set.root.join("x.vma")),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a differential"), "{}", r.stderr);
    assert!(!set.root.join("x.vma").exists());
}

#[test]
fn merge_json() {
    let set = vzdump_set();
    let out = set.root.join("merged.vma.lzo");
    let r = run(&[
        "merge",
        "--json",
        s(&set.full()),
        s(&set.diff()),
        "-o",
        s(&out),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let root = s(&set.root).to_owned();
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout.replace(&root, "[TMP]")).expect("json");
    insta::assert_json_snapshot!(v, {".seconds" => "[SECONDS]", ".file_bytes" => "[BYTES]"});
    require_tool("lzop", "lzop");
    sh(&set.root, "lzop -dc merged.vma.lzo > unlzo.vma");
    assert_eq!(sha256_file(&set.root.join("unlzo.vma")), set.new_vma_sha);
}

#[test]
fn full_and_diff_with_different_compressors() {
    // A zstd full and an lzop diff, as when a job's compressor changed: stock xdelta3 cannot
    // read a zstd source, so the delta is made from the decompressed full (spec section 5).
    let set = vzdump_set();
    require_tool("lzop", "lzop");
    let dir = set.root.join("mixed");
    fs::create_dir(&dir).expect("mkdir");
    let stem = "vzdump-qemu-200-2026_01_01-00_00_00.vma";
    let fixture = testdata(&format!("vma/{stem}"));
    sh(
        &dir,
        &format!("cp '{}' {stem} && zstd -q --rm {stem}", s(&fixture)),
    );
    let diff = format!("{stem}.zst--differential-2026_01_02-00_00_00.vcdiff.lzo");
    sh(
        &dir,
        &format!(
            "xdelta3 -e -q -c -s '{}' < ../new.vma | lzop -c > {diff}",
            s(&fixture)
        ),
    );
    let out = set.root.join("restore");
    let r = run(&["extract", "-q", s(&dir.join(&diff)), s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_dir_matches(&out, &set.new_files);
}

#[test]
fn wrong_base_fails_with_the_name_it_was_made_against() {
    let set = vzdump_set();
    let out = set.root.join("restore");
    let other = testdata("real/vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo");
    let r = run(&["extract", "--base", s(&other), s(&set.diff()), s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(!out.exists(), "nothing may be left behind");
    let root = s(&set.root).to_owned();
    let stderr = r
        .stderr
        .replace(&root, "[TMP]")
        .replace(s(&root_dir()), "[ROOT]");
    insta::assert_snapshot!(stderr);

    // The same full re-made (another uuid and ctime) has the right name but the wrong bytes.
    let remade = set.root.join("remade");
    fs::create_dir(&remade).expect("mkdir");
    let r = run(&[
        "create",
        "-q",
        s(&remade.join("vzdump-qemu-200-2026_01_01-00_00_00.vma")),
        "-d",
        s(&set.root.join("img/disk-drive-scsi0.raw")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    sh(&remade, "gzip vzdump-qemu-200-2026_01_01-00_00_00.vma");
    fs::copy(set.diff(), remade.join(DIFF)).expect("copy");
    let r = run(&["verify", s(&remade.join(DIFF))]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("adler-32 mismatch"), "{}", r.stdout);
    let r = run(&["list", s(&remade.join(DIFF))]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("does not hold the data the differential expects"),
        "{}",
        r.stderr
    );
}

fn root_dir() -> PathBuf {
    root()
}

#[test]
fn truncated_differential_fails_and_leaves_nothing() {
    let set = vzdump_set();
    let len = fs::metadata(set.diff()).expect("stat").len();
    let cut = set.root.join("cut");
    fs::create_dir(&cut).expect("mkdir");
    fs::copy(set.full(), cut.join(FULL)).expect("copy");
    let data = fs::read(set.diff()).expect("read");
    fs::write(cut.join(DIFF), &data[..(len / 2) as usize]).expect("write");
    let out = set.root.join("restore");
    let r = run(&["extract", s(&cut.join(DIFF)), s(&out)]);
    assert_eq!(r.code, 2);
    assert!(!out.exists(), "nothing may be left behind");
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    let merged = set.root.join("m.vma");
    let r = run(&[
        "merge",
        s(&cut.join(FULL)),
        s(&cut.join(DIFF)),
        "-o",
        s(&merged),
    ]);
    assert_eq!(r.code, 2);
    assert!(!merged.exists(), "a failed merge leaves no output");
    assert_eq!(
        fs::read_dir(&set.root)
            .expect("dir")
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains("partial")))
            .count(),
        0,
        "no temporary file is left"
    );
}

#[test]
fn verify_a_backup_directory() {
    let set = vzdump_set();
    // An orphan: a differential whose full was purged, and a log that is not a backup.
    fs::copy(
        set.diff(),
        set.dump
            .join("vzdump-qemu-201-2026_01_01-00_00_00.vma.zst--differential-2026_01_02-00_00_00.vcdiff.zst"),
    )
    .expect("copy");
    fs::write(
        set.dump.join("vzdump-qemu-200-2026_01_01-00_00_00.log"),
        "log\n",
    )
    .expect("log");
    let dump = s(&set.dump).to_owned();
    let r = run(&["verify", &dump]);
    assert_eq!(r.code, 2, "an orphan fails: {}", r.stdout);
    insta::assert_snapshot!(r.stdout.replace(&dump, "[DIR]"));
    let r = run(&["verify", "--json", &dump]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout.replace(&dump, "[DIR]")).expect("json");
    insta::assert_json_snapshot!(v);

    fs::remove_file(set.dump.join(
        "vzdump-qemu-201-2026_01_01-00_00_00.vma.zst--differential-2026_01_02-00_00_00.vcdiff.zst",
    ))
    .expect("rm");
    let r = run(&["verify", "-q", &dump]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.stdout, "");
}

#[test]
fn base_found_given_or_missing() {
    let set = vzdump_set();
    // On stdin there is no name to derive the full from.
    let diff_bytes = fs::read(set.diff()).expect("read");
    let mut cmd = pverescue();
    cmd.args(["list", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = pipe_in(cmd, &diff_bytes);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(out.stderr);
    let mut cmd = pverescue();
    cmd.args(["list", "-", "--base", s(&set.full())]);
    let out = pipe_in(cmd, &diff_bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A full under another name: it works, with a warning (exit 1).
    let renamed = set.root.join("copy-of-the-full.vma.gz");
    fs::copy(set.full(), &renamed).expect("copy");
    let r = run(&["verify", "--base", s(&renamed), s(&set.diff())]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "the differential was made against {FULL} (its vcdiff app header), but the base used is"
        )),
        "{}",
        r.stdout
    );

    // The full is gone.
    let alone = set.root.join("alone");
    fs::create_dir(&alone).expect("mkdir");
    fs::copy(set.diff(), alone.join(DIFF)).expect("copy");
    let r = run(&["list", s(&alone.join(DIFF))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is missing"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("made against {FULL}")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);

    // A differential given as the base.
    let r = run(&["list", "--base", s(&set.diff()), s(&set.diff())]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("itself a differential"), "{}", r.stderr);
}

fn pipe_in(mut cmd: Command, input: &[u8]) -> Run {
    use std::io::Write;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn real_proxmox_differential_restores_bit_exactly() {
    // Values from testdata/real/README.md (what pve-xdelta3 and the real vma produced).
    let diff = testdata(
        "real/vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst",
    );
    let full = testdata("real/vzdump-qemu-100-2020_05_01-01_00_02.vma.zst");
    let tmp = tempdir();
    let out = tmp.path().join("restore");
    let r = run(&["extract", "-q", s(&diff), s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sha256_file(&out.join("disk-drive-scsi0.raw")),
        "48f1eed4c01dbc000321d585a351ae33994124ca62981aee822b2e1544999acb"
    );
    assert_eq!(
        sha256_file(&out.join("qemu-server.conf")),
        "1b7ec01c436d1d108119b9e961dfb26525421284eb401844f09567907036f5f2"
    );
    let merged = tmp.path().join("merged.vma");
    let r = run(&["merge", "-q", s(&full), s(&diff), "-o", s(&merged)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::metadata(&merged).expect("stat").len(), 11_042_304);
    assert_eq!(
        sha256_file(&merged),
        "8c520a09e7700257dade1ff29fe419ed8b007084cfc057f9ff97b9a553cdf044"
    );
}

#[test]
fn container_differential_merges_to_a_tar() {
    require_tool("xdelta3", "xdelta3");
    require_tool("tar", "tar");
    let tmp = tempdir();
    let root = tmp.path();
    let ct = root.join("ct");
    fs::create_dir_all(ct.join("etc")).expect("mkdir");
    fs::write(ct.join("etc/hostname"), "ct300\n").expect("write");
    fs::write(ct.join("big.bin"), vec![7u8; 300_000]).expect("write");
    sh(root, "tar -cf full.tar -C ct .");
    fs::write(ct.join("etc/hostname"), "ct300-renamed\n").expect("write");
    fs::write(ct.join("new.txt"), "added\n").expect("write");
    sh(root, "tar -cf new.tar -C ct .");
    let full = "vzdump-lxc-300-2026_01_01-00_00_00.tar.gz";
    let diff = format!("{full}--differential-2026_01_02-00_00_00.vcdiff.zst");
    sh(
        root,
        &format!(
            "gzip -c full.tar > {full} && xdelta3 -e -q -c -s {full} < new.tar | zstd -q > {diff}"
        ),
    );
    let out = root.join("merged.tar");
    let r = run(&[
        "merge",
        s(&root.join(full)),
        s(&root.join(&diff)),
        "-o",
        s(&out),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(tar, "), "{}", r.stdout);
    assert_eq!(sha256_file(&out), sha256_file(&root.join("new.tar")));
    sh(root, "tar -tf merged.tar > /dev/null");

    let r = run(&["verify", s(&root.join(&diff)), s(&root.join(full))]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains(", tar, "), "{}", r.stdout);
    // list/extract are for VMA archives and say so.
    let r = run(&["list", s(&root.join(&diff))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("this is a tar archive"), "{}", r.stderr);

    // A tar cut short fails the structural check.
    let data = fs::read(root.join("new.tar")).expect("read");
    fs::write(
        root.join("vzdump-lxc-301-2026_01_01-00_00_00.tar"),
        &data[..4096],
    )
    .expect("cut");
    let r = run(&[
        "verify",
        s(&root.join("vzdump-lxc-301-2026_01_01-00_00_00.tar")),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.contains("tar archive is damaged: truncated"),
        "{}",
        r.stdout
    );
}
