//! `cargo xtask bench-virtnbd`: restore of a virtnbdbackup chain (a 1 GiB disk, a full and three
//! incrementals), plain and LZ4, against the real `virtnbdrestore`, in one run.
//!
//! The chain is written by virtnbdbackup's own writer code (`crates/virtnbd/tests/it/
//! upstream_writer.py` drives Debian's `libvirtnbdbackup` module) from the bench image of
//! `cargo xtask bench` (¼ random, ½ system binaries, ¼ zeros); each incremental changes about
//! 2 % of the disk in scattered 64 KiB blocks. Measured, paired (A B A B …):
//!
//! - theirs: `virtnbdrestore -i DIR -o OUT -U test:///default` (libvirt's test driver, qemu-nbd)
//!   plus `qemu-img convert -O raw`, so that both sides end with a raw image (retried until the
//!   qemu-nbd that virtnbdrestore started has let go of the image);
//! - ours: `pverescue extract -q DIR OUT`;
//! - the read floor: `cat DIR/*.data > /dev/null`;
//! - peak RSS of both (GNU time). Both results are compared with the last state before a run
//!   counts.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::bench::{make_image, paired, shell, time_shell};
use crate::root;

const MIB: u64 = 1 << 20;
const BLOCK: u64 = 64 * 1024;

pub fn run(args: &[String]) -> Result<()> {
    let mut mib = 1024u64;
    let mut runs = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size-mib" => mib = it.next().context("--size-mib needs a number")?.parse()?,
            "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
            other => bail!("unknown bench-virtnbd option {other} (use --size-mib 1024 --runs 3)"),
        }
    }
    let bin = crate::bench::prepare()?;
    let work = root().join(format!("target/bench-virtnbd/{mib}m"));
    fs::create_dir_all(&work)?;
    let size = mib * MIB;
    // The disk states: the full's image and the image after each incremental.
    let states: Vec<_> = (0..4).map(|i| work.join(format!("state{i}.raw"))).collect();
    if !states[3].exists() {
        eprintln!("bench-virtnbd: building a {mib} MiB image and three changed states");
        make_image(&states[0], size)?;
        for i in 1..4 {
            fs::copy(&states[i - 1], &states[i])?;
            change(&states[i], size, i as u64)?;
        }
    }
    let mut report = crate::bench::report_header(&bin)?;
    writeln!(report, "{}", crate::fixtures::version("virtnbdrestore"))?;
    writeln!(
        report,
        "\n### virtnbdbackup chain: {mib} MiB disk, full + 3 incrementals, median of {runs}\n"
    )?;
    writeln!(
        report,
        "| chain | files | cat (floor) | virtnbdrestore + qemu-img convert | pverescue extract | ratio | pverescue peak RSS | virtnbdrestore peak RSS |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|---|")?;
    for (label, compress) in [("plain", None), ("lz4", Some(2))] {
        let dir = work.join(label);
        if !dir.join("vda.inc.virtnbdbackup.3.data").exists() {
            eprintln!("bench-virtnbd: writing the {label} chain with virtnbdbackup's writer");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir)?;
            write_chain(&dir, &states, size, compress)?;
        }
        let files: u64 = fs::read_dir(&dir)?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".data"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum();
        let (floor, _) = time_shell(&format!("cat '{}'/*.data > /dev/null", dir.display()))?;
        let out = work.join("out");
        let (mut ours_rss, mut theirs_rss) = (0, 0);
        let (theirs, ours) = paired(
            runs,
            || {
                let _ = fs::remove_dir_all(&out);
                let (s, kib) = time_shell(&format!(
                    "virtnbdrestore -i '{d}' -o '{o}' -U test:///default >/dev/null 2>&1 && \
                     for i in $(seq 200); do qemu-img convert -O raw '{o}/vm1-vda.qcow2' '{o}/vda.raw' 2>/dev/null && break; sleep 0.05; done",
                    d = dir.display(),
                    o = out.display()
                ))?;
                theirs_rss = theirs_rss.max(kib);
                same(&out.join("vda.raw"), &states[3])?;
                Ok(s)
            },
            || {
                let _ = fs::remove_dir_all(&out);
                let (s, kib) = time_shell(&format!(
                    "'{}' extract -q '{}' '{}'",
                    bin.display(),
                    dir.display(),
                    out.display()
                ))?;
                ours_rss = ours_rss.max(kib);
                same(&out.join("vda.raw"), &states[3])?;
                Ok(s)
            },
        )?;
        let _ = fs::remove_dir_all(&out);
        writeln!(
            report,
            "| {label} | {:.0} MB | {floor:.2} s | {theirs:.2} s | {ours:.2} s | **{:.2}** | {} MiB | {} MiB |",
            files as f64 / 1e6,
            ours / theirs,
            ours_rss / 1024,
            theirs_rss / 1024
        )?;
        eprintln!(
            "bench-virtnbd: {label}: virtnbdrestore {theirs:.2} s, pverescue {ours:.2} s, cat {floor:.2} s"
        );
    }
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

