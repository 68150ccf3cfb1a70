//! An `ordered_set` partition: objects in a B-tree keyed by the sort key of
//! their key (`codec::order`), so byte order is Erlang term order and keys
//! that compare `==` (`1` and `1.0`) are one key.

use super::hash_store::{ctrl_of, SlotLayout};
use crate::codec::object::{Garbage, ObjMut, ObjRef};
use crate::codec::{terms_equal, Obj};
use hashbrown::HashTable;
use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::ptr::NonNull;

/// A sort key as the B-tree holds it: its first 16 bytes inline, as two
/// big-endian words (not a `u128`, whose 16-byte alignment would pad every
/// key in the tree by 8 bytes), so that most comparisons during a search
/// are integer comparisons, without touching the heap; longer keys also
/// keep all their bytes on the heap for ties.
#[derive(Clone, PartialEq, Eq)]
pub struct SortKey {
    head: Head,
    /// The whole key, when it is longer than 16 bytes.
    long: Option<Box<[u8]>>,
    /// Length, when short (zero padding alone would make "a" equal "a\0").
    short_len: u8,
}

const HEAD: usize = 16;

/// The first 16 bytes of a key, most significant word first: arrays
/// compare element by element, so this orders as the bytes do.
type Head = [u64; 2];

fn head_of(bytes: [u8; HEAD]) -> Head {
    let (hi, lo) = bytes.split_at(8);
    [
        u64::from_be_bytes(hi.try_into().expect("8 bytes")),
        u64::from_be_bytes(lo.try_into().expect("8 bytes")),
    ]
}

impl SortKey {
    pub fn new(bytes: &[u8]) -> SortKey {
        let mut head = [0u8; HEAD];
        let n = bytes.len().min(HEAD);
        head[..n].copy_from_slice(&bytes[..n]);
        let long = bytes.len() > HEAD;
        SortKey {
            head: head_of(head),
            long: long.then(|| bytes.into()),
            short_len: if long { 0 } else { n as u8 },
        }
    }

