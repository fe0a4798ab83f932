//! The worked example of spec §7, read back: every offset the spec gives.

use pxar::{Archive, Kind};

#[test]
fn worked_example_offsets_lookups_and_hardlink() {
    let ar = Archive::open(pbswrite::pxar::spec_example(), None, "example.pxar").unwrap();
    assert_eq!(ar.version(), 1);
    let root = ar.root().unwrap();
    assert_eq!(root.entry_at, 0);
    assert_eq!(root.content_end, 56);
    // Root GOODBYE@539 (136 B): tail offset 539 back to 0; a.txt's item 483 back to 56, size 100.
    let (at, items) = ar.goodbye(0, 675).unwrap();
    assert_eq!(at, 539);
    assert_eq!(items.len(), 5);
    assert_eq!(items[4].offset, 539);
    assert_eq!(items[4].size, 136);
    let a_item = items
        .iter()
        .find(|i| i.hash == pxar::format::hash_filename(b"a.txt"))
        .unwrap();
    assert_eq!((a_item.offset, a_item.size), (483, 100));

    let a = ar.lookup(b"a.txt").unwrap();
    assert_eq!(a.filename_at, Some(56));
    assert_eq!(a.entry_at, 78);
    assert_eq!(
        a.kind,
        Kind::File {
            size: 6,
            data: pxar::Data::Inline { offset: 150 }
        }
    );
    let b = ar.lookup(b"b.txt").unwrap();
    assert_eq!(b.filename_at, Some(156));
    assert_eq!(b.entry_at, 178);
    assert_eq!(
        b.kind,
        Kind::Hardlink {
            target: b"a.txt".to_vec(),
            target_at: 56
        }
    );
    let d = ar.lookup(b"d").unwrap();
    assert_eq!((d.filename_at, d.entry_at), (Some(208), 226));
    // d's GOODBYE@379, its tail 153 back to its ENTRY@226.
    let Kind::Directory { end: Some(end) } = d.kind else {
        panic!("{d:?}")
    };
    let (dat, ditems) = ar.goodbye(226, end).unwrap();
    assert_eq!(dat, 379);
    assert_eq!(ditems.last().unwrap().offset, 153);
    let e = ar.lookup(b"/d/e").unwrap();
    let mut buf = [0u8; 7];
    assert_eq!(ar.read_file_at(&e, &mut buf, 0).unwrap(), 7);
    assert_eq!(&buf, b"1234567");
    // A read from an offset within the file, and past its end.
    let mut two = [0u8; 2];
    assert_eq!(ar.read_file_at(&e, &mut two, 5).unwrap(), 2);
    assert_eq!(&two, b"67");
    assert_eq!(ar.read_file_at(&e, &mut two, 7).unwrap(), 0);
    assert_eq!(
        ar.lookup(b"l").unwrap().kind,
        Kind::Symlink(b"a.txt".to_vec())
    );
    assert!(matches!(
        ar.lookup(b"d/missing"),
        Err(pxar::Error::NotFound { .. })
    ));
    assert!(matches!(
        ar.lookup(b"a.txt/x"),
        Err(pxar::Error::NotFound { .. })
    ));
    // The walk checks both goodbye tables and meets every entry once.
    let paths: Vec<String> = ar
        .walk()
        .filter_map(|e| match e.unwrap() {
            pxar::Event::Entry(e) => Some(e.display_path()),
            pxar::Event::Leave(_) => None,
        })
        .collect();
    assert_eq!(paths, ["/", "a.txt", "b.txt", "d", "d/e", "l"]);
}

/// A very old archive: the root ENTRY in its v1 form (32 bytes, mtime as u64 nanoseconds), an
/// empty directory, built by hand from the spec's table.
#[test]
fn an_entry_v1_root_is_read() {
    let mut b = Vec::new();
    let u64le = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_le_bytes());
    u64le(&mut b, 0x11da850a1c1cceff); // ENTRY_V1
    u64le(&mut b, 48);
    u64le(&mut b, 0o040750); // mode
    u64le(&mut b, 0); // flags
    b.extend_from_slice(&33u32.to_le_bytes()); // uid
    b.extend_from_slice(&44u32.to_le_bytes()); // gid
    u64le(&mut b, 1_700_000_000_123_456_789); // mtime, ns
    u64le(&mut b, 0x2fec4fa642d5731d); // GOODBYE with only its tail
    u64le(&mut b, 40);
    u64le(&mut b, 0xef5eed5b753e1555);
    u64le(&mut b, 48); // back to the ENTRY at 0
    u64le(&mut b, 40);
    let ar = Archive::open(b, None, "old.pxar").unwrap();
    let root = ar.root().unwrap();
    assert_eq!(root.metadata.mode, 0o040750);
    assert_eq!((root.metadata.uid, root.metadata.gid), (33, 44));
    assert_eq!(
        (root.metadata.mtime_secs, root.metadata.mtime_nanos),
        (1_700_000_000, 123_456_789)
    );
    assert!(ar.read_dir(&root).unwrap().is_empty());
    let events: Vec<pxar::Event> = ar.walk().map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
}
