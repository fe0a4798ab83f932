//! `pverescue patch`: VCDIFF and rdiff deltas made by xdelta3 and Debian's rdiff, applied
//! alone and as chains; expected outputs are the files the deltas were made from.

use std::fs;
use std::path::Path;

use crate::util::*;

/// Three versions of a 2 MiB file, each changing a few scattered ranges of the previous one,
/// and deltas between them made by the real tools.
fn versions() -> tempfile::TempDir {
    for (tool, pkg) in [("xdelta3", "xdelta3"), ("rdiff", "rdiff"), ("zstd", "zstd")] {
        require_tool(tool, pkg);
    }
    let tmp = tempdir();
    let mut data: Vec<u8> = (0..2u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for v in 0..3u8 {
        fs::write(tmp.path().join(format!("v{v}")), &data).expect("write");
        for k in 0..20usize {
            let at = (k * 104_729 + usize::from(v) * 7919) % (data.len() - 512);
            data[at..at + 300].fill(v.wrapping_add(k as u8));
        }
    }
    sh(
        tmp.path(),
        "xdelta3 -e -q -s v0 v1 d1.vcdiff && xdelta3 -e -q -S none -s v1 v2 d2.vcdiff \
         && zstd -q d2.vcdiff -o d2.vcdiff.zst && zstd -q v0 -o v0.zst \
         && rdiff signature v0 s0 && rdiff delta s0 v1 r1 \
         && rdiff signature v1 s1 && rdiff delta s1 v2 r2 && gzip -k r2 \
         && xdelta3 -e -q -c < v1 > nosource.vcdiff",
    );
    tmp
}

fn patch(dir: &Path, args: &[&str]) -> Run {
    let out = pverescue()
        .arg("patch")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn same(dir: &Path, a: &str, b: &str) {
    assert_eq!(
        sha256_file(&dir.join(a)),
        sha256_file(&dir.join(b)),
        "{a} differs from {b}"
    );
}

#[test]
fn vcdiff_chain_with_compressed_base_and_delta() {
    let t = versions();
    let d = t.path();
    let r = patch(d, &["-q", "v0", "d1.vcdiff", "d2.vcdiff.zst", "-o", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    same(d, "out", "v2");
    let r = patch(
        d,
        &["-q", "v0.zst", "d1.vcdiff", "d2.vcdiff.zst", "-o", "out2"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "no temporary file for VCDIFF");
    same(d, "out2", "v2");
    // xdelta3 agrees.
    sh(d, "xdelta3 -d -q -s v0 d1.vcdiff x1");
    same(d, "x1", "v1");
    // Never overwritten.
    let r = patch(d, &["v0", "d1.vcdiff", "-o", "out"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

#[test]
fn rdiff_chain_is_composed_without_temporary_files() {
    let t = versions();
    let d = t.path();
    let r = patch(d, &["v0", "r1", "r2.gz", "-o", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "nothing spooled");
    same(d, "out", "v2");
    // rdiff agrees.
    sh(d, "rdiff patch v0 r1 x1");
    same(d, "x1", "v1");
}

/// An rdiff delta before the last is composed in memory; over `--rdiff-memory` the patch stops
/// before writing anything and says how to split the chain, and the split works.
#[test]
fn rdiff_memory_limit_says_how_to_split_the_chain() {
    let t = versions();
    let d = t.path();
    let r1_len = fs::metadata(d.join("r1")).expect("r1").len();
    let r = patch(
        d,
        &["v0", "r1", "r2.gz", "-o", "out", "--rdiff-memory", "1K"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!d.join("out").exists());
    assert!(r.stderr.contains("above the limit of 1024"), "{}", r.stderr);
    assert!(r.stderr.contains("-o STEP"), "{}", r.stderr);
    // r1 is far bigger than 1 KiB, so its literals cannot fit; a limit of its size must do.
    assert!(r1_len > 4096, "r1 is {r1_len} bytes");
    let limit = r1_len.to_string();
    let ok = patch(
        d,
        &["v0", "r1", "r2.gz", "-o", "out", "--rdiff-memory", &limit],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    same(d, "out", "v2");
    // The split the hint describes.
    assert_eq!(patch(d, &["v0", "r1", "-o", "step"]).code, 0);
    assert_eq!(patch(d, &["step", "r2.gz", "-o", "out2"]).code, 0);
    same(d, "out2", "v2");
}

#[test]
fn compressed_rdiff_basis_is_spooled_and_said_so() {
    let t = versions();
    let d = t.path();
    let r = patch(d, &["v0.zst", "r1", "-o", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("rdiff needs random access to its basis"),
        "{}",
        r.stderr
    );
    same(d, "out", "v1");
    // A VCDIFF result feeding an rdiff delta is spooled the same way.
    let r = patch(d, &["v0", "d1.vcdiff", "r2", "-o", "mixed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("d1.vcdiff: rdiff needs"), "{}", r.stderr);
    same(d, "mixed", "v2");
    let leftovers: Vec<_> = fs::read_dir(d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn delta_without_source_applies_to_dev_null() {
    let t = versions();
    let d = t.path();
    let out = pverescue()
        .args(["patch", "/dev/null", "nosource.vcdiff", "-o", "-"])
        .current_dir(d)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == fs::read(d.join("v1")).expect("v1"));
}

#[test]
fn patch_json() {
    let t = versions();
    let d = t.path();
    let r = patch(d, &["--json", "v0.zst", "d1.vcdiff", "r2.gz", "-o", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    insta::assert_json_snapshot!(v, {".seconds" => "[SECONDS]"});
    same(d, "out", "v2");
}

#[test]
fn bad_deltas_are_clear_errors() {
    let t = versions();
    let d = t.path();
    // A basis shorter than the delta expects: the copy past its end is named.
    let v0 = fs::read(d.join("v0")).expect("v0");
    fs::write(d.join("short"), &v0[..v0.len() / 2]).expect("short");
    let r = patch(d, &["short", "r1", "-o", "o1"]);
    assert_eq!(r.code, 2);
    assert!(!d.join("o1").exists());
    // A reserved command byte right after the magic.
    fs::write(d.join("badop"), [0x72, 0x73, 0x02, 0x36, 0x55, 0x00]).expect("write");
    let r2 = patch(d, &["v0", "badop", "-o", "o2"]);
    assert_eq!(r2.code, 2);
    // A signature is not a delta; neither is a random file.
    let r3 = patch(d, &["v0", "s0", "-o", "o3"]);
    assert_eq!(r3.code, 2);
    let r4 = patch(d, &["v0", "v1", "-o", "o4"]);
    assert_eq!(r4.code, 2);
    // A VCDIFF delta on the wrong base fails its checksum; on a truncated delta, the offset.
    let r5 = patch(d, &["v2", "d1.vcdiff", "-o", "o5"]);
    assert_eq!(r5.code, 2);
    let delta = fs::read(d.join("d1.vcdiff")).expect("d1");
    fs::write(d.join("cut.vcdiff"), &delta[..delta.len() - 10]).expect("cut");
    let r6 = patch(d, &["v0", "cut.vcdiff", "-o", "o6"]);
    assert_eq!(r6.code, 2);
    for o in ["o1", "o2", "o3", "o4", "o5", "o6"] {
        assert!(!d.join(o).exists(), "{o} must not be left behind");
    }
    let all = [r, r2, r3, r4, r5, r6]
        .iter()
        .map(|r| r.stderr.clone())
        .collect::<String>();
    insta::assert_snapshot!(all);
}
