//! FGK (xdelta3 secondary id 16): adaptive Huffman coding whose tree lives for the whole file.
//!
//! # Format
//!
//! Written from a reading of xdelta3's `xdelta3-fgk.h`, which documents the format only
//! through its code; the decoder below is an independent implementation of this description.
//! The coder is Faller–Gallager–Knuth adaptive Huffman coding (Knuth, "Dynamic Huffman
//! Coding", J. Algorithms 6, 1985) with xdelta3's particular bookkeeping, which has to be
//! reproduced exactly because the code of every byte depends on the tree's whole history.
//!
//! **Streams.** There is one tree per section kind (data, instructions, addresses), created
//! when the file starts and never reset. A payload is a sequence of codes, bits taken from
//! each byte least significant first, with no header; it ends at the byte holding the last
//! bit of the last symbol (unused high bits are padding). Every code ends at a symbol
//! boundary, so nothing but the tree carries over to the next window.
//!
//! The encoder runs *every* section of at least [`MIN_ATTEMPTED`] bytes through its tree and
//! keeps the result only if it saves at least two bytes; otherwise the section is stored
//! plain, yet the encoder's tree has moved. A decoder must apply the same updates for such
//! sections ([`FgkSections::stored_plain`]); xdelta3 3.0.x does not, so it cannot decode many
//! of its own multi-window FGK deltas.
//!
//! **Tree.** Leaves are the byte values seen so far, plus one *zero leaf* standing for all
//! byte values not seen yet (it disappears when the last one is seen). Every node has a
//! weight (leaves: times seen; internal nodes: the sum of their children) and a place in one
//! *ordering* of all nodes: the root is last, the zero leaf first, and a left child (reached
//! with bit 0) always comes right before its right sibling (bit 1). Nodes are grouped into
//! *blocks*; each block has a *leader*. Blocks are meant to be runs of equal weight with the
//! rightmost member as leader, but the bookkeeping below is what counts.
//!
//! **Coding a byte.** If it has been seen, its code is the path from the root to its leaf.
//! Otherwise it is the path to the zero leaf followed by its index among the unseen byte
//! values in increasing order, written most significant bit first in `⌈log₂ u⌉` bits, where
//! `u` is the number of unseen values (no bits when `u = 1`). In the initial tree the zero
//! leaf is the root, so the first byte is just its 8-bit value.
//!
//! **Update after coding byte `b`.**
//!
//! 1. If `b` was seen, start at its leaf. If `b` is the last unseen value, the zero leaf
//!    becomes `b`'s leaf in place; it joins the block of its right neighbour if that node
//!    weighs 1, else it starts a block of its own; start there. Otherwise the zero leaf is
//!    split: a new internal node takes its place in the tree and in the ordering, with the
//!    zero leaf as left child and a new leaf for `b` as right child, ordered
//!    `zero leaf, b, new node, …`. If the zero leaf was the root, the new node becomes the
//!    root and both new nodes start blocks of their own; otherwise the new node joins the
//!    block of its right neighbour if that node weighs 1, else starts its own block, and the
//!    leaf for `b` joins the new node's block. Start at the leaf for `b`.
//! 2. Until the current node `n` is the root: *move right*, *promote*, add 1 to `n`'s
//!    weight, continue with `n`'s parent. Finally add 1 to the root's weight.
//!    - *Move right*: unless `n` weighs 0, leads its block, or its block's leader `l` is its
//!      parent, swap `n` and `l`: they trade places in the ordering and in the tree (each
//!      takes the other's parent and child slot), and `n` becomes the block's leader.
//!    - *Promote* (with `w` the weight of `n`, and its neighbours in the ordering): nothing
//!      if `w = 0`. If `n`'s left neighbour is its right child and its left child weighs 0
//!      (the zero leaf): when the right neighbour weighs `w + 1` and is not the root, `n` and
//!      that child move to the right neighbour's block (the old block is dropped); then stop.
//!      Nothing either if the left neighbour is the zero leaf or there is none. Otherwise the
//!      left neighbour becomes the leader of `n`'s block if it belongs to it, else the block
//!      is dropped; then `n` joins the right neighbour's block if that weighs `w + 1` and is
//!      not the root, else starts a block of its own.
//!
//! Weights are 32-bit and wrap, as in xdelta3.

