//! LVM2 volume groups written by lvm2 through loop devices (without device-mapper), checked
//! against pvs/lvs reports of the same image.

use std::path::Path;

use partitions::FsKind;

use crate::tools::*;

const MIB: u64 = 1 << 20;

#[test]
fn linear_striped_fragmented_and_spanning_lvs() {
    if !can_loop("linear_striped_fragmented_and_spanning_lvs") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), "lvm.img", 128 * MIB);
    let layout = "label: dos\nstart=2048, size=8M, type=83\nsize=56M, type=8e\nsize=56M, type=8e\n";
    run_stdin("sfdisk", &["-q", img.to_str().expect("path")], layout);
    let (_, parts) = sfdisk_json(&img);
    let (p2, p3) = (&parts[1], &parts[2]);

    let expected_pvs;
    let expected_lvs;
    let expected_seqno;
    {
        let a = Loop::attach(&img, p2.1 * 512, p2.2 * 512, &[]);
        let b = Loop::attach(&img, p3.1 * 512, p3.2 * 512, &[]);
        let lvm = Lvm::new(&[&a.0, &b.0]);
        lvm.run("pvcreate", &["-q", "-y", &a.0, &b.0]);
        lvm.run("vgcreate", &["-q", "-s", "4M", "vg0", &a.0, &b.0]);
        lvm.lvcreate(&["-L", "12M", "-n", "root", "vg0", &a.0]);
        lvm.lvcreate(&["-L", "8M", "-n", "frag", "vg0", &a.0]);
        lvm.lvcreate(&["-L", "4M", "-n", "gap", "vg0", &a.0]);
        lvm.run(
            "lvextend",
            &["-q", "--driverloaded", "n", "-L", "+4M", "vg0/frag", &a.0],
        );
        lvm.lvcreate(&["-i", "2", "-I", "64k", "-L", "8M", "-n", "striped", "vg0"]);
        lvm.lvcreate(&["-L", "8M", "-n", "onb", "vg0", &b.0]);
        let a_last = format!("{}:10-11", a.0);
        let b_first = format!("{}:6-7", b.0);
        lvm.lvcreate(&["-L", "16M", "-n", "span", "vg0", &a_last, &b_first]);
        let devs = [(a.0.clone(), p2.1 * 512), (b.0.clone(), p3.1 * 512)];
        let off = |dev: &str| devs.iter().find(|d| d.0 == dev).map(|d| d.1).expect("dev");
        expected_pvs = lvm
            .report("pvs", "pv_name,pv_uuid,pe_start")
            .into_iter()
            .map(|r| {
                (
                    off(&r[0]),
                    r[1].clone(),
                    r[2].parse::<u64>().expect("pe_start"),
                )
            })
            .collect::<Vec<_>>();
        expected_lvs = lvm
            .report(
                "lvs",
                "lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges,segtype,vg_extent_size,lv_size",
            )
            .into_iter()
            .map(|r| {
                // seg_pe_ranges is "/dev/loopN:FIRST-LAST" per stripe, space separated.
                let ranges: Vec<(u64, u64, u64)> = r[3]
                    .split_whitespace()
                    .map(|s| {
                        let (dev, range) = s.rsplit_once(':').expect("range");
                        let (first, last) = range.split_once('-').expect("dash");
                        (
                            off(dev),
                            first.parse().expect("n"),
                            last.parse().expect("n"),
                        )
                    })
                    .collect();
                (
                    r[0].clone(),
                    r[4].clone(),
                    ranges,
                    r[5].parse::<u64>().expect("es"),
                    r[6].parse::<u64>().expect("size"),
                )
            })
            .collect::<Vec<_>>();
        expected_seqno = lvm.report("vgs", "vg_seqno")[0][0]
            .parse::<u64>()
            .expect("seqno");
    }
    // Put an ext4 into vg0/root at the offset lvm2 reports.
    let root = expected_lvs.iter().find(|l| l.0 == "root").expect("root");
    let (pv_off, first_pe, _) = root.2[0];
    let pe_start = expected_pvs.iter().find(|p| p.0 == pv_off).expect("pv").2;
    let root_offset = pv_off + pe_start + first_pe * root.3;
    let fs = sparse(dir.path(), "root.fs", 12 * MIB);
    run(
        "mkfs.ext4",
        &["-q", "-L", "lvroot", fs.to_str().expect("path")],
    );
    write_at(&img, root_offset, &fs);

    let scan = scan(&img);
    assert_eq!(scan.volume_groups.len(), 1, "{:?}", scan.warnings);
    let vg = &scan.volume_groups[0];
    assert_eq!(
        (vg.name.as_str(), vg.seqno, vg.extent_size),
        ("vg0", expected_seqno, 4 * MIB)
    );
    for (off, uuid, pe_start) in &expected_pvs {
        let pv = vg
            .physical_volumes
            .iter()
            .find(|p| &p.uuid == uuid)
            .expect("pv");
        assert_eq!((pv.offset, pv.pe_start), (Some(*off), *pe_start));
        let part = scan
            .partitions
            .iter()
            .find(|p| p.start == *off)
            .expect("partition");
        assert_eq!(part.fs.as_ref().map(|f| f.kind), Some(FsKind::Lvm2Pv));
        assert_eq!(
            part.lvm.as_ref().map(|l| l.uuid.as_str()),
            Some(uuid.as_str())
        );
        assert_eq!(
            part.lvm.as_ref().and_then(|l| l.vg_name.as_deref()),
            Some("vg0")
        );
    }
    // Every linear segment's bytes, from lvs, in LV order.
    for name in ["root", "frag", "gap", "striped", "onb", "span"] {
        let lv = scan.logical_volume(&format!("vg0/{name}")).expect("lv");
        let segs: Vec<_> = expected_lvs.iter().filter(|l| l.0 == name).collect();
        assert_eq!(lv.size, segs[0].4, "{name}");
        assert_eq!(lv.segments.len(), segs.len(), "{name}");
        let linear = segs.iter().all(|s| s.1 == "linear");
        if linear {
            let mut want: Vec<partitions::ByteExtent> = Vec::new();
            for s in &segs {
                let (pv_off, first, last) = s.2[0];
                let pe_start = expected_pvs.iter().find(|p| p.0 == pv_off).expect("pv").2;
                let offset = pv_off + pe_start + first * s.3;
                let size = (last - first + 1) * s.3;
                match want.last_mut() {
                    Some(w) if w.offset + w.size == offset => w.size += size,
                    _ => want.push(partitions::ByteExtent { offset, size }),
                }
            }
            assert_eq!(lv.extents, want, "{name}");
        }
        match name {
            "root" | "gap" | "onb" => assert!(lv.byte_range().is_some(), "{name}: {lv:?}"),
            _ => assert!(
                lv.needs_device_mapper.is_some(),
                "{name} must need device mapper"
            ),
        }
    }
    let why = |n: &str| {
        scan.logical_volume(n)
            .and_then(|l| l.needs_device_mapper.clone())
            .unwrap_or_default()
    };
    assert!(
        why("vg0/frag").contains("non-contiguous"),
        "{}",
        why("vg0/frag")
    );
    assert!(
        why("vg0/striped").contains("striped over 2"),
        "{}",
        why("vg0/striped")
    );
    assert!(why("vg0/span").contains("2 PVs"), "{}", why("vg0/span"));

    let root_lv = scan.logical_volume("vg0/root").expect("root");
    assert_eq!(root_lv.byte_range().map(|r| r.offset), Some(root_offset));
    let (ty, label, uuid) = blkid(&img, root_offset);
    let fs = root_lv.fs.as_ref().expect("fs");
    assert_eq!(
        (blkid_type(fs.kind), &fs.label, &fs.uuid),
        (ty.as_str(), &label, &uuid)
    );
    let t = scan
        .mount_targets()
        .into_iter()
        .find(|t| t.id == "vg0/root")
        .expect("target");
    assert_eq!(
        (t.offset, t.size, t.fstype),
        (root_offset, 12 * MIB, "ext4")
    );
}

