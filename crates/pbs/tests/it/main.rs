//! Integration tests of the `pbs` crate.
//!
//! - `sample`: the sample datastore of `shared/fixtures/pbs` (written by a writer checked
//!   byte-for-byte against PBS 3.2.4): every snapshot decodes to the README's SHA-256, listing,
//!   locating, keys.
//! - `damage`: copies of the sample with flipped bytes, missing chunks, truncated indexes, bad
//!   CRCs and wrong manifest checksums: each a named error, or a reported zero-filled range.
//! - `oracle`: our own test writer (`writer`) read by an independent Python reader, and a
//!   datastore written by that Python script (`tests/oracle/pbs_oracle.py`) read by the crate.
//! - `limits`: lengths from disk that would allocate too much or divide by zero.
//! - `verify`: whole-store verification, each chunk read once, bad chunks with their users.

// Panicking on unexpected results is how tests fail.
#![allow(clippy::unwrap_used)]

mod common;
mod damage;
mod limits;
mod oracle;
mod sample;
mod verify;
