//! Test-only: a pxar writer, from `shared/specs/pbs.md` §7 (never from the `pxar` crate's
//! reader): unified archives (v1) and split archives (a `.mpxar` metadata stream and a `.ppxar`
//! payload stream), with every entry kind, xattrs, ACLs, fcaps, quota project ids and goodbye
//! tables. Its own SipHash-2-4, its own type constants (copied from the spec's table). An
//! independent Python reader (`crates/pxar/tests/oracle/pxar_oracle.py`) checks what it writes.

use std::collections::HashMap;

/// Type constants, from the spec's table.
pub mod t {
    pub const FORMAT_VERSION: u64 = 0x730f6c75df16a40d;
    pub const PRELUDE: u64 = 0xe309d79d9f7b771b;
    pub const ENTRY: u64 = 0xd5956474e588acef;
    pub const FILENAME: u64 = 0x16701121063917b3;
    pub const SYMLINK: u64 = 0x27f971e7dbf5dc5f;
    pub const HARDLINK: u64 = 0x51269c8422bd7275;
    pub const DEVICE: u64 = 0x9fc9e906586d5ce9;
    pub const XATTR: u64 = 0x0dab0229b57dcd03;
    pub const ACL_USER: u64 = 0x2ce8540a457d55b8;
    pub const ACL_DEFAULT_USER: u64 = 0xc89357b40532cd1f;
    pub const ACL_GROUP: u64 = 0x136e3eceb04c03ab;
    pub const ACL_DEFAULT_GROUP: u64 = 0xf90a8a5816038ffe;
    pub const ACL_GROUP_OBJ: u64 = 0x10868031e9582876;
    pub const ACL_DEFAULT: u64 = 0xbbbb13415a6896f5;
    pub const FCAPS: u64 = 0x2da9dd9db5f7fb67;
    pub const QUOTA_PROJID: u64 = 0xe07540e82f7d1cbb;
    pub const PAYLOAD: u64 = 0x28147a1b0b7c1a25;
    pub const PAYLOAD_REF: u64 = 0x419d3d6bc4ba977e;
    pub const GOODBYE: u64 = 0x2fec4fa642d5731d;
    pub const GOODBYE_TAIL_MARKER: u64 = 0xef5eed5b753e1555;
    pub const PAYLOAD_START_MARKER: u64 = 0x834c68c2194a4ed2;
    pub const PAYLOAD_TAIL_MARKER: u64 = 0x6c72b78b984c81b5;
}

/// SipHash-2-4 keys of the spec.
pub const K0: u64 = 0x83ac3f1cfbb450db;
pub const K1: u64 = 0xaa4f1b6879369fbd;

/// SipHash-2-4 (Aumasson and Bernstein), written out.
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f6d6570736575,
        k1 ^ 0x646f72616e646f6d,
        k0 ^ 0x6c7967656e657261,
        k1 ^ 0x7465646279746573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        compress(&mut v, u64::from_le_bytes(c.try_into().unwrap()));
    }
    let mut last = (data.len() as u64) << 56;
    for (i, b) in chunks.remainder().iter().enumerate() {
        last |= (*b as u64) << (8 * i);
    }
    compress(&mut v, last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

pub fn name_hash(name: &[u8]) -> u64 {
    siphash24(K0, K1, name)
}

/// Metadata of an entry.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// st_mode including the type bits.
    pub mode: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, u32),
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub acl_users: Vec<(u64, u64)>,
    pub acl_groups: Vec<(u64, u64)>,
    pub acl_group_obj: Option<u64>,
    /// user_obj, group_obj, other, mask.
    pub acl_default: Option<[u64; 4]>,
    pub acl_default_users: Vec<(u64, u64)>,
    pub acl_default_groups: Vec<(u64, u64)>,
    pub fcaps: Option<Vec<u8>>,
    pub projid: Option<u64>,
}

impl Meta {
    pub fn mode(mode: u64) -> Meta {
        Meta {
            mode,
            mtime: (1_700_000_000, 123_456_789),
            ..Meta::default()
        }
    }
}

/// A tree to archive.
#[derive(Clone, Debug)]
pub enum Node {
    Dir(Meta, Vec<(Vec<u8>, Node)>),
    File(Meta, Vec<u8>),
    Symlink(Meta, Vec<u8>),
    /// Target path from the root.
    Hardlink(Vec<u8>),
    Device(Meta, u64, u64),
    /// A fifo or a socket (by the mode).
    Special(Meta),
}

