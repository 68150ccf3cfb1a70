//! update_counter and update_element: read-modify-write of one object under
//! its partition's write lock. Everything that can fail is checked before
//! the object is replaced, so a failing call changes nothing.

use super::integer::Int;
use super::*;
use crate::codec::format::get_varint;
use crate::codec::shared_bin;
use rustler::sys::enif_make_tuple_from_array;

/// One counter update: `{Pos, Incr}` or `{Pos, Incr, Threshold, SetValue}`.
struct CounterOp {
    pos: usize,
    incr: Int,
    threshold: Option<(Int, Int)>,
}

impl CounterOp {
    /// `old + incr`, or `SetValue` when the threshold is crossed.
    fn apply(&self, old: &Int) -> Int {
        let v = old.add(&self.incr);
        match &self.threshold {
            Some((threshold, set))
                if (!self.incr.is_negative() && v > *threshold)
                    || (self.incr.is_negative() && v < *threshold) =>
            {
                set.clone()
            }
            _ => v,
        }
    }
}

fn int_of(t: Term<'_>) -> Option<Int> {
    Int::from_term(t)
}

fn parse_counter_op(t: Term<'_>, keypos: usize) -> Res<CounterOp> {
    if let Some(incr) = int_of(t) {
        return Ok(CounterOp {
            pos: keypos + 1,
            incr,
            threshold: None,
        });
    }
    let parts = rustler::types::tuple::get_tuple(t).map_err(|_| Fail::BadArg)?;
    let int = |i: usize| parts.get(i).and_then(|&x| int_of(x)).ok_or(Fail::BadArg);
    // A small integer parses; one out of range (below 1 too) is reported
    // as `position` once the object is known, as ETS does. A position that
    // is not a small integer (a bignum: 2^59 or more, or under -2^59) makes
    // the operation malformed, as in ETS: badarg without a cause.
    let p = *parts.first().ok_or(Fail::BadArg)?;
    if !is_immediate(p.as_c_arg()) {
        return Err(Fail::BadArg);
    }
    let pos = match p.decode::<i64>().map_err(|_| Fail::BadArg)? {
        p if p >= 1 => usize::try_from(p).unwrap_or(usize::MAX),
        _ => 0,
    };
    match parts.len() {
        2 => Ok(CounterOp {
            pos,
            incr: int(1)?,
            threshold: None,
        }),
        4 => Ok(CounterOp {
            pos,
            incr: int(1)?,
            threshold: Some((int(2)?, int(3)?)),
        }),
        _ => Err(Fail::BadArg),
    }
}

/// The default tuple of the /4 forms (`[]` when absent, else `{Default}`).
/// ETS refuses a default that is not a tuple before anything else.
fn default_tuple(default: Term<'_>) -> Res<Option<Vec<Term<'_>>>> {
    if default.is_empty_list() {
        return Ok(None);
    }
    let wrapped = rustler::types::tuple::get_tuple(default).map_err(|_| Fail::BadArg)?;
    let elems = rustler::types::tuple::get_tuple(wrapped[0]).map_err(|_| Fail::BadArg)?;
    Ok(Some(elems))
}

/// The default object to insert, with its key element replaced by `key`.
fn default_object<'a>(
    env: Env<'a>,
    tab: &Table,
    key: Term<'a>,
    default: Option<Vec<Term<'a>>>,
) -> Res<Option<Encoded>> {
    let keypos = tab.keypos;
    let Some(mut elems) = default else {
        return Ok(None);
    };
    if elems.len() < keypos {
        return Err(cause(atoms::position()));
    }
    elems[keypos - 1] = key;
    let raw: Vec<ErlNifTerm> = elems.iter().map(|e| e.as_c_arg()).collect();
    // SAFETY: `raw` holds valid terms of `env`.
    let tuple = unsafe {
        Term::new(
            env,
            enif_make_tuple_from_array(env.as_c_arg(), raw.as_ptr(), raw.len() as _),
        )
    };
    encode_object(env, tuple, tab).map(Some)
}

/// Element byte ranges of the tuple encoded in `bytes`.
fn element_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut p = 1;
    let n = get_varint(bytes, &mut p);
    (0..n)
        .map(|_| {
            let s = p;
            p = format::skip(bytes, p);
            (s, p)
        })
        .collect()
}

/// A copy of `base` with some elements replaced by new encodings. The copy
/// takes its own reference on every shared binary it names.
fn splice(base: &Obj, ranges: &[(usize, usize)], new: &[Option<Vec<u8>>]) -> Obj {
    let old = base.bytes();
    let mut out = Vec::with_capacity(old.len() + 16);
    out.push(TUPLE);
    format::put_varint(&mut out, ranges.len());
    for (i, &(s, e)) in ranges.iter().enumerate() {
        match &new[i] {
            Some(b) => out.extend_from_slice(b),
            None => out.extend_from_slice(&old[s..e]),
        }
    }
    let mut bins = Vec::new();
    format::shared_bins(&out, 0, &mut bins);
    for &p in &bins {
        // SAFETY: each pointer is alive: held by `base` or by the encoder
        // that produced the new elements, both alive here.
        unsafe { shared_bin::keep(p as *const _) };
    }
    Obj::new(&out, !bins.is_empty(), base.key_neg_zero())
}

