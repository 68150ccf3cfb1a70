//! Key-value operations: insert, insert_new, lookup, member, delete, take ...

use super::*;
use crate::codec::encode::flat_tuple;
use crate::codec::flat::Flat;
use crate::codec::object::{key_of, Garbage};
use crate::table::Kind;
use crate::table::WriteGuard;
use rustler::Atom;

/// Write-locks the partitions of `slots` (in index order) and returns, for
/// each object, the index of its guard.
fn lock_for<'t>(tab: &'t Table, slots: &[usize]) -> (Vec<(usize, WriteGuard<'t>)>, Vec<usize>) {
    let mut order: Vec<usize> = slots.to_vec();
    order.sort_unstable();
    order.dedup();
    let guards = tab.write_many(&order);
    let which = slots
        .iter()
        .map(|s| order.binary_search(s).expect("slot was locked"))
        .collect();
    (guards, which)
}

fn slots_of(tab: &Table, objs: &[Encoded], route: &Route) -> Res<Vec<usize>> {
    objs.iter()
        .enumerate()
        .map(|(i, o)| route.slot(tab, i, o.hash))
        .collect()
}

pub fn insert_impl<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>, route: &Route) -> Res<Term<'a>> {
    if objs.is_list() {
        insert_list(env, t, objs, route)
    } else {
        insert_one(env, t, objs, route)
    }
}

/// Inserts one object, the hot path: encoded on the stack or in the scratch
/// buffer, and stored without allocating when it replaces an object of the
/// same size.
fn insert_one<'a>(env: Env<'a>, t: Term<'a>, obj: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let keypos = tab.keypos;
    let old = if let Some((flat, key_term)) = flat_object(&tab, obj) {
        let sort_key = match tab.kind {
            Kind::OrderedSet => Some(sort_key_of(env, key_term)?),
            _ => None,
        };
        let (key, hash) = match &sort_key {
            Some(sk) => (sk.bytes(), sk.hash),
            None => (flat.element(keypos), hash_key(flat.element(keypos))),
        };
        tab.prefetch(hash, key); // the lock and the slot load together
        put_one(&tab, route, hash, key, flat.bytes(), false, false)?
    } else {
        with_encoder(env, |enc| {
            let k = encode_object_into(env, obj, &tab, enc)?;
            let normalised;
            let key: &[u8] = match &k.sort_key {
                Some(sk) => sk.bytes(),
                None if k.neg_zero => {
                    let mut key = key_of(&enc.out, keypos).to_vec();
                    format::normalise_neg_zero(&mut key);
                    normalised = key;
                    &normalised
                }
                None => key_of(&enc.out, keypos),
            };
            let old = put_one(
                &tab,
                route,
                k.hash,
                key,
                &enc.out,
                enc.has_shared(),
                k.neg_zero,
            )?;
            enc.take_shared(); // the references now belong to the stored object
            Ok::<_, Fail>(old)
        })?
    };
    drop(old); // after the lock is released
    Ok(atoms::true_().encode(env))
}

/// Stores one encoded object (whose key, as the table compares it, is
/// `key`) under its partition's lock; returns what it replaced. Inlined:
/// as a call it cost the single-object insert about 5 ns.
#[inline(always)]
fn put_one(
    tab: &Table,
    route: &Route,
    hash: u64,
    key: &[u8],
    bytes: &[u8],
    has_shared: bool,
    neg_zero: bool,
) -> Res<Option<Garbage>> {
    let p = route.slot(tab, 0, hash)?;
    Ok(tab
        .write(p)
        .put_bytes(tab.keypos, hash, key, bytes, has_shared, neg_zero))
}

fn insert_list<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let keypos = tab.keypos;
    // A list is applied under all its partitions' locks: atomic and
    // isolated, as an ETS insert of a list is.
    let objs = in_insert_order(&tab, encode_objects(env, objs, &tab)?.into_vec());
    let slots = slots_of(&tab, &objs, route)?;
    let (mut guards, which) = lock_for(&tab, &slots);
    let replaced = put_all(keypos, &mut guards, &which, objs);
    drop(guards);
    drop(replaced); // after the locks are released
    Ok(atoms::true_().encode(env))
}