use super::bits::BitReader;
use super::{SecondaryError, Section};

/// Sections shorter than this are never given to the secondary compressor.
pub(crate) const MIN_ATTEMPTED: usize = 10;

/// Number of byte values.
const SYMBOLS: usize = 256;
/// Most nodes a tree can have: 256 leaves and 255 internal nodes.
const MAX_NODES: usize = 2 * SYMBOLS - 1;
/// Marks a missing node or block.
const NONE: u16 = u16::MAX;

/// One tree node. Children, parents and blocks are indices.
#[derive(Clone, Copy)]
struct Node {
    weight: u32,
    parent: u16,
    /// Children for bits 0 and 1; `NONE` for leaves.
    kids: [u16; 2],
    /// The byte value of a leaf; `NONE` for internal nodes and the zero leaf.
    symbol: u16,
    /// Place in the ordering, counted from the root (0) towards the zero leaf.
    rank: u16,
    block: u16,
}

/// The adaptive tree of one section kind.
pub(crate) struct Tree {
    nodes: Vec<Node>,
    /// Node at each rank: the ordering read from the root backwards.
    by_rank: Vec<u16>,
    /// Leaf of each byte value, `NONE` while unseen.
    leaf: [u16; SYMBOLS],
    /// The zero leaf, `NONE` once every value has been seen.
    zero: u16,
    unseen: usize,
    root: u16,
    /// Leader of each block.
    leaders: Vec<u16>,
    /// Dropped blocks, reused last-in first-out.
    free_blocks: Vec<u16>,
}

impl Default for Tree {
    fn default() -> Self {
        let mut nodes = Vec::with_capacity(MAX_NODES);
        nodes.push(Node {
            weight: 0,
            parent: NONE,
            kids: [NONE; 2],
            symbol: NONE,
            rank: 0,
            block: NONE,
        });
        Tree {
            nodes,
            by_rank: vec![0],
            leaf: [NONE; SYMBOLS],
            zero: 0,
            unseen: SYMBOLS,
            root: 0,
            leaders: Vec::new(),
            free_blocks: Vec::new(),
        }
    }
}

/// Bits needed to tell `n` values apart: ⌈log₂ n⌉.
fn index_width(n: usize) -> u32 {
    n.next_power_of_two().trailing_zeros()
}

impl Tree {
    fn node(&self, id: u16) -> &Node {
        &self.nodes[usize::from(id)]
    }

    fn node_mut(&mut self, id: u16) -> &mut Node {
        &mut self.nodes[usize::from(id)]
    }

    fn weight(&self, id: u16) -> u32 {
        self.node(id).weight
    }

    /// The node at `rank`, if any.
    fn at_rank(&self, rank: usize) -> Option<u16> {
        self.by_rank.get(rank).copied()
    }

    fn new_block(&mut self, leader: u16) -> u16 {
        if let Some(b) = self.free_blocks.pop() {
            self.leaders[usize::from(b)] = leader;
            b
        } else {
            self.leaders.push(leader);
            (self.leaders.len() - 1) as u16
        }
    }

    fn drop_block(&mut self, block: u16) {
        self.free_blocks.push(block);
    }

    fn leader(&self, block: u16) -> u16 {
        self.leaders
            .get(usize::from(block))
            .copied()
            .unwrap_or(NONE)
    }

