//! Traversal: first/next/last/prev, and ordered_set scans merged across
//! partitions so that callers see one table in Erlang term order.
//!
//! Hashed tables are walked lock by lock, bucket by bucket, as ETS walks its
//! hash table; `last/1` and `prev/2` are `first/1` and `next/2` there, as in
//! ETS. An ordered_set step looks at every partition and takes the closest
//! key, so `next/2` also accepts keys that are not in the table.

use super::*;
use crate::table::ordered_store::{OrderedStore, SortKey};
use crate::table::partition::Partition;
use crate::table::tournament::Tournament;
use parking_lot::RwLockReadGuard;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};

/// Calls `f` on every object of an ordered_set, merged across partitions in
/// key order (greatest first when `descending`), until it returns false.
/// All partitions are read-locked meanwhile, so the scan is one snapshot.
pub fn merged_in_order(tab: &Table, descending: bool, mut f: impl FnMut(&Obj) -> bool) {
    merged_from(tab, None, descending, |_, o| f(o));
}

/// As `merged_in_order`, starting after the sort key `after` (when given);
/// `f` also gets each object's sort key.
pub fn merged_from(
    tab: &Table,
    after: Option<&SortKey>,
    descending: bool,
    f: impl FnMut(&SortKey, &Obj) -> bool,
) {
    let guards = read_all(tab);
    let iters = ordered_stores(&guards)
        .map(|s| objects_after(s, after, descending))
        .collect();
    merge(iters, descending, f);
}

/// A store's objects after `after` (exclusive; `None`: all of them), in
/// key order, or greatest first when `descending`.
fn objects_after<'s>(
    store: &'s OrderedStore,
    after: Option<&SortKey>,
    descending: bool,
) -> Box<dyn Iterator<Item = (&'s SortKey, &'s Obj)> + 's> {
    match (after, descending) {
        (None, false) => Box::new(store.iter()),
        (None, true) => Box::new(store.iter().rev()),
        (Some(k), false) => Box::new(store.range_after(k, false)),
        (Some(k), true) => Box::new(store.range_before(k, false)),
    }
}

/// As `merged_in_order`, for the objects `keep` maps to `Some`: each store
/// is scanned in its own order first, and only what is kept is merged, so
/// a selective scan pays little for the merge.
pub fn merged_kept<T>(
    tab: &Table,
    descending: bool,
    mut keep: impl FnMut(&Obj) -> Option<T>,
    mut f: impl FnMut(T, &Obj),
) {
    let guards = read_all(tab);
    let kept: Vec<Vec<(&SortKey, (T, &Obj))>> = ordered_stores(&guards)
        .map(|s| {
            let mut kept = Vec::new();
            each_prefetched(
                objects_after(s, None, descending),
                |(_, o)| o,
                |(k, o)| {
                    kept.extend(keep(o).map(|t| (k, (t, o))));
                    true
                },
            );
            kept
        })
        .collect();
    merge(
        kept.into_iter().map(Vec::into_iter).collect(),
        descending,
        |_, (t, o)| {
            f(t, o);
            true
        },
    );
}

/// Calls `f` on each item in iteration order, prefetching the objects
/// (`obj`) of a few items ahead; stops when `f` returns false.
pub fn each_prefetched<'o, I: Copy>(
    items: impl Iterator<Item = I>,
    obj: impl Fn(I) -> &'o Obj,
    mut f: impl FnMut(I) -> bool,
) {
    const AHEAD: usize = 16;
    let mut ring: [Option<I>; AHEAD] = [None; AHEAD];
    let mut n = 0;
    for it in items {
        obj(it).prefetch();
        if let Some(prev) = ring[n % AHEAD].replace(it) {
            if !f(prev) {
                return;
            }
        }
        n += 1;
    }
    for k in 0..AHEAD {
        if let Some(it) = ring[(n + k) % AHEAD].take() {
            if !f(it) {
                return;
            }
        }
    }
}

/// Merges sequences each in key order (greatest first when `descending`)
/// into one, calling `f` on each item until it returns false. A heap holds
/// each sequence's next item: a step costs log(sequences) comparisons.
fn merge<'s, X>(
    mut seqs: Vec<impl Iterator<Item = (&'s SortKey, X)>>,
    descending: bool,
    mut f: impl FnMut(&'s SortKey, X) -> bool,
) {
    let mut heap: BinaryHeap<Head<'s, X>> = seqs
        .iter_mut()
        .enumerate()
        .filter_map(|(i, it)| Head::next(it, i, descending))
        .collect();
    // The closest item is replaced in place by its sequence's next one, so
    // a step is one sift down (`PeekMut` sifts as it drops).
    while let Some(mut top) = heap.peek_mut() {
        let seq = top.seq;
        let head = match Head::next(&mut seqs[seq], seq, descending) {
            Some(next) => std::mem::replace(&mut *top, next),
            None => PeekMut::pop(top),
        };
        if !f(head.key, head.item) {
            return;
        }
    }
}

/// One sequence's next item in a merge; the heap's greatest is the one to
/// take next, so ascending merges order their keys reversed.
struct Head<'s, X> {
    key: &'s SortKey,
    item: X,
    seq: usize,
    descending: bool,
}

