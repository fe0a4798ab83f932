//! A whole client session from the fuzzer's bytes: the handshake (options of every kind, any
//! lengths) and then requests (reads with and without DF, writes, block status, garbage), against
//! a 64 KiB disk with a known-zero range and a writable in-memory copy. The server must never
//! panic, hang or allocate past its bounds; what it answers is not checked here (the client
//! tests do that).
#![no_main]

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;

struct Disk(Mutex<Vec<u8>>);

impl serve::Backend for Disk {
    fn size(&self) -> u64 {
        1 << 16
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = self.0.lock().unwrap();
        diskview::ReadAt::read_exact_at(&*d, buf, offset)
    }
    fn zero_ranges(&self, offset: u64, len: u64) -> io::Result<Vec<Range<u64>>> {
        let end = offset.saturating_add(len).min(1 << 16);
        let (s, e) = (offset.max(4096), end.min(32768));
        Ok(if s < e { vec![s..e] } else { vec![] })
    }
    fn writable(&self) -> bool {
        true
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        diskview::check_range(1 << 16, offset, buf.len())?;
        let mut d = self.0.lock().unwrap();
        d[offset as usize..offset as usize + buf.len()].copy_from_slice(buf);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut disk = vec![0u8; 1 << 16];
    disk[..4096].fill(0xa5);
    let exports = vec![
        serve::Export {
            name: "ro".into(),
            description: "read-only".into(),
            backend: Arc::new(serve::ReadOnly(disk.clone())),
        },
        serve::Export {
            name: "rw".into(),
            description: String::new(),
            backend: Arc::new(Disk(Mutex::new(disk))),
        },
    ];
    let mut input = data;
    let mut out = Vec::new();
    if let Ok(Some(n)) = serve::nbd::handshake(&mut input, &mut out, &exports) {
        let _ = serve::nbd::transmission(
            &mut input,
            io::sink(),
            &exports[n.export],
            &n,
            0,
            &serve::Quiet,
        );
    }
});
