//! Placeholder: the vcdiff crate is built in its own issue.
