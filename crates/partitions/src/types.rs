//! Human names of MBR partition type ids and GPT partition type GUIDs.

/// The name of an MBR partition type id, as partitioning tools commonly print it.
pub fn mbr_type_name(id: u8) -> &'static str {
    match id {
        0x00 => "Empty",
        0x01 => "FAT12",
        0x04 => "FAT16 <32M",
        0x05 => "Extended",
        0x06 => "FAT16",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b => "W95 FAT32",
        0x0c => "W95 FAT32 (LBA)",
        0x0e => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x11 => "Hidden FAT12",
        0x12 => "Compaq diagnostics",
        0x14 => "Hidden FAT16 <32M",
        0x16 => "Hidden FAT16",
        0x17 => "Hidden HPFS/NTFS",
        0x1b => "Hidden W95 FAT32",
        0x1c => "Hidden W95 FAT32 (LBA)",
        0x1e => "Hidden W95 FAT16 (LBA)",
        0x27 => "Hidden NTFS WinRE",
        0x42 => "SFS / Windows dynamic",
        0x82 => "Linux swap / Solaris",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xa6 => "OpenBSD",
        0xa8 => "Darwin UFS",
        0xa9 => "NetBSD",
        0xaf => "HFS / HFS+",
        0xbe => "Solaris boot",
        0xbf => "Solaris",
        0xda => "Non-FS data",
        0xde => "Dell Utility",
        0xee => "GPT protective",
        0xef => "EFI (FAT-12/16/32)",
        0xfb => "VMware VMFS",
        0xfc => "VMware VMKCORE",
        0xfd => "Linux raid autodetect",
        _ => "Unknown",
    }
}

/// Known GPT partition type GUIDs (upper-case, text form) and their names.
const GPT_TYPES: &[(&str, &str)] = &[
    ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI System"),
    (
        "024DEE41-33E7-11D3-9D69-0008C781F39F",
        "MBR partition scheme",
    ),
    ("21686148-6449-6E6F-744E-656564454649", "BIOS boot"),
    (
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        "Microsoft basic data",
    ),
    ("E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"),
    (
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC",
        "Windows recovery environment",
    ),
    (
        "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3",
        "Windows LDM metadata",
    ),
    ("AF9B60A0-1431-4F62-BC68-3311714A69AD", "Windows LDM data"),
    (
        "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D",
        "Windows storage spaces",
    ),
    ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"),
    ("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"),
    ("E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"),
    ("A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"),
    ("CA7D7CCB-63ED-4C53-861C-1742536059CC", "Linux LUKS"),
    ("7FFEC5C9-2D00-49B7-8941-3EA10A5586B7", "Linux dm-crypt"),
    ("8DA63339-0007-60C0-C436-083AC8230908", "Linux reserved"),
    (
        "BC13C2FF-59E6-4262-A352-B275FD6F7172",
        "Linux extended boot",
    ),
    ("933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux home"),
    ("3B8F8425-20E0-4F3B-907F-1A25A76F98E8", "Linux server data"),
    (
        "4D21B016-B534-45C2-A9FB-5C16E091FD2D",
        "Linux variable data",
    ),
    (
        "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1",
        "Linux temporary data",
    ),
    ("44479540-F297-41B2-9AF7-D131D5F0458A", "Linux root (x86)"),
    (
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "Linux root (x86-64)",
    ),
    (
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
        "Linux root (ARM-64)",
    ),
    (
        "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
        "Linux root (ARM-32)",
    ),
    (
        "8484680C-9521-48C6-9C11-B0720656F69E",
        "Linux /usr (x86-64)",
    ),
    (
        "B0E01050-EE5F-4390-949A-9101B17104E9",
        "Linux /usr (ARM-64)",
    ),
    (
        "6A898CC3-1DD2-11B2-99A6-080020736631",
        "Solaris /usr & Apple ZFS",
    ),
    ("516E7CB4-6ECF-11D6-8FF8-00022D09712B", "FreeBSD disklabel"),
    ("83BD6B9D-7F41-11DC-BE0B-001560B84F0F", "FreeBSD boot"),
    ("516E7CB5-6ECF-11D6-8FF8-00022D09712B", "FreeBSD swap"),
    ("516E7CB6-6ECF-11D6-8FF8-00022D09712B", "FreeBSD UFS"),
    ("516E7CBA-6ECF-11D6-8FF8-00022D09712B", "FreeBSD ZFS"),
    ("48465300-0000-11AA-AA11-00306543ECAC", "Apple HFS/HFS+"),
    ("7C3457EF-0000-11AA-AA11-00306543ECAC", "Apple APFS"),
    ("AA31E02A-400F-11DB-9590-000C2911D1B8", "VMware VMFS"),
    (
        "9D275380-40AD-11DB-BF97-000C2911D1B8",
        "VMware kcore crash protection",
    ),
    ("6A945A3B-1DD2-11B2-99A6-080020736631", "Solaris root"),
    ("D3BFE2DE-3DAF-11DF-BA40-E3A556D89593", "Intel fast flash"),
    ("4FBD7E29-9D25-41B8-AFD0-062C0CEFF05D", "Ceph OSD"),
];

/// The name of a GPT partition type GUID given in text form (any case).
pub fn gpt_type_name(guid: &str) -> &'static str {
    GPT_TYPES
        .iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(guid))
        .map_or("Unknown", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(mbr_type_name(0x83), "Linux");
        assert_eq!(mbr_type_name(0x99), "Unknown");
        assert_eq!(
            gpt_type_name("0fc63daf-8483-4772-8e79-3d69d8477de4"),
            "Linux filesystem"
        );
    }
}
