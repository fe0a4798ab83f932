//! Writes fuzzing seeds for `vcdiff_decode`: `(source, delta)` pairs made by the real xdelta3
//! and rdiff from `testdata/small.{src,tgt}`, in the byte layout `arbitrary` uses for a
//! `(&[u8], &[u8])` tuple: source, delta, then the source length as two big-endian bytes
//! (valid for inputs of 258 to 65537 bytes).
//!
//! Run with `cargo run --manifest-path fuzz/Cargo.toml --bin seeds` from `crates/vcdiff`.

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&Path]) {
    let status = Command::new(program).args(args).status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            panic!("{program} {args:?} failed ({other:?}); install the Debian package {program}")
        }
    }
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = here.join("../testdata");
    let out_dir = here.join("corpus/vcdiff_decode");
    std::fs::create_dir_all(&out_dir).expect("create corpus dir");
    let src_path = data.join("small.src");
    let tgt_path = data.join("small.tgt");
    let src = std::fs::read(&src_path).expect("small.src");
    let tmp = std::env::temp_dir().join(format!("vcdiff-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let out = tmp.join("delta");

    let seed = |name: &str, source: &[u8], delta: &[u8]| {
        let n = u16::try_from(source.len()).expect("small source");
        let mut blob = [source, delta].concat();
        assert!(
            (256..=65535).contains(&blob.len()),
            "seed {name} is {} bytes",
            blob.len()
        );
        blob.extend_from_slice(&n.to_be_bytes());
        std::fs::write(out_dir.join(name), blob).expect("write seed");
    };

    let variants: [(&str, &[&str]); 8] = [
        ("default", &[]),
        ("none", &["-S", "none"]),
        ("nocheck", &["-n"]),
        ("noapp", &["-A"]),
        ("djw", &["-S", "djw"]),
        ("fgk", &["-S", "fgk"]),
        ("w16k", &["-W", "16384"]),
        ("w16k-none", &["-W", "16384", "-S", "none"]),
    ];
    // Runs `xdelta3 -e` with `flags` (and `-s source` if given) and returns the delta.
    let encode = |flags: &[&str], source: Option<&Path>, target: &Path| {
        let mut cmd = Command::new("xdelta3");
        cmd.args(["-e", "-f"]).args(flags);
        if let Some(source) = source {
            cmd.arg("-s").arg(source);
        }
        cmd.arg(target).arg(&out);
        assert!(
            cmd.status()
                .expect("xdelta3 (Debian package xdelta3)")
                .success()
        );
        std::fs::read(&out).expect("delta")
    };
    for (name, flags) in variants {
        let delta = encode(flags, Some(&src_path), &tgt_path);
        seed(&format!("xdelta3-{name}"), &src, &delta);
    }
    seed("xdelta3-nosource", b"", &encode(&[], None, &tgt_path));

    // Deltas whose sections DJW and FGK really compress: skewed letters without a source
    // (small.tgt is too small for them to save anything). `fgk-w16k` has several windows,
    // some with sections stored plain that the FGK trees must replay.
    let skewed_path = tmp.join("skewed");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let skewed: Vec<u8> = (0..40_000)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            b"eeeeeeeettttaaoinshrdlu\n"[(state >> 33) as usize % 24]
        })
        .collect();
    std::fs::write(&skewed_path, &skewed).expect("write skewed target");
    let huffman: [(&str, &[&str]); 4] = [
        ("djw", &["-S", "djw"]),
        ("djw9", &["-S", "djw9"]),
        ("fgk", &["-S", "fgk"]),
        ("fgk-w16k", &["-S", "fgk", "-W", "16384"]),
    ];
    for (name, flags) in huffman {
        let delta = encode(flags, None, &skewed_path);
        seed(&format!("xdelta3-skewed-{name}"), b"", &delta);
    }

    let sig = tmp.join("sig");
    let rdelta = tmp.join("rdelta");
    run("rdiff", &[Path::new("signature"), &src_path, &sig]);
    run("rdiff", &[Path::new("delta"), &sig, &tgt_path, &rdelta]);
    seed("rdiff", &src, &std::fs::read(&rdelta).expect("rdiff delta"));
    std::fs::remove_dir_all(&tmp).expect("clean up");
    println!("seeds written to {}", out_dir.display());
}
