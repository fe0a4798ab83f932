//! Rough throughput of the lzop writer and of decoding through `Input`: `cargo run --release --example speed`.

use std::io::{Read, Write};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Disk-like data: text, zeros and noise, or the file named as the first argument.
    let mut data = Vec::with_capacity(100 << 20);
    if let Some(path) = std::env::args().nth(1) {
        data = std::fs::read(path)?;
        data.truncate(100 << 20);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < 100 << 20 && std::env::args().len() == 1 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 3 {
            0 => data.extend(std::iter::repeat_n(0u8, 4096)),
            1 => data.extend_from_slice(&b"proxmox backup cluster extent ".repeat(130)),
            _ => data.extend((0..4096).map(|i| (x >> (i % 56)) as u8)),
        }
    }
    let t = Instant::now();
    let mut w = unpack::LzopWriter::new(Vec::new());
    w.write_all(&data)?;
    let file = w.finish()?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "lzop write: {} MB -> {} MB in {s:.2} s ({:.0} MB/s)",
        data.len() >> 20,
        file.len() >> 20,
        data.len() as f64 / s / 1e6
    );
    let t = Instant::now();
    let mut input = unpack::from_reader(std::io::Cursor::new(file), "speed", None)?;
    let mut out = Vec::new();
    input.read_to_end(&mut out)?;
    let s = t.elapsed().as_secs_f64();
    assert_eq!(out, data);
    println!(
        "lzop read through Input: {s:.2} s ({:.0} MB/s)",
        data.len() as f64 / s / 1e6
    );
    Ok(())
}
