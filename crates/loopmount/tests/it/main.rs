//! Integration tests on the real kernel: loop devices, mounts, cleanup after errors and signals.
//! They need root and `/dev/loop-control`; without them each test prints why it is skipped.

mod errors;
mod mounting;
mod signals;
mod tools;
