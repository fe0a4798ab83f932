//! Archives only a hostile or broken writer makes: names leading out, a symlink then a file
//! through it, hardlinks to what was not extracted, huge sizes, truncation, bad goodbye tables,
//! bad payload references. Each is a clear error (or a damaged file), nothing outside the
//! target, nothing under the final name, no panic.

use std::path::Path;

use pbswrite::pxar::{Meta, Node, Split};
use pxar::Archive;
use pxar::extract::{Options, extract};

fn file(data: &[u8]) -> Node {
    Node::File(Meta::mode(0o100644), data.to_vec())
}

fn dir(kids: Vec<(&[u8], Node)>) -> Node {
    Node::Dir(
        Meta::mode(0o040755),
        kids.into_iter().map(|(n, k)| (n.to_vec(), k)).collect(),
    )
}

/// Extracts into `d/out/tree`, with a sentinel directory `d/outside` beside it.
fn try_extract(d: &Path, bytes: Vec<u8>) -> pxar::Result<pxar::extract::Report> {
    let ar = Archive::open(bytes, None, "hostile.pxar")?;
    std::fs::create_dir_all(d.join("out")).unwrap();
    std::fs::create_dir_all(d.join("outside")).unwrap();
    extract(
        &ar,
        &d.join("out"),
        "tree".as_ref(),
        &Options::for_this_process(),
        &mut (),
    )
}

fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Nothing under the final name, no temporary tree, nothing outside.
fn nothing_left(d: &Path) {
    assert!(
        entries(&d.join("out")).is_empty(),
        "{:?}",
        entries(&d.join("out"))
    );
    assert!(entries(&d.join("outside")).is_empty());
    assert_eq!(entries(d), ["out", "outside"]);
}

#[test]
fn names_leading_out_or_not_names_are_refused_and_nothing_is_left() {
    for name in [
        &b".."[..],
        b".",
        b"",
        b"../x",
        b"/etc/x",
        b"a/b",
        b"../outside/x",
    ] {
        let d = tempfile::tempdir().unwrap();
        let bytes = pbswrite::pxar::unified(&dir(vec![(b"ok", file(b"1")), (name, file(b"evil"))]));
        let e = try_extract(d.path(), bytes).unwrap_err();
        assert!(matches!(e, pxar::Error::BadName { .. }), "{name:?}: {e}");
        assert!(e.hint().is_some());
        nothing_left(d.path());
    }
    // A NUL inside a name.
    let d = tempfile::tempdir().unwrap();
    let bytes = pbswrite::pxar::unified(&dir(vec![(b"a\0b", file(b"evil"))]));
    let e = try_extract(d.path(), bytes).unwrap_err();
    assert!(e.to_string().contains("one NUL"), "{e}");
    nothing_left(d.path());
}

#[test]
fn a_symlink_then_a_directory_or_file_through_it_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path().join("outside");
    let target = outside.as_os_str().as_encoded_bytes().to_vec();
    let link = Node::Symlink(Meta::mode(0o120777), target.clone());
    // `a` a link to outside, then `a/x`.
    let bytes = pbswrite::pxar::unified(&dir(vec![
        (b"a", link.clone()),
        (b"a", dir(vec![(b"x", file(b"evil"))])),
    ]));
    let e = try_extract(d.path(), bytes).unwrap_err();
    assert!(matches!(e, pxar::Error::Duplicate { .. }), "{e}");
    nothing_left(d.path());
    // `f` a link to a file outside, then `f` a file: the link is never written through.
    std::fs::write(d.path().join("victim"), b"precious").unwrap();
    let mut t = target.clone();
    t.extend_from_slice(b"/../victim");
    let bytes = pbswrite::pxar::unified(&dir(vec![
        (b"f", Node::Symlink(Meta::mode(0o120777), t)),
        (b"f", file(b"evil")),
    ]));
    let e = try_extract(d.path(), bytes).unwrap_err();
    assert!(matches!(e, pxar::Error::Duplicate { .. }), "{e}");
    assert_eq!(std::fs::read(d.path().join("victim")).unwrap(), b"precious");
    std::fs::remove_file(d.path().join("victim")).unwrap();
    nothing_left(d.path());
}

#[test]
fn hardlinks_to_what_this_run_did_not_create_are_damaged_files() {
    let d = tempfile::tempdir().unwrap();
    let passwd_links = std::fs::metadata("/etc/passwd")
        .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
        .ok();
    let link = Node::Symlink(Meta::mode(0o120777), b"/etc".to_vec());
    let bytes = pbswrite::pxar::unified(&dir(vec![
        (b"a-out", Node::Hardlink(b"../../etc/passwd".to_vec())),
        (b"b-abs", Node::Hardlink(b"/etc/passwd".to_vec())),
        (b"c-later", Node::Hardlink(b"z".to_vec())),
        (b"d-via-link", Node::Hardlink(b"s/passwd".to_vec())),
        (b"e-dir", Node::Hardlink(b"sub".to_vec())),
        (b"s", link),
        (b"sub", dir(vec![])),
        (b"z", file(b"z")),
    ]));
    let r = try_extract(d.path(), bytes).unwrap();
    let damaged: Vec<&str> = r.damaged.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        damaged,
        ["a-out", "b-abs", "c-later", "d-via-link", "e-dir"]
    );
    assert_eq!(entries(&d.path().join("out/tree")), ["s", "sub", "z"]);
    let now = std::fs::metadata("/etc/passwd")
        .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
        .ok();
    assert_eq!(passwd_links, now);
}

/// The spec example with the u64 at `at` replaced.
fn patched(at: usize, value: u64) -> Vec<u8> {
    let mut b = pbswrite::pxar::spec_example();
    b[at..at + 8].copy_from_slice(&value.to_le_bytes());
    b
}