/// How a split archive is written.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// Unreferenced bytes written after every payload.
    pub padding: usize,
    /// Files (path) whose PAYLOAD_REF points at the payload of another, earlier file (path),
    /// as old metadata-mode clients wrote after a dedup collision.
    pub reuse: Vec<(Vec<u8>, Vec<u8>)>,
    /// The goodbye size of freshly encoded files counts their payload too (spec §7 quirk 2).
    pub quirk_sizes: bool,
    /// A PRELUDE item.
    pub prelude: Option<Vec<u8>>,
}

fn item(out: &mut Vec<u8>, ty: u64, content: &[u8]) {
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(16 + content.len() as u64).to_le_bytes());
    out.extend_from_slice(content);
}

fn u64s(vals: &[u64]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn cstr(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v.push(0);
    v
}

struct W<'a> {
    out: Vec<u8>,
    /// Payload stream (split archives).
    payload: Option<Vec<u8>>,
    split: &'a Split,
    /// FILENAME offsets of written entries, by path.
    at: HashMap<Vec<u8>, u64>,
    /// Payload offsets of written files, by path.
    payload_at: HashMap<Vec<u8>, (u64, u64)>,
}

impl W<'_> {
    fn meta(&mut self, m: &Meta) {
        let mut e = Vec::new();
        e.extend_from_slice(&m.mode.to_le_bytes());
        e.extend_from_slice(&0u64.to_le_bytes());
        e.extend_from_slice(&m.uid.to_le_bytes());
        e.extend_from_slice(&m.gid.to_le_bytes());
        e.extend_from_slice(&m.mtime.0.to_le_bytes());
        e.extend_from_slice(&m.mtime.1.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        item(&mut self.out, t::ENTRY, &e);
        for (n, v) in &m.xattrs {
            let mut c = cstr(n);
            c.extend_from_slice(v);
            item(&mut self.out, t::XATTR, &c);
        }
        for (id, p) in &m.acl_users {
            item(&mut self.out, t::ACL_USER, &u64s(&[*id, *p]));
        }
        for (id, p) in &m.acl_groups {
            item(&mut self.out, t::ACL_GROUP, &u64s(&[*id, *p]));
        }
        if let Some(p) = m.acl_group_obj {
            item(&mut self.out, t::ACL_GROUP_OBJ, &u64s(&[p]));
        }
        if let Some(d) = m.acl_default {
            item(&mut self.out, t::ACL_DEFAULT, &u64s(&d));
        }
        for (id, p) in &m.acl_default_users {
            item(&mut self.out, t::ACL_DEFAULT_USER, &u64s(&[*id, *p]));
        }
        for (id, p) in &m.acl_default_groups {
            item(&mut self.out, t::ACL_DEFAULT_GROUP, &u64s(&[*id, *p]));
        }
        if let Some(f) = &m.fcaps {
            item(&mut self.out, t::FCAPS, f);
        }
        if let Some(p) = m.projid {
            item(&mut self.out, t::QUOTA_PROJID, &u64s(&[p]));
        }
    }

    /// Writes a node (after its FILENAME); returns the size the goodbye item gets beyond the
    /// real extent (the quirk).
    fn node(&mut self, path: &[u8], n: &Node, root_tail_to_zero: bool) -> u64 {
        match n {
            Node::Dir(m, kids) => {
                let entry_at = self.out.len() as u64;
                self.meta(m);
                let mut kids: Vec<&(Vec<u8>, Node)> = kids.iter().collect();
                kids.sort_by(|a, b| a.0.cmp(&b.0));
                let mut items = Vec::new();
                for (name, kid) in kids {
                    let mut p = path.to_vec();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(name);
                    let fpos = self.out.len() as u64;
                    item(&mut self.out, t::FILENAME, &cstr(name));
                    self.at.insert(p.clone(), fpos);
                    let extra = if let Node::Hardlink(target) = kid {
                        // An unknown target (hostile tests) points at offset 0.
                        let tpos = self.at.get(target).copied().unwrap_or(0);
                        let mut c = (fpos - tpos).to_le_bytes().to_vec();
                        c.extend_from_slice(&cstr(target));
                        item(&mut self.out, t::HARDLINK, &c);
                        0
                    } else {
                        self.node(&p, kid, false)
                    };
                    items.push((name_hash(name), fpos, self.out.len() as u64 - fpos + extra));
                }
                let gpos = self.out.len() as u64;
                items.sort_by_key(|i| i.0);
                let mut tree = vec![(0u64, 0u64, 0u64); items.len()];
                let mut sorted = items.iter();
                fill(&mut tree, 0, &mut sorted);
                let mut c = Vec::new();
                for (h, fpos, size) in tree {
                    c.extend_from_slice(&u64s(&[h, gpos - fpos, size]));
                }
                let back = if root_tail_to_zero {
                    gpos
                } else {
                    gpos - entry_at
                };
                let total = 16 + 24 * (items.len() as u64 + 1);
                c.extend_from_slice(&u64s(&[t::GOODBYE_TAIL_MARKER, back, total]));
                item(&mut self.out, t::GOODBYE, &c);
                0
            }
            Node::File(m, data) => {
                self.meta(m);
                match &mut self.payload {
                    None => {
                        item(&mut self.out, t::PAYLOAD, data);
                        0
                    }
                    Some(pay) => {
                        let reused = self
                            .split
                            .reuse
                            .iter()
                            .find(|(p, _)| p == path)
                            .map(|(_, from)| self.payload_at[from]);
                        let (off, size) = match reused {
                            Some(r) => r,
                            None => {
                                let off = pay.len() as u64;
                                item(pay, t::PAYLOAD, data);
                                pay.extend(std::iter::repeat_n(0xeeu8, self.split.padding));
                                (off, data.len() as u64)
                            }
                        };
                        self.payload_at.insert(path.to_vec(), (off, size));
                        item(&mut self.out, t::PAYLOAD_REF, &u64s(&[off, size]));
                        if self.split.quirk_sizes && reused.is_none() {
                            size
                        } else {
                            0
                        }
                    }
                }
            }
            Node::Symlink(m, target) => {
                self.meta(m);
                item(&mut self.out, t::SYMLINK, &cstr(target));
                0
            }
            Node::Device(m, major, minor) => {
                self.meta(m);
                item(&mut self.out, t::DEVICE, &u64s(&[*major, *minor]));
                0
            }
            Node::Special(m) => {
                self.meta(m);
                0
            }
            Node::Hardlink(_) => panic!("a hardlink needs a FILENAME"),
        }
    }
}

