//! `ls`, `cp` and `cat` (issue 15) on disks whose filesystems the real tools made: a GPT image
//! with FAT and ext4, the same disk inside a `.vma.zst`, an LVM volume, a PBS snapshot, and a
//! hostile image. Expected values come from the trees the tests wrote, never from pverescue.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use testimg::{MIB, mkfs, run_env, sfdisk_json, sparse, write_at};

use crate::partitions::s;
use crate::util::{allocated, run, run_cmd, tempdir};

/// The ext4 tree: config files, a setuid binary, a sticky directory, symlinks, a hardlink, a
/// sparse file, a unicode name, owners (when root) and fixed mtimes.
fn ext4_tree(dir: &Path) -> PathBuf {
    let t = dir.join("rootfs");
    let w = |p: &str, data: &[u8]| {
        let p = t.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    w("etc/nginx/nginx.conf", b"worker_processes 4;\n");
    w("etc/nginx/sites/default", b"server { listen 80; }\n");
    w(
        "home/alice/db.sql",
        &b"INSERT INTO t VALUES (1);\n".repeat(5000),
    );
    w("usr/bin/passwd", b"\x7fELF not really\n");
    std::fs::set_permissions(t.join("usr/bin/passwd"), PermissionsExt::from_mode(0o4755))
        .expect("chmod");
    std::fs::create_dir_all(t.join("tmp")).expect("mkdir");
    std::fs::set_permissions(t.join("tmp"), PermissionsExt::from_mode(0o1777)).expect("chmod");
    symlink("nginx/nginx.conf", t.join("etc/main.conf")).expect("symlink");
    symlink("/nowhere", t.join("etc/dangling")).expect("symlink");
    std::fs::hard_link(
        t.join("home/alice/db.sql"),
        t.join("home/alice/db-copy.sql"),
    )
    .expect("hardlink");
    w("caf\u{e9} \u{2603}.txt", "unicode\n".as_bytes());
    let f = std::fs::File::create(t.join("var-sparse.img")).expect("create");
    f.set_len(16 * MIB).expect("size");
    std::os::unix::fs::FileExt::write_all_at(&f, b"in the middle", 8 * MIB).expect("write");
    if rustix_root() {
        std::os::unix::fs::lchown(t.join("home/alice"), Some(1000), Some(1000)).expect("chown");
        std::os::unix::fs::lchown(t.join("home/alice/db.sql"), Some(1000), Some(100))
            .expect("chown");
        std::os::unix::fs::lchown(t.join("etc/main.conf"), Some(7), Some(8)).expect("chown");
    }
    let mut all = Vec::new();
    walk(&t, &mut all);
    for (i, p) in all.iter().rev().enumerate() {
        testimg::run(
            "touch",
            &["-h", "-d", &format!("@{}", 1_500_000_000 + i * 977), s(p)],
        );
    }
    t
}

fn rustix_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    out.push(p.to_path_buf());
    if std::fs::symlink_metadata(p).expect("meta").is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        v.sort();
        for c in v {
            walk(&c, out);
        }
    }
}

/// A 64 MiB GPT disk: partition 1 FAT32 (EFI) with `EFI/BOOT/grubx64.efi`, partition 2 ext4
/// made from `tree`. Returns the image.
fn gpt_disk(dir: &Path, tree: &Path) -> PathBuf {
    let img = sparse(dir, "disk.raw", 64 * MIB);
    testimg::run(
        "sgdisk",
        &[
            "-n",
            "1:2048:+34M",
            "-t",
            "1:ef00",
            "-n",
            "2:0:0",
            "-t",
            "2:8300",
            s(&img),
        ],
    );
    let (_, parts) = sfdisk_json(&img);
    let fat = mkfs(
        dir,
        "efi.fs",
        parts[0].2 * 512,
        &["mkfs.vfat", "-F", "32", "-n", "EFI"],
    );
    let efi = dir.join("efi-src/EFI/BOOT");
    std::fs::create_dir_all(&efi).expect("mkdir");
    std::fs::write(efi.join("grubx64.efi"), vec![0x4d; 300_000]).expect("write");
    std::fs::write(efi.join("grub.cfg"), b"set timeout=5\n").expect("write");
    for (f, t) in [("grubx64.efi", "@1700000000"), ("grub.cfg", "@1700003600")] {
        testimg::run("touch", &["-d", t, s(&efi.join(f))]);
    }
    run_env(
        "mcopy",
        &[
            "-s",
            "-m",
            "-i",
            s(&fat),
            s(&dir.join("efi-src/EFI")),
            "::/",
        ],
        &[("TZ", "UTC")],
    );
    write_at(&img, parts[0].1 * 512, &fat);
    let ext = mkfs(
        dir,
        "root.fs",
        parts[1].2 * 512,
        &["mkfs.ext4", "-q", "-L", "root", "-d", s(tree)],
    );
    write_at(&img, parts[1].1 * 512, &ext);
    img
}

