//! Our compressors' output is accepted and decoded by the real tools.

use std::io::Write;
use std::sync::{Arc, Mutex};

use unpack::{Format, compressor};

use crate::tools::{assert_same, data, decode_ok, lzop_blocks, random, run, run_raw};

/// A `Write + Send + 'static` sink whose bytes the test can take afterwards.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses `input` with our writer, in uneven pieces as a caller would write them.
fn compress(input: &[u8], c: Format) -> Vec<u8> {
    let sink = Sink::default();
    let mut w = compressor(sink.clone(), c).expect("compressor");
    for piece in input.chunks(100_003) {
        w.write_all(piece).expect("write");
    }
    w.finish().expect("finish");
    sink.0.lock().expect("sink lock").clone()
}

/// Compressible data followed by random data, so that both compressed and stored lzop blocks occur.
fn mixed() -> Vec<u8> {
    [data(2_000_000, 31), random(600_000, 32), data(100_000, 33)].concat()
}

#[test]
fn lzop_output_passes_lzop_t_and_decodes_with_lzop() {
    let input = mixed();
    let file = compress(&input, Format::Lzop);
    // The header lzop 1.04 writes from a pipe (lzop.md §3), with mode and mtime 0.
    assert_eq!(
        file[..34],
        [
            0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A, 0x10, 0x40, 0x20, 0xA0, 0x09,
            0x40, 1, 5, 0x03, 0, 0, 0x0D, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ][..],
        "header up to the checksum"
    );
    // lzop -t below checks the header checksum too.
    assert_eq!(
        file[34..38],
        adler2::adler32_slice(&file[9..34]).to_be_bytes()
    );
    let blocks = lzop_blocks(&file);
    assert_eq!(blocks.len(), input.len().div_ceil(256 * 1024));
    assert!(
        blocks.iter().any(|b| b.src_len == b.dst_len),
        "random data is stored"
    );
    assert!(
        blocks.iter().any(|b| b.src_len < b.dst_len),
        "other data is compressed"
    );
    let t = run_raw("lzop", &["-t"], &file);
    assert!(
        t.status.success(),
        "lzop -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    assert_same(&run("lzop", &["-dc"], &file), &input);
    assert_same(&decode_ok(file, Format::Lzop), &input);
}

#[test]
fn lzop_empty_output_passes_lzop_t() {
    let file = compress(b"", Format::Lzop);
    assert_eq!(file.len(), 38 + 4);
    assert_eq!(run("lzop", &["-dc"], &file), b"");
}

#[test]
fn gzip_output_decodes_with_gzip() {
    let input = mixed();
    let file = compress(&input, Format::Gzip);
    assert_same(&run("gzip", &["-dc"], &file), &input);
    assert_same(&decode_ok(file, Format::Gzip), &input);
}

#[test]
fn zstd_output_decodes_with_zstd() {
    let input = mixed();
    let file = compress(&input, Format::Zstd);
    run("zstd", &["-q", "-t"], &file);
    assert_same(&run("zstd", &["-q", "-dc"], &file), &input);
    assert_same(&decode_ok(file, Format::Zstd), &input);
}

#[test]
fn no_compression_is_the_identity() {
    let input = mixed();
    assert_same(&compress(&input, Format::Plain), &input);
}

#[test]
fn compression_from_path_and_extension() {
    use std::path::Path;
    for c in [Format::Gzip, Format::Zstd, Format::Lzop] {
        let p = format!("vzdump-qemu-100.vma.{}", c.extension());
        assert_eq!(Format::from_path(Path::new(&p)), c);
    }
    assert_eq!(Format::from_path(Path::new("x.vma")), Format::Plain);
    assert_eq!(Format::from_path(Path::new("x.vma.bz2")), Format::Bzip2);
    assert_eq!(Format::Plain.extension(), "");
    assert_eq!(Format::Lzop.to_string(), "lzop");
}

#[test]
fn lzop_writer_compresses_every_compressible_block_about_as_well_as_lzop() {
    // The writer stores a block raw if its own check of the compressed form fails; that must not happen here.
    let input = data(3_000_000, 34);
    let ours = compress(&input, Format::Lzop);
    assert!(
        lzop_blocks(&ours).iter().all(|b| b.src_len < b.dst_len),
        "every block is compressed"
    );
    let theirs = run("lzop", &["-c"], &input);
    assert!(
        ours.len() * 10 < theirs.len() * 12,
        "ours {} bytes, lzop {} bytes",
        ours.len(),
        theirs.len()
    );
    assert_same(&run("lzop", &["-dc"], &ours), &input);
}
