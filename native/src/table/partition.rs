//! One lock's worth of a table: the store of its table type.
//!
//! Keys are passed as `(hash, key)`: for hashed types `key` is the canonical
//! encoding of the key; for `ordered_set` it is the sort key (`codec::order`)
//! and the hash only chose the partition.

use super::bag_store::BagStore;
use super::hash_store::{HashStore, SlotLayout};
use super::ordered_store::{OrderedStore, SortKey};
use super::set_store::SetStore;
use super::Kind;
use crate::codec::object::{Garbage, ObjMut, ObjRef};
use crate::codec::Obj;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

pub use crate::codec::hash::hash_key;

/// What `Partition::edit` does with one object.
pub enum Edit {
    Keep,
    Remove,
    /// Replace it with an object of the same key.
    Replace(Obj),
}

pub enum Partition {
    Set(SetStore),
    Bag(BagStore),
    Ordered(OrderedStore),
}

/// Objects removed by a write, freed by the caller after the lock.
pub enum Removed {
    None,
    One(Obj),
    Many(Vec<Obj>),
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        match self {
            Removed::None => true,
            Removed::One(_) => false,
            Removed::Many(v) => v.is_empty(),
        }
    }

    /// The removed objects, oldest first.
    pub fn as_slice(&self) -> &[Obj] {
        match self {
            Removed::None => &[],
            Removed::One(o) => std::slice::from_ref(o),
            Removed::Many(v) => v,
        }
    }
}

impl From<Option<Obj>> for Removed {
    fn from(o: Option<Obj>) -> Removed {
        o.map_or(Removed::None, Removed::One)
    }
}

/// The objects `Partition::lookup` found: a slice of its store, or an
/// ordered_set object seen through the index.
pub enum Found<'a> {
    Slice(&'a [Obj]),
    One(ObjRef<'a>),
}

impl Deref for Found<'_> {
    type Target = [Obj];
    fn deref(&self) -> &[Obj] {
        match self {
            Found::Slice(s) => s,
            Found::One(o) => std::slice::from_ref(o),
        }
    }
}

/// The object `Partition::get_mut` found, to write in place.
pub enum FoundMut<'a> {
    Ref(&'a mut Obj),
    One(ObjMut<'a>),
}

impl Deref for FoundMut<'_> {
    type Target = Obj;
    fn deref(&self) -> &Obj {
        match self {
            FoundMut::Ref(o) => o,
            FoundMut::One(o) => o,
        }
    }
}

impl DerefMut for FoundMut<'_> {
    fn deref_mut(&mut self) -> &mut Obj {
        match self {
            FoundMut::Ref(o) => o,
            FoundMut::One(o) => o,
        }
    }
}

/// Buckets or keys `Partition::sweep_step` visits under one lock hold.
const SWEEP_STEP: usize = 32;

/// Where a sweep of a partition has got to.
#[derive(Default)]
pub struct SweepAt {
    bucket: usize,
    key: Option<SortKey>,
}

/// A partition's whole contents, taken out to be freed off the lock.
pub enum Contents {
    Set(HashStore<Obj>),
    Bag(HashStore<Vec<Obj>>),
    Ordered(BTreeMap<SortKey, Obj>),
}

impl Contents {
    pub fn size(&self) -> usize {
        match self {
            Contents::Set(m) => m.len(),
            Contents::Bag(m) => m.iter().map(Vec::len).sum(),
            Contents::Ordered(m) => m.len(),
        }
    }

    /// The objects, by value.
    pub fn into_objects(self) -> Box<dyn Iterator<Item = Obj> + Send> {
        match self {
            Contents::Set(m) => Box::new(m.into_entries()),
            Contents::Bag(m) => Box::new(m.into_entries().flatten()),
            Contents::Ordered(m) => Box::new(m.into_values()),
        }
    }
}

impl Partition {
    pub fn new(kind: Kind) -> Partition {
        match kind {
            Kind::Set => Partition::Set(SetStore::default()),
            Kind::Bag => Partition::Bag(BagStore::new(false)),
            Kind::DuplicateBag => Partition::Bag(BagStore::new(true)),
            Kind::OrderedSet => Partition::Ordered(OrderedStore::default()),
        }
    }

    /// Where the hash table a key is probed in lies (see
    /// `HashStore::slot_layout`; for an ordered_set, its index of short
    /// keys).
    pub fn slot_layout(&self) -> SlotLayout {
        match self {
            Partition::Set(s) => s.slot_layout(),
            Partition::Bag(s) => s.slot_layout(),
            Partition::Ordered(s) => s.slot_layout(),
        }
    }

