//! `cargo xtask fixtures`: rebuild `testdata/vma/` with the real tools and record provenance;
//! `testdata/pbs/` comes from the `pbs` submodule.
//!
//! Disk contents come from real partitioning and mkfs tools; the VMA archive is written by our own
//! `pverescue create` (no real VMA writer runs outside a Proxmox host); every compressed form comes
//! from the real compressor, fed from a pipe as vzdump does. Damaged variants are made by recipes
//! recorded next to them. `testdata/real/` (archives made by the real Proxmox tools) is not
//! touched.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{output, root, run_cmd, tools};

/// Fixed values so that rebuilding changes as little as possible.
const UUID: &str = "0c0ffee0-1234-4abc-8def-000000000200";
const CTIME: &str = "1767225600"; // 2026-01-01 00:00:00 UTC
const STEM: &str = "vzdump-qemu-200-2026_01_01-00_00_00";

/// Where the fixture recipes write.
fn dir() -> PathBuf {
    root().join("testdata/vma")
}

pub(crate) mod pbs;

/// `cargo xtask fixtures [vma] [pbs]`: the VMA fixtures (real tools) and the PBS datastores
/// (`pbswrite`, checked by the Python oracle); both without arguments.
pub fn run(args: &[String]) -> Result<()> {
    for a in args {
        if a != "vma" && a != "pbs" {
            bail!("unknown fixture set {a} (use vma, pbs or nothing for both)");
        }
    }
    let all = args.is_empty();
    if all || args.iter().any(|a| a == "vma") {
        vma()?;
    }
    if all || args.iter().any(|a| a == "pbs") {
        tools::ensure_all()?;
        pbs::run()?;
    }
    Ok(())
}

/// `testdata/vma/`.
fn vma() -> Result<()> {
    tools::ensure_all()?;
    let bin = crate::build_pverescue()?;
    let out = dir();
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    fs::create_dir_all(out.join("bad"))?;
    let work = tempdir()?;
    let mut log = Provenance::default();

    let disk0 = work.join("disk0.raw");
    let disk1 = work.join("disk1.raw");
    make_gpt_ext4_disk(&work, &disk0, &mut log)?;
    make_mbr_disk(&disk1, &mut log)?;
    let conf = work.join("qemu-server.conf");
    fs::write(&conf, QEMU_SERVER_CONF)?;
    let fw = work.join("qemu-server.fw");
    fs::write(&fw, "[OPTIONS]\nenable: 1\n")?;

    // The archive itself, written by our writer.
    let vma = out.join(format!("{STEM}.vma"));
    let mut create = Command::new(&bin);
    create
        .arg("create")
        .arg(&vma)
        .arg("-c")
        .arg(&conf)
        .arg("-c")
        .arg(&fw)
        .arg("-d")
        .arg(format!("drive-scsi0={}", disk0.display()))
        .arg("-d")
        .arg(format!("drive-virtio1={}", disk1.display()))
        .args(["--uuid", UUID, "--ctime", CTIME, "-q"]);
    run_cmd(&mut create)?;
    log.step(
        &format!("{STEM}.vma"),
        "pverescue (this repository)",
        &format!(
            "pverescue create {STEM}.vma -c qemu-server.conf -c qemu-server.fw \
             -d drive-scsi0=disk0.raw -d drive-virtio1=disk1.raw --uuid {UUID} --ctime {CTIME}"
        ),
    );

    // Real compressors, from a pipe as vzdump runs them.
    let plain = fs::read(&vma)?;
    for (ext, tool, args) in [
        ("zst", "zstd", &["--threads=2", "-q", "-c"][..]),
        ("gz", "gzip", &["--rsyncable", "-c"][..]),
        ("lzo", "lzop", &["-c"][..]),
        ("bz2", "bzip2", &["-c"][..]),
        ("xz", "xz", &["-c"][..]),
    ] {
        let name = format!("{STEM}.vma.{ext}");
        pipe(tool, args, &plain, &out.join(&name))?;
        log.step(
            &name,
            &version(tool),
            &format!("{tool} {} < {STEM}.vma", args.join(" ")),
        );
    }
    fs::create_dir_all(out.join("pigz"))?;
    let name = format!("pigz/{STEM}.vma.gz");
    pipe(
        "pigz",
        &["-p", "2", "--rsyncable", "-c"],
        &plain,
        &out.join(&name),
    )?;
    log.step(
        &name,
        &version("pigz"),
        &format!("pigz -p 2 --rsyncable -c < {STEM}.vma"),
    );

    // Concatenated members: the archive split in two, each half compressed on its own.
    fs::create_dir_all(out.join("multi"))?;
    let half = plain.len() / 2;
    for (ext, tool, args) in [
        ("gz", "gzip", &["-c"][..]),
        ("zst", "zstd", &["-q", "-c"][..]),
        ("lzo", "lzop", &["-c"][..]),
        ("bz2", "bzip2", &["-c"][..]),
        ("xz", "xz", &["-c"][..]),
    ] {
        let name = format!("multi/{STEM}.vma.{ext}");
        let mut joined = run_pipe(tool, args, &plain[..half])?;
        joined.extend(run_pipe(tool, args, &plain[half..])?);
        fs::write(out.join(&name), joined)?;
        log.step(
            &name,
            &version(tool),
            &format!(
                "(head -c {half} {STEM}.vma | {tool} {a}; tail -c +{} {STEM}.vma | {tool} {a}) (two members)",
                half + 1,
                a = args.join(" ")
            ),
        );
    }

    make_bad_variants(&out, &plain, &mut log)?;

    // Checksums of the inputs, from the real sha256sum: the expected values of every restore test.
    let sums = output(Command::new("sha256sum").current_dir(&work).args([
        "disk0.raw",
        "disk1.raw",
        "qemu-server.conf",
        "qemu-server.fw",
    ]))?;
    let mut expected = String::new();
    for line in sums.lines() {
        let mut parts = line.split_whitespace();
        let (Some(sum), Some(file)) = (parts.next(), parts.next()) else {
            continue;
        };
        let size = fs::metadata(work.join(file))?.len();
        let restored = match file {
            "disk0.raw" => "disk-drive-scsi0.raw",
            "disk1.raw" => "disk-drive-virtio1.raw",
            other => other,
        };
        writeln!(expected, "{sum}  {restored}  size={size}")?;
    }
    fs::write(out.join("expected.files"), &expected)?;
    fs::remove_dir_all(&work)?;
    log.write(&out, &expected)?;
    println!("fixtures written to {}", out.display());
    Ok(())
}

