//! The two things `cp` and `ls -R` do thousands of times over ext4 — list a directory and read
//! a regular file — done by inode number, reading inodes, directory blocks and extent trees
//! here instead of through `ext4-view`.
//!
//! `ext4-view` 1.0 opens files by path only: every open resolves the path from the root again,
//! re-reading and re-checking (CRC-32C, a byte at a time) the directory blocks of every
//! component, and reads file data a block at a time. Over 20 000 small files that cost three
//! times what `debugfs` spends (docs/BENCHMARKS.md). This path reads a directory once, keeps
//! each entry's inode number, and opens files by it; file data is read extent by extent.
//!
//! It is taken only where it reads what `ext4-view` would: on a filesystem `ext4-view` has
//! loaded (superblock and group descriptors checked), whose journal needs no replay (no
//! `needs_recovery`: the kernel clears it on a clean unmount and when it freezes a filesystem
//! for a backup), for directories and regular files mapped by extents, without inline data or
//! encryption. Everything else — block-mapped ext2/3 files, inline data, symlinks, a journal to
//! replay — is `ext4-view`'s, as before. The same checks are made: inode, directory-block and
//! extent-block CRC-32C where the filesystem has `metadata_csum`, every length and offset
//! bounded by the block and the filesystem, extents in order and inside the filesystem.
//!
//! Layout facts (not code) from the kernel's documentation, `Documentation/filesystems/ext4/`.

use crate::{Entry, Error, FileReader, FileType, MAX_DIR_ENTRIES, Result, Stat, View};

const EXTENTS_FL: u32 = 0x8_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
const ENCRYPT_FL: u32 = 0x800;
const INDEX_FL: u32 = 0x1000;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_EXTENTS: u32 = 0x40;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
const EXTENT_MAGIC: u16 = 0xF30A;
/// Leaf extents of one file, and extent-tree blocks read for one file.
const MAX_EXTENTS: usize = 1 << 20;
const MAX_TREE_BLOCKS: usize = 1 << 16;
/// Inodes of regular files kept from listings.
const RECENT_INODES: usize = 1 << 14;

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// CRC-32C as ext4 chains it: no inversion in or out (the kernel's `crc32c_le`).
fn crc(state: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!state, data)
}

fn corrupt(at: u64, reason: impl Into<String>) -> Error {
    Error::corrupt("ext4", at, reason)
}

/// A filesystem's geometry, read from its superblock.
pub(crate) struct Fast {
    view: View,
    block: u64,
    blocks: u64,
    inodes: u32,
    inodes_per_group: u32,
    inode_size: usize,
    /// The inodes of the last listings, for the opens that follow them (cleared beyond
    /// [`RECENT_INODES`]).
    recent: std::cell::RefCell<std::collections::HashMap<u32, Inode>>,
    /// Where each group's inode table starts (block number), read once.
    tables: Vec<u64>,
    /// Byte offset of the group descriptor table, for messages.
    gdt_at: u64,
    /// The checksum seed, when the filesystem has `metadata_csum`.
    seed: Option<u32>,
}

/// The inode fields this path uses.
pub(crate) struct Inode {
    ino: u32,
    /// Where it is: byte offset in the filesystem.
    at: u64,
    mode: u16,
    flags: u32,
    size: u64,
    block: [u8; 60],
    /// The checksum of the inode number and generation, where blocks it owns carry one.
    base: Option<u32>,
    stat: Stat,
}

impl Inode {
    fn kind(&self) -> FileType {
        match self.mode & 0xF000 {
            0x8000 => FileType::File,
            0x4000 => FileType::Dir,
            0xA000 => FileType::Symlink,
            0x6000 => FileType::BlockDevice,
            0x2000 => FileType::CharDevice,
            0x1000 => FileType::Fifo,
            0xC000 => FileType::Socket,
            _ => FileType::Other,
        }
    }

