//! vzdump file names (spec section 2.2): fulls, differentials, and the rule that links them.

use std::path::{Path, PathBuf};

/// What separates a differential's name from the name of its full.
pub const DIFF_MARKER: &str = "--differential-";

/// Extensions of the outer compressors vzdump (and people recompressing) use.
const COMPRESSIONS: [&str; 5] = ["gz", "lzo", "zst", "bz2", "xz"];

/// What a file in a backup directory is, judged by its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileClass {
    /// `vzdump-<qemu|lxc|openvz>-<vmid>-<time>.<vma|tar|tgz>[.<ext>]`.
    Full,
    /// `<full name>--differential-<time>.vcdiff[.<ext>]`, with the full's name.
    Differential {
        /// File name of the full it was made against.
        full: String,
    },
    /// Anything else (logs, notes, foreign files).
    Other,
}

/// The name of the full a differential was made against: everything before `--differential-`.
///
/// ```
/// assert_eq!(
///     backupset::full_name_of("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst"),
///     Some("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst")
/// );
/// assert_eq!(backupset::full_name_of("vzdump-qemu-100-2020_05_01-01_00_02.vma.zst"), None);
/// ```
pub fn full_name_of(diff_name: &str) -> Option<&str> {
    let at = diff_name.find(DIFF_MARKER)?;
    (at > 0).then(|| &diff_name[..at])
}

/// The path of the full next to a differential, by the naming rule; `None` when the name
/// does not contain `--differential-`.
pub fn full_path_of(diff: &Path) -> Option<PathBuf> {
    let name = diff.file_name()?.to_str()?;
    Some(diff.with_file_name(full_name_of(name)?))
}

/// Classifies a file name.
pub fn classify(name: &str) -> FileClass {
    if let Some(full) = full_name_of(name) {
        let rest = &name[full.len() + DIFF_MARKER.len()..];
        let ext = strip_compression(rest);
        if ext.ends_with(".vcdiff") && is_full(full) {
            return FileClass::Differential {
                full: full.to_owned(),
            };
        }
        return FileClass::Other;
    }
    if is_full(name) {
        FileClass::Full
    } else {
        FileClass::Other
    }
}

/// Removes one trailing compression extension (`.zst`, `.gz`, …), if any.
pub fn strip_compression(name: &str) -> &str {
    for ext in COMPRESSIONS {
        if let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) {
            return stem;
        }
    }
    name
}

/// True for `vzdump-<qemu|lxc|openvz>-<digits>-<...>.<vma|tar|tgz>[.<ext>]`.
fn is_full(name: &str) -> bool {
    let Some(rest) = ["vzdump-qemu-", "vzdump-lxc-", "vzdump-openvz-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
    else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.as_bytes().get(digits) != Some(&b'-') {
        return false;
    }
    let stem = strip_compression(rest);
    if stem.ends_with(".tgz") {
        // A .tgz is already compressed; nothing may follow it.
        return stem.len() == rest.len();
    }
    stem.ends_with(".vma") || stem.ends_with(".tar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let full = "vzdump-qemu-100-2020_05_01-01_00_02.vma.zst";
        assert_eq!(classify(full), FileClass::Full);
        assert_eq!(
            classify("vzdump-lxc-101-2020_05_01-01_00_02.tar"),
            FileClass::Full
        );
        assert_eq!(
            classify("vzdump-lxc-101-2020_05_01-01_00_02.tgz"),
            FileClass::Full
        );
        assert_eq!(
            classify("vzdump-lxc-101-2020_05_01-01_00_02.tgz.gz"),
            FileClass::Other
        );
        assert_eq!(classify("vzdump-openvz-7-x.tar.lzo"), FileClass::Full);
        assert_eq!(
            classify(&format!(
                "{full}--differential-2020_05_03-01_00_05.vcdiff.zst"
            )),
            FileClass::Differential { full: full.into() }
        );
        assert_eq!(
            classify(&format!("{full}--differential-2020_05_03-01_00_05.vcdiff")),
            FileClass::Differential { full: full.into() }
        );
        assert_eq!(
            classify("vzdump-qemu-100-2020_05_01-01_00_02--differential-2020_05_03-01_00_05.log"),
            FileClass::Other
        );
        assert_eq!(
            classify("vzdump-qemu-100-2020_05_01-01_00_02.log"),
            FileClass::Other
        );
        assert_eq!(classify("vzdump-qemu-x-2020.vma"), FileClass::Other);
        assert_eq!(classify("notes.txt"), FileClass::Other);
        assert_eq!(full_name_of("--differential-x.vcdiff"), None);
        assert_eq!(
            full_path_of(Path::new("/d/a.vma--differential-1.vcdiff")),
            Some(PathBuf::from("/d/a.vma"))
        );
    }
}
