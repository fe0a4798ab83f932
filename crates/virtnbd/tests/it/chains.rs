//! Points in time of chains whose every state the test built itself.

use diskview::ReadAt;
use virtnbd::{Backup, DiskAt, Level};
use vnbdwrite::Options;

use crate::util::{self, BLOCK, File, header, restore, seed, sha, variants, write_chain};

const SIZE: usize = 4 << 20;
const CPT: &[&str] = &["virtnbdbackup.0", "virtnbdbackup.1", "virtnbdbackup.2"];

#[test]
fn seed_case_every_point_plain_and_lz4() {
    let (files, states) = seed(SIZE, false);
    for (what, o) in variants() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_chain(dir.path(), &files, o, CPT);
        let b = Backup::open(dir.path()).expect("open");
        let vda = b.disk("vda").expect("vda");
        let levels: Vec<Level> = vda.points.iter().map(|p| p.level).collect();
        assert_eq!(
            levels,
            [Level::Full, Level::Inc, Level::Diff, Level::Inc],
            "{what}"
        );
        assert!(vda.gaps.is_empty(), "{what}: {:?}", vda.gaps);
        // Default: the newest point, the state after inc2.
        let got = restore(dir.path(), None).expect("restore");
        assert_eq!(sha(&got[0].1), sha(&states[3]), "{what}: default point");
        // --until a checkpoint: the state right after the backup that created it (inc2, not the
        // differential that carries the same name).
        for (until, want) in [
            ("virtnbdbackup.0", 0),
            ("virtnbdbackup.1", 1),
            ("virtnbdbackup.2", 3),
        ] {
            let got = restore(dir.path(), Some(until)).expect(until);
            assert_eq!(
                sha(&got[0].1),
                sha(&states[want]),
                "{what}: --until {until}"
            );
        }
        // --until a file: the state right after that file.
        for (i, f) in files.iter().enumerate() {
            let got = restore(dir.path(), Some(&f.name)).expect(&f.name);
            assert_eq!(
                sha(&got[0].1),
                sha(&states[i]),
                "{what}: --until {}",
                f.name
            );
        }
        // The diff's point needs full, inc1, diff; inc2's skips the diff.
        let names = |p: &virtnbd::Point| -> Vec<String> {
            p.chain
                .as_ref()
                .expect("ok")
                .iter()
                .map(|&i| b.entries[i].name.clone())
                .collect()
        };
        assert_eq!(
            names(&vda.points[2]),
            [
                "vda.full.data",
                "vda.inc.virtnbdbackup.1.data",
                "vda.diff.1796292000.data"
            ]
        );
        assert_eq!(
            names(&vda.points[3]),
            [
                "vda.full.data",
                "vda.inc.virtnbdbackup.1.data",
                "vda.inc.virtnbdbackup.2.data"
            ]
        );
        // Every file decodes and checks.
        for e in &b.entries {
            e.data
                .as_ref()
                .expect("indexed")
                .check(&mut |_| {})
                .expect("check");
        }
    }
}

#[test]
fn random_reads_match_the_state() {
    let (files, states) = seed(SIZE, false);
    for (what, o) in variants() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_chain(dir.path(), &files, o, CPT);
        let b = Backup::open(dir.path()).expect("open");
        let p = b.select(Some("vda.diff.1796292000.data")).expect("select");
        let disk = DiskAt::new(b.files_of(p[0].point).expect("files")).expect("view");
        assert_eq!(disk.size(), SIZE as u64);
        let want = &states[2];
        let mut rng = util::Rng::new(99);
        // Backwards, forwards, across segment and LZ4 frame borders.
        for _ in 0..300 {
            let at = (rng.next_u64() % SIZE as u64) as usize;
            let len = ((rng.next_u64() % (300 << 10)) as usize).min(SIZE - at);
            let mut buf = vec![0u8; len];
            disk.read_exact_at(&mut buf, at as u64).expect("read");
            assert!(buf == want[at..at + len], "{what}: {len} bytes at {at}");
        }
        // Known zeros are zeros (never more than the truth).
        for r in disk.zero_ranges(0, SIZE as u64).expect("zeros") {
            assert!(
                want[r.start as usize..r.end as usize]
                    .iter()
                    .all(|&x| x == 0),
                "{what}: {r:?}"
            );
        }
        let mut tail = [0u8; 2];
        assert!(disk.read_exact_at(&mut tail, SIZE as u64 - 1).is_err());
    }
}

