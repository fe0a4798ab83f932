//! MBR (DOS) partition tables, including the chain of extended boot records.

use diskview::ReadAt;
use std::collections::HashSet;

use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::format::*;

/// How many logical partitions are followed before giving up (Linux stops far lower in practice).
pub const MAX_LOGICAL_PARTITIONS: usize = 256;

/// One 16-byte MBR/EBR partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MbrEntry {
    /// Boot indicator: 0x00 or 0x80 in a valid table.
    pub boot: u8,
    /// Partition type id.
    pub ptype: u8,
    /// First sector, relative to the table's base.
    pub start: u32,
    /// Number of sectors.
    pub sectors: u32,
}

impl MbrEntry {
    fn is_empty(&self) -> bool {
        self.ptype == 0 || self.sectors == 0
    }
}

/// The four entries of the table in `sector` (an MBR or EBR), or `None` without `55 AA`.
pub(crate) fn entries(sector: &[u8]) -> Option<[MbrEntry; 4]> {
    if bytes(sector, 510, 2) != Some(&MBR_SIGNATURE) {
        return None;
    }
    let entry = |i: usize| {
        let at = MBR_TABLE_OFFSET + 16 * i;
        Some(MbrEntry {
            boot: *sector.get(at)?,
            ptype: *sector.get(at + 4)?,
            start: le32(sector, at + 8)?,
            sectors: le32(sector, at + 12)?,
        })
    };
    Some([entry(0)?, entry(1)?, entry(2)?, entry(3)?])
}

/// True when `sector` holds a plausible MBR with at least one entry.
pub(crate) fn looks_like_mbr(sector: &[u8]) -> bool {
    entries(sector).is_some_and(|e| {
        e.iter().all(|p| p.boot == 0 || p.boot == 0x80) && e.iter().any(|p| !p.is_empty())
    })
}

/// True when the MBR in `sector` has a GPT protective entry.
pub(crate) fn is_protective(sector: &[u8]) -> bool {
    entries(sector).is_some_and(|e| e.iter().any(|p| p.ptype == MBR_TYPE_GPT_PROTECTIVE))
}

/// A partition found in an MBR table, in sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MbrPartition {
    /// Linux numbering: 1-4 primary, 5+ logical.
    pub number: u32,
    /// Type id.
    pub ptype: u8,
    /// Boot flag set.
    pub bootable: bool,
    /// Absolute first sector.
    pub start: u64,
    /// Number of sectors.
    pub sectors: u64,
    /// Primary, extended container or logical.
    pub role: Role,
}

/// Where an MBR partition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Extended,
    Logical,
}

/// Reads the primary entries of `mbr` and follows every extended chain.
pub(crate) fn parse<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    mbr: &[u8],
    sector_size: u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<MbrPartition>> {
    let table = entries(mbr).ok_or_else(|| Error::BadMagic {
        what: "MBR",
        at: 510,
        expected: show_bytes(&MBR_SIGNATURE),
        found: show_bytes(bytes(mbr, 510, 2).unwrap_or(&[])),
    })?;
    let mut out = Vec::new();
    let mut logical_number = 5u32;
    let mut extended_seen = false;
    for (slot, e) in (1u32..).zip(table.iter()) {
        if e.is_empty() {
            continue;
        }
        let start = u64::from(e.start);
        let extended = MBR_EXTENDED_TYPES.contains(&e.ptype);
        out.push(MbrPartition {
            number: slot,
            ptype: e.ptype,
            bootable: e.boot == 0x80,
            start,
            sectors: u64::from(e.sectors),
            role: if extended {
                Role::Extended
            } else {
                Role::Primary
            },
        });
        if extended {
            if extended_seen {
                warnings.push(format!(
                    "partition {slot} is a second extended partition; its logical partitions \
                     are ignored, as Linux does"
                ));
                continue;
            }
            extended_seen = true;
            walk_extended(
                disk,
                e,
                sector_size,
                &mut logical_number,
                &mut out,
                warnings,
            )?;
        }
    }
    Ok(out)
}

