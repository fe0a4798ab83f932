//! Archives made by the real Proxmox `vma` tool, checked against what the real tool printed.

use std::io::Read;
use std::os::unix::fs::MetadataExt;

use vma::extract::{ExtractOptions, extract_to_dir};
use vma::{Config, NewArchive, Reader, Writer};

use crate::common::*;

/// Checks the header of `bytes` against `list.stdout` and `config.stdout` of the real tool.
fn check_header_against_list(archive: &str, header: &vma::Header) {
    let list = expected(archive, "list.stdout");
    let mut want = String::new();
    for c in &header.configs {
        want += &format!("CFG: size: {} name: {}\n", c.data.len(), c.name);
    }
    for d in &header.devices {
        want += &format!(
            "DEV: dev_id={} size: {} devname: {}\n",
            d.id, d.size, d.name
        );
    }
    want += &format!("CTIME: {}\n", utc_ctime(header.ctime));
    assert_eq!(want, list);
    let conf = header.config("qemu-server.conf").expect("qemu-server.conf");
    assert_eq!(conf.data, expected(archive, "config.stdout").as_bytes());
}

/// `(total bytes read, sparse bytes)` from `verify -v`: whole clusters read times 65536, and bytes of the
/// disks that were zero blocks.
fn verify_totals(archive: &str) -> (u64, u64) {
    let text = expected(archive, "verify-v.stdout");
    let line = text
        .lines()
        .find(|l| l.starts_with("total bytes read"))
        .unwrap();
    let num = |s: &str| s.split([' ', ',']).next().unwrap().parse().unwrap();
    let total = num(&line["total bytes read ".len()..]);
    (total, num(line.split("sparse bytes ").nth(1).unwrap()))
}

/// Extracts `input` and compares every written file with `extract.files`.
fn extract_and_compare(archive: &str, input: impl Read) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let reader = Reader::new(input).unwrap();
    let report = extract_to_dir(reader, &dir, &ExtractOptions::default(), &mut ()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want = extract_files(archive);
    assert_eq!(names, want.iter().map(|w| w.1.clone()).collect::<Vec<_>>());
    for (sha, name, size) in &want {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(bytes.len() as u64, *size, "{name}");
        assert_eq!(&sha256_hex(&bytes), sha, "{name}");
        if name.starts_with("disk-") {
            // The disks have zero blocks: they must come out sparse.
            let allocated = std::fs::metadata(dir.join(name)).unwrap().blocks() * 512;
            assert!(
                allocated < *size,
                "{name}: {allocated} bytes allocated of {size}"
            );
        }
    }
    assert_eq!(
        report.disks.len(),
        want.iter().filter(|w| w.1.starts_with("disk-")).count()
    );
    assert_eq!(report.configs.len(), want.len() - report.disks.len());
}

#[test]
fn header_105_matches_vma_list() {
    let bytes = real_bytes(&format!("{A105}.vma"));
    let reader = Reader::new(&bytes[..]).unwrap();
    check_header_against_list(A105, reader.header());
    // The real writer grows the header per batch of blobs: 13824 here (spec §14b).
    assert_eq!(reader.header().header_size, 13824);
    assert_eq!(reader.position(), 13824);
}

#[test]
fn verify_105_totals_match_vma_verify() {
    let bytes = real_bytes(&format!("{A105}.vma"));
    let mut seen = Vec::new();
    struct Rec<'a>(&'a mut Vec<u64>);
    impl vma::Progress for Rec<'_> {
        fn read(&mut self, done: u64) {
            self.0.push(done);
        }
    }
    let summary = Reader::new(&bytes[..])
        .unwrap()
        .verify(&mut Rec(&mut seen))
        .unwrap();
    let size = 8_388_608;
    let (total, sparse) = verify_totals(A105);
    assert_eq!(summary.clusters * 65536, total);
    assert_eq!(summary.zero_bytes, sparse);
    assert_eq!(summary.stored_bytes, size - sparse);
    assert_eq!(summary.bytes_read, bytes.len() as u64);
    // 128 clusters in extents of at most 58 entries: 58 + 58 + 12.
    assert_eq!(summary.extents, 3);
    assert_eq!(seen.last(), Some(&(bytes.len() as u64)));
    assert!(seen.len() >= 3);
}

#[test]
fn extract_105_matches_vma_extract() {
    let bytes = real_bytes(&format!("{A105}.vma"));
    extract_and_compare(A105, &bytes[..]);
}