#[test]
fn whole_disk_pv_with_one_missing_pv() {
    if !can_loop("whole_disk_pv_with_one_missing_pv") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let a_img = sparse(dir.path(), "a.img", 32 * MIB);
    let b_img = sparse(dir.path(), "b.img", 32 * MIB);
    let (pe_start, root_first) = {
        let a = Loop::attach(&a_img, 0, 0, &[]);
        let b = Loop::attach(&b_img, 0, 0, &[]);
        let lvm = Lvm::new(&[&a.0, &b.0]);
        lvm.run("pvcreate", &["-q", "-y", &a.0, &b.0]);
        lvm.run("vgcreate", &["-q", "-s", "1M", "vgw", &a.0, &b.0]);
        lvm.lvcreate(&["-L", "8M", "-n", "root", "vgw", &a.0]);
        lvm.lvcreate(&["-L", "8M", "-n", "other", "vgw", &b.0]);
        let pvs = lvm.report("pvs", "pv_name,pe_start");
        let pe = pvs.iter().find(|r| r[0] == a.0).expect("pv a")[1]
            .parse::<u64>()
            .expect("n");
        let segs = lvm.report("lvs", "lv_name,seg_pe_ranges");
        let r = segs.iter().find(|r| r[0] == "root").expect("root")[1].clone();
        let first = r
            .rsplit_once(':')
            .and_then(|x| x.1.split_once('-'))
            .expect("range")
            .0
            .parse::<u64>()
            .expect("n");
        (pe, first)
    };
    let scan = scan(Path::new(&a_img));
    assert_eq!(
        scan.whole_disk_fs.as_ref().map(|f| f.kind),
        Some(FsKind::Lvm2Pv)
    );
    assert!(scan.whole_disk_lvm.is_some());
    let vg = &scan.volume_groups[0];
    assert_eq!(
        vg.physical_volumes
            .iter()
            .filter(|p| p.offset.is_none())
            .count(),
        1
    );
    assert!(
        scan.warnings
            .iter()
            .any(|w| w.contains("is not in this image")),
        "{:?}",
        scan.warnings
    );
    let root = scan.logical_volume("vgw/root").expect("root");
    assert_eq!(
        root.byte_range(),
        Some(partitions::ByteExtent {
            offset: pe_start + root_first * MIB,
            size: 8 * MIB
        })
    );
    let other = scan.logical_volume("vgw/other").expect("other");
    assert!(
        other
            .needs_device_mapper
            .as_deref()
            .is_some_and(|r| r.contains("not in this image"))
    );
}