/// Overwrites about 2 % of the image with new data, in scattered 64 KiB blocks.
fn change(path: &Path, size: u64, seed: u64) -> Result<()> {
    let f = File::options().write(true).open(path)?;
    let blocks = size / BLOCK;
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 0..blocks / 50 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x % blocks;
        f.write_all_at(
            &crate::fixtures::pseudo_random(BLOCK as usize, seed * 1_000_000 + i),
            b * BLOCK,
        )?;
    }
    Ok(())
}

/// The extents of a full of `img` (data and zero runs of 64 KiB blocks), or of the blocks that
/// differ from `old`, as `[offset, length, is_data]`.
fn extents(img: &Path, old: Option<&Path>, size: u64) -> Result<Vec<(u64, u64, bool)>> {
    let (a, b) = (File::open(img)?, old.map(File::open).transpose()?);
    let (mut x, mut y) = (vec![0u8; BLOCK as usize], vec![0u8; BLOCK as usize]);
    let mut out: Vec<(u64, u64, bool)> = Vec::new();
    let mut at = 0;
    while at < size {
        let n = BLOCK.min(size - at) as usize;
        a.read_exact_at(&mut x[..n], at)?;
        let data = match &b {
            Some(b) => {
                b.read_exact_at(&mut y[..n], at)?;
                x[..n] != y[..n]
            }
            None => x[..n].iter().any(|&v| v != 0),
        };
        if data || old.is_none() {
            match out.last_mut() {
                Some((s, l, d)) if *d == data && *s + *l == at => *l += n as u64,
                _ => out.push((at, n as u64, data)),
            }
        }
        at += n as u64;
    }
    Ok(out)
}

fn write_chain(
    dir: &Path,
    states: &[std::path::PathBuf],
    size: u64,
    compress: Option<u32>,
) -> Result<()> {
    let script = root().join("crates/virtnbd/tests/it/upstream_writer.py");
    let xml = "<domain type='kvm'>\n  <name>vm1</name>\n  <memory unit='KiB'>131072</memory>\n  <vcpu>1</vcpu>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n  </os>\n  <devices>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/var/lib/libvirt/images/vm1-vda.qcow2'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n  </devices>\n</domain>\n";
    for (i, state) in states.iter().enumerate() {
        let (name, level, cp, parent) = if i == 0 {
            (
                "vda.full.data".to_owned(),
                "full",
                "virtnbdbackup.0".to_owned(),
                String::new(),
            )
        } else {
            (
                format!("vda.inc.virtnbdbackup.{i}.data"),
                "inc",
                format!("virtnbdbackup.{i}"),
                format!("virtnbdbackup.{}", i - 1),
            )
        };
        let old = (i > 0).then(|| states[i - 1].as_path());
        let ext: Vec<serde_json::Value> = extents(state, old, size)?
            .into_iter()
            .map(|(o, l, d)| serde_json::json!([o, l, d]))
            .collect();
        let spec = serde_json::json!({
            "disk": "vda", "size": size, "checkpoint": cp, "parent": parent, "level": level,
            "compress": compress.map_or(serde_json::json!(false), |l| serde_json::json!(l)),
            "max_request": 32 << 20, "extents": ext,
        });
        let spec_path = dir.join("spec.json");
        fs::write(&spec_path, spec.to_string())?;
        shell(&format!(
            "/usr/bin/python3 '{}' '{}' '{}' '{}'",
            script.display(),
            dir.join(&name).display(),
            state.display(),
            spec_path.display()
        ))?;
        fs::remove_file(&spec_path)?;
        fs::write(dir.join(format!("vmconfig.{cp}.xml")), xml)?;
        // virtnbdrestore orders files by mtime.
        shell(&format!(
            "touch -d @{} '{}'",
            1_700_000_000 + i * 60,
            dir.join(&name).display()
        ))?;
    }
    fs::write(
        dir.join("vm1.cpt"),
        r#"["virtnbdbackup.0", "virtnbdbackup.1", "virtnbdbackup.2", "virtnbdbackup.3"]"#,
    )?;
    Ok(())
}

/// Fails unless the two files hold the same bytes.
fn same(a: &Path, b: &Path) -> Result<()> {
    shell(&format!("cmp -s '{}' '{}'", a.display(), b.display()))
        .with_context(|| format!("{} differs from {}", a.display(), b.display()))
}
