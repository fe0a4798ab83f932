//! A child process that mounts and is then killed with SIGTERM/SIGINT must leave nothing behind.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use loopmount::{MountSpec, mount_image};

use crate::tools::*;

const CHILD_ENV: &str = "LOOPMOUNT_TEST_CHILD";

/// The child: runs only when re-executed by the tests below with `LOOPMOUNT_TEST_CHILD` set to
/// `image|offset|size|mountpoint`; mounts, says so, and waits to be killed (blocked on its stdin,
/// which the test holds open: no time limit, and it ends if the test dies).
#[test]
fn child_mount_and_wait() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let f: Vec<&str> = arg.split('|').collect();
    loopmount::install_signal_cleanup().expect("signal handler");
    let spec = MountSpec::read_only(
        f[1].parse().expect("offset"),
        f[2].parse().expect("size"),
        "ext4",
    );
    let m = mount_image(Path::new(f[0]), &spec, Path::new(f[3])).expect("child mount");
    println!("MOUNTED {}", m.device().display());
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

fn spawn_child(img: &Image, mp: &Path) -> std::process::Child {
    let (offset, size) = img.parts[0];
    let arg = format!("{}|{offset}|{size}|{}", img.path.display(), mp.display());
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "signals::child_mount_and_wait",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

fn kill(child: &std::process::Child, sig: &str) {
    run("kill", &[sig, &child.id().to_string()]);
}

#[test]
fn sigterm_after_mount_releases_everything() {
    if !privileged("sigterm_after_mount_releases_everything") {
        return;
    }
    let img = Image::new(false);
    for (sig, code) in [("-TERM", 143), ("-INT", 130)] {
        let mp = img.mountpoint(&format!("child{code}"));
        let mut child = spawn_child(&img, &mp);
        // Held until the child has exited (`wait` would close it first and let the child end by
        // itself instead of by the signal).
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("stdout");
        let line = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("MOUNTED "))
            .expect("child reports its mount");
        assert!(findmnt(&mp).is_some(), "child mounted: {line}");
        kill(&child, sig);
        let status = child.wait().expect("wait");
        drop(stdin);
        assert_eq!(status.code(), Some(code), "child exit after {sig}");
        assert!(findmnt(&mp).is_none(), "mount left behind after {sig}");
        assert_no_loop_for(&img.path);
    }
}

#[test]
fn sigterm_mid_mount_releases_everything() {
    if !privileged("sigterm_mid_mount_releases_everything") {
        return;
    }
    let img = Image::new(false);
    let before = sha256(&img.path);
    // Kill at different moments: before the handler exists, during attach/mount, after.
    for (i, delay_ms) in [0u64, 3, 10, 25, 50, 100].into_iter().enumerate() {
        let mp = img.mountpoint(&format!("mid{i}"));
        let mut child = spawn_child(&img, &mp);
        // Held until the child has exited (`wait` would close it first and let the child end by
        // itself instead of by the signal).
        let stdin = child.stdin.take();
        // A sweep of kill points, not a synchronisation: whatever the child reached, nothing may
        // be left.
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill(&child, "-TERM");
        let status = child.wait().expect("wait");
        drop(stdin);
        assert!(
            status.code() == Some(143) || status.code().is_none(),
            "{status:?}"
        );
        assert!(
            findmnt(&mp).is_none(),
            "mount left behind (delay {delay_ms} ms)"
        );
        assert_no_loop_for(&img.path);
    }
    assert_eq!(sha256(&img.path), before);
}
