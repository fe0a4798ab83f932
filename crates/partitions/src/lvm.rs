//! LVM2 physical volumes: the label, the metadata area's current text, and the volume groups and
//! logical volumes it describes, with each linear LV's byte extents in the image.

use diskview::ReadAt;

use serde::Serialize;

use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::format::*;
use crate::fs::{self, FsInfo, lvm_uuid};
use crate::lvm_text::{self, Value};

/// Largest metadata text read from one metadata area.
pub const MAX_LVM_METADATA: u64 = 8 * 1024 * 1024;
/// Most data/metadata area descriptors read from one PV header.
const MAX_AREAS: usize = 8;

/// The LVM2 label of a physical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PvInfo {
    /// PV UUID as LVM prints it.
    pub uuid: String,
    /// Absolute byte offset of the `LABELONE` sector.
    pub label_at: u64,
    /// Device size recorded in the label, in bytes.
    pub device_size: u64,
    /// Name of the volume group, when the PV's metadata names one.
    pub vg_name: Option<String>,
    /// Sequence number of the metadata found on this PV.
    pub metadata_seqno: Option<u64>,
}

/// A range of bytes in the scanned image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteExtent {
    /// Absolute byte offset in the image.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// A volume group, from the newest metadata found on its PVs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeGroup {
    /// VG name.
    pub name: String,
    /// VG UUID.
    pub uuid: String,
    /// Metadata sequence number used.
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// The PVs the metadata lists, with where they are in this image.
    pub physical_volumes: Vec<VgPv>,
    /// The LVs.
    pub logical_volumes: Vec<LogicalVolume>,
}

/// A physical volume as listed in VG metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VgPv {
    /// Key in the metadata (`pv0`, `pv1`...).
    pub name: String,
    /// PV UUID.
    pub uuid: String,
    /// Absolute byte offset of the PV's start in this image, `None` when it is not in the image.
    pub offset: Option<u64>,
    /// Offset of the first physical extent from the PV start, in bytes.
    pub pe_start: u64,
    /// Number of physical extents.
    pub pe_count: u64,
}

/// A logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogicalVolume {
    /// VG name.
    pub vg: String,
    /// LV name.
    pub name: String,
    /// LV UUID.
    pub uuid: String,
    /// Size in bytes.
    pub size: u64,
    /// False for LVM's internal LVs (thin pool data, mirror legs...).
    pub visible: bool,
    /// Segments as the metadata lists them.
    pub segments: Vec<LvSegment>,
    /// The LV's bytes in the image, in LV order, adjacent pieces merged (linear LVs only).
    pub extents: Vec<ByteExtent>,
    /// Why this LV cannot be mounted by offset; `None` when [`LogicalVolume::byte_range`] works.
    pub needs_device_mapper: Option<String>,
    /// What the LV holds, when it can be read by offset.
    pub fs: Option<FsInfo>,
}

impl LogicalVolume {
    /// The single byte range of a linear LV that can be mounted by offset.
    pub fn byte_range(&self) -> Option<ByteExtent> {
        match (&self.needs_device_mapper, self.extents.as_slice()) {
            (None, [one]) => Some(*one),
            _ => None,
        }
    }
}

/// One LV segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvSegment {
    /// First logical extent.
    pub start_extent: u64,
    /// Number of extents.
    pub extent_count: u64,
    /// Segment type (`striped`, `thin`, `raid1`...); linear is `striped` with one stripe.
    pub seg_type: String,
    /// Where the stripes live: PV key and first physical extent.
    pub stripes: Vec<(String, u64)>,
}

/// A PV found in the image, with its metadata candidates.
pub(crate) struct FoundPv {
    /// Byte offset of the PV (its container) in the image.
    pub start: u64,
    /// Container size.
    pub size: u64,
    /// The label.
    pub info: PvInfo,
    /// `(seqno, VG section, VG name, byte offset of the text)` per readable metadata area.
    metadata: Vec<(u64, Value, String, u64)>,
}

