//! A `set` partition: a hash table of owned objects, keyed by the canonical
//! encoding of their key.

use super::hash_store::{HashStore, SlotLayout};
use crate::codec::hash::hash_key;
use crate::codec::object::Garbage;
use crate::codec::{terms_equal, Obj};

#[derive(Default)]
pub struct SetStore {
    map: HashStore<Obj>,
    /// Heap bytes held by the objects (for `info(T, memory)`).
    object_bytes: usize,
}

impl SetStore {
    pub fn size(&self) -> usize {
        self.map.len()
    }

    /// Bytes used: the objects plus the hash table's slots and control bytes.
    pub fn memory(&self) -> usize {
        self.object_bytes + self.map.capacity() * (std::mem::size_of::<Obj>() + 1)
    }

    pub(super) fn rehash(keypos: usize) -> impl Fn(&Obj) -> u64 {
        move |o: &Obj| o.with_canonical_key(keypos, hash_key)
    }

    pub(super) fn matches(keypos: usize, key: &[u8]) -> impl Fn(&Obj) -> bool + '_ {
        move |o: &Obj| o.has_key(keypos, key)
    }

    pub fn get(&self, keypos: usize, hash: u64, key: &[u8]) -> Option<&Obj> {
        self.map.find(hash, Self::matches(keypos, key))
    }

    /// For in-place updates that change neither the key nor the length.
    pub fn get_mut(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Option<&mut Obj> {
        self.map.find_mut(hash, Self::matches(keypos, key))
    }

    /// Inserts or replaces; returns the replaced object.
    pub fn put(&mut self, keypos: usize, hash: u64, obj: Obj) -> Option<Obj> {
        self.object_bytes += obj.footprint();
        let same_key = |a: &Obj, b: &Obj| {
            a.with_canonical_key(keypos, |ka| b.with_canonical_key(keypos, |kb| ka == kb))
        };
        let old = self.map.upsert(hash, same_key, Self::rehash(keypos), obj);
        if let Some(old) = &old {
            self.object_bytes -= old.footprint();
        }
        old
    }

    pub fn remove(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Option<Obj> {
        let obj = self.map.remove(hash, Self::matches(keypos, key), key)?;
        self.object_bytes -= obj.footprint();
        Some(obj)
    }

    /// Stores the encoded object `bytes` (whose key is `key`, canonical).
    /// Replacing an object of the same length rewrites it in place, without
    /// allocating. Returns what the caller frees after releasing the lock.
    pub fn put_bytes(
        &mut self,
        keypos: usize,
        hash: u64,
        key: &[u8],
        bytes: &[u8],
        has_shared: bool,
        neg_zero: bool,
    ) -> Option<Garbage> {
        if let Some(existing) = self.map.find_mut(hash, Self::matches(keypos, key)) {
            if existing.bytes().len() == bytes.len() {
                // The same length, but an inline object that gets a shared
                // binary moves to the heap.
                let before = existing.footprint();
                let refs = existing.overwrite(bytes, has_shared, neg_zero);
                self.object_bytes = self.object_bytes + existing.footprint() - before;
                return refs.map(Garbage::Refs);
            }
        }
        self.put(keypos, hash, Obj::new(bytes, has_shared, neg_zero))
            .map(Garbage::Object)
    }

    /// Removes the object stored under `key` only if it equals `object` exactly.
    pub fn remove_exact(
        &mut self,
        keypos: usize,
        hash: u64,
        key: &[u8],
        object: &[u8],
    ) -> Option<Obj> {
        if !terms_equal(self.get(keypos, hash, key)?.bytes(), object) {
            return None;
        }
        self.remove(keypos, hash, key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Obj> {
        self.map.iter()
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, keypos: usize, mut keep: impl FnMut(&Obj) -> bool) {
        let mut freed = 0;
        self.map.retain(
            |o| {
                let k = keep(o);
                if !k {
                    freed += o.footprint();
                }
                k
            },
            |o| o.with_canonical_key(keypos, <[u8]>::to_vec),
        );
        self.object_bytes -= freed;
    }

    /// Calls `visit` on every object: it may replace the object in place
    /// (same key) and returns whether to keep it.
    pub fn edit(&mut self, keypos: usize, mut visit: impl FnMut(&mut Obj) -> bool) {
        let bytes = &mut self.object_bytes;
        self.map.retain(
            |o| {
                let before = o.footprint();
                let keep = visit(o);
                *bytes = *bytes - before + if keep { o.footprint() } else { 0 };
                keep
            },
            |o| o.with_canonical_key(keypos, <[u8]>::to_vec),
        );
    }

    /// The bucket holding `key`: a traversal position.
    pub fn bucket_of(&self, keypos: usize, hash: u64, key: &[u8]) -> Option<usize> {
        self.map.position(hash, Self::matches(keypos, key), key)
    }

    /// See `HashStore::for_each_mut_in`.
    pub fn for_each_mut_in(
        &mut self,
        from: usize,
        buckets: usize,
        f: impl FnMut(&mut Obj),
    ) -> Option<usize> {
        self.map.for_each_mut_in(from, buckets, f)
    }

    /// The objects from traversal position `from` on, with their positions.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &Obj)> {
        self.map.iter_from(from)
    }

    /// The first object in bucket `from` or after it.
    pub fn next_from(&self, from: usize) -> Option<(usize, &Obj)> {
        self.map.next_from(from)
    }

    /// See `HashStore::slot_layout`.
    pub fn slot_layout(&self) -> SlotLayout {
        self.map.slot_layout()
    }

    /// Empties the partition, handing back the objects so the caller can drop
    /// them outside the lock.
    pub fn take_all(&mut self, keypos: usize) -> HashStore<Obj> {
        self.object_bytes = 0;
        self.map
            .take_all(|o| o.with_canonical_key(keypos, <[u8]>::to_vec))
    }

    pub fn fix(&mut self) {
        self.map.fix()
    }

    pub fn unfix(&mut self, keypos: usize) {
        self.map.unfix(Self::rehash(keypos))
    }
}