const QEMU_SERVER_CONF: &str = "\
#pverescue fixture VM%3A GPT + ext4 disk and an MBR disk
boot: order=scsi0;net0
cores: 1
memory: 512
name: fixture-200
net0: virtio=BC:24:11:00:02:00,bridge=vmbr0
ostype: l26
scsi0: local-lvm:vm-200-disk-0,size=8M
virtio1: local-lvm:vm-200-disk-1,size=1028K
scsihw: virtio-scsi-single
#qmdump#map:scsi0:drive-scsi0:local-lvm:raw:
#qmdump#map:virtio1:drive-virtio1:local-lvm:raw:
";

/// An 8 MiB disk: GPT from sgdisk, one partition holding an ext4 made by mkfs.ext4 from a folder.
fn make_gpt_ext4_disk(work: &Path, disk: &Path, log: &mut Provenance) -> Result<()> {
    let content = work.join("content");
    fs::create_dir_all(content.join("etc"))?;
    fs::write(content.join("etc/hostname"), "fixture-200\n")?;
    fs::write(content.join("hello.txt"), "restored by pverescue\n")?;
    // Incompressible content so that stored blocks and sparse holes both occur.
    fs::write(content.join("random.bin"), pseudo_random(24 * 1024, 0x5eed))?;
    fs::File::create(disk)?.set_len(8 << 20)?;
    // mkfs.ext4 wipes signatures at the start of the file, so the GPT is written after it.
    run_cmd(
        Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-L",
                "fixture-root",
                "-U",
                "0c0ffee0-0000-4000-8000-000000000003",
            ])
            .args([
                "-E",
                "offset=1048576,hash_seed=0c0ffee0-0000-4000-8000-000000000004",
            ])
            .arg("-d")
            .arg(&content)
            .arg(disk)
            .arg("6M")
            .env("E2FSPROGS_FAKE_TIME", CTIME),
    )?;
    run_cmd(
        Command::new("sgdisk")
            .args(["-o", "-U", "0c0ffee0-0000-4000-8000-000000000001"])
            .stdout(Stdio::null())
            .args(["-n", "1:2048:0", "-t", "1:8300", "-c", "1:root"])
            .args(["-u", "1:0c0ffee0-0000-4000-8000-000000000002"])
            .arg(disk),
    )?;
    // The recipe checks its own result with the real tools: partition 1 at sector 2048, ext4 there.
    let start = output(
        Command::new("partx")
            .args(["-g", "-o", "START", "-n", "1"])
            .arg(disk),
    )?;
    if start.trim() != "2048" {
        bail!("disk0.raw: partx finds no partition 1 at sector 2048 (got {start:?})");
    }
    let probe = output(
        Command::new("blkid")
            .args(["-p", "-O", "1048576", "-s", "TYPE", "-o", "value"])
            .arg(disk),
    )?;
    if probe.trim() != "ext4" {
        bail!("disk0.raw: blkid finds no ext4 at 1 MiB (got {probe:?})");
    }
    log.note(&format!(
        "disk0.raw (8 MiB, restored as disk-drive-scsi0.raw): `truncate -s 8M`; `{}`: `mkfs.ext4 -L fixture-root -U … \
         -E offset=1048576,hash_seed=… -d content disk0.raw 6M` with E2FSPROGS_FAKE_TIME={CTIME}; then `{}`: \
         `sgdisk -o -U … -n 1:2048:0 -t 1:8300 -c 1:root -u 1:…`; \
         content: etc/hostname, hello.txt (\"restored by pverescue\"), random.bin (24 KiB)",
        version("mkfs.ext4"),
        version("sgdisk")
    ));
    Ok(())
}