/// Reads the PV label and metadata of the container at `start` (`size` bytes).
pub(crate) fn read_pv<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    start: u64,
    size: u64,
    warnings: &mut Vec<String>,
) -> Result<FoundPv> {
    let head = disk.read_up_to(start, 4 * 512)?;
    let (sector, label_at) = (0..4u64)
        .find_map(|i| {
            let off = (i * 512) as usize;
            let s = bytes(&head, off, 512)?;
            (bytes(s, 0, 8) == Some(LVM_LABEL_ID)).then_some((s, start + i * 512))
        })
        .ok_or_else(|| Error::BadMagic {
            what: "LVM2 label",
            at: start,
            expected: show_bytes(LVM_LABEL_ID),
            found: "no label in the first four sectors".into(),
        })?;
    let stored = le32(sector, 16).unwrap_or(0);
    let computed = lvm_crc(LVM_INITIAL_CRC, sector.get(20..).unwrap_or(&[]));
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            what: "LVM2 label",
            at: label_at,
            expected: stored,
            found: computed,
        });
    }
    let hdr = le32(sector, 20).unwrap_or(0) as usize;
    let pv = sector
        .get(hdr..)
        .filter(|p| p.len() >= 72)
        .ok_or(Error::OutOfRange {
            what: "LVM2 PV header offset",
            at: label_at,
            value: hdr as u64,
            limit: 512 - 72,
        })?;
    let uuid = lvm_uuid(pv.get(..32).unwrap_or(&[]));
    let device_size = le64(pv, 32).unwrap_or(0);
    // Two zero-terminated lists of (offset, size): data areas, then metadata areas.
    let mut lists: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    let mut pos = 40;
    for list in &mut lists {
        while let (Some(off), Some(len)) = (le64(pv, pos), le64(pv, pos + 8)) {
            pos += 16;
            if off == 0 {
                break;
            }
            if list.len() < MAX_AREAS {
                list.push((off, len));
            }
        }
    }
    let mut found = FoundPv {
        start,
        size,
        info: PvInfo {
            uuid,
            label_at,
            device_size,
            vg_name: None,
            metadata_seqno: None,
        },
        metadata: Vec::new(),
    };
    for (off, len) in lists[1].clone() {
        match read_mda(disk, start, off, len, warnings) {
            Ok(Some(m)) => found.metadata.push(m),
            Ok(None) => {}
            Err(e) => warnings.push(format!("LVM2 metadata area of PV {}: {e}", found.info.uuid)),
        }
    }
    if let Some((seq, _, name, _)) = found.metadata.iter().max_by_key(|m| m.0) {
        found.info.metadata_seqno = Some(*seq);
        found.info.vg_name = Some(name.clone());
    }
    Ok(found)
}

/// Reads the current metadata text of one metadata area; `None` for an area without a VG.
fn read_mda<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    pv_start: u64,
    off: u64,
    len: u64,
    warnings: &mut Vec<String>,
) -> Result<Option<(u64, Value, String, u64)>> {
    let at = pv_start.checked_add(off).ok_or(Error::OutOfRange {
        what: "LVM2 metadata area offset",
        at: pv_start,
        value: off,
        limit: u64::MAX - pv_start,
    })?;
    let h = disk.read_exact_at("LVM2 metadata area header", at, LVM_MDA_HEADER_SIZE)?;
    if bytes(&h, 4, 16) != Some(LVM_FMTT_MAGIC) {
        return Err(Error::BadMagic {
            what: "LVM2 metadata area header",
            at: at + 4,
            expected: show_bytes(LVM_FMTT_MAGIC),
            found: show_bytes(bytes(&h, 4, 16).unwrap_or(&[])),
        });
    }
    let stored = le32(&h, 0).unwrap_or(0);
    let computed = lvm_crc(LVM_INITIAL_CRC, h.get(4..).unwrap_or(&[]));
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            what: "LVM2 metadata area header",
            at,
            expected: stored,
            found: computed,
        });
    }
    let mda_size = le64(&h, 32).unwrap_or(0).min(len.max(LVM_MDA_HEADER_SIZE));
    // The first raw location is the current metadata; an all-zero one means "no VG yet".
    let (rl_off, rl_size) = (le64(&h, 40).unwrap_or(0), le64(&h, 48).unwrap_or(0));
    let (rl_crc, rl_flags) = (le32(&h, 56).unwrap_or(0), le32(&h, 60).unwrap_or(0));
    if rl_off == 0 || rl_size == 0 || rl_flags & 1 != 0 {
        return Ok(None);
    }
    let ring = mda_size.saturating_sub(LVM_MDA_HEADER_SIZE);
    if rl_off < LVM_MDA_HEADER_SIZE || rl_off >= mda_size || rl_size > ring {
        return Err(Error::OutOfRange {
            what: "LVM2 metadata text location",
            at: at + 40,
            value: rl_off,
            limit: mda_size,
        });
    }
    if rl_size > MAX_LVM_METADATA {
        return Err(Error::LimitExceeded {
            what: "LVM2 metadata text size",
            at: at + 48,
            value: rl_size,
            limit: MAX_LVM_METADATA,
        });
    }
    let text_at = at.checked_add(rl_off).ok_or(Error::OutOfRange {
        what: "LVM2 metadata text location",
        at: at + 40,
        value: rl_off,
        limit: u64::MAX - at,
    })?;
    // The text may wrap around the end of the circular buffer back to just after the header.
    let first = rl_size.min(mda_size - rl_off);
    let mut text = disk.read_exact_at("LVM2 metadata text", text_at, first)?;
    if first < rl_size {
        let rest = disk.read_exact_at(
            "LVM2 metadata text",
            at + LVM_MDA_HEADER_SIZE,
            rl_size - first,
        )?;
        text.extend_from_slice(&rest);
    }
    let text_crc = lvm_crc(LVM_INITIAL_CRC, &text);
    if text_crc != rl_crc {
        warnings.push(format!(
            "LVM2 metadata text at byte {text_at} has a bad checksum (stored {rl_crc:#010x}, \
             computed {text_crc:#010x}); it is used anyway"
        ));
    }
    let end = text.iter().position(|c| *c == 0).unwrap_or(text.len());
    let top = lvm_text::parse(&text[..end], text_at)?;
    let (name, vg) = top
        .sections()
        .find(|(_, v)| v.get("seqno").is_some())
        .ok_or_else(|| Error::Invalid {
            what: "LVM2 metadata text",
            at: text_at,
            reason: "no volume group section with a seqno".into(),
        })?;
    let seqno = vg.uint("seqno").unwrap_or(0);
    Ok(Some((seqno, vg.clone(), name.to_string(), text_at)))
}

