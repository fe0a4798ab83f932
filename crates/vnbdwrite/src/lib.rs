//! Test-only: a writer of virtnbdbackup stream files, written from the format description
//! (`../shared/specs/virtnbdbackup.md` §2–§5) and checked against the real `virtnbdrestore`,
//! never against the `virtnbd` crate it tests.
//!
//! [`stream`] writes one file from a [`Header`] and a list of [`Extent`]s, plain or LZ4 (with
//! block and content checksums, linked blocks, as python-lz4 writes them), splitting extents of
//! `split` bytes or more into several LZ4 frames and writing the trailer. [`full_extents`] and
//! [`changed_extents`] turn disk images (byte vectors) into the extents a full or an incremental
//! would hold.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub mod scenario;

use lzzzz::lz4f;
use serde_json::json;

/// One frame's worth of disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extent {
    /// Data at a disk offset.
    Data(u64, Vec<u8>),
    /// A zero run: offset, length.
    Zero(u64, u64),
}

/// What goes into the meta frame.
#[derive(Debug, Clone)]
pub struct Header {
    /// Disk size.
    pub virtual_size: u64,
    /// Device name.
    pub disk: String,
    /// Checkpoint name.
    pub checkpoint: String,
    /// Parent checkpoint (`""` for full and copy).
    pub parent: String,
    /// Incremental or differential.
    pub incremental: bool,
    /// Local time, ISO 8601 without zone.
    pub date: String,
}

/// How to write the file.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// LZ4 level, or plain.
    pub compress: Option<i32>,
    /// Extents of this many bytes or more are split into LZ4 frames of at most this size.
    pub split: u64,
    /// Store the content size in each LZ4 frame header.
    pub content_size: bool,
    /// Write the trailer (a compressed file without one is what a cut-off copy leaves).
    pub trailer: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compress: None,
            split: 32 << 20,
            content_size: true,
            trailer: true,
        }
    }
}

fn frame(out: &mut Vec<u8>, kind: &str, start: u64, len: u64) {
    out.extend_from_slice(format!("{kind} {start:016x} {len:016x}\r\n").as_bytes());
}

fn lz4(data: &[u8], level: i32, content_size: bool) -> Vec<u8> {
    let mut prefs = lz4f::PreferencesBuilder::new();
    prefs
        .block_checksum(lz4f::BlockChecksum::Enabled)
        .content_checksum(lz4f::ContentChecksum::Enabled)
        .block_mode(lz4f::BlockMode::Linked)
        .compression_level(level);
    if content_size {
        prefs.content_size(data.len());
    }
    let mut out = Vec::new();
    lz4f::compress_to_vec(data, &mut out, &prefs.build()).expect("lz4 compress");
    out
}

/// One stream file.
pub fn stream(h: &Header, extents: &[Extent], o: Options) -> Vec<u8> {
    let data_size: u64 = extents
        .iter()
        .map(|e| {
            if let Extent::Data(_, d) = e {
                d.len() as u64
            } else {
                0
            }
        })
        .sum();
    let meta = json!({
        "virtualSize": h.virtual_size,
        "dataSize": data_size,
        "date": h.date,
        "diskName": h.disk,
        "diskFormat": "qcow2",
        "checkpointName": h.checkpoint,
        "compressed": o.compress.map_or(json!(false), |l| json!(l)),
        "compressionMethod": "lz4",
        "parentCheckpoint": h.parent,
        "incremental": h.incremental,
        "streamVersion": 2,
    });
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut text,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    serde::Serialize::serialize(&meta, &mut ser).expect("json");
    let mut out = Vec::new();
    frame(&mut out, "meta", 0, text.len() as u64);
    out.extend_from_slice(&text);
    out.extend_from_slice(b"\r\n");
    let mut trailer = Vec::new();
    for e in extents {
        match e {
            Extent::Zero(at, len) => frame(&mut out, "zero", *at, *len),
            Extent::Data(at, d) => {
                frame(&mut out, "data", *at, d.len() as u64);
                match o.compress {
                    None => out.extend_from_slice(d),
                    Some(level) if (d.len() as u64) < o.split => {
                        let c = lz4(d, level, o.content_size);
                        trailer.push(json!(c.len()));
                        out.extend_from_slice(&c);
                    }
                    Some(level) => {
                        let mut sizes = Vec::new();
                        for piece in d.chunks(o.split as usize) {
                            let c = lz4(piece, level, o.content_size);
                            sizes.push(c.len());
                            out.extend_from_slice(&c);
                        }
                        let total: usize = sizes.iter().sum();
                        trailer.push(json!({ total.to_string(): sizes }));
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    frame(&mut out, "stop", 0, 0);
    if o.compress.is_some() && o.trailer {
        let t = serde_json::to_vec(&trailer).expect("json");
        out.extend_from_slice(&t);
        out.extend_from_slice(b"\r\n");
        frame(&mut out, "comp", 0, t.len() as u64);
    }
    out
}

/// The extents of a full backup of `disk`: `block`-sized blocks, runs of non-zero blocks merged
/// into data frames, zero runs into zero frames.
pub fn full_extents(disk: &[u8], block: usize) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::new();
    for (i, b) in disk.chunks(block).enumerate() {
        let at = (i * block) as u64;
        let zero = b.iter().all(|&x| x == 0);
        match (out.last_mut(), zero) {
            (Some(Extent::Zero(s, l)), true) if *s + *l == at => *l += b.len() as u64,
            (Some(Extent::Data(s, d)), false) if *s + d.len() as u64 == at => {
                d.extend_from_slice(b)
            }
            (_, true) => out.push(Extent::Zero(at, b.len() as u64)),
            (_, false) => out.push(Extent::Data(at, b.to_vec())),
        }
    }
    out
}

/// The extents of an incremental from `old` to `new`: every `block` that differs (or lies beyond
/// `old`), merged, as data frames (zeros included: inc files have no zero frames).
pub fn changed_extents(old: &[u8], new: &[u8], block: usize) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::new();
    for (i, b) in new.chunks(block).enumerate() {
        let at = i * block;
        if old.get(at..at + b.len()) == Some(b) {
            continue;
        }
        match out.last_mut() {
            Some(Extent::Data(s, d)) if *s + d.len() as u64 == at as u64 => d.extend_from_slice(b),
            _ => out.push(Extent::Data(at as u64, b.to_vec())),
        }
    }
    out
}

/// A minimal libvirt domain XML with one qcow2 disk per name (what virtnbdrestore reads disks
/// from).
pub fn domain_xml(domain: &str, disks: &[&str]) -> String {
    let mut d = String::new();
    for (i, name) in disks.iter().enumerate() {
        d.push_str(&format!(
            "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/var/lib/libvirt/images/{domain}-{name}.qcow2'/>\n      <target dev='{name}' bus='virtio'/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x{:02x}' function='0x0'/>\n    </disk>\n",
            i + 5
        ));
    }
    format!(
        "<domain type='kvm'>\n  <name>{domain}</name>\n  <memory unit='KiB'>131072</memory>\n  <vcpu>1</vcpu>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n  </os>\n  <devices>\n{d}  </devices>\n</domain>\n"
    )
}

/// Writes `bytes` to `path` and gives it the mtime `base + seq` seconds (virtnbdrestore orders
/// files by mtime).
pub fn write_file(path: &Path, bytes: &[u8], seq: u64) {
    fs::write(path, bytes).expect("write");
    let f = fs::File::options().write(true).open(path).expect("open");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seq * 60);
    f.set_modified(t).expect("set mtime");
}
