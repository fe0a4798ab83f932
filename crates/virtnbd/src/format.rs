//! The stream format in code: frame headers, the meta JSON and the compression trailer
//! (`../shared/specs/virtnbdbackup.md` §2–§4).
//!
//! A frame header is exactly 40 ASCII bytes, `KIND SP START SP LENGTH CR LF`, with a 4-letter kind
//! and two 16-digit hexadecimal numbers (the upstream docstring's 17 digits are a typo).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Length of a frame header.
pub const HEADER_LEN: usize = 40;
/// The terminator after a meta payload, a data payload and the trailer JSON.
pub const TERM: &[u8; 2] = b"\r\n";
/// Longest meta JSON accepted (real ones are about 400 bytes).
pub const MAX_META: u64 = 1 << 20;
/// Longest trailer JSON accepted (about 10 bytes per data frame).
pub const MAX_TRAILER: u64 = 256 << 20;
/// The default NBD request limit, above which virtnbdbackup splits an extent into several LZ4
/// frames (32 MiB).
pub const DEFAULT_MAX_REQUEST: u64 = 32 << 20;

/// The kind of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Metadata JSON, always the first frame.
    Meta,
    /// Disk data at an offset.
    Data,
    /// A zero extent, no payload.
    Zero,
    /// End of frames.
    Stop,
    /// The last 40 bytes of a compressed file: the trailer's length.
    Comp,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The kind.
    pub kind: Kind,
    /// The disk offset (data, zero) or 0.
    pub start: u64,
    /// The uncompressed length (data, zero), the JSON length (meta, comp) or 0.
    pub len: u64,
}

/// Printable form of bytes found where a header was expected.
pub fn shown(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

fn hex16(field: &[u8]) -> Option<u64> {
    if field.len() != 16 || !field.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
}

/// Parses the 40 bytes at `at` of `file` as a frame header.
pub fn parse_header(bytes: &[u8; HEADER_LEN], file: &Path, at: u64) -> Result<Header> {
    let bad = |expected: &str| Error::Malformed {
        file: file.to_owned(),
        what: "frame header",
        at,
        expected: expected.to_owned(),
        found: shown(bytes),
    };
    let kind = match &bytes[..4] {
        b"meta" => Kind::Meta,
        b"data" => Kind::Data,
        b"zero" => Kind::Zero,
        b"stop" => Kind::Stop,
        b"comp" => Kind::Comp,
        _ => return Err(bad("a kind of meta, data, zero, stop or comp")),
    };
    if bytes[4] != b' ' || bytes[21] != b' ' || &bytes[38..] != TERM {
        return Err(bad("`KIND %016x %016x\\r\\n`"));
    }
    let start = hex16(&bytes[5..21]).ok_or_else(|| bad("16 hexadecimal digits of START"))?;
    let len = hex16(&bytes[22..38]).ok_or_else(|| bad("16 hexadecimal digits of LENGTH"))?;
    Ok(Header { kind, start, len })
}

/// The metadata of a stream file (its meta frame), in every known key variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Guest-visible size of the disk, bytes.
    pub virtual_size: u64,
    /// Sum of the data frames' uncompressed lengths.
    pub data_size: u64,
    /// Local time of the backup, ISO 8601 without a zone, as written.
    pub date: Option<String>,
    /// The target device (`vda`).
    pub disk_name: String,
    /// The libvirt driver type (`qcow2`, `raw`); absent in files before about 2022.
    pub disk_format: Option<String>,
    /// The checkpoint name (an integer timestamp in some 2022 differentials, kept as text).
    pub checkpoint: String,
    /// The parent checkpoint; `None` for `""` or `false` (full and copy).
    pub parent: Option<String>,
    /// True for incrementals and differentials.
    pub incremental: bool,
    /// True when data frames hold LZ4 frames (`compressed` set and stream version 2).
    pub compressed: bool,
    /// The LZ4 level, when `compressed` is a number.
    pub compression_level: Option<u64>,
    /// The stream version (`streamVersion` or the older `stream-version`), 1 when absent.
    pub stream_version: u64,
}

