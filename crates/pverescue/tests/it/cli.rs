//! Help, usage errors, exit codes.

use crate::util::*;

#[test]
fn help_lists_the_commands() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn extract_help_has_examples() {
    let r = run(&["extract", "--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn version_names_commit_and_formats() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with(&format!("pverescue {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.stdout
    );
}

#[test]
fn usage_error_is_exit_2() {
    let r = run(&["extract"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage"), "{}", r.stderr);
}

#[test]
fn missing_file() {
    let r = run(&["list", "/nonexistent/backup.vma.zst"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr);
}

#[test]
fn missing_config_names_the_available_ones() {
    let r = run(&[
        "config",
        "testdata/real/vzdump-qemu-103-2026_11_20-21_07_09.vma",
        "-c",
        "nope.conf",
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!(r.stderr);
}

/// Issue 10 item 8: a closed stdout (`verify DIR | head -1`) is success, for every command that
/// prints on stdout, in text and in JSON. The read end of a real pipe is closed before the
/// command starts, so its first write fails with EPIPE (`println!` panicked: exit 101).
#[test]
fn issue10_item8_broken_pipe_is_success() {
    let scratch = tempdir();
    let restore = scratch.path().join("restore");
    let restore = restore.to_str().expect("utf-8 path");
    let vma = "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma";
    let commands: &[&[&str]] = &[
        &["verify", "testdata/vma/multi"],
        &["verify", "--json", "testdata/vma/multi"],
        &["list", vma],
        &["list", "--json", vma],
        &["config", vma],
        &["completions", "bash"],
        &["drill", "--no-write", "testdata/vma/multi"],
        &["drill", "--json", "--no-write", "testdata/vma/multi"],
        &["extract", vma, restore],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = pverescue()
            .args(*args)
            .stdout(writer)
            .output()
            .expect("run pverescue");
        assert_eq!(
            out.status.code(),
            Some(0),
            "pverescue {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("pverescue:"),
            "pverescue {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same through a shell pipeline, as a user types it.
    let bin = env!("CARGO_BIN_EXE_pverescue");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("set -o pipefail; {bin} verify testdata/vma/multi | head -c 1 >/dev/null"),
        ])
        .current_dir(root())
        .output()
        .expect("run bash");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 10 item 9: `verify` and `drill` on a directory with nothing to check fail (exit 2,
/// "no backups found in …", with what was skipped and why); an archive under a name vzdump did
/// not give it is recognised by its content and verified, as `verify FILE` does.
#[test]
fn issue10_item9_nothing_checked_is_not_success() {
    let t = tempdir();
    let empty = t.path().join("empty");
    let other = t.path().join("other");
    let renamed = t.path().join("renamed");
    for d in [&empty, &other, &renamed] {
        std::fs::create_dir(d).expect("mkdir");
    }
    std::fs::write(
        other.join("vzdump-qemu-100-2026_01_01-00_00_00.log"),
        "log\n",
    )
    .expect("log");
    std::fs::write(other.join("notes.txt"), "not a backup\n").expect("notes");
    std::fs::create_dir(other.join("sub")).expect("mkdir");
    // zstd and gzip as the real tools make them, under names vzdump never writes.
    let image = testdata("vma/vzdump-qemu-200-2026_01_01-00_00_00.vma");
    sh(
        &renamed,
        &format!(
            "zstd -q -c {0} > web.bak && gzip -c {0} > web-copy.vma",
            image.display()
        ),
    );
    let p = |d: &std::path::Path| d.to_str().expect("utf-8").to_owned();

    let r = run(&["verify", &p(&empty)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("no backups found in {}", p(&empty))),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("the directory is empty"), "{}", r.stdout);

    let r = run(&["verify", &p(&other)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no backups found in"), "{}", r.stdout);
    assert!(r.stdout.contains("SKIP"), "{}", r.stdout);
    assert!(r.stdout.contains("notes.txt: not a backup"), "{}", r.stdout);
    assert!(r.stdout.contains("sub: a directory"), "{}", r.stdout);
    assert!(r.stdout.contains(".log: a task log"), "{}", r.stdout);

    let r = run(&["verify", "--json", &p(&other)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(json["failed"], 1);
    assert_eq!(json["ok"], 0);
    assert_eq!(json["skipped"].as_array().map(Vec::len), Some(3), "{json}");

    let r = run(&["verify", &p(&renamed)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("OK   ") && r.stdout.contains("web.bak (zstd"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("web-copy.vma (gzip"), "{}", r.stdout);
    assert!(
        r.stdout.contains("2 archives: 2 ok, 0 failed"),
        "{}",
        r.stdout
    );

    // One directory without backups fails the run even when another has some.
    let r = run(&["verify", &p(&renamed), &p(&empty)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);

    for dir in [&empty, &other] {
        let r = run(&["drill", "--no-write", &p(dir)]);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains(&format!("no backups found in {}", p(dir))),
            "{}",
            r.stderr
        );
    }
}

/// Issue 10 item 11: every command that takes `--json` prints JSON or refuses it. `config
/// --json` gives the config's exact text (compared with what the real `vma config` printed);
/// `completions --json` refuses, since a shell script has no JSON form.
#[test]
fn issue10_item11_json_is_json_or_refused() {
    let r = run(&[
        "config",
        "--json",
        "testdata/real/vzdump-qemu-103-2026_11_20-21_07_09.vma",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("config --json is JSON");
    let real = std::fs::read_to_string(testdata(
        "real/expected/vzdump-qemu-103-2026_11_20-21_07_09/config.stdout",
    ))
    .expect("real vma config output");
    assert_eq!(json["text"], real.as_str());
    assert_eq!(json["name"], "qemu-server.conf");
    assert_eq!(json["size"], real.len());

    let r = run(&["completions", "--json", "bash"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("no JSON form"), "{}", r.stderr);
}

/// Issue 10 item 14: hints say what this command can do. `list` of a gzip file that is not a
/// VMA does not say "decompress it first" (it was decompressed); an existing target directory
/// names --force; `merge` with the wrong full does not suggest --base (merge takes the full as
/// its first argument); `extract ARCHIVE` without DIR says how to give one.
#[test]
fn issue10_item14_hints_name_what_the_command_can_do() {
    let t = tempdir();
    sh(t.path(), "printf 'not a backup\\n' | gzip -c > notvma.gz");
    let notvma = t.path().join("notvma.gz");
    let r = run(&["list", notvma.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2);
    let hint = r
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_default();
    assert!(!hint.contains("decompress"), "{}", r.stderr);
    assert!(hint.contains("not a VMA archive"), "{}", r.stderr);

    let vma = "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma";
    let r = run(&["extract", vma, t.path().to_str().expect("utf-8")]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );

    let r = run(&["extract", vma]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("hint: give a directory to restore into"),
        "{}",
        r.stderr
    );

    let out = t.path().join("merged.vma.zst");
    let r = run(&[
        "merge",
        "testdata/vma/vzdump-qemu-200-2026_01_01-00_00_00.vma.gz",
        "testdata/real/vzdump-qemu-100-2020_05_01-01_00_02.vma.zst--differential-2020_05_03-01_00_05.vcdiff.zst",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("--base"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("made against vzdump-qemu-100-2020_05_01-01_00_02.vma.zst"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

/// The Examples section of `pverescue CMD --help` with the terminal `columns` wide.
fn examples(cmd: &str, columns: &str) -> Vec<String> {
    let out = pverescue()
        .args([cmd, "--help"])
        .env("COLUMNS", columns)
        .output()
        .expect("run pverescue");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Issue 10 item 16: every example in `--help` (and so in the man pages made from it) can be
/// copied and pasted: no line is longer than 80 columns, so clap does not wrap one in the
/// middle of a command at 100 (nor at 80), and a long command is split with `\` continuations
/// that bash accepts.
#[test]
fn issue10_item16_help_examples_are_copy_pasteable() {
    let commands = [
        "list",
        "config",
        "verify",
        "extract",
        "create",
        "merge",
        "patch",
        "drill",
        "completions",
    ];
    for cmd in commands {
        let wide = examples(cmd, "1000");
        assert!(!wide.is_empty(), "{cmd} --help has examples");
        assert_eq!(
            examples(cmd, "100"),
            wide,
            "{cmd}: examples wrap at 100 columns"
        );
        assert_eq!(
            examples(cmd, "80"),
            wide,
            "{cmd}: examples wrap at 80 columns"
        );
        for (i, line) in wide.iter().enumerate() {
            assert!(line.chars().count() <= 80, "{cmd}: {line:?}");
            if line.ends_with(" \\") {
                let next = wide.get(i + 1).map_or("", String::as_str);
                assert!(
                    next.starts_with("      "),
                    "{cmd}: continuation of {line:?}"
                );
            }
        }
        // Each example is a complete shell command: bash can parse the lines joined.
        let script: String = wide
            .iter()
            .map(|l| format!("{}\n", l.trim_start()))
            .collect();
        let parsed = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .status()
            .expect("bash -n");
        assert!(parsed.success(), "{cmd}: bash cannot parse\n{script}");
    }
}

/// The shell blocks of README.md, each as its lines.
fn readme_sh_blocks() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), _) => b.push(line.to_owned()),
            (None, _) => {}
        }
    }
    blocks
}

/// Issue 10 item 17: the README's first block holds the two commands the brief asks for (the
/// main job on a sample in testdata/, then `cargo xtask test`), and the first one runs as
/// written (into a fresh directory: the README says the target must not exist); no command
/// holds a `…` placeholder; the Docker example names a file of the repository and says that
/// `docker load` needs a running daemon.
#[test]
fn issue10_item17_readme_commands_are_runnable() {
    let blocks = readme_sh_blocks();
    let first: Vec<&String> = blocks[0].iter().filter(|l| !l.starts_with('#')).collect();
    let commands: Vec<&str> = first
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert_eq!(commands[1], "cargo xtask test");
    let args: Vec<&str> = commands[0]
        .strip_prefix("cargo run --release -- ")
        .expect("command 1 runs pverescue")
        .split_whitespace()
        .collect();
    assert_eq!(args[0], "extract");
    assert!(args[1].starts_with("testdata/"), "{args:?}");
    let t = tempdir();
    let target = t.path().join("restore");
    let r = run(&["extract", args[1], target.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(readme.contains("must not exist"));
    assert!(readme.contains("running Docker daemon"));
    for block in &blocks {
        for line in block.iter().filter(|l| !l.starts_with('#')) {
            assert!(!line.contains('…'), "placeholder in {line:?}");
        }
    }
    let docker = blocks
        .iter()
        .find(|b| b.iter().any(|l| l.starts_with("docker run")))
        .expect("a docker run example")
        .join("\n");
    assert!(docker.contains("$PWD/testdata/real:/backups"), "{docker}");
    let name = docker
        .split_whitespace()
        .find_map(|w| w.strip_prefix("/backups/"))
        .expect("an archive under /backups");
    assert!(testdata(&format!("real/{name}")).is_file(), "{name}");
}
