//! Reading an archive at random: entries, directories through their goodbye tables, lookups by
//! path, file data; and [`Walk`], the checked front-to-back pass that extraction uses.

use std::ops::Range;

use diskview::ReadAt;

use crate::error::{Error, Result, Stream};
use crate::format::{self as f, mode};

/// A pxar archive: a unified `.pxar` (v1), or the metadata stream of a split archive (`.mpxar`,
/// v2) with its payload stream (`.ppxar`). Both streams are read at random through
/// [`ReadAt`] (a `pbs::DynamicStream`, a file, bytes in memory).
#[derive(Debug)]
pub struct Archive<R> {
    meta: R,
    payload: Option<R>,
    name: String,
    version: u64,
    prelude: Option<Vec<u8>>,
    /// Offset of the root ENTRY.
    root: u64,
}

/// An entry's metadata (ENTRY and the attribute items after it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Linux `st_mode`, file type included.
    pub mode: u64,
    /// chattr/FAT attribute flags (not applied on extraction).
    pub flags: u64,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time: seconds since the epoch.
    pub mtime_secs: i64,
    /// Modification time: nanoseconds.
    pub mtime_nanos: u32,
    /// Extended attributes, name and value, in archive order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// POSIX ACLs.
    pub acl: Acl,
    /// The raw `security.capability` value.
    pub fcaps: Option<Vec<u8>>,
    /// The quota project id.
    pub quota_projid: Option<u64>,
}

impl Metadata {
    /// The file type bits of the mode.
    pub fn file_type(&self) -> u64 {
        self.mode & mode::IFMT
    }

    /// The permission bits, setuid/setgid/sticky included.
    pub fn permissions(&self) -> u32 {
        (self.mode & 0o7777) as u32
    }
}

/// POSIX ACL entries as pxar stores them (perms: R=4, W=2, X=1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// Named users of the access ACL: (uid, perms).
    pub users: Vec<(u64, u64)>,
    /// Named groups of the access ACL: (gid, perms).
    pub groups: Vec<(u64, u64)>,
    /// The owning group's perms when the access ACL is extended (the mode's group bits are then
    /// the mask).
    pub group_obj: Option<u64>,
    /// The default ACL's base entries.
    pub default: Option<AclDefault>,
    /// Named users of the default ACL.
    pub default_users: Vec<(u64, u64)>,
    /// Named groups of the default ACL.
    pub default_groups: Vec<(u64, u64)>,
}

impl Acl {
    /// True when there is nothing beyond the mode bits.
    pub fn is_empty(&self) -> bool {
        *self == Acl::default()
    }
}

/// The base entries of a default ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclDefault {
    /// Owner perms.
    pub user_obj: u64,
    /// Owning group perms.
    pub group_obj: u64,
    /// Others' perms.
    pub other: u64,
    /// The mask, `u64::MAX` for none.
    pub mask: u64,
}

/// Where a file's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// In the archive itself, from this offset (after the PAYLOAD header).
    Inline {
        /// Offset of the first byte.
        offset: u64,
    },
    /// In the payload stream: a PAYLOAD header at `offset`, checked when read.
    Ref {
        /// Offset of the PAYLOAD header in the payload stream.
        offset: u64,
        /// Offset of the PAYLOAD_REF item in the metadata stream (for messages).
        at: u64,
    },
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory; its children follow its metadata, and its goodbye table ends it.
    Directory {
        /// Where the directory ends (after its goodbye table), when known: entries found through
        /// goodbye tables know it, entries of a [`Walk`] learn it at [`Event::Leave`].
        end: Option<u64>,
    },
    /// A regular file.
    File {
        /// Its size.
        size: u64,
        /// Where its bytes are.
        data: Data,
    },
    /// A symbolic link and its target (not NUL-terminated).
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry: the target's path from the archive root, and the
    /// offset of the target's FILENAME item. A hardlink has no metadata of its own.
    Hardlink {
        /// The target path from the archive root.
        target: Vec<u8>,
        /// Offset of the target's FILENAME.
        target_at: u64,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u64,
        /// Minor number.
        minor: u64,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u64,
        /// Minor number.
        minor: u64,
    },
    /// A FIFO.
    Fifo,
    /// A socket.
    Socket,
}

impl Kind {
    /// A word for messages.
    pub fn word(&self) -> &'static str {
        match self {
            Kind::Directory { .. } => "a directory",
            Kind::File { .. } => "a file",
            Kind::Symlink(_) => "a symlink",
            Kind::Hardlink { .. } => "a hardlink",
            Kind::BlockDevice { .. } => "a block device",
            Kind::CharDevice { .. } => "a character device",
            Kind::Fifo => "a fifo",
            Kind::Socket => "a socket",
        }
    }
}

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path from the archive root, components joined by `/`; empty for the root.
    pub path: Vec<u8>,
    /// Offset of its FILENAME item (`None` for the root).
    pub filename_at: Option<u64>,
    /// Offset of its ENTRY item (of the HARDLINK item for a hardlink).
    pub entry_at: u64,
    /// Where its own items end: after the data of a file, at the first child of a directory.
    pub content_end: u64,
    /// Its metadata (all zero for a hardlink, which has none: see its target's).
    pub metadata: Metadata,
    /// What it is.
    pub kind: Kind,
}

