//! Key-value operations: insert, insert_new, lookup, member, delete, take ...

use super::*;
use crate::codec::object::key_of;
use crate::table::partition::Partition;
use parking_lot::RwLockWriteGuard;
use rustler::Atom;

/// Lists longer than this are inserted on a dirty scheduler (the Erlang side
/// calls the `_dirty` variant when told to), keeping normal calls short.
const DIRTY_LIST_LEN: usize = 1_000;
/// Tables bigger than this are listed on a dirty scheduler.
const DIRTY_TAB2LIST: usize = 10_000;

fn long_list(t: Term<'_>) -> bool {
    let mut n = 0;
    let mut cur = t;
    while let Ok((_, tail)) = cur.list_get_cell() {
        n += 1;
        if n > DIRTY_LIST_LEN {
            return true;
        }
        cur = tail;
    }
    false
}

/// Write-locks the partitions of `slots` (in index order) and returns, for
/// each object, the index of its guard.
fn lock_for<'t>(
    tab: &'t Table,
    slots: &[usize],
) -> (Vec<(usize, RwLockWriteGuard<'t, Partition>)>, Vec<usize>) {
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
    let tab = open(env, t, Access::Write, route)?;
    let keypos = tab.keypos;
    let mut replaced = Vec::new();
    if !objs.is_list() {
        // One object, the hot path: encoded in the scratch buffer and stored
        // without allocating when it replaces an object of the same size.
        let old = with_encoder(env, |enc| {
            let (hash, neg_zero) = encode_object_into(env, objs, keypos, enc)?;
            let p = route.slot(&tab, 0, hash)?;
            let normalised;
            let mut key = key_of(&enc.out, keypos);
            if neg_zero {
                let mut k = key.to_vec();
                format::normalise_neg_zero(&mut k);
                normalised = k;
                key = &normalised;
            }
            let old =
                tab.write(p)
                    .put_bytes(keypos, hash, key, &enc.out, enc.has_shared(), neg_zero);
            enc.take_shared(); // the references now belong to the stored object
            Ok::<_, Fail>(old)
        })?;
        drop(old); // after the lock is released
        return Ok(atoms::true_().encode(env));
    }
    // A list is applied under all its partitions' locks: atomic and
    // isolated, as an ETS insert of a list is.
    let objs = encode_objects(env, objs, keypos)?.into_vec();
    let slots = slots_of(&tab, &objs, route)?;
    let (mut guards, which) = lock_for(&tab, &slots);
    for (o, w) in objs.into_iter().zip(which) {
        replaced.extend(guards[w].1.put(keypos, o.hash, o.obj));
    }
    drop(guards);
    drop(replaced); // after the locks are released
    Ok(atoms::true_().encode(env))
}

pub fn insert_new_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    objs: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let objs = encode_objects(env, objs, tab.keypos)?.into_vec();
    let keypos = tab.keypos;
    let slots = slots_of(&tab, &objs, route)?;
    let (mut guards, which) = lock_for(&tab, &slots);
    let taken = objs.iter().zip(&which).any(|(o, &w)| {
        o.obj
            .with_canonical_key(keypos, |k| guards[w].1.get(keypos, o.hash, k).is_some())
    });
    if taken {
        return Ok(atoms::false_().encode(env));
    }
    let mut replaced = Vec::new(); // duplicates within the list: last one wins
    for (o, w) in objs.into_iter().zip(which) {
        replaced.extend(guards[w].1.put(keypos, o.hash, o.obj));
    }
    drop(guards);
    drop(replaced);
    Ok(atoms::true_().encode(env))
}

pub fn lookup_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key(env, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let part = tab.read(p);
    Ok(match part.get(tab.keypos, key.hash, key.bytes()) {
        Some(o) => cons(env, object_term(env, o), nil(env)),
        None => nil(env),
    })
}

pub fn member_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key(env, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let found = tab.read(p).get(tab.keypos, key.hash, key.bytes()).is_some();
    Ok(found.encode(env))
}

