//! Opening an archive: a path or `-`, decompressed by content, ready for the VMA reader.

use std::path::Path;

use anyhow::{Context, Result};

/// An opened, decompressing input. The VMA reader borrows it so that the input's warnings and
/// counters stay reachable after the archive has been read.
pub struct Source {
    /// The decompressing input.
    pub input: unpack::Input,
}

impl Source {
    /// Opens `path` (or standard input for `-`) and starts decompressing it.
    pub fn open(path: &Path) -> Result<Self> {
        // unpack's error already names the path.
        let input = unpack::open(path)?;
        Ok(Self { input })
    }

    /// The name to show for this input.
    pub fn name(&self) -> &str {
        self.input.name()
    }

    /// Reads and validates the VMA header.
    pub fn vma(&mut self) -> Result<vma::Reader<&mut unpack::Input>> {
        let name = self.input.name().to_owned();
        vma::Reader::new(&mut self.input)
            .with_context(|| format!("{name}: cannot read the VMA header"))
    }
}