impl Entry {
    /// The last component of the path (empty for the root).
    pub fn name(&self) -> &[u8] {
        match self.path.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.path[i + 1..],
            None => &self.path,
        }
    }

    /// The path for messages (lossy UTF-8, `/` for the root).
    pub fn display_path(&self) -> String {
        if self.path.is_empty() {
            "/".into()
        } else {
            String::from_utf8_lossy(&self.path).into_owned()
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Directory { .. })
    }
}

/// A goodbye-table item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoodbyeItem {
    /// SipHash of the child's name, or the tail marker.
    pub hash: u64,
    /// Distance back from the goodbye table to the child's FILENAME (to the directory's ENTRY
    /// for the tail).
    pub offset: u64,
    /// The child's extent from its FILENAME (the table's size for the tail).
    pub size: u64,
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// Checks a file name: not empty, not `.` or `..`, no `/` and no NUL.
pub fn check_name(name: &[u8]) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        Err("empty")
    } else if name == b"." || name == b".." {
        Err("a dot entry")
    } else if name.contains(&b'/') {
        Err("contains '/'")
    } else if name.contains(&0) {
        Err("contains NUL")
    } else {
        Ok(())
    }
}

impl<R: ReadAt> Archive<R> {
    /// Opens a unified archive (`.pxar`), or a split archive's metadata stream when `payload`
    /// is its `.ppxar`. `name` names the archive in errors. The payload stream's start and tail
    /// markers are checked here; everything else when it is read.
    pub fn open(meta: R, payload: Option<R>, name: &str) -> Result<Archive<R>> {
        let mut a = Archive {
            meta,
            payload,
            name: name.to_owned(),
            version: 1,
            prelude: None,
            root: 0,
        };
        let (t, size) = a.header(0, a.meta.size())?;
        if t == f::FORMAT_VERSION {
            let v = a.u64_item(0, size, "FORMAT_VERSION")?;
            if v != 2 {
                return Err(a.unexpected(0, "format version 2", format!("version {v}")));
            }
            a.version = 2;
            let mut pos = size;
            let (t, size) = a.header(pos, a.meta.size())?;
            if t == f::PRELUDE {
                a.prelude = Some(a.bytes(pos, size, f::MAX_SMALL_BLOB, "PRELUDE")?);
                pos += size;
            }
            a.root = pos;
        } else if t == f::PAYLOAD_START_MARKER {
            return Err(a.unexpected(
                0,
                "an archive or metadata stream",
                "a payload stream (.ppxar): give the .mpxar with it".into(),
            ));
        }
        let (t, _) = a.header(a.root, a.meta.size())?;
        if t != f::ENTRY && t != f::ENTRY_V1 {
            return Err(a.unexpected(a.root, "the root ENTRY", f::type_name(t).into()));
        }
        if let Some(p) = &a.payload {
            let end = p.size();
            let bad = |why: &str| Error::BadPayloadStream {
                archive: name.to_owned(),
                why: why.to_owned(),
            };
            if end < 32 {
                return Err(bad("is shorter than its two markers"));
            }
            let mut h = [0u8; 16];
            read(p, &mut h, 0, name, Stream::Payload)?;
            if le64(&h, 0) != f::PAYLOAD_START_MARKER || le64(&h, 8) != 16 {
                return Err(bad("does not start with PAYLOAD_START_MARKER"));
            }
            read(p, &mut h, end - 16, name, Stream::Payload)?;
            if le64(&h, 0) != f::PAYLOAD_TAIL_MARKER || le64(&h, 8) != 16 {
                return Err(bad("does not end with PAYLOAD_TAIL_MARKER"));
            }
        }
        Ok(a)
    }

    /// The archive's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// 1 for a unified archive, 2 for a split archive's metadata stream.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The PRELUDE's bytes (v2 only, when present).
    pub fn prelude(&self) -> Option<&[u8]> {
        self.prelude.as_deref()
    }

    /// The metadata stream (the whole archive for v1).
    pub fn meta_stream(&self) -> &R {
        &self.meta
    }

    /// The payload stream, for split archives.
    pub fn payload_stream(&self) -> Option<&R> {
        self.payload.as_ref()
    }

    fn unexpected(&self, at: u64, expected: &str, found: String) -> Error {
        Error::Unexpected {
            archive: self.name.clone(),
            stream: Stream::Meta,
            at,
            expected: expected.into(),
            found,
        }
    }

