//! Integration tests of the `vma` crate.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod common;
mod corrupt;
mod extract;
mod hostile;
mod real;
mod roundtrip;
mod targets;
mod view;
mod writer;
