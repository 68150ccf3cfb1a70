//! The hash table under `set` and bag partitions, with what `safe_fixtable/2`
//! needs: while a table is fixed, a traversal must see every key that stays
//! in it exactly once, and `next/2` must accept a key deleted meanwhile.
//!
//! Traversal positions are bucket indices, which only growing (or rehashing)
//! the table changes. So while fixed, as ETS does:
//! - a removed entry stays in its bucket, marked dead (the caller gets a
//!   copy), so `next/2` can go on from it and a key inserted again comes
//!   back to the same bucket;
//! - a new key that would make the table grow goes to a side table, walked
//!   after the main one.
//!
//! Unfixing frees the dead entries and moves the side table back. Unfixed,
//! this is a plain hash table: the fast paths check one pointer.

use hashbrown::hash_table::{Entry, HashTable, OccupiedEntry};
use std::collections::{HashMap, HashSet};

pub struct HashStore<T> {
    main: HashTable<T>,
    fixed: Option<Box<Fixed<T>>>,
    /// Where `main`'s control bytes start, as of its last insert (when it
    /// may have moved), or 0: see `slot_layout`.
    ctrl: usize,
}

struct Fixed<T> {
    /// Buckets of `main` holding entries removed while fixed.
    dead: HashSet<usize>,
    /// New keys that arrived when `main` was full.
    overflow: HashTable<T>,
    /// Positions of keys removed from `overflow` (which may grow and
    /// reorder, so these are only as good as ETS's promise for keys
    /// inserted during a traversal).
    overflow_removed: HashMap<Vec<u8>, usize>,
}

/// The start of a hashbrown table's control bytes, from any of its
/// entries (the one just inserted): the entries lie just below the control
/// bytes, last bucket first, so bucket `b`'s is `(b + 1)` entries below.
pub(crate) fn ctrl_of<T>(e: &OccupiedEntry<'_, T>) -> usize {
    e.get() as *const T as usize + (e.bucket_index() + 1) * std::mem::size_of::<T>()
}

/// Where a hashbrown table's slots lie (see `HashStore::slot_layout`).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct SlotLayout {
    /// The address of the control bytes; 0 when unknown.
    pub ctrl: usize,
    /// Buckets minus one.
    pub mask: usize,
    /// The size of an entry.
    pub entry: usize,
}

impl SlotLayout {
    /// The layout of `table`, whose control bytes start at `ctrl` (see
    /// `ctrl_of`; 0 while unknown).
    pub fn of<T>(ctrl: usize, table: &HashTable<T>) -> SlotLayout {
        SlotLayout {
            ctrl,
            mask: table.num_buckets().wrapping_sub(1),
            entry: std::mem::size_of::<T>(),
        }
    }

    /// The addresses of the entry and the control byte of `hash`'s first
    /// candidate bucket (where the key usually is).
    pub fn addresses(&self, hash: u64) -> (usize, usize) {
        let b = hash as usize & self.mask;
        (
            self.ctrl.wrapping_sub((b + 1).wrapping_mul(self.entry)),
            self.ctrl.wrapping_add(b),
        )
    }
}

impl<T> Default for HashStore<T> {
    fn default() -> Self {
        HashStore {
            main: HashTable::new(),
            fixed: None,
            ctrl: 0,
        }
    }
}

