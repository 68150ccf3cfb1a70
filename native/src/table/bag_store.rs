//! A `bag` or `duplicate_bag` partition: a hash table of keys, each holding
//! its objects in insertion order.

use super::hash_store::{HashStore, SlotLayout};
use super::set_store::SetStore;
use crate::codec::hash::hash_key;
use crate::codec::{terms_equal, Obj};

pub struct BagStore {
    /// Never holds an empty vector.
    map: HashStore<Vec<Obj>>,
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
            map: HashStore::default(),
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
        let existing =
            obj.with_canonical_key(keypos, |key| map.find_mut(hash, Self::matches(keypos, key)));
        let footprint = obj.footprint();
        match existing {
            Some(objs) => {
                if !self.duplicates && objs.iter().any(|o| terms_equal(o.bytes(), obj.bytes())) {
                    return Some(obj);
                }
                objs.push(obj);
            }
            None => {
                let same_key = |v: &Vec<Obj>| {
                    first(v)
                        .with_canonical_key(keypos, |a| obj.with_canonical_key(keypos, |b| a == b))
                };
                let dead = self.map.dead_bucket(hash, same_key);
                self.map
                    .put_new(hash, dead, vec![obj], Self::rehash(keypos))
            }
        }
        self.objects += 1;
        self.object_bytes += footprint;
        None
    }

    /// Removes and returns every object under `key`.
    pub fn remove(&mut self, keypos: usize, hash: u64, key: &[u8]) -> Vec<Obj> {
        let objs = self
            .map
            .remove(hash, Self::matches(keypos, key), key)
            .unwrap_or_default();
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
        let Some(objs) = self.map.find_mut(hash, Self::matches(keypos, key)) else {
            return Vec::new();
        };
        if objs.iter().all(|o| terms_equal(o.bytes(), object)) {
            // The key goes (a fixed store keeps it in place, dead, intact).
            return self.remove(keypos, hash, key);
        }
        let (gone, kept): (Vec<Obj>, Vec<Obj>) = std::mem::take(objs)
            .into_iter()
            .partition(|o| terms_equal(o.bytes(), object));
        *objs = kept;
        self.forget(&gone);
        gone
    }

    pub fn iter(&self) -> impl Iterator<Item = &Obj> {
        self.map.iter().flatten()
    }

    /// See `HashStore::for_each_mut_in`.
    pub fn for_each_mut_in(
        &mut self,
        from: usize,
        buckets: usize,
        f: impl FnMut(&mut Vec<Obj>),
    ) -> Option<usize> {
        self.map.for_each_mut_in(from, buckets, f)
    }

    /// The objects from traversal position `from` on, the first `skip`
    /// objects of that position's key left out, each with its position and
    /// its index among its key's objects.
    pub fn iter_from(
        &self,
        from: usize,
        skip: usize,
    ) -> impl Iterator<Item = (usize, usize, &Obj)> {
        self.map.iter_from(from).flat_map(move |(b, objs)| {
            let first = if b == from { skip } else { 0 };
            objs.iter()
                .enumerate()
                .skip(first)
                .map(move |(i, o)| (b, i, o))
        })
    }

    /// Keeps the objects for which `keep` is true.
    pub fn retain(&mut self, keypos: usize, mut keep: impl FnMut(&Obj) -> bool) {
        let (mut objects, mut bytes) = (0, 0);
        self.map.retain(
            |objs| {
                let kept: Vec<bool> = objs.iter().map(&mut keep).collect();
                for (o, _) in objs.iter().zip(&kept).filter(|(_, &k)| !k) {
                    objects += 1;
                    bytes += o.footprint();
                }
                if !kept.contains(&true) {
                    return false; // dropped whole, left intact (see `HashStore::retain`)
                }
                let mut flags = kept.into_iter();
                objs.retain(|_| flags.next().unwrap_or(true));
                true
            },
            |objs| first(objs).with_canonical_key(keypos, <[u8]>::to_vec),
        );
        self.objects -= objects;
        self.object_bytes -= bytes;
    }

    /// Calls `visit` on every object: it may replace the object in place
    /// (same key) and returns whether to keep it.
    pub fn edit(&mut self, keypos: usize, mut visit: impl FnMut(&mut Obj) -> bool) {
        let (mut objects, mut bytes) = (0isize, 0isize);
        self.map.retain(
            |objs| {
                let mut kept = Vec::with_capacity(objs.len());
                for o in objs.iter_mut() {
                    let before = o.footprint() as isize;
                    let keep = visit(o);
                    if keep {
                        bytes += o.footprint() as isize - before;
                    } else {
                        objects -= 1;
                        bytes -= before;
                    }
                    kept.push(keep);
                }
                if !kept.contains(&true) {
                    return false; // dropped whole, left intact (see `HashStore::retain`)
                }
                let mut flags = kept.into_iter();
                objs.retain(|_| flags.next().unwrap_or(true));
                true
            },
            |objs| first(objs).with_canonical_key(keypos, <[u8]>::to_vec),
        );
        self.objects = (self.objects as isize + objects) as usize;
        self.object_bytes = (self.object_bytes as isize + bytes) as usize;
    }

    pub fn bucket_of(&self, keypos: usize, hash: u64, key: &[u8]) -> Option<usize> {
        self.map.position(hash, Self::matches(keypos, key), key)
    }

    /// The newest object of the first key in bucket `from` or after it
    /// (ETS names a bag key in traversal as its newest object spells it).
    pub fn next_from(&self, from: usize) -> Option<(usize, &Obj)> {
        let (i, objs) = self.map.next_from(from)?;
        Some((i, objs.last()?))
    }

    /// See `HashStore::slot_layout`.
    pub fn slot_layout(&self) -> SlotLayout {
        self.map.slot_layout()
    }

    pub fn take_all(&mut self, keypos: usize) -> HashStore<Vec<Obj>> {
        self.objects = 0;
        self.object_bytes = 0;
        self.map
            .take_all(|v| first(v).with_canonical_key(keypos, <[u8]>::to_vec))
    }

    pub fn fix(&mut self) {
        self.map.fix()
    }

    pub fn unfix(&mut self, keypos: usize) {
        self.map.unfix(Self::rehash(keypos))
    }
}
