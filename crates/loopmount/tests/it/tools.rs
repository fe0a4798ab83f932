//! Helpers: real tools, image building, and leak checks, shared with the other crates' tests
//! through the `testimg` crate.

pub use testimg::{
    GptImage as Image, HELLO, assert_no_loop_for, findmnt, losetup_info, privileged, run, sha256,
};
