//! `cargo xtask bench-files`: files out of an ext4 image without mounting, against `debugfs` and
//! the kernel, in one run.
//!
//! Made once under `target/bench-files/` by the real tools: an ext4 image (`mkfs.ext4 -d`)
//! holding one 1 GiB file of the bench mix (¼ random, ½ system binaries, ¼ zeros), and one
//! holding a tree of 20 000 small files (200 directories of 100 files, 1–8 KiB each). Measured,
//! in turn (A B C A B C …), each into a directory of its own on a new ext4 made for the case
//! (as root; nothing deleted until the case is over: ext4 is slow to allocate inodes freed in
//! the last minutes):
//!
//! - `pverescue cp IMAGE PATH OUT` (userspace, no mount);
//! - `debugfs -R "dump|rdump PATH OUT" IMAGE` (e2fsprogs, also userspace);
//! - when root: `cp -a` from a read-only loop mount of the image (mounted once, before timing).
//!
//! Each side ends with its copy on disk: pverescue syncs the destination filesystem itself, and
//! `sync -f OUT` follows the other two. Every copy is compared with the source tree (`diff -r`)
//! once before timing. The image stays
//! in the page cache for all three alike.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, ensure};

use crate::bench::{make_image, middle, shell, time_shell};
use crate::root;

const MIB: u64 = 1 << 20;

struct Case {
    name: &'static str,
    image: PathBuf,
    /// The path inside the image.
    path: &'static str,
    /// The source it was made from (for the check).
    src: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let (_, runs) = crate::bench::size_args("bench-files", args, &[1])?;
    let bin = crate::bench::prepare()?;
    let work = root().join("target/bench-files");
    fs::create_dir_all(&work)?;
    let cases = make(&work)?;
    let root_user = crate::output(Command::new("id").arg("-u"))?.trim() == "0";
    let mut report = crate::bench::report_header(&bin)?;
    writeln!(
        report,
        "debugfs: {}",
        crate::output(Command::new("sh").args(["-c", "debugfs -V 2>&1 | head -1"]))?.trim()
    )?;
    writeln!(
        report,
        "\nWall seconds, medians of {runs}.\n\n| what | pverescue cp | debugfs | ratio | kernel mount + cp -a | ratio | pverescue peak RSS |\n|---|---|---|---|---|---|---|"
    )?;
    for c in &cases {
        let mnt = work.join(format!("mnt-{}", c.name));
        fs::create_dir_all(&mnt)?;
        let mounted = root_user
            && shell(&format!(
                "mountpoint -q '{m}' || mount -o ro,loop,noload '{i}' '{m}'",
                m = mnt.display(),
                i = c.image.display()
            ))
            .is_ok();
        // Every run copies into a directory of its own, and nothing is deleted during a case:
        // ext4 skips inodes freed in the last minutes when it allocates, so deleting 20 000
        // files just before a run made creating them again cost every side seconds that were
        // not the tool's (session 4 measured that way). As root the copies go to a new ext4
        // filesystem made for the case (a loop-mounted file), so that no earlier run's deletions
        // weigh on it either.
        let dest_mnt = work.join("dest");
        let dest_img = work.join("dest.img");
        let dest_fs = root_user
            && shell(&format!(
                "umount '{m}' 2>/dev/null; rm -f '{i}'; truncate -s 24G '{i}' && mkfs.ext4 -q -F '{i}' \
                 && mkdir -p '{m}' && mount -o loop '{i}' '{m}'",
                m = dest_mnt.display(),
                i = dest_img.display()
            ))
            .is_ok();
        let outs = if dest_fs {
            dest_mnt.join("outs")
        } else {
            work.join("outs")
        };
        let _ = fs::remove_dir_all(&outs);
        fs::create_dir(&outs)?;
        let mut made = 0;
        let mut fresh = || -> Result<PathBuf> {
            made += 1;
            let out = outs.join(format!("out-{made}"));
            fs::create_dir(&out)?;
            Ok(out)
        };
        let big = c.path.ends_with(".bin");
        // On the case's own filesystem nothing is deleted until the end (a deleted 1 GiB file
        // left the next run's sync waiting on the freed blocks); elsewhere the big copies go at
        // once (space).
        let done = |out: &Path| {
            if big && !dest_fs {
                let _ = fs::remove_dir_all(out);
            }
        };
        let ours = |out: &Path| {
            format!(
                "'{}' -q cp '{}' '{}' '{}'",
                bin.display(),
                c.image.display(),
                c.path,
                out.display()
            )
        };
        // pverescue cp ends with one syncfs of the destination, so that what it reports as
        // copied is on disk; the other two sides are given the same `sync -f` so that all three
        // do the same work.
        let theirs = |out: &Path| {
            let (verb, dest) = if big {
                ("dump", out.join(c.path.trim_start_matches('/')))
            } else {
                ("rdump", out.to_path_buf())
            };
            format!(
                "debugfs -R '{verb} {} {}' '{}' 2>/dev/null && sync -f '{}'",
                c.path,
                dest.display(),
                c.image.display(),
                out.display()
            )
        };
        let kernel = |out: &Path| {
            format!(
                "cp -a '{}{}' '{}' && sync -f '{}'",
                mnt.display(),
                c.path,
                out.display(),
                out.display()
            )
        };
        // Once: every side copies what the source holds.
        for side in [&ours as &dyn Fn(&Path) -> String, &theirs] {
            let out = fresh()?;
            let cmd = side(&out);
            shell(&cmd)?;
            let name = Path::new(c.path).file_name().unwrap_or_default();
            let copied = out.join(name);
            let source = c.src.join(name);
            ensure!(
                shell(&format!(
                    "diff -r -q '{}' '{}' >/dev/null",
                    source.display(),
                    copied.display()
                ))
                .is_ok(),
                "{cmd}: the copy differs from the source"
            );
            done(&out);
        }
        let (mut a, mut b, mut k) = (Vec::new(), Vec::new(), Vec::new());
        let mut rss = 0;
        for _ in 0..runs.max(1) {
            let out = fresh()?;
            let (t, m) = time_shell(&ours(&out))?;
            done(&out);
            a.push(t);
            rss = rss.max(m);
            let out = fresh()?;
            b.push(time_shell(&theirs(&out))?.0);
            done(&out);
            if mounted {
                let out = fresh()?;
                k.push(time_shell(&kernel(&out))?.0);
                done(&out);
            }
        }
        let (a, b) = (middle(a), middle(b));
        let kernel_cols = if mounted {
            let k = middle(k);
            format!("{k:.2} s | **{:.2}**", a / k)
        } else {
            "(not root) | –".into()
        };
        writeln!(
            report,
            "| {} | {a:.2} s | {b:.2} s | **{:.2}** | {kernel_cols} | {} MiB |",
            c.name,
            a / b,
            rss / 1024
        )?;
        if mounted {
            let _ = shell(&format!("umount '{}'", mnt.display()));
        }
        if dest_fs {
            let _ = shell(&format!(
                "umount '{}' && rm -f '{}'",
                dest_mnt.display(),
                dest_img.display()
            ));
        } else {
            let _ = fs::remove_dir_all(&outs);
        }
    }
    println!("\n{report}");
    fs::write(work.join("results.md"), &report)?;
    println!("(also written to {})", work.join("results.md").display());
    Ok(())
}

