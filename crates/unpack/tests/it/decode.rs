//! Every format and stream shape, made by the real tools from a pipe, decodes to exactly the input.

use std::process::Command;

use unpack::Format;

use crate::tools::{assert_same, data, decode, decode_ok, lzop_blocks, random, run};

/// 3 MB: twelve 256 KiB lzop blocks, several zstd blocks, and more than one channel chunk.
const LEN: usize = 3_000_000;

#[test]
fn zstd_threads_2_from_pipe() {
    let input = data(LEN, 1);
    let file = run("zstd", &["--threads=2", "-q", "-c"], &input);
    assert_same(&decode_ok(file, Format::Zstd), &input);
}

#[test]
fn zstd_concatenated_frames() {
    let (a, b) = (data(LEN / 2, 2), data(LEN / 3, 3));
    let mut file = run("zstd", &["-q", "-c"], &a);
    file.extend(run("zstd", &["-q", "-c", "-19"], &b));
    assert_same(&decode_ok(file, Format::Zstd), &[a, b].concat());
}

#[test]
fn gzip_rsyncable_from_pipe() {
    let input = data(LEN, 4);
    let file = run("gzip", &["--rsyncable", "-c"], &input);
    assert_same(&decode_ok(file, Format::Gzip), &input);
}

#[test]
fn pigz_2_threads_rsyncable_from_pipe() {
    let input = data(LEN, 5);
    let file = run("pigz", &["-p", "2", "--rsyncable", "-c"], &input);
    assert_same(&decode_ok(file, Format::Gzip), &input);
}

#[test]
fn gzip_concatenated_members() {
    let (a, b) = (data(LEN / 2, 6), data(LEN / 3, 7));
    let mut file = run("gzip", &["-c"], &a);
    file.extend(run("pigz", &["-p", "2", "-c"], &b));
    assert_same(&decode_ok(file, Format::Gzip), &[a, b].concat());
}

#[test]
fn gzip_trailing_garbage_is_a_warning() {
    let (a, b) = (data(LEN / 3, 18), data(LEN / 5, 19));
    let mut file = run("gzip", &["-c"], &a);
    file.extend(run("gzip", &["-c"], &b));
    let end = file.len();
    file.extend_from_slice(&b"not gzip ".repeat(100)[..700]);
    // The real gzip keeps the output and warns too (it stays silent about zero padding, as the lzop
    // case says; we warn about that too).
    let real = crate::tools::run_raw("gzip", &["-dc"], &file);
    assert!(String::from_utf8_lossy(&real.stderr).contains("trailing garbage"));
    assert_same(&real.stdout, &[a.clone(), b.clone()].concat());
    let d = decode(file);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_same(&d.data, &[a, b].concat());
    assert_eq!(
        d.warnings,
        [format!(
            "ignoring 700 bytes of trailing data after the gzip stream at byte {end}"
        )]
    );
}

