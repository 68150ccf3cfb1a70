//! One partition of a `set` table: a hash table of owned objects, keyed by the
//! canonical encoding of their key.

pub use crate::codec::hash::hash_key;
use crate::codec::object::Garbage;
use crate::codec::{terms_equal, Obj};
use hashbrown::hash_table::{Entry, HashTable};

/// What `Partition::edit` does with one object.
pub enum Edit {
    Keep,
    Remove,
    /// Replace it with an object of the same key.
    Replace(Obj),
}

#[derive(Default)]
pub struct Partition {
    map: HashTable<Obj>,
    /// Heap bytes held by the objects (for `info(T, memory)`).
    object_bytes: usize,
}

impl Partition {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes used: the objects plus the hash table's slots and control bytes.
    pub fn memory(&self) -> usize {
        self.object_bytes + self.map.capacity() * (std::mem::size_of::<Obj>() + 1)
    }

    fn rehash(keypos: usize) -> impl Fn(&Obj) -> u64 {
        move |o: &Obj| o.with_canonical_key(keypos, hash_key)
    }

    fn matches(keypos: usize, key: &[u8]) -> impl Fn(&Obj) -> bool + '_ {
        move |o: &Obj| o.with_canonical_key(keypos, |k| k == key)
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
        let map = &mut self.map;
        let entry = obj.with_canonical_key(keypos, |key| {
            map.entry(hash, Self::matches(keypos, key), Self::rehash(keypos))
        });
        match entry {
            Entry::Occupied(mut e) => {
                let old = std::mem::replace(e.get_mut(), obj);
                self.object_bytes -= old.footprint();
                Some(old)
            }
            Entry::Vacant(e) => {
                e.insert(obj);
                None
            }
        }
    }

    pub fn remove(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Option<Obj> {
        let e = self.map.find_entry(hash, Self::matches(keypos, key)).ok()?;
        let (obj, _) = e.remove();
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
                return existing
                    .overwrite(bytes, has_shared, neg_zero)
                    .map(Garbage::Refs);
            }
        }
        self.put(keypos, hash, Obj::new(bytes, has_shared, neg_zero))
            .map(Garbage::Object)
    }

    /// Removes the object stored under `key` only if it equals `object` exactly.
    pub fn remove_exact(&mut self, keypos: usize, hash: u64, key: &[u8], object: &[u8]) -> bool {
        let Ok(e) = self.map.find_entry(hash, Self::matches(keypos, key)) else {
            return false;
        };
        if !terms_equal(e.get().bytes(), object) {
            return false;
        }
        let (obj, _) = e.remove();
        self.object_bytes -= obj.footprint();
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &Obj> {
        self.map.iter()
    }

    /// Visits every object, keeping, removing or replacing it (a
    /// replacement has the same key). Returns the objects removed or
    /// replaced, for the caller to drop after releasing the lock.
    pub fn edit(&mut self, mut f: impl FnMut(&Obj) -> Edit) -> Vec<Obj> {
        let mut old = Vec::new();
        let bytes = &mut self.object_bytes;
        let removed: Vec<Obj> = self
            .map
            .extract_if(|o| match f(o) {
                Edit::Keep => false,
                Edit::Remove => true,
                Edit::Replace(new) => {
                    *bytes = *bytes + new.footprint() - o.footprint();
                    old.push(std::mem::replace(o, new));
                    false
                }
            })
            .collect();
        for o in &removed {
            self.object_bytes -= o.footprint();
        }
        old.extend(removed);
        old
    }

    /// Empties the partition, handing back the objects so the caller can drop
    /// them outside the lock.
    pub fn take_all(&mut self) -> HashTable<Obj> {
        self.object_bytes = 0;
        std::mem::take(&mut self.map)
    }
}