/// Fills the array tree (children of i at 2i+1, 2i+2) in order with the sorted items: a binary
/// search tree whose shape is the complete tree of n nodes.
fn fill<'a, I: Iterator<Item = &'a (u64, u64, u64)>>(
    tree: &mut [(u64, u64, u64)],
    i: usize,
    sorted: &mut I,
) {
    if i >= tree.len() {
        return;
    }
    fill(tree, 2 * i + 1, sorted);
    tree[i] = *sorted.next().unwrap();
    fill(tree, 2 * i + 2, sorted);
}

/// A unified archive (v1) of `root` (a directory).
pub fn unified(root: &Node) -> Vec<u8> {
    let split = Split::default();
    let mut w = W {
        out: Vec::new(),
        payload: None,
        split: &split,
        at: HashMap::new(),
        payload_at: HashMap::new(),
    };
    w.node(b"", root, false);
    w.out
}

/// A split archive of `root`: (metadata stream, payload stream).
pub fn split(root: &Node, how: &Split) -> (Vec<u8>, Vec<u8>) {
    let mut pay = Vec::new();
    item(&mut pay, t::PAYLOAD_START_MARKER, &[]);
    let mut w = W {
        out: Vec::new(),
        payload: Some(pay),
        split: how,
        at: HashMap::new(),
        payload_at: HashMap::new(),
    };
    item(&mut w.out, t::FORMAT_VERSION, &2u64.to_le_bytes());
    if let Some(p) = &how.prelude {
        item(&mut w.out, t::PRELUDE, p);
    }
    w.node(b"", root, true);
    let mut pay = w.payload.take().unwrap();
    item(&mut pay, t::PAYLOAD_TAIL_MARKER, &[]);
    (w.out, pay)
}