#[test]
fn lzop_default_from_pipe() {
    let input = data(LEN, 8);
    let file = run("lzop", &["-c"], &input);
    let blocks = lzop_blocks(&file);
    assert_eq!(blocks.len(), LEN.div_ceil(256 * 1024));
    assert!(
        blocks.iter().all(|b| b.src_len < b.dst_len),
        "every block is compressed"
    );
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_level_9() {
    let input = data(LEN, 9);
    let file = run("lzop", &["-9", "-c"], &input);
    assert_eq!(file[9 + 6], 3, "method LZO1X-999");
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_crc32() {
    let input = data(LEN, 10);
    let file = run("lzop", &["--crc32", "-c"], &input);
    let flags = u32::from_be_bytes(file[17..21].try_into().expect("4 bytes"));
    assert_eq!(flags & 0x1100, 0x1100, "CRC32_D and H_CRC32 are set");
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_no_checksum() {
    let input = data(LEN, 11);
    let file = run("lzop", &["-F", "-c"], &input);
    assert_eq!(file[17..21], [0x03, 0, 0, 0x0C], "no data checksum flags");
    let d = decode(file);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_same(&d.data, &input);
    // Issue 10 item 10: decoded, but the data was not covered by any checksum.
    assert_eq!(
        d.warnings,
        [
            "the lzop stream at byte 0 has no checksum of its uncompressed data: its data was not \
          covered by any checksum"
        ]
    );
}

#[test]
fn lzop_filter_3() {
    let input = data(LEN, 12);
    let file = run("lzop", &["--filter=3", "-c"], &input);
    let flags = u32::from_be_bytes(file[17..21].try_into().expect("4 bytes"));
    assert_ne!(flags & 0x800, 0, "H_FILTER is set");
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_named_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("disk-drive-scsi0.raw");
    let input = data(LEN / 3, 13);
    std::fs::write(&path, &input).expect("write input");
    let out = Command::new("lzop")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("the real `lzop` is needed: install the Debian package `lzop` ({e})")
        });
    assert!(
        out.status.success(),
        "lzop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = out.stdout;
    assert_ne!(file[9 + 16 + 8], 0, "the header has a name");
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_random_data_gives_stored_blocks() {
    let input = random(700_000, 14);
    let file = run("lzop", &["-c"], &input);
    let blocks = lzop_blocks(&file);
    assert!(
        blocks.iter().all(|b| b.src_len == b.dst_len),
        "random data is stored raw: {blocks:?}"
    );
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_concatenated_files() {
    let (a, b) = (data(LEN / 2, 15), random(300_000, 16));
    let mut file = run("lzop", &["-c"], &a);
    file.extend(run("lzop", &["-9", "-c"], &b));
    assert_same(&decode_ok(file, Format::Lzop), &[a, b].concat());
}

#[test]
fn lzop_trailing_garbage_is_a_warning() {
    let input = data(LEN / 3, 17);
    let mut file = run("lzop", &["-c"], &input);
    let end = file.len();
    file.extend_from_slice(&b"not lzop ".repeat(100)[..900]);
    // The real lzop keeps the output and warns too (it stays silent about zero padding; we warn about that too).
    let real = crate::tools::run_raw("lzop", &["-dc"], &file);
    assert!(String::from_utf8_lossy(&real.stderr).contains("trailing garbage"));
    let d = decode(file);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_same(&d.data, &input);
    assert_eq!(
        d.warnings,
        [format!(
            "ignoring 900 bytes of trailing data after the lzop stream at byte {end}"
        )]
    );
}

#[test]
fn lzop_empty_input() {
    let file = run("lzop", &["-c"], b"");
    assert_eq!(file.len(), 38 + 4, "header and end marker");
    assert_eq!(decode_ok(file, Format::Lzop), b"");
}

#[test]
fn bzip2_from_pipe_and_concatenated() {
    let (a, b) = (data(LEN / 2, 18), data(LEN / 4, 19));
    let mut file = run("bzip2", &["-c"], &a);
    assert_same(&decode_ok(file.clone(), Format::Bzip2), &a);
    file.extend(run("bzip2", &["-1", "-c"], &b));
    assert_same(&decode_ok(file, Format::Bzip2), &[a, b].concat());
}

#[test]
fn xz_from_pipe_and_concatenated() {
    let (a, b) = (data(LEN / 2, 20), data(LEN / 4, 21));
    let mut file = run("xz", &["-c", "-T2"], &a);
    assert_same(&decode_ok(file.clone(), Format::Xz), &a);
    file.extend(run("xz", &["-c", "-0"], &b));
    assert_same(&decode_ok(file, Format::Xz), &[a, b].concat());
}

#[test]
fn plain_passes_through() {
    let input = data(LEN, 22);
    assert_same(&decode_ok(input.clone(), Format::Plain), &input);
    assert_eq!(decode_ok(b"VMA".to_vec(), Format::Plain), b"VMA");
    assert_eq!(decode_ok(Vec::new(), Format::Plain), b"");
}

#[test]
fn sniffing_ignores_the_name() {
    let input = data(100_000, 23);
    let file = run("zstd", &["-q", "-c"], &input);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("misnamed.vma.gz");
    std::fs::write(&path, &file).expect("write");
    let mut got = Vec::new();
    let mut f = unpack::open(&path).expect("open");
    std::io::Read::read_to_end(&mut f, &mut got).expect("decode");
    assert_eq!(f.format(), Format::Zstd);
    assert_eq!(f.name(), path.display().to_string());
    assert_same(&got, &input);
}
