//! The checks behind the `pxar_read` fuzz target, shared with the stdin reproducer and the seed
//! writer. They assert properties of what the reader accepts, not just "no crash".
//!
//! Input: `0x00 archive` (a unified archive or a metadata stream alone), or
//! `0x01 len:u32le meta payload` (a split archive: `len` bytes of metadata stream, the rest its
//! payload stream).

use pxar::{Archive, Event, Kind};

/// Most walk events followed per input.
const MAX_EVENTS: usize = 10_000;

/// Opens the input as an archive and, when it opens: walks it; reads every file's data; and
/// when the whole walk succeeds (every goodbye table checked), finds every entry again by path
/// through the goodbye tables, with the same kind.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (meta, payload) = if mode & 1 == 1 && rest.len() >= 4 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let rest = &rest[4..];
        let len = len.min(rest.len());
        (rest[..len].to_vec(), Some(rest[len..].to_vec()))
    } else {
        (rest.to_vec(), None)
    };
    let Ok(ar) = Archive::open(meta, payload, "fuzz.pxar") else {
        return;
    };
    let mut seen = Vec::new();
    let mut complete = false;
    let mut buf = vec![0u8; 4096];
    for (i, ev) in ar.walk().enumerate() {
        if i > MAX_EVENTS {
            break;
        }
        match ev {
            Ok(Event::Entry(e)) => {
                if let Kind::File { size, .. } = e.kind {
                    // A file's bytes: as many as it has, never more.
                    let mut off = 0u64;
                    while let Ok(n) = ar.read_file_at(&e, &mut buf, off) {
                        if n == 0 {
                            break;
                        }
                        off += n as u64;
                    }
                    assert!(off <= size);
                }
                if let Kind::Hardlink { target, .. } = &e.kind {
                    assert!(!target.contains(&0));
                }
                if !e.path.is_empty() {
                    for c in e.path.split(|&b| b == b'/') {
                        assert!(pxar::check_name(c).is_ok(), "a bad name got through");
                    }
                }
                seen.push((e.path.clone(), e.is_dir()));
            }
            Ok(Event::Leave(e)) => complete = e.filename_at.is_none(),
            Err(_) => break,
        }
    }
    if !complete {
        return;
    }
    for (path, is_dir) in seen {
        let found = ar
            .lookup(&path)
            .expect("a checked archive finds every entry by path");
        assert_eq!(found.path, path);
        assert_eq!(found.is_dir(), is_dir);
    }
}

/// Seeds: the spec's worked example, the writer's sample tree unified and split.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    // The sample without its 3 MiB file: small seeds mutate faster.
    let pbswrite::pxar::Node::Dir(meta, mut kids) = pbswrite::pxar::sample_tree() else {
        unreachable!("the sample is a directory")
    };
    kids.retain(|(name, _)| name != b"big");
    let mut unified = vec![0u8];
    unified.extend(pbswrite::pxar::unified(&pbswrite::pxar::Node::Dir(
        meta, kids,
    )));
    let mut example = vec![0u8];
    example.extend(pbswrite::pxar::spec_example());
    let (m, p) = pbswrite::pxar::split(
        &pbswrite::pxar::spec_example_tree(),
        &pbswrite::pxar::Split::default(),
    );
    let mut split = vec![1u8];
    split.extend((m.len() as u32).to_le_bytes());
    split.extend(m);
    split.extend(p);
    vec![("example", example), ("sample", unified), ("split", split)]
}
