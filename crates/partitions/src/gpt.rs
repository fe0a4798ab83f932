//! GUID partition tables: header and entry-array CRCs, backup fallback, 512/4096-byte sectors.

use diskview::ReadAt;

use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::format::*;

/// Most partition entries accepted in one GPT (the usual array holds 128).
pub const MAX_GPT_ENTRIES: u32 = 16384;
/// Largest partition entry size accepted (the usual size is 128).
pub const MAX_GPT_ENTRY_SIZE: u32 = 4096;

/// A validated GPT header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GptHeader {
    /// Absolute byte offset of this header.
    pub at: u64,
    /// LBA of the other header copy.
    pub alternate_lba: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// First LBA of the entry array.
    pub entries_lba: u64,
    /// Number of entries in the array.
    pub num_entries: u32,
    /// Size of one entry.
    pub entry_size: u32,
    /// CRC-32 of the entry array.
    pub entries_crc: u32,
}

/// One used GPT entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GptEntry {
    /// 1-based index in the entry array.
    pub number: u32,
    /// Partition type GUID, text form.
    pub type_guid: String,
    /// Unique partition GUID, text form.
    pub guid: String,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// UTF-16LE name.
    pub name: String,
}

/// A complete table read from one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gpt {
    /// The header used.
    pub header: GptHeader,
    /// Used entries.
    pub entries: Vec<GptEntry>,
}

/// Reads and checks the header at `lba` (which must say it lives at `lba`).
pub(crate) fn read_header<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    lba: u64,
    ss: u64,
) -> Result<GptHeader> {
    let at = lba.checked_mul(ss).ok_or(Error::OutOfRange {
        what: "GPT header LBA",
        at: 0,
        value: lba,
        limit: u64::MAX / ss,
    })?;
    let sector = disk.read_exact_at("GPT header", at, ss)?;
    if bytes(&sector, 0, 8) != Some(GPT_SIGNATURE) {
        return Err(Error::BadMagic {
            what: "GPT header",
            at,
            expected: show_bytes(GPT_SIGNATURE),
            found: show_bytes(bytes(&sector, 0, 8).unwrap_or(&[])),
        });
    }
    let field = |off| le32(&sector, off).unwrap_or(0);
    let field64 = |off| le64(&sector, off).unwrap_or(0);
    let header_size = field(12);
    if header_size < GPT_MIN_HEADER_SIZE || u64::from(header_size) > ss {
        return Err(Error::Invalid {
            what: "GPT header size",
            at,
            reason: format!("{header_size} is not between {GPT_MIN_HEADER_SIZE} and {ss}"),
        });
    }
    let stored = field(16);
    let mut copy = sector.get(..header_size as usize).unwrap_or(&[]).to_vec();
    if let Some(c) = copy.get_mut(16..20) {
        c.fill(0);
    }
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            what: "GPT header",
            at,
            expected: stored,
            found: computed,
        });
    }
    let my_lba = field64(24);
    if my_lba != lba {
        return Err(Error::Invalid {
            what: "GPT header",
            at,
            reason: format!("it says it lives at LBA {my_lba}, but was read at LBA {lba}"),
        });
    }
    let num_entries = field(80);
    let entry_size = field(84);
    if num_entries > MAX_GPT_ENTRIES {
        return Err(Error::LimitExceeded {
            what: "GPT entry count",
            at,
            value: num_entries.into(),
            limit: MAX_GPT_ENTRIES.into(),
        });
    }
    if !(GPT_MIN_ENTRY_SIZE..=MAX_GPT_ENTRY_SIZE).contains(&entry_size) || entry_size % 8 != 0 {
        return Err(Error::Invalid {
            what: "GPT entry size",
            at,
            reason: format!(
                "{entry_size} is not a multiple of 8 between {GPT_MIN_ENTRY_SIZE} and {MAX_GPT_ENTRY_SIZE}"
            ),
        });
    }
    Ok(GptHeader {
        at,
        alternate_lba: field64(32),
        disk_guid: bytes(&sector, 56, 16)
            .and_then(guid_mixed)
            .unwrap_or_default(),
        entries_lba: field64(72),
        num_entries,
        entry_size,
        entries_crc: field(88),
    })
}

