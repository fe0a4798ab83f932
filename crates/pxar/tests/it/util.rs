//! Helpers: the oracle, the reader's listing in the oracle's form, trees from disk.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pbswrite::pxar::{Meta, Node};
use serde_json::{Value, json};

/// The Python oracle's listing of an archive.
pub fn oracle(meta: &[u8], payload: Option<&[u8]>) -> Vec<Value> {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("a.mpxar");
    std::fs::write(&m, meta).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracle/pxar_oracle.py"
    ))
    .arg(&m);
    if let Some(p) = payload {
        let pp = d.path().join("a.ppxar");
        std::fs::write(&pp, p).unwrap();
        cmd.arg(pp);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(b: &[u8]) -> String {
    use std::io::Write;
    // The Python side uses hashlib; here sha256sum, so no hashing crate is needed.
    let mut c = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The reader's walk in the oracle's form.
pub fn listing<R: diskview::ReadAt>(ar: &pxar::Archive<R>) -> Vec<Value> {
    let mut out = Vec::new();
    for ev in ar.walk() {
        let pxar::Event::Entry(e) = ev.unwrap() else {
            continue;
        };
        out.push(entry_json(ar, &e));
    }
    out
}

pub fn entry_json<R: diskview::ReadAt>(ar: &pxar::Archive<R>, e: &pxar::Entry) -> Value {
    let path = String::from_utf8_lossy(&e.path).into_owned();
    let md = &e.metadata;
    let kind = match &e.kind {
        pxar::Kind::Hardlink { target, .. } => {
            return json!({"path": path, "raw": hex(&e.path), "kind": "hardlink", "target": String::from_utf8_lossy(target)});
        }
        pxar::Kind::Directory { .. } => "dir",
        pxar::Kind::File { .. } => "file",
        pxar::Kind::Symlink(_) => "symlink",
        pxar::Kind::BlockDevice { .. } => "blockdev",
        pxar::Kind::CharDevice { .. } => "chardev",
        pxar::Kind::Fifo => "fifo",
        pxar::Kind::Socket => "socket",
    };
    let mut v = json!({
        "path": path, "raw": hex(&e.path), "kind": kind, "mode": md.permissions(), "uid": md.uid, "gid": md.gid,
        "mtime": [md.mtime_secs, md.mtime_nanos],
        "xattrs": md.xattrs.iter().map(|(n, v)| (hex(n), Value::from(hex(v)))).collect::<serde_json::Map<_, _>>(),
    });
    let acl = &md.acl;
    let pairs = |l: &[(u64, u64)]| l.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>();
    if !acl.users.is_empty() {
        v["acl_user"] = json!(pairs(&acl.users));
    }
    if !acl.groups.is_empty() {
        v["acl_group"] = json!(pairs(&acl.groups));
    }
    if !acl.default_users.is_empty() {
        v["acl_default_user"] = json!(pairs(&acl.default_users));
    }
    if !acl.default_groups.is_empty() {
        v["acl_default_group"] = json!(pairs(&acl.default_groups));
    }
    if let Some(g) = acl.group_obj {
        v["acl_group_obj"] = json!([[g]]);
    }
    if let Some(d) = acl.default {
        v["acl_default"] = json!([[d.user_obj, d.group_obj, d.other, d.mask]]);
    }
    if let Some(f) = &md.fcaps {
        v["fcaps"] = json!(hex(f));
    }
    if let Some(p) = md.quota_projid {
        v["quota_projid"] = json!([[p]]);
    }
    match &e.kind {
        pxar::Kind::File { size, .. } => {
            let mut data = vec![0u8; *size as usize];
            let mut off = 0;
            while off < data.len() {
                let n = ar.read_file_at(e, &mut data[off..], off as u64).unwrap();
                assert!(n > 0);
                off += n;
            }
            v["size"] = json!(size);
            v["sha256"] = json!(sha256_hex(&data));
        }
        pxar::Kind::Symlink(t) => v["target"] = json!(String::from_utf8_lossy(t)),
        pxar::Kind::BlockDevice { major, minor } | pxar::Kind::CharDevice { major, minor } => {
            v["device"] = json!([major, minor])
        }
        _ => {}
    }
    v
}

/// A tree on disk as the writer's tree: modes, owners, mtimes, xattrs, link targets, hardlinks
/// (the first path of an inode is the file, later ones link to it, in the writer's name order).
pub fn from_disk(root: &Path) -> Node {
    let mut seen: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    node(root, b"", &mut seen)
}

fn meta_of(p: &Path, m: &std::fs::Metadata) -> Meta {
    let mut meta = Meta {
        mode: m.mode() as u64,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec() as u32),
        ..Meta::default()
    };
    // `llistxattr` and `lgetxattr` read a symlink's own.
    let mut names = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(p, &mut names).unwrap_or(0);
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut val = vec![0u8; 65536];
        let k = rustix::fs::lgetxattr(p, name, &mut val).unwrap();
        let val = val[..k].to_vec();
        // ACLs are xattrs on disk and ACL items in pxar, as a pxar encoder makes them.
        match name {
            b"system.posix_acl_access" => acl_items(&val, &mut meta, false),
            b"system.posix_acl_default" => acl_items(&val, &mut meta, true),
            _ => meta.xattrs.push((name.to_vec(), val)),
        }
    }
    meta.xattrs.sort();
    meta
}

