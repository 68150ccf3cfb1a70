//! A winner tree: which of N sequences has the next item that comes first,
//! kept up to date in log2(N) comparisons when one sequence's next item
//! changes (a linear scan takes N). An ordered_set walk merges one sequence
//! per store this way.

/// Leaves are the sequences (padded to a power of two); each inner node
/// holds whichever of its two children's sequences has the next item that
/// comes first, or `NONE` when neither has one.
pub struct Tournament {
    /// Node `i`'s children are `2i` and `2i + 1`; the root is node 1 and
    /// the leaves start at `leaves`.
    nodes: Vec<u32>,
    leaves: usize,
}

const NONE: u32 = u32::MAX;

impl Tournament {
    /// A tree over `n` sequences, all without items.
    pub fn new(n: usize) -> Tournament {
        let leaves = n.max(1).next_power_of_two();
        Tournament {
            nodes: vec![NONE; 2 * leaves],
            leaves,
        }
    }

    /// The sequence whose next item comes first, if any has one.
    pub fn winner(&self) -> Option<usize> {
        let w = self.nodes[1];
        (w != NONE).then_some(w as usize)
    }

    /// Replays the matches on sequence `l`'s path after its next item
    /// changed. `front(s)` is sequence `s`'s next item; items come first
    /// when smaller if `forward`, when greater if not.
    pub fn update<'k, K: Ord + 'k>(
        &mut self,
        l: usize,
        front: impl Fn(usize) -> Option<&'k K>,
        forward: bool,
    ) {
        let mut i = self.leaves + l;
        self.nodes[i] = if front(l).is_some() { l as u32 } else { NONE };
        while i > 1 {
            i /= 2;
            let (a, b) = (self.nodes[2 * i], self.nodes[2 * i + 1]);
            self.nodes[i] = match (a, b) {
                (NONE, _) => b,
                (_, NONE) => a,
                _ => match (front(a as usize), front(b as usize)) {
                    (Some(ka), Some(kb)) if (kb < ka) == forward => b,
                    _ => a,
                },
            };
        }
    }
}
