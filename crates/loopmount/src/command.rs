//! Shell command lines equivalent to what this crate does, for users who prefer the standard
//! tools, and userspace routes for filesystems the kernel lacks.

use std::path::Path;

use crate::mount::{Access, MountSpec};

/// Quotes `s` for a POSIX shell when it holds anything but `[A-Za-z0-9_./:=@%+,-]`.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=@%+,-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn quote_path(p: &Path) -> String {
    shell_quote(&p.to_string_lossy())
}

impl MountSpec {
    /// The `mount(8)` command line that mounts the same range the same way as
    /// [`mount_image`](crate::mount_image): `mount -o ro,loop,offset=N,sizelimit=N[,noload] -t
    /// TYPE IMAGE MOUNTPOINT` (N in bytes; `rw` instead of `ro` for [`Access::ReadWrite`]).
    pub fn mount_command(&self, image: &Path, mountpoint: &Path) -> String {
        let mut opts = vec![
            match self.access {
                Access::ReadOnly => "ro".to_string(),
                Access::ReadWrite => "rw".to_string(),
            },
            "loop".into(),
            format!("offset={}", self.offset),
        ];
        if self.size > 0 {
            opts.push(format!("sizelimit={}", self.size));
        }
        let extra = self.option_string();
        if !extra.is_empty() {
            opts.push(extra);
        }
        format!(
            "mount -o {} -t {} {} {}",
            opts.join(","),
            shell_quote(&self.fstype),
            quote_path(image),
            quote_path(mountpoint)
        )
    }
}

/// A shell line that reads a filesystem this kernel cannot mount through a userspace (FUSE)
/// driver on a read-only loop device of the same range, naming the Debian package; `None` for
/// types without a known route.
pub fn userspace_route(
    fstype: &str,
    image: &Path,
    offset: u64,
    size: u64,
    mountpoint: &Path,
) -> Option<String> {
    let (driver, package) = match fstype {
        "ntfs" | "ntfs3" => ("ntfs-3g -o ro", "ntfs-3g"),
        "vfat" | "msdos" | "fat" => ("fusefat -o ro", "fusefat"),
        "exfat" => ("mount.exfat-fuse -o ro", "exfat-fuse"),
        "iso9660" => ("fuseiso", "fuseiso"),
        _ => return None,
    };
    let sizelimit = if size > 0 {
        format!(" --sizelimit {size}")
    } else {
        String::new()
    };
    Some(format!(
        "{package} (FUSE) reads it: DEV=$(losetup -r -f --show -o {offset}{sizelimit} {}) && \
         {driver} \"$DEV\" {}",
        quote_path(image),
        quote_path(mountpoint)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/srv/disk-1.raw"), "/srv/disk-1.raw");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn mount_commands() {
        let spec = MountSpec::read_only(1048576, 7323136, "ext4");
        assert_eq!(
            spec.mount_command(Path::new("d.raw"), Path::new("/mnt")),
            "mount -o ro,loop,offset=1048576,sizelimit=7323136,noload -t ext4 d.raw /mnt"
        );
        let mut rw = MountSpec::read_only(0, 0, "btrfs");
        rw.access = Access::ReadWrite;
        assert_eq!(
            rw.mount_command(Path::new("my disk"), Path::new("/mnt")),
            "mount -o rw,loop,offset=0 -t btrfs 'my disk' /mnt"
        );
    }

    #[test]
    fn routes() {
        let r = userspace_route("ntfs3", Path::new("d.raw"), 512, 1024, Path::new("/mnt"));
        assert_eq!(
            r.as_deref(),
            Some(
                "ntfs-3g (FUSE) reads it: DEV=$(losetup -r -f --show -o 512 --sizelimit 1024 \
                 d.raw) && ntfs-3g -o ro \"$DEV\" /mnt"
            )
        );
        assert_eq!(
            userspace_route("ext4", Path::new("d"), 0, 0, Path::new("/m")),
            None
        );
    }
}
