//! Trees made on disk by Python, archived by the test writer, extracted, and compared with the
//! source by a Python script (lstat, contents, link targets, xattrs, hardlink sharing) and by
//! `getfacl` (ACLs).

use std::path::Path;
use std::process::Command;

use pbswrite::pxar::Split;
use pxar::Archive;

/// Makes the source tree (as root: owners, a device; a socket, a fifo, ACLs, xattrs, sparse).
const MAKE: &str = r##"
import os, socket, subprocess, sys
r = sys.argv[1]
os.mkdir(r, 0o750)
def w(p, data, mode=0o644):
    with open(os.path.join(r, p), "wb") as f: f.write(data)
    os.chmod(os.path.join(r, p), mode)
w("a.txt", b"alpha\n")
w("suid", b"#!/bin/sh\n", 0o4755)
w("empty", b"")
with open(os.path.join(r, "sparse"), "wb") as f:
    f.write(b"head"); f.seek(3 << 20); f.write(b"tail")
os.mkdir(os.path.join(r, "tmp")); os.chmod(os.path.join(r, "tmp"), 0o1777)
os.mkdir(os.path.join(r, "sub")); os.mkdir(os.path.join(r, "sub/deeper"))
w("sub/deeper/f", b"deep\n", 0o600)
os.link(os.path.join(r, "a.txt"), os.path.join(r, "sub/hard"))
os.symlink("a.txt", os.path.join(r, "rel-link"))
os.symlink("/nonexistent/outside", os.path.join(r, "dangling"))
os.mkfifo(os.path.join(r, "fifo"), 0o640)
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(r, "sock")); s.close()
os.mknod(os.path.join(r, "null"), 0o666 | 0o020000, os.makedev(1, 3))
os.chown(os.path.join(r, "sub/deeper/f"), 1234, 5678)
os.chown(os.path.join(r, "rel-link"), 4321, 8765, follow_symlinks=False)
os.setxattr(os.path.join(r, "a.txt"), "user.note", b"\x00binary\xff")
os.setxattr(os.path.join(r, "sub"), "user.dir", b"yes")
os.setxattr(os.path.join(r, "rel-link"), "trusted.link", b"on a symlink", follow_symlinks=False)
os.setxattr(os.path.join(r, "fifo"), "trusted.fifo", b"on a fifo")
subprocess.run(["setfacl", "-m", "u:1007:r--", os.path.join(r, "fifo")], check=True)
subprocess.run(["setfacl", "-m", "u:1001:rwx,g:2002:r-x", os.path.join(r, "sub")], check=True)
subprocess.run(["setfacl", "-d", "-m", "u:1003:rw-,g::r-x,o::---", os.path.join(r, "sub")], check=True)
subprocess.run(["setfacl", "-m", "u:1005:r--", os.path.join(r, "empty")], check=True)
ns = 1_600_000_000_123_456_789
for dp, dns, fns in os.walk(r, topdown=False):
    for n in fns + dns:
        ns += 1_000_000_007
        os.utime(os.path.join(dp, n), ns=(ns, ns), follow_symlinks=False)
os.utime(r, ns=(ns + 5, ns + 5))
"##;