impl Meta {
    /// Parses the meta JSON read at `at` of `file`.
    pub fn parse(json: &[u8], file: &Path, at: u64) -> Result<Meta> {
        let bad = |expected: &str, found: String| Error::Malformed {
            file: file.to_owned(),
            what: "meta JSON",
            at,
            expected: expected.to_owned(),
            found,
        };
        let v: Value = serde_json::from_slice(json)
            .map_err(|e| bad("a JSON object", format!("invalid JSON ({e})")))?;
        let Value::Object(o) = v else {
            return Err(bad("a JSON object", kind_of(&v).into()));
        };
        let num = |key: &str| -> Result<u64> {
            match o.get(key) {
                Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                    bad(&format!("`{key}` as a non-negative integer"), n.to_string())
                }),
                Some(other) => Err(bad(
                    &format!("`{key}` as an integer"),
                    kind_of(other).into(),
                )),
                None => Err(bad(&format!("a `{key}` key"), "none".into())),
            }
        };
        let text = |key: &str| -> Result<Option<String>> {
            match o.get(key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(other) => Err(bad(&format!("`{key}` as text"), kind_of(other).into())),
            }
        };
        let virtual_size = num("virtualSize")?;
        let data_size = num("dataSize")?;
        let disk_name = text("diskName")?.ok_or_else(|| bad("a `diskName`", "none".into()))?;
        if disk_name.is_empty() || disk_name.contains('/') {
            return Err(bad("a device name such as `vda`", format!("{disk_name:?}")));
        }
        let stream_version = match o.get("streamVersion").or_else(|| o.get("stream-version")) {
            None => 1,
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| bad("`streamVersion` as 1 or 2", n.to_string()))?,
            Some(other) => return Err(bad("`streamVersion` as 1 or 2", kind_of(other).into())),
        };
        let (compressed, compression_level) = match o.get("compressed") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => (false, None),
            Some(Value::Bool(true)) => (true, None),
            Some(Value::Number(n)) => (true, n.as_u64()),
            Some(other) => {
                return Err(bad(
                    "`compressed` as false or a level",
                    kind_of(other).into(),
                ));
            }
        };
        let compressed = compressed && stream_version >= 2;
        if compressed
            && let Some(m) = text("compressionMethod")?
            && m != "lz4"
        {
            return Err(bad("`compressionMethod` lz4", format!("{m:?}")));
        }
        let incremental = match o.get("incremental") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(bad("`incremental` as true or false", kind_of(other).into()));
            }
        };
        Ok(Meta {
            virtual_size,
            data_size,
            date: text("date")?,
            disk_name,
            disk_format: text("diskFormat")?,
            checkpoint: text("checkpointName")?.unwrap_or_default(),
            parent: text("parentCheckpoint")?.filter(|p| !p.is_empty()),
            incremental,
            compressed,
            compression_level,
            stream_version,
        })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One trailer entry: the compressed lengths of the LZ4 frames of one data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailerEntry {
    /// One LZ4 frame of this many bytes.
    Single(u64),
    /// An extent split into several LZ4 frames: the total and each frame's length.
    Split(u64, Vec<u64>),
}

impl TrailerEntry {
    /// The compressed lengths of the frames.
    pub fn pieces(&self) -> Vec<u64> {
        match self {
            TrailerEntry::Single(n) => vec![*n],
            TrailerEntry::Split(_, v) => v.clone(),
        }
    }
}

