//! An `ordered_set` partition: objects in a B-tree keyed by the sort key of
//! their key (`codec::order`), so byte order is Erlang term order and keys
//! that compare `==` (`1` and `1.0`) are one key.

use crate::codec::object::Garbage;
use crate::codec::{terms_equal, Obj};
use std::collections::BTreeMap;
use std::ops::Bound;

#[derive(Default)]
pub struct OrderedStore {
    map: BTreeMap<Box<[u8]>, Obj>,
    /// Heap bytes of the objects and their sort keys.
    heap_bytes: usize,
}

fn key_footprint(k: &[u8]) -> usize {
    (k.len() + 8).div_ceil(16).max(2) * 16
}

/// B-tree nodes hold up to 11 entries; count them about two-thirds full.
const ENTRY_OVERHEAD: usize =
    (std::mem::size_of::<Box<[u8]>>() + std::mem::size_of::<Obj>()) * 3 / 2;

impl OrderedStore {
    pub fn size(&self) -> usize {
        self.map.len()
    }

    pub fn memory(&self) -> usize {
        self.heap_bytes + self.map.len() * ENTRY_OVERHEAD
    }

    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Obj> {
        self.map.get_mut(key)
    }

    /// Inserts or replaces; returns the replaced object.
    pub fn put(&mut self, key: Box<[u8]>, obj: Obj) -> Option<Obj> {
        self.heap_bytes += obj.footprint();
        let key_bytes = key_footprint(&key);
        match self.map.insert(key, obj) {
            Some(old) => {
                self.heap_bytes -= old.footprint();
                Some(old)
            }
            None => {
                self.heap_bytes += key_bytes;
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
        if let Some(existing) = self.map.get_mut(key) {
            if existing.bytes().len() == bytes.len() {
                return existing
                    .overwrite(bytes, has_shared, neg_zero)
                    .map(Garbage::Refs);
            }
        }
        self.put(key.into(), Obj::new(bytes, has_shared, neg_zero))
            .map(Garbage::Object)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Obj> {
        let (k, obj) = self.map.remove_entry(key)?;
        self.heap_bytes -= obj.footprint() + key_footprint(&k);
        Some(obj)
    }

    /// Removes the object under `key` only if it equals `object` exactly.
    pub fn remove_exact(&mut self, key: &[u8], object: &[u8]) -> Option<Obj> {
        if !terms_equal(self.map.get(key)?.bytes(), object) {
            return None;
        }
        self.remove(key)
    }

    /// Objects in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], &Obj)> {
        self.map.iter().map(|(k, o)| (&**k, o))
    }

    /// Objects with keys after `key` (or from `key` when `inclusive`), in order.
    pub fn range_after<'s>(
        &'s self,
        key: &[u8],
        inclusive: bool,
    ) -> impl Iterator<Item = (&'s [u8], &'s Obj)> {
        let lower = if inclusive {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        };
        self.map
            .range::<[u8], _>((lower, Bound::Unbounded))
            .map(|(k, o)| (&**k, o))
    }

    /// Objects with keys before `key` (or up to `key` when `inclusive`),
    /// greatest first.
    pub fn range_before<'s>(
        &'s self,
        key: &[u8],
        inclusive: bool,
    ) -> impl Iterator<Item = (&'s [u8], &'s Obj)> {
        let upper = if inclusive {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        };
        self.map
            .range::<[u8], _>((Bound::Unbounded, upper))
            .rev()
            .map(|(k, o)| (&**k, o))
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Obj) -> bool) {
        let mut freed = 0;
        self.map.retain(|k, o| {
            let kept = keep(o);
            if !kept {
                freed += o.footprint() + key_footprint(k);
            }
            kept
        });
        self.heap_bytes -= freed;
    }

    pub fn take_all(&mut self) -> BTreeMap<Box<[u8]>, Obj> {
        self.heap_bytes = 0;
        std::mem::take(&mut self.map)
    }
}
