//! Helpers shared by the integration tests. Expected values come from the real tool's outputs in
//! `testdata/real/expected/` or from test inputs, never from the code under test.

use std::path::PathBuf;

use md5::{Digest, Md5};
use sha2::Sha256;
use vma::{Config, NewArchive, Writer};

/// Path of a file in `testdata/real/`.
pub fn real(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/real")
        .join(name)
}

/// Contents of a file in `testdata/real/`.
pub fn real_bytes(name: &str) -> Vec<u8> {
    std::fs::read(real(name)).expect("fixture is readable")
}

/// Contents of `testdata/real/expected/<archive>/<file>` as text.
pub fn expected(archive: &str, file: &str) -> String {
    let path = real("expected").join(archive).join(file);
    std::fs::read_to_string(path).expect("expected output is readable")
}

pub const A101: &str = "vzdump-qemu-101-2026_11_20-21_00_03";
pub const A103: &str = "vzdump-qemu-103-2026_11_20-21_07_09";
pub const A105: &str = "vzdump-qemu-105-2026_11_20-21_10_17";

/// One line of `extract.files`: sha256, file name, size.
pub fn extract_files(archive: &str) -> Vec<(String, String, u64)> {
    expected(archive, "extract.files")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let size = f[2].strip_prefix("size=").unwrap().parse().unwrap();
            (f[0].to_owned(), f[1].to_owned(), size)
        })
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `ctime(3)`-style text of a UTC timestamp, as in the CTIME lines of the expected outputs.
pub fn utc_ctime(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday.
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WD[weekday as usize],
        MO[(month - 1) as usize],
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        year
    )
}

/// Recomputes the header MD5 (bytes 32..48) after a test mutated the header.
pub fn fix_header_md5(archive: &mut [u8]) {
    let size = u32::from_be_bytes(archive[56..60].try_into().unwrap()) as usize;
    fix_md5(&mut archive[..size], 32);
}

/// Recomputes the MD5 of the extent header at `at` (bytes 24..40 of it).
pub fn fix_extent_md5(archive: &mut [u8], at: usize) {
    fix_md5(&mut archive[at..at + 512], 24);
}

fn fix_md5(region: &mut [u8], md5_at: usize) {
    region[md5_at..md5_at + 16].fill(0);
    let sum = Md5::digest(&*region);
    region[md5_at..md5_at + 16].copy_from_slice(&sum);
}

pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Offset of the first extent (the header size field).
pub fn first_extent(archive: &[u8]) -> usize {
    be32(archive, 56) as usize
}

/// Offset of blockinfo entry `i` of the extent at `ext`.
pub fn entry(ext: usize, i: usize) -> usize {
    ext + 40 + 8 * i
}

/// A small archive made by this crate's writer: one config, devices as given, every cluster filled with
/// `fill(dev_index, cluster)` bytes, written in order.
pub fn small_archive(devices: &[(&str, u64)], fill: impl Fn(usize, u32) -> Vec<u8>) -> Vec<u8> {
    let archive = NewArchive {
        uuid: *b"0123456789abcdef",
        ctime: 1_800_000_000,
        configs: vec![Config {
            name: "qemu-server.conf".into(),
            data: b"cores: 1\n".to_vec(),
        }],
        devices: devices.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
    };
    let mut w = Writer::new(Vec::new(), &archive).unwrap();
    for (i, (_, size)) in devices.iter().enumerate() {
        for c in 0..size.div_ceil(65536) as u32 {
            w.write_cluster(i as u8 + 1, c, &fill(i, c)).unwrap();
        }
    }
    w.finish().unwrap()
}
