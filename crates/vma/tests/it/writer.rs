//! Writer layout and input validation.

use vma::{Config, NewArchive, Reader, Writer};

use crate::common::*;

fn archive(configs: Vec<Config>, devices: Vec<(&str, u64)>) -> NewArchive {
    NewArchive {
        uuid: [0x42; 16],
        ctime: 1_795_209_017,
        configs,
        devices: devices
            .into_iter()
            .map(|(n, s)| (n.to_owned(), s))
            .collect(),
    }
}

fn conf(name: &str, len: usize) -> Config {
    Config {
        name: name.to_owned(),
        data: vec![b'x'; len],
    }
}

fn new_err(a: &NewArchive) -> String {
    Writer::new(Vec::new(), a).unwrap_err().to_string()
}

#[test]
fn diskless_archive_is_header_plus_one_empty_extent() {
    let a = archive(
        vec![conf("qemu-server.conf", 263), conf("qemu-server.fw", 21)],
        vec![],
    );
    let out = Writer::new(Vec::new(), &a).unwrap().finish().unwrap();
    // Blob area: 1 + (2 + 17) + (2 + 263) + (2 + 15) + (2 + 21) = 325 bytes, as in the real 103 archive.
    assert_eq!(be32(&out, 52), 325);
    assert_eq!(out.len(), 12800 + 512);
    assert_eq!(&out[12800..12804], b"VMAE");
    assert_eq!(out[12804..12808], [0, 0, 0, 0]);
    assert!(out[12800 + 40..].iter().all(|&b| b == 0));
    let s = Reader::new(&out[..]).unwrap().verify(&mut ()).unwrap();
    assert_eq!((s.extents, s.clusters), (1, 0));
}

#[test]
fn extents_hold_at_most_58_clusters() {
    let out = small_archive(&[("drive-scsi0", 117 * 65536)], |_, c| vec![c as u8; 100]);
    let mut at = first_extent(&out);
    let mut counts = Vec::new();
    while at < out.len() {
        let blocks = u16::from_be_bytes([out[at + 6], out[at + 7]]) as usize;
        let used = (0..59).filter(|&i| out[entry(at, i) + 3] != 0).count();
        counts.push(used);
        at += 512 + blocks * 4096;
    }
    // Cluster 0 is all zero (c as u8 == 0); the others store one block each.
    assert_eq!(counts, [58, 58, 1]);
    assert_eq!(at, out.len());
}

#[test]
fn data_past_the_device_end_is_not_stored() {
    // A 4.5 KiB... device must be a multiple of 512: 4608 bytes, one cluster, blocks 0 (full) and 1 (512 bytes).
    let a = archive(vec![], vec![("d", 4608)]);
    let mut w = Writer::new(Vec::new(), &a).unwrap();
    let mut data = vec![0u8; 65536];
    data[4096..8192].fill(7); // only 4096..4608 lies inside the device
    data[8192..].fill(9); // entirely past the end
    w.write_cluster(1, 0, &data).unwrap();
    let out = w.finish().unwrap();
    let ext = first_extent(&out);
    assert_eq!(out[entry(ext, 0)..entry(ext, 0) + 2], [0x00, 0x02]);
    assert_eq!(u16::from_be_bytes([out[ext + 6], out[ext + 7]]), 1);
    let block = &out[ext + 512..ext + 512 + 4096];
    assert!(block[..512].iter().all(|&b| b == 7));
    assert!(block[512..].iter().all(|&b| b == 0));
}