/// Linux's ACL xattr (`posix_acl_xattr.h`: version 2, then {tag u16, perm u16, id u32}) as pxar
/// ACL items (spec §7).
fn acl_items(raw: &[u8], meta: &mut Meta, default: bool) {
    assert_eq!(raw[..4], 2u32.to_le_bytes());
    let mut base = [0u64, 0, 0, u64::MAX];
    for e in raw[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]) as u64;
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]) as u64;
        match (tag, default) {
            (0x01, _) => base[0] = perm,
            (0x04, false) => meta.acl_group_obj = Some(perm),
            (0x04, true) => base[1] = perm,
            (0x20, _) => base[2] = perm,
            (0x10, _) => base[3] = perm,
            (0x02, false) => meta.acl_users.push((id, perm)),
            (0x08, false) => meta.acl_groups.push((id, perm)),
            (0x02, true) => meta.acl_default_users.push((id, perm)),
            (0x08, true) => meta.acl_default_groups.push((id, perm)),
            other => panic!("ACL tag {other:?}"),
        }
    }
    if default {
        meta.acl_default = Some(base);
    }
}

fn node(p: &Path, rel: &[u8], seen: &mut HashMap<(u64, u64), Vec<u8>>) -> Node {
    let m = std::fs::symlink_metadata(p).unwrap();
    let ft = m.file_type();
    let meta = meta_of(p, &m);
    if ft.is_dir() {
        let mut kids: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        kids.sort();
        let kids = kids
            .into_iter()
            .map(|n| {
                let mut r = rel.to_vec();
                if !r.is_empty() {
                    r.push(b'/');
                }
                r.extend_from_slice(n.as_bytes());
                let kid = node(&p.join(&n), &r, seen);
                (n.as_bytes().to_vec(), kid)
            })
            .collect();
        return Node::Dir(meta, kids);
    }
    if m.nlink() > 1 {
        if let Some(first) = seen.get(&(m.dev(), m.ino())) {
            return Node::Hardlink(first.clone());
        }
        seen.insert((m.dev(), m.ino()), rel.to_vec());
    }
    if ft.is_file() {
        Node::File(meta, std::fs::read(p).unwrap())
    } else if ft.is_symlink() {
        Node::Symlink(
            meta,
            std::fs::read_link(p)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec(),
        )
    } else if ft.is_block_device() || ft.is_char_device() {
        let r = m.rdev();
        Node::Device(
            meta,
            rustix::fs::major(r) as u64,
            rustix::fs::minor(r) as u64,
        )
    } else {
        let _ = m.permissions().mode();
        Node::Special(meta)
    }
}

/// Runs a Python snippet with the given arguments; panics with its stderr on failure.
pub fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