    fn read(&self, buf: &mut [u8], at: u64) -> Result<()> {
        read(&self.meta, buf, at, &self.name, Stream::Meta)
    }

    /// The item header at `at`, its whole item within `..limit`.
    fn header(&self, at: u64, limit: u64) -> Result<(u64, u64)> {
        let available = limit.saturating_sub(at);
        if available < f::HEADER_SIZE {
            return Err(self.truncated("item header", at, f::HEADER_SIZE, available));
        }
        let mut h = [0u8; 16];
        self.read(&mut h, at)?;
        let (t, size) = (le64(&h, 0), le64(&h, 8));
        if size < f::HEADER_SIZE {
            return Err(self.unexpected(
                at,
                "an item size of at least 16",
                format!("{size} ({})", f::type_name(t)),
            ));
        }
        if size > available {
            return Err(self.truncated(f::type_name(t), at, size, available));
        }
        Ok((t, size))
    }

    fn truncated(&self, what: &'static str, at: u64, needed: u64, available: u64) -> Error {
        Error::Truncated {
            archive: self.name.clone(),
            stream: Stream::Meta,
            what,
            at,
            needed,
            available,
        }
    }

    /// The content of the item at `at` (of `size` with its header), at most `max` bytes.
    fn bytes(&self, at: u64, size: u64, max: u64, what: &'static str) -> Result<Vec<u8>> {
        let len = size - f::HEADER_SIZE;
        if len > max {
            return Err(Error::Limit {
                archive: self.name.clone(),
                what,
                at,
                value: len,
                limit: max,
            });
        }
        let mut v = vec![0u8; len as usize];
        self.read(&mut v, at + f::HEADER_SIZE)?;
        Ok(v)
    }

    /// Content of exactly `len` bytes.
    fn fixed(&self, at: u64, size: u64, len: u64, what: &'static str) -> Result<Vec<u8>> {
        if size - f::HEADER_SIZE != len {
            return Err(self.unexpected(
                at,
                &format!("{what} of {len} bytes"),
                format!("{} bytes", size - f::HEADER_SIZE),
            ));
        }
        self.bytes(at, size, len, what)
    }

    fn u64_item(&self, at: u64, size: u64, what: &'static str) -> Result<u64> {
        Ok(le64(&self.fixed(at, size, 8, what)?, 0))
    }

    /// A NUL-terminated string item's bytes without the NUL.
    fn cstr(&self, at: u64, size: u64, max: u64, what: &'static str) -> Result<Vec<u8>> {
        let mut v = self.bytes(at, size, max + 1, what)?;
        if v.pop() != Some(0) {
            return Err(self.unexpected(at, &format!("{what} ending in NUL"), "no NUL".into()));
        }
        if v.contains(&0) {
            return Err(self.unexpected(at, &format!("{what} with one NUL"), "several".into()));
        }
        Ok(v)
    }

    /// The root directory.
    pub fn root(&self) -> Result<Entry> {
        let mut e = self.parse_entry(self.root, None, Vec::new(), self.meta.size())?;
        if let Kind::Directory { end } = &mut e.kind {
            *end = Some(self.meta.size());
        }
        Ok(e)
    }

