//! Records the git commit the binary is built from and how it is linked, for
//! `pverescue --version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PVERESCUE_COMMIT={commit}");
    // Cargo describes the target (not the host) to build scripts through these variables.
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    let libc = match var("CARGO_CFG_TARGET_ENV").as_str() {
        "gnu" => "glibc".to_owned(),
        "" => "no libc".to_owned(),
        other => other.to_owned(),
    };
    let linkage = if static_crt { "static" } else { "dynamic" };
    println!(
        "cargo:rustc-env=PVERESCUE_BUILD={}-{}, {linkage} ({libc})",
        var("CARGO_CFG_TARGET_ARCH"),
        var("CARGO_CFG_TARGET_OS")
    );
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
}
