//! Shared helpers: deterministic data, the real tools, decoding.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use vcdiff::{Decoder, ForwardSource, Options};

/// A small deterministic generator (xorshift64*), so fixtures are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Disk-image-like data: 4 KiB blocks of random bytes, text, or zeros.
pub fn image(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = vec![0u8; len];
    for block in out.chunks_mut(4096) {
        match rng.below(3) {
            0 => rng.fill(block),
            1 => {
                let n = rng.below(1000);
                let text = format!(
                    "record {n} of the guest filesystem, flags {:x}\n",
                    rng.next()
                );
                for (b, t) in block.iter_mut().zip(text.bytes().cycle()) {
                    *b = t;
                }
            }
            _ => {}
        }
    }
    out
}

/// `source` with scattered edits: overwrites, insertions and deletions.
pub fn edit(source: &[u8], seed: u64, edits: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = source.to_vec();
    for _ in 0..edits {
        let len = out.len() as u64;
        let at = rng.below(len.saturating_sub(70_000).max(1)) as usize;
        let max = if rng.below(4) == 0 { 60_000 } else { 300 };
        let size = 1 + rng.below(max) as usize;
        let mut fresh = vec![0u8; size];
        rng.fill(&mut fresh);
        match rng.below(3) {
            0 => out[at..at + size].copy_from_slice(&fresh),
            1 => {
                out.splice(at..at, fresh);
            }
            _ => {
                out.drain(at..at + size);
            }
        }
    }
    out
}

/// Path of a real tool; fails (never skips) with the Debian package to install.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
    {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("`{name}` is needed for this test: install the Debian package `{package}`");
}

pub fn xdelta3() -> PathBuf {
    tool("xdelta3", "xdelta3")
}

/// Runs a tool and fails with its stderr if it exits non-zero.
pub fn run(program: &Path, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("tool starts");
    assert!(
        output.status.success(),
        "{} {:?} failed: {}",
        program.display(),
        args,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fixture made by `xdelta3 -e` in a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub source: Vec<u8>,
    pub target: Vec<u8>,
    pub delta: Vec<u8>,
}

impl Fixture {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Encodes `target` against `source` (or without one) with the extra `flags`.
    pub fn encode(source: Option<&[u8]>, target: &[u8], flags: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("source.bin");
        let tgt = dir.path().join("target.bin");
        let out = dir.path().join("delta.vcdiff");
        std::fs::write(&tgt, target).expect("write target");
        let mut args: Vec<&std::ffi::OsStr> = vec!["-e".as_ref(), "-f".as_ref()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        if let Some(s) = source {
            std::fs::write(&src, s).expect("write source");
            args.push("-s".as_ref());
            args.push(src.as_os_str());
        }
        args.push(tgt.as_os_str());
        args.push(out.as_os_str());
        run(&xdelta3(), &args);
        let delta = std::fs::read(&out).expect("read delta");
        let source = source.map(<[u8]>::to_vec).unwrap_or_default();
        Fixture {
            source,
            target: target.to_vec(),
            delta,
            dir,
        }
    }

    /// Checks that the real `xdelta3 -d` reproduces the target from this delta.
    pub fn check_reference_decoder(&self) {
        let delta = self.path("delta.vcdiff");
        let out = self.path("decoded.bin");
        let mut args: Vec<&std::ffi::OsStr> = vec!["-d".as_ref(), "-f".as_ref()];
        let src = self.path("source.bin");
        if src.exists() {
            args.push("-s".as_ref());
            args.push(src.as_os_str());
        }
        args.push(delta.as_os_str());
        args.push(out.as_os_str());
        run(&xdelta3(), &args);
        let decoded = std::fs::read(&out).expect("read decoded");
        assert!(
            decoded == self.target,
            "xdelta3 -d did not reproduce the target"
        );
    }
}

/// Decodes with our decoder, reading the source forward only.
pub fn decode(source: &[u8], delta: &[u8], opts: Options) -> vcdiff::Result<Vec<u8>> {
    let mut decoder = Decoder::new(ForwardSource(source), delta, opts)?;
    let mut out = Vec::new();
    while let Some(window) = decoder.next_window()? {
        out.extend_from_slice(window);
    }
    Ok(out)
}

/// Decodes through the `Read` implementation with small, odd-sized reads.
pub fn decode_with_reads(source: &[u8], delta: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut decoder = Decoder::new(ForwardSource(source), delta, Options::default())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 7919];
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Asserts equality without printing megabytes on failure.
pub fn assert_same(found: &[u8], expected: &[u8], what: &str) {
    if found != expected {
        let first = found.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{what}: output differs (found {} bytes, expected {}, first difference at {first:?})",
            found.len(),
            expected.len()
        );
    }
}

/// Text made of a few words, so Huffman-style secondary compressors find something to save.
pub fn words(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 10] = [
        "alpha", "beta", "gamma", "delta", "disk", "backup", "proxmox", "vzdump", "cluster",
        "block",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.below(10) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}
