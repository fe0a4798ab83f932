//! Archives that the real `vma` cannot make, written by `vma_writer.py` (a small Python VMA
//! writer built from the spec): hostile names, and the output a script reads from them.

use std::path::Path;

use crate::util::*;

/// Writes a complete VMA archive (every cluster a zero cluster) with `vma_writer.py`; `spec` is
/// `{"configs": [[NAME, DATA]], "devices": [[NAME, SIZE]]}`.
pub fn write_vma(out: &Path, spec: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/vma_writer.py");
    let status = std::process::Command::new("python3")
        .arg(script)
        .arg(out)
        .arg(spec.to_string())
        .status()
        .expect("run python3");
    assert!(status.success(), "vma_writer.py failed for {spec}");
}

/// Issue 10 item 7: config and device names with a newline, an ANSI escape and spaces. The
/// human `list` prints one line per config and device, each name one `\S+` token (checked with
/// qmrestore's own regex), no raw escape; JSON keeps the exact names; dissect.archive reads the
/// same names from the file, so the archive is what the test says it is.
#[test]
fn issue10_item7_forged_lines_in_list_are_escaped() {
    let dir = tempdir();
    let vma = dir.path().join("vzdump-qemu-300-2026_01_01-00_00_00.vma");
    let forged = "drive-scsi0\nDEV: dev_id=9 size: 1 devname: evil";
    let ansi = "\u{1b}[31mred conf";
    write_vma(
        &vma,
        &serde_json::json!({
            "configs": [["qemu-server.conf", "scsi0: x\n"], [ansi, "x"]],
            "devices": [[forged, 131072], ["drive scsi1", 65536]],
        }),
    );
    let names = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json; from dissect.archive import vma; \
             v = vma.VMA(open(sys.argv[1], 'rb')); \
             print(json.dumps([list(v.configs()), [d.name for d in v.devices()]]))",
        ])
        .arg(&vma)
        .output()
        .expect("run python3 dissect.archive");
    assert!(
        names.status.success(),
        "{}",
        String::from_utf8_lossy(&names.stderr)
    );
    let names: serde_json::Value = serde_json::from_slice(&names.stdout).expect("json");
    assert_eq!(
        names,
        serde_json::json!([["qemu-server.conf", ansi], [forged, "drive scsi1"]])
    );

    let path = vma.to_str().expect("utf-8 path");
    let r = run(&["list", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
    // qmrestore's parser (spec: shared/specs/vma.md, `vma list`), by hand: one DEV line per
    // device, and the name is the rest of the line without whitespace.
    let devs: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("DEV:")).collect();
    assert_eq!(devs.len(), 2, "{}", r.stdout);
    for line in devs {
        let devname = line.rsplit_once("devname: ").expect("devname").1;
        assert!(!devname.contains(char::is_whitespace), "{line}");
    }

    let r = run(&["list", "--json", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(json["configs"][1]["name"], ansi);
    assert_eq!(json["devices"][0]["name"], forged);
    assert_eq!(json["devices"][1]["name"], "drive scsi1");

    let r = run(&["config", path, "-c", "nope"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    // A file name from a directory scan cannot forge a verdict line either.
    let sub = dir.path().join("dump");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::copy(
        &vma,
        sub.join("vzdump-qemu-300-2026_01_01-00_00_00.vma\nOK   fake.vma"),
    )
    .expect("copy");
    let r = run(&["verify", sub.to_str().expect("utf-8")]);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK")).count(),
        1,
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\\x0aOK   fake.vma"), "{}", r.stdout);
}