    /// Whether this path reads its data: mapped by extents, no inline data, not encrypted.
    fn by_extents(&self) -> bool {
        self.flags & EXTENTS_FL != 0 && self.flags & (INLINE_DATA_FL | ENCRYPT_FL) == 0
    }
}

/// A directory entry's name and inode number.
type Named = (Vec<u8>, u32);

/// One run of blocks of a file.
#[derive(Debug, Clone, Copy)]
struct Extent {
    logical: u64,
    len: u64,
    physical: u64,
    unwritten: bool,
}

impl Fast {
    /// The geometry of the ext4 filesystem on `view`, or `None` where this path does not apply
    /// (no extents, or a journal to replay). `ext4-view` has loaded the filesystem already.
    pub(crate) fn new(view: &View) -> Result<Option<Fast>> {
        let mut sb = vec![0u8; 1024];
        view.read_exact_at(&mut sb, 1024)
            .map_err(|source| Error::Io {
                at: 1024,
                len: 1024,
                source,
            })?;
        let incompat = le32(&sb, 0x60);
        if incompat & INCOMPAT_RECOVER != 0 || incompat & INCOMPAT_EXTENTS == 0 {
            return Ok(None);
        }
        let log = le32(&sb, 0x18);
        if le16(&sb, 0x38) != 0xEF53 || log > 6 {
            return Ok(None);
        }
        let block = 1024u64 << log;
        let is64 = incompat & INCOMPAT_64BIT != 0;
        // Never past the view, whatever the superblock says: every offset below stays in it.
        let blocks = (u64::from(le32(&sb, 0x4))
            | if is64 {
                u64::from(le32(&sb, 0x150)) << 32
            } else {
                0
            })
        .min(view.size() / block);
        let inodes_per_group = le32(&sb, 0x28);
        let blocks_per_group = u64::from(le32(&sb, 0x20));
        let first = u64::from(le32(&sb, 0x14));
        let inode_size = if le32(&sb, 0x4C) == 0 {
            128
        } else {
            usize::from(le16(&sb, 0x58))
        };
        let desc_size = if is64 { u64::from(le16(&sb, 0xFE)) } else { 32 };
        if inodes_per_group == 0
            || blocks_per_group == 0
            || !(128..=1024).contains(&inode_size)
            || !inode_size.is_power_of_two()
            || inode_size as u64 > block
            || !(32..=1024).contains(&desc_size)
        {
            return Ok(None);
        }
        let seed = (le32(&sb, 0x64) & RO_COMPAT_METADATA_CSUM != 0).then(|| {
            if incompat & INCOMPAT_CSUM_SEED != 0 {
                le32(&sb, 0x270)
            } else {
                crc(!0, &sb[0x68..0x78])
            }
        });
        let groups = blocks.saturating_sub(first).div_ceil(blocks_per_group);
        // The whole group descriptor table in one read (it lies in the image: bounded by it).
        let gdt_len = groups.saturating_mul(desc_size);
        if gdt_len > (64 << 20) || (first + 1) * block + gdt_len > view.size() {
            return Ok(None);
        }
        let mut gdt = vec![0u8; gdt_len as usize];
        view.read_exact_at(&mut gdt, (first + 1) * block)
            .map_err(|source| Error::Io {
                at: (first + 1) * block,
                len: gdt.len(),
                source,
            })?;
        let table_hi = is64 && desc_size >= 64;
        let tables = gdt
            .chunks_exact(desc_size as usize)
            .map(|d| {
                u64::from(le32(d, 0x8))
                    | if table_hi {
                        u64::from(le32(d, 0x28)) << 32
                    } else {
                        0
                    }
            })
            .collect();
        Ok(Some(Fast {
            view: view.clone(),
            block,
            blocks,
            inodes: le32(&sb, 0x0),
            inodes_per_group,
            inode_size,
            tables,
            gdt_at: (first + 1) * block,
            seed,
            recent: std::cell::RefCell::new(std::collections::HashMap::new()),
        }))
    }