/// Every kind, xattrs, ACLs, fcaps, project id, setuid/sticky modes, a non-UTF-8 name, a 3 MiB
/// file with a hole in the middle.
pub fn sample_tree() -> Node {
    let mut big = vec![0x5au8; 3 << 20];
    big[(1 << 20)..(2 << 20)].fill(0);
    let mut f = Meta::mode(0o100644);
    f.uid = 1000;
    f.gid = 100;
    f.xattrs = vec![(b"user.comment".to_vec(), b"hello".to_vec())];
    let mut suid = Meta::mode(0o104755);
    suid.fcaps = Some(vec![
        1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    suid.projid = Some(42);
    let mut acl_dir = Meta::mode(0o042775);
    acl_dir.acl_users = vec![(1001, 7)];
    acl_dir.acl_groups = vec![(2001, 5)];
    acl_dir.acl_group_obj = Some(5);
    acl_dir.acl_default = Some([7, 5, 0, 7]);
    acl_dir.acl_default_users = vec![(1002, 6)];
    acl_dir.acl_default_groups = vec![(2002, 4)];
    Node::Dir(
        Meta::mode(0o040755),
        vec![
            (b"big".to_vec(), Node::File(Meta::mode(0o100600), big)),
            (
                b"empty".to_vec(),
                Node::File(Meta::mode(0o100644), Vec::new()),
            ),
            (b"text".to_vec(), Node::File(f, b"some text\n".to_vec())),
            (b"suid".to_vec(), Node::File(suid, b"#!/bin/sh\n".to_vec())),
            (b"x-link".to_vec(), Node::Hardlink(b"sub/inner".to_vec())),
            (
                b"sub".to_vec(),
                Node::Dir(
                    acl_dir,
                    vec![
                        (
                            b"inner".to_vec(),
                            Node::File(Meta::mode(0o100640), b"inner\n".to_vec()),
                        ),
                        (
                            b"\xff\xfename".to_vec(),
                            Node::File(Meta::mode(0o100644), b"x".to_vec()),
                        ),
                    ],
                ),
            ),
            (b"tmp".to_vec(), Node::Dir(Meta::mode(0o041777), Vec::new())),
            (
                b"sym".to_vec(),
                Node::Symlink(Meta::mode(0o120777), b"../etc/passwd".to_vec()),
            ),
            (b"sda".to_vec(), Node::Device(Meta::mode(0o060660), 8, 0)),
            (b"null".to_vec(), Node::Device(Meta::mode(0o020666), 1, 3)),
            (b"fifo".to_vec(), Node::Special(Meta::mode(0o010644))),
            (b"sock".to_vec(), Node::Special(Meta::mode(0o140755))),
        ],
    )
}

/// The tree of the spec's worked example (§7): `a.txt` ("hello\n"), `b.txt` a hardlink to it,
/// `d/` holding `e` ("1234567"), and `l` a symlink to `a.txt`; the offsets in the spec follow.
pub fn spec_example_tree() -> Node {
    let f = Meta::mode(0o100644);
    Node::Dir(
        Meta::mode(0o040755),
        vec![
            (
                b"a.txt".to_vec(),
                Node::File(f.clone(), b"hello\n".to_vec()),
            ),
            (b"b.txt".to_vec(), Node::Hardlink(b"a.txt".to_vec())),
            (
                b"d".to_vec(),
                Node::Dir(
                    Meta::mode(0o040755),
                    vec![(b"e".to_vec(), Node::File(f, b"1234567".to_vec()))],
                ),
            ),
            (
                b"l".to_vec(),
                Node::Symlink(Meta::mode(0o120777), b"a.txt".to_vec()),
            ),
        ],
    )
}

/// The worked example as a unified archive.
pub fn spec_example() -> Vec<u8> {
    unified(&spec_example_tree())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SipHash-2-4 against the reference paper's test vector (key 00..0f, message 00..0e).
    #[test]
    fn siphash_matches_the_paper() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let m: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &m), 0xa129ca6149be45e5);
        // A type constant of the spec is the hash of its label.
        assert_eq!(name_hash(b"__PROXMOX_FORMAT_FILENAME__"), t::FILENAME);
    }

    /// The offsets of the spec's worked example.
    #[test]
    fn the_worked_example_has_the_spec_offsets() {
        let b = spec_example();
        let at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert_eq!(at(0), t::ENTRY);
        assert_eq!(at(8), 56);
        assert_eq!(at(56), t::FILENAME);
        assert_eq!(at(78), t::ENTRY);
        assert_eq!((at(134), at(142)), (t::PAYLOAD, 22));
        assert_eq!(at(156), t::FILENAME);
        assert_eq!((at(178), at(194)), (t::HARDLINK, 100));
        assert_eq!(at(208), t::FILENAME);
        assert_eq!(at(226), t::ENTRY);
        assert_eq!(at(379), t::GOODBYE);
        // d's tail: offset 153 back to its ENTRY.
        let d_end = 379 + at(387) as usize;
        assert_eq!(at(d_end - 16), 153);
        assert_eq!((at(539), at(547)), (t::GOODBYE, 136));
        assert_eq!(b.len(), 539 + 136);
        assert_eq!(at(b.len() - 16), 539);
        let item = (0..4)
            .map(|i| 555 + 24 * i)
            .find(|&o| at(o) == name_hash(b"a.txt"))
            .unwrap();
        assert_eq!((at(item + 8), at(item + 16)), (483, 100));
    }
}