/// Describes a tree: one line per entry, sorted, and hardlink groups.
const DUMP: &str = r##"
import hashlib, json, os, stat, sys
r = sys.argv[1]
out, inodes = [], {}
for dp, dns, fns in os.walk(r):
    for n in sorted(dns + fns) + ([""] if dp == r else []):
        p = os.path.join(dp, n) if n else dp
        rel = os.path.relpath(p, r)
        st = os.lstat(p)
        d = {"path": rel, "mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
             "mtime_ns": st.st_mtime_ns}
        if stat.S_ISREG(st.st_mode):
            d["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
            d["size"] = st.st_size
            inodes.setdefault(st.st_ino, []).append(rel)
        if stat.S_ISLNK(st.st_mode):
            d["target"] = os.readlink(p)
        d["xattrs"] = {a: os.getxattr(p, a, follow_symlinks=False).hex()
                       for a in sorted(os.listxattr(p, follow_symlinks=False))
                       if not a.startswith("system.posix_acl")}
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            d["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
        out.append(d)
out.sort(key=lambda d: d["path"])
links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
print(json.dumps({"entries": out, "hardlinks": links}, indent=1))
"##;

fn getfacl(dir: &Path) -> String {
    let out = Command::new("getfacl")
        .args(["-R", "-p", "-n", "."])
        .current_dir(dir)
        .output()
        .expect("getfacl (package acl) runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn make_tree(at: &Path) {
    crate::util::python(MAKE, &[at]);
}

fn check_same(src: &Path, dst: &Path) {
    let a = crate::util::python(DUMP, &[src]);
    let b = crate::util::python(DUMP, &[dst]);
    assert_eq!(a, b);
    assert!(a.contains("\"sub/hard\""), "{a}");
    assert_eq!(getfacl(src), getfacl(dst));
    assert!(getfacl(dst).contains("user:1001:rwx"));
    assert!(getfacl(dst).contains("user:1007:r--"), "{}", getfacl(dst));
    assert!(
        a.contains(&format!("\"trusted.link\": \"{}\"", hex(b"on a symlink"))),
        "{a}"
    );
}

fn only_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    testimg::skip(test, "needs root (owners, devices)");
    false
}

#[test]
fn a_tree_made_on_disk_comes_back_the_same_from_a_unified_archive() {
    if !only_root("a_tree_made_on_disk_comes_back_the_same_from_a_unified_archive") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    make_tree(&src);
    let bytes = pbswrite::pxar::unified(&crate::util::from_disk(&src));
    let ar = Archive::open(bytes, None, "tree.pxar").unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let r = pxar::extract::extract(
        &ar,
        &out,
        "tree".as_ref(),
        &pxar::extract::Options::for_this_process(),
        &mut (),
    )
    .unwrap();
    check_same(&src, &out.join("tree"));
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert!(r.not_applied.is_empty(), "{:?}", r.not_applied);
    assert_eq!((r.files, r.hardlinks, r.symlinks, r.specials), (5, 1, 2, 3));
    // The 3 MiB hole stays a hole.
    assert!(r.sparse_bytes >= (3 << 20) - 8192, "{}", r.sparse_bytes);
    let blocks = std::os::unix::fs::MetadataExt::blocks(
        &std::fs::metadata(out.join("tree/sparse")).unwrap(),
    );
    assert!(blocks * 512 < 1 << 20, "{blocks} blocks");
    // Only the published tree is there.
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["tree"]);
    // Never replaced: a second extraction refuses.
    let e = pxar::extract::extract(
        &ar,
        &out,
        "tree".as_ref(),
        &pxar::extract::Options::default(),
        &mut (),
    )
    .unwrap_err();
    assert!(matches!(e, pxar::Error::TargetExists { .. }), "{e}");
}

#[test]
fn a_split_archive_extracts_the_same_tree_and_a_sub_path() {
    if !only_root("a_split_archive_extracts_the_same_tree_and_a_sub_path") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    make_tree(&src);
    let how = Split {
        padding: 7,
        quirk_sizes: true,
        ..Split::default()
    };
    let (meta, payload) = pbswrite::pxar::split(&crate::util::from_disk(&src), &how);
    let ar = Archive::open(meta, Some(payload), "tree.mpxar").unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let opts = pxar::extract::Options::for_this_process();
    pxar::extract::extract(&ar, &out, "tree".as_ref(), &opts, &mut ()).unwrap();
    check_same(&src, &out.join("tree"));
    // A sub-tree: `sub` becomes the new directory's root; its hardlink target is outside it.
    let sub = pxar::extract::Options {
        sub_path: Some(b"sub".to_vec()),
        ..opts
    };
    let r = pxar::extract::extract(&ar, &out, "sub".as_ref(), &sub, &mut ()).unwrap();
    let a = crate::util::python(DUMP, &[&src.join("sub/deeper")]);
    let b = crate::util::python(DUMP, &[&out.join("sub/deeper")]);
    assert_eq!(a, b);
    assert_eq!(r.damaged.len(), 1, "{:?}", r.damaged);
    assert_eq!(r.damaged[0].path, "sub/hard");
    assert!(!out.join("sub/hard").exists());
}
