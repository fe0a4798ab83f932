//! One module per subcommand: parse the arguments, call the library, render the result.

pub mod completions;
pub mod config;
pub mod create;
pub mod drill;
pub mod extract;
pub mod files;
pub mod list;
pub mod manpage;
pub mod merge;
pub mod mount;
pub mod partitions;
pub mod patch;
pub mod pbs;
pub mod serve;
pub mod umount;
pub mod verify;
pub mod virtnbd;
