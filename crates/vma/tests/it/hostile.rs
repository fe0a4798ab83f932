//! Hostile archives that are valid byte by byte but designed to exhaust the reader. They are written by
//! an independent Python writer following `shared/specs/vma.md`, since the real `vma` never writes them.

use std::io::BufReader;
use std::path::Path;
use std::process::Command;

use vma::{Error, Reader};

/// Writes a VMA archive with one config and one device of `size` bytes whose extents hold every
/// `step`-th cluster, from the last one down, with mask 0 (zero clusters, no data): a sparse scatter
/// that never lets two clusters touch. Usage: `python3 -c SCRIPT OUT SIZE STEP`.
const SCATTER_WRITER: &str = r#"
import hashlib, struct, sys
out, size, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uuid = bytes(range(16))
blobs = bytearray(b"\0")
def blob(b):
    at = len(blobs)
    blobs.extend(struct.pack("<H", len(b)) + b)
    return at
conf_name, conf_data, dev_name = blob(b"qemu-server.conf\0"), blob(b"cores: 1\n"), blob(b"drive-scsi0\0")
header_size = 12288 + (len(blobs) + 511) // 512 * 512
h = bytearray(header_size)
h[0:4] = b"VMA\0"
struct.pack_into(">I", h, 4, 1)
h[8:24] = uuid
struct.pack_into(">q", h, 24, 1_800_000_000)
struct.pack_into(">III", h, 48, 12288, len(blobs), header_size)
struct.pack_into(">I", h, 2044, conf_name)
struct.pack_into(">I", h, 3068, conf_data)
struct.pack_into(">IIQ", h, 4096 + 32, dev_name, 0, size)
h[12288:12288 + len(blobs)] = blobs
h[32:48] = hashlib.md5(h).digest()
clusters = list(range((size + 65535) // 65536 - 1, -1, -step))
with open(out, "wb") as f:
    f.write(h)
    for i in range(0, len(clusters), 59):
        e = bytearray(512)
        e[0:4] = b"VMAE"
        e[8:24] = uuid
        for j, c in enumerate(clusters[i:i + 59]):
            struct.pack_into(">Q", e, 40 + 8 * j, (1 << 32) | (c & 0xFFFFFFFF))
        e[24:40] = hashlib.md5(e).digest()
        f.write(e)
"#;

fn write_scatter(out: &Path, size: u64, step: u64) {
    let status = Command::new("python3")
        .args(["-c", SCATTER_WRITER])
        .arg(out)
        .args([size.to_string(), step.to_string()])
        .status()
        .expect("python3 runs");
    assert!(status.success(), "the Python VMA writer failed");
}

/// Peak resident memory of this process in KiB, from `/proc/self/status`.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reads the archive named by `HOSTILE_VMA` and prints the outcome and the peak RSS; does nothing when
/// the variable is unset. Run alone in a child process by the test below, so that no other test's
/// memory counts.
#[test]
fn hostile_child_reads_archive() {
    let Some(path) = std::env::var_os("HOSTILE_VMA") else {
        return;
    };
    let file = std::fs::File::open(path).unwrap();
    let run = || -> vma::Result<vma::Summary> {
        let mut r = Reader::new(BufReader::new(file))?;
        while r.next_cluster()?.is_some() {}
        r.finish()
    };
    let err = run().expect_err("an incomplete archive was accepted");
    println!("outcome: {err}");
    println!("peak-rss-kib: {}", peak_rss_kib());
}

#[test]
fn issue10_item1_scattered_clusters_keep_memory_bounded() {
    // Every 4th cluster of a 1 TiB disk (2^24 clusters): 4 Mi entries in 71 093 extents, 36 MB of
    // archive. A set of ranges kept ~36 bytes per cluster (150 MB); one bit per cluster is 2 MiB.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("scatter.vma");
    write_scatter(&archive, 1 << 40, 4);
    assert_eq!(
        std::fs::metadata(&archive).unwrap().len(),
        12288 + 512 + (((1u64 << 24) / 4).div_ceil(59)) * 512
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hostile::hostile_child_reads_archive",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("HOSTILE_VMA", &archive)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    // Clusters 2^24 - 1, 2^24 - 5, …, 3 are present: 0 is the first missing.
    assert!(
        stdout.contains("outcome: missing cluster 0 of device drive-scsi0\n"),
        "{stdout}"
    );
    let rss: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib: "))
        .unwrap()
        .parse()
        .unwrap();
    // The test process with a 3.7 MiB extent buffer and the 2 MiB bitmap peaks near 6 MiB (old: 150 MiB).
    assert!(rss < 48 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn issue10_item1_bitmap_is_sized_by_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("scatter.vma");
    // Every 2nd cluster of a 64 GiB disk (2^20 clusters): 2^19 entries, 2^20 bits = 128 KiB.
    write_scatter(&archive, 1 << 36, 2);
    let mut r = Reader::new(BufReader::new(std::fs::File::open(&archive).unwrap())).unwrap();
    let mut max = 0;
    while r.next_cluster().unwrap().is_some() {
        max = max.max(r.coverage_bytes());
    }
    assert_eq!(max, (1 << 20) / 8);
    let err = r.finish().unwrap_err();
    assert!(
        matches!(&err, Error::MissingCluster { cluster: 0, .. }),
        "{err}"
    );
}

#[test]
fn issue10_item1_device_larger_than_clusters_can_address() {
    // 2^48 bytes is exactly 2^32 clusters and accepted; one more 512-byte sector can never be complete.
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.vma");
    write_scatter(&ok, 1 << 48, 1 << 40);
    let r = Reader::new(std::fs::File::open(&ok).unwrap()).unwrap();
    assert_eq!(r.header().devices[0].size, 1 << 48);
    let big = dir.path().join("big.vma");
    write_scatter(&big, (1 << 48) + 512, 1 << 40);
    let err = Reader::new(std::fs::File::open(&big).unwrap()).unwrap_err();
    // dev_info[1] is at 4096 + 32; its size field 8 bytes further.
    assert_eq!(
        err.to_string(),
        "device size at offset 4136 is too large: 281474976711168 exceeds the limit of 281474976710656"
    );
}

#[test]
fn issue10_item13_a_2_63_byte_disk_names_the_size_field() {
    // The restore used to fail at the output file with "out of range integral type conversion
    // attempted" (set_len takes an i64).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.vma");
    write_scatter(&path, 1 << 63, 1 << 62);
    let err = Reader::new(std::fs::File::open(&path).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "device size at offset 4136 is too large: 9223372036854775808 exceeds the limit of 281474976710656"
    );
}
