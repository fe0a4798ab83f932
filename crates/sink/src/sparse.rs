//! Zero detection and sparse writes of file contents, shared by every writer of files (tree
//! restores, `cp`, qcow2 clusters, digests of zero leaves).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The block size below which zeros are written rather than left as a hole: the page size of
/// every filesystem a restore lands on.
pub const HOLE_BLOCK: usize = 4096;

/// True when every byte of `bytes` is zero. Reads 16 bytes at a time and looks at the result
/// once per 256 bytes: several times faster than a byte loop, which the compiler cannot
/// vectorise because of its early exit.
pub fn is_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(256);
    for block in blocks.by_ref() {
        let mut acc = 0u128;
        for word in block.chunks_exact(16) {
            acc |= <[u8; 16]>::try_from(word).map_or(u128::MAX, u128::from_ne_bytes);
        }
        if acc != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| b == 0)
}

/// Writes `data` at `at` in `file`, leaving every all-zero [`HOLE_BLOCK`] (counted from the
/// start of `data`) unwritten, so that a file extended later by `set_len` keeps holes there.
/// Runs of non-zero blocks go out in one write each. Returns the bytes written.
pub fn write_sparse(file: &File, data: &[u8], at: u64) -> io::Result<u64> {
    let block = |i: usize| &data[i..(i + HOLE_BLOCK).min(data.len())];
    let mut written = 0u64;
    let mut i = 0;
    while i < data.len() {
        if is_zero(block(i)) {
            i += HOLE_BLOCK;
            continue;
        }
        let start = i;
        while i < data.len() && !is_zero(block(i)) {
            i += HOLE_BLOCK;
        }
        let end = i.min(data.len());
        file.write_all_at(&data[start..end], at + start as u64)?;
        written += (end - start) as u64;
    }
    Ok(written)
}

/// True when the last [`HOLE_BLOCK`] of `data` (counted from its start, as [`write_sparse`]
/// counts) holds data, so that [`write_sparse`] of `data` writes up to its end; otherwise a
/// file ending there needs its length set.
pub fn ends_in_data(data: &[u8]) -> bool {
    let last = data.len().saturating_sub(1) / HOLE_BLOCK * HOLE_BLOCK;
    !data.is_empty() && !is_zero(&data[last..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_zero_finds_one_set_byte_anywhere() {
        for len in [0usize, 1, 15, 16, 255, 256, 257, 4096, 4099] {
            let mut v = vec![0u8; len];
            assert!(is_zero(&v), "{len}");
            for at in 0..len {
                v[at] = 1;
                assert!(!is_zero(&v), "{len} {at}");
                v[at] = 0;
            }
        }
    }

    #[test]
    fn ends_in_data_looks_at_the_last_block_write_sparse_writes() {
        assert!(!ends_in_data(&[]));
        let mut v = vec![0u8; 2 * HOLE_BLOCK + 10];
        assert!(!ends_in_data(&v));
        v[HOLE_BLOCK] = 1;
        assert!(!ends_in_data(&v), "the last (partial) block is zero");
        v[2 * HOLE_BLOCK] = 1;
        assert!(ends_in_data(&v));
    }

    #[test]
    fn write_sparse_leaves_zero_blocks_as_holes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))?;
        let mut data = vec![0u8; 64 * HOLE_BLOCK + 100];
        data[5 * HOLE_BLOCK + 7] = 1;
        data[6 * HOLE_BLOCK] = 2;
        data[64 * HOLE_BLOCK + 99] = 3;
        let wrote = write_sparse(&f, &data, 1 << 20)?;
        assert_eq!(wrote, 2 * HOLE_BLOCK as u64 + 100);
        f.set_len((1 << 20) + data.len() as u64)?;
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 1 << 20)?;
        assert_eq!(back, data);
        // The kernel says where data is: exactly the two written runs (in whole pages).
        let fd = std::os::fd::AsFd::as_fd(&f);
        let first = rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(0)).map_err(io::Error::from)?;
        assert_eq!(first, (1 << 20) + 5 * HOLE_BLOCK as u64);
        let hole =
            rustix::fs::seek(fd, rustix::fs::SeekFrom::Hole(first)).map_err(io::Error::from)?;
        assert_eq!(hole, (1 << 20) + 7 * HOLE_BLOCK as u64);
        Ok(())
    }
}