/// A tuple of immediates (see `Flat`), with its key.
fn flat_object<'a>(tab: &Table, obj: Term<'a>) -> Option<(Flat, Term<'a>)> {
    let elems = tuple_elems(obj).filter(|e| e.len() >= tab.keypos)?;
    // SAFETY: an element of the live tuple `obj` (keypos <= arity).
    let key = unsafe { Term::new(obj.get_env(), elems[tab.keypos - 1]) };
    Some((flat_tuple(elems)?, key))
}

/// Stores each object under its locked partition (`which[i]` indexes
/// `guards`); returns what the puts replaced, to free after the locks.
fn put_all(
    keypos: usize,
    guards: &mut [(usize, WriteGuard<'_>)],
    which: &[usize],
    objs: Vec<Encoded>,
) -> Vec<Obj> {
    let mut replaced = Vec::new();
    for (o, &w) in objs.into_iter().zip(which) {
        let sort_key = o.sort_key.as_ref().map(Key::bytes);
        replaced.extend(guards[w].1.put(keypos, o.hash, sort_key, o.obj));
    }
    replaced
}

/// ETS adds the objects of a list to a `bag` last first (so that they end up
/// in reverse order under their key); every other type takes them in order.
fn in_insert_order(tab: &Table, mut objs: Vec<Encoded>) -> Vec<Encoded> {
    if tab.kind == Kind::Bag {
        objs.reverse();
    }
    objs
}

pub fn insert_new_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    objs: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let objs = in_insert_order(&tab, encode_objects(env, objs, &tab)?.into_vec());
    let keypos = tab.keypos;
    let slots = slots_of(&tab, &objs, route)?;
    let (mut guards, which) = lock_for(&tab, &slots);
    let taken = objs
        .iter()
        .zip(&which)
        .any(|(o, &w)| o.with_key(keypos, |k| guards[w].1.contains(keypos, o.hash, k)));
    if taken {
        return Ok(atoms::false_().encode(env));
    }
    // Duplicates within the list: last one wins.
    let replaced = put_all(keypos, &mut guards, &which, objs);
    drop(guards);
    drop(replaced);
    Ok(atoms::true_().encode(env))
}

/// `[O1, O2 ...]` for stored objects, in their order.
pub fn object_list<'a>(env: Env<'a>, objs: &[Obj]) -> Term<'a> {
    objs.iter()
        .rev()
        .fold(nil(env), |acc, o| cons(env, object_term(env, o), acc))
}

pub fn lookup_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key_to_access(env, &tab, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let part = tab.read(p);
    let found = part.lookup(tab.keypos, key.hash, key.bytes());
    charge_objects(&found)?;
    Ok(object_list(env, &found))
}

pub fn member_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key_to_access(env, &tab, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let found = tab.read(p).contains(tab.keypos, key.hash, key.bytes());
    Ok(found.encode(env))
}

/// Element `pos` (1-based) of a stored object, on the caller's heap.
pub fn element_term<'a>(env: Env<'a>, obj: &Obj, pos: usize) -> Res<Term<'a>> {
    let (mut at, _) = format::tuple_element(obj.bytes(), 0, pos - 1).ok_or(Fail::BadArg)?;
    // SAFETY: `obj` is a valid encoding, alive under the caller's lock.
    Ok(unsafe { Term::new(env, decode::term(env.as_c_arg(), obj.bytes(), &mut at)) })
}

pub fn lookup_element_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    pos: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key_to_access(env, &tab, key)?;
    let pos: usize = match pos.decode::<i64>() {
        Ok(p) if p >= 1 => p as usize,
        _ => return Err(Fail::BadArg),
    };
    let p = route.slot(&tab, 0, key.hash)?;
    let part = tab.read(p);
    let objs = part.lookup(tab.keypos, key.hash, key.bytes());
    charge_objects(&objs)?;
    match &objs[..] {
        [] => Err(cause(atoms::badkey())),
        [obj] if !tab.kind.is_bag() => element_term(env, obj, pos),
        _ => {
            // A bag gives the element of every object under the key.
            let elems = objs
                .iter()
                .map(|o| element_term(env, o, pos))
                .collect::<Res<Vec<_>>>()?;
            Ok(elems
                .into_iter()
                .rev()
                .fold(nil(env), |acc, e| cons(env, e, acc)))
        }
    }
}

pub fn delete_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let key = encode_key_to_access(env, &tab, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let removed = tab.write(p).remove(tab.keypos, key.hash, key.bytes());
    drop(removed);
    Ok(atoms::true_().encode(env))
}