#[test]
fn rejects_bad_archive_descriptions() {
    let too_many: Vec<Config> = (0..257).map(|i| conf(&format!("c{i}"), 1)).collect();
    assert_eq!(
        new_err(&archive(too_many, vec![])),
        "invalid archive description: 257 configs, at most 256 fit"
    );
    assert_eq!(
        new_err(&archive(vec![conf("big", 65536)], vec![])),
        "invalid archive description: config \"big\" has 65536 bytes, at most 65535 fit"
    );
    let names: Vec<String> = (0..255).map(|i| format!("d{i}")).collect();
    let devs = names.iter().map(|n| (n.as_str(), 512)).collect();
    assert_eq!(
        new_err(&archive(vec![], devs)),
        "invalid archive description: 255 devices, at most 254 are allowed"
    );
    for size in [0, 1000] {
        assert_eq!(
            new_err(&archive(vec![], vec![("d", size)])),
            format!(
                "invalid archive description: device \"d\" has size {size}, which is not a positive multiple of 512"
            )
        );
    }
    for (name, problem) in [
        ("", "it is empty"),
        ("a/b", "it contains '/'"),
        ("..", "it is '.' or '..'"),
        ("a\0", "it contains a NUL byte"),
    ] {
        assert_eq!(
            new_err(&archive(vec![conf(name, 1)], vec![])),
            format!("invalid archive description: config name {name:?} is invalid: {problem}")
        );
        assert_eq!(
            new_err(&archive(vec![], vec![(name, 512)])),
            format!("invalid archive description: device name {name:?} is invalid: {problem}")
        );
    }
    assert_eq!(
        new_err(&archive(vec![], vec![("d", 512), ("d", 512)])),
        "invalid archive description: device name \"d\" appears twice"
    );
    // 10 configs of 60000 bytes need more than the reference writer's 512 KiB header.
    let big: Vec<Config> = (0..10).map(|i| conf(&format!("c{i}"), 60000)).collect();
    assert!(new_err(&archive(big, vec![])).contains("at most 524288 is allowed"));
}

#[test]
fn rejects_bad_cluster_writes() {
    let a = archive(vec![], vec![("d", 2 * 65536), ("vmstate", 2 * 65536)]);
    let mut w = Writer::new(Vec::new(), &a).unwrap();
    let err = |r: vma::Result<()>| r.unwrap_err().to_string();
    assert_eq!(
        err(w.write_cluster(0, 0, &[])),
        "cannot write cluster 0 of device 0: no such device"
    );
    assert_eq!(
        err(w.write_cluster(3, 0, &[])),
        "cannot write cluster 0 of device 3: no such device"
    );
    assert_eq!(
        err(w.write_cluster(1, 2, &[])),
        "cannot write cluster 2 of device 1: the cluster lies past the end of the device"
    );
    assert_eq!(
        err(w.write_cluster(1, 0, &[0; 65537])),
        "cannot write cluster 0 of device 1: more than 65536 bytes of data"
    );
    w.write_cluster(1, 1, &[1]).unwrap();
    assert_eq!(
        err(w.write_cluster(1, 1, &[1])),
        "cannot write cluster 1 of device 1: the cluster was already written"
    );
    assert_eq!(
        err(w.write_cluster(2, 1, &[1])),
        "cannot write cluster 1 of device 2: vmstate clusters must be written in order"
    );
    w.write_cluster(2, 0, &[1]).unwrap();
    w.write_cluster(2, 1, &[1]).unwrap();
    assert_eq!(
        w.finish().unwrap_err().to_string(),
        "cluster 0 of device d was never written"
    );
}

#[test]
fn header_follows_the_spec_worked_example() {
    // Spec §3.4: "qemu-server.conf" at 1, a 417-byte config at 20, "drive-scsi0" at 439; 453 bytes used.
    let a = archive(
        vec![conf("qemu-server.conf", 417)],
        vec![("drive-scsi0", 65536)],
    );
    let h = vma::encode_header(&a).unwrap();
    assert_eq!(h.len(), 12800);
    assert_eq!(
        (be32(&h, 48), be32(&h, 52), be32(&h, 56)),
        (12288, 453, 12800)
    );
    assert_eq!((be32(&h, 2044), be32(&h, 3068)), (1, 20));
    assert_eq!(be32(&h, 4096 + 32), 439);
    assert_eq!(h[12288 + 439..12288 + 441], [12, 0]); // little-endian length incl. NUL
    assert_eq!(&h[12288 + 441..12288 + 453], b"drive-scsi0\0");
}