    /// Parses the entry whose ENTRY (or, with `filename_at`, FILENAME) item starts at `at`:
    /// FILENAME, ENTRY and its attributes, then a file's data reference, a symlink's target,
    /// a device's numbers, or a hardlink. Everything stays within `..limit`.
    fn parse_entry(
        &self,
        at: u64,
        filename_at: Option<u64>,
        path: Vec<u8>,
        limit: u64,
    ) -> Result<Entry> {
        let (mut t, mut size) = self.header(at, limit)?;
        let mut pos = at;
        if t == f::HARDLINK {
            let fname = filename_at.unwrap_or(at);
            let b = self.bytes(pos, size, 8 + f::MAX_PATH + 1, "HARDLINK")?;
            if b.len() < 9 {
                return Err(self.unexpected(pos, "HARDLINK offset and target", "too short".into()));
            }
            let back = le64(&b, 0);
            let target = b[8..].to_vec();
            let target = match target.split_last() {
                Some((0, t)) if !t.contains(&0) => t.to_vec(),
                _ => {
                    return Err(self.unexpected(
                        pos,
                        "HARDLINK target ending in NUL",
                        "no NUL".into(),
                    ));
                }
            };
            let target_at = fname.checked_sub(back).ok_or_else(|| {
                self.unexpected(
                    pos,
                    "a hardlink offset back into the archive",
                    back.to_string(),
                )
            })?;
            return Ok(Entry {
                path,
                filename_at,
                entry_at: pos,
                content_end: pos + size,
                metadata: Metadata::default(),
                kind: Kind::Hardlink { target, target_at },
            });
        }
        let mut md = Metadata::default();
        match t {
            f::ENTRY => {
                let b = self.fixed(pos, size, f::ENTRY_SIZE, "ENTRY")?;
                md.mode = le64(&b, 0);
                md.flags = le64(&b, 8);
                md.uid = le32(&b, 16);
                md.gid = le32(&b, 20);
                md.mtime_secs = le64(&b, 24) as i64;
                md.mtime_nanos = le32(&b, 32);
                if md.mtime_nanos >= 1_000_000_000 {
                    return Err(self.unexpected(
                        pos + 48,
                        "nanoseconds below 10^9",
                        md.mtime_nanos.to_string(),
                    ));
                }
            }
            f::ENTRY_V1 => {
                let b = self.fixed(pos, size, f::ENTRY_V1_SIZE, "ENTRY_V1")?;
                md.mode = le64(&b, 0);
                md.flags = le64(&b, 8);
                md.uid = le32(&b, 16);
                md.gid = le32(&b, 20);
                let ns = le64(&b, 24);
                md.mtime_secs = (ns / 1_000_000_000) as i64;
                md.mtime_nanos = (ns % 1_000_000_000) as u32;
            }
            _ => return Err(self.unexpected(pos, "ENTRY or HARDLINK", f::type_name(t).into())),
        }
        let entry_at = pos;
        pos += size;
        let mut kept = 0u64;
        // Attributes, in the grammar's order (accepted in any order).
        loop {
            if pos >= limit {
                break;
            }
            (t, size) = self.header(pos, limit)?;
            let pair = |this: &Self| -> Result<(u64, u64)> {
                let b = this.fixed(pos, size, 16, f::type_name(t))?;
                Ok((le64(&b, 0), le64(&b, 8)))
            };
            match t {
                f::XATTR => {
                    let b = self.bytes(
                        pos,
                        size,
                        f::MAX_XATTR_NAME + 1 + f::MAX_XATTR_VALUE,
                        "XATTR",
                    )?;
                    let Some(nul) = b.iter().position(|&c| c == 0) else {
                        return Err(self.unexpected(
                            pos,
                            "an xattr name ending in NUL",
                            "no NUL".into(),
                        ));
                    };
                    if nul == 0 || nul as u64 > f::MAX_XATTR_NAME {
                        return Err(self.unexpected(
                            pos,
                            "an xattr name of 1 to 255 bytes",
                            format!("{nul} bytes"),
                        ));
                    }
                    md.xattrs.push((b[..nul].to_vec(), b[nul + 1..].to_vec()));
                }
                f::ACL_USER => md.acl.users.push(pair(self)?),
                f::ACL_GROUP => md.acl.groups.push(pair(self)?),
                f::ACL_DEFAULT_USER => md.acl.default_users.push(pair(self)?),
                f::ACL_DEFAULT_GROUP => md.acl.default_groups.push(pair(self)?),
                f::ACL_GROUP_OBJ => {
                    md.acl.group_obj = Some(self.u64_item(pos, size, "ACL_GROUP_OBJ")?)
                }
                f::ACL_DEFAULT => {
                    let b = self.fixed(pos, size, 32, "ACL_DEFAULT")?;
                    md.acl.default = Some(AclDefault {
                        user_obj: le64(&b, 0),
                        group_obj: le64(&b, 8),
                        other: le64(&b, 16),
                        mask: le64(&b, 24),
                    });
                }
                f::FCAPS => md.fcaps = Some(self.bytes(pos, size, f::MAX_SMALL_BLOB, "FCAPS")?),
                f::QUOTA_PROJID => {
                    md.quota_projid = Some(self.u64_item(pos, size, "QUOTA_PROJID")?)
                }
                _ => break,
            }
            kept += size;
            if kept > f::MAX_ENTRY_METADATA {
                return Err(Error::Limit {
                    archive: self.name.clone(),
                    what: "metadata of one entry",
                    at: entry_at,
                    value: kept,
                    limit: f::MAX_ENTRY_METADATA,
                });
            }
            pos += size;
        }
        let need = |this: &Self, want: u64, what: &str| -> Result<u64> {
            let (t, size) = this.header(pos, limit)?;
            if t != want {
                return Err(this.unexpected(pos, what, f::type_name(t).into()));
            }
            Ok(size)
        };
        let kind = match md.file_type() {
            mode::IFDIR => Kind::Directory { end: None },
            mode::IFREG => {
                let (t, size) = self.header(pos, limit)?;
                let k = match t {
                    f::PAYLOAD => Kind::File {
                        size: size - f::HEADER_SIZE,
                        data: Data::Inline {
                            offset: pos + f::HEADER_SIZE,
                        },
                    },
                    f::PAYLOAD_REF => {
                        let b = self.fixed(pos, size, 16, "PAYLOAD_REF")?;
                        Kind::File {
                            size: le64(&b, 8),
                            data: Data::Ref {
                                offset: le64(&b, 0),
                                at: pos,
                            },
                        }
                    }
                    _ => {
                        return Err(self.unexpected(
                            pos,
                            "PAYLOAD or PAYLOAD_REF of a file",
                            f::type_name(t).into(),
                        ));
                    }
                };
                pos += size;
                k
            }
            mode::IFLNK => {
                let size = need(self, f::SYMLINK, "SYMLINK of a symlink")?;
                let target = self.cstr(pos, size, f::MAX_PATH, "SYMLINK")?;
                pos += size;
                Kind::Symlink(target)
            }
            mode::IFBLK | mode::IFCHR => {
                let size = need(self, f::DEVICE, "DEVICE of a device")?;
                let b = self.fixed(pos, size, 16, "DEVICE")?;
                pos += size;
                let (major, minor) = (le64(&b, 0), le64(&b, 8));
                if md.file_type() == mode::IFBLK {
                    Kind::BlockDevice { major, minor }
                } else {
                    Kind::CharDevice { major, minor }
                }
            }
            mode::IFIFO => Kind::Fifo,
            mode::IFSOCK => Kind::Socket,
            other => {
                return Err(self.unexpected(
                    entry_at + 16,
                    "a file type in the mode",
                    format!("{other:#o}"),
                ));
            }
        };
        Ok(Entry {
            path,
            filename_at,
            entry_at,
            content_end: pos,
            metadata: md,
            kind,
        })
    }

