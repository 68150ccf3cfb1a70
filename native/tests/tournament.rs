//! The winner tree that merges an ordered_set's stores in a walk, against a
//! linear scan (VM-free, so compiled here on its own as tests/codec.rs is).

#[path = "../src/table/tournament.rs"]
mod tournament;

use std::collections::VecDeque;
use tournament::Tournament;

/// The sequence a linear scan finds first (the last of equal items going
/// backward, the first going forward: the tie rule the tree shares).
fn scan(seqs: &[VecDeque<u64>], forward: bool) -> Option<usize> {
    seqs.iter()
        .enumerate()
        .filter_map(|(i, q)| q.front().map(|k| (i, k)))
        .reduce(|a, b| if (b.1 < a.1) == forward { b } else { a })
        .map(|(i, _)| i)
}

/// A xorshift generator: the same sequence of changes on every run.
fn rng(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}

#[test]
fn winner_is_what_a_scan_finds() {
    let mut rnd = rng(0x2545_f491_4f6c_dd1d);
    // Counts that are and are not powers of two (an ordered_set with 7
    // partitions has 56 stores); pops and refills, in both directions.
    for n in [1, 2, 3, 7, 32, 56, 64] {
        for forward in [true, false] {
            let mut seqs = vec![VecDeque::new(); n];
            let mut t = Tournament::new(n);
            assert_eq!(t.winner(), None);
            for step in 0..3000 {
                let l = rnd(n as u64) as usize;
                if step % 3 == 0 {
                    seqs[l].pop_front();
                } else {
                    let mut items: Vec<u64> = (0..rnd(4)).map(|_| rnd(1000)).collect();
                    items.sort_unstable();
                    if !forward {
                        items.reverse();
                    }
                    seqs[l] = items.into();
                }
                t.update(l, |s| seqs[s].front(), forward);
                let front = |w: Option<usize>| w.and_then(|w| seqs[w].front());
                assert_eq!(
                    front(t.winner()),
                    front(scan(&seqs, forward)),
                    "n {n}, step {step}"
                );
            }
        }
    }
}

#[test]
fn empty_sequences_never_win() {
    let seqs: Vec<VecDeque<u64>> = vec![VecDeque::new(), VecDeque::from([5]), VecDeque::new()];
    let mut t = Tournament::new(3);
    for l in 0..3 {
        t.update(l, |s| seqs[s].front(), true);
    }
    assert_eq!(t.winner(), Some(1));
}