/// True when the current metadata text of the metadata area at byte 4096 of `dev` wraps around
/// the end of its circular buffer (read straight from the mda header, as LVM2 lays it out).
fn metadata_wraps(dev: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(dev).expect("open pv");
    let mut h = [0u8; 64];
    f.seek(SeekFrom::Start(4096)).expect("seek");
    f.read_exact(&mut h).expect("read mda header");
    let le = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    le(40) + le(48) > le(32)
}

#[test]
fn metadata_that_wraps_around_the_circular_buffer() {
    if !can_loop("metadata_that_wraps_around_the_circular_buffer") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let img = sparse(dir.path(), "wrap.img", 64 * MIB);
    let (seqno, lvs) = {
        let a = Loop::attach(&img, 0, 0, &[]);
        let lvm = Lvm::new(&[&a.0]);
        // The smallest metadata area LVM2 accepts, so a few dozen updates fill the ring.
        lvm.run(
            "pvcreate",
            &[
                "-q",
                "-y",
                "--metadatasize",
                "32k",
                "--dataalignment",
                "64k",
                &a.0,
            ],
        );
        lvm.run("vgcreate", &["-q", "-s", "1M", "vgr", &a.0]);
        let mut n = 0;
        while !metadata_wraps(&a.0) {
            n += 1;
            assert!(n < 60, "the metadata never wrapped");
            lvm.lvcreate(&["-L", "1M", "-n", &format!("lv{n}"), "vgr"]);
        }
        eprintln!("metadata wrapped after {n} lvcreate calls");
        let seqno = lvm.report("vgs", "vg_seqno")[0][0]
            .parse::<u64>()
            .expect("seqno");
        let lvs: Vec<(String, u64)> = lvm
            .report("lvs", "lv_name,seg_pe_ranges")
            .into_iter()
            .map(|r| {
                let first = r[1]
                    .rsplit_once(':')
                    .and_then(|x| x.1.split_once('-'))
                    .expect("range")
                    .0;
                (r[0].clone(), first.parse::<u64>().expect("pe"))
            })
            .collect();
        (seqno, lvs)
    };
    let scan = scan(&img);
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    let vg = &scan.volume_groups[0];
    assert_eq!(vg.seqno, seqno);
    assert_eq!(vg.logical_volumes.len(), lvs.len());
    let pe_start = vg.physical_volumes[0].pe_start;
    assert_eq!(pe_start, 64 * 1024);
    for (name, first_pe) in &lvs {
        let lv = scan.logical_volume(&format!("vgr/{name}")).expect("lv");
        assert_eq!(
            lv.byte_range(),
            Some(partitions::ByteExtent {
                offset: pe_start + first_pe * MIB,
                size: MIB
            }),
            "{name}"
        );
    }
}