/// A 1 MiB + 4 KiB + 512 B disk (not a whole number of clusters): an MBR from sfdisk, scattered
/// data and a non-zero last sector, to exercise the device tail.
fn make_mbr_disk(disk: &Path, log: &mut Provenance) -> Result<()> {
    let size: usize = (1 << 20) + 4096 + 512;
    let mut bytes = vec![0u8; size];
    // Data at a few places, including partial blocks, so masks are neither 0 nor 0xFFFF.
    for (at, len, seed) in [
        (65536usize, 4096usize, 1u64),
        (200_000, 9_000, 2),
        (700_000, 8192, 3),
    ] {
        bytes[at..at + len].copy_from_slice(&pseudo_random(len, seed));
    }
    let tail = size - 512;
    bytes[tail..].copy_from_slice(&pseudo_random(512, 4));
    fs::write(disk, &bytes)?;
    let mut child = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run sfdisk")?;
    child
        .stdin
        .take()
        .context("sfdisk stdin")?
        .write_all(b"label: dos\nlabel-id: 0x0c0ffee0\nstart=64, size=1024, type=83\n")?;
    if !child.wait()?.success() {
        bail!("sfdisk failed");
    }
    log.note(&format!(
        "disk1.raw (1053184 bytes, restored as disk-drive-virtio1.raw): pseudo-random bytes \
         (xorshift, written by xtask) at 65536+4096, 200000+9000, 700000+8192 and the last 512 \
         bytes, zeros elsewhere; then `{}`: `sfdisk` with `label: dos`, `label-id: 0x0c0ffee0`, \
         `start=64, size=1024, type=83`",
        version("sfdisk")
    ));
    Ok(())
}