    fn read(&self, buf: &mut [u8], at: u64) -> Result<()> {
        self.view
            .read_exact_at(buf, at)
            .map_err(|source| Error::Io {
                at,
                len: buf.len(),
                source,
            })
    }

    /// Block `n` into `buf` (one block long), which must lie inside the filesystem.
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<()> {
        if n >= self.blocks {
            return Err(corrupt(
                n.saturating_mul(self.block),
                format!(
                    "block {n} is past the end of the filesystem ({} blocks)",
                    self.blocks
                ),
            ));
        }
        self.read(buf, n * self.block)
    }

    /// Inode `ino`, its checksum checked.
    pub(crate) fn inode(&self, ino: u32) -> Result<Inode> {
        if ino == 0 || ino > self.inodes {
            // A directory entry or a caller named it; the count is the superblock's.
            return Err(corrupt(
                1024,
                format!(
                    "inode {ino}: expected 1 to {} (the superblock's count)",
                    self.inodes
                ),
            ));
        }
        let (group, index) = (
            u64::from((ino - 1) / self.inodes_per_group),
            u64::from((ino - 1) % self.inodes_per_group),
        );
        let Some(&table) = self.tables.get(group as usize) else {
            return Err(corrupt(
                1024,
                format!(
                    "inode {ino} is in group {group}; the superblock's counts give {} groups",
                    self.tables.len()
                ),
            ));
        };
        let at = table
            .checked_mul(self.block)
            .and_then(|t| t.checked_add(index * self.inode_size as u64))
            .filter(|&a| a.saturating_add(self.inode_size as u64) <= self.blocks * self.block)
            .ok_or_else(|| {
                corrupt(
                    self.gdt_at,
                    format!(
                        "group {group}: its inode table at block {table} is past the end of the \
                         filesystem ({} blocks)",
                        self.blocks
                    ),
                )
            })?;
        let mut raw = [0u8; 1024];
        let raw = &mut raw[..self.inode_size];
        self.read(raw, at)?;
        let extra = if self.inode_size > 128 {
            usize::from(le16(raw, 0x80))
        } else {
            0
        };
        let generation = le32(raw, 0x64);
        let base = self
            .seed
            .map(|s| crc(crc(s, &ino.to_le_bytes()), &generation.to_le_bytes()));
        if let Some(base) = base {
            let hi = extra >= 4;
            let expected = u32::from(le16(raw, 0x7C))
                | if hi {
                    u32::from(le16(raw, 0x82)) << 16
                } else {
                    0
                };
            let mut c = crc(base, &raw[..0x7C]);
            c = crc(c, &[0, 0]);
            if hi {
                c = crc(c, &raw[0x7E..0x82]);
                c = crc(c, &[0, 0]);
                c = crc(c, &raw[0x84..]);
            } else {
                c = crc(c, &raw[0x7E..]);
                c &= 0xFFFF;
            }
            if c != expected {
                return Err(corrupt(
                    at,
                    format!("inode {ino}: checksum {expected:#x}, computed {c:#x}"),
                ));
            }
        }
        let mode = le16(raw, 0x0);
        let mut mtime = i64::from(le32(raw, 0x10) as i32);
        let mut mtime_nsec = 0;
        if 128 + extra >= 0x8C && self.inode_size >= 0x8C {
            let e = le32(raw, 0x88);
            mtime += i64::from(e & 3) << 32;
            mtime_nsec = e >> 2;
            if mtime_nsec >= 1_000_000_000 {
                return Err(corrupt(
                    at,
                    format!("inode {ino}: mtime nanoseconds {mtime_nsec}"),
                ));
            }
        }
        let mut block = [0u8; 60];
        block.copy_from_slice(&raw[0x28..0x64]);
        let size = u64::from(le32(raw, 0x4)) | u64::from(le32(raw, 0x6C)) << 32;
        let mut inode = Inode {
            ino,
            at,
            mode,
            flags: le32(raw, 0x20),
            size,
            block,
            base,
            stat: Stat {
                kind: FileType::Other,
                mode: u32::from(mode & 0o7777),
                uid: Some(u32::from(le16(raw, 0x2)) | u32::from(le16(raw, 0x78)) << 16),
                gid: Some(u32::from(le16(raw, 0x18)) | u32::from(le16(raw, 0x7A)) << 16),
                size,
                mtime,
                mtime_nsec,
                ino: None,
                rdev: 0,
            },
        };
        inode.stat.kind = inode.kind();
        if inode.stat.kind == FileType::File {
            inode.stat.ino = Some(u64::from(ino));
        }
        Ok(inode)
    }

