//! Which point the drill restores (issue 12, item 2): a newer full beside an older full and its
//! differential, a newest differential whose full is gone (fall back to the newest point that
//! has its full), only an orphan, and a newest differential that is corrupt (the VM fails on
//! it, and the drill falls back to the next older point to say whether that one restores).
//!
//! Every state of the disk is a 1 MiB image of its own pattern; fulls are VMAs of it compressed
//! by the real zstd, differentials are made by the real xdelta3 from the full's VMA, as vzdump
//! makes them. The restored disk (kept) must have the sha256 that `sha256sum` gives for the
//! image of the point expected, so the choice is checked by content, not only by name.

use std::path::{Path, PathBuf};

use testimg::sh;

use crate::directory::{vm_report, vma_of};

const MIB: usize = 1 << 20;

/// One state of a VM's disk, and its VMA.
struct State {
    image: PathBuf,
    vma: PathBuf,
}

/// A 1 MiB disk whose every byte depends on `seed` and its offset, and its plain VMA.
fn state(work: &Path, seed: u32) -> State {
    let image = work.join(format!("state{seed}.raw"));
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    let bytes: Vec<u8> = (0..MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&image, bytes).unwrap();
    let vma = work.join(format!("state{seed}.vma"));
    vma_of(&image, &vma);
    State { image, vma }
}

fn full(dump: &Path, s: &State, vmid: u32, time: &str) -> PathBuf {
    let out = dump.join(format!("vzdump-qemu-{vmid}-{time}.vma.zst"));
    sh("zstd -q -c \"$1\" > \"$2\"", &[&s.vma, &out]);
    out
}

/// The differential from `base`'s VMA to `s`'s, named after the full file `full_name`.
fn differential(dump: &Path, full_name: &str, base: &State, s: &State, time: &str) -> PathBuf {
    let out = dump.join(format!("{full_name}--differential-{time}.vcdiff.zst"));
    sh(
        "xdelta3 -e -q -c -s \"$1\" < \"$2\" | zstd -q > \"$3\"",
        &[&base.vma, &s.vma, &out],
    );
    out
}