/// Reads and checks the entry array that `header` describes.
pub(crate) fn read_entries<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    header: &GptHeader,
    ss: u64,
) -> Result<Vec<GptEntry>> {
    let at = header
        .entries_lba
        .checked_mul(ss)
        .ok_or(Error::OutOfRange {
            what: "GPT entry array LBA",
            at: header.at,
            value: header.entries_lba,
            limit: u64::MAX / ss,
        })?;
    // Both factors were capped in read_header, so the product fits easily.
    let len = u64::from(header.num_entries) * u64::from(header.entry_size);
    let array = disk.read_exact_at("GPT entry array", at, len)?;
    let computed = crc32fast::hash(&array);
    if computed != header.entries_crc {
        return Err(Error::ChecksumMismatch {
            what: "GPT entry array",
            at,
            expected: header.entries_crc,
            found: computed,
        });
    }
    let mut out = Vec::new();
    for (number, raw) in (1u32..).zip(array.chunks_exact(header.entry_size as usize)) {
        if raw.get(..16).is_none_or(|t| t.iter().all(|b| *b == 0)) {
            continue;
        }
        let entry_at = at + u64::from(number - 1) * u64::from(header.entry_size);
        let first_lba = le64(raw, 32).unwrap_or(0);
        let last_lba = le64(raw, 40).unwrap_or(0);
        if last_lba < first_lba {
            return Err(Error::Invalid {
                what: "GPT entry",
                at: entry_at,
                reason: format!(
                    "partition {number} ends (LBA {last_lba}) before it starts (LBA {first_lba})"
                ),
            });
        }
        let units: Vec<u16> = raw
            .get(56..128)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        out.push(GptEntry {
            number,
            type_guid: guid_mixed(raw).unwrap_or_default(),
            guid: bytes(raw, 16, 16).and_then(guid_mixed).unwrap_or_default(),
            first_lba,
            last_lba,
            attributes: le64(raw, 48).unwrap_or(0),
            name: String::from_utf16_lossy(&units),
        });
    }
    Ok(out)
}

/// Reads one complete copy (header at `lba`, then its entries).
pub(crate) fn read_copy<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    lba: u64,
    ss: u64,
) -> Result<Gpt> {
    let header = read_header(disk, lba, ss)?;
    let entries = read_entries(disk, &header, ss)?;
    Ok(Gpt { header, entries })
}

/// Finds a GPT: the primary copy at LBA 1, else the backup at the last LBA (with a warning).
///
/// Returns `Ok(None)` when there is no sign of a GPT at all (no `EFI PART` at LBA 1 for either
/// sector size and no protective MBR entry).
pub(crate) fn probe<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    sector_sizes: &[u64],
    protective: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<(Gpt, u64)>> {
    let mut with_magic = Vec::new();
    for &ss in sector_sizes {
        let head = disk.read_up_to(ss, 8)?;
        if head == GPT_SIGNATURE {
            with_magic.push(ss);
        }
    }
    let mut primary_err = None;
    let mut alternates = Vec::new();
    for &ss in &with_magic {
        match read_copy(disk, 1, ss) {
            Ok(gpt) => {
                check_backup(disk, &gpt, ss, warnings);
                return Ok(Some((gpt, ss)));
            }
            Err(e) => {
                if let Ok(h) = read_header(disk, 1, ss) {
                    alternates.push((h.alternate_lba, ss));
                }
                primary_err.get_or_insert(e);
            }
        }
    }
    if with_magic.is_empty() && !protective {
        return Ok(None);
    }
    let primary_err = primary_err.unwrap_or_else(|| Error::BadMagic {
        what: "GPT header",
        at: sector_sizes.first().copied().unwrap_or(512),
        expected: show_bytes(GPT_SIGNATURE),
        found: "no GPT header at LBA 1 for any sector size".into(),
    });
    // Candidates for the backup: the disk's last LBA for each sector size (the ones with a primary
    // magic first), then wherever a readable primary header says its twin is.
    let mut order: Vec<u64> = with_magic.clone();
    order.extend(sector_sizes.iter().filter(|s| !with_magic.contains(s)));
    let mut candidates: Vec<(u64, u64)> = order
        .iter()
        .filter_map(|&ss| (disk.size() / ss).checked_sub(1).map(|lba| (lba, ss)))
        .collect();
    candidates.extend(alternates);
    let mut backup_err = None;
    for (lba, ss) in candidates {
        if lba < 2 {
            continue;
        }
        match read_copy(disk, lba, ss) {
            Ok(gpt) => {
                warnings.push(format!(
                    "primary GPT is damaged ({primary_err}); using the backup GPT at byte {}",
                    gpt.header.at
                ));
                return Ok(Some((gpt, ss)));
            }
            Err(e) => {
                backup_err.get_or_insert(e);
            }
        }
    }
    let backup_err = backup_err.unwrap_or(Error::Truncated {
        what: "backup GPT header",
        at: 0,
        needed: 3 * 512,
        available: disk.size(),
    });
    Err(Error::GptUnusable {
        primary: Box::new(primary_err),
        backup: Box::new(backup_err),
    })
}

/// Adds a warning when the backup copy that a good primary points to is missing or differs.
fn check_backup<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    primary: &Gpt,
    ss: u64,
    warnings: &mut Vec<String>,
) {
    let lba = primary.header.alternate_lba;
    match read_copy(disk, lba, ss) {
        Ok(backup) if backup.entries == primary.entries => {}
        Ok(_) => warnings.push(format!(
            "backup GPT at LBA {lba} lists other partitions than the primary; the primary is used"
        )),
        Err(e) => warnings.push(format!("backup GPT at LBA {lba} is unusable: {e}")),
    }
}