/// A whole-disk PV with VG `vgh` (1 MiB extents) and a 4 MiB LV `lv0`, made by lvm2; returns the
/// image and the metadata text lvm2 wrote last (found in the image by its seqno).
fn one_lv_image(dir: &Path) -> (std::path::PathBuf, u64) {
    let img = sparse(dir, "h.img", 16 * MIB);
    let seqno = {
        let a = Loop::attach(&img, 0, 0, &[]);
        let lvm = Lvm::new(&[&a.0]);
        lvm.run("pvcreate", &["-q", "-y", &a.0]);
        lvm.run("vgcreate", &["-q", "-s", "1M", "vgh", &a.0]);
        lvm.lvcreate(&["-L", "4M", "-n", "lv0", "vgh"]);
        lvm.report("vgs", "vg_seqno")[0][0]
            .parse::<u64>()
            .expect("seqno")
    };
    (img, seqno)
}

/// Replaces `from` with `to` inside the metadata text of seqno `seqno` in `img`, keeping the text's
/// length: the `description` string of the same text absorbs the difference. The text checksum
/// no longer matches, which the reader only warns about.
fn edit_metadata(img: &Path, seqno: u64, from: &str, to: &str) {
    let mut b = std::fs::read(img).expect("read image");
    let seq = format!("seqno = {seqno}\n");
    let at = b
        .windows(seq.len())
        .position(|w| w == seq.as_bytes())
        .expect("newest metadata text");
    let end = at + b[at..].iter().position(|c| *c == 0).expect("NUL");
    let start = b[..at].iter().rposition(|c| *c == 0).map_or(0, |p| p + 1);
    let mut text = String::from_utf8(b[start..end].to_vec()).expect("utf-8 text");
    assert!(text.contains(from), "{from:?} not in:\n{text}");
    text = text.replacen(from, to, 1);
    let grow = to.len() as isize - from.len() as isize;
    let d = text.find("description = \"").expect("description") + 15;
    let close = d + text[d..].find('"').expect("end of description");
    assert!(close - d > grow.max(0) as usize, "description too short");
    let filler = "x".repeat((close - d) - grow.max(0) as usize + (-grow).max(0) as usize);
    text.replace_range(d..close, &filler);
    assert_eq!(text.len(), end - start);
    b[start..end].copy_from_slice(text.as_bytes());
    std::fs::write(img, b).expect("write image");
}

/// LVM2 numbers above i64::MAX or below 0 were taken as 0: an LV of 0 extents (a loop device of
/// size 0 maps the whole rest of the image), or extents counted from the PV label.
#[test]
fn issue10_item12_out_of_range_lvm_numbers_are_errors() {
    if !can_loop("issue10_item12_out_of_range_lvm_numbers_are_errors") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, seqno) = one_lv_image(dir.path());
    let clean = std::fs::read(&img).expect("read");
    let lv = scan(&img)
        .logical_volume("vgh/lv0")
        .expect("lv0 before editing")
        .size;
    assert_eq!(lv, 4 * MIB);
    let cases = [
        (
            "extent_count = 4\n",
            "extent_count = 9223372036854775808\n",
            "LV lv0: segment1: extent_count = 9223372036854775808 is out of range: expected an integer from 0 to 9223372036854775807",
        ),
        (
            "pe_start = 2048\n",
            "pe_start = -2048\n",
            "PV pv0: pe_start = -2048 is out of range: expected an integer from 0 to 9223372036854775807",
        ),
        (
            "\"pv0\", 0\n",
            "\"pv0\", -1\n",
            "LV lv0: segment1: stripes extent on pv0 = -1 is out of range: expected an integer from 0 to 9223372036854775807",
        ),
        (
            "start_extent = 0\n",
            "start_extent = 18446744073709551616\n",
            "LV lv0: segment1: start_extent = 18446744073709551616 is out of range: expected an integer from 0 to 9223372036854775807",
        ),
    ];
    for (from, to, reason) in cases {
        std::fs::write(&img, &clean).expect("restore image");
        edit_metadata(&img, seqno, from, to);
        let scan = scan(&img);
        assert!(
            scan.logical_volume("vgh/lv0").is_none(),
            "{to:?}: lv0 is still offered"
        );
        assert!(
            scan.warnings
                .iter()
                .any(|w| w.starts_with("LVM2 VG vgh (metadata at byte ") && w.ends_with(reason)),
            "{to:?}: {:#?}",
            scan.warnings
        );
    }
    // The VG's seqno picks the newest metadata: an out-of-range one is an error of that text.
    std::fs::write(&img, &clean).expect("restore image");
    edit_metadata(&img, seqno, &format!("seqno = {seqno}\n"), "seqno = -3\n");
    let scan = scan(&img);
    assert!(scan.volume_groups.is_empty());
    assert!(
        scan.warnings.iter().any(|w| w.contains(
            "VG vgh: seqno = -3 is out of range: expected an integer from 0 to 9223372036854775807"
        )),
        "{:#?}",
        scan.warnings
    );
}