fn walk_err(bytes: Vec<u8>) -> pxar::Error {
    match Archive::open(bytes, None, "x.pxar") {
        Err(e) => e,
        Ok(ar) => ar.walk().find_map(Result::err).expect("the walk must fail"),
    }
}

#[test]
fn huge_sizes_are_errors_not_allocations() {
    // a.txt's ENTRY (at 78) and FILENAME (at 56) claiming u64::MAX and 2^40 bytes; the root
    // ENTRY claiming 2^62.
    for (at, v) in [
        (86, u64::MAX),
        (64, 1 << 40),
        (8, 1 << 62),
        (142, u64::MAX - 8),
    ] {
        let e = walk_err(patched(at, v));
        assert!(matches!(e, pxar::Error::Truncated { .. }), "{at}: {e}");
    }
    // A goodbye tail whose table size is huge: lookups fail cleanly.
    let b = patched(675 - 8, u64::MAX);
    let ar = Archive::open(b, None, "x.pxar").unwrap();
    assert!(matches!(
        ar.lookup(b"a.txt"),
        Err(pxar::Error::Goodbye { .. })
    ));
    // An xattr over the limit.
    let mut m = Meta::mode(0o100644);
    m.xattrs = vec![(b"user.big".to_vec(), vec![7u8; 70_000])];
    let e = walk_err(pbswrite::pxar::unified(&dir(vec![(
        b"f",
        Node::File(m, vec![]),
    )])));
    assert!(matches!(e, pxar::Error::Limit { .. }), "{e}");
}

#[test]
fn every_truncation_is_an_error_and_extracts_nothing() {
    let full = pbswrite::pxar::spec_example();
    for cut in 0..full.len() {
        let e = walk_err(full[..cut].to_vec());
        assert!(!e.to_string().is_empty());
    }
    for cut in [100, 400, 600, 674] {
        let d = tempfile::tempdir().unwrap();
        assert!(try_extract(d.path(), full[..cut].to_vec()).is_err());
        nothing_left(d.path());
    }
}

#[test]
fn a_goodbye_table_that_does_not_match_is_an_error() {
    let b = pbswrite::pxar::spec_example();
    // The root table's items are at 555..651; the tail at 651.
    for at in [555usize, 563, 571, 651 + 8] {
        let mut x = b.clone();
        x[at] ^= 1;
        let e = walk_err(x);
        assert!(matches!(e, pxar::Error::Goodbye { .. }), "{at}: {e}");
    }
    // The walk checks the table d's goodbye too (at 379).
    let mut x = b.clone();
    x[379 + 16] ^= 1;
    assert!(matches!(walk_err(x), pxar::Error::Goodbye { .. }));
    // Lookups confirm the hash of the name they find.
    let mut x = b;
    let items: Vec<usize> = (0..4).map(|i| 555 + 24 * i).collect();
    let a = items
        .into_iter()
        .find(|&o| x[o..o + 8] == pxar::format::hash_filename(b"a.txt").to_le_bytes())
        .unwrap();
    // Point a.txt's item at b.txt's FILENAME: the name's hash does not match.
    x[a + 8..a + 16].copy_from_slice(&(539u64 - 156).to_le_bytes());
    let ar = Archive::open(x, None, "x.pxar").unwrap();
    let e = ar.lookup(b"a.txt").unwrap_err();
    assert!(matches!(e, pxar::Error::Goodbye { .. }), "{e}");
}

#[test]
fn bad_payload_references_are_damaged_files() {
    let tree = dir(vec![
        (b"a", file(b"first file")),
        (b"b", file(b"second")),
        (b"c", file(b"third")),
    ]);
    let (meta, payload) = pbswrite::pxar::split(&tree, &Split::default());
    // b's PAYLOAD_REF: find it by its offset value (16 + 16 + 10 = 42) after a's.
    let refs: Vec<usize> = (0..meta.len() - 8)
        .filter(|&i| meta[i..i + 8] == pbswrite::pxar::t::PAYLOAD_REF.to_le_bytes())
        .collect();
    assert_eq!(refs.len(), 3);
    for (field, value, why) in [
        (16usize, 43u64, "PAYLOAD header"),
        (24, 7, "holds 6 bytes"),
        (16, 1 << 50, "past the end"),
    ] {
        let mut m = meta.clone();
        m[refs[1] + field..refs[1] + field + 8].copy_from_slice(&value.to_le_bytes());
        let ar = Archive::open(m, Some(payload.clone()), "x.mpxar").unwrap();
        let d = tempfile::tempdir().unwrap();
        let r = extract(&ar, d.path(), "t".as_ref(), &Options::default(), &mut ()).unwrap();
        assert_eq!(r.damaged.len(), 1, "{:?}", r.damaged);
        assert_eq!(r.damaged[0].path, "b");
        assert!(r.damaged[0].reason.contains(why), "{}", r.damaged[0].reason);
        assert_eq!(std::fs::read(d.path().join("t/a")).unwrap(), b"first file");
        assert_eq!(std::fs::read(d.path().join("t/c")).unwrap(), b"third");
        assert!(!d.path().join("t/b").exists());
    }
    // A payload stream without its markers.
    let e = Archive::open(meta.clone(), Some(payload[16..].to_vec()), "x.mpxar").unwrap_err();
    assert!(matches!(e, pxar::Error::BadPayloadStream { .. }), "{e}");
}

#[test]
fn an_archive_whose_root_is_not_a_directory_extracts_nothing() {
    let d = tempfile::tempdir().unwrap();
    let e = try_extract(d.path(), pbswrite::pxar::unified(&file(b"just a file"))).unwrap_err();
    assert!(matches!(e, pxar::Error::WrongKind { .. }), "{e}");
    nothing_left(d.path());
}