    /// The extents of `inode`, in order, checked.
    fn extents(&self, inode: &Inode) -> Result<Vec<Extent>> {
        let mut out = Vec::new();
        let mut blocks = 0usize;
        let root = inode.at + 0x28;
        self.node(inode, (&inode.block, root), None, &mut out, &mut blocks)?;
        let mut end = 0u64;
        for e in &out {
            if e.logical < end {
                return Err(corrupt(
                    root,
                    format!(
                        "inode {}: extents overlap or are out of order at block {}",
                        inode.ino, e.logical
                    ),
                ));
            }
            end = e.logical + e.len;
        }
        Ok(out)
    }

    /// One node of an extent tree, `bytes` read at byte `at` of the filesystem: the 60 bytes in
    /// the inode (`depth` None: any), or a block.
    fn node(
        &self,
        inode: &Inode,
        (bytes, at): (&[u8], u64),
        depth: Option<u16>,
        out: &mut Vec<Extent>,
        blocks: &mut usize,
    ) -> Result<()> {
        let bad = |what: String| corrupt(at, format!("inode {}: extent tree: {what}", inode.ino));
        // One buffer for the children of this node (a tree is at most 5 deep).
        let mut block = Vec::new();
        if le16(bytes, 0) != EXTENT_MAGIC {
            return Err(bad(format!(
                "magic {:#x}, expected {EXTENT_MAGIC:#x}",
                le16(bytes, 0)
            )));
        }
        let (entries, max, d) = (
            usize::from(le16(bytes, 2)),
            usize::from(le16(bytes, 4)),
            le16(bytes, 6),
        );
        if entries > max || 12 + 12 * max > bytes.len() || d > 5 || depth.is_some_and(|x| x != d) {
            return Err(bad(format!("{entries} of {max} entries at depth {d}")));
        }
        for i in 0..entries {
            let e = &bytes[12 + 12 * i..24 + 12 * i];
            if d == 0 {
                let raw = u64::from(le16(e, 4));
                let (len, unwritten) = if raw > 32768 {
                    (raw - 32768, true)
                } else {
                    (raw, false)
                };
                let physical = u64::from(le16(e, 6)) << 32 | u64::from(le32(e, 8));
                if physical
                    .checked_add(len)
                    .is_none_or(|end| end > self.blocks)
                {
                    return Err(bad(format!(
                        "blocks {physical}+{len} are past the end of the filesystem ({} blocks)",
                        self.blocks
                    )));
                }
                if out.len() >= MAX_EXTENTS {
                    return Err(Error::Limit {
                        what: format!("extents of inode {}", inode.ino),
                        value: out.len() as u64 + 1,
                        limit: MAX_EXTENTS as u64,
                    });
                }
                if len > 0 {
                    out.push(Extent {
                        logical: u64::from(le32(e, 0)),
                        len,
                        physical,
                        unwritten,
                    });
                }
            } else {
                let child = u64::from(le16(e, 8)) << 32 | u64::from(le32(e, 4));
                *blocks += 1;
                if *blocks > MAX_TREE_BLOCKS {
                    return Err(bad(format!("more than {MAX_TREE_BLOCKS} blocks")));
                }
                block.resize(self.block as usize, 0);
                self.read_block(child, &mut block)?;
                if let Some(base) = inode.base {
                    let m = usize::from(le16(&block, 4));
                    let tail = 12 + 12 * m;
                    if tail + 4 > block.len() {
                        return Err(bad(format!("block {child}: {m} entries do not fit")));
                    }
                    let (want, got) = (le32(&block, tail), crc(base, &block[..tail]));
                    if want != got {
                        return Err(bad(format!(
                            "block {child}: checksum {want:#x}, computed {got:#x}"
                        )));
                    }
                }
                self.node(
                    inode,
                    (&block, child * self.block),
                    Some(d - 1),
                    out,
                    blocks,
                )?;
            }
        }
        Ok(())
    }