impl<T: Clone> HashStore<T> {
    /// Live entries.
    pub fn len(&self) -> usize {
        match &self.fixed {
            None => self.main.len(),
            Some(f) => self.main.len() - f.dead.len() + f.overflow.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots allocated (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.main.capacity() + self.fixed.as_ref().map_or(0, |f| f.overflow.capacity())
    }

    /// Where the slots lie, for prefetching a key's slot without the
    /// lock. Only a hint: stale once the table grows again, and right only
    /// for hashbrown's layout (see `ctrl_of`).
    pub fn slot_layout(&self) -> SlotLayout {
        SlotLayout::of(self.ctrl, &self.main)
    }

    /// The live bucket of `main` holding the key `eq` matches, if any;
    /// `Err(Some(b))` when it is dead in bucket `b`.
    fn live_bucket(&self, hash: u64, eq: impl Fn(&T) -> bool) -> Result<usize, Option<usize>> {
        let b = self.main.find_bucket_index(hash, eq).ok_or(None)?;
        match &self.fixed {
            Some(f) if f.dead.contains(&b) => Err(Some(b)),
            _ => Ok(b),
        }
    }

    #[inline]
    pub fn find(&self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<&T> {
        let Some(f) = &self.fixed else {
            return self.main.find(hash, eq);
        };
        match self.live_bucket(hash, &eq) {
            Ok(b) => self.main.get_bucket(b),
            Err(Some(_)) => None,
            Err(None) => f.overflow.find(hash, &eq),
        }
    }

    #[inline]
    pub fn find_mut(&mut self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<&mut T> {
        if self.fixed.is_none() {
            return self.main.find_mut(hash, eq);
        }
        match self.live_bucket(hash, &eq) {
            Ok(b) => self.main.get_bucket_mut(b),
            Err(Some(_)) => None,
            Err(None) => self.fixed.as_mut()?.overflow.find_mut(hash, &eq),
        }
    }

    /// Stores `value` in place of the entry with the same key (`same_key`),
    /// or as a new entry; returns the replaced entry.
    #[inline]
    pub fn upsert(
        &mut self,
        hash: u64,
        same_key: impl Fn(&T, &T) -> bool,
        rehash: impl Fn(&T) -> u64,
        value: T,
    ) -> Option<T> {
        if self.fixed.is_none() {
            return match self.main.entry(hash, |x| same_key(x, &value), rehash) {
                Entry::Occupied(mut e) => Some(std::mem::replace(e.get_mut(), value)),
                Entry::Vacant(e) => {
                    let e = e.insert(value);
                    self.ctrl = ctrl_of(&e);
                    None
                }
            };
        }
        if let Some(v) = self.find_mut(hash, |x| same_key(x, &value)) {
            return Some(std::mem::replace(v, value));
        }
        let eq = |x: &T| same_key(x, &value);
        let dead = self.main.find_bucket_index(hash, eq);
        self.put_new(hash, dead, value, rehash);
        None
    }

    /// The dead bucket of the key `eq` matches, if the store is fixed and
    /// has one: where `put_new` must put that key back.
    pub fn dead_bucket(&self, hash: u64, eq: impl Fn(&T) -> bool) -> Option<usize> {
        self.fixed.as_ref()?;
        self.main.find_bucket_index(hash, eq)
    }

    /// Stores an entry whose key has no live entry: back in its dead bucket
    /// if it has one, else where it does not move other entries.
    pub fn put_new(
        &mut self,
        hash: u64,
        dead: Option<usize>,
        value: T,
        rehash: impl Fn(&T) -> u64,
    ) {
        match (&mut self.fixed, dead) {
            (Some(f), Some(b)) => {
                f.dead.remove(&b);
                if let Some(slot) = self.main.get_bucket_mut(b) {
                    *slot = value; // the dead entry is freed here
                }
            }
            // Growing would reorder `main` under a fixed traversal.
            (Some(f), None) if self.main.len() == self.main.capacity() => {
                f.overflow.insert_unique(hash, value, rehash);
            }
            _ => {
                let e = self.main.insert_unique(hash, value, rehash);
                self.ctrl = ctrl_of(&e);
            }
        }
    }

    /// Removes the entry `eq` matches (whose key is `key`).
    pub fn remove(&mut self, hash: u64, eq: impl Fn(&T) -> bool, key: &[u8]) -> Option<T> {
        if self.fixed.is_none() {
            return Some(self.main.find_entry(hash, eq).ok()?.remove().0);
        }
        match self.live_bucket(hash, &eq) {
            Ok(b) => {
                self.fixed.as_mut()?.dead.insert(b);
                self.main.get_bucket(b).cloned()
            }
            Err(Some(_)) => None,
            Err(None) => {
                let f = self.fixed.as_mut()?;
                let b = f.overflow.find_bucket_index(hash, &eq)?;
                f.overflow_removed
                    .insert(key.to_vec(), self.main.num_buckets() + b);
                Some(f.overflow.find_entry(hash, &eq).ok()?.remove().0)
            }
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match &self.fixed {
            None => Box::new(self.main.iter()),
            Some(f) => Box::new(
                (0..self.main.num_buckets())
                    .filter(|b| !f.dead.contains(b))
                    .filter_map(|b| self.main.get_bucket(b))
                    .chain(f.overflow.iter()),
            ),
        }
    }

    /// Keeps the entries for which `keep` is true. `keep` may change an
    /// entry it keeps, but must leave alone one it drops (while fixed, that
    /// one stays in place, dead, and its key must still read).
    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool, key: impl Fn(&T) -> Vec<u8>) {
        let Some(f) = &mut self.fixed else {
            self.main.retain(keep);
            return;
        };
        for b in 0..self.main.num_buckets() {
            if f.dead.contains(&b) {
                continue;
            }
            if let Some(v) = self.main.get_bucket_mut(b) {
                if !keep(v) {
                    f.dead.insert(b);
                }
            }
        }
        let n = self.main.num_buckets();
        for b in 0..f.overflow.num_buckets() {
            let Some(v) = f.overflow.get_bucket_mut(b) else {
                continue;
            };
            if !keep(v) {
                f.overflow_removed.insert(key(v), n + b);
                if let Ok(e) = f.overflow.get_bucket_entry(b) {
                    e.remove();
                }
            }
        }
    }

    /// The traversal position of the key `eq` matches (or of `key`, removed
    /// while the table was fixed).
    pub fn position(&self, hash: u64, eq: impl Fn(&T) -> bool, key: &[u8]) -> Option<usize> {
        // A dead entry keeps its position.
        if let Some(b) = self.main.find_bucket_index(hash, &eq) {
            return Some(b);
        }
        let f = self.fixed.as_ref()?;
        f.overflow
            .find_bucket_index(hash, &eq)
            .map(|b| self.main.num_buckets() + b)
            .or_else(|| f.overflow_removed.get(key).copied())
    }

    /// The live entries from traversal position `from` on, in traversal
    /// order, with their positions (for scans that stop and resume).
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &T)> + '_ {
        let n = self.main.num_buckets();
        let fixed = self.fixed.as_deref();
        // Full buckets come in index order, found a group of control bytes
        // at a time; those before `from` cost next to nothing to pass.
        let main = self
            .main
            .iter_buckets()
            .skip_while(move |&b| b < from)
            .filter(move |b| fixed.is_none_or(|f| !f.dead.contains(b)))
            .filter_map(move |b| self.main.get_bucket(b).map(|v| (b, v)));
        let overflow = fixed.into_iter().flat_map(move |f| {
            (from.saturating_sub(n)..f.overflow.num_buckets())
                .filter_map(move |b| f.overflow.get_bucket(b).map(|v| (n + b, v)))
        });
        main.chain(overflow)
    }

    /// Calls `f` on each entry (dead ones too) in buckets `from..from +
    /// buckets`, counting the side table's after the main table's; returns
    /// the bucket to go on from, or `None` past the last one.
    pub fn for_each_mut_in(
        &mut self,
        from: usize,
        buckets: usize,
        mut f: impl FnMut(&mut T),
    ) -> Option<usize> {
        let n = self.main.num_buckets();
        let total = n + self.fixed.as_ref().map_or(0, |f| f.overflow.num_buckets());
        let end = total.min(from.saturating_add(buckets));
        for b in from..end {
            let entry = if b < n {
                self.main.get_bucket_mut(b)
            } else {
                self.fixed
                    .as_mut()
                    .and_then(|f| f.overflow.get_bucket_mut(b - n))
            };
            if let Some(v) = entry {
                f(v);
            }
        }
        (end < total).then_some(end)
    }

    /// The first live entry at traversal position `from` or after it.
    pub fn next_from(&self, from: usize) -> Option<(usize, &T)> {
        let n = self.main.num_buckets();
        let alive = |b: &usize| self.fixed.as_ref().is_none_or(|f| !f.dead.contains(b));
        if let Some(found) = (from..n)
            .filter(alive)
            .find_map(|b| self.main.get_bucket(b).map(|v| (b, v)))
        {
            return Some(found);
        }
        let overflow = &self.fixed.as_ref()?.overflow;
        (from.saturating_sub(n)..overflow.num_buckets())
            .find_map(|b| overflow.get_bucket(b).map(|v| (n + b, v)))
    }

    pub fn fix(&mut self) {
        if self.fixed.is_none() {
            self.fixed = Some(Box::new(Fixed {
                dead: HashSet::new(),
                overflow: HashTable::new(),
                overflow_removed: HashMap::new(),
            }));
        }
    }

    /// Ends a fixation: dead entries are freed, the side table's entries
    /// move to the main one.
    pub fn unfix(&mut self, rehash: impl Fn(&T) -> u64) {
        let Some(f) = self.fixed.take() else {
            return;
        };
        for b in f.dead {
            if let Ok(e) = self.main.get_bucket_entry(b) {
                e.remove();
            }
        }
        for v in f.overflow {
            let h = rehash(&v);
            let e = self.main.insert_unique(h, v, &rehash);
            self.ctrl = ctrl_of(&e);
        }
    }

    /// Every entry, by value (the dead ones of a fixed store included: they
    /// are owned here too).
    pub fn into_entries(self) -> impl Iterator<Item = T> {
        let overflow = self.fixed.map(|f| f.overflow.into_iter());
        self.main.into_iter().chain(overflow.into_iter().flatten())
    }

    /// Empties the store, handing back the old contents (to be dropped off
    /// the lock). While fixed, entries are only marked dead, like removals,
    /// and freed when the fixation ends.
    pub fn take_all(&mut self, key: impl Fn(&T) -> Vec<u8>) -> HashStore<T> {
        if self.fixed.is_some() {
            self.retain(|_| false, key);
            return HashStore::default();
        }
        std::mem::take(self)
    }
}