impl<'s, X> Head<'s, X> {
    fn next(
        it: &mut impl Iterator<Item = (&'s SortKey, X)>,
        seq: usize,
        descending: bool,
    ) -> Option<Head<'s, X>> {
        let (key, item) = it.next()?;
        Some(Head {
            key,
            item,
            seq,
            descending,
        })
    }
}

impl<X> Ord for Head<'_, X> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let by_key = self.key.cmp(other.key);
        if self.descending {
            by_key
        } else {
            by_key.reverse()
        }
    }
}

impl<X> PartialOrd for Head<'_, X> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<X> PartialEq for Head<'_, X> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<X> Eq for Head<'_, X> {}

fn read_all(tab: &Table) -> Vec<RwLockReadGuard<'_, Partition>> {
    (0..tab.lock_count()).map(|l| tab.read(l)).collect()
}

fn ordered_stores<'g>(
    guards: &'g [RwLockReadGuard<'_, Partition>],
) -> impl Iterator<Item = &'g OrderedStore> {
    guards.iter().map(|g| {
        g.as_ordered()
            .expect("an ordered_set has ordered partitions")
    })
}

/// Where a step starts from.
#[derive(Clone, Copy)]
enum From<'k> {
    Start,
    After(&'k [u8]),
}

/// Where the last ordered_set step of this scheduler thread left off, so
/// that the usual walk (`next/2` called with the key just returned) locks
/// one store and seldom searches it: for each store, its next keys after
/// `last` in the direction of travel, read ahead, and the store's version
/// when they were read.
struct Cursor {
    table: u64,
    forward: bool,
    /// Sort key of the key returned last (`None`: before the first).
    last: Option<SortKey>,
    /// Each store's version when its keys ahead were read.
    versions: Vec<u64>,
    ahead: Vec<Ahead>,
    /// Which store's next key comes first: a tournament over the stores, so
    /// that a step compares keys along one path (log2 of the stores) instead
    /// of across all of them.
    closest: Tournament,
}

/// A store's next keys (sort key and encoded key term), in order.
#[derive(Default)]
struct Ahead {
    keys: VecDeque<(SortKey, Vec<u8>)>,
    /// The store has no keys after these.
    complete: bool,
}

/// Keys read ahead from a store the walk keeps taking keys from: one
/// B-tree search per this many steps.
const READ_AHEAD: usize = 16;

thread_local! {
    static CURSOR: std::cell::RefCell<Option<Cursor>> = const { std::cell::RefCell::new(None) };
}

impl Cursor {
    fn new(tab: &Table, forward: bool, last: Option<SortKey>) -> Cursor {
        Cursor {
            table: tab.id,
            forward,
            last,
            // No store is ever at this version: every store is read afresh.
            versions: vec![u64::MAX; tab.lock_count()],
            ahead: (0..tab.lock_count()).map(|_| Ahead::default()).collect(),
            closest: Tournament::new(tab.lock_count()),
        }
    }

    fn continues(&self, tab: &Table, forward: bool, from: &Option<SortKey>) -> bool {
        self.table == tab.id && self.forward == forward && from.is_some() && self.last == *from
    }

    /// Reads up to `n` keys of store `l` after `last`, under its lock.
    fn read_ahead(&mut self, l: usize, store: &OrderedStore, n: usize, keypos: usize) {
        // The tree holds the sort keys, each object its key term: ask for
        // all the objects before reading any, so their cache misses overlap.
        let found: Vec<_> = objects_after(store, self.last.as_ref(), !self.forward)
            .take(n)
            .inspect(|(_, obj)| obj.prefetch())
            .collect();
        let ahead = &mut self.ahead[l];
        ahead.keys.clear();
        ahead.keys.extend(
            found
                .into_iter()
                .map(|(k, obj)| (k.clone(), obj.key(keypos).to_vec())),
        );
        ahead.complete = ahead.keys.len() < n;
        self.versions[l] = store.version();
        self.replay(l);
    }

    /// Takes the next key of store `l`.
    fn pop(&mut self, l: usize) -> Option<(SortKey, Vec<u8>)> {
        let next = self.ahead[l].keys.pop_front();
        self.replay(l);
        next
    }

    /// Updates `closest` after store `l`'s next key changed.
    fn replay(&mut self, l: usize) {
        let ahead = &self.ahead;
        let front = |s: usize| ahead[s].keys.front().map(|(k, _)| k);
        self.closest.update(l, front, self.forward);
    }

