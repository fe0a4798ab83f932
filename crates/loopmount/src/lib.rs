//! Placeholder: the loopmount crate is built in its own issue.
