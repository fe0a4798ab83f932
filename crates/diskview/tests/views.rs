//! The views against what the same bytes read through plain files and `cmp` would give.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Write};

use diskview::{FileView, ReadAt, Seekable, Window};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_sparse_file_reads_like_its_bytes_and_reports_its_holes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.raw");
    // 1 MiB data, 2 MiB hole, 1 MiB data, 1 MiB hole at the end; made by dd-like writes.
    let mut f = std::fs::File::create(&path).unwrap();
    let data = pattern(1 << 20);
    f.write_all(&data).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &data, 3 << 20).unwrap();
    f.set_len(5 << 20).unwrap();
    drop(f);
    let v = FileView::open(&path).unwrap();
    assert_eq!(v.size(), 5 << 20);
    let mut buf = vec![0u8; 4096];
    v.read_exact_at(&mut buf, (3 << 20) + 4096).unwrap();
    assert_eq!(buf, data[4096..8192]);
    v.read_exact_at(&mut buf, 2 << 20).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    assert!(v.read_exact_at(&mut buf, (5 << 20) - 100).is_err());
    let holes = v.zero_ranges(0, 5 << 20).unwrap();
    // File systems may round holes to their block size, never beyond the data.
    assert_eq!(holes, [(1 << 20)..(3 << 20), (4 << 20)..(5 << 20)]);
    let w = Window::new(&v, 1 << 20, 3 << 20).unwrap();
    assert_eq!(w.zero_ranges(0, 3 << 20).unwrap(), vec![0..(2 << 20)]);
}

#[test]
fn any_read_seek_is_a_view_including_an_rdiff_chain() {
    let bytes = pattern(100_000);
    let s = Seekable::new(Cursor::new(bytes.clone())).unwrap();
    let mut buf = [0u8; 10];
    s.read_exact_at(&mut buf, 99_990).unwrap();
    assert_eq!(buf, bytes[99_990..]);
    assert!(s.read_exact_at(&mut buf, 99_991).is_err());
    // An rdiff delta made by the real rdiff, composed over its basis without an intermediate.
    let dir = tempfile::tempdir().unwrap();
    let basis = pattern(300_000);
    let mut new = basis[150_000..].to_vec();
    new.extend(b"a literal tail");
    new.extend(&basis[..70_000]);
    std::fs::write(dir.path().join("basis"), &basis).unwrap();
    std::fs::write(dir.path().join("new"), &new).unwrap();
    let ok = std::process::Command::new("sh")
        .args([
            "-c",
            "rdiff signature basis sig && rdiff delta sig new delta",
        ])
        .current_dir(dir.path())
        .status()
        .expect("rdiff (apt-get install rdiff)");
    assert!(ok.success());
    let delta = std::fs::read(dir.path().join("delta")).unwrap();
    let patched = vcdiff::rdiff::Patched::new(Cursor::new(basis), &delta[..]).unwrap();
    let v = Seekable::new(patched).unwrap();
    assert_eq!(v.size(), new.len() as u64);
    let mut out = vec![0u8; 20_000];
    v.read_exact_at(&mut out, 140_000).unwrap();
    assert_eq!(out, new[140_000..160_000]);
}