#[test]
fn offline_incremental_over_an_online_one_breaks_later_points_only() {
    let (files, states) = seed(SIZE, false);
    let dir = tempfile::tempdir().expect("tempdir");
    // The guest was shut down after inc1: virtnbdbackup's offline incremental has checkpoint ==
    // parent == virtnbdbackup.1 and the same file name as inc1, which it replaced.
    let mut s_off = states[1].clone();
    util::Rng::new(5).fill(&mut s_off, 40 * BLOCK, BLOCK);
    let chain = vec![
        files[0].clone(),
        File {
            name: "vda.inc.virtnbdbackup.1.data".into(),
            header: header("vda", SIZE, "virtnbdbackup.1", "virtnbdbackup.1", true, 3),
            extents: vnbdwrite::changed_extents(&states[1], &s_off, BLOCK),
        },
    ];
    write_chain(dir.path(), &chain, Options::default(), &CPT[..2]);
    let b = Backup::open(dir.path()).expect("open");
    let vda = b.disk("vda").expect("vda");
    assert_eq!(vda.points.len(), 2);
    assert!(vda.points[0].chain.is_ok());
    assert_eq!(vda.points[1].level, Level::Offline);
    let why = vda.points[1].chain.as_ref().expect_err("broken");
    assert!(
        why.contains("virtnbdbackup.1") && why.contains("offline"),
        "{why}"
    );
    assert_eq!(vda.gaps, ["virtnbdbackup.1"]);
    // The newest restorable point is the full; asking for the broken one says why.
    let got = restore(dir.path(), None).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[0]));
    let Err(err) = restore(dir.path(), Some("vda.inc.virtnbdbackup.1.data")) else {
        panic!("restored a broken point");
    };
    assert!(
        err.to_string().contains("overwrote") || err.to_string().contains("written over"),
        "{err}"
    );
    let Err(err) = restore(dir.path(), Some("virtnbdbackup.1")) else {
        panic!("restored a broken point");
    };
    assert!(
        err.to_string().contains("no backup of disk vda created"),
        "{err}"
    );
}

#[test]
fn offline_incremental_after_intact_chain_restores() {
    let (files, states) = seed(SIZE, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s_off = states[1].clone();
    util::Rng::new(5).fill(&mut s_off, 40 * BLOCK, BLOCK);
    let chain = vec![
        files[0].clone(),
        files[1].clone(),
        // Kept apart from inc1 (a copy taken in between, or a renamed file).
        File {
            name: "vda.inc.virtnbdbackup.1.offline.data".into(),
            header: header("vda", SIZE, "virtnbdbackup.1", "virtnbdbackup.1", true, 3),
            extents: vnbdwrite::changed_extents(&states[1], &s_off, BLOCK),
        },
    ];
    write_chain(dir.path(), &chain, Options::default(), &CPT[..2]);
    let got = restore(dir.path(), None).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&s_off));
    let got = restore(dir.path(), Some("virtnbdbackup.1")).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[1]));
}

