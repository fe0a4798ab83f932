//! Human rendering of `pverescue partitions`: stable columns, one item per line.

use std::fmt::Write as _;
use std::path::Path;

use partitions::{FsInfo, FsKind, Scan};

use super::Target;

/// `fstype label=… uuid=…` for the FILESYSTEM column.
pub fn describe_fs(fs: &FsInfo) -> String {
    let mut s = fs.kind.name().to_string();
    let detail_worth_showing = matches!(
        fs.kind,
        FsKind::Luks | FsKind::Vfat | FsKind::Btrfs | FsKind::Squashfs
    );
    let fields = [
        ("label", fs.label.as_ref()),
        ("uuid", fs.uuid.as_ref()),
        (
            "detail",
            fs.detail.as_ref().filter(|_| detail_worth_showing),
        ),
        ("first_bytes", fs.first_bytes.as_ref()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            let _ = write!(s, " {k}={}", loopmount::shell_quote(v));
        }
    }
    s
}

/// Renders rows as columns separated by two spaces; the last column is not padded. Cells come
/// from the image (partition names, labels, volume names): control characters are escaped
/// (`output::text`), so a cell stays on its line and cannot drive the terminal.
pub fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| crate::output::text(c)).collect())
        .collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = width[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The human form: a header line, one line per partition and LV, then the mount commands.
pub(super) fn human(scan: &Scan, image: &Path, targets: &[Target]) -> String {
    let mut out = format!(
        "{}: {}, {} bytes, {}-byte sectors{}\n",
        crate::output::text(&image.display().to_string()),
        match scan.table {
            partitions::TableKind::Gpt => "GPT",
            partitions::TableKind::Mbr => "MBR",
            _ => "no partition table",
        },
        scan.disk_size,
        scan.sector_size,
        scan.disk_id
            .as_ref()
            .map(|id| format!(", disk id {id}"))
            .unwrap_or_default()
    );
    if let Some(fs) = &scan.whole_disk_fs {
        let _ = writeln!(out, "whole disk: {}", crate::output::text(&describe_fs(fs)));
    }
    if !scan.partitions.is_empty() {
        let mut rows = vec![
            "NR KIND START END SIZE START_SECTOR END_SECTOR SECTORS TYPE NAME FILESYSTEM"
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>(),
        ];
        for p in &scan.partitions {
            let fs = match (&p.fs, &p.lvm) {
                (_, Some(pv)) => format!(
                    "lvm2_pv uuid={}{}",
                    pv.uuid,
                    pv.vg_name
                        .as_ref()
                        .map(|v| format!(" vg={v}"))
                        .unwrap_or_default()
                ),
                (Some(fs), None) => describe_fs(fs),
                (None, None) => "-".into(),
            };
            let kind = serde_json::to_value(p.kind).ok();
            rows.push(vec![
                p.number.to_string(),
                kind.as_ref().and_then(|k| k.as_str()).unwrap_or("?").into(),
                p.start.to_string(),
                p.start.saturating_add(p.size.saturating_sub(1)).to_string(),
                p.size.to_string(),
                p.start_sector.to_string(),
                p.end_sector.to_string(),
                (p.size / scan.sector_size.max(1)).to_string(),
                p.type_name.clone(),
                p.name.clone().unwrap_or_else(|| "-".into()),
                fs,
            ]);
        }
        out.push_str(&table(&rows));
    }
    let lvs: Vec<_> = scan
        .volume_groups
        .iter()
        .flat_map(|g| &g.logical_volumes)
        .filter(|l| l.visible)
        .collect();
    if !lvs.is_empty() {
        let mut rows = vec![
            vec!["LV", "START", "END", "SIZE", "FILESYSTEM"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
        ];
        for lv in lvs {
            let (start, end) = lv.byte_range().map_or(("-".into(), "-".into()), |r| {
                (
                    r.offset.to_string(),
                    r.offset
                        .saturating_add(r.size.saturating_sub(1))
                        .to_string(),
                )
            });
            let fs = match (&lv.needs_device_mapper, &lv.fs) {
                (Some(why), _) => format!("needs device-mapper: {why}"),
                (None, Some(fs)) => describe_fs(fs),
                (None, None) => "-".into(),
            };
            rows.push(vec![
                format!("{}/{}", lv.vg, lv.name),
                start,
                end,
                lv.size.to_string(),
                fs,
            ]);
        }
        out.push_str(&table(&rows));
    }
    if targets.is_empty() {
        out.push_str("nothing here can be mounted by the kernel\n");
    } else {
        let mut rows = vec![vec!["MOUNT".to_string(), "COMMAND".to_string()]];
        for t in targets {
            rows.push(vec![t.target.id.clone(), t.pverescue_command.clone()]);
            rows.push(vec![t.target.id.clone(), t.mount_command.clone()]);
        }
        out.push_str(&table(&rows));
    }
    out
}