fn element_int(env: Env<'_>, bytes: &[u8], (s, _): (usize, usize)) -> Option<Int> {
    let mut p = s;
    // SAFETY: a valid element encoding of a live object.
    let t = unsafe { Term::new(env, decode::term(env.as_c_arg(), bytes, &mut p)) };
    int_of(t)
}

/// The common case, without allocating: one op on a small-integer element
/// whose new value is a small integer too, rewritten in place. `None` when
/// the general path is needed.
fn counter_in_place(
    env: Env<'_>,
    obj: &mut Obj,
    op: &CounterOp,
    keypos: usize,
) -> Res<Option<Int>> {
    if op.pos == 0 {
        return Err(cause(atoms::position()));
    }
    let (s, _) =
        format::tuple_element(obj.bytes(), 0, op.pos - 1).ok_or(cause(atoms::position()))?;
    if op.pos == keypos {
        return Err(cause(atoms::keypos()));
    }
    let bytes = obj.bytes_mut();
    if bytes[s] != IMMEDIATE {
        return Ok(None);
    }
    let mut at = s + 1;
    // SAFETY: an IMMEDIATE element holds a raw immediate term word.
    let old = unsafe { Term::new(env, crate::codec::from_raw(format::get_u64(bytes, &mut at))) };
    let v = op.apply(&int_of(old).ok_or(Fail::BadArg)?);
    let new = v.to_term(env).as_c_arg();
    if !is_immediate(new) {
        return Ok(None);
    }
    bytes[s + 1..s + 9].copy_from_slice(&crate::codec::to_raw(new).to_le_bytes());
    Ok(Some(v))
}

pub fn update_counter_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
    route: &Route,
    may_go_dirty: bool,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    let keypos = tab.keypos;
    // ETS reports a missing key before a malformed operation or default,
    // so their errors wait until the key has been looked up.
    let (ops, as_list) = each_op(ops, |o| parse_counter_op(o, keypos));
    let default = default_tuple(default)?;
    if tab.kind.is_bag() {
        return Err(cause(atoms::table_type()));
    }
    let k = encode_key(env, &tab, key)?;
    let default = default_object(env, &tab, key, default);
    let p = route.slot(&tab, 0, k.hash)?;

    let mut part = tab.write(p);
    if may_go_dirty && too_big_to_rewrite(part.lookup(keypos, k.hash, k.bytes())) {
        return Ok(atoms::dirty().encode(env));
    }
    let default = match part.lookup(keypos, k.hash, k.bytes()).first() {
        Some(_) => None,
        None => Some(default?.ok_or(cause(atoms::badkey()))?),
    };
    if let (false, [op]) = (as_list, &ops[..]) {
        let op = op.as_ref().map_err(|_| Fail::BadArg)?;
        if let Some(obj) = part.get_mut(keypos, k.hash, k.bytes()) {
            if let Some(v) = counter_in_place(env, obj, op, keypos)? {
                return Ok(v.to_term(env));
            }
        }
    }
    let existing = part.lookup(keypos, k.hash, k.bytes()).first();
    let base: &Obj = match (existing, &default) {
        (Some(o), _) => o,
        (None, Some(d)) => &d.obj,
        (None, None) => return Err(cause(atoms::badkey())),
    };
    let bytes = base.bytes();
    let ranges = element_ranges(bytes);
    let mut current: Vec<Option<Int>> = vec![None; ranges.len()];
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        let op = op.as_ref().map_err(|_| Fail::BadArg)?;
        if op.pos == 0 || op.pos > ranges.len() {
            return Err(cause(atoms::position()));
        }
        if op.pos == keypos {
            return Err(cause(atoms::keypos()));
        }
        let i = op.pos - 1;
        let old = match current[i].take() {
            Some(v) => v,
            None => element_int(env, bytes, ranges[i]).ok_or(Fail::BadArg)?,
        };
        let v = op.apply(&old);
        results.push(v.clone());
        current[i] = Some(v);
    }
    let new_elems = with_encoder(env, |enc| {
        current
            .iter()
            .map(|c| {
                c.as_ref().map(|v| {
                    enc.out.clear();
                    enc.term(v.to_term(env).as_c_arg(), true)
                        .expect("integers encode");
                    enc.out.clone()
                })
            })
            .collect::<Vec<_>>()
    });
    let new_obj = splice(base, &ranges, &new_elems);
    let replaced = part.put(keypos, k.hash, k.sort_key(&tab), new_obj);
    drop(part);
    drop(replaced);
    drop(default);
    Ok(if as_list {
        results
            .iter()
            .rev()
            .fold(nil(env), |acc, v| cons(env, v.to_term(env), acc))
    } else {
        results[0].to_term(env)
    })
}