#[test]
fn gaps_and_orphan_differentials() {
    let (files, states) = seed(SIZE, false);
    let dir = tempfile::tempdir().expect("tempdir");
    // inc1 is lost: the diff (parent 1) is an orphan, inc2 (parent 1) is broken; the full stays.
    let chain: Vec<File> = [0, 2, 3].iter().map(|&i| files[i].clone()).collect();
    write_chain(dir.path(), &chain, Options::default(), CPT);
    let b = Backup::open(dir.path()).expect("open");
    let vda = b.disk("vda").expect("vda");
    let ok: Vec<bool> = vda.points.iter().map(|p| p.chain.is_ok()).collect();
    assert_eq!(ok, [true, false, false]);
    let diff = vda
        .points
        .iter()
        .find(|p| p.level == Level::Diff)
        .expect("diff");
    let why = diff.chain.as_ref().expect_err("orphan");
    assert!(
        why.starts_with("orphan differential")
            && why.contains("virtnbdbackup.1")
            && why.contains(".cpt"),
        "{why}"
    );
    assert_eq!(vda.gaps, ["virtnbdbackup.1"]);
    let got = restore(dir.path(), None).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[0]));
}

#[test]
fn raw_disk_only_in_the_full_and_a_resized_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, states) = seed(SIZE, false);
    // vda grows by 1 MiB in inc1's backup; vdb is a raw disk, kept as a raw image in full only.
    let mut grown = states[1].clone();
    grown.resize(SIZE + (1 << 20), 0);
    util::Rng::new(3).fill(&mut grown, SIZE + 4096, 8192);
    let mut inc1 = header(
        "vda",
        SIZE + (1 << 20),
        "virtnbdbackup.1",
        "virtnbdbackup.0",
        true,
        2,
    );
    inc1.date = files[1].header.date.clone();
    let chain = vec![
        files[0].clone(),
        File {
            name: files[1].name.clone(),
            header: inc1,
            extents: vnbdwrite::changed_extents(&states[0], &grown, BLOCK),
        },
    ];
    write_chain(
        dir.path(),
        &chain,
        Options {
            compress: Some(2),
            ..Options::default()
        },
        &CPT[..2],
    );
    let mut raw = vec![0u8; 2 << 20];
    util::Rng::new(11).fill(&mut raw, 4096, 100_000);
    let f = std::fs::File::create(dir.path().join("vdb.copy.data")).expect("create");
    f.set_len(raw.len() as u64).expect("size");
    std::os::unix::fs::FileExt::write_all_at(&f, &raw[4096..104_096], 4096).expect("write");
    let b = Backup::open(dir.path()).expect("open");
    assert_eq!(b.disks.len(), 2);
    assert_eq!(b.disk("vdb").expect("vdb").points[0].level, Level::Copy);
    let sel = b.select(Some("virtnbdbackup.1")).expect("select");
    assert!(sel.iter().any(|s| s.disk.name == "vdb" && s.note.is_some()));
    let got = restore(dir.path(), Some("virtnbdbackup.1")).expect("restore");
    assert_eq!(got[0].0, "vda");
    assert_eq!(sha(&got[0].1), sha(&grown), "the grown disk");
    assert_eq!(sha(&got[1].1), sha(&raw), "the raw disk");
    let got = restore(dir.path(), Some("virtnbdbackup.0")).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[0]), "before the resize");
}

#[test]
fn raw_full_then_stream_incrementals() {
    // `-t raw` writes the full as a plain sparse image; the incrementals are streams.
    let (files, states) = seed(SIZE, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = vec![files[1].clone(), files[3].clone()];
    write_chain(
        dir.path(),
        &chain,
        Options {
            compress: Some(2),
            ..Options::default()
        },
        CPT,
    );
    std::fs::write(dir.path().join("vda.full.data"), &states[0]).expect("raw full");
    let b = Backup::open(dir.path()).expect("open");
    assert_eq!(b.disk("vda").expect("vda").points[0].level, Level::Full);
    let got = restore(dir.path(), None).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[3]));
    let got = restore(dir.path(), Some("virtnbdbackup.1")).expect("restore");
    assert_eq!(sha(&got[0].1), sha(&states[1]));
}