fn plain(uuid: &str) -> String {
    uuid.chars().filter(|c| *c != '-').collect()
}

/// Builds the volume groups from the PVs found, using the newest metadata of each VG.
pub(crate) fn assemble<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    pvs: &[FoundPv],
    warnings: &mut Vec<String>,
) -> Vec<VolumeGroup> {
    let mut newest: Vec<(String, u64, &Value, &str, u64)> = Vec::new();
    for pv in pvs {
        for (seq, vg, name, at) in &pv.metadata {
            let id = vg.str("id").unwrap_or_default().to_string();
            match newest.iter_mut().find(|n| n.0 == id) {
                Some(n) if n.1 >= *seq => {}
                Some(n) => *n = (id, *seq, vg, name, *at),
                None => newest.push((id, *seq, vg, name, *at)),
            }
        }
    }
    for pv in pvs {
        for (seq, vg, name, _) in &pv.metadata {
            let id = vg.str("id").unwrap_or_default();
            if let Some(n) = newest.iter().find(|n| n.0 == id).filter(|n| n.1 > *seq) {
                warnings.push(format!(
                    "PV {} holds older metadata of VG {name} (seqno {seq}, newest {})",
                    pv.info.uuid, n.1
                ));
            }
        }
    }
    newest
        .into_iter()
        .filter_map(|(id, seqno, vg, name, at)| {
            match build_vg(disk, pvs, &id, seqno, vg, name, warnings) {
                Ok(v) => Some(v),
                Err(reason) => {
                    warnings.push(format!("LVM2 VG {name} (metadata at byte {at}): {reason}"));
                    None
                }
            }
        })
        .collect()
}

fn build_vg<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    found: &[FoundPv],
    id: &str,
    seqno: u64,
    vg: &Value,
    name: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<VolumeGroup, String> {
    let extent_size = vg
        .uint("extent_size")
        .and_then(|s| s.checked_mul(LVM_SECTOR))
        .filter(|s| *s > 0)
        .ok_or("missing or zero extent_size")?;
    let mut pvs = Vec::new();
    if let Some(list) = vg.get("physical_volumes") {
        for (key, pv) in list.sections() {
            let uuid = pv.str("id").unwrap_or_default().to_string();
            let here = found.iter().find(|f| plain(&f.info.uuid) == plain(&uuid));
            if here.is_none() {
                warnings.push(format!(
                    "VG {name}: PV {key} ({uuid}) is not in this image; LVs on it cannot be read"
                ));
            }
            pvs.push(VgPv {
                name: key.to_string(),
                uuid,
                offset: here.map(|f| f.start),
                pe_start: pv.uint("pe_start").unwrap_or(0).saturating_mul(LVM_SECTOR),
                pe_count: pv.uint("pe_count").unwrap_or(0),
            });
        }
    }
    let mut lvs = Vec::new();
    if let Some(list) = vg.get("logical_volumes") {
        for (lv_name, lv) in list.sections() {
            lvs.push(build_lv(disk, found, name, &pvs, extent_size, lv_name, lv));
        }
    }
    Ok(VolumeGroup {
        name: name.to_string(),
        uuid: id.to_string(),
        seqno,
        extent_size,
        physical_volumes: pvs,
        logical_volumes: lvs,
    })
}

