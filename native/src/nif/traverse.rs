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
use parking_lot::RwLockReadGuard;

/// Calls `f` on every object of an ordered_set, merged across partitions in
/// key order (greatest first when `descending`), until it returns false.
/// All partitions are read-locked meanwhile, so the scan is one snapshot.
pub fn merged_in_order(tab: &Table, descending: bool, mut f: impl FnMut(&Obj) -> bool) {
    let guards = read_all(tab);
    let mut heads: Vec<_> = ordered_stores(&guards)
        .map(|s| {
            let it: Box<dyn Iterator<Item = (&SortKey, &Obj)>> = if descending {
                Box::new(s.iter().rev())
            } else {
                Box::new(s.iter())
            };
            it.peekable()
        })
        .collect();
    loop {
        let mut best: Option<usize> = None;
        for i in 0..heads.len() {
            let Some(&(k, _)) = heads[i].peek() else {
                continue;
            };
            let better = match best {
                None => true,
                Some(b) => {
                    let bk = heads[b].peek().expect("best has a head").0;
                    if descending {
                        k > bk
                    } else {
                        k < bk
                    }
                }
            };
            if better {
                best = Some(i);
            }
        }
        let Some(b) = best else { return };
        let (_, obj) = heads[b].next().expect("best has a head");
        if !f(obj) {
            return;
        }
    }
}

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

/// The key closest to `from` in the direction of travel, across partitions.
fn ordered_step<'a>(env: Env<'a>, tab: &Table, from: From<'_>, forward: bool) -> Res<Term<'a>> {
    let guards = read_all(tab);
    let best = ordered_stores(&guards)
        .filter_map(|s| match (from, forward) {
            (From::Start, true) => s.iter().next(),
            (From::Start, false) => s.iter().next_back(),
            (From::After(k), true) => s.range_after(k, false).next(),
            (From::After(k), false) => s.range_before(k, false).next(),
        })
        .reduce(|a, b| if (b.0 < a.0) == forward { b } else { a });
    Ok(match best {
        Some((_, obj)) => key_term(env, tab, obj)?,
        None => atoms::end_of_table().encode(env),
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

#[rustler::nif]
fn first<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| first_impl(env, t, true))
}

#[rustler::nif]
fn last<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| first_impl(env, t, false))
}

#[rustler::nif]
fn next<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| next_impl(env, t, key, true))
}

#[rustler::nif]
fn prev<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| next_impl(env, t, key, false))
}
