//! Stream files written by virtnbdbackup's own writer code (`upstream_writer.py` drives the
//! `libvirtnbdbackup` module of Debian's package), read back by the virtnbd crate: plain and LZ4,
//! extents split at a small NBD request limit, a full and an incremental. Compared with the disk
//! states the test built.

use std::path::Path;

use vnbdwrite::Extent;

use crate::util::{BLOCK, Rng, restore, sha};

const SIZE: usize = 2 << 20;

/// Writes `extents` of `image` (the disk as the NBD export shows it) with upstream's writer.
#[allow(clippy::too_many_arguments)]
fn upstream(
    dir: &Path,
    name: &str,
    image: &[u8],
    extents: &[Extent],
    level: &str,
    cp: &str,
    parent: &str,
    compress: Option<i32>,
) {
    let img = dir.join(format!("{name}.image"));
    std::fs::write(&img, image).expect("image");
    let ext: Vec<serde_json::Value> = extents
        .iter()
        .map(|e| match e {
            Extent::Data(at, d) => serde_json::json!([at, d.len(), true]),
            Extent::Zero(at, len) => serde_json::json!([at, len, false]),
        })
        .collect();
    let spec = serde_json::json!({
        "disk": "vda", "size": image.len(), "checkpoint": cp, "parent": parent, "level": level,
        "compress": compress.map_or(serde_json::json!(false), |l| serde_json::json!(l)),
        "max_request": 100_000, "extents": ext,
    });
    let spec_path = dir.join(format!("{name}.json"));
    std::fs::write(&spec_path, spec.to_string()).expect("spec");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/upstream_writer.py");
    let out = dir.join(name);
    testimg::run(
        "/usr/bin/python3",
        &[
            script.to_str().expect("utf-8"),
            out.to_str().expect("utf-8"),
            img.to_str().expect("utf-8"),
            spec_path.to_str().expect("utf-8"),
        ],
    );
    std::fs::remove_file(img).expect("rm");
    std::fs::remove_file(spec_path).expect("rm");
}

#[test]
fn files_written_by_virtnbdbackups_own_writer() {
    let mut rng = Rng::new(21);
    let mut s0 = vec![0u8; SIZE];
    rng.fill(&mut s0, 0, 5 * BLOCK);
    rng.fill(&mut s0, 20 * BLOCK, BLOCK);
    let mut s1 = s0.clone();
    rng.fill(&mut s1, 2 * BLOCK, 3 * BLOCK);
    rng.fill(&mut s1, 30 * BLOCK, 1000);
    for compress in [None, Some(2)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        upstream(
            d,
            "vda.full.data",
            &s0,
            &vnbdwrite::full_extents(&s0, BLOCK),
            "full",
            "virtnbdbackup.0",
            "",
            compress,
        );
        upstream(
            d,
            "vda.inc.virtnbdbackup.1.data",
            &s1,
            &vnbdwrite::changed_extents(&s0, &s1, BLOCK),
            "inc",
            "virtnbdbackup.1",
            "virtnbdbackup.0",
            compress,
        );
        let b = virtnbd::Backup::open(d).expect("open");
        let full = b
            .entries
            .iter()
            .find(|e| e.name == "vda.full.data")
            .and_then(|e| e.data.as_ref().ok())
            .expect("full");
        assert_eq!(full.meta.compressed, compress.is_some());
        // The 5-block extent was split at the 100 000-byte request limit into 4 LZ4 frames.
        if compress.is_some() {
            let pieces = full.frames.iter().map(|f| match &f.payload {
                virtnbd::file::Payload::Lz4(p) => p.len(),
                _ => 0,
            });
            assert_eq!(pieces.max(), Some(4));
        }
        for e in &b.entries {
            e.data
                .as_ref()
                .expect("indexed")
                .check(&mut |_| {})
                .expect("check");
        }
        let got = restore(d, Some("virtnbdbackup.0")).expect("full");
        assert_eq!(sha(&got[0].1), sha(&s0), "{compress:?}");
        let got = restore(d, None).expect("inc");
        assert_eq!(sha(&got[0].1), sha(&s1), "{compress:?}");
    }
}