fn build_lv<R: ReadAt + ?Sized>(
    disk: &mut Disk<'_, R>,
    found: &[FoundPv],
    vg: &str,
    pvs: &[VgPv],
    extent_size: u64,
    name: &str,
    lv: &Value,
) -> LogicalVolume {
    let mut segments: Vec<LvSegment> = lv
        .sections()
        .map(|(_, s)| {
            let raw = match s.get("stripes") {
                Some(Value::List(items)) => items.as_slice(),
                _ => &[],
            };
            let stripes = raw
                .chunks(2)
                .filter_map(|pair| match pair {
                    [Value::Str(pv), Value::Int(pe)] => {
                        Some((pv.clone(), u64::try_from(*pe).ok()?))
                    }
                    _ => None,
                })
                .collect();
            LvSegment {
                start_extent: s.uint("start_extent").unwrap_or(0),
                extent_count: s.uint("extent_count").unwrap_or(0),
                seg_type: s.str("type").unwrap_or("unknown").to_string(),
                stripes,
            }
        })
        .collect();
    segments.sort_by_key(|s| s.start_extent);
    let extents_total = segments
        .iter()
        .fold(0u64, |a, s| a.saturating_add(s.extent_count));
    let (extents, reason) = map_extents(&segments, pvs, found, extent_size);
    let mut out = LogicalVolume {
        vg: vg.to_string(),
        name: name.to_string(),
        uuid: lv.str("id").unwrap_or_default().to_string(),
        size: extents_total.saturating_mul(extent_size),
        visible: lv.strings("status").iter().any(|s| s == "VISIBLE"),
        segments,
        extents,
        needs_device_mapper: reason,
        fs: None,
    };
    if let Some(r) = out.byte_range() {
        out.fs = disk
            .read_up_to(r.offset, SNIFF_LEN.min(r.size))
            .ok()
            .map(|b| fs::sniff(&b));
    }
    out
}

/// Maps linear segments to image bytes; the reason is set when the LV needs device-mapper.
fn map_extents(
    segments: &[LvSegment],
    pvs: &[VgPv],
    found: &[FoundPv],
    extent_size: u64,
) -> (Vec<ByteExtent>, Option<String>) {
    let mut extents: Vec<ByteExtent> = Vec::new();
    let mut on_pvs: Vec<&str> = Vec::new();
    if segments.is_empty() {
        return (extents, Some("the LV has no segments".into()));
    }
    for s in segments {
        if s.seg_type != "striped" {
            return (
                Vec::new(),
                Some(format!(
                    "segment type \"{}\" needs device mapper",
                    s.seg_type
                )),
            );
        }
        let [(pv_key, pe)] = s.stripes.as_slice() else {
            return (
                Vec::new(),
                Some(format!(
                    "striped over {} PVs: needs device mapper",
                    s.stripes.len()
                )),
            );
        };
        let Some(pv) = pvs.iter().find(|p| &p.name == pv_key) else {
            return (Vec::new(), Some(format!("segment on unknown PV {pv_key}")));
        };
        let Some(pv_offset) = pv.offset else {
            return (
                Vec::new(),
                Some(format!(
                    "extents on PV {pv_key} ({}), which is not in this image",
                    pv.uuid
                )),
            );
        };
        let container = found
            .iter()
            .find(|f| f.start == pv_offset)
            .map_or(u64::MAX, |f| f.size);
        let start = pe
            .checked_mul(extent_size)
            .and_then(|b| b.checked_add(pv.pe_start));
        let len = s.extent_count.checked_mul(extent_size);
        let (Some(start), Some(len)) = (start, len) else {
            return (Vec::new(), Some("extent arithmetic overflows".into()));
        };
        if start.checked_add(len).is_none_or(|end| end > container) {
            return (
                Vec::new(),
                Some(format!(
                    "segment on PV {pv_key} ends beyond the PV: the image may be truncated"
                )),
            );
        }
        let Some(offset) = pv_offset.checked_add(start) else {
            return (Vec::new(), Some("extent arithmetic overflows".into()));
        };
        if !on_pvs.contains(&pv_key.as_str()) {
            on_pvs.push(pv_key);
        }
        match extents.last_mut() {
            Some(last) if last.offset.checked_add(last.size) == Some(offset) => {
                last.size = last.size.saturating_add(len);
            }
            _ => extents.push(ByteExtent { offset, size: len }),
        }
    }
    let reason = if on_pvs.len() > 1 {
        Some(format!(
            "linear LV spread over {} PVs: needs device mapper",
            on_pvs.len()
        ))
    } else if extents.len() > 1 {
        Some(format!(
            "linear LV in {} non-contiguous pieces: needs device mapper",
            extents.len()
        ))
    } else {
        None
    };
    (extents, reason)
}