fn make_bad_variants(out: &Path, plain: &[u8], log: &mut Provenance) -> Result<()> {
    let header_size = u32::from_be_bytes(plain[56..60].try_into()?) as usize;
    let block_count = u16::from_be_bytes(plain[header_size + 6..header_size + 8].try_into()?);
    let first_extent_end = header_size + 512 + usize::from(block_count) * 4096;
    let mut variants: Vec<(&str, Vec<u8>, String)> = Vec::new();

    let mut flipped = plain.to_vec();
    flipped[100] ^= 0x01;
    variants.push((
        "header-md5.vma",
        flipped,
        "byte 100 (reserved header area) XOR 0x01".into(),
    ));

    variants.push((
        "truncated.vma",
        plain[..first_extent_end + 1000].to_vec(),
        format!(
            "first {} bytes (cut inside the second extent)",
            first_extent_end + 1000
        ),
    ));
    variants.push((
        "missing-clusters.vma",
        plain[..first_extent_end].to_vec(),
        format!(
            "first {first_extent_end} bytes: the header and the first extent only, cut at an \
             extent boundary (an interrupted backup)"
        ),
    ));
    let mut extent_md5 = plain.to_vec();
    extent_md5[header_size + 40] ^= 0x80;
    variants.push((
        "extent-md5.vma",
        extent_md5,
        format!(
            "byte {} (first blockinfo entry of the first extent) XOR 0x80",
            header_size + 40
        ),
    ));
    let mut garbage = plain.to_vec();
    garbage.extend_from_slice(&[0x42; 700]);
    variants.push((
        "trailing-garbage.vma",
        garbage,
        "700 bytes of 0x42 appended".into(),
    ));

    for (name, bytes, how) in variants {
        fs::write(out.join("bad").join(name), bytes)?;
        log.step(
            &format!("bad/{name}"),
            "recipe in xtask/src/fixtures.rs",
            &format!("{STEM}.vma: {how}"),
        );
    }

    // Damage inside the compressed layer: the compressor's own checksum must catch it.
    for (ext, tool) in [("zst", "zstd"), ("gz", "gzip"), ("lzo", "lzop")] {
        let src = fs::read(out.join(format!("{STEM}.vma.{ext}")))?;
        let mut bad = src.clone();
        let at = src.len() / 2;
        bad[at] ^= 0x10;
        let name = format!("bad/flipped.vma.{ext}");
        fs::write(out.join(&name), bad)?;
        log.step(
            &name,
            &version(tool),
            &format!("{STEM}.vma.{ext}: byte {at} XOR 0x10"),
        );
        let name = format!("bad/truncated.vma.{ext}");
        fs::write(out.join(&name), &src[..at])?;
        log.step(
            &name,
            &version(tool),
            &format!("{STEM}.vma.{ext}: first {at} bytes"),
        );
    }
    Ok(())
}

/// xorshift64* bytes: deterministic filler data, not a format.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn run_pipe(tool: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {tool}"))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("feeder thread panicked"))??;
    if !out.status.success() {
        bail!("{tool} {args:?} failed with {}", out.status);
    }
    Ok(out.stdout)
}

fn pipe(tool: &str, args: &[&str], input: &[u8], to: &Path) -> Result<()> {
    fs::write(to, run_pipe(tool, args, input)?)?;
    Ok(())
}

/// The first line a tool prints about its version, for provenance.
pub fn version(tool: &str) -> String {
    let flag = match tool {
        "lzop" | "gzip" | "pigz" | "xz" | "sgdisk" | "sfdisk" | "xdelta3" => "--version",
        "bzip2" => "--help",
        "mkfs.ext4" => "-V",
        _ => "--version",
    };
    let out = Command::new(tool).arg(flag).output();
    let text = out
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s
        })
        .unwrap_or_default();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Copyright"))
        .unwrap_or(tool);
    format!("{tool}: {line}")
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("pverescue-fixtures-{}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[derive(Default)]
struct Provenance {
    notes: Vec<String>,
    steps: Vec<(String, String, String)>,
}

impl Provenance {
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_owned());
    }

    fn step(&mut self, file: &str, tool: &str, command: &str) {
        self.steps
            .push((file.to_owned(), tool.to_owned(), command.to_owned()));
    }

    fn write(&self, out: &Path, expected: &str) -> Result<()> {
        let mut md = String::new();
        md.push_str("<!-- generated by `cargo xtask fixtures`, do not edit -->\n");
        md.push_str("# testdata/vma: fixtures made by real tools\n\n");
        md.push_str(
            "Rebuild with `cargo xtask fixtures`. Disk contents come from real partitioning and \
             mkfs tools, the VMA from our own `pverescue create` (the real `vma` writer runs only \
             on a Proxmox host; archives it made are in `../real/`), and every compressed form \
             from the real compressor fed from a pipe, as vzdump does.\n\n## Inputs\n\n",
        );
        for n in &self.notes {
            writeln!(md, "- {n}")?;
        }
        md.push_str("\n`expected.files` (sha256 by `sha256sum` of the inputs; a restore must reproduce them):\n\n```\n");
        md.push_str(expected);
        md.push_str("```\n\n## Files\n\n| file | tool | command | sha256 |\n|---|---|---|---|\n");
        for (file, tool, command) in &self.steps {
            let sum = hex(&Sha256::digest(fs::read(out.join(file))?));
            writeln!(
                md,
                "| `{file}` | {tool} | `{}` | `{sum}` |",
                command.replace('|', "\\|")
            )?;
        }
        fs::write(out.join("README.md"), md)?;
        Ok(())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
