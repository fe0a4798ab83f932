//! FGK (xdelta3 secondary id 16, adaptive Huffman whose tree persists across windows).
//!
//! Not implemented, for the same reason as [`super::djw`]; a compressed section fails with
//! [`crate::Error::UnsupportedSecondary`]. Multi-window FGK output is broken in xdelta3 3.0.11
//! itself (spec section 11b), so such files were never restorable with the original tool.
