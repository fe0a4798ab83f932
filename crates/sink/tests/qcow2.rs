//! The qcow2 writer against qemu-img: `check` finds no error or leak, `convert -O raw` gives
//! the bytes the test wrote (kept in memory by the test), and `map` shows the zero runs as
//! unallocated.

use sha2::Digest;

fn sha(b: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(b))
}

#[test]
fn qemu_img_reads_what_was_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // 5 MiB + 1024 bytes: a partial last cluster; 600 MiB: a write past the first L2 table's
    // 512 MiB.
    for size in [(5u64 << 20) + 1024, 600 << 20] {
        let created = sink::Created::new();
        let out = tmp.path().join(format!("o{size}"));
        let dir = sink::OutDir::create(&out, false, &created).expect("dir");
        let mut w =
            sink::qcow2::Qcow2Writer::new_in_dir(&dir, "d.qcow2".as_ref(), size, false, &created)
                .expect("new");
        let mut want: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut put = |w: &mut sink::qcow2::Qcow2Writer, at: u64, data: Vec<u8>| {
            w.write(at, &data).expect("write");
            want.push((at, data));
        };
        // Out of order, unaligned, across clusters, an overwrite, all-zero data.
        put(&mut w, 3 << 20, vec![0xaa; 200_000]);
        put(&mut w, 100, (0..=255u8).cycle().take(70_000).collect());
        put(&mut w, (3 << 20) + 1000, vec![0x55; 10]);
        put(&mut w, 1 << 20, vec![0; 1 << 16]);
        put(&mut w, size - 7, vec![7; 7]);
        // Zeros over part of the data written.
        w.zero((3 << 20) + 50_000, 20_000).expect("zero");
        want.push(((3 << 20) + 50_000, vec![0; 20_000]));
        let path = w.finish(false, &created).expect("finish");
        assert!(
            sink::qcow2::Qcow2Writer::new_in_dir(
                &dir,
                "odd.qcow2".as_ref(),
                1000,
                false,
                &sink::Created::new()
            )
            .is_err(),
            "whole sectors only"
        );
        created.commit();
        let p = path.to_str().expect("utf-8");
        testimg::run("qemu-img", &["check", p]);
        // The expected image as a sparse raw file, compared by qemu-img itself.
        let want_raw = tmp.path().join(format!("w{size}"));
        let f = std::fs::File::create(&want_raw).expect("create");
        f.set_len(size).expect("size");
        for (at, d) in &want {
            std::os::unix::fs::FileExt::write_all_at(&f, d, *at).expect("write");
        }
        let w = want_raw.to_str().expect("utf-8");
        testimg::run("qemu-img", &["compare", "-f", "raw", "-F", "qcow2", w, p]);
        if size < 16 << 20 {
            let raw = tmp.path().join(format!("r{size}"));
            testimg::run(
                "qemu-img",
                &["convert", "-O", "raw", p, raw.to_str().expect("utf-8")],
            );
            assert_eq!(
                sha(&std::fs::read(&raw).expect("raw")),
                sha(&std::fs::read(&want_raw).expect("want")),
                "size {size}"
            );
        }
        // Only the clusters that received non-zero data are allocated.
        let data = testimg::qemu_img_data_bytes(&path);
        let mut clusters = std::collections::BTreeSet::new();
        for (at, d) in &want {
            for (i, b) in d.iter().enumerate() {
                if *b != 0 {
                    clusters.insert((at + i as u64) / 65536);
                }
            }
        }
        let expect: u64 = clusters.iter().map(|c| (size - c * 65536).min(65536)).sum();
        assert_eq!(data, expect, "size {size}");
    }
}
