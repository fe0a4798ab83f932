//! `cargo xtask docs`: regenerate the man pages (`docs/man/`) and the shell completions
//! (`completions/`) from the clap definitions, through the binary's own `manpage` and
//! `completions` commands. `crates/pverescue/tests/it/generated.rs` fails when they are stale.

use std::fs;
use std::process::Command;

use anyhow::{Result, bail};

use crate::dist::{SHELLS, target_dir};
use crate::{output, root, run_cmd};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask docs takes no options (got {a})");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(
        Command::new(cargo)
            .current_dir(root())
            .args(["build", "-q", "-p", "pverescue"]),
    )?;
    let bin = target_dir().join("debug/pverescue");
    let man = root().join("docs/man");
    if man.exists() {
        fs::remove_dir_all(&man)?;
    }
    run_cmd(Command::new(&bin).arg("manpage").arg("-q").arg(&man))?;
    let comp = root().join("completions");
    fs::create_dir_all(&comp)?;
    for (shell, name) in SHELLS {
        let script = output(Command::new(&bin).args(["completions", shell]))?;
        fs::write(comp.join(name), script)?;
    }
    println!("wrote {} and {}", man.display(), comp.display());
    Ok(())
}
