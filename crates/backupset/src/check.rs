//! Checking an archive completely, optionally copying it out while it is checked (`merge`).

use std::io::{self, Read, Write};

use crate::error::{Error, Result};
use crate::open::{Archive, Content};
use crate::tar::{self, TarSummary};

/// What a complete check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A complete, consistent VMA archive.
    Vma {
        /// Disks (vmstate excluded).
        disks: usize,
        /// Sum of the disk sizes.
        disk_bytes: u64,
        /// The reader's totals.
        summary: vma::Summary,
    },
    /// A structurally sound tar archive.
    Tar(TarSummary),
}

/// Reads `archive` to its end and proves it complete (every cluster of every VMA disk; every
/// tar header, member and the end marker), writing every byte read to `sink` on the way.
/// Use [`std::io::sink`] to only check.
pub fn check_into(
    archive: &mut Archive,
    sink: &mut dyn Write,
    progress: &mut dyn sink::Progress,
) -> Result<Checked> {
    let name = archive.name().to_owned();
    let content = match archive.content() {
        // The VMA reader reports the read error with its offset, as for any archive.
        Content::Unknown if archive.failed_early() => Content::Vma,
        c => c,
    };
    let mut tee = Tee {
        r: archive,
        w: sink,
        wrote: 0,
    };
    let checked = match content {
        Content::Vma => {
            let reader = vma::Reader::new(&mut tee).map_err(|source| Error::Vma {
                name: name.clone(),
                step: "cannot read the VMA header",
                source,
            })?;
            let disks: Vec<u64> = reader
                .header()
                .devices
                .iter()
                .filter(|d| !d.is_vmstate())
                .map(|d| d.size)
                .collect();
            let summary = reader.verify(progress).map_err(|source| Error::Vma {
                name: name.clone(),
                step: "archive is damaged",
                source,
            })?;
            Checked::Vma {
                disks: disks.len(),
                disk_bytes: disks.iter().sum(),
                summary,
            }
        }
        Content::Tar => Checked::Tar(tar::check(&mut tee).map_err(|source| Error::Tar {
            name: name.clone(),
            source,
        })?),
        Content::Unknown => {
            return Err(Error::UnknownContent {
                name,
                found: tee.r.head().iter().take(8).copied().collect(),
            });
        }
    };
    tee.w.flush().map_err(|source| Error::Read {
        name,
        step: "cannot write the output",
        source,
    })?;
    Ok(checked)
}

struct Tee<'a> {
    r: &'a mut Archive,
    w: &'a mut dyn Write,
    wrote: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n]).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing the output at byte {} failed: {e}", self.wrote),
            )
        })?;
        self.wrote += n as u64;
        Ok(n)
    }
}
