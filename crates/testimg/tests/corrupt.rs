//! `corrupt_zstd` picks a flip the real `zstd -t` rejects (issue 12, item 5).

use std::process::{Command, Stdio};

fn zstd_accepts(path: &std::path::Path) -> bool {
    Command::new("zstd")
        .args(["-q", "-t"])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .expect("zstd")
        .success()
}

/// A file whose middle byte can be flipped without `zstd -t` noticing: a skippable frame (any
/// payload is valid, RFC 8878 §3.1.2) longer than the data frame after it. A fixed mid-stream flip
/// leaves this file valid; the helper must walk on into the data frame.
#[test]
fn issue12_item5_corrupt_zstd_picks_a_flip_zstd_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("data");
    std::fs::write(&plain, b"0123456789abcdef".repeat(64)).expect("write");
    testimg::run("zstd", &["-q", plain.to_str().expect("utf-8")]);
    let frame = std::fs::read(dir.path().join("data.zst")).expect("read the frame");
    let payload = frame.len() + 64;
    let mut file = 0x184D_2A50_u32.to_le_bytes().to_vec();
    file.extend((payload as u32).to_le_bytes());
    file.extend(vec![0xAA; payload]);
    let data_start = file.len() as u64;
    file.extend(&frame);
    let path = dir.path().join("x.zst");
    std::fs::write(&path, &file).expect("write");
    assert!(zstd_accepts(&path));

    // The fixed flip of old: the file stays valid.
    let mut fixed = file.clone();
    let mid = fixed.len() / 2;
    fixed[mid] ^= 0x40;
    std::fs::write(&path, &fixed).expect("write");
    assert!(
        zstd_accepts(&path),
        "the middle flip is in the skippable frame"
    );

    std::fs::write(&path, &file).expect("write");
    let at = testimg::corrupt_zstd(&path);
    assert!(
        at >= data_start,
        "flip at {at}, data frame from {data_start}"
    );
    assert!(!zstd_accepts(&path));
    let mut want = file;
    want[at as usize] ^= 0x40;
    assert_eq!(
        std::fs::read(&path).expect("read"),
        want,
        "one byte flipped"
    );
}
