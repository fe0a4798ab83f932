//! DJW (xdelta3 secondary id 1, static Huffman with several tables per section).
//!
//! Not implemented: its bit layout is documented only by xdelta3's source code, which this
//! clean-room crate does not copy. DJW keeps a compressed section only when it saves at least
//! two bytes, so files made with `-S djw` whose windows happen to carry no compressed section
//! still decode; a section that is compressed fails with
//! [`crate::Error::UnsupportedSecondary`].
