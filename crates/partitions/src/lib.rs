//! Placeholder: the partitions crate is built in its own issue.
