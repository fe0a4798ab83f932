//! The RFC 3284 default instruction code table (section 5.6), built from its rules.

/// Instruction type: no operation (only as the second half of an opcode).
pub const NOOP: u8 = 0;
/// Instruction type: append bytes from the data section.
pub const ADD: u8 = 1;
/// Instruction type: repeat one data byte.
pub const RUN: u8 = 2;
/// Instruction type: copy from the source segment or the target window so far.
pub const COPY: u8 = 3;

/// Number of NEAR cache slots of the default table.
pub const NEAR_SIZE: usize = 4;
/// Number of SAME cache rows of the default table (each of 256 entries).
pub const SAME_SIZE: usize = 3;

/// One half of a code table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Half {
    /// NOOP, ADD, RUN or COPY.
    pub kind: u8,
    /// Size, or 0 for "a varint size follows in the instructions section".
    pub size: u8,
    /// COPY address mode (0 SELF, 1 HERE, 2.. NEAR, 6.. SAME).
    pub mode: u8,
}

/// A code table entry: up to two instructions per opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The first instruction.
    pub first: Half,
    /// The second instruction (NOOP when absent).
    pub second: Half,
}

const fn half(kind: u8, size: u8, mode: u8) -> Half {
    Half { kind, size, mode }
}

const NONE: Half = half(NOOP, 0, 0);

const fn build() -> [Entry; 256] {
    let mut t = [Entry {
        first: NONE,
        second: NONE,
    }; 256];
    t[0].first = half(RUN, 0, 0);
    t[1].first = half(ADD, 0, 0);
    let mut size = 1;
    while size <= 17 {
        t[1 + size as usize].first = half(ADD, size, 0);
        size += 1;
    }
    let mut i = 19;
    let mut mode = 0;
    while mode < 9 {
        t[i].first = half(COPY, 0, mode);
        i += 1;
        let mut size = 4;
        while size <= 18 {
            t[i].first = half(COPY, size, mode);
            i += 1;
            size += 1;
        }
        mode += 1;
    }
    // ADD 1-4 followed by COPY 4-6 for modes 0-5; ADD 1-4 followed by COPY 4 for modes 6-8.
    let mut mode = 0;
    while mode < 9 {
        let max_copy = if mode < 6 { 6 } else { 4 };
        let mut add = 1;
        while add <= 4 {
            let mut copy = 4;
            while copy <= max_copy {
                t[i] = Entry {
                    first: half(ADD, add, 0),
                    second: half(COPY, copy, mode),
                };
                i += 1;
                copy += 1;
            }
            add += 1;
        }
        mode += 1;
    }
    // COPY 4 followed by ADD 1, for every mode.
    let mut mode = 0;
    while mode < 9 {
        t[i] = Entry {
            first: half(COPY, 4, mode),
            second: half(ADD, 1, 0),
        };
        i += 1;
        mode += 1;
    }
    t
}

/// The default code table.
pub static DEFAULT: [Entry; 256] = build();

#[cfg(test)]
mod tests {
    use super::*;

    fn render(e: &Entry) -> String {
        let name = |h: &Half| match h.kind {
            NOOP => "NOOP".to_owned(),
            ADD => format!("ADD {}", h.size),
            RUN => format!("RUN {}", h.size),
            _ => format!("COPY {} m{}", h.size, h.mode),
        };
        format!("{} / {}", name(&e.first), name(&e.second))
    }

    #[test]
    fn matches_the_rfc_listing() {
        // Rows taken from the table in RFC 3284 section 5.6.
        let expected = [
            (0, "RUN 0 / NOOP"),
            (1, "ADD 0 / NOOP"),
            (2, "ADD 1 / NOOP"),
            (18, "ADD 17 / NOOP"),
            (19, "COPY 0 m0 / NOOP"),
            (20, "COPY 4 m0 / NOOP"),
            (34, "COPY 18 m0 / NOOP"),
            (35, "COPY 0 m1 / NOOP"),
            (51, "COPY 0 m2 / NOOP"),
            (147, "COPY 0 m8 / NOOP"),
            (162, "COPY 18 m8 / NOOP"),
            (163, "ADD 1 / COPY 4 m0"),
            (164, "ADD 1 / COPY 5 m0"),
            (165, "ADD 1 / COPY 6 m0"),
            (166, "ADD 2 / COPY 4 m0"),
            (174, "ADD 4 / COPY 6 m0"),
            (175, "ADD 1 / COPY 4 m1"),
            (234, "ADD 4 / COPY 6 m5"),
            (235, "ADD 1 / COPY 4 m6"),
            (238, "ADD 4 / COPY 4 m6"),
            (246, "ADD 4 / COPY 4 m8"),
            (247, "COPY 4 m0 / ADD 1"),
            (255, "COPY 4 m8 / ADD 1"),
        ];
        for (i, text) in expected {
            assert_eq!(render(&DEFAULT[i]), text, "opcode {i}");
        }
        let pairs = DEFAULT.iter().filter(|e| e.second.kind != NOOP).count();
        assert_eq!(pairs, 256 - 163);
    }
}