    /// Parses a child: FILENAME at `at`, then its entry, within `..limit`.
    fn parse_child(&self, at: u64, parent: &[u8], limit: u64) -> Result<Entry> {
        let (t, size) = self.header(at, limit)?;
        if t != f::FILENAME {
            return Err(self.unexpected(at, "FILENAME", f::type_name(t).into()));
        }
        let name = self.cstr(at, size, f::MAX_NAME, "FILENAME")?;
        check_name(&name).map_err(|why| Error::BadName {
            archive: self.name.clone(),
            at,
            name: String::from_utf8_lossy(&name).into_owned(),
            why,
        })?;
        let mut path = parent.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        if path.len() as u64 > 64 * 1024 {
            return Err(Error::Limit {
                archive: self.name.clone(),
                what: "path length",
                at,
                value: path.len() as u64,
                limit: 64 * 1024,
            });
        }
        self.parse_entry(at + size, Some(at), path, limit)
    }

    /// The goodbye table ending the directory range `start..end` (the directory's ENTRY at
    /// `start`): its position and items, the tail last. The tail is checked.
    pub fn goodbye(&self, start: u64, end: u64) -> Result<(u64, Vec<GoodbyeItem>)> {
        if end.saturating_sub(start) < f::HEADER_SIZE + f::GOODBYE_ITEM_SIZE {
            return Err(self.truncated("goodbye table", start, 40, end.saturating_sub(start)));
        }
        let mut tail = [0u8; 24];
        self.read(&mut tail, end - 24)?;
        let (hash, offset, size) = (le64(&tail, 0), le64(&tail, 8), le64(&tail, 16));
        let bad = |at: u64, why: String| Error::Goodbye {
            archive: self.name.clone(),
            at,
            why,
        };
        if hash != f::GOODBYE_TAIL_MARKER {
            return Err(bad(
                end - 24,
                format!("the last item's hash is {hash:#018x}, not the tail marker"),
            ));
        }
        if size < 40 || (size - 16) % 24 != 0 || size > end - start {
            return Err(bad(
                end - 24,
                format!("the tail's size {size} does not fit the directory"),
            ));
        }
        let at = end - size;
        let n = (size - 16) / 24;
        if n - 1 > f::MAX_DIR_ENTRIES {
            return Err(Error::Limit {
                archive: self.name.clone(),
                what: "directory entries",
                at,
                value: n - 1,
                limit: f::MAX_DIR_ENTRIES,
            });
        }
        let (t, hsize) = self.header(at, end)?;
        if t != f::GOODBYE || hsize != size {
            return Err(bad(
                at,
                format!(
                    "expected a GOODBYE header of {size} bytes, found {} of {hsize}",
                    f::type_name(t)
                ),
            ));
        }
        // The tail reaches back to the directory's ENTRY (to offset 0 for a v2 root).
        let back = at.checked_sub(offset);
        if back != Some(start) && !(self.version == 2 && start == self.root && back == Some(0)) {
            return Err(bad(
                at,
                format!("the tail points back {offset} bytes, to the directory's entry at {start}"),
            ));
        }
        let mut raw = vec![0u8; (size - 16) as usize];
        self.read(&mut raw, at + 16)?;
        let items = raw
            .chunks_exact(24)
            .map(|c| GoodbyeItem {
                hash: le64(c, 0),
                offset: le64(c, 8),
                size: le64(c, 16),
            })
            .collect();
        Ok((at, items))
    }

