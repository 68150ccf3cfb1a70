//! A `bag` or `duplicate_bag` partition: a hash table of keys, each holding
//! its objects in insertion order.

use super::set_store::SetStore;
use crate::codec::hash::hash_key;
use crate::codec::{terms_equal, Obj};
use hashbrown::hash_table::{Entry, HashTable};

pub struct BagStore {
    /// Never holds an empty vector.
    map: HashTable<Vec<Obj>>,
    /// `duplicate_bag` keeps equal objects; `bag` keeps one of each.
    duplicates: bool,
    objects: usize,
    object_bytes: usize,
}

fn first(v: &[Obj]) -> &Obj {
    &v[0]
}

impl BagStore {
    pub fn new(duplicates: bool) -> BagStore {
        BagStore {
            map: HashTable::new(),
            duplicates,
            objects: 0,
            object_bytes: 0,
        }
    }

    pub fn size(&self) -> usize {
        self.objects
    }

    pub fn memory(&self) -> usize {
        self.object_bytes
            + self.map.capacity() * (std::mem::size_of::<Vec<Obj>>() + 1)
            + self.objects * std::mem::size_of::<Obj>()
    }

    fn matches(keypos: usize, key: &[u8]) -> impl Fn(&Vec<Obj>) -> bool + '_ {
        let m = SetStore::matches(keypos, key);
        move |v: &Vec<Obj>| m(first(v))
    }

    fn rehash(keypos: usize) -> impl Fn(&Vec<Obj>) -> u64 {
        move |v: &Vec<Obj>| first(v).with_canonical_key(keypos, hash_key)
    }

    /// The objects under `key`, oldest first.
    pub fn get(&self, keypos: usize, hash: u64, key: &[u8]) -> &[Obj] {
        self.map
            .find(hash, Self::matches(keypos, key))
            .map_or(&[], |v| v.as_slice())
    }

    /// Adds `obj` after the objects of its key. In a `bag`, an object equal
    /// to one already there is not added: it is handed back.
    pub fn put(&mut self, keypos: usize, hash: u64, obj: Obj) -> Option<Obj> {
        let map = &mut self.map;
        let entry = obj.with_canonical_key(keypos, |key| {
            map.entry(hash, Self::matches(keypos, key), Self::rehash(keypos))
        });
        let footprint = obj.footprint();
        match entry {
            Entry::Occupied(mut e) => {
                let objs = e.get_mut();
                if !self.duplicates && objs.iter().any(|o| terms_equal(o.bytes(), obj.bytes())) {
                    return Some(obj);
                }
                objs.push(obj);
            }
            Entry::Vacant(e) => {
                e.insert(vec![obj]);
            }
        }
        self.objects += 1;
        self.object_bytes += footprint;
        None
    }

    /// Removes and returns every object under `key`.
    pub fn remove(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Vec<Obj> {
        let Ok(e) = self.map.find_entry(hash, Self::matches(keypos, key)) else {
            return Vec::new();
        };
        let (objs, _) = e.remove();
        self.forget(&objs);
        objs
    }

    fn forget(&mut self, objs: &[Obj]) {
        self.objects -= objs.len();
        self.object_bytes -= objs.iter().map(Obj::footprint).sum::<usize>();
    }

    /// Removes every object under `key` equal to `object`; returns them.
    pub fn remove_exact(
        &mut self,
        keypos: usize,
        hash: u64,
        key: &[u8],
        object: &[u8],
    ) -> Vec<Obj> {
        let Ok(mut e) = self.map.find_entry(hash, Self::matches(keypos, key)) else {
            return Vec::new();
        };
        let objs = e.get_mut();
        let (gone, kept): (Vec<Obj>, Vec<Obj>) = std::mem::take(objs)
            .into_iter()
            .partition(|o| terms_equal(o.bytes(), object));
        if kept.is_empty() {
            e.remove();
        } else {
            *e.get_mut() = kept;
        }
        self.forget(&gone);
        gone
    }

    pub fn iter(&self) -> impl Iterator<Item = &Obj> {
        self.map.iter().flatten()
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Obj) -> bool) {
        let (mut objects, mut bytes) = (0, 0);
        self.map.retain(|objs| {
            objs.retain(|o| {
                let k = keep(o);
                if !k {
                    objects += 1;
                    bytes += o.footprint();
                }
                k
            });
            !objs.is_empty()
        });
        self.objects -= objects;
        self.object_bytes -= bytes;
    }

    pub fn bucket_of(&self, keypos: usize, hash: u64, key: &[u8]) -> Option<usize> {
        self.map.find_bucket_index(hash, Self::matches(keypos, key))
    }

    /// The newest object of the first key in bucket `from` or after it
    /// (ETS names a bag key in traversal as its newest object spells it).
    pub fn next_from(&self, from: usize) -> Option<(usize, &Obj)> {
        (from..self.map.num_buckets()).find_map(|i| {
            self.map
                .get_bucket(i)
                .and_then(|v| v.last())
                .map(|o| (i, o))
        })
    }

    pub fn take_all(&mut self) -> HashTable<Vec<Obj>> {
        self.objects = 0;
        self.object_bytes = 0;
        std::mem::take(&mut self.map)
    }
}
