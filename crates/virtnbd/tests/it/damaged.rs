//! Damaged files: a clear error naming the file and the offset, never wrong data; the points
//! that do not need the damaged file still restore.

use std::path::Path;

use virtnbd::{Backup, Error};
use vnbdwrite::Options;

use crate::util::{restore, seed, sha, variants, write_chain};

const SIZE: usize = 4 << 20;
const INC1: &str = "vda.inc.virtnbdbackup.1.data";

fn chain(o: Options) -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let (files, states) = seed(SIZE, false);
    let dir = tempfile::tempdir().expect("tempdir");
    write_chain(
        dir.path(),
        &files,
        o,
        &["virtnbdbackup.0", "virtnbdbackup.1", "virtnbdbackup.2"],
    );
    (dir, states)
}

/// Offset of the first data frame header after the meta frame.
fn first_data(bytes: &[u8]) -> usize {
    bytes
        .windows(6)
        .position(|w| w == b"data 0")
        .expect("a data frame")
}

/// inc1 is damaged: the full still restores, every later point is refused with the file's name.
fn assert_inc1_refused(dir: &Path, states: &[Vec<u8>], what: &str) -> String {
    let b = Backup::open(dir).expect("the directory still opens");
    let vda = b.disk("vda").expect("vda");
    assert!(vda.points[0].chain.is_ok(), "{what}: the full");
    let got = restore(dir, Some("virtnbdbackup.0")).expect("full");
    assert_eq!(sha(&got[0].1), sha(&states[0]), "{what}");
    let Err(err) = restore(dir, Some("virtnbdbackup.2")) else {
        panic!("{what}: the point after inc1 was restored");
    };
    let msg = err.to_string();
    assert!(msg.contains(INC1), "{what}: {msg}");
    let err = restore(dir, None).expect("newest restorable");
    assert_eq!(
        sha(&err[0].1),
        sha(&states[0]),
        "{what}: newest restorable is the full"
    );
    msg
}

#[test]
fn truncated_files() {
    for (what, o) in variants() {
        let (dir, states) = chain(o);
        let path = dir.path().join(INC1);
        let whole = std::fs::read(&path).expect("read");
        let d = first_data(&whole);
        for cut in [
            0,
            10,
            45,
            d + 20,
            d + 60,
            whole.len() - 43,
            whole.len() - 30,
            whole.len() - 1,
        ] {
            std::fs::write(&path, &whole[..cut]).expect("cut");
            let stop = whole
                .windows(21)
                .rposition(|w| w == b"stop 0000000000000000")
                .expect("stop");
            if o.compress.is_some() && cut >= stop + 40 {
                // Only the trailer is cut: every frame and checksum is still there, the LZ4
                // frames are found by their structure, and the file says it lost its trailer.
                let got = restore(dir.path(), Some("virtnbdbackup.2")).expect("restore");
                assert_eq!(sha(&got[0].1), sha(&states[3]), "{what}: cut at {cut}");
                let b = Backup::open(dir.path()).expect("open");
                let e = b.entries.iter().find(|e| e.name == INC1).expect("inc1");
                assert!(
                    e.data.as_ref().expect("ok").trailer_missing,
                    "{what}: cut at {cut}"
                );
                continue;
            }
            let msg = assert_inc1_refused(dir.path(), &states, &format!("{what}: cut at {cut}"));
            if cut > 45 {
                assert!(msg.contains("byte"), "{what}: cut at {cut}: {msg}");
            }
        }
    }
}

