//! Shared helpers.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fsread::{FileType, Tree};

/// Opens the filesystem image at `path`.
pub fn open(path: &Path) -> Box<dyn Tree> {
    let view = diskview::FileView::open(path).expect("open image");
    fsread::open(Arc::new(view)).expect("open filesystem")
}

/// The whole content of `path` in the tree, read in odd-sized pieces.
pub fn read_all(t: &dyn Tree, path: &str) -> Vec<u8> {
    let mut f = t.open(path.as_bytes()).expect("open file");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 100_003];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Sorted names of a directory in the tree.
pub fn names(t: &dyn Tree, path: &str) -> Vec<String> {
    let mut v: Vec<String> = t
        .list(path.as_bytes())
        .expect("list")
        .into_iter()
        .map(|e| String::from_utf8(e.name).expect("utf-8 name"))
        .collect();
    v.sort();
    v
}

/// Sorted names of a directory on the host.
pub fn host_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    v.sort();
    v
}

/// Compares every file, directory and link under `host` with `tree_path` in the tree: names,
/// types, sizes, content, link targets and (when `unix`) mode, owner and mtime.
pub fn compare_tree(t: &dyn Tree, tree_path: &str, host: &Path, unix: bool) {
    // mke2fs adds lost+found at the root.
    let mut ours = names(t, tree_path);
    ours.retain(|n| !(tree_path == "/" && n == "lost+found"));
    assert_eq!(ours, host_names(host), "names in {tree_path}");
    for e in t.list(tree_path.as_bytes()).expect("list") {
        let name = String::from_utf8(e.name).expect("utf-8");
        if tree_path == "/" && name == "lost+found" {
            continue;
        }
        let hp = host.join(&name);
        let tp = format!("{}/{name}", tree_path.trim_end_matches('/'));
        let m = std::fs::symlink_metadata(&hp).expect("host metadata");
        let want = if m.is_dir() {
            FileType::Dir
        } else if m.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::File
        };
        assert_eq!(e.stat.kind, want, "{tp}");
        if unix {
            assert_eq!(e.stat.mode, m.mode() & 0o7777, "mode of {tp}");
            assert_eq!(e.stat.uid, Some(m.uid()), "uid of {tp}");
            assert_eq!(e.stat.gid, Some(m.gid()), "gid of {tp}");
            assert_eq!(e.stat.mtime, m.mtime(), "mtime of {tp}");
        }
        match want {
            FileType::Dir => compare_tree(t, &tp, &hp, unix),
            FileType::Symlink => assert_eq!(
                t.read_link(tp.as_bytes()).expect("read_link"),
                std::fs::read_link(&hp)
                    .expect("host link")
                    .into_os_string()
                    .into_encoded_bytes(),
                "{tp}"
            ),
            _ => {
                assert_eq!(e.stat.size, m.len(), "size of {tp}");
                assert!(
                    read_all(t, &tp) == std::fs::read(&hp).expect("host file"),
                    "content of {tp}"
                );
            }
        }
    }
}

/// Bytes that do not repeat in any short period (so that a misplaced block shows).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sets the mtime of `path` (not following a symlink) with `touch -h -d @SECS`.
pub fn set_mtime(path: &Path, secs: i64) {
    testimg::run(
        "touch",
        &[
            "-h",
            "-d",
            &format!("@{secs}"),
            path.to_str().expect("utf-8"),
        ],
    );
}

/// `p` and everything under it, parents before children, in name order.
pub fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        v.sort();
        for c in v {
            out.extend(walk(&c));
        }
    }
    out
}