    /// The children of a directory found through goodbye tables (`root()`, `read_dir`,
    /// `lookup`), in archive order; each child's name hash is checked.
    pub fn read_dir(&self, dir: &Entry) -> Result<Vec<Entry>> {
        let end = self.dir_end(dir)?;
        let (at, items) = self.goodbye(dir.entry_at, end)?;
        let mut kids = Vec::with_capacity(items.len().saturating_sub(1));
        for item in &items[..items.len() - 1] {
            kids.push(self.child_of(dir, at, item)?);
        }
        kids.sort_by_key(|e| e.filename_at);
        Ok(kids)
    }

    fn dir_end(&self, dir: &Entry) -> Result<u64> {
        match dir.kind {
            Kind::Directory { end: Some(end) } => Ok(end),
            Kind::Directory { end: None } => Err(Error::WrongKind {
                archive: self.name.clone(),
                path: dir.display_path(),
                expected: "a directory found through the goodbye tables",
                found: "a directory of a walk",
            }),
            ref k => Err(Error::WrongKind {
                archive: self.name.clone(),
                path: dir.display_path(),
                expected: "a directory",
                found: k.word(),
            }),
        }
    }

    /// The child named by goodbye `item` of the table at `at` of `dir`.
    fn child_of(&self, dir: &Entry, at: u64, item: &GoodbyeItem) -> Result<Entry> {
        let bad = |why: String| Error::Goodbye {
            archive: self.name.clone(),
            at,
            why,
        };
        let pos = at
            .checked_sub(item.offset)
            .filter(|&p| p >= dir.content_end)
            .ok_or_else(|| {
                bad(format!(
                    "an item points {} bytes back, outside its directory",
                    item.offset
                ))
            })?;
        let mut e = self.parse_child(pos, &dir.path, at)?;
        if f::hash_filename(e.name()) != item.hash {
            return Err(bad(format!(
                "the hash of {:?} at byte {pos} is {:#018x}, the table says {:#018x}",
                String::from_utf8_lossy(e.name()),
                f::hash_filename(e.name()),
                item.hash
            )));
        }
        if let Kind::Directory { end } = &mut e.kind {
            let child_end = pos
                .checked_add(item.size)
                .filter(|&x| x <= at)
                .ok_or_else(|| {
                    bad(format!(
                        "the directory at byte {pos} has size {}, past its parent",
                        item.size
                    ))
                })?;
            *end = Some(child_end);
        }
        Ok(e)
    }

    /// The entry at `path` (components separated by `/`; empty or `/` is the root), found
    /// through the goodbye tables without reading anything else.
    pub fn lookup(&self, path: &[u8]) -> Result<Entry> {
        let mut cur = self.root()?;
        for comp in path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            let not_found = || Error::NotFound {
                archive: self.name.clone(),
                path: String::from_utf8_lossy(path).into_owned(),
            };
            if !cur.is_dir() {
                return Err(not_found());
            }
            let end = self.dir_end(&cur)?;
            let (at, items) = self.goodbye(cur.entry_at, end)?;
            let hash = f::hash_filename(comp);
            let mut found = None;
            // Hashes can collide: every item with the hash is a candidate, confirmed by name.
            for item in items[..items.len() - 1].iter().filter(|i| i.hash == hash) {
                let e = self.child_of(&cur, at, item)?;
                if e.name() == comp {
                    found = Some(e);
                    break;
                }
            }
            cur = found.ok_or_else(not_found)?;
        }
        Ok(cur)
    }

    /// The range of the payload stream (or the archive) holding a file's bytes, its PAYLOAD
    /// header checked for a reference.
    pub fn data_range(&self, e: &Entry) -> Result<(Stream, Range<u64>)> {
        let Kind::File { size, data } = e.kind else {
            return Err(Error::WrongKind {
                archive: self.name.clone(),
                path: e.display_path(),
                expected: "a file",
                found: e.kind.word(),
            });
        };
        match data {
            Data::Inline { offset } => Ok((Stream::Meta, offset..offset + size)),
            Data::Ref { offset, at } => {
                let p = self
                    .payload
                    .as_ref()
                    .ok_or_else(|| Error::NoPayloadStream {
                        archive: self.name.clone(),
                        at,
                    })?;
                let bad = |why: String| Error::BadPayloadRef {
                    archive: self.name.clone(),
                    path: e.display_path(),
                    at,
                    offset,
                    size,
                    why,
                };
                let end = offset
                    .checked_add(16)
                    .and_then(|x| x.checked_add(size))
                    .filter(|&x| x <= p.size().saturating_sub(16))
                    .ok_or_else(|| {
                        bad(format!(
                            "past the end of the payload stream ({} bytes)",
                            p.size()
                        ))
                    })?;
                if offset < 16 {
                    return Err(bad("inside the payload start marker".into()));
                }
                let mut h = [0u8; 16];
                read(p, &mut h, offset, &self.name, Stream::Payload)?;
                if le64(&h, 0) != f::PAYLOAD {
                    return Err(bad(format!(
                        "expected a PAYLOAD header there, found {}",
                        f::type_name(le64(&h, 0))
                    )));
                }
                if le64(&h, 8) != size + 16 {
                    return Err(bad(format!(
                        "the PAYLOAD header there holds {} bytes",
                        le64(&h, 8).saturating_sub(16)
                    )));
                }
                Ok((Stream::Payload, offset + 16..end))
            }
        }
    }

    /// Reads a file's bytes from `offset` into `buf`; returns how many (0 at the end).
    pub fn read_file_at(&self, e: &Entry, buf: &mut [u8], offset: u64) -> Result<usize> {
        let (stream, range) = self.data_range(e)?;
        self.read_range(stream, &range, buf, offset)
    }

    /// Reads from a range given by [`Archive::data_range`] (checked once per file).
    pub fn read_range(
        &self,
        stream: Stream,
        range: &Range<u64>,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<usize> {
        let len = range.end - range.start;
        if offset >= len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(len - offset) as usize;
        let src = match stream {
            Stream::Meta => &self.meta,
            Stream::Payload => self.payload.as_ref().unwrap_or(&self.meta),
        };
        read(src, &mut buf[..n], range.start + offset, &self.name, stream)?;
        Ok(n)
    }

    /// A walk over every entry, front to back, checking every goodbye table.
    pub fn walk(&self) -> Walk<'_, R> {
        Walk {
            ar: self,
            stack: Vec::new(),
            pos: self.root,
            first: None,
            done: false,
        }
    }

    /// A walk over the entry `from` (found by [`Archive::lookup`]) and everything below it.
    pub fn walk_from(&self, from: &Entry) -> Walk<'_, R> {
        let mut w = self.walk();
        w.pos = from.content_end;
        w.first = Some(from.clone());
        w
    }
}

