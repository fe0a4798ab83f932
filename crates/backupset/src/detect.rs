//! What a path is, recognised by content: the one place that does it.
//!
//! Every command is handed a path and must know what it holds before it can pick a reader:
//! a backup directory, a VMA archive (any compression), a container tar, a differential or
//! another delta, a raw disk image. [`detect`] answers by looking at what is there (directory or
//! file, then the first bytes after decompression), never at the name, so a renamed backup is
//! still a backup. Round 2 sources join here (PBS datastores, snapshots and groups,
//! virtnbdbackup directories) as they land.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::open::Content;

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory: backups inside are found by [`crate::survey`].
    Directory,
    /// Standard input (`-`): read as a stream; what it holds shows when it is read.
    Stream,
    /// A VMA archive (QEMU guest), plain or compressed.
    Vma,
    /// A tar archive (LXC container), plain or compressed.
    Tar,
    /// A VCDIFF delta (a vzdump differential, plain or compressed).
    Vcdiff,
    /// An rdiff (librsync) delta.
    Rdiff,
    /// An rdiff signature: not a delta, nothing to restore from.
    RdiffSignature,
    /// An uncompressed file or block device with no archive inside: a raw disk image.
    RawImage,
    /// An empty file.
    Empty,
    /// Compressed data that is none of the above, or data that does not decode.
    Unknown {
        /// Why it is not recognised.
        reason: String,
    },
}

impl Kind {
    /// Lower-case name for messages and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Directory => "directory",
            Kind::Stream => "stream",
            Kind::Vma => "vma",
            Kind::Tar => "tar",
            Kind::Vcdiff => "vcdiff",
            Kind::Rdiff => "rdiff",
            Kind::RdiffSignature => "rdiff signature",
            Kind::RawImage => "raw image",
            Kind::Empty => "empty",
            Kind::Unknown { .. } => "unknown",
        }
    }
}

/// A recognised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The path as given.
    pub path: PathBuf,
    /// What it holds.
    pub kind: Kind,
    /// Its outer compression ([`unpack::Format::Plain`] for directories and streams).
    pub compression: unpack::Format,
}

/// Recognises what `path` is (see the module documentation). Fails only when the path cannot
/// be looked at (missing, unreadable).
pub fn detect(path: &Path) -> crate::Result<Detected> {
    let found = |kind, compression| Detected {
        path: path.to_path_buf(),
        kind,
        compression,
    };
    if path.as_os_str() == "-" {
        return Ok(found(Kind::Stream, unpack::Format::Plain));
    }
    let meta = std::fs::metadata(path).map_err(|source| crate::Error::Io {
        op: "inspect",
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return Ok(found(Kind::Directory, unpack::Format::Plain));
    }
    let mut input = unpack::open(path).map_err(crate::Error::Unpack)?;
    let compression = input.format();
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Ok(found(
                    Kind::Unknown {
                        reason: format!("{compression} data that does not decode ({e})"),
                    },
                    compression,
                ));
            }
        }
    }
    let head = &head[..n];
    let kind = match vcdiff::sniff(head) {
        Some(vcdiff::DeltaKind::Vcdiff) => Kind::Vcdiff,
        Some(vcdiff::DeltaKind::Rdiff) => Kind::Rdiff,
        Some(vcdiff::DeltaKind::RdiffSignature) => Kind::RdiffSignature,
        Some(_) => Kind::Unknown {
            reason: "a delta of a kind this version does not apply".into(),
        },
        None => match Content::sniff(head) {
            Content::Vma => Kind::Vma,
            Content::Tar => Kind::Tar,
            Content::Unknown if n == 0 => Kind::Empty,
            Content::Unknown if compression == unpack::Format::Plain => Kind::RawImage,
            Content::Unknown => Kind::Unknown {
                reason: format!("no VMA or tar archive inside ({compression} data)"),
            },
        },
    };
    Ok(found(kind, compression))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn content_decides_not_the_name() {
        let d = tempfile::tempdir().unwrap();
        let vma = d.path().join("renamed.bin");
        let mut bytes = b"VMA\0".to_vec();
        bytes.resize(512, 0);
        std::fs::write(&vma, &bytes).unwrap();
        assert_eq!(detect(&vma).unwrap().kind, Kind::Vma);
        let raw = d.path().join("backup.vma");
        std::fs::write(&raw, [0xeb, 0x63, 0x90, 0, 0, 0]).unwrap();
        assert_eq!(detect(&raw).unwrap().kind, Kind::RawImage);
        let empty = d.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(detect(&empty).unwrap().kind, Kind::Empty);
        assert_eq!(detect(d.path()).unwrap().kind, Kind::Directory);
        assert_eq!(detect(Path::new("-")).unwrap().kind, Kind::Stream);
        assert!(detect(&d.path().join("missing")).is_err());
    }
}
