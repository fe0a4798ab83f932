//! COPY address decoding with the NEAR and SAME caches (RFC 3284 section 5.3), reset at the
//! start of every window.

use crate::codetable::{NEAR_SIZE, SAME_SIZE};
use crate::input::slice_varint;

/// Address modes before the NEAR slots: SELF (0) and HERE (1).
const FIRST_NEAR_MODE: u8 = 2;
/// First SAME mode.
const FIRST_SAME_MODE: u8 = FIRST_NEAR_MODE + NEAR_SIZE as u8;
/// Number of SAME cache entries.
const SAME_ENTRIES: usize = SAME_SIZE * 256;

/// The two address caches of one window.
pub(crate) struct AddrCache {
    near: [u64; NEAR_SIZE],
    next_near: usize,
    same: Box<[u64; SAME_ENTRIES]>,
}

impl AddrCache {
    pub(crate) fn new() -> Self {
        AddrCache {
            near: [0; NEAR_SIZE],
            next_near: 0,
            same: Box::new([0; SAME_ENTRIES]),
        }
    }

    /// Clears both caches, as every window starts.
    pub(crate) fn reset(&mut self) {
        self.near = [0; NEAR_SIZE];
        self.next_near = 0;
        self.same.fill(0);
    }

    /// Decodes one address in `mode` from `addrs` at `*pos`, with `here` the current
    /// position in the window's address space. Returns `None` when the address section ends
    /// early, a varint overflows, the mode is invalid, or the address is not below `here`.
    #[inline]
    pub(crate) fn decode(
        &mut self,
        mode: u8,
        here: u64,
        addrs: &[u8],
        pos: &mut usize,
    ) -> Option<u64> {
        let addr = match mode {
            0 => slice_varint(addrs, pos)?,
            1 => here.checked_sub(slice_varint(addrs, pos)?)?,
            m if m < FIRST_SAME_MODE => {
                let slot = usize::from(m - FIRST_NEAR_MODE);
                self.near[slot].checked_add(slice_varint(addrs, pos)?)?
            }
            m => {
                let row = usize::from(m - FIRST_SAME_MODE);
                if row >= SAME_SIZE {
                    return None;
                }
                let b = *addrs.get(*pos)?;
                *pos += 1;
                self.same[row * 256 + usize::from(b)]
            }
        };
        if addr >= here {
            return None;
        }
        self.near[self.next_near] = addr;
        self.next_near = (self.next_near + 1) % NEAR_SIZE;
        // The remainder is below SAME_ENTRIES, so the cast is lossless.
        self.same[(addr % SAME_ENTRIES as u64) as usize] = addr;
        Some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let mut c = AddrCache::new();
        let mut pos = 0;
        // SELF 100, HERE back 10 from 1000, NEAR slot 0 (=100) + 5, SAME row 0 byte 100.
        let addrs = [0x64, 0x0a, 0x05, 0x64];
        assert_eq!(c.decode(0, 1000, &addrs, &mut pos), Some(100));
        assert_eq!(c.decode(1, 1000, &addrs, &mut pos), Some(990));
        assert_eq!(c.decode(2, 1000, &addrs, &mut pos), Some(105));
        assert_eq!(c.decode(6, 1000, &addrs, &mut pos), Some(100));
        assert_eq!(pos, 4);
        // Address not below here, and section exhausted.
        assert_eq!(c.decode(0, 10, &[0x0a], &mut 0), None);
        assert_eq!(c.decode(0, 10, &[], &mut 0), None);
        assert_eq!(c.decode(9, 10, &[0], &mut 0), None);
        c.reset();
        assert_eq!(c.decode(6, 1000, &[0x64], &mut 0), Some(0));
    }
}