#[test]
fn flipped_frame_header() {
    for (what, o) in variants() {
        let (dir, states) = chain(o);
        let path = dir.path().join(INC1);
        let mut bytes = std::fs::read(&path).expect("read");
        let d = first_data(&bytes);
        bytes[d + 1] = b'b';
        std::fs::write(&path, &bytes).expect("write");
        let msg = assert_inc1_refused(dir.path(), &states, what);
        assert!(
            msg.contains(&format!("frame header at byte {d}")),
            "{what}: {msg}"
        );
        // A START field that is no longer hexadecimal.
        bytes[d + 1] = b'a';
        bytes[d + 10] = b'x';
        std::fs::write(&path, &bytes).expect("write");
        let msg = assert_inc1_refused(dir.path(), &states, what);
        assert!(msg.contains("hexadecimal"), "{what}: {msg}");
    }
}

#[test]
fn bad_lz4_frame_is_refused_by_its_checksum() {
    let (dir, _) = chain(Options {
        compress: Some(2),
        ..Options::default()
    });
    let path = dir.path().join(INC1);
    let mut bytes = std::fs::read(&path).expect("read");
    // Inside the first block of the first LZ4 frame: past the 40-byte header, the 15-byte frame
    // header (content size stored) and the 4-byte block size.
    let at = first_data(&bytes) + 40 + 15 + 4 + 40;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let b = Backup::open(dir.path()).expect("the structure is intact");
    let inc1 = b.entries.iter().find(|e| e.name == INC1).expect("inc1");
    let err = inc1
        .data
        .as_ref()
        .expect("indexed")
        .check(&mut |_| {})
        .expect_err("checksum");
    assert!(matches!(err, Error::Lz4 { .. }), "{err}");
    assert!(
        err.to_string().contains(INC1) && err.hint().is_some(),
        "{err}"
    );
    let Err(err) = restore(dir.path(), Some("virtnbdbackup.1")) else {
        panic!("restored through a bad LZ4 frame");
    };
    assert!(matches!(err, Error::Lz4 { .. }), "{err}");
}

#[test]
fn lying_trailers() {
    let (dir, states) = chain(Options {
        compress: Some(2),
        split: 128 << 10,
        ..Options::default()
    });
    let path = dir.path().join(INC1);
    let whole = std::fs::read(&path).expect("read");
    let comp = &whole[whole.len() - 40..];
    let tlen =
        usize::from_str_radix(std::str::from_utf8(&comp[22..38]).expect("ascii"), 16).expect("hex");
    let tstart = whole.len() - 42 - tlen;
    let trailer = std::str::from_utf8(&whole[tstart..tstart + tlen])
        .expect("json")
        .to_owned();
    // Each lie keeps the JSON valid and the same length, so only the numbers disagree.
    let first_num = trailer
        .find(|c: char| c.is_ascii_digit())
        .expect("a number");
    let mut lies = Vec::new();
    let mut t = trailer.clone().into_bytes();
    t[first_num] = if t[first_num] == b'9' {
        b'8'
    } else {
        t[first_num] + 1
    };
    lies.push(t);
    // One entry fewer: the first entry's text replaced by spaces and a comma dropped.
    let mut t = trailer.clone().into_bytes();
    let comma = trailer
        .find(", ")
        .or_else(|| trailer.find(','))
        .expect("two entries");
    for b in &mut t[1..=comma] {
        *b = b' ';
    }
    lies.push(t);
    for lie in lies {
        let mut bytes = whole.clone();
        bytes[tstart..tstart + tlen].copy_from_slice(&lie);
        std::fs::write(&path, &bytes).expect("write");
        let msg = assert_inc1_refused(dir.path(), &states, "trailer");
        assert!(msg.contains("trailer"), "{msg}");
    }
    // No trailer at all (a copy cut right after the stop frame): the LZ4 frames are found by
    // their structure, and the point still restores.
    std::fs::write(&path, &whole[..tstart]).expect("write");
    let got = restore(dir.path(), Some("virtnbdbackup.1")).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[1]));
    let b = Backup::open(dir.path()).expect("open");
    assert!(
        b.entries
            .iter()
            .find(|e| e.name == INC1)
            .and_then(|e| e.data.as_ref().ok())
            .expect("inc1")
            .trailer_missing
    );
}