/// Checks that `copy` is `src` in full: names, types, modes, mtimes, content, link targets,
/// sparseness, hardlinks and (when root) owners.
fn assert_copied(src: &Path, copy: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("read_dir")
            .map(|e| e.expect("e").file_name().into_string().expect("utf-8"))
            .filter(|n| n != "lost+found")
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(copy), names(src), "{}", copy.display());
    for n in names(src) {
        let (a, b) = (src.join(&n), copy.join(&n));
        let (ma, mb) = (
            std::fs::symlink_metadata(&a).expect("a"),
            std::fs::symlink_metadata(&b).expect("b"),
        );
        assert_eq!(mb.mode(), ma.mode(), "mode of {}", b.display());
        assert_eq!(mb.mtime(), ma.mtime(), "mtime of {}", b.display());
        if rustix_root() {
            assert_eq!(
                (mb.uid(), mb.gid()),
                (ma.uid(), ma.gid()),
                "owner of {}",
                b.display()
            );
        }
        if ma.is_dir() {
            assert_copied(&a, &b);
        } else if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&b).expect("b"),
                std::fs::read_link(&a).expect("a")
            );
        } else {
            assert!(
                std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"),
                "{n}"
            );
        }
    }
}

fn no_partials(dir: &Path) {
    let mut all = Vec::new();
    walk(dir, &mut all);
    let left: Vec<_> = all
        .iter()
        .filter(|p| p.to_string_lossy().contains(".partial-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn ls_cp_cat_on_a_gpt_disk_with_fat_and_ext4() {
    let tmp = tempdir();
    let tree = ext4_tree(tmp.path());
    let img = gpt_disk(tmp.path(), &tree);
    // Two filesystems: the choices are listed with the command for each.
    let r = run(&["ls", s(&img)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("holds 2 filesystems: choose one"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("pverescue ls {} -p 1", s(&img))),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("-p 2"), "{}", r.stderr);
    assert!(
        r.stderr.contains("partition 2 ext4 label=root"),
        "{}",
        r.stderr
    );
    // ls: names as written, long form with setuid, sticky and the link target.
    let r = run(&["ls", s(&img), "-p", "2", "/etc/nginx"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "nginx.conf\nsites\n"),
        "{}",
        r.stderr
    );
    let r = run(&["ls", "-l", s(&img), "-p", "2", "/usr/bin"]);
    assert!(r.stdout.starts_with("-rwsr-xr-x "), "{}", r.stdout);
    let r = run(&["ls", "-l", s(&img), "-p", "2", "/"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("drwxrwxrwt ") && l.ends_with(" tmp")),
        "{}",
        r.stdout
    );
    let r = run(&["ls", "-l", s(&img), "-p", "2", "/etc"]);
    assert!(
        r.stdout.contains(" main.conf -> nginx/nginx.conf\n"),
        "{}",
        r.stdout
    );
    let r = run(&["ls", "-R", s(&img), "-p", "1"]);
    assert_eq!(
        r.stdout, "/:\nEFI\n\n/EFI:\nBOOT\n\n/EFI/BOOT:\ngrub.cfg\ngrubx64.efi\n",
        "{}",
        r.stderr
    );
    let r = run(&["--json", "ls", s(&img), "-p", "2", "/home/alice"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["filesystem"], "ext4");
    assert_eq!(v["label"], "root");
    let db = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "db.sql")
        .expect("db.sql");
    let want = std::fs::metadata(tree.join("home/alice/db.sql")).expect("meta");
    assert_eq!(db["size"], want.len());
    assert_eq!(db["mode"], 0o644);
    // cat: the bytes written, through a symlink too.
    let r = run(&["cat", s(&img), "-p", "2", "/etc/main.conf"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "worker_processes 4;\n"));
    let r = run(&["cat", s(&img), "-p", "2", "/etc/missing"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/etc/missing: no such file or directory"),
        "{}",
        r.stderr
    );
    let r = run(&["cat", s(&img), "-p", "2", "/etc"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // cp of the whole filesystem: everything as written, sparse stays sparse, hardlinks stay.
    let dest = tmp.path().join("restored");
    let r = run(&["cp", s(&img), "-p", "2", "/", s(&dest)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_copied(&tree, &dest);
    assert!(
        allocated(&dest.join("var-sparse.img")) < MIB,
        "sparse file stays sparse"
    );
    let (a, b) = (
        std::fs::metadata(dest.join("home/alice/db.sql")).expect("a"),
        std::fs::metadata(dest.join("home/alice/db-copy.sql")).expect("b"),
    );
    assert_eq!(a.ino(), b.ino(), "the hardlink is a hardlink again");
    no_partials(&dest);
    // Again without --force: refused, nothing changed; with --force: replaced.
    std::fs::write(dest.join("etc/nginx/nginx.conf"), b"changed\n").expect("write");
    let r = run(&["cp", s(&img), "-p", "2", "/etc/nginx", s(&dest.join("etc"))]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(dest.join("etc/nginx/nginx.conf")).expect("r"),
        b"changed\n"
    );
    no_partials(&dest);
    let r = run(&[
        "cp",
        "--force",
        s(&img),
        "-p",
        "2",
        "/etc/nginx",
        s(&dest.join("etc")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(dest.join("etc/nginx/nginx.conf")).expect("r"),
        b"worker_processes 4;\n"
    );
    // Several PATHs into a new DEST, from FAT: a directory lands under its name.
    let dest2 = tmp.path().join("efi");
    let r = run(&[
        "cp",
        s(&img),
        "-p",
        "1",
        "/EFI/BOOT",
        "/EFI/BOOT/grubx64.efi",
        s(&dest2),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(dest2.join("BOOT/grubx64.efi")).expect("r"),
        vec![0x4d; 300_000]
    );
    assert_eq!(
        std::fs::read(dest2.join("grubx64.efi")).expect("r"),
        vec![0x4d; 300_000]
    );
}

#[test]
fn works_as_an_unprivileged_user() {
    if !rustix_root() {
        // Already unprivileged: every other test here shows it.
        return;
    }
    let tmp = tempdir();
    std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o755)).expect("chmod");
    let tree = ext4_tree(tmp.path());
    let img = gpt_disk(tmp.path(), &tree);
    std::fs::set_permissions(&img, PermissionsExt::from_mode(0o644)).expect("chmod");
    let out = tmp.path().join("nobody-out");
    std::fs::create_dir(&out).expect("mkdir");
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).expect("chown");
    let r = run_cmd(
        std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_pverescue"))
            .args(["cp", s(&img), "-p", "2", "/etc", "/home", s(&out.join("x"))]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(out.join("x/etc/nginx/nginx.conf")).expect("read"),
        b"worker_processes 4;\n"
    );
    // As a user, the files are the user's own; modes and times are kept.
    let m = std::fs::metadata(out.join("x/home/alice/db.sql")).expect("meta");
    assert_eq!((m.uid(), m.mode() & 0o7777), (65534, 0o644));
}

#[test]
fn a_vma_is_indexed_and_a_vma_zst_staged_under_scratch_and_removed() {
    let tmp = tempdir();
    let tree = ext4_tree(tmp.path());
    let img = gpt_disk(tmp.path(), &tree);
    let vma = tmp.path().join("vzdump-qemu-100-2024_01_02-03_04_05.vma");
    let conf = tmp.path().join("qemu-server.conf");
    std::fs::write(&conf, "name: t\n").expect("conf");
    let r = run(&[
        "create",
        s(&vma),
        "-q",
        "-c",
        s(&conf),
        "-d",
        &format!("drive-scsi0={}", s(&img)),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Uncompressed: read in place through an index of its extents, nothing staged.
    let r = run(&["cat", s(&vma), "-p", "2", "/etc/nginx/nginx.conf"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "worker_processes 4;\n"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("staging"), "{}", r.stderr);
    let dest = tmp.path().join("from-vma");
    let r = run(&["cp", s(&vma), "-p", "2", "/", s(&dest)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_copied(&tree, &dest);
    testimg::run("zstd", &["-q", "--rm", s(&vma)]);
    let zst = tmp
        .path()
        .join("vzdump-qemu-100-2024_01_02-03_04_05.vma.zst");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).expect("mkdir");
    let r = run(&[
        "cat",
        s(&zst),
        "-p",
        "2",
        "--scratch",
        s(&scratch),
        "/home/alice/db.sql",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.as_bytes() == std::fs::read(tree.join("home/alice/db.sql")).expect("read"),
        "content"
    );
    assert!(
        r.stderr.contains("staging drive-scsi0 into"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("64.0 MiB"),
        "the space is said first: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(&scratch).expect("scratch").count(),
        0,
        "scratch emptied"
    );
    // A wrong disk name lists the disks.
    let r = run(&["ls", s(&zst), "-d", "scsi7", "--scratch", s(&scratch)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no disk named 'scsi7' (it has: drive-scsi0)"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_dir(&scratch).expect("scratch").count(), 0);
}

#[test]
fn a_linear_lv_is_read_by_name() {
    if !testimg::privileged("a_linear_lv_is_read_by_name") {
        return;
    }
    let tmp = tempdir();
    let (img, _, _) = crate::partitions::lvm_image(tmp.path());
    let r = run(&["cat", s(&img), "--lv", "vg0/root", "/hello.txt"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, crate::partitions::HELLO_MBR),
        "{}",
        r.stderr
    );
    // The PV itself is no filesystem: the error says which LVs can be read.
    let r = run(&["ls", s(&img), "-p", "1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--lv vg0/root"), "{}", r.stderr);
}

#[test]
fn a_pbs_snapshot_disk_image() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("etc")).expect("mkdir");
    std::fs::write(src.join("etc/hostname"), b"pbs-guest\n").expect("write");
    let fs = mkfs(
        tmp.path(),
        "fs.img",
        8 * MIB,
        &["mkfs.ext4", "-q", "-d", s(&src)],
    );
    let store = tmp.path().join("store");
    let mut w = pbswrite::Writer::new(&store, None);
    let dir = store.join("vm/100/2023-11-14T22:13:20Z");
    let files = [
        w.fidx(
            &dir,
            "drive-scsi0.img.fidx",
            &std::fs::read(&fs).expect("read"),
            1 << 20,
        ),
        w.fidx(&dir, "drive-scsi1.img.fidx", &vec![0u8; 1 << 20], 1 << 20),
    ];
    w.manifest(&dir, "vm", "100", 1_700_000_000, &files);
    let r = run(&["cat", s(&dir), "/etc/hostname"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("holds 2 disk images: choose one with -a (drive-scsi0, drive-scsi1)"),
        "{}",
        r.stderr
    );
    let r = run(&["cat", s(&dir), "-a", "drive-scsi0", "/etc/hostname"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "pbs-guest\n"),
        "{}",
        r.stderr
    );
    // The group means its newest snapshot.
    let r = run(&["ls", s(&store.join("vm/100")), "-a", "scsi0", "/etc"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "hostname\n"),
        "{}",
        r.stderr
    );
}

/// Renames in place: every `from` in the image becomes `to` (same length).
fn patch_names(img: &Path, pairs: &[(Vec<u8>, Vec<u8>)]) {
    let mut bytes = std::fs::read(img).expect("read");
    for (from, to) in pairs {
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_slice())
            .expect("name in image");
        bytes[at..at + to.len()].copy_from_slice(to);
    }
    std::fs::write(img, bytes).expect("write");
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn stray(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(root, &mut all);
    all.into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "y" || n == "name"))
        .collect()
}

#[test]
fn hostile_names_are_skipped_and_nothing_lands_outside_dest() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("d")).expect("mkdir");
    std::fs::write(src.join("d/evil_name"), b"slash").expect("write");
    std::fs::write(src.join("d/x_.._.._.._y"), b"dots").expect("write");
    std::fs::write(src.join("d/fine"), b"fine").expect("write");
    // FAT long names: the entries are listed, and cp skips the two that are no file names.
    let fat = mkfs(
        tmp.path(),
        "evil-fat.img",
        8 * MIB,
        &["mkfs.vfat", "-F", "12"],
    );
    testimg::run("mcopy", &["-s", "-i", s(&fat), s(&src.join("d")), "::/"]);
    patch_names(
        &fat,
        &[
            // Long names are stored in pieces of 5, 6 and 2 UTF-16 characters.
            (utf16("evil_"), utf16("evil/")),
            (utf16("x_.._"), utf16("x/../")),
            (utf16(".._.._"), utf16("../../")),
        ],
    );
    let dest = tmp.path().join("a/b/dest");
    std::fs::create_dir_all(tmp.path().join("a/b")).expect("mkdir");
    let r = run(&["cp", s(&fat), "/d", s(&dest)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("/d/evil/name: a name that is not a file name"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("/d/x/../../../y: a name"), "{}", r.stderr);
    assert_eq!(std::fs::read(dest.join("d/fine")).expect("fine"), b"fine");
    assert!(stray(tmp.path()).is_empty(), "{:?}", stray(tmp.path()));
    // ext4: the listing (pverescue's own reading of directory blocks on a clean filesystem)
    // shows the name as the block holds it, and cp skips that entry alone.
    let ext = mkfs(
        tmp.path(),
        "evil.img",
        8 * MIB,
        &["mkfs.ext4", "-q", "-O", "^metadata_csum", "-d", s(&src)],
    );
    patch_names(&ext, &[(b"evil_name".to_vec(), b"evil/name".to_vec())]);
    let dest = tmp.path().join("ext-dest");
    let r = run(&["cp", s(&ext), "/d", s(&dest)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("/d/evil/name: a name that is not a file name"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(dest.join("d/fine")).expect("fine"), b"fine");
    assert!(stray(tmp.path()).is_empty(), "{:?}", stray(tmp.path()));
}

#[test]
fn xfs_points_to_mount() {
    let tmp = tempdir();
    let fs = mkfs(tmp.path(), "x.img", 300 * MIB, &["mkfs.xfs", "-q"]);
    let r = run(&["ls", s(&fs)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("xfs: not a filesystem that can be read without mounting"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: `pverescue mount`"), "{}", r.stderr);
}

#[test]
fn cp_interrupted_leaves_nothing_behind() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("data")).expect("mkdir");
    std::fs::write(src.join("data/small.txt"), b"first\n").expect("write");
    testimg::sh(
        "head -c 200M /dev/urandom > \"$1\"",
        &[&src.join("data/zbig.bin")],
    );
    let fs = mkfs(
        tmp.path(),
        "big.img",
        300 * MIB,
        &["mkfs.ext4", "-q", "-d", s(&src)],
    );
    let dest = tmp.path().join("dest");
    let mut child = crate::util::pverescue()
        .args(["cp", s(&fs), "/data", s(&dest)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the big file is being written (in the directory made under a temporary name
    // until everything in it is written), then ask the process to stop.
    let partial = dest
        .join(format!(".data.partial-{}", child.id()))
        .join("zbig.bin");
    testimg::wait_for(
        "the big file to be written",
        || partial.exists() || child.try_wait().ok().flatten().is_some(),
        || format!("{} never appeared", partial.display()),
    );
    testimg::run("kill", &["-TERM", &child.id().to_string()]);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(!dest.exists(), "what the run created is removed");
}

/// What users read, pinned: the choices, a long listing and its JSON (FAT: no owners, times as
/// written by `mcopy -m` in UTC).
#[test]
fn ls_output_is_pinned() {
    let tmp = tempdir();
    let tree = ext4_tree(tmp.path());
    let img = gpt_disk(tmp.path(), &tree);
    let shown = s(&img).to_owned();
    let redact = |t: &str| t.replace(&shown, "[IMG]");
    let r = run(&["ls", s(&img)]);
    insta::assert_snapshot!("files_choices", redact(&r.stderr));
    let r = run(&["ls", "-l", s(&img), "-p", "1", "/EFI/BOOT"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("files_ls_long_fat", r.stdout);
    let r = run(&["--json", "ls", s(&img), "-p", "1", "/EFI/BOOT"]);
    insta::assert_snapshot!("files_ls_json_fat", redact(&r.stdout));
}
