//! `HashStore::slot_layout` says where hashbrown keeps a key's slot, for
//! prefetching it without the lock. A hashbrown release that laid its
//! table out differently would make every prefetch miss and fail nothing
//! else: this checks the prediction against where the entries really are.

#[path = "../src/table/hash_store.rs"]
#[allow(dead_code)]
mod hash_store;

use hash_store::HashStore;
use std::hash::{BuildHasher, RandomState};

type Entry = [u64; 3];

fn fill(n: u64) -> (HashStore<Entry>, impl Fn(u64) -> u64) {
    let state = RandomState::new();
    let hash = move |k: u64| state.hash_one(k);
    let mut store = HashStore::default();
    for k in 0..n {
        store.upsert(
            hash(k),
            |a: &Entry, b| a[0] == b[0],
            |e| hash(e[0]),
            [k, 0, 0],
        );
    }
    (store, hash)
}

#[test]
fn entries_lie_where_the_layout_says() {
    for n in [1, 10, 700, 1500, 3000] {
        let (store, hash) = fill(n);
        let layout = store.slot_layout();
        assert_eq!(layout.entry, std::mem::size_of::<Entry>());
        let (mut home, mut near) = (0, 0);
        for k in 0..n {
            let h = hash(k);
            let at = store.find(h, |e| e[0] == k).expect("stored") as *const Entry as usize;
            let b = store.position(h, |e| e[0] == k, &[]).expect("stored");
            let predicted = layout.addresses(h).0;
            // The first bucket a probe looks in, and where it found the key:
            // later buckets lie below, one entry each.
            assert_eq!(layout.ctrl - (b + 1) * layout.entry, at, "key {k} of {n}");
            let steps = b.wrapping_sub(h as usize) & layout.mask;
            if b >= h as usize & layout.mask {
                assert_eq!(predicted - steps * layout.entry, at, "key {k} of {n}");
            }
            home += usize::from(steps == 0);
            near += usize::from(steps <= 2);
        }
        // Most keys sit in their first bucket or just after it (what
        // `SlotHint::prefetch` loads).
        let n = n as usize;
        assert!(home * 2 >= n, "{home} of {n} keys in their first bucket");
        assert!(near * 10 >= n * 7, "{near} of {n} keys within two buckets");
    }
}

#[test]
fn an_empty_store_has_no_layout() {
    assert_eq!(HashStore::<Entry>::default().slot_layout().ctrl, 0);
    let (mut store, _) = fill(10);
    assert_ne!(store.slot_layout().ctrl, 0);
    let emptied = store.take_all(|e| e[0].to_be_bytes().to_vec());
    assert_eq!(emptied.len(), 10);
    assert_eq!(
        store.slot_layout().ctrl,
        0,
        "a fresh table: nothing to prefetch"
    );
}
