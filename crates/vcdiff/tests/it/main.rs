//! Integration tests of the vcdiff crate, all against fixtures made at test time by the real
//! tools (Debian's xdelta3 3.0.11 and rdiff from librsync) or shipped by the real Proxmox
//! tools.
//!
//! - `common`: deterministic test data, running the real tools, decoding helpers.
//! - `xdelta3`: decoding deltas made with xdelta3's option variants, bit-exact against the
//!   target file (which `xdelta3 -d` must reproduce too), and the failure cases.
//! - `proxmox`: the real Proxmox differential in `testdata/real`, streamed forward only.
//! - `rdiff`: rdiff signature/delta/patch fixtures and corrupt deltas.
//! - `regressions`: inputs found by fuzzing, named after what they broke.
//! - `secondary`: DJW and FGK secondary compression (`-S djw`, `-S djw9`, `-S fgk`) on text
//!   and binary data, with and without a source, many small windows, corrupt sections.

mod common;
mod proxmox;
mod rdiff;
mod regressions;
mod secondary;
mod xdelta3;