fn read<R: ReadAt>(r: &R, buf: &mut [u8], at: u64, name: &str, stream: Stream) -> Result<()> {
    r.read_exact_at(buf, at).map_err(|source| Error::Read {
        archive: name.to_owned(),
        stream,
        at,
        len: buf.len() as u64,
        source,
    })
}

/// What a [`Walk`] meets.
#[derive(Debug, Clone)]
pub enum Event {
    /// An entry (a directory's children follow until its [`Event::Leave`]).
    Entry(Entry),
    /// The end of a directory, with its end offset known and its goodbye table checked.
    Leave(Entry),
}

#[derive(Debug)]
struct Frame {
    dir: Entry,
    /// Children seen: FILENAME offset, name hash, end (a directory's is known at its goodbye),
    /// and the size a split archive's goodbye item may add (spec §7 quirk 2).
    children: Vec<(u64, u64, Option<u64>, u64)>,
}

/// The front-to-back pass over (part of) an archive, as an iterator of [`Event`]s. It checks
/// the grammar and every goodbye table against the children it saw (hashes, offsets, the sizes
/// of subdirectories, the tail, the search-tree order). An error ends the walk.
#[derive(Debug)]
pub struct Walk<'a, R> {
    ar: &'a Archive<R>,
    stack: Vec<Frame>,
    pos: u64,
    /// A looked-up entry to yield first.
    first: Option<Entry>,
    done: bool,
}

