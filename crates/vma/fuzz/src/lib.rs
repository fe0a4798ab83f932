//! The checks behind the `vma_read` fuzz target, shared with the stdin reproducer and the seed writer.

use md5::{Digest, Md5};
use vma::{Config, NewArchive, Reader, Writer};

/// Feeds `data` to the reader and drains it. Never panics unless the reader breaks an invariant.
///
/// If the first byte is odd, the rest is an archive whose header and extent MD5s are recomputed
/// first, so that mutations reach the checks behind the checksums.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut archive = rest.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut archive);
    }
    let Ok(mut reader) = Reader::new(&archive[..]) else {
        return;
    };
    let header = reader.header().clone();
    let mut stored = 0u64;
    loop {
        match reader.next_cluster() {
            Ok(Some(c)) => {
                assert_eq!(c.data.len(), c.mask.count_ones() as usize * 4096);
                let dev = header
                    .device(c.dev_id)
                    .expect("cluster of a declared device");
                assert!(u64::from(c.cluster) < dev.clusters());
                let mut end = c.offset();
                for (off, run) in c.runs(dev.size) {
                    assert!(off >= end && off + run.len() as u64 <= dev.size);
                    end = off + run.len() as u64;
                    stored += run.len() as u64;
                }
                let blocks: u64 = c
                    .blocks(dev.size)
                    .map(|(_, b)| b.map_or(0, |b| b.len() as u64))
                    .sum();
                assert_eq!(
                    blocks,
                    c.runs(dev.size).map(|(_, r)| r.len() as u64).sum::<u64>()
                );
            }
            Ok(None) => break,
            Err(_) => {
                // A failed reader stays failed.
                assert!(reader.next_cluster().is_err());
                return;
            }
        }
    }
    if let Ok(summary) = reader.finish() {
        // Ok means complete: every byte of every device is accounted for, stored or zero.
        let total: u64 = header.devices.iter().map(|d| d.size).sum();
        assert_eq!(summary.stored_bytes, stored);
        assert_eq!(summary.stored_bytes + summary.zero_bytes, total);
        assert_eq!(summary.bytes_read, archive.len() as u64);
    }
}

/// What reading `data` (as [`check`] does) ends with: `ok` or the error variant's name.
pub fn outcome(data: &[u8]) -> String {
    let Some((&mode, rest)) = data.split_first() else {
        return "empty".into();
    };
    let mut archive = rest.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut archive);
    }
    let run = || -> vma::Result<vma::Summary> {
        let mut r = Reader::new(&archive[..])?;
        while r.next_cluster()?.is_some() {}
        r.finish()
    };
    match run() {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or("")
            .to_owned(),
    }
}

/// Recomputes the header MD5 and the MD5 of every extent header reachable by hopping extents.
pub fn fix_checksums(archive: &mut [u8]) {
    let be32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes(s.try_into().unwrap()))
    };
    let Some(header_size) = be32(archive, 56).map(|v| v as usize) else {
        return;
    };
    if header_size < 48 || header_size > archive.len() {
        return;
    }
    fix_md5(&mut archive[..header_size], 32);
    let mut pos = header_size;
    while pos + 512 <= archive.len() {
        fix_md5(&mut archive[pos..pos + 512], 24);
        let blocks = u16::from_be_bytes([archive[pos + 6], archive[pos + 7]]) as usize;
        pos += 512 + blocks * 4096;
    }
}

fn fix_md5(region: &mut [u8], at: usize) {
    region[at..at + 16].fill(0);
    let sum = Md5::digest(&*region);
    region[at..at + 16].copy_from_slice(&sum);
}

/// Small valid archives for the initial corpus (each prefixed with the mode byte 1).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let shapes: &[(&str, &[(&str, u64)])] = &[
        ("diskless", &[]),
        ("one-block", &[("drive-scsi0", 4096)]),
        (
            "two-disks",
            &[("drive-scsi0", 3 * 65536 + 512), ("drive-virtio1", 65536)],
        ),
        ("vmstate", &[("drive-scsi0", 65536), ("vmstate", 2 * 65536)]),
        ("sixty-clusters", &[("drive-sata0", 60 * 65536)]),
    ];
    shapes
        .iter()
        .map(|(name, devices)| {
            let archive = NewArchive {
                uuid: *b"fuzz-seed-uuid-0",
                ctime: 1_700_000_000,
                configs: vec![Config {
                    name: "qemu-server.conf".into(),
                    data: b"cores: 1\n".to_vec(),
                }],
                devices: devices.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            };
            let mut w = Writer::new(vec![1u8], &archive).expect("valid seed description");
            for (i, (_, size)) in devices.iter().enumerate() {
                for c in 0..size.div_ceil(65536) as u32 {
                    // Sparse, with masks that are neither 0 nor 0xFFFF: the first clusters store every
                    // fifth block, later every fourth cluster stores one block.
                    let mut data = vec![0u8; 65536];
                    if c < 2 {
                        for j in (0..16).step_by(5) {
                            data[j * 4096] = c as u8 + 1;
                        }
                    } else if c % 4 == 0 {
                        data[(c as usize % 16) * 4096] = c as u8;
                    }
                    w.write_cluster(i as u8 + 1, c, &data)
                        .expect("valid seed cluster");
                }
            }
            (name.to_string(), w.finish().expect("seed written"))
        })
        .collect()
}