/// The two images, made once.
fn make(work: &Path) -> Result<Vec<Case>> {
    let big_src = work.join("big-src");
    let big_img = work.join("big.img");
    if !big_img.exists() {
        eprintln!("bench-files: making an ext4 image with a 1 GiB file (once)");
        fs::create_dir_all(&big_src)?;
        make_image(&big_src.join("big.bin"), 1024 * MIB)?;
        shell(&format!(
            "mkfs.ext4 -q -F -d '{}' '{}' 1200M",
            big_src.display(),
            big_img.display()
        ))?;
    }
    let tree_src = work.join("tree-src");
    let tree_img = work.join("tree.img");
    if !tree_img.exists() {
        eprintln!("bench-files: making an ext4 image with 20 000 small files (once)");
        let tree = tree_src.join("tree");
        for d in 0..200 {
            let dir = tree.join(format!("d{d:03}"));
            fs::create_dir_all(&dir)?;
            for f in 0..100u64 {
                let n = d * 100 + f;
                let len = 1024 + (n * 2654435761 % 7168) as usize;
                fs::write(
                    dir.join(format!("f{f:03}.txt")),
                    crate::fixtures::pseudo_random(len, n + 1),
                )?;
            }
        }
        shell(&format!(
            "mkfs.ext4 -q -F -d '{}' '{}' 400M",
            tree_src.display(),
            tree_img.display()
        ))?;
    }
    Ok(vec![
        Case {
            name: "one 1 GiB file",
            image: big_img,
            path: "/big.bin",
            src: big_src,
        },
        Case {
            name: "20 000 files of 1–8 KiB",
            image: tree_img,
            path: "/tree",
            src: tree_src,
        },
    ])
}