    /// The entries of directory `dir` (`.` and `..` left out), each with its inode number and
    /// the file type the entry records. `None` where this path does not read the directory.
    pub(crate) fn entries(&self, dir: &Inode, shown: &str) -> Result<Option<Vec<Named>>> {
        if dir.kind() != FileType::Dir || !dir.by_extents() {
            return Ok(None);
        }
        let bs = self.block as usize;
        let count = dir.size.div_ceil(self.block);
        let mut out = Vec::new();
        let mut buf = vec![0u8; bs];
        for e in self.extents(dir)? {
            if e.unwritten {
                continue;
            }
            for k in 0..e.len {
                let logical = e.logical + k;
                if logical >= count {
                    break;
                }
                self.read_block(e.physical + k, &mut buf)?;
                let at = (e.physical + k) * self.block;
                self.dir_block(dir, logical, &buf, at, shown, &mut out)?;
            }
        }
        Ok(Some(out))
    }

    /// The entries of one directory block.
    fn dir_block(
        &self,
        dir: &Inode,
        logical: u64,
        b: &[u8],
        at: u64,
        shown: &str,
        out: &mut Vec<Named>,
    ) -> Result<()> {
        let bs = b.len();
        // Hash-tree nodes (the first block of an indexed directory, and blocks whose one entry
        // is empty and spans the block) hold no names a listing needs.
        let indexed = dir.flags & INDEX_FL != 0;
        if indexed && (logical == 0 || (le32(b, 0) == 0 && usize::from(le16(b, 4)) == bs)) {
            return Ok(());
        }
        let tail = bs - 12;
        let has_tail = le32(b, tail) == 0
            && le16(b, tail + 4) == 12
            && b[tail + 6] == 0
            && b[tail + 7] == 0xDE;
        let limit = if has_tail { tail } else { bs };
        if let Some(base) = dir.base {
            if !has_tail {
                return Err(corrupt(
                    at,
                    format!("{shown}: directory block {logical} has no checksum"),
                ));
            }
            let (want, got) = (le32(b, bs - 4), crc(base, &b[..tail]));
            if want != got {
                return Err(corrupt(
                    at,
                    format!(
                        "{shown}: directory block {logical}: checksum {want:#x}, computed {got:#x}"
                    ),
                ));
            }
        }
        let mut off = 0usize;
        while off < limit {
            let rec = usize::from(le16(b, off + 4));
            let name_len = usize::from(b.get(off + 6).copied().unwrap_or(0));
            if rec < 12 || rec % 4 != 0 || off + rec > limit || 8 + name_len > rec {
                return Err(corrupt(
                    at + off as u64,
                    format!(
                        "{shown}: directory block {logical}: entry at {off} of length {rec} (name {name_len})"
                    ),
                ));
            }
            let ino = le32(b, off);
            let name = &b[off + 8..off + 8 + name_len];
            if ino != 0 && name != b"." && name != b".." {
                if out.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::Limit {
                        what: format!("entries in directory {shown}"),
                        value: out.len() as u64 + 1,
                        limit: MAX_DIR_ENTRIES as u64,
                    });
                }
                out.push((name.to_vec(), ino));
            }
            off += rec;
        }
        Ok(())
    }

    /// Inode number of `path` (components from the root, no symlinks followed on the way), or
    /// `None` where this path cannot tell (a component it does not read, or one missing: then
    /// `ext4-view` answers, with its own error).
    pub(crate) fn lookup(&self, components: &[&[u8]]) -> Result<Option<u32>> {
        let mut ino = 2;
        for (i, c) in components.iter().enumerate() {
            let dir = self.inode(ino)?;
            let Some(list) = self.entries(&dir, &String::from_utf8_lossy(c))? else {
                return Ok(None);
            };
            let Some((_, child)) = list.into_iter().find(|(n, _)| n.as_slice() == *c) else {
                return Ok(None);
            };
            ino = child;
            if i + 1 < components.len() && self.inode(ino)?.kind() != FileType::Dir {
                return Ok(None);
            }
        }
        Ok(Some(ino))
    }

    /// The listing of directory `ino`, each entry with its stat; `None` where this path does not
    /// read it.
    pub(crate) fn list(&self, ino: u32, shown: &str) -> Result<Option<Vec<Entry>>> {
        let dir = self.inode(ino)?;
        let Some(names) = self.entries(&dir, shown)? else {
            return Ok(None);
        };
        let mut recent = self.recent.borrow_mut();
        names
            .into_iter()
            .map(|(name, ino)| {
                let inode = self.inode(ino)?;
                let stat = inode.stat.clone();
                if inode.kind() == FileType::File {
                    if recent.len() >= RECENT_INODES {
                        recent.clear();
                    }
                    recent.insert(ino, inode);
                }
                Ok(Entry { stat, name })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A reader of regular file `ino`, or `None` where this path does not read it.
    pub(crate) fn open(&self, ino: u32) -> Result<Option<FastFile<'_>>> {
        let recent = self.recent.borrow_mut().remove(&ino);
        let inode = match recent {
            Some(i) => i,
            None => self.inode(ino)?,
        };
        if inode.kind() != FileType::File || !inode.by_extents() {
            return Ok(None);
        }
        Ok(Some(FastFile {
            extents: self.extents(&inode)?,
            fast: self,
            size: inode.size,
            pos: 0,
            ino,
        }))
    }
}

/// A regular file read extent by extent: holes and unwritten extents read as zeros.
pub(crate) struct FastFile<'a> {
    fast: &'a Fast,
    extents: Vec<Extent>,
    size: u64,
    pos: u64,
    ino: u32,
}

