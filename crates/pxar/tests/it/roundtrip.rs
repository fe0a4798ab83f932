//! Every entry kind and attribute, in unified and split archives: the reader's listing equals
//! the independent Python reader's, and names the sample's values.

use pbswrite::pxar::Split;
use pxar::Archive;
use serde_json::json;

use pbswrite::pxar::sample_tree as sample;

#[test]
fn unified_archive_lists_like_the_oracle() {
    let bytes = pbswrite::pxar::unified(&sample());
    let want = crate::util::oracle(&bytes, None);
    let ar = Archive::open(bytes, None, "sample.pxar").unwrap();
    assert_eq!(crate::util::listing(&ar), want);
    assert_eq!(want.len(), 15);
    // Values named independently of both readers.
    let by = |p: &str| want.iter().find(|v| v["path"] == p).unwrap().clone();
    assert_eq!(by("suid")["mode"], json!(0o4755));
    assert_eq!(by("tmp")["mode"], json!(0o1777));
    assert_eq!(by("null")["device"], json!([1, 3]));
    assert_eq!(by("x-link")["target"], json!("sub/inner"));
    assert_eq!(by("text")["mtime"], json!([1_700_000_000, 123_456_789]));
}

#[test]
fn split_archive_lists_like_the_oracle_with_padding_and_the_size_quirk() {
    let how = Split {
        padding: 13,
        quirk_sizes: true,
        prelude: Some(br#"{"exclude-patterns":[]}"#.to_vec()),
        ..Split::default()
    };
    let (meta, payload) = pbswrite::pxar::split(&sample(), &how);
    let want = crate::util::oracle(&meta, Some(&payload));
    let ar = Archive::open(meta.clone(), Some(payload.clone()), "sample.mpxar").unwrap();
    assert_eq!(ar.version(), 2);
    assert_eq!(ar.prelude(), Some(&br#"{"exclude-patterns":[]}"#[..]));
    assert_eq!(crate::util::listing(&ar), want);
    // The split and unified archives hold the same tree.
    let unified = crate::util::oracle(&pbswrite::pxar::unified(&sample()), None);
    assert_eq!(want, unified);
    // Lookups go through the goodbye tables of a v2 archive too (root tail back to 0).
    let e = ar.lookup(b"sub/inner").unwrap();
    let mut buf = [0u8; 6];
    ar.read_file_at(&e, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"inner\n");
    // Without its payload stream, a file's data is an error naming what is missing.
    let alone = Archive::open(meta, None, "sample.mpxar").unwrap();
    let e = alone.lookup(b"text").unwrap();
    let err = alone.read_file_at(&e, &mut buf, 0).unwrap_err();
    assert!(matches!(err, pxar::Error::NoPayloadStream { .. }), "{err}");
    // The payload stream alone is not an archive.
    let err = Archive::open(payload, None, "sample.ppxar").unwrap_err();
    assert!(err.to_string().contains("payload stream"), "{err}");
}

#[test]
fn read_dir_lists_children_in_archive_order() {
    let ar = Archive::open(pbswrite::pxar::unified(&sample()), None, "s.pxar").unwrap();
    let names: Vec<Vec<u8>> = ar
        .read_dir(&ar.lookup(b"sub").unwrap())
        .unwrap()
        .into_iter()
        .map(|e| e.name().to_vec())
        .collect();
    assert_eq!(names, [b"inner".to_vec(), b"\xff\xfename".to_vec()]);
}
