//! `pverescue`: the command-line front end. It parses flags, opens inputs, calls one library entry
//! point per subcommand and renders the result; the formats live in the library crates.

mod cli;
mod cmd;
mod disks;
mod image;
mod outfile;
mod output;
mod progress;
mod source;
mod targets;
mod version;

use clap::Parser;

use crate::cli::{Cli, Command};

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// The command completed but printed warnings the user must read (exit code 1).
    Warnings,
    /// The command ran but at least one item failed, already reported (exit code 2).
    Failed,
}

fn main() -> ! {
    // Through cleanup::exit: a Ctrl-C or SIGTERM being handled while the command finished
    // decides the exit code (its actions may have undone the work), never a late exit 0.
    let code = run();
    cleanup::exit(code)
}

fn run() -> i32 {
    exit_on_closed_stdout_panic();
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match &cli.command {
        Command::List(a) => cmd::list::run(g, a),
        Command::Config(a) => cmd::config::run(g, a),
        Command::Verify(a) => cmd::verify::run(g, a),
        Command::Extract(a) => cmd::extract::run(g, a),
        Command::Create(a) => cmd::create::run(g, a),
        Command::Merge(a) => cmd::merge::run(g, a),
        Command::Patch(a) => cmd::patch::run(g, a),
        Command::Partitions(a) => cmd::partitions::run(g, a),
        Command::Mount(a) => cmd::mount::run(g, a),
        Command::Umount(a) => cmd::umount::run(g, a),
        Command::Drill(a) => cmd::drill::run(g, a),
        Command::Serve(a) => cmd::serve::run(g, a),
        Command::Fuse(a) => cmd::serve::fuse(g, a),
        Command::Ls(a) => cmd::files::ls(g, a),
        Command::Cp(a) => cmd::files::cp(g, a),
        Command::Cat(a) => cmd::files::cat(g, a),
        Command::Completions(a) => cmd::completions::run(g, a),
        Command::Manpage(a) => cmd::manpage::run(g, a),
    };
    match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Warnings) => 1,
        Ok(Outcome::Failed) => 2,
        Err(err) if output::is_broken_pipe(&err) => 0,
        Err(err) => {
            output::print_error(&err, cli.command.name());
            2
        }
    }
}

/// A closed stdout is success for every command (ripgrep's rule). Commands print through
/// `output::outln!`, whose error reaches `main` as a broken pipe; a `println!` left in a command
/// would panic instead (exit 101, or SIGABRT in the `panic = "abort"` build), so this hook turns
/// exactly that panic into exit 0 as well.
fn exit_on_closed_stdout_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