impl FileReader for FastFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.fast.block;
        let want = (buf.len() as u64).min(self.size - self.pos);
        let lblk = self.pos / bs;
        let i = self.extents.partition_point(|e| e.logical + e.len <= lblk);
        let n = match self.extents.get(i) {
            Some(e) if e.logical <= lblk => {
                let end = (e.logical + e.len) * bs;
                let n = want.min(end - self.pos) as usize;
                if e.unwritten {
                    buf[..n].fill(0);
                } else {
                    let at = (e.physical + (lblk - e.logical)) * bs + self.pos % bs;
                    self.fast.read(&mut buf[..n], at)?;
                }
                n
            }
            // A hole up to the next extent (or the end).
            next => {
                let end = next.map_or(u64::MAX, |e| e.logical * bs);
                let n = want.min(end - self.pos) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        self.pos = pos;
        Ok(())
    }

    fn ino(&self) -> Option<u64> {
        Some(u64::from(self.ino))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The fast path against `ext4-view` (an independent reader of the same image) and
    //! `debugfs`, on images `mke2fs -d` makes with its defaults (`metadata_csum` on).

    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::Tree;
    use crate::ext4::Ext;

    /// A tree with a directory big enough to be indexed (hash tree), a file of 40 separate
    /// data runs (more extents than the inode holds: a tree of depth 1), a sparse file, an
    /// empty file, a hardlink and a symlink.
    fn image(dir: &Path, extra: &[&str]) -> PathBuf {
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("big")).unwrap();
        for i in 0..2500 {
            std::fs::write(src.join(format!("big/entry-{i:05}")), format!("{i}\n")).unwrap();
        }
        let runs = std::fs::File::create(src.join("runs.bin")).unwrap();
        for i in 0..40u64 {
            use std::os::unix::fs::FileExt;
            runs.write_all_at(&[i as u8 + 1; 5000], i * 64 * 1024)
                .unwrap();
        }
        let sparse = std::fs::File::create(src.join("sparse.bin")).unwrap();
        sparse.set_len(8 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&sparse, b"middle", 4 << 20).unwrap();
        std::fs::write(src.join("empty"), b"").unwrap();
        std::fs::write(src.join("text"), b"some text\n".repeat(1000)).unwrap();
        std::fs::hard_link(src.join("text"), src.join("text-link")).unwrap();
        std::os::unix::fs::symlink("text", src.join("sym")).unwrap();
        let img = testimg::sparse(dir, "fast.img", 64 << 20);
        let mut args = vec!["-q", "-F", "-t", "ext4", "-d", src.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(img.to_str().unwrap());
        testimg::run("mke2fs", &args);
        // mke2fs -d writes directories unindexed; e2fsck -D indexes the big one.
        let st = std::process::Command::new("e2fsck")
            .args(["-f", "-y", "-D", img.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.code().is_some_and(|c| c <= 1), "{st:?}");
        img
    }

    fn view(img: &Path) -> View {
        Arc::new(diskview::FileView::open(img).unwrap())
    }

    fn slow(img: &Path) -> ext4_view::Ext4 {
        ext4_view::Ext4::load_from_path(img).unwrap()
    }

    fn read_fast(f: &Fast, ino: u32) -> Vec<u8> {
        let mut file = f.open(ino).unwrap().expect("read by the fast path");
        let mut out = Vec::new();
        let mut buf = vec![0u8; 7777];
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn compare(img: &Path) {
        let f = Fast::new(&view(img))
            .unwrap()
            .expect("a clean ext4 takes the fast path");
        let e = slow(img);
        for dir in ["/", "/big"] {
            let comps = crate::components(dir.as_bytes());
            let ino = f.lookup(&comps).unwrap().unwrap();
            let mut ours: Vec<_> = f
                .list(ino, dir)
                .unwrap()
                .expect("listed by the fast path")
                .into_iter()
                .map(|x| (x.name, x.stat))
                .collect();
            ours.sort_by(|a, b| a.0.cmp(&b.0));
            let mut theirs = Vec::new();
            for d in e.read_dir(dir).unwrap() {
                let d = d.unwrap();
                let name = d.file_name().as_ref().to_vec();
                if name == b"." || name == b".." {
                    continue;
                }
                let m = d.metadata().unwrap();
                theirs.push((name, m));
            }
            theirs.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(ours.len(), theirs.len(), "{dir}");
            for ((n, st), (m, meta)) in ours.iter().zip(&theirs) {
                assert_eq!(n, m);
                assert_eq!(
                    st.mode,
                    u32::from(meta.mode()),
                    "{}",
                    String::from_utf8_lossy(n)
                );
                assert_eq!(st.size, meta.len());
                assert_eq!((st.uid, st.gid), (Some(meta.uid()), Some(meta.gid())));
                assert_eq!(
                    (st.mtime, st.mtime_nsec),
                    (meta.modified().seconds(), meta.modified().nanoseconds())
                );
                assert_eq!(st.kind == FileType::Dir, meta.is_dir());
                assert_eq!(st.kind == FileType::Symlink, meta.is_symlink());
            }
        }
        for name in ["runs.bin", "sparse.bin", "empty", "text", "big/entry-02499"] {
            let comps = crate::components(name.as_bytes());
            let ino = f.lookup(&comps).unwrap().unwrap();
            assert_eq!(
                read_fast(&f, ino),
                e.read(format!("/{name}").as_str()).unwrap(),
                "{name}"
            );
        }
        // The hardlink is the same inode; the symlink is left to ext4-view.
        let ino = |p: &str| f.lookup(&crate::components(p.as_bytes())).unwrap().unwrap();
        assert_eq!(ino("text"), ino("text-link"));
        assert!(f.open(ino("sym")).unwrap().is_none());
        assert!(f.open(ino("big")).unwrap().is_none());
    }

    #[test]
    fn fast_listings_and_reads_match_ext4_view() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &[]);
        // The tree the test relies on is there: an indexed directory and a deeper extent tree.
        let stat = testimg::run("debugfs", &["-R", "stat /big", img.to_str().unwrap()]);
        assert!(
            stat.contains("Indexed_directory") || stat.contains("Flags: 0x81000"),
            "{stat}"
        );
        let ex = testimg::run("debugfs", &["-R", "ex /runs.bin", img.to_str().unwrap()]);
        assert!(
            ex.lines().any(|l| l.trim_start().starts_with("0/ 1")),
            "{ex}"
        );
        compare(&img);
    }

    #[test]
    fn without_metadata_checksums_and_with_1k_blocks_too() {
        let dir = tempfile::tempdir().unwrap();
        compare(&image(dir.path(), &["-O", "^metadata_csum", "-b", "1024"]));
    }

    #[test]
    fn a_journal_to_replay_leaves_everything_to_ext4_view() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &[]);
        testimg::run(
            "debugfs",
            &["-w", "-R", "feature needs_recovery", img.to_str().unwrap()],
        );
        assert!(Fast::new(&view(&img)).unwrap().is_none());
    }

    /// The inode number of `path` and the byte offset of that inode in an image of 4 KiB
    /// blocks, from debugfs (`stat`, then `imap`: "located at block 1234, offset 0x0b00").
    fn located(img: &Path, path: &str) -> (u32, u64) {
        let p = img.to_str().unwrap();
        let ino: u32 = testimg::run("debugfs", &["-R", &format!("stat {path}"), p])
            .split("Inode: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        let imap = testimg::run("debugfs", &["-R", &format!("imap <{ino}>"), p]);
        let field = |after: &str, end: char| {
            imap.split(after)
                .nth(1)
                .unwrap()
                .split(end)
                .next()
                .unwrap()
                .trim()
                .to_owned()
        };
        let block: u64 = field("located at block ", ',').parse().unwrap();
        let offset = u64::from_str_radix(&field("offset 0x", '\n'), 16).unwrap();
        (ino, block * 4096 + offset)
    }

    #[test]
    fn a_flipped_byte_in_an_inode_is_a_checksum_error() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &["-b", "4096"]);
        let (ino, inode_at) = located(&img, "/text");
        let at = inode_at + 0x10; // the mtime
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&img)
            .unwrap();
        let mut b = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut b, at).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[b[0] ^ 0x40], at).unwrap();
        let f = Fast::new(&view(&img)).unwrap().unwrap();
        let err = f.inode(ino).err().expect("a checksum error").to_string();
        assert!(err.contains(&format!("at byte {inode_at}")), "{err}");
        assert!(err.contains(&format!("inode {ino}: checksum")), "{err}");
        // Through the tree too: `cp` reports the file, never reads it.
        let t = Ext::open(view(&img)).unwrap();
        assert!(t.list(b"/").is_err());
    }

    #[test]
    fn extents_past_the_filesystem_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), &["-O", "^metadata_csum", "-b", "4096"]);
        let (ino, inode_at) = located(&img, "/text");
        // i_block: the extent header (12 bytes), then the first extent; its start_lo at +8.
        let at = inode_at + 0x28 + 12 + 8;
        let file = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &0xFFFF_FF00u32.to_le_bytes(), at).unwrap();
        let f = Fast::new(&view(&img)).unwrap().unwrap();
        let err = f.open(ino).err().expect("refused").to_string();
        assert!(err.contains("past the end of the filesystem"), "{err}");
        // Where: the extent tree in the inode, as debugfs located it.
        assert!(
            err.contains(&format!("at byte {}", inode_at + 0x28)),
            "{err}"
        );
    }
}
