//! Which filesystem a view holds, by its magic numbers.

use diskview::ReadAt;
use serde::Serialize;

use crate::{Error, Result};

/// The filesystems this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// ext2, ext3 or ext4.
    Ext,
    /// FAT12, FAT16 or FAT32.
    Fat,
    /// NTFS.
    Ntfs,
    /// A pxar archive (never recognised on a disk: opened as one, see [`crate::pxar`]).
    Pxar,
}

impl Kind {
    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ext => "ext4",
            Kind::Fat => "fat",
            Kind::Ntfs => "ntfs",
            Kind::Pxar => "pxar",
        }
    }
}

/// Bytes read to recognise a filesystem: up to btrfs's superblock at 64 KiB.
const PROBE_LEN: usize = 0x10040 + 8;

/// Recognises the filesystem in `view` by content, or says what it is instead.
pub fn probe<V: ReadAt + ?Sized>(view: &V) -> Result<Kind> {
    let len = usize::try_from(view.size())
        .unwrap_or(usize::MAX)
        .min(PROBE_LEN);
    let mut b = vec![0u8; len];
    view.read_exact_at(&mut b, 0)
        .map_err(|source| Error::Io { at: 0, len, source })?;
    let at = |off: usize, n: usize| b.get(off..off + n);
    let unsupported = |found: &str, mountable| Error::Unsupported {
        found: found.into(),
        mountable,
    };
    // Containers and signatures at byte 0 first, so that a LUKS header is not taken for what
    // follows it.
    if at(0, 6) == Some(b"LUKS\xba\xbe") {
        return Err(unsupported("a LUKS container", false));
    }
    if at(0, 4) == Some(b"XFSB") {
        return Err(unsupported("xfs", true));
    }
    if at(0x10040, 8) == Some(b"_BHRfS_M") {
        return Err(unsupported("btrfs", true));
    }
    if at(512, 8) == Some(b"LABELONE") && at(536, 8) == Some(b"LVM2 001") {
        return Err(unsupported("an LVM2 physical volume", false));
    }
    if at(3, 8) == Some(b"NTFS    ") {
        return Ok(Kind::Ntfs);
    }
    if at(3, 8) == Some(b"EXFAT   ") {
        return Err(unsupported("exfat", true));
    }
    if at(0x438, 2) == Some(&[0x53, 0xef]) {
        return Ok(Kind::Ext);
    }
    if is_fat(&b) {
        return Ok(Kind::Fat);
    }
    if at(4086, 10) == Some(b"SWAPSPACE2") || at(4086, 10) == Some(b"SWAP-SPACE") {
        return Err(unsupported("swap", false));
    }
    if at(0, 4) == Some(b"hsqs") {
        return Err(unsupported("squashfs", true));
    }
    if at(0x8001, 5) == Some(b"CD001") {
        return Err(unsupported("iso9660", true));
    }
    let head: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    Err(unsupported(
        &format!("unknown data (first bytes {head})"),
        false,
    ))
}

/// A FAT boot sector: a jump, a sane BPB (bytes per sector a power of two from 512 to 4096,
/// sectors per cluster a power of two, reserved sectors, one or more FATs) and the 0x55AA mark.
fn is_fat(b: &[u8]) -> bool {
    let (Some(boot), Some(mark)) = (b.get(..36), b.get(510..512)) else {
        return false;
    };
    let bps = u16::from_le_bytes([boot[11], boot[12]]);
    let spc = boot[13];
    let reserved = u16::from_le_bytes([boot[14], boot[15]]);
    let fats = boot[16];
    matches!(boot[0], 0xeb | 0xe9)
        && mark == [0x55, 0xaa]
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && spc.is_power_of_two()
        && reserved > 0
        && fats > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_content() {
        let mut xfs = vec![0u8; 8192];
        xfs[..4].copy_from_slice(b"XFSB");
        let e = probe(&xfs).expect_err("xfs");
        assert_eq!(
            e.to_string(),
            "xfs: not a filesystem that can be read without mounting"
        );
        assert!(e.hint().expect("hint").contains("pverescue mount"));
        let mut luks = vec![0u8; 8192];
        luks[..6].copy_from_slice(b"LUKS\xba\xbe");
        assert!(probe(&luks).expect_err("luks").to_string().contains("LUKS"));
        // A view shorter than any superblock is unknown data, not a panic.
        assert!(probe(&vec![1u8; 3]).is_err());
    }
}