    fn add_node(&mut self, node: Node) -> u16 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u16
    }

    /// The `index`-th unseen byte value in increasing order.
    fn nth_unseen(&self, index: usize) -> Option<u8> {
        (0..=255u8)
            .filter(|&b| self.leaf[usize::from(b)] == NONE)
            .nth(index)
    }

    /// Decodes one byte and updates the tree.
    fn decode(&mut self, bits: &mut BitReader<'_>) -> Result<u8, SecondaryError> {
        let at = bits.offset();
        let mut node = self.root;
        while self.node(node).kids[0] != NONE {
            let bit = bits.bit()?;
            node = self.node(node).kids[bit as usize];
        }
        let symbol = if node != self.zero {
            self.node(node).symbol as u8
        } else if self.unseen == 1 {
            self.nth_unseen(0).unwrap_or(0)
        } else {
            let index = bits.field(index_width(self.unseen))? as usize;
            self.nth_unseen(index).ok_or_else(|| {
                SecondaryError::corrupt_at(
                    format!(
                        "new byte index {index} out of range ({} unseen)",
                        self.unseen
                    ),
                    at,
                )
            })?
        };
        self.update(symbol);
        Ok(symbol)
    }

    /// Updates the tree after `symbol` has been coded.
    pub(crate) fn update(&mut self, symbol: u8) {
        let start = match self.leaf[usize::from(symbol)] {
            NONE => self.add_symbol(symbol),
            leaf => leaf,
        };
        let mut n = start;
        while n != self.root && n != NONE {
            self.move_right(n);
            self.promote(n);
            let node = self.node_mut(n);
            node.weight = node.weight.wrapping_add(1);
            n = node.parent;
        }
        let root = self.root;
        let node = self.node_mut(root);
        node.weight = node.weight.wrapping_add(1);
    }

    /// Gives a first-seen `symbol` a leaf of weight 0 (step 1 of the module docs).
    fn add_symbol(&mut self, symbol: u8) -> u16 {
        let zero = self.zero;
        let zero_rank = usize::from(self.node(zero).rank);
        self.unseen -= 1;
        if self.unseen == 0 {
            // The zero leaf becomes the last symbol's leaf, in place.
            let right = self.at_rank(zero_rank.wrapping_sub(1)).unwrap_or(NONE);
            let block = if right != NONE && self.weight(right) == 1 {
                self.node(right).block
            } else {
                self.new_block(zero)
            };
            let node = self.node_mut(zero);
            node.symbol = u16::from(symbol);
            node.block = block;
            self.leaf[usize::from(symbol)] = zero;
            self.zero = NONE;
            return zero;
        }
        // Split the zero leaf: a new internal node takes its place.
        let parent = self.node(zero).parent;
        let inner = self.add_node(Node {
            weight: 0,
            parent,
            kids: [zero, NONE],
            symbol: NONE,
            rank: zero_rank as u16,
            block: NONE,
        });
        let leaf = self.add_node(Node {
            weight: 0,
            parent: inner,
            kids: [NONE; 2],
            symbol: u16::from(symbol),
            rank: zero_rank as u16 + 1,
            block: NONE,
        });
        self.node_mut(inner).kids[1] = leaf;
        self.leaf[usize::from(symbol)] = leaf;
        self.by_rank[zero_rank] = inner;
        self.by_rank.push(leaf);
        self.by_rank.push(zero);
        {
            let z = self.node_mut(zero);
            z.parent = inner;
            z.rank = zero_rank as u16 + 2;
        }
        if parent == NONE {
            self.root = inner;
            let b = self.new_block(leaf);
            self.node_mut(leaf).block = b;
            let b = self.new_block(inner);
            self.node_mut(inner).block = b;
        } else {
            let slot = usize::from(self.node(parent).kids[1] == zero);
            self.node_mut(parent).kids[slot] = inner;
            let right = self.at_rank(zero_rank.wrapping_sub(1)).unwrap_or(NONE);
            let block = if right != NONE && self.weight(right) == 1 {
                self.node(right).block
            } else {
                self.new_block(inner)
            };
            self.node_mut(inner).block = block;
            self.node_mut(leaf).block = block;
        }
        leaf
    }

    /// Swaps `n` with its block's leader unless that is itself or its parent.
    fn move_right(&mut self, n: u16) {
        if self.weight(n) == 0 {
            return;
        }
        let block = self.node(n).block;
        let lead = self.leader(block);
        if lead == n || lead == NONE || lead == self.node(n).parent {
            return;
        }
        let (pn, pl) = (self.node(n).parent, self.node(lead).parent);
        if pn == NONE || pl == NONE {
            return; // the root is never in a block with other nodes
        }
        let slot_n = usize::from(self.node(pn).kids[1] == n);
        let slot_l = usize::from(self.node(pl).kids[1] == lead);
        self.node_mut(pn).kids[slot_n] = lead;
        self.node_mut(pl).kids[slot_l] = n;
        self.node_mut(n).parent = pl;
        self.node_mut(lead).parent = pn;
        let (rn, rl) = (self.node(n).rank, self.node(lead).rank);
        self.node_mut(n).rank = rl;
        self.node_mut(lead).rank = rn;
        self.by_rank[usize::from(rl)] = n;
        self.by_rank[usize::from(rn)] = lead;
        self.leaders[usize::from(block)] = n;
    }

    /// Fixes `n`'s block before its weight goes up by one.
    fn promote(&mut self, n: u16) {
        let w = self.weight(n);
        if w == 0 {
            return;
        }
        let rank = usize::from(self.node(n).rank);
        let left = self.at_rank(rank + 1);
        let Some(right) = rank.checked_sub(1).and_then(|r| self.at_rank(r)) else {
            return;
        };
        let joins_right = w == self.weight(right).wrapping_sub(1) && right != self.root;
        let block = self.node(n).block;
        let [kid0, kid1] = self.node(n).kids;
        if kid0 != NONE && left == Some(kid1) && self.weight(kid0) == 0 {
            if joins_right {
                self.drop_block(block);
                let target = self.node(right).block;
                self.node_mut(n).block = target;
                self.node_mut(kid1).block = target;
            }
            return;
        }
        let Some(left) = left.filter(|&l| l != self.zero) else {
            return;
        };
        if self.node(left).block == block {
            self.leaders[usize::from(block)] = left;
        } else {
            self.drop_block(block);
        }
        let block = if joins_right {
            self.node(right).block
        } else {
            self.new_block(n)
        };
        self.node_mut(n).block = block;
    }

    /// The code of `symbol` as bits in order (tests only: the crate does not encode).
    #[cfg(test)]
    fn code(&self, symbol: u8) -> Vec<u32> {
        let target = match self.leaf[usize::from(symbol)] {
            NONE => self.zero,
            leaf => leaf,
        };
        let mut path = Vec::new();
        let mut n = target;
        while n != self.root {
            let parent = self.node(n).parent;
            path.push(u32::from(self.node(parent).kids[1] == n));
            n = parent;
        }
        path.reverse();
        if target == self.zero && self.unseen > 1 {
            let index = (0..symbol)
                .filter(|&b| self.leaf[usize::from(b)] == NONE)
                .count() as u32;
            let width = index_width(self.unseen);
            path.extend((0..width).rev().map(|k| (index >> k) & 1));
        }
        path
    }
}