fn walk_extended<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    ext: &MbrEntry,
    ss: u64,
    number: &mut u32,
    out: &mut Vec<MbrPartition>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let ext_start = u64::from(ext.start);
    let ext_end = ext_start + u64::from(ext.sectors);
    let mut ebr = ext_start;
    let mut visited = HashSet::new();
    loop {
        let at = ebr.checked_mul(ss).ok_or(Error::OutOfRange {
            what: "EBR position",
            at: ebr,
            value: ebr,
            limit: u64::MAX / ss,
        })?;
        if !visited.insert(ebr) {
            return Err(Error::ExtendedLoop { at });
        }
        if visited.len() > MAX_LOGICAL_PARTITIONS {
            return Err(Error::LimitExceeded {
                what: "logical partition count",
                at,
                value: visited.len() as u64,
                limit: MAX_LOGICAL_PARTITIONS as u64,
            });
        }
        let sector = disk.read_exact_at("EBR", at, ss.min(512))?;
        let Some(table) = entries(&sector) else {
            if ebr != ext_start || sector.iter().any(|b| *b != 0) {
                warnings.push(format!(
                    "EBR at byte {at} has no 55 AA signature: the logical partitions from here on \
                     are ignored"
                ));
            }
            return Ok(());
        };
        let data = table[0];
        if !data.is_empty() {
            let start = ebr + u64::from(data.start);
            let end = start + u64::from(data.sectors);
            if end > ext_end {
                return Err(Error::OutOfRange {
                    what: "logical partition end (sector)",
                    at: at + MBR_TABLE_OFFSET as u64,
                    value: end,
                    limit: ext_end,
                });
            }
            out.push(MbrPartition {
                number: *number,
                ptype: data.ptype,
                bootable: data.boot == 0x80,
                start,
                sectors: u64::from(data.sectors),
                role: Role::Logical,
            });
            *number += 1;
        }
        let link = table[1];
        if link.is_empty() || !MBR_EXTENDED_TYPES.contains(&link.ptype) {
            return Ok(());
        }
        let next = ext_start + u64::from(link.start);
        if next >= ext_end {
            return Err(Error::OutOfRange {
                what: "next EBR link (sector)",
                at: at + MBR_TABLE_OFFSET as u64 + 16,
                value: next,
                limit: ext_end,
            });
        }
        ebr = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(sector: &mut [u8], slot: usize, ptype: u8, start: u32, sectors: u32) {
        let at = MBR_TABLE_OFFSET + 16 * slot;
        sector[at + 4] = ptype;
        sector[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        sector[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
        sector[510] = 0x55;
        sector[511] = 0xAA;
    }

    /// An image with an extended partition at sector 10 (40 sectors) whose first EBR holds one
    /// logical partition and a link to `link` (relative to the extended start), then its parse.
    fn parse_with_link(link: u32) -> Result<Vec<MbrPartition>> {
        let mut img = vec![0u8; 64 * 512];
        put(&mut img[..512], 0, 0x05, 10, 40);
        let ebr = 10 * 512;
        put(&mut img[ebr..ebr + 512], 0, 0x83, 1, 4);
        put(&mut img[ebr..ebr + 512], 1, 0x05, link, 4);
        let mut disk = Disk::new(&img[..]);
        let mbr = disk.read_exact_at("MBR", 0, 512)?;
        parse(&mut disk, &mbr, 512, &mut Vec::new())
    }

    #[test]
    fn self_linked_ebr_is_a_loop_error() {
        let err = parse_with_link(0).expect_err("loop");
        assert!(
            matches!(err, Error::ExtendedLoop { at } if at == 10 * 512),
            "{err}"
        );
    }

    #[test]
    fn link_outside_the_extended_partition_is_an_error() {
        let err = parse_with_link(1000).expect_err("range");
        assert!(
            matches!(
                err,
                Error::OutOfRange {
                    value: 1010,
                    limit: 50,
                    ..
                }
            ),
            "{err}"
        );
    }
}