/// Objects above this size are rewritten on a dirty scheduler: copying
/// them takes longer than a normal scheduler should be held.
const DIRTY_OBJECT_BYTES: usize = 64 * 1024;

fn too_big_to_rewrite(objs: &[Obj]) -> bool {
    objs.first()
        .is_some_and(|o| o.bytes().len() > DIRTY_OBJECT_BYTES)
}

/// Parses an operation or a list of them, one result per operation, in
/// order: ETS checks and applies list operations one at a time, so the first
/// failing one (possibly a later malformed tail) decides the error.
fn each_op<'a, T>(ops: Term<'a>, parse: impl Fn(Term<'a>) -> Res<T>) -> (Vec<Res<T>>, bool) {
    if !ops.is_list() {
        return (vec![parse(ops)], false);
    }
    let mut out = Vec::new();
    let mut cur = ops;
    while let Ok((head, tail)) = cur.list_get_cell() {
        // Inside a list, a bare increment is not an operation.
        out.push(if int_of(head).is_some() {
            Err(Fail::BadArg)
        } else {
            parse(head)
        });
        cur = tail;
    }
    if !cur.is_empty_list() {
        out.push(Err(Fail::BadArg));
    }
    (out, true)
}

fn parse_element_op(item: Term<'_>) -> Res<(usize, Term<'_>)> {
    let parts = rustler::types::tuple::get_tuple(item).map_err(|_| Fail::BadArg)?;
    let [pos, value] = parts[..] else {
        return Err(Fail::BadArg);
    };
    let pos = pos
        .decode::<i64>()
        .ok()
        .filter(|&p| p >= 1)
        .ok_or(Fail::BadArg)?;
    Ok((pos as usize, value))
}

pub fn update_element_impl<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
    route: &Route,
    may_go_dirty: bool,
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    if tab.kind.is_bag() {
        return Err(Fail::BadArg);
    }
    let keypos = tab.keypos;
    let (changes, _) = each_op(ops, parse_element_op);
    let default = default_tuple(default)?;
    let k = encode_key(env, &tab, key)?;
    let default = default_object(env, &tab, key, default);
    let p = route.slot(&tab, 0, k.hash)?;
    // As for counters, a missing key is reported before malformed operations.
    let (missing, too_big) = {
        let part = tab.read(p);
        let objs = part.lookup(keypos, k.hash, k.bytes());
        (objs.is_empty(), too_big_to_rewrite(objs))
    };
    if may_go_dirty && too_big {
        return Ok(atoms::dirty().encode(env));
    }
    let default = match (missing, default) {
        (false, _) => None,
        (true, d) => match d? {
            None => return Ok(atoms::false_().encode(env)),
            d => d,
        },
    };
    // Encode the new values before locking; the encoder keeps their shared
    // binaries alive until the new object holds its own references.
    with_encoder(env, |enc| {
        let mut encoded = Vec::with_capacity(changes.len());
        for change in &changes {
            encoded.push(
                change
                    .as_ref()
                    .map_err(|_| Fail::BadArg)
                    .and_then(|&(pos, value)| {
                        let s = enc.out.len();
                        enc.term(value.as_c_arg(), true).map_err(|_| Fail::BadArg)?;
                        Ok((pos, s, enc.out.len()))
                    }),
            );
        }

        let mut part = tab.write(p);
        let existing = part.lookup(keypos, k.hash, k.bytes()).first();
        let base: &Obj = match (existing, &default) {
            (Some(o), _) => o,
            (None, Some(d)) => &d.obj,
            (None, None) => return Ok(atoms::false_().encode(env)),
        };
        let ranges = element_ranges(base.bytes());
        let mut new_elems: Vec<Option<Vec<u8>>> = vec![None; ranges.len()];
        for change in encoded {
            let (pos, s, e) = change?;
            if pos > ranges.len() {
                return Err(Fail::BadArg);
            }
            if pos == keypos {
                return Err(cause(atoms::keypos()));
            }
            new_elems[pos - 1] = Some(enc.out[s..e].to_vec());
        }
        let new_obj = splice(base, &ranges, &new_elems);
        let replaced = part.put(keypos, k.hash, k.sort_key(&tab), new_obj);
        drop(part);
        drop(replaced);
        Ok(atoms::true_().encode(env))
    })
}

#[rustler::nif]
fn update_counter<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| update_counter_impl(env, t, key, ops, default, &Route::Hash, true))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn update_counter_dirty<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| update_counter_impl(env, t, key, ops, default, &Route::Hash, false))
}

#[rustler::nif]
fn update_element<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| update_element_impl(env, t, key, ops, default, &Route::Hash, true))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn update_element_dirty<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| update_element_impl(env, t, key, ops, default, &Route::Hash, false))
}