/// Parses the trailer JSON read at `at` of `file`: an array with one entry per data frame, an
/// integer or `{"<total>": [c1, c2, …]}`.
pub fn parse_trailer(json: &[u8], file: &Path, at: u64) -> Result<Vec<TrailerEntry>> {
    let bad = |expected: &str, found: String| Error::Malformed {
        file: file.to_owned(),
        what: "compression trailer",
        at,
        expected: expected.to_owned(),
        found,
    };
    let v: Value = serde_json::from_slice(json)
        .map_err(|e| bad("a JSON array", format!("invalid JSON ({e})")))?;
    let Value::Array(entries) = v else {
        return Err(bad("a JSON array", kind_of(&v).into()));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let entry = match e {
            Value::Number(n) => TrailerEntry::Single(
                n.as_u64()
                    .ok_or_else(|| bad("a compressed length", format!("{n} (entry {i})")))?,
            ),
            Value::Object(o) if o.len() == 1 => {
                let (total, list) = o
                    .iter()
                    .next()
                    .ok_or_else(|| bad("one key", "none".into()))?;
                let total: u64 = total.parse().map_err(|_| {
                    bad(
                        "a decimal total as the key",
                        format!("{total:?} (entry {i})"),
                    )
                })?;
                let Value::Array(list) = list else {
                    return Err(bad(
                        "a list of lengths",
                        format!("{} (entry {i})", kind_of(list)),
                    ));
                };
                let pieces = list
                    .iter()
                    .map(|p| {
                        p.as_u64()
                            .ok_or_else(|| bad("a compressed length", format!("{p} (entry {i})")))
                    })
                    .collect::<Result<Vec<u64>>>()?;
                let sum = pieces.iter().try_fold(0u64, |a, &b| a.checked_add(b));
                if sum != Some(total) {
                    return Err(bad(
                        &format!("pieces adding up to {total}"),
                        format!("{sum:?} (entry {i})"),
                    ));
                }
                TrailerEntry::Split(total, pieces)
            }
            other => {
                return Err(bad(
                    "an integer or a one-key object",
                    format!("{} (entry {i})", kind_of(other)),
                ));
            }
        };
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Result<Header> {
        let b: [u8; 40] = s.as_bytes().try_into().expect("40 bytes");
        parse_header(&b, Path::new("f"), 7)
    }

    #[test]
    fn headers() {
        let d = h("data 0000000000100000 0000000000010000\r\n").expect("ok");
        assert_eq!(
            d,
            Header {
                kind: Kind::Data,
                start: 1 << 20,
                len: 64 << 10
            }
        );
        assert_eq!(
            h("zero 00000000000000AB 000000000000000f\r\n")
                .expect("ok")
                .start,
            0xab
        );
        assert!(h("date 0000000000100000 0000000000010000\r\n").is_err());
        assert!(h("data 0000000000100000 000000000001000g\r\n").is_err());
        assert!(h("data 0000000000100000_0000000000010000\r\n").is_err());
        assert!(h("data +000000000100000 0000000000010000\r\n").is_err());
        let e = h("data 0000000000100000 0000000000010000\n\n").expect_err("bad terminator");
        assert!(e.to_string().contains("at byte 7"), "{e}");
    }

    #[test]
    fn meta_variants() {
        let old = br#"{"virtualSize": 10, "dataSize": 4, "date": "2021-01-01T00:00:00",
            "diskName": "sda", "checkpointName": "virtnbdbackup.0", "parentCheckpoint": false,
            "incremental": false, "compressed": true, "stream-version": 1}"#;
        let m = Meta::parse(old, Path::new("f"), 0).expect("ok");
        assert!(!m.compressed, "version 1 streams are never compressed");
        assert_eq!((m.parent, m.stream_version, m.disk_format), (None, 1, None));
        let new = br#"{"virtualSize": 10, "dataSize": 4, "date": "2022-02-01T00:00:00",
            "diskName": "vda", "diskFormat": "qcow2", "checkpointName": 1643673600,
            "parentCheckpoint": "virtnbdbackup.0", "incremental": true, "compressed": 2,
            "compressionMethod": "lz4", "streamVersion": 2}"#;
        let m = Meta::parse(new, Path::new("f"), 0).expect("ok");
        assert_eq!(m.checkpoint, "1643673600");
        assert_eq!((m.compressed, m.compression_level), (true, Some(2)));
        assert_eq!(m.parent.as_deref(), Some("virtnbdbackup.0"));
        assert!(Meta::parse(b"[]", Path::new("f"), 0).is_err());
        assert!(Meta::parse(br#"{"virtualSize": -1}"#, Path::new("f"), 0).is_err());
        let zstd = br#"{"virtualSize": 1, "dataSize": 0, "diskName": "vda", "compressed": 3,
            "compressionMethod": "zstd", "streamVersion": 2}"#;
        assert!(Meta::parse(zstd, Path::new("f"), 0).is_err());
    }

    #[test]
    fn trailers() {
        let t = parse_trailer(br#"[12, {"30": [10, 20]}]"#, Path::new("f"), 0).expect("ok");
        assert_eq!(
            t,
            vec![
                TrailerEntry::Single(12),
                TrailerEntry::Split(30, vec![10, 20])
            ]
        );
        assert!(parse_trailer(br#"[{"31": [10, 20]}]"#, Path::new("f"), 0).is_err());
        assert!(parse_trailer(br#"[{"x": [10]}]"#, Path::new("f"), 0).is_err());
        assert!(parse_trailer(br#"[-3]"#, Path::new("f"), 0).is_err());
        assert!(parse_trailer(br#"{}"#, Path::new("f"), 0).is_err());
    }
}