    /// The key's bytes (as `new` got them).
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.long {
            Some(k) => k.to_vec(),
            None => {
                let [hi, lo] = self.head;
                let mut b = hi.to_be_bytes().to_vec();
                b.extend_from_slice(&lo.to_be_bytes());
                b.truncate(self.short_len as usize);
                b
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.long
            .as_ref()
            .map_or(0, |k| (k.len() + 8).div_ceil(16).max(2) * 16)
    }

    /// Whether the inline head is the whole key.
    fn is_short(&self) -> bool {
        self.long.is_none()
    }

    fn tail_cmp(&self, other: &SortKey) -> Ordering {
        match (&self.long, &other.long) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => self.short_len.cmp(&other.short_len),
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &SortKey) -> Ordering {
        // Equal heads: both keys agree on their first 16 bytes (or one is
        // shorter and padded with zeros); the rest decides, and a key that
        // ends there sorts first.
        self.head
            .cmp(&other.head)
            .then_with(|| self.tail_cmp(other))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &SortKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The objects of short keys (at most 16 bytes, so that the inline head is
/// the whole key) by sort key: a lookup, or an insert over an existing key,
/// is one hash probe instead of a B-tree search several cache misses deep.
/// The tree owns the objects; every write that replaces or removes one of
/// them updates its slot here.
#[derive(Default)]
struct Index {
    table: HashTable<Slot>,
    /// Where `table`'s control bytes start (see `HashStore::slot_layout`).
    ctrl: usize,
}

struct Slot {
    head: Head,
    len: u8,
    /// The tree's object (see `Obj::heap_ptr`): 8 bytes, where an `Obj`
    /// takes 24.
    obj: NonNull<u8>,
}

// SAFETY: a slot only points at an object of the same store, which is
// `Send` and `Sync`; the store's lock guards both.
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

impl Index {
    /// A hash of a short key (folded multiply: the tree's keys are sorted
    /// prefixes, so their raw bits are anything but uniform).
    fn hash(k: &SortKey) -> u64 {
        Self::hash_of(k.head, k.short_len)
    }

    fn hash_of([hi, lo]: Head, len: u8) -> u64 {
        let lo = lo ^ u64::from(len).rotate_left(56);
        let hi = hi ^ 0x9e37_79b9_7f4a_7c15;
        let m = u128::from(lo) * u128::from(hi);
        (m as u64) ^ ((m >> 64) as u64)
    }

    fn find(&self, k: &SortKey) -> Option<&Slot> {
        self.table.find(Self::hash(k), Self::is(k))
    }

    fn find_mut(&mut self, k: &SortKey) -> Option<&mut Slot> {
        self.table.find_mut(Self::hash(k), Self::is(k))
    }

    /// Points `k` at `obj` (which the tree now holds under `k`).
    fn set(&mut self, k: &SortKey, obj: &Obj) {
        if !k.is_short() {
            return;
        }
        // The tree holds `obj` until it replaces or removes it, which
        // updates or removes this slot first (see `OrderedStore`).
        let ptr = obj.heap_ptr();
        match self.find_mut(k) {
            Some(slot) => slot.obj = ptr,
            None => {
                let slot = Slot {
                    head: k.head,
                    len: k.short_len,
                    obj: ptr,
                };
                let e = self
                    .table
                    .insert_unique(Self::hash(k), slot, Self::hash_slot);
                self.ctrl = ctrl_of(&e);
            }
        }
    }

    fn remove(&mut self, k: &SortKey) {
        if !k.is_short() {
            return;
        }
        let hash = Self::hash(k);
        if let Ok(e) = self.table.find_entry(hash, Self::is(k)) {
            e.remove();
        }
    }

    /// Whether a slot is the one of `k`.
    fn is(k: &SortKey) -> impl Fn(&Slot) -> bool + '_ {
        move |s| s.head == k.head && s.len == k.short_len
    }

    fn hash_slot(s: &Slot) -> u64 {
        Self::hash_of(s.head, s.len)
    }
}

#[derive(Default)]
pub struct OrderedStore {
    map: BTreeMap<SortKey, Obj>,
    index: Index,
    /// Heap bytes of the objects and of long sort keys.
    heap_bytes: usize,
    /// Bumped by every write that may add, remove or respell a key: a
    /// traversal cursor from an older version is stale.
    version: u64,
}

/// B-tree nodes hold up to 11 entries; count them about two-thirds full.
const ENTRY_OVERHEAD: usize = (std::mem::size_of::<SortKey>() + std::mem::size_of::<Obj>()) * 3 / 2;

impl OrderedStore {
    pub fn size(&self) -> usize {
        self.map.len()
    }

    pub fn memory(&self) -> usize {
        let index = self.index.table.capacity() * (std::mem::size_of::<Slot>() + 1);
        self.heap_bytes + self.map.len() * ENTRY_OVERHEAD + index
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the index's slots lie (see `HashStore::slot_layout`).
    pub fn slot_layout(&self) -> SlotLayout {
        SlotLayout::of(self.index.ctrl, &self.index.table)
    }

    /// The hash the index files the sort key `key` under; `None` for a
    /// long key, which only the tree holds.
    pub fn index_hash(key: &[u8]) -> Option<u64> {
        (key.len() <= HEAD).then(|| Index::hash(&SortKey::new(key)))
    }

    /// The allocation of the object under `key`: found by the index for
    /// a short key, in the tree for a long one.
    fn find(&self, key: &[u8]) -> Option<NonNull<u8>> {
        let k = SortKey::new(key);
        if k.is_short() {
            return self.index.find(&k).map(|s| s.obj);
        }
        self.map.get(&k).map(Obj::heap_ptr)
    }

    pub fn get(&self, key: &[u8]) -> Option<ObjRef<'_>> {
        let p = self.find(key)?;
        // SAFETY: the tree owns the object; `&self` keeps it alive and
        // unchanged for the borrow.
        Some(unsafe { ObjRef::new(p) })
    }

    /// For writes in place (the object's allocation stays).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<ObjMut<'_>> {
        let p = self.find(key)?;
        // SAFETY: as in `get`, and `&mut self` makes the access unique.
        Some(unsafe { ObjMut::new(p) })
    }

    /// Inserts or replaces; returns the replaced object.
    pub fn put(&mut self, key: &[u8], obj: Obj) -> Option<Obj> {
        let obj = obj.into_heap(); // the index aliases it
        self.version += 1;
        self.heap_bytes += obj.footprint();
        match self.map.entry(SortKey::new(key)) {
            Entry::Occupied(mut e) => {
                self.index.set(e.key(), &obj);
                let old = std::mem::replace(e.get_mut(), obj);
                self.heap_bytes -= old.footprint();
                Some(old)
            }
            Entry::Vacant(e) => {
                self.heap_bytes += e.key().heap_bytes();
                self.index.set(e.key(), &obj);
                e.insert(obj);
                None
            }
        }
    }

    /// Stores the encoded object `bytes`, in place over an object of the same
    /// length (see `SetStore::put_bytes`).
    pub fn put_bytes(
        &mut self,
        key: &[u8],
        bytes: &[u8],
        has_shared: bool,
        neg_zero: bool,
    ) -> Option<Garbage> {
        self.version += 1;
        let k = SortKey::new(key);
        if let Some(slot) = self.index.find(&k) {
            // SAFETY: the tree owns the object, and `&mut self` makes this
            // the only access to it.
            let mut existing = unsafe { ObjMut::new(slot.obj) };
            if existing.bytes().len() == bytes.len() {
                return existing
                    .overwrite(bytes, has_shared, neg_zero)
                    .map(Garbage::Refs);
            }
        }
        match self.map.entry(k) {
            Entry::Occupied(mut e) => {
                let existing = e.get_mut();
                if existing.bytes().len() == bytes.len() {
                    return existing
                        .overwrite(bytes, has_shared, neg_zero)
                        .map(Garbage::Refs);
                }
                let obj = Obj::new_heap(bytes, has_shared, neg_zero);
                self.heap_bytes += obj.footprint();
                self.index.set(e.key(), &obj);
                let old = std::mem::replace(e.get_mut(), obj);
                self.heap_bytes -= old.footprint();
                Some(Garbage::Object(old))
            }
            Entry::Vacant(e) => {
                let obj = Obj::new_heap(bytes, has_shared, neg_zero);
                self.heap_bytes += obj.footprint() + e.key().heap_bytes();
                self.index.set(e.key(), &obj);
                e.insert(obj);
                None
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Obj> {
        let (k, obj) = self.map.remove_entry(&SortKey::new(key))?;
        self.index.remove(&k);
        self.version += 1;
        self.heap_bytes -= obj.footprint() + k.heap_bytes();
        Some(obj)
    }

    /// Removes the object under `key` only if it equals `object` exactly.
    pub fn remove_exact(&mut self, key: &[u8], object: &[u8]) -> Option<Obj> {
        if !terms_equal(self.get(key)?.bytes(), object) {
            return None;
        }
        self.remove(key)
    }

    /// Objects in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&SortKey, &Obj)> {
        self.map.iter()
    }

    /// Objects with keys after `key` (or from `key` when `inclusive`), in order.
    pub fn range_after<'s>(
        &'s self,
        key: &SortKey,
        inclusive: bool,
    ) -> impl Iterator<Item = (&'s SortKey, &'s Obj)> {
        let lower = if inclusive {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        };
        self.map.range((lower, Bound::Unbounded))
    }

    /// Objects with keys before `key` (or up to `key` when `inclusive`),
    /// greatest first.
    pub fn range_before<'s>(
        &'s self,
        key: &SortKey,
        inclusive: bool,
    ) -> impl Iterator<Item = (&'s SortKey, &'s Obj)> {
        let upper = if inclusive {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        };
        self.map.range((Bound::Unbounded, upper)).rev()
    }

    /// Calls `f` on the objects of up to `n` keys after `after` (all keys
    /// when `None`), in order; returns the last key visited, or `None`
    /// past the last key. `f` may only change an object's bytes in place.
    pub fn for_each_mut_after(
        &mut self,
        after: Option<&SortKey>,
        n: usize,
        mut f: impl FnMut(&mut Obj),
    ) -> Option<SortKey> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut last = None;
        for (k, o) in self.map.range_mut((lower, Bound::Unbounded)).take(n) {
            f(o);
            last = Some(k);
        }
        last.cloned()
    }

    /// Calls `visit` on every object in key order: it may replace the
    /// object in place (same key) and returns whether to keep it.
    pub fn edit(&mut self, mut visit: impl FnMut(&mut Obj) -> bool) {
        let mut bytes = self.heap_bytes as isize;
        self.version += 1;
        let index = &mut self.index;
        self.map.retain(|k, o| {
            let before = o.footprint() as isize;
            let at = o.bytes().as_ptr();
            let keep = visit(o);
            if !keep {
                index.remove(k);
            } else {
                o.make_heap(); // a new object may be inline; the index aliases it
                if o.bytes().as_ptr() != at {
                    index.set(k, o); // replaced by a new object
                }
            }
            bytes += if keep {
                o.footprint() as isize - before
            } else {
                -before - k.heap_bytes() as isize
            };
            keep
        });
        self.heap_bytes = bytes as usize;
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Obj) -> bool) {
        let mut freed = 0;
        self.version += 1;
        let index = &mut self.index;
        self.map.retain(|k, o| {
            let kept = keep(o);
            if !kept {
                freed += o.footprint() + k.heap_bytes();
                index.remove(k);
            }
            kept
        });
        self.heap_bytes -= freed;
    }

    pub fn take_all(&mut self) -> BTreeMap<SortKey, Obj> {
        self.index = Index::default();
        self.heap_bytes = 0;
        self.version += 1;
        std::mem::take(&mut self.map)
    }
}