#[test]
fn diskless_103_matches_vma_list_and_extract() {
    let bytes = real_bytes(&format!("{A103}.vma"));
    let reader = Reader::new(&bytes[..]).unwrap();
    check_header_against_list(A103, reader.header());
    assert!(reader.header().devices.is_empty());
    let summary = reader.verify(&mut ()).unwrap();
    // The real tool writes a header plus one empty extent (spec §5).
    assert_eq!(summary.extents, 1);
    assert_eq!(summary.clusters, 0);
    assert!(expected(A103, "verify-v.stdout").contains("vma archive contains no image data"));
    extract_and_compare(A103, &bytes[..]);
}

#[test]
fn extract_101_zst_matches_vma_extract() {
    let file = std::fs::File::open(real(&format!("{A101}.vma.zst"))).unwrap();
    let input = zstd::Decoder::new(file).unwrap();
    extract_and_compare(A101, input);
}

#[test]
fn verify_101_zst_totals_match_vma_verify() {
    let file = std::fs::File::open(real(&format!("{A101}.vma.zst"))).unwrap();
    let reader = Reader::new(zstd::Decoder::new(file).unwrap()).unwrap();
    check_header_against_list(A101, reader.header());
    let summary = reader.verify(&mut ()).unwrap();
    let (total, sparse) = verify_totals(A101);
    assert_eq!(summary.clusters * 65536, total);
    assert_eq!(summary.zero_bytes, sparse);
}

#[test]
fn extract_100_zst_full_matches_readme_sha256() {
    // testdata/real/README.md: "The full alone extracts to disk-drive-scsi0.raw sha256 dbbfe922…".
    let file = std::fs::File::open(real("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let reader = Reader::new(zstd::Decoder::new(file).unwrap()).unwrap();
    extract_to_dir(reader, &dir, &ExtractOptions::default(), &mut ()).unwrap();
    let disk = std::fs::read(dir.join("disk-drive-scsi0.raw")).unwrap();
    assert_eq!(disk.len(), 50_331_648);
    assert_eq!(
        sha256_hex(&disk),
        "dbbfe922b118bba464ac32c5a0ebfb4ba188eb838bc4983a2e7de9f7de5b6c58"
    );
}

/// Rewrites a real archive with this crate's writer, clusters in the original order.
fn rewrite(bytes: &[u8]) -> Vec<u8> {
    let mut reader = Reader::new(bytes).unwrap();
    let h = reader.header().clone();
    let archive = NewArchive {
        uuid: h.uuid,
        ctime: h.ctime,
        configs: h.configs.clone(),
        devices: h.devices.iter().map(|d| (d.name.clone(), d.size)).collect(),
    };
    let mut w = Writer::new(Vec::new(), &archive).unwrap();
    while let Some(c) = reader.next_cluster().unwrap() {
        let size = h.device(c.dev_id).unwrap().size;
        let mut full = vec![0u8; 65536];
        for (off, run) in c.runs(size) {
            let at = (off - c.offset()) as usize;
            full[at..at + run.len()].copy_from_slice(run);
        }
        w.write_cluster(c.dev_id, c.cluster, &full).unwrap();
    }
    reader.finish().unwrap();
    w.finish().unwrap()
}

#[test]
fn writer_reproduces_real_extents_and_blobs_byte_for_byte() {
    for name in [format!("{A105}.vma"), format!("{A103}.vma")] {
        let real = real_bytes(&name);
        let ours = rewrite(&real);
        let (real_hs, ours_hs) = (first_extent(&real), first_extent(&ours));
        // The blob area (offset 12288, blob_buffer_size bytes) is identical, and so is every extent.
        let blob_size = be32(&real, 52) as usize;
        assert_eq!(be32(&ours, 52) as usize, blob_size, "{name}");
        assert_eq!(
            real[12288..12288 + blob_size],
            ours[12288..12288 + blob_size],
            "{name}"
        );
        // Magic, version, uuid, ctime, blob offset and size, config pointers and dev_info are identical.
        assert_eq!(real[..32], ours[..32], "{name}");
        assert_eq!(real[48..56], ours[48..56], "{name}");
        assert_eq!(real[60..12288], ours[60..12288], "{name}");
        assert_eq!(real[real_hs..], ours[ours_hs..], "{name}");
        // The header differs only in header_size (real: grown per blob batch), so in its MD5 too.
        assert_eq!(ours_hs, 12288 + (blob_size.div_ceil(512) * 512), "{name}");
    }
}

#[test]
fn config_of_real_archive_is_byte_exact() {
    let bytes = real_bytes(&format!("{A103}.vma"));
    let reader = Reader::new(&bytes[..]).unwrap();
    let fw = reader.header().config("qemu-server.fw").unwrap();
    let want = &extract_files(A103)[1];
    assert_eq!(want.1, "qemu-server.fw");
    assert_eq!(&sha256_hex(&fw.data), &want.0);
    let _: &Config = fw;
}