/// The three persistent trees of a file.
#[derive(Default)]
pub(crate) struct FgkSections {
    trees: [Option<Box<Tree>>; 3],
}

impl FgkSections {
    fn tree(&mut self, section: Section) -> &mut Tree {
        self.trees[section as usize].get_or_insert_with(Box::default)
    }

    /// Decompresses one section payload, appending exactly `expected` bytes to `out`.
    pub(crate) fn decompress(
        &mut self,
        section: Section,
        payload: &[u8],
        expected: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SecondaryError> {
        let tree = self.tree(section);
        let mut bits = BitReader::new(payload);
        out.reserve(expected);
        for _ in 0..expected {
            out.push(tree.decode(&mut bits)?);
        }
        bits.finish()
    }

    /// Replays a section stored plain into its tree, as xdelta3's encoder did when it tried
    /// and rejected compressing it.
    pub(crate) fn stored_plain(&mut self, section: Section, bytes: &[u8]) {
        if bytes.len() < MIN_ATTEMPTED {
            return;
        }
        let tree = self.tree(section);
        for &b in bytes {
            tree.update(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bits::BitWriter;
    use super::*;
    use proptest::prelude::*;

    fn encode(tree: &mut Tree, data: &[u8]) -> Vec<u8> {
        let mut w = BitWriter::default();
        for &b in data {
            for bit in tree.code(b) {
                w.bit(bit);
            }
            tree.update(b);
        }
        w.bytes
    }

    /// Checks the tree's structure: parent/child links, ranks, and the sibling order.
    fn check(tree: &Tree) {
        for (rank, &id) in tree.by_rank.iter().enumerate() {
            let node = tree.node(id);
            assert_eq!(usize::from(node.rank), rank);
            if node.kids[0] != NONE {
                let [a, b] = node.kids;
                assert_eq!(tree.node(a).parent, id);
                assert_eq!(tree.node(b).parent, id);
                assert_eq!(
                    tree.node(a).rank,
                    tree.node(b).rank + 1,
                    "siblings adjacent"
                );
                assert_eq!(node.weight, tree.weight(a).wrapping_add(tree.weight(b)));
            }
        }
    }

    #[test]
    fn first_byte_is_its_value() {
        let mut tree = Tree::default();
        assert_eq!(tree.code(0xa5), [1, 0, 1, 0, 0, 1, 0, 1]);
        tree.update(0xa5);
        // Now: root, leaf a5, zero leaf. a5 is bit 1, the zero leaf bit 0.
        assert_eq!(tree.code(0xa5), [1]);
        assert_eq!(tree.code(0x00)[0], 0);
        assert_eq!(tree.code(0x00).len(), 1 + 8);
        check(&tree);
    }

    #[test]
    fn every_value_then_more() {
        let data: Vec<u8> = (0..=255u8)
            .rev()
            .chain((0..5000u32).map(|i| (i * i % 251) as u8))
            .collect();
        let mut enc = Tree::default();
        let payload = encode(&mut enc, &data);
        check(&enc);
        let mut dec = FgkSections::default();
        let mut out = Vec::new();
        dec.decompress(Section::Data, &payload, data.len(), &mut out)
            .expect("decodes");
        assert_eq!(out, data);
        assert_eq!(dec.tree(Section::Data).unseen, 0);
    }

    #[test]
    fn trailing_and_missing_bytes_fail() {
        let data = b"abracadabra, abracadabra";
        let payload = encode(&mut Tree::default(), data);
        let mut out = Vec::new();
        let mut longer = payload.clone();
        longer.push(0);
        assert!(
            FgkSections::default()
                .decompress(Section::Inst, &longer, data.len(), &mut out)
                .is_err()
        );
        out.clear();
        assert!(
            FgkSections::default()
                .decompress(Section::Inst, &payload, data.len() + 5, &mut out)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn round_trip_across_windows(
            parts in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 1..600), any::<bool>()), 1..6),
            skew in 1u8..=255,
        ) {
            // Windows either coded or stored plain; the trees must stay in step.
            let mut enc = Tree::default();
            let mut dec = FgkSections::default();
            for (raw, plain) in parts {
                let part: Vec<u8> = raw.iter().map(|b| b % skew).collect();
                let payload = encode(&mut enc, &part);
                if plain && part.len() >= MIN_ATTEMPTED {
                    dec.stored_plain(Section::Addr, &part);
                } else {
                    let mut out = Vec::new();
                    dec.decompress(Section::Addr, &payload, part.len(), &mut out)
                        .expect("decodes");
                    prop_assert_eq!(out, part);
                }
                check(&enc);
            }
        }

        #[test]
        fn garbage_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..400),
                                expected in 1usize..4000) {
            let mut out = Vec::new();
            let decoded = FgkSections::default().decompress(Section::Data, &payload, expected, &mut out);
            // What holds besides "no panic": a decode that succeeds yields exactly the declared
            // length, and the same input decodes the same way again (no hidden state leaks).
            if decoded.is_ok() {
                prop_assert_eq!(out.len(), expected);
                let mut again = Vec::new();
                prop_assert!(FgkSections::default()
                    .decompress(Section::Data, &payload, expected, &mut again)
                    .is_ok());
                prop_assert_eq!(again, out);
            }
        }
    }
}
