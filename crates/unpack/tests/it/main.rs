//! Integration tests for `unpack`, run against the real Debian compressors.
//!
//! Inputs are generated at test time the way vzdump makes them (data piped into the tool), and expected values
//! come from the input or from the real tools, never from the code under test. A missing tool fails the test with
//! the Debian package to install (`cargo xtask test` installs them): gzip, pigz, zstd, lzop, bzip2, xz-utils.
//!
//! - [`tools`]: running the real tools, deterministic test data, decoding through [`unpack::Input`].
//! - [`decode`]: every format and stream shape, decoded byte-exact.
//! - [`corrupt`]: flipped bytes, truncation and damaged headers give pinned errors with offsets.
//! - [`write`]: our compressors' output accepted and decoded by the real tools.
//! - [`real`]: the archives made by a real Proxmox VE in `testdata/real`.
//! - [`thread`]: the worker thread: early drop, counter, repeated errors, opening paths.

mod corrupt;
mod decode;
mod real;
mod thread;
mod tools;
mod write;