    /// The store whose next key comes first in the direction of travel.
    fn closest(&self) -> Option<usize> {
        self.closest.winner()
    }
}

fn ordered(part: &Partition) -> &OrderedStore {
    part.as_ordered()
        .expect("an ordered_set has ordered partitions")
}

/// The key closest to `from` in the direction of travel, across stores.
///
/// Each store's keys ahead are cached with the store's version, which
/// writers publish as they unlock (`Table::version`); a step reads again
/// only the stores written since, then locks the one store it takes the key
/// from. Without concurrent writes the result is exact; with them, each
/// store is looked at once, at some moment during the call, as ETS does.
fn ordered_step<'a>(env: Env<'a>, tab: &Table, from: From<'_>, forward: bool) -> Res<Term<'a>> {
    let from = match from {
        From::Start => None,
        From::After(k) => Some(SortKey::new(k)),
    };
    CURSOR.with(|c| {
        let mut slot = c.borrow_mut();
        let cur = match slot.as_mut() {
            Some(cur) if cur.continues(tab, forward, &from) => cur,
            _ => slot.insert(Cursor::new(tab, forward, from)),
        };
        for l in 0..tab.lock_count() {
            if tab.version(l) != cur.versions[l] {
                cur.read_ahead(l, ordered(&tab.read(l)), 1, tab.keypos);
            }
        }
        loop {
            let Some(w) = cur.closest() else {
                return Ok(atoms::end_of_table().encode(env));
            };
            let part = tab.read(w);
            let store = ordered(&part);
            if store.version() != cur.versions[w] {
                cur.read_ahead(w, store, 1, tab.keypos); // written since: look again
                continue;
            }
            let (key, key_bytes) = cur.pop(w).expect("w has a next key");
            cur.last = Some(key);
            if cur.ahead[w].keys.is_empty() && !cur.ahead[w].complete {
                cur.read_ahead(w, store, READ_AHEAD, tab.keypos);
            }
            let mut at = 0;
            // SAFETY: `key_bytes` is a whole encoded key of an object in store `w`,
            // unchanged since (same version); the read lock, held until we return,
            // keeps that object and any shared binary its key names alive.
            let key = unsafe { decode::term(env.as_c_arg(), &key_bytes, &mut at) };
            // SAFETY: `decode::term` built `key` in `env`.
            return Ok(unsafe { Term::new(env, key) });
        }
    })
}

/// The key of a stored object, on the caller's heap.
fn key_term<'a>(env: Env<'a>, tab: &Table, obj: &Obj) -> Res<Term<'a>> {
    kv::element_term(env, obj, tab.keypos)
}

/// The first key at traversal position (`lock`, `bucket`) or after it.
fn hashed_from<'a>(env: Env<'a>, tab: &Table, lock: usize, bucket: usize) -> Res<Term<'a>> {
    for l in lock..tab.lock_count() {
        let part = tab.read(l);
        let from = if l == lock { bucket } else { 0 };
        if let Some((_, obj)) = part.next_from(from) {
            return key_term(env, tab, obj);
        }
    }
    Ok(atoms::end_of_table().encode(env))
}

/// The traversal position of `key` in a hashed table, if it is there.
fn hashed_position(tab: &Table, key: &Key) -> Option<(usize, usize)> {
    let find = |l: usize| {
        tab.read(l)
            .bucket_of(tab.keypos, key.hash, key.bytes())
            .map(|b| (l, b))
    };
    if tab.has_keyslot_fun {
        // The key's partition was chosen by a fun on the Erlang side: look
        // in each.
        (0..tab.lock_count()).find_map(find)
    } else {
        find(tab.lock_of(tab.partition_of(key.hash), key.hash))
    }
}

fn first_impl<'a>(env: Env<'a>, t: Term<'a>, forward: bool) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    if tab.kind == Kind::OrderedSet {
        ordered_step(env, &tab, From::Start, forward)
    } else {
        hashed_from(env, &tab, 0, 0)
    }
}

fn next_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, forward: bool) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    let key = encode_key(env, &tab, key)?;
    if tab.kind == Kind::OrderedSet {
        return ordered_step(env, &tab, From::After(key.bytes()), forward);
    }
    let (lock, bucket) = hashed_position(&tab, &key).ok_or(Fail::BadArg)?;
    hashed_from(env, &tab, lock, bucket + 1)
}

fn first<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    first_impl(env, t, true)
}
nif!("first", 1, first);

fn last<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    first_impl(env, t, false)
}
nif!("last", 1, last);

fn next<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    next_impl(env, t, key, true)
}
nif!("next", 2, next);

fn prev<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    next_impl(env, t, key, false)
}
nif!("prev", 2, prev);
