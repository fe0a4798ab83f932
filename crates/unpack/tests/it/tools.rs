//! Helpers shared by the integration tests.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};
use unpack::{Error, Format};

/// The Debian package that ships a tool.
fn package(tool: &str) -> &'static str {
    match tool {
        "gzip" => "gzip",
        "pigz" => "pigz",
        "zstd" => "zstd",
        "lzop" => "lzop",
        "bzip2" => "bzip2",
        "xz" => "xz-utils",
        _ => "(unknown)",
    }
}

/// Runs a real tool with `input` on stdin and returns its output, whatever the exit status.
pub fn run_raw(tool: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = match Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the real `{tool}` is needed by this test: install the Debian package `{}` \
             (`cargo xtask test` installs all of them)",
            package(tool)
        ),
        Err(e) => panic!("cannot run `{tool}`: {e}"),
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // Feed stdin from another thread so that a full stdout pipe cannot deadlock us.
    let feeder = std::thread::spawn(move || {
        // The tool may stop reading early (e.g. `-t` on a broken file); that is not our failure.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the tool");
    feeder.join().expect("stdin feeder");
    out
}

/// Runs a real tool with `input` on stdin, asserts success and returns stdout.
pub fn run(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = run_raw(tool, args, input);
    assert!(
        out.status.success(),
        "`{tool} {}` failed with {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Deterministic, moderately compressible data resembling a disk image: zero runs, repeated records, text and
/// noise, from a fixed seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let run = 512 + (rng.next() % 8192) as usize;
        match rng.next() % 4 {
            0 => out.extend(std::iter::repeat_n(0u8, run)),
            1 => {
                let rec = format!("record {:08x} owner=root mode=0644 ", rng.next() % 1000);
                let end = out.len() + run;
                while out.len() < end {
                    out.extend_from_slice(rec.as_bytes());
                }
            }
            2 => {
                for _ in 0..run / 8 {
                    let word = [
                        "vma", "disk", "cluster", "extent", "backup", "proxmox", "zero", "block",
                    ][(rng.next() % 8) as usize];
                    out.extend_from_slice(word.as_bytes());
                    out.push(b' ');
                }
            }
            _ => out.extend((0..run / 4).map(|_| (rng.next() % 256) as u8)),
        }
    }
    out.truncate(len);
    out
}

/// Deterministic incompressible bytes.
pub fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| (rng.next() >> 24) as u8).collect()
}

/// xorshift64*: enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Hex SHA-256.
pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The outcome of decoding through [`unpack::from_reader`].
pub struct Decoded {
    pub format: Format,
    pub data: Vec<u8>,
    pub warnings: Vec<String>,
    pub error: Option<Error>,
    pub consumed: u64,
}

/// Decodes `bytes` through the threaded [`unpack::Input`], keeping the bytes delivered before any error.
pub fn decode(bytes: Vec<u8>) -> Decoded {
    let len = bytes.len() as u64;
    let mut input =
        unpack::from_reader(std::io::Cursor::new(bytes), "test input", Some(len)).expect("open");
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let error = loop {
        match input.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => {
                let err = Error::from_io(&e)
                    .unwrap_or_else(|| panic!("not an unpack::Error: {e}"))
                    .clone();
                break Some(err);
            }
        }
    };
    Decoded {
        format: input.format(),
        data,
        warnings: input.warnings(),
        error,
        consumed: input.counter().load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Decodes `bytes`, asserts success and the format, and returns the data.
pub fn decode_ok(bytes: Vec<u8>, format: Format) -> Vec<u8> {
    let len = bytes.len() as u64;
    let d = decode(bytes);
    if let Some(e) = d.error {
        panic!("decoding failed: {e}");
    }
    assert_eq!(d.format, format);
    assert_eq!(d.consumed, len, "every compressed byte is consumed");
    assert!(
        d.warnings.is_empty(),
        "unexpected warnings: {:?}",
        d.warnings
    );
    d.data
}

/// Asserts that decoding gives exactly `expected`, comparing lengths and hashes for readable failures.
pub fn assert_same(got: &[u8], expected: &[u8]) {
    assert_eq!(got.len(), expected.len(), "decoded length");
    assert_eq!(sha256(got), sha256(expected), "decoded sha256");
}

/// Decodes `bytes`, asserts it fails, and returns the error and the data delivered before it.
pub fn decode_err(bytes: Vec<u8>) -> (Error, Vec<u8>) {
    let d = decode(bytes);
    match d.error {
        Some(e) => (e, d.data),
        None => panic!(
            "decoding succeeded with {} bytes but should fail",
            d.data.len()
        ),
    }
}

/// One lzop block as laid out in the file (lzop.md §7), found by walking the container independently of the
/// code under test. Only for files whose flags are ADLER32_D alone (lzop's default).
#[derive(Debug, Clone, Copy)]
pub struct LzopBlock {
    pub at: usize,
    pub dst_len: usize,
    pub src_len: usize,
    pub adler_d: u32,
    pub payload_at: usize,
}

/// Walks the blocks of an lzop file made from a pipe (38-byte header, ADLER32_D only).
pub fn lzop_blocks(file: &[u8]) -> Vec<LzopBlock> {
    let be = |at: usize| u32::from_be_bytes(file[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(
        be(17),
        0x0300_000D,
        "a piped lzop file with Adler-32 data checksums"
    );
    let mut at = 38;
    let mut blocks = Vec::new();
    loop {
        let dst_len = be(at) as usize;
        if dst_len == 0 {
            return blocks;
        }
        let src_len = be(at + 4) as usize;
        blocks.push(LzopBlock {
            at,
            dst_len,
            src_len,
            adler_d: be(at + 8),
            payload_at: at + 12,
        });
        at += 12 + src_len;
    }
}
