//! Archives made by the real Proxmox `vma` tool: our output must match what it printed and wrote.

use crate::util::*;

/// (archive file, its folder under expected/).
const ARCHIVES: &[(&str, &str)] = &[
    (
        "vzdump-qemu-101-2026_11_20-21_00_03.vma.zst",
        "vzdump-qemu-101-2026_11_20-21_00_03",
    ),
    (
        "vzdump-qemu-101-2026_11_20-21_00_03.vma.gz",
        "vzdump-qemu-101-2026_11_20-21_00_03",
    ),
    (
        "vzdump-qemu-103-2026_11_20-21_07_09.vma",
        "vzdump-qemu-103-2026_11_20-21_07_09",
    ),
    (
        "vzdump-qemu-105-2026_11_20-21_10_17.vma",
        "vzdump-qemu-105-2026_11_20-21_10_17",
    ),
    (
        "vzdump-qemu-105-2026_11_20-21_10_17.vma.lzo",
        "vzdump-qemu-105-2026_11_20-21_10_17",
    ),
];

fn expected(dir: &str, file: &str) -> String {
    std::fs::read_to_string(testdata(&format!("real/expected/{dir}/{file}")))
        .expect("expected output")
}

#[test]
fn list_matches_vma_list() {
    for (archive, dir) in ARCHIVES {
        let path = testdata(&format!("real/{archive}"));
        let r = run(&["list", path.to_str().expect("utf-8 path")]);
        assert_eq!(r.code, 0, "{archive}: {}", r.stderr);
        assert_eq!(r.stdout, expected(dir, "list.stdout"), "{archive}");
    }
}

#[test]
fn config_matches_vma_config() {
    for (archive, dir) in ARCHIVES {
        let path = testdata(&format!("real/{archive}"));
        let r = run(&["config", path.to_str().expect("utf-8 path")]);
        assert_eq!(r.code, 0, "{archive}: {}", r.stderr);
        assert_eq!(r.stdout, expected(dir, "config.stdout"), "{archive}");
    }
}

#[test]
fn second_config_of_diskless_archive() {
    let path = testdata("real/vzdump-qemu-103-2026_11_20-21_07_09.vma");
    let r = run(&[
        "config",
        path.to_str().expect("utf-8 path"),
        "-c",
        "qemu-server.fw",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = expected_files(&testdata(
        "real/expected/vzdump-qemu-103-2026_11_20-21_07_09/extract.files",
    ));
    let (sha, size) = &want["qemu-server.fw"];
    assert_eq!(r.stdout.len() as u64, *size);
    use sha2::Digest;
    let got: String = sha2::Sha256::digest(r.stdout.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(&got, sha);
}

#[test]
fn extract_matches_vma_extract() {
    for (archive, dir) in ARCHIVES {
        let tmp = tempdir();
        let target = tmp.path().join("restore");
        let path = testdata(&format!("real/{archive}"));
        let r = run(&[
            "extract",
            "-q",
            path.to_str().expect("utf-8"),
            target.to_str().expect("utf-8"),
        ]);
        assert_eq!(r.code, 0, "{archive}: {}", r.stderr);
        assert_eq!(r.stdout, "", "-q prints nothing on success");
        let want = expected_files(&testdata(&format!("real/expected/{dir}/extract.files")));
        assert_dir_matches(&target, &want);
        for name in want.keys().filter(|n| n.ends_with(".raw")) {
            let disk = target.join(name);
            let size = std::fs::metadata(&disk).expect("stat").len();
            assert!(
                allocated(&disk) < size,
                "{archive}: {name} should be sparse"
            );
        }
    }
}

#[test]
fn verify_accepts_real_archives() {
    let paths: Vec<String> = ARCHIVES
        .iter()
        .map(|(a, _)| {
            testdata(&format!("real/{a}"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut args = vec!["verify"];
    args.extend(paths.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK   ")).count(),
        ARCHIVES.len()
    );
}

#[test]
fn extract_from_stdin() {
    let tmp = tempdir();
    let target = tmp.path().join("restore");
    let input = std::fs::File::open(testdata("real/vzdump-qemu-101-2026_11_20-21_00_03.vma.zst"))
        .expect("open fixture");
    let out = pverescue()
        .args(["extract", "-q", "-"])
        .arg(&target)
        .stdin(input)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_dir_matches(
        &target,
        &expected_files(&testdata(
            "real/expected/vzdump-qemu-101-2026_11_20-21_00_03/extract.files",
        )),
    );
}