pub fn take_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let key = encode_key_to_access(env, &tab, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let mut part = tab.write(p);
    charge_objects(&part.lookup(tab.keypos, key.hash, key.bytes()))?;
    let removed = part.remove(tab.keypos, key.hash, key.bytes());
    drop(part);
    Ok(object_list(env, removed.as_slice()))
}

pub fn delete_object_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    obj: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let probe = encode_object(env, obj, &tab)?;
    let p = route.slot(&tab, 0, probe.hash)?;
    let removed = probe.with_key(tab.keypos, |k| {
        tab.write(p)
            .remove_exact(tab.keypos, probe.hash, k, probe.obj.bytes())
    });
    drop(removed);
    Ok(atoms::true_().encode(env))
}

fn tab2list<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    charge_output(tab.size(), tab.memory())?;
    let mut acc = nil(env);
    if tab.kind == Kind::OrderedSet {
        // Greatest key first, consing onto the front: the list ends up in order.
        traverse::merged_in_order(&tab, true, |o| {
            acc = cons(env, object_term(env, o), acc);
            true
        });
        return Ok(acc);
    }
    for p in 0..tab.lock_count() {
        let part = tab.read(p);
        for o in part.iter() {
            acc = cons(env, object_term(env, o), acc);
        }
    }
    Ok(acc)
}

fn lookup<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    lookup_impl(env, t, key, &Route::Hash)
}
nif!("lookup", 2, lookup);

fn member<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    member_impl(env, t, key, &Route::Hash)
}
nif!("member", 2, member);

fn insert<'a>(env: Env<'a>, [t, objs]: [Term<'a>; 2]) -> Res<Term<'a>> {
    insert_impl(env, t, objs, &Route::Hash)
}
nif!("insert", 2, insert);

fn insert_new<'a>(env: Env<'a>, [t, objs]: [Term<'a>; 2]) -> Res<Term<'a>> {
    insert_new_impl(env, t, objs, &Route::Hash)
}
nif!("insert_new", 2, insert_new);

fn lookup_element<'a>(env: Env<'a>, [t, key, pos]: [Term<'a>; 3]) -> Res<Term<'a>> {
    lookup_element_impl(env, t, key, pos, &Route::Hash)
}
nif!("lookup_element", 3, lookup_element);

fn delete_key<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    delete_impl(env, t, key, &Route::Hash)
}
nif!("delete_key", 2, delete_key);

fn take<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    take_impl(env, t, key, &Route::Hash)
}
nif!("take", 2, take);

fn delete_object<'a>(env: Env<'a>, [t, obj]: [Term<'a>; 2]) -> Res<Term<'a>> {
    delete_object_impl(env, t, obj, &Route::Hash)
}
nif!("delete_object", 2, delete_object);

nif!("tab2list", 1, tab2list);

/// Calls an operation with partitions chosen by the table's keyslot fun on
/// the Erlang side: `Slots` holds one partition per key (or per object).
fn routed<'a>(env: Env<'a>, [op, t, slots, args]: [Term<'a>; 4]) -> Res<Term<'a>> {
    let op: Atom = op.decode()?;
    let slots: Vec<usize> = slots.decode()?;
    let args = list_terms(args)?;
    let route = Route::Slots(slots);
    let op = op.to_term(env).atom_to_string().unwrap_or_default();
    match (op.as_str(), &args[..]) {
        ("insert", [o]) => insert_impl(env, t, *o, &route),
        ("insert_new", [o]) => insert_new_impl(env, t, *o, &route),
        ("lookup", [k]) => lookup_impl(env, t, *k, &route),
        ("member", [k]) => member_impl(env, t, *k, &route),
        ("lookup_element", [k, p]) => lookup_element_impl(env, t, *k, *p, &route),
        ("delete", [k]) => delete_impl(env, t, *k, &route),
        ("take", [k]) => take_impl(env, t, *k, &route),
        ("delete_object", [o]) => delete_object_impl(env, t, *o, &route),
        ("update_counter", [k, u, d]) => update::update_counter_impl(env, t, *k, *u, *d, &route),
        ("update_element", [k, u, d]) => update::update_element_impl(env, t, *k, *u, *d, &route),
        _ => Err(Fail::BadArg),
    }
}
nif!("routed", 4, routed);
