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
    merged_from(tab, None, descending, |_, o| f(o));
}

/// As `merged_in_order`, starting after the sort key `after` (when given);
/// `f` also gets each object's sort key.
pub fn merged_from(
    tab: &Table,
    after: Option<&SortKey>,
    descending: bool,
    mut f: impl FnMut(&SortKey, &Obj) -> bool,
) {
    let guards = read_all(tab);
    let mut heads: Vec<_> = ordered_stores(&guards)
        .map(|s| {
            let it: Box<dyn Iterator<Item = (&SortKey, &Obj)>> = match (after, descending) {
                (None, false) => Box::new(s.iter()),
                (None, true) => Box::new(s.iter().rev()),
                (Some(k), false) => Box::new(s.range_after(k, false)),
                (Some(k), true) => Box::new(s.range_before(k, false)),
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
        let (k, obj) = heads[b].next().expect("best has a head");
        if !f(k, obj) {
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

/// Where the last ordered_set step of this scheduler thread left off, so
/// that the usual walk (`next/2` called with the key just returned) costs
/// one B-tree search instead of one per partition: for each partition, the
/// next key after `last` in the direction of travel.
struct Cursor {
    table: u64,
    forward: bool,
    /// Sort key of the key returned last.
    last: SortKey,
    /// Each partition's version when the heads were read.
    versions: Vec<u64>,
    /// Each partition's next key: its sort key and its encoded key term.
    heads: Vec<Option<(SortKey, Vec<u8>)>>,
}

thread_local! {
    static CURSOR: std::cell::RefCell<Option<Cursor>> = const { std::cell::RefCell::new(None) };
}

/// A partition's next key after `from` (exclusive) in the direction of travel.
fn head_of(
    store: &OrderedStore,
    from: Option<&SortKey>,
    forward: bool,
    keypos: usize,
) -> Option<(SortKey, Vec<u8>)> {
    let (k, obj) = match (from, forward) {
        (None, true) => store.iter().next(),
        (None, false) => store.iter().next_back(),
        (Some(k), true) => store.range_after(k, false).next(),
        (Some(k), false) => store.range_before(k, false).next(),
    }?;
    Some((k.clone(), obj.key(keypos).to_vec()))
}

/// The key closest to `from` in the direction of travel, across partitions.
fn ordered_step<'a>(env: Env<'a>, tab: &Table, from: From<'_>, forward: bool) -> Res<Term<'a>> {
    let guards = read_all(tab);
    let stores: Vec<&OrderedStore> = ordered_stores(&guards).collect();
    let versions: Vec<u64> = stores.iter().map(|s| s.version()).collect();
    let from_key = match from {
        From::Start => None,
        From::After(k) => Some(SortKey::new(k)),
    };
    CURSOR.with(|c| {
        let mut cursor = c.borrow_mut();
        let valid = matches!((&*cursor, &from_key), (Some(cur), Some(k))
            if cur.table == tab.id && cur.forward == forward && cur.last == *k
                && cur.versions == versions);
        if !valid {
            let heads = stores
                .iter()
                .map(|s| head_of(s, from_key.as_ref(), forward, tab.keypos))
                .collect();
            *cursor = Some(Cursor {
                table: tab.id,
                forward,
                last: from_key.clone().unwrap_or_else(|| SortKey::new(&[])),
                versions,
                heads,
            });
        }
        let cur = cursor.as_mut().expect("cursor was just set");
        let best = cur
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(k, _)| (i, k)))
            .reduce(|a, b| if (b.1 < a.1) == forward { b } else { a })
            .map(|(i, _)| i);
        let Some(w) = best else {
            return Ok(atoms::end_of_table().encode(env));
        };
        let (key, key_bytes) = cur.heads[w].take().expect("the best head exists");
        cur.heads[w] = head_of(stores[w], Some(&key), forward, tab.keypos);
        cur.last = key;
        let mut at = 0;
        // SAFETY: `key_bytes` is a complete encoded key copied from a stored
        // object; any shared binary in it is kept alive by that object,
        // which the read locks (still held) keep in the table.
        Ok(unsafe { Term::new(env, decode::term(env.as_c_arg(), &key_bytes, &mut at)) })
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