    /// Number of objects.
    pub fn size(&self) -> usize {
        match self {
            Partition::Set(s) => s.size(),
            Partition::Bag(s) => s.size(),
            Partition::Ordered(s) => s.size(),
        }
    }

    pub fn memory(&self) -> usize {
        match self {
            Partition::Set(s) => s.memory(),
            Partition::Bag(s) => s.memory(),
            Partition::Ordered(s) => s.memory(),
        }
    }

    /// The objects under `key` (at most one, except in bags).
    #[inline]
    pub fn lookup(&self, keypos: usize, hash: u64, key: &[u8]) -> Found<'_> {
        match self {
            Partition::Set(s) => {
                Found::Slice(s.get(keypos, hash, key).map_or(&[], std::slice::from_ref))
            }
            Partition::Bag(s) => Found::Slice(s.get(keypos, hash, key)),
            Partition::Ordered(s) => s.get(key).map_or(Found::Slice(&[]), Found::One),
        }
    }

    #[inline]
    pub fn contains(&self, keypos: usize, hash: u64, key: &[u8]) -> bool {
        !self.lookup(keypos, hash, key).is_empty()
    }

    /// The object under `key`, for in-place updates (not in bags, which
    /// refuse updates before getting here).
    pub fn get_mut(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Option<FoundMut<'_>> {
        match self {
            Partition::Set(s) => s.get_mut(keypos, hash, key).map(FoundMut::Ref),
            Partition::Bag(_) => None,
            Partition::Ordered(s) => s.get_mut(key).map(FoundMut::One),
        }
    }

    /// Stores `obj` (`sort_key` is its key's sort key, for ordered_set).
    /// Returns a replaced object, or in a bag an equal one left out.
    pub fn put(
        &mut self,
        keypos: usize,
        hash: u64,
        sort_key: Option<&[u8]>,
        obj: Obj,
    ) -> Option<Obj> {
        match self {
            Partition::Set(s) => s.put(keypos, hash, obj),
            Partition::Bag(s) => s.put(keypos, hash, obj),
            Partition::Ordered(s) => {
                s.put(sort_key.expect("ordered_set objects have a sort key"), obj)
            }
        }
    }

    /// Stores an object from encoded bytes (the hot path of `insert/2`).
    #[allow(clippy::too_many_arguments)]
    pub fn put_bytes(
        &mut self,
        keypos: usize,
        hash: u64,
        key: &[u8],
        bytes: &[u8],
        has_shared: bool,
        neg_zero: bool,
    ) -> Option<Garbage> {
        match self {
            Partition::Set(s) => s.put_bytes(keypos, hash, key, bytes, has_shared, neg_zero),
            Partition::Bag(s) => s
                .put(keypos, hash, Obj::new(bytes, has_shared, neg_zero))
                .map(Garbage::Object),
            Partition::Ordered(s) => s.put_bytes(key, bytes, has_shared, neg_zero),
        }
    }

    /// Removes every object under `key`.
    pub fn remove(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Removed {
        match self {
            Partition::Set(s) => s.remove(keypos, hash, key).into(),
            Partition::Bag(s) => Removed::Many(s.remove(keypos, hash, key)),
            Partition::Ordered(s) => s.remove(key).into(),
        }
    }

    /// Removes the objects under `key` that equal `object` exactly.
    pub fn remove_exact(&mut self, keypos: usize, hash: u64, key: &[u8], object: &[u8]) -> Removed {
        match self {
            Partition::Set(s) => s.remove_exact(keypos, hash, key, object).into(),
            Partition::Bag(s) => Removed::Many(s.remove_exact(keypos, hash, key, object)),
            Partition::Ordered(s) => s.remove_exact(key, object).into(),
        }
    }

    /// Every object (in key order for ordered_set).
    pub fn iter(&self) -> Box<dyn Iterator<Item = &Obj> + '_> {
        match self {
            Partition::Set(s) => Box::new(s.iter()),
            Partition::Bag(s) => Box::new(s.iter()),
            Partition::Ordered(s) => Box::new(s.iter().map(|(_, o)| o)),
        }
    }

    /// The objects of a hashed partition from traversal position `(pos,
    /// sub)` on (`sub`: index among the objects of the key at `pos`), each
    /// with its own position: where a scan that stops can resume without
    /// walking again what it has seen. Empty for an ordered_set.
    pub fn iter_from(
        &self,
        pos: usize,
        sub: usize,
    ) -> Box<dyn Iterator<Item = (usize, usize, &Obj)> + '_> {
        match self {
            Partition::Set(s) => Box::new(
                s.iter_from(pos)
                    .filter(move |&(b, _)| b != pos || sub == 0)
                    .map(|(b, o)| (b, 0, o)),
            ),
            Partition::Bag(s) => Box::new(s.iter_from(pos, sub)),
            Partition::Ordered(_) => Box::new(std::iter::empty()),
        }
    }

    /// Visits every object, keeping, removing or replacing it (a
    /// replacement has the same key). Returns the replaced objects, for the
    /// caller to drop after releasing the lock.
    pub fn edit(&mut self, keypos: usize, mut f: impl FnMut(&Obj) -> Edit) -> Vec<Obj> {
        let mut replaced = Vec::new();
        let mut visit = |o: &mut Obj| match f(o) {
            Edit::Keep => true,
            Edit::Remove => false,
            Edit::Replace(new) => {
                replaced.push(std::mem::replace(o, new));
                true
            }
        };
        match self {
            Partition::Set(s) => s.edit(keypos, &mut visit),
            Partition::Bag(s) => s.edit(keypos, &mut visit),
            Partition::Ordered(s) => s.edit(&mut visit),
        }
        replaced
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, keypos: usize, keep: impl FnMut(&Obj) -> bool) {
        match self {
            Partition::Set(s) => s.retain(keypos, keep),
            Partition::Bag(s) => s.retain(keypos, keep),
            Partition::Ordered(s) => s.retain(keep),
        }
    }

    /// Starts a `safe_fixtable/2` fixation (see `HashStore`). Ordered sets
    /// need nothing: their traversal goes by key, not by position.
    pub fn fix(&mut self) {
        match self {
            Partition::Set(s) => s.fix(),
            Partition::Bag(s) => s.fix(),
            Partition::Ordered(_) => {}
        }
    }

    pub fn unfix(&mut self, keypos: usize) {
        match self {
            Partition::Set(s) => s.unfix(keypos),
            Partition::Bag(s) => s.unfix(keypos),
            Partition::Ordered(_) => {}
        }
    }

    /// The ordered store, for ordered_set traversal.
    pub fn as_ordered(&self) -> Option<&OrderedStore> {
        match self {
            Partition::Ordered(s) => Some(s),
            _ => None,
        }
    }

    /// Traversal position of `key` in a hashed partition.
    pub fn bucket_of(&self, keypos: usize, hash: u64, key: &[u8]) -> Option<usize> {
        match self {
            Partition::Set(s) => s.bucket_of(keypos, hash, key),
            Partition::Bag(s) => s.bucket_of(keypos, hash, key),
            Partition::Ordered(_) => None,
        }
    }

    /// An object of the first key at traversal position `from` or after.
    pub fn next_from(&self, from: usize) -> Option<(usize, &Obj)> {
        match self {
            Partition::Set(s) => s.next_from(from),
            Partition::Bag(s) => s.next_from(from),
            Partition::Ordered(_) => None,
        }
    }

    /// Calls `f` on the objects of the next stretch of the partition after
    /// `at` (about `SWEEP_STEP` buckets or keys), which it advances;
    /// `false` when the whole partition has been visited. `f` may only
    /// change an object's bytes in place, keeping its key.
    pub fn sweep_step(&mut self, at: &mut SweepAt, mut f: impl FnMut(&mut Obj)) -> bool {
        let next = match self {
            Partition::Set(s) => s.for_each_mut_in(at.bucket, SWEEP_STEP, f),
            Partition::Bag(s) => {
                s.for_each_mut_in(at.bucket, SWEEP_STEP, |v| v.iter_mut().for_each(&mut f))
            }
            Partition::Ordered(s) => {
                at.key = s.for_each_mut_after(at.key.as_ref(), SWEEP_STEP, f);
                return at.key.is_some();
            }
        };
        at.bucket = next.unwrap_or(usize::MAX);
        next.is_some()
    }

    /// Empties the partition, handing back the objects so the caller can drop
    /// them outside the lock.
    pub fn take_all(&mut self, keypos: usize) -> Contents {
        match self {
            Partition::Set(s) => Contents::Set(s.take_all(keypos)),
            Partition::Bag(s) => Contents::Bag(s.take_all(keypos)),
            Partition::Ordered(s) => Contents::Ordered(s.take_all()),
        }
    }
}
