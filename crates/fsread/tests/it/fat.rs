//! FAT12/16/32 images made by `mkfs.vfat` and filled by `mcopy`.

use std::path::{Path, PathBuf};

use fsread::{FileType, Tree};

use crate::util::{compare_tree, open, pattern, read_all, set_mtime, walk};

/// A tree with long and unicode names, nesting and (when `large`) a 5 MiB file, with even mtimes
/// (FAT keeps two-second steps).
fn write_tree(root: &Path, large: bool) -> PathBuf {
    let t = root.join("fat-tree");
    let w = |p: &str, data: &[u8]| {
        let p = t.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write");
    };
    w("Program Files/Some App/config.ini", b"[main]\nkey=value\n");
    w("A rather long file name with spaces.txt", b"long\n");
    w(
        "\u{dc}n\u{ef}code caf\u{e9} \u{2603}.txt",
        "ünï\n".as_bytes(),
    );
    w("UPPER.TXT", b"8.3 name\n");
    w("lower.txt", b"lower 8.3 name\n");
    w("Empty Dir/.keep", b"");
    if large {
        w(
            "Users/Alice/Documents/report.bin",
            &pattern(5 << 20 | 77, 11),
        );
    }
    let mut i = 0;
    for e in walk(&t) {
        if e.is_file() {
            set_mtime(&e, 1_600_000_000 + i * 7202);
            i += 1;
        }
    }
    t
}

/// `mkfs.vfat -F BITS` on a new image of `mib` MiB, then `mcopy -s -m` of the tree (in UTC,
/// since FAT times carry no zone).
fn make(dir: &Path, bits: &str, mib: u64, tree: &Path) -> PathBuf {
    let img = testimg::mkfs(
        dir,
        &format!("fat{bits}.img"),
        mib << 20,
        &["mkfs.vfat", "-F", bits, "-n", "RESCUE"],
    );
    let mut args = vec!["-s", "-m", "-i", img.to_str().expect("utf-8")];
    let entries: Vec<String> = std::fs::read_dir(tree)
        .expect("read_dir")
        .map(|e| e.expect("entry").path().to_str().expect("utf-8").to_owned())
        .collect();
    args.extend(entries.iter().map(String::as_str));
    args.push("::/");
    testimg::run_env("mcopy", &args, &[("TZ", "UTC")]);
    img
}

/// Every path in the tree in `mdir -/ -b` form (`::/dir/`, `::/dir/file`).
fn bare_walk(t: &dyn Tree, path: &str, out: &mut Vec<String>) {
    for e in t.list(path.as_bytes()).expect("list") {
        let name = String::from_utf8(e.name).expect("utf-8");
        let p = format!("{path}{name}");
        if e.stat.kind == FileType::Dir {
            out.push(format!("::{p}/"));
            bare_walk(t, &format!("{p}/"), out);
        } else {
            out.push(format!("::{p}"));
        }
    }
}

fn check(bits: &str, mib: u64, large: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = write_tree(dir.path(), large);
    let img = make(dir.path(), bits, mib, &tree);
    let t = open(&img);
    assert_eq!(t.kind(), fsread::Kind::Fat);
    assert_eq!(t.label().as_deref(), Some("RESCUE"));
    compare_tree(&*t, "/", &tree, false);
    // Listings agree with mtools' own.
    let mut ours = Vec::new();
    bare_walk(&*t, "/", &mut ours);
    ours.sort();
    let mdir = testimg::run(
        "mdir",
        &["-/", "-b", "-i", img.to_str().expect("utf-8"), "::/"],
    );
    let mut theirs: Vec<String> = mdir.lines().map(str::to_owned).collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    // Content agrees with mtype, names are found case-insensitively as on FAT.
    let via_mtype = testimg::run(
        "mtype",
        &[
            "-i",
            img.to_str().expect("utf-8"),
            "::/Program Files/Some App/config.ini",
        ],
    );
    assert_eq!(
        read_all(&*t, "/program files/SOME APP/Config.INI"),
        via_mtype.as_bytes()
    );
    // mtimes as written, read as UTC.
    for p in walk(&tree).into_iter().filter(|p| p.is_file()) {
        let rel = p
            .strip_prefix(&tree)
            .expect("prefix")
            .to_str()
            .expect("utf-8");
        let st = t.stat(rel.as_bytes()).expect("stat");
        let want = std::os::unix::fs::MetadataExt::mtime(&std::fs::metadata(&p).expect("meta"));
        assert_eq!(st.mtime, want, "{rel}");
        assert_eq!((st.uid, st.ino), (None, None));
    }
}

#[test]
fn fat32_long_names_nesting_and_a_large_file() {
    check("32", 64, true);
}

#[test]
fn fat16_reads() {
    check("16", 32, true);
}

#[test]
fn fat12_reads() {
    check("12", 4, false);
}
