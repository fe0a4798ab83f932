//! One module per subcommand: parse the arguments, call the library, render the result.

pub mod config;
pub mod create;
pub mod extract;
pub mod list;
pub mod verify;