pub fn lookup_element_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    pos: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Read, route)?;
    let key = encode_key(env, key)?;
    let pos: usize = match pos.decode::<i64>() {
        Ok(p) if p >= 1 => p as usize,
        _ => return Err(Fail::BadArg),
    };
    let p = route.slot(&tab, 0, key.hash)?;
    let part = tab.read(p);
    let obj = part
        .get(tab.keypos, key.hash, key.bytes())
        .ok_or(cause(atoms::badkey()))?;
    let (s, _) = format::tuple_element(obj.bytes(), 0, pos - 1).ok_or(Fail::BadArg)?;
    let mut at = s;
    // SAFETY: `obj` is a valid encoding, alive under the read lock.
    Ok(unsafe { Term::new(env, decode::term(env.as_c_arg(), obj.bytes(), &mut at)) })
}

pub fn delete_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let key = encode_key(env, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let removed = tab.write(p).remove(tab.keypos, key.hash, key.bytes());
    drop(removed);
    Ok(atoms::true_().encode(env))
}

pub fn take_impl<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, route: &Route) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let key = encode_key(env, key)?;
    let p = route.slot(&tab, 0, key.hash)?;
    let removed = tab.write(p).remove(tab.keypos, key.hash, key.bytes());
    Ok(match removed {
        Some(o) => cons(env, object_term(env, &o), nil(env)),
        None => nil(env),
    })
}

pub fn delete_object_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    obj: Term<'a>,
    route: &Route,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let probe = encode_object(env, obj, tab.keypos)?;
    let p = route.slot(&tab, 0, probe.hash)?;
    probe.obj.with_canonical_key(tab.keypos, |k| {
        tab.write(p)
            .remove_exact(tab.keypos, probe.hash, k, probe.obj.bytes())
    });
    Ok(atoms::true_().encode(env))
}

fn tab2list_impl<'a>(env: Env<'a>, t: Term<'a>, may_go_dirty: bool) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    if may_go_dirty && tab.size() > DIRTY_TAB2LIST {
        return Ok(atoms::dirty().encode(env));
    }
    let mut acc = nil(env);
    for p in 0..tab.lock_count() {
        let part = tab.read(p);
        for o in part.iter() {
            acc = cons(env, object_term(env, o), acc);
        }
    }
    Ok(acc)
}

#[rustler::nif]
fn lookup<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| lookup_impl(env, t, key, &Route::Hash))
}

#[rustler::nif]
fn member<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| member_impl(env, t, key, &Route::Hash))
}

#[rustler::nif]
fn insert<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>) -> rustler::NifResult<Term<'a>> {
    if long_list(objs) {
        return Ok(atoms::dirty().encode(env));
    }
    run(|| insert_impl(env, t, objs, &Route::Hash))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn insert_dirty<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| insert_impl(env, t, objs, &Route::Hash))
}

#[rustler::nif]
fn insert_new<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>) -> rustler::NifResult<Term<'a>> {
    if long_list(objs) {
        return Ok(atoms::dirty().encode(env));
    }
    run(|| insert_new_impl(env, t, objs, &Route::Hash))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn insert_new_dirty<'a>(env: Env<'a>, t: Term<'a>, objs: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| insert_new_impl(env, t, objs, &Route::Hash))
}

#[rustler::nif]
fn lookup_element<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    pos: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| lookup_element_impl(env, t, key, pos, &Route::Hash))
}

#[rustler::nif]
fn delete_key<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| delete_impl(env, t, key, &Route::Hash))
}

#[rustler::nif]
fn take<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| take_impl(env, t, key, &Route::Hash))
}

#[rustler::nif]
fn delete_object<'a>(env: Env<'a>, t: Term<'a>, obj: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| delete_object_impl(env, t, obj, &Route::Hash))
}

#[rustler::nif]
fn tab2list<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| tab2list_impl(env, t, true))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn tab2list_dirty<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| tab2list_impl(env, t, false))
}

/// Calls an operation with partitions chosen by the table's keyslot fun on
/// the Erlang side: `Slots` holds one partition per key (or per object).
#[rustler::nif(schedule = "DirtyCpu")]
fn routed<'a>(
    env: Env<'a>,
    op: Atom,
    t: Term<'a>,
    slots: Vec<usize>,
    args: Vec<Term<'a>>,
) -> rustler::NifResult<Term<'a>> {
    let route = Route::Slots(slots);
    let op = op.to_term(env).atom_to_string().unwrap_or_default();
    run(|| match (op.as_str(), &args[..]) {
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
    })
}
