//! Property tests: whatever the writer stores, the reader gives back.

use proptest::prelude::*;
use vma::{Config, NewArchive, Reader, Writer};

/// One device: its size and, per cluster, which 4 KiB blocks hold data and the byte they are filled with.
#[derive(Debug, Clone)]
struct Disk {
    size: u64,
    clusters: Vec<(u16, u8)>,
}

impl Disk {
    /// The device image the test expects, built from the inputs alone.
    fn image(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.size as usize];
        for (c, &(mask, fill)) in self.clusters.iter().enumerate() {
            for j in 0..16 {
                if mask & (1 << j) != 0 {
                    let start = (c * 65536 + j * 4096).min(v.len());
                    let end = (start + 4096).min(v.len());
                    // Vary bytes inside the block so misplaced blocks are caught.
                    for (k, b) in v[start..end].iter_mut().enumerate() {
                        *b = fill.wrapping_add((k % 251) as u8) | 1;
                    }
                }
            }
        }
        v
    }
}

fn disk() -> impl Strategy<Value = Disk> {
    (1u64..=400).prop_flat_map(|sectors| {
        let size = sectors * 512;
        let n = size.div_ceil(65536) as usize;
        // Masks deliberately include 0 and 0xFFFF among arbitrary values.
        let mask = prop_oneof![1 => Just(0u16), 1 => Just(0xFFFFu16), 6 => any::<u16>()];
        prop::collection::vec((mask, any::<u8>()), n)
            .prop_map(move |clusters| Disk { size, clusters })
    })
}

fn case() -> impl Strategy<Value = (Vec<Disk>, Vec<Config>, Vec<(usize, u32)>)> {
    let configs = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..3);
    (prop::collection::vec(disk(), 0..4), configs).prop_flat_map(|(disks, data)| {
        let configs: Vec<Config> = data
            .into_iter()
            .enumerate()
            .map(|(i, data)| Config {
                name: format!("conf{i}.conf"),
                data,
            })
            .collect();
        let order: Vec<(usize, u32)> = disks
            .iter()
            .enumerate()
            .flat_map(|(d, disk)| (0..disk.clusters.len() as u32).map(move |c| (d, c)))
            .collect();
        (Just(disks), Just(configs), Just(order).prop_shuffle())
    })
}

fn write(
    disks: &[Disk],
    configs: &[Config],
    order: &[(usize, u32)],
    images: &[Vec<u8>],
) -> Vec<u8> {
    let archive = NewArchive {
        uuid: [9; 16],
        ctime: 1_234_567_890,
        configs: configs.to_vec(),
        devices: disks
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("drive-scsi{i}"), d.size))
            .collect(),
    };
    let mut w = Writer::new(Vec::new(), &archive).unwrap();
    for &(d, c) in order {
        let start = c as usize * 65536;
        let end = (start + 65536).min(images[d].len());
        w.write_cluster(d as u8 + 1, c, &images[d][start..end])
            .unwrap();
    }
    w.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn write_then_read_is_identity((disks, configs, order) in case()) {
        let images: Vec<Vec<u8>> = disks.iter().map(Disk::image).collect();
        let bytes = write(&disks, &configs, &order, &images);
        // Deterministic for the same inputs.
        prop_assert_eq!(&bytes, &write(&disks, &configs, &order, &images));

        let mut r = Reader::new(&bytes[..]).unwrap();
        prop_assert_eq!(&r.header().configs, &configs);
        let mut got: Vec<Vec<u8>> = disks.iter().map(|d| vec![0u8; d.size as usize]).collect();
        let mut got_zeroes = got.clone();
        let mut seen = Vec::new();
        while let Some(c) = r.next_cluster().unwrap() {
            let d = c.dev_id as usize - 1;
            let size = disks[d].size;
            seen.push((d, c.cluster));
            // The mask is exactly the set of non-zero blocks inside the device.
            let mut want_mask = 0u16;
            for j in 0..16u64 {
                let start = c.cluster as u64 * 65536 + j * 4096;
                if start < size {
                    let end = (start + 4096).min(size);
                    if images[d][start as usize..end as usize].iter().any(|&b| b != 0) {
                        want_mask |= 1 << j;
                    }
                }
            }
            prop_assert_eq!(c.mask, want_mask);
            prop_assert_eq!(c.data.len(), want_mask.count_ones() as usize * 4096);
            for (off, run) in c.runs(size) {
                got[d][off as usize..off as usize + run.len()].copy_from_slice(run);
            }
            for (off, block) in c.blocks(size) {
                if let Some(b) = block {
                    got_zeroes[d][off as usize..off as usize + b.len()].copy_from_slice(b);
                }
            }
        }
        prop_assert_eq!(&seen, &order);
        let s = r.finish().unwrap();
        prop_assert_eq!(s.clusters, order.len() as u64);
        let total: u64 = disks.iter().map(|d| d.size).sum();
        prop_assert_eq!(s.stored_bytes + s.zero_bytes, total);
        prop_assert_eq!(s.bytes_read, bytes.len() as u64);
        for d in 0..disks.len() {
            prop_assert!(got[d] == images[d], "device {} differs", d);
            prop_assert!(got_zeroes[d] == images[d], "device {} differs (blocks)", d);
        }
    }

    /// Whole extents (as the extractor reads them) yield the same clusters as one cluster at a time,
    /// also after a partly consumed extent, with every stored block aligned for direct I/O.
    #[test]
    fn extents_yield_the_same_clusters((disks, configs, order) in case(), first in 0usize..3) {
        let images: Vec<Vec<u8>> = disks.iter().map(Disk::image).collect();
        let bytes = write(&disks, &configs, &order, &images);
        let mut one = Reader::new(&bytes[..]).unwrap();
        let mut want = Vec::new();
        while let Some(c) = one.next_cluster().unwrap() {
            want.push((c.dev_id, c.cluster, c.mask, c.data.to_vec()));
        }
        let mut r = Reader::new(&bytes[..]).unwrap();
        let mut got = Vec::new();
        for _ in 0..first {
            if let Some(c) = r.next_cluster().unwrap() {
                got.push((c.dev_id, c.cluster, c.mask, c.data.to_vec()));
            }
        }
        while let Some(extent) = r.next_extent().unwrap() {
            let mut n = 0;
            for c in extent.clusters() {
                n += 1;
                for (_, run) in c.runs(u64::MAX) {
                    prop_assert_eq!(run.as_ptr() as usize % vma::DATA_ALIGN, 0);
                }
                got.push((c.dev_id, c.cluster, c.mask, c.data.to_vec()));
            }
            prop_assert!(n > 0, "an extent without clusters was yielded");
            r.recycle(extent);
        }
        prop_assert!(got == want, "clusters differ");
        prop_assert_eq!(r.finish().unwrap(), one.finish().unwrap());
    }
}
