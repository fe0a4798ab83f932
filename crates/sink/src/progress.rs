//! Progress of a restore, counted in bytes, for the binary to render.

/// Receives progress reports; every method has a no-op default, and `()` ignores them all.
///
/// Sources call [`Progress::read`] as they consume their input (about once per extent, chunk or
/// frame), with the bytes of the source's own stream read so far. The binary, which knows the
/// size of the file it opened and how much of it the decompressor has consumed, turns that into
/// a bar with bytes, rate and ETA; the stream position alone would follow the layout of the
/// archive, not the time left.
pub trait Progress {
    /// `done` bytes of the source stream have been read.
    fn read(&mut self, _done: u64) {}
    /// `bytes` more bytes of disk data have been written.
    fn wrote(&mut self, _bytes: u64) {}
}

impl Progress for () {}