impl<R: ReadAt> Walk<'_, R> {
    fn step(&mut self) -> Result<Option<Event>> {
        let ar = self.ar;
        if let Some(first) = self.first.take() {
            if first.is_dir() {
                self.stack.push(Frame {
                    dir: first.clone(),
                    children: Vec::new(),
                });
            } else {
                self.done = true;
            }
            return Ok(Some(Event::Entry(first)));
        }
        if self.stack.is_empty() {
            // The start: the root.
            let root = ar.parse_entry(self.pos, None, Vec::new(), ar.meta.size())?;
            self.pos = root.content_end;
            if root.is_dir() {
                self.stack.push(Frame {
                    dir: root.clone(),
                    children: Vec::new(),
                });
            } else {
                self.done = true;
            }
            return Ok(Some(Event::Entry(root)));
        }
        let limit = ar.meta.size();
        let (t, size) = ar.header(self.pos, limit)?;
        let frame = self
            .stack
            .last_mut()
            .ok_or_else(|| ar.unexpected(self.pos, "an entry", "nothing".into()))?;
        if t == f::GOODBYE {
            let at = self.pos;
            let end = at + size;
            check_goodbye(ar, frame, at, end)?;
            let Some(Frame { mut dir, .. }) = self.stack.pop() else {
                return Ok(None);
            };
            dir.kind = Kind::Directory { end: Some(end) };
            self.pos = end;
            match self.stack.last_mut() {
                Some(parent) => {
                    if let Some(last) = parent.children.last_mut() {
                        last.2 = Some(end);
                    }
                }
                None => {
                    self.done = true;
                    if dir.filename_at.is_none() && end != limit {
                        return Err(ar.unexpected(
                            end,
                            "the end of the archive",
                            format!("{} more bytes", limit - end),
                        ));
                    }
                }
            }
            return Ok(Some(Event::Leave(dir)));
        }
        if t != f::FILENAME {
            return Err(ar.unexpected(self.pos, "FILENAME or GOODBYE", f::type_name(t).into()));
        }
        if frame.children.len() as u64 >= f::MAX_DIR_ENTRIES {
            return Err(Error::Limit {
                archive: ar.name.clone(),
                what: "directory entries",
                at: self.pos,
                value: frame.children.len() as u64 + 1,
                limit: f::MAX_DIR_ENTRIES,
            });
        }
        let e = ar.parse_child(self.pos, &frame.dir.path, limit)?;
        let (end, extra) = match e.kind {
            Kind::Directory { .. } => (None, 0),
            Kind::File {
                size,
                data: Data::Ref { .. },
            } => (Some(e.content_end), size),
            _ => (Some(e.content_end), 0),
        };
        frame
            .children
            .push((self.pos, f::hash_filename(e.name()), end, extra));
        self.pos = e.content_end;
        if e.is_dir() {
            if self.stack.len() >= f::MAX_DEPTH {
                return Err(Error::Limit {
                    archive: ar.name.clone(),
                    what: "directory depth",
                    at: e.entry_at,
                    value: self.stack.len() as u64 + 1,
                    limit: f::MAX_DEPTH as u64,
                });
            }
            self.stack.push(Frame {
                dir: e.clone(),
                children: Vec::new(),
            });
        }
        Ok(Some(Event::Entry(e)))
    }
}

/// Checks the goodbye table at `at..end` against the children the walk saw in `frame`.
fn check_goodbye<R: ReadAt>(ar: &Archive<R>, frame: &Frame, at: u64, end: u64) -> Result<()> {
    let (gat, items) = ar.goodbye(frame.dir.entry_at, end)?;
    let bad = |why: String| Error::Goodbye {
        archive: ar.name.clone(),
        at,
        why,
    };
    if gat != at {
        return Err(bad(format!("the tail says the table starts at {gat}")));
    }
    let kids = &items[..items.len() - 1];
    if kids.len() != frame.children.len() {
        return Err(bad(format!(
            "{} items for {} entries",
            kids.len(),
            frame.children.len()
        )));
    }
    // In-order traversal of the array tree must give the hashes sorted.
    let mut order = Vec::with_capacity(kids.len());
    in_order(kids.len(), 0, &mut order);
    if order.windows(2).any(|w| kids[w[0]].hash > kids[w[1]].hash) {
        return Err(bad("the items are not a search tree of their hashes".into()));
    }
    let mut seen: Vec<(u64, u64, Option<u64>, u64)> = frame.children.clone();
    seen.sort_unstable();
    let mut used = vec![false; seen.len()];
    for item in kids {
        let pos = at.checked_sub(item.offset).unwrap_or(u64::MAX);
        let Ok(i) = seen.binary_search_by_key(&pos, |c| c.0) else {
            return Err(bad(format!(
                "an item points {} bytes back, at no entry",
                item.offset
            )));
        };
        if std::mem::replace(&mut used[i], true) {
            return Err(bad(format!("two items point at the entry at byte {pos}")));
        }
        let (_, hash, child_end, extra) = seen[i];
        if hash != item.hash {
            return Err(bad(format!(
                "the entry at byte {pos} has hash {hash:#018x}, the table says {:#018x}",
                item.hash
            )));
        }
        // A freshly encoded file of a split archive may count its payload too (quirk 2).
        if let Some(child_end) = child_end
            && child_end - pos != item.size
            && (extra == 0 || child_end - pos + extra != item.size)
        {
            return Err(bad(format!(
                "the entry at byte {pos} spans {} bytes, the table says {}",
                child_end - pos,
                item.size
            )));
        }
    }
    Ok(())
}

/// Array indices of a tree with children at `2i+1`, `2i+2`, in order.
fn in_order(n: usize, i: usize, out: &mut Vec<usize>) {
    // Depth is log2(n): the recursion is bounded by the table size.
    if i >= n {
        return;
    }
    in_order(n, 2 * i + 1, out);
    out.push(i);
    in_order(n, 2 * i + 2, out);
}

impl<R: ReadAt> Iterator for Walk<'_, R> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.done && self.first.is_none() {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
