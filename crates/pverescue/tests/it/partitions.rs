//! `pverescue partitions`: tables and offsets checked against sfdisk, sgdisk and lvm2 reports of
//! images those tools made; human and JSON output pinned by snapshots.

use std::path::{Path, PathBuf};

use testimg::{Loop, Lvm, MIB, mkfs, poke, run_stdin, sfdisk_json, sparse, write_at};

use crate::util::*;

/// Runs the binary and replaces `dir` (a temporary directory) by `[TMP]` in both streams.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut r = run(args);
    let d = dir.to_str().expect("utf-8");
    r.stdout = r.stdout.replace(d, "[TMP]");
    r.stderr = r.stderr.replace(d, "[TMP]");
    r
}

/// What the GPT + ext4 disk of [`vma_disk`] holds in `/hello.txt`.
pub const HELLO_VMA: &str = "restored by pverescue\n";

/// Makes a deterministic 8 MiB disk with real tools (sgdisk GPT, partition 1 = ext4 from
/// mkfs.ext4 with fixed UUIDs holding `/hello.txt`), packs it into a VMA with `pverescue create`,
/// extracts that into `dir/out` and returns the restored disk.
pub fn vma_disk(dir: &Path) -> PathBuf {
    let disk = sparse(dir, "disk0.raw", 8 * MIB);
    // No -q: sgdisk 1.0.9 with -q silently leaves a blank file without a table.
    testimg::run(
        "sgdisk",
        &[
            "-U",
            "0c0ffee0-0000-4000-8000-000000000001",
            "-n",
            "1:2048:0",
            "-t",
            "1:8300",
            "-c",
            "1:root",
            "-u",
            "1:0c0ffee0-0000-4000-8000-000000000002",
            s(&disk),
        ],
    );
    let (_, parts) = sfdisk_json(&disk);
    let content = dir.join("content");
    std::fs::create_dir_all(&content).expect("mkdir");
    std::fs::write(content.join("hello.txt"), HELLO_VMA).expect("write");
    let fs = sparse(dir, "p1.fs", parts[0].2 * 512);
    testimg::run_env(
        "mkfs.ext4",
        &[
            "-q",
            "-L",
            "vma-root",
            "-U",
            "0c0ffee0-0000-4000-8000-000000000003",
            "-E",
            "hash_seed=0c0ffee0-0000-4000-8000-000000000004",
            "-d",
            s(&content),
            s(&fs),
        ],
        &[("E2FSPROGS_FAKE_TIME", "1767225600")],
    );
    write_at(&disk, parts[0].1 * 512, &fs);
    let conf = dir.join("qemu-server.conf");
    std::fs::write(&conf, "scsi0: local-lvm:vm-300-disk-0,size=8M\n").expect("conf");
    let vma = dir.join("vzdump-qemu-300-2026_01_01-00_00_00.vma.zst");
    let drive = format!("drive-scsi0={}", s(&disk));
    let r = run(&[
        "create",
        "-q",
        s(&vma),
        "-c",
        s(&conf),
        "-d",
        &drive,
        "--uuid",
        "0c0ffee0-1234-4abc-8def-000000000300",
        "--ctime",
        "1767225600",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.join("out");
    let r = run(&["extract", "-q", s(&vma), s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let restored = out.join("disk-drive-scsi0.raw");
    assert_eq!(testimg::sha256(&restored), testimg::sha256(&disk));
    restored
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The JSON of `pverescue partitions --json IMAGE`.
pub fn partitions_json(img: &Path) -> serde_json::Value {
    let r = run(&["partitions", "--json", s(img)]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("json")
}

/// An MBR image made by sfdisk: 1 ext2, 2 ext3, 3 extended holding 5 squashfs and 6 swap.
/// Every filesystem holds `hello.txt` = [`HELLO_MBR`]. Returns (image, sfdisk's partitions).
pub fn mbr_image(dir: &Path) -> (PathBuf, Vec<testimg::SfdiskPart>) {
    let img = sparse(dir, "mbr.img", 64 * MIB);
    let layout = "label: dos\n\
                  mbr.img1 : start=2048, size=12M, type=83\n\
                  mbr.img2 : size=12M, type=83\n\
                  mbr.img3 : size=36M, type=5\n\
                  mbr.img5 : size=12M, type=83\n\
                  mbr.img6 : size=8M, type=82\n";
    run_stdin("sfdisk", &["-q", s(&img)], layout);
    let (_, parts) = sfdisk_json(&img);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("hello.txt"), HELLO_MBR).expect("write");
    let at = |n: u32| {
        parts
            .iter()
            .find(|p| p.0 == n)
            .map(|p| p.1 * 512)
            .expect("part")
    };
    let size = |n: u32| {
        parts
            .iter()
            .find(|p| p.0 == n)
            .map(|p| p.2 * 512)
            .expect("part")
    };
    let ext2 = mkfs(
        dir,
        "p1.fs",
        size(1),
        &["mkfs.ext2", "-q", "-L", "two", "-d", s(&src)],
    );
    let ext3 = mkfs(
        dir,
        "p2.fs",
        size(2),
        &["mkfs.ext3", "-q", "-L", "three", "-d", s(&src)],
    );
    let sq = dir.join("p5.fs");
    testimg::run("mksquashfs", &[s(&src), s(&sq), "-quiet", "-noappend"]);
    let swap = mkfs(dir, "p6.fs", size(6), &["mkswap"]);
    write_at(&img, at(1), &ext2);
    write_at(&img, at(2), &ext3);
    write_at(&img, at(5), &sq);
    write_at(&img, at(6), &swap);
    (img, parts)
}

/// Text written into every filesystem of [`mbr_image`].
pub const HELLO_MBR: &str = "written by the test image builder\n";

#[test]
fn vma_disk_human_output() {
    let tmp = tempdir();
    let disk = vma_disk(tmp.path());
    let r = run_in(tmp.path(), &["partitions", s(&disk)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn vma_disk_json_output() {
    let tmp = tempdir();
    let disk = vma_disk(tmp.path());
    let r = run_in(tmp.path(), &["partitions", "--json", s(&disk)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    insta::assert_json_snapshot!(v);
}

#[test]
fn mbr_offsets_match_sfdisk_and_commands_name_them() {
    let tmp = tempdir();
    let (img, parts) = mbr_image(tmp.path());
    let v = partitions_json(&img);
    let ours = v["partitions"].as_array().expect("partitions");
    assert_eq!(ours.len(), parts.len());
    for (n, start, sectors, ty, _) in &parts {
        let p = ours
            .iter()
            .find(|p| p["number"] == *n)
            .expect("same numbers as sfdisk");
        assert_eq!(p["start"], start * 512, "p{n}");
        assert_eq!(p["size"], sectors * 512, "p{n}");
        assert_eq!(p["start_sector"], *start, "p{n}");
        assert_eq!(p["end_sector"], start + sectors - 1, "p{n}");
        assert_eq!(p["type_id"], format!("0x{ty:0>2}"), "p{n}");
    }
    let kinds: Vec<_> = ours
        .iter()
        .map(|p| p["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        ["primary", "primary", "extended", "logical", "logical"]
    );
    let targets = v["mount_targets"].as_array().expect("targets");
    let ids: Vec<_> = targets
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "5"],
        "swap and the extended partition are not mountable"
    );
    for t in targets {
        let n: u32 = t["id"].as_str().expect("id").parse().expect("number");
        let (_, start, sectors, _, _) = parts.iter().find(|p| p.0 == n).expect("part");
        let want = format!(
            "mount -o ro,loop,offset={},sizelimit={}",
            start * 512,
            sectors * 512
        );
        let cmd = t["mount_command"].as_str().expect("cmd");
        assert!(cmd.starts_with(&want), "{cmd} vs {want}");
        assert!(cmd.ends_with(&format!(" {} /mnt", s(&img))), "{cmd}");
        assert_eq!(
            t["pverescue_command"],
            format!("pverescue mount {} /mnt -p {n}", s(&img))
        );
    }
    // The human table has one line per partition with bytes and sectors as sfdisk says.
    let r = run(&["partitions", s(&img)]);
    for (n, start, sectors, _, _) in &parts {
        let line = r
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&n.to_string()))
            .expect("row");
        let f: Vec<&str> = line.split_whitespace().collect();
        let want = [
            start * 512,
            (start + sectors) * 512 - 1,
            sectors * 512,
            *start,
            start + sectors - 1,
            *sectors,
        ];
        let got: Vec<u64> = f[2..8].iter().map(|x| x.parse().expect("number")).collect();
        assert_eq!(got, want, "{line}");
    }
}

#[test]
fn gpt_offsets_match_sgdisk() {
    let tmp = tempdir();
    let img = sparse(tmp.path(), "gpt.img", 40 * MIB);
    testimg::run(
        "sgdisk",
        &[
            "-n",
            "1:2048:+8M",
            "-c",
            "1:boot",
            "-n",
            "2:0:+16M",
            "-t",
            "2:8e00",
            s(&img),
        ],
    );
    // sgdisk -p: "   1            2048           18431   8.0 MiB     8300  boot".
    let report = testimg::run("sgdisk", &["-p", s(&img)]);
    let v = partitions_json(&img);
    let rows: Vec<Vec<&str>> = report
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 6 && f[0].parse::<u32>().is_ok())
        .collect();
    assert_eq!(rows.len(), 2, "{report}");
    for f in rows {
        let (n, first, last): (u32, u64, u64) = (
            f[0].parse().expect("n"),
            f[1].parse().expect("first"),
            f[2].parse().expect("last"),
        );
        let p = v["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .find(|p| p["number"] == n)
            .expect("same number");
        assert_eq!(
            (p["start_sector"].as_u64(), p["end_sector"].as_u64()),
            (Some(first), Some(last))
        );
        assert_eq!(p["start"], first * 512);
        assert_eq!(p["size"], (last - first + 1) * 512);
    }
    assert_eq!(v["partitions"][0]["name"], "boot");
    assert_eq!(v["partitions"][1]["type_name"], "Linux LVM");
}

#[test]
fn backup_gpt_is_a_warning_with_exit_1() {
    let tmp = tempdir();
    let disk = vma_disk(tmp.path());
    poke(&disk, 512, b"NOT PART"); // Break the primary header's signature at LBA 1.
    let r = run_in(tmp.path(), &["partitions", s(&disk)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("pverescue: warning: [TMP]/out/disk-drive-scsi0.raw: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("backup"), "{}", r.stderr);
    assert!(
        r.stdout.contains("mount -o ro,loop,offset=1048576,"),
        "{}",
        r.stdout
    );
}

#[test]
fn lvm_offsets_match_pvs_segments() {
    if !testimg::privileged("lvm_offsets_match_pvs_segments") {
        return;
    }
    let tmp = tempdir();
    let (img, root_offset, root_size) = lvm_image(tmp.path());
    let v = partitions_json(&img);
    let t = v["mount_targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["id"] == "vg0/root")
        .expect("vg0/root is mountable")
        .clone();
    assert_eq!(
        (t["offset"].as_u64(), t["size"].as_u64()),
        (Some(root_offset), Some(root_size))
    );
    assert_eq!(
        t["pverescue_command"],
        format!("pverescue mount {} /mnt --lv vg0/root", s(&img))
    );
    let r = run(&["partitions", s(&img)]);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("vg0/root ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("vg0/striped ") && l.contains("needs device-mapper")),
        "{}",
        r.stdout
    );
}

/// An MBR image whose partition 2 is an LVM2 PV (VG vg0, 4 MiB extents) with a linear LV `root`
/// holding ext4 with `hello.txt` = [`HELLO_MBR`], and a striped LV over two PVs. Returns the
/// image and root's offset and size as `pvs --segments` reports them.
pub fn lvm_image(dir: &Path) -> (PathBuf, u64, u64) {
    let img = sparse(dir, "lvm.img", 96 * MIB);
    let layout = "label: dos\nstart=2048, size=40M, type=8e\nsize=40M, type=8e\n";
    run_stdin("sfdisk", &["-q", s(&img)], layout);
    let (_, parts) = sfdisk_json(&img);
    let (a_off, b_off) = (parts[0].1 * 512, parts[1].1 * 512);
    let (root_pe, pe_start, extent) = {
        let a = Loop::attach(&img, a_off, parts[0].2 * 512, &[]);
        let b = Loop::attach(&img, b_off, parts[1].2 * 512, &[]);
        let lvm = Lvm::new(&[&a.0, &b.0]);
        lvm.run("pvcreate", &["-q", "-y", &a.0, &b.0]);
        lvm.run("vgcreate", &["-q", "-s", "4M", "vg0", &a.0, &b.0]);
        lvm.lvcreate(&["-L", "12M", "-n", "root", "vg0", &a.0]);
        lvm.lvcreate(&["-i", "2", "-I", "64k", "-L", "8M", "-n", "striped", "vg0"]);
        // pvs --segments: which physical extents of which PV hold vg0/root.
        let seg = lvm
            .report(
                "pvs",
                "pv_name,pvseg_start,pvseg_size,lv_name,pe_start,vg_extent_size",
            )
            .into_iter()
            .find(|r| r[3] == "root")
            .expect("root segment");
        assert_eq!(seg[0], a.0, "root lies on the first PV");
        (
            seg[1].parse::<u64>().expect("pvseg_start"),
            seg[4].parse::<u64>().expect("pe_start"),
            seg[5].parse::<u64>().expect("extent size"),
        )
    };
    let offset = a_off + pe_start + root_pe * extent;
    let src = dir.join("lvsrc");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("hello.txt"), HELLO_MBR).expect("write");
    let fs = mkfs(
        dir,
        "root.fs",
        12 * MIB,
        &["mkfs.ext4", "-q", "-L", "lvroot", "-d", s(&src)],
    );
    write_at(&img, offset, &fs);
    (img, offset, 12 * MIB)
}

/// Issue 10 item 7, the same class in `partitions`: a GPT partition name (set by the real
/// sgdisk) with an ANSI escape and a newline stays on its line, escaped, and the terminal gets
/// no escape; `--json` keeps the exact name.
#[test]
fn issue10_item7_partition_names_are_escaped() {
    let tmp = tempdir();
    let img = sparse(tmp.path(), "gpt.img", 8 * MIB);
    let name = "evil\u{1b}[31mred\nfake line";
    testimg::run(
        "sgdisk",
        &["-n", "1:2048:+2M", "-c", &format!("1:{name}"), s(&img)],
    );
    let r = run(&["partitions", s(&img)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
    assert!(
        r.stdout.contains("evil\\x1b[31mred\\x0afake line"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.lines().any(|l| l.starts_with("fake line")),
        "{}",
        r.stdout
    );
    let v = partitions_json(&img);
    assert_eq!(v["partitions"][0]["name"], name, "{v:#}");
}