/// `sha256sum` of a file: the independent oracle for the restored disk.
fn sha256sum(path: &Path) -> String {
    let out = testimg::run("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

/// The one restored disk of VM `vmid` kept under `scratch` (found with `find`, wherever the
/// drill lays out its directory).
fn restored_disk(scratch: &Path, vmid: &str) -> PathBuf {
    let out = testimg::run(
        "find",
        &[
            scratch.to_str().unwrap(),
            "-path",
            &format!("*/vm-{vmid}/*"),
            "-type",
            "f",
            "-name",
            "*drive-scsi0*",
        ],
    );
    let found: Vec<&str> = out.lines().collect();
    assert_eq!(found.len(), 1, "restored disks of VM {vmid}: {found:?}");
    PathBuf::from(found[0])
}

#[test]
fn issue12_item2_drill_restores_the_newest_restorable_point() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dump = w.join("dump");
    std::fs::create_dir(&dump).unwrap();
    let (a, b, c, d) = (state(w, 1), state(w, 2), state(w, 3), state(w, 4));

    // VM 400: full A (Jan 1) + differential to B (Jan 2), then a newer full C (Jan 3): C.
    let f400 = full(&dump, &a, 400, "2026_01_01-00_00_00");
    differential(
        &dump,
        "vzdump-qemu-400-2026_01_01-00_00_00.vma.zst",
        &a,
        &b,
        "2026_01_02-00_00_00",
    );
    let c400 = full(&dump, &c, 400, "2026_01_03-00_00_00");
    assert!(f400.is_file());

    // VM 401: full A (Jan 1) + differential to B (Jan 2); the newest backup is a differential
    // (Jan 5) of a full that is gone (Dec 1): fall back to A + B and note the orphan.
    let f401 = full(&dump, &a, 401, "2026_01_01-00_00_00");
    let d401 = differential(
        &dump,
        "vzdump-qemu-401-2026_01_01-00_00_00.vma.zst",
        &a,
        &b,
        "2026_01_02-00_00_00",
    );
    let orphan401 = differential(
        &dump,
        "vzdump-qemu-401-2025_12_01-00_00_00.vma.zst",
        &c,
        &d,
        "2026_01_05-00_00_00",
    );

    // VM 402: nothing but an orphan differential.
    let orphan402 = differential(
        &dump,
        "vzdump-qemu-402-2025_12_01-00_00_00.vma.zst",
        &a,
        &b,
        "2026_01_02-00_00_00",
    );

    // VM 403: full A + differential to B (Jan 2) + a newer differential to C (Jan 3) whose
    // stream is corrupt: the newest point is chosen and fails (an older point does not hide
    // it), and the drill falls back to B to say that it restores.
    let f403 = full(&dump, &a, 403, "2026_01_01-00_00_00");
    let d403 = differential(
        &dump,
        "vzdump-qemu-403-2026_01_01-00_00_00.vma.zst",
        &a,
        &b,
        "2026_01_02-00_00_00",
    );
    let bad403 = differential(
        &dump,
        "vzdump-qemu-403-2026_01_01-00_00_00.vma.zst",
        &a,
        &c,
        "2026_01_03-00_00_00",
    );
    testimg::corrupt_zstd(&bad403);

    let plan = drill::plan(std::slice::from_ref(&dump)).unwrap();
    let scratch = w.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let opts = drill::Options {
        scratch: scratch.clone(),
        no_mount: true,
        keep: true,
        ..Default::default()
    };
    let report = drill::run(&plan, &opts, &mut ()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let vm = |id: &str| vm_report(&json, id);
    let paths = |ps: &[&Path]| {
        serde_json::json!(
            ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        )
    };

    let v400 = vm("400");
    assert_eq!(v400["archives"], paths(&[&c400]), "{v400:#}");
    assert_eq!(v400["time"], "2026_01_03-00_00_00");
    assert_eq!(v400["passed"], true, "{v400:#}");
    assert_eq!(
        sha256sum(&restored_disk(&scratch, "400")),
        sha256sum(&c.image),
        "VM 400 restored state C"
    );

    let v401 = vm("401");
    assert_eq!(v401["archives"], paths(&[&f401, &d401]), "{v401:#}");
    assert_eq!(v401["time"], "2026_01_02-00_00_00");
    assert_eq!(v401["passed"], true, "{v401:#}");
    assert_eq!(
        sha256sum(&restored_disk(&scratch, "401")),
        sha256sum(&b.image),
        "VM 401 restored state B"
    );
    let notes = v401["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with(&format!("orphan differential {}", orphan401.display()))),
        "{v401:#}"
    );

    let v402 = vm("402");
    assert_eq!(v402["passed"], false);
    assert_eq!(v402["archives"], serde_json::json!([]));
    let why = v402["reason"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "no restorable backup: orphan differential {}",
            orphan402.display()
        )),
        "{why}"
    );

    let v403 = vm("403");
    assert_eq!(v403["archives"], paths(&[&f403, &bad403]), "{v403:#}");
    assert_eq!(v403["time"], "2026_01_03-00_00_00");
    assert_eq!(v403["passed"], false, "{v403:#}");
    let why = v403["reason"].as_str().unwrap();
    assert!(why.contains("zstd"), "{v403:#}");
    assert!(
        why.contains("the next older point (2026_01_02-00_00_00) restores and passes"),
        "{v403:#}"
    );
    let fb = &v403["fallback"];
    assert_eq!(fb["passed"], true, "{v403:#}");
    assert_eq!(fb["time"], "2026_01_02-00_00_00");
    assert_eq!(fb["archives"], paths(&[&f403, &d403]), "{v403:#}");
    assert_eq!(
        sha256sum(&restored_disk(&scratch, "403-older")),
        sha256sum(&b.image),
        "VM 403 fell back to state B"
    );
    // A VM whose newest point passes has no fallback.
    assert!(vm("401")["fallback"].is_null());

    assert_eq!(json["passed"], false);
}
