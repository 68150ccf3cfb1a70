//! update_counter and update_element: read-modify-write of one object under
//! its partition's write lock. Everything that can fail is checked before
//! the object is changed, so a failing call changes nothing. Only the
//! elements named are located (one walk of the tuple up to the last); new
//! values of the old values' encoded size (immediates, floats) are written
//! in place, others make a new object in one copy.

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
    let Some(parts) = tuple_elems(t) else {
        let incr = int_of(t).ok_or(Fail::BadArg)?;
        return Ok(CounterOp {
            pos: keypos + 1,
            incr,
            threshold: None,
        });
    };
    // SAFETY: the elements of a live tuple of `t`'s environment.
    let part = |i: usize| parts.get(i).map(|&x| unsafe { Term::new(t.get_env(), x) });
    let int = |i: usize| part(i).and_then(int_of).ok_or(Fail::BadArg);
    // A small integer parses; one out of range (below 1 too) is reported
    // as `position` once the object is known, as ETS does. A position that
    // is not a small integer (a bignum: 2^59 or more, or under -2^59) makes
    // the operation malformed, as in ETS: badarg without a cause.
    let p = part(0).ok_or(Fail::BadArg)?;
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

/// The elements of the default tuple of the /4 forms (`[]` when absent,
/// else `{Default}`), read in place. ETS refuses a default that is not a
/// tuple before anything else.
fn default_tuple(default: Term<'_>) -> Res<Option<&[ErlNifTerm]>> {
    if default.is_empty_list() {
        return Ok(None);
    }
    let wrapped = tuple_elems(default)
        .filter(|w| w.len() == 1)
        .ok_or(Fail::BadArg)?;
    // SAFETY: the element of a live tuple of `default`'s environment.
    let elems = tuple_elems(unsafe { Term::new(default.get_env(), wrapped[0]) });
    elems.map(Some).ok_or(Fail::BadArg)
}

/// The default object to insert, with its key element replaced by `key`.
fn default_object<'a>(
    env: Env<'a>,
    tab: &Table,
    key: Term<'a>,
    default: Option<&[ErlNifTerm]>,
) -> Res<Option<Encoded>> {
    let keypos = tab.keypos;
    let Some(elems) = default else {
        return Ok(None);
    };
    if elems.len() < keypos {
        return Err(cause(atoms::position()));
    }
    let mut raw = elems.to_vec();
    raw[keypos - 1] = key.as_c_arg();
    // SAFETY: `raw` holds valid terms of `env`.
    let tuple = unsafe {
        Term::new(
            env,
            enif_make_tuple_from_array(env.as_c_arg(), raw.as_ptr(), raw.len() as _),
        )
    };
    encode_object(env, tuple, tab).map(Some)
}

/// The byte ranges of the elements at `positions` (1-based, ascending and
/// distinct, none beyond the arity) of the tuple encoded in `bytes`: one
/// walk, which stops at the last of them.
fn element_ranges_at(bytes: &[u8], positions: &[usize]) -> Vec<(usize, usize)> {
    let mut p = 1;
    get_varint(bytes, &mut p);
    let mut next = 1;
    positions
        .iter()
        .map(|&pos| {
            while next < pos {
                p = format::skip(bytes, p);
                next += 1;
            }
            let s = p;
            p = format::skip(bytes, p);
            next += 1;
            (s, p)
        })
        .collect()
}

/// The arity of the tuple encoded in `bytes` (an object: always a tuple).
fn arity(bytes: &[u8]) -> usize {
    format::tuple_arity(bytes, 0).unwrap_or(0)
}

/// Whether the term encoded at the start of `bytes` names a shared binary.
fn names_shared_bin(bytes: &[u8]) -> bool {
    let mut found = false;
    format::shared_bins(bytes, 0, &mut |_| found = true);
    found
}

/// One element to replace: its byte range in the object, its new encoding.
type Edit<'e> = ((usize, usize), &'e [u8]);

/// Writes the new encodings over the old ones in place when each has the
/// old one's length and neither names a shared binary (so no reference
/// changes hands): no allocation, and the rest of the object is not
/// touched. `false` (and nothing written) otherwise.
fn elements_in_place(obj: &mut Obj, edits: &[Edit<'_>]) -> bool {
    let fits = edits.iter().all(|&((s, e), new)| {
        new.len() == e - s
            && !names_shared_bin(new)
            && !(obj.has_shared() && names_shared_bin(&obj.bytes()[s..e]))
    });
    if fits {
        let bytes = obj.bytes_mut();
        for &((s, e), new) in edits {
            bytes[s..e].copy_from_slice(new);
        }
    }
    fits
}

/// A copy of `base` with the elements of `edits` (ascending ranges, not
/// overlapping) replaced, written in one pass into the new object: the runs
/// between them are copied whole. The copy takes its own reference on every
/// shared binary it names (looked for only when `base` or a new element
/// has one).
fn splice(base: &Obj, edits: &[Edit<'_>]) -> Obj {
    let old = base.bytes();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * edits.len() + 1);
    let mut at = 0;
    let mut has_shared = base.has_shared();
    for &((s, e), new) in edits {
        parts.push(&old[at..s]);
        parts.push(new);
        has_shared |= names_shared_bin(new);
        at = e;
    }
    parts.push(&old[at..]);
    let obj = Obj::from_parts(&parts, has_shared, base.key_neg_zero());
    if has_shared {
        format::shared_bins(obj.bytes(), 0, &mut |b| {
            // SAFETY: each binary is alive: held by `base` or by the
            // encoder that produced the new elements, both alive here.
            unsafe { shared_bin::keep(b.base, b.len) };
        });
    }
    obj
}

fn element_int(env: Env<'_>, bytes: &[u8], (s, _): (usize, usize)) -> Option<Int> {
    let mut p = s;
    // SAFETY: a valid element encoding of a live object.
    let t = unsafe { Term::new(env, decode::term(env.as_c_arg(), bytes, &mut p)) };
    int_of(t)
}

/// The common case in one lookup and without allocating: one operation on
/// an object that exists, with a well-formed default (or none), whose
/// counter is a small integer and stays one. `None` when anything else
/// holds (errors included): the general path then checks everything, in
/// ETS's order, as if this had not run, since it changed nothing.
fn counter_fast<'a>(
    env: Env<'a>,
    tab: &Table,
    key: Term<'a>,
    op: Term<'a>,
    default: Term<'a>,
    route: &Route,
) -> Option<Term<'a>> {
    if tab.kind.is_bag() || op.is_list() || default_tuple(default).is_err() {
        return None;
    }
    let op = parse_counter_op(op, tab.keypos).ok()?;
    let k = encode_key_to_access(env, tab, key).ok()?;
    let p = route.slot(tab, 0, k.hash).ok()?;
    let mut part = tab.write(p);
    let mut obj = part.get_mut(tab.keypos, k.hash, k.bytes())?;
    let v = counter_in_place(env, &mut obj, &op, tab.keypos).ok()??;
    Some(v.to_term(env))
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
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    if let Some(v) = counter_fast(env, &tab, key, ops, default, route) {
        return Ok(v);
    }
    let keypos = tab.keypos;
    // ETS reports a missing key before a malformed operation or default,
    // so their errors wait until the key has been looked up.
    let (ops, as_list) = each_op(ops, |o| parse_counter_op(o, keypos));
    let default = default_tuple(default)?;
    if tab.kind.is_bag() {
        return Err(cause(atoms::table_type()));
    }
    let k = encode_key_to_access(env, &tab, key)?;
    let default = default_object(env, &tab, key, default);
    let p = route.slot(&tab, 0, k.hash)?;

    let mut part = tab.write(p);
    charge_rewrite(&part.lookup(keypos, k.hash, k.bytes()))?;
    let default = match part.lookup(keypos, k.hash, k.bytes()).first() {
        Some(_) => None,
        None => Some(default?.ok_or(cause(atoms::badkey()))?),
    };
    let found = part.lookup(keypos, k.hash, k.bytes());
    let existing = found.first();
    let in_table = existing.is_some();
    let base: &Obj = match (existing, &default) {
        (Some(o), _) => o,
        (None, Some(d)) => &d.obj,
        (None, None) => return Err(cause(atoms::badkey())),
    };
    let bytes = base.bytes();
    let n = arity(bytes);
    // Only the elements the operations name are located (one walk).
    let mut positions: Vec<usize> = ops
        .iter()
        .filter_map(|op| op.as_ref().ok().map(|op| op.pos))
        .filter(|&pos| pos >= 1 && pos <= n)
        .collect();
    positions.sort_unstable();
    positions.dedup();
    let ranges = element_ranges_at(bytes, &positions);
    let mut current: Vec<Option<Int>> = vec![None; positions.len()];
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        let op = op.as_ref().map_err(|_| Fail::BadArg)?;
        if op.pos == 0 || op.pos > n {
            return Err(cause(atoms::position()));
        }
        if op.pos == keypos {
            return Err(cause(atoms::keypos()));
        }
        let i = positions
            .binary_search(&op.pos)
            .expect("every valid position is located");
        let old = match current[i].take() {
            Some(v) => v,
            None => element_int(env, bytes, ranges[i]).ok_or(Fail::BadArg)?,
        };
        let v = op.apply(&old);
        results.push(v.clone());
        current[i] = Some(v);
    }
    let new_elems: Vec<Vec<u8>> = with_encoder(env, |enc| {
        current
            .iter()
            .map(|c| {
                let v = c.as_ref().expect("every located position is updated");
                enc.out.clear();
                enc.term(v.to_term(env).as_c_arg(), true)?;
                Ok(enc.out.clone())
            })
            .collect::<Res<_>>()
    })?;
    let edits: Vec<Edit<'_>> = ranges
        .iter()
        .zip(&new_elems)
        .map(|(&r, new)| (r, &new[..]))
        .collect();
    if in_table {
        if let Some(mut obj) = part.get_mut(keypos, k.hash, k.bytes()) {
            if elements_in_place(&mut obj, &edits) {
                drop(part);
                return Ok(counter_results(env, &results, as_list));
            }
        }
    }
    let found = part.lookup(keypos, k.hash, k.bytes());
    let base: &Obj = match (found.first(), &default) {
        (Some(o), _) => o,
        (None, Some(d)) => &d.obj,
        (None, None) => return Err(cause(atoms::badkey())),
    };
    let new_obj = splice(base, &edits);
    let replaced = part.put(keypos, k.hash, k.sort_key(&tab), new_obj);
    drop(part);
    drop(replaced);
    drop(default);
    Ok(counter_results(env, &results, as_list))
}

/// What update_counter returns: the new value, or a list of them.
fn counter_results<'a>(env: Env<'a>, results: &[Int], as_list: bool) -> Term<'a> {
    if as_list {
        results
            .iter()
            .rev()
            .fold(nil(env), |acc, v| cons(env, v.to_term(env), acc))
    } else {
        results[0].to_term(env)
    }
}

/// Charges the call for rewriting an object (walking to its elements,
/// copying it): a big one is updated on a dirty scheduler.
fn charge_rewrite(objs: &[Obj]) -> Res<()> {
    let bytes = objs.first().map_or(0, |o| o.bytes().len());
    crate::work::spend_bytes(bytes)?;
    Ok(())
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
) -> Res<Term<'a>> {
    let tab = open(env, t, Access::Write, route)?;
    if tab.kind.is_bag() {
        return Err(Fail::BadArg);
    }
    let keypos = tab.keypos;
    let (changes, _) = each_op(ops, parse_element_op);
    let default = default_tuple(default)?;
    let k = encode_key_to_access(env, &tab, key)?;
    let default = default_object(env, &tab, key, default);
    let p = route.slot(&tab, 0, k.hash)?;
    // As for counters, a missing key is reported before malformed operations.
    let missing = {
        let part = tab.read(p);
        let objs = part.lookup(keypos, k.hash, k.bytes());
        charge_rewrite(&objs)?;
        objs.is_empty()
    };
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
                        enc.term(value.as_c_arg(), true)?;
                        Ok((pos, s, enc.out.len()))
                    }),
            );
        }

        let mut part = tab.write(p);
        let found = part.lookup(keypos, k.hash, k.bytes());
        let existing = found.first();
        let in_table = existing.is_some();
        let base: &Obj = match (existing, &default) {
            (Some(o), _) => o,
            (None, Some(d)) => &d.obj,
            (None, None) => return Ok(atoms::false_().encode(env)),
        };
        let n = arity(base.bytes());
        // Checked in order; for a position given twice the last value wins.
        let mut last: Vec<(usize, &[u8])> = Vec::with_capacity(encoded.len());
        for change in encoded {
            let (pos, s, e) = change?;
            if pos > n {
                return Err(Fail::BadArg);
            }
            if pos == keypos {
                return Err(cause(atoms::keypos()));
            }
            last.push((pos, &enc.out[s..e]));
        }
        last.reverse();
        // Stable: the last change of each position comes first, and stays.
        last.sort_by_key(|&(pos, _)| pos);
        last.dedup_by_key(|&mut (pos, _)| pos);
        let positions: Vec<usize> = last.iter().map(|&(pos, _)| pos).collect();
        // Only the elements changed are located (one walk).
        let ranges = element_ranges_at(base.bytes(), &positions);
        let edits: Vec<Edit<'_>> = ranges
            .into_iter()
            .zip(last)
            .map(|(r, (_, new))| (r, new))
            .collect();
        if in_table {
            if let Some(mut obj) = part.get_mut(keypos, k.hash, k.bytes()) {
                if elements_in_place(&mut obj, &edits) {
                    return Ok(atoms::true_().encode(env));
                }
            }
        }
        let found = part.lookup(keypos, k.hash, k.bytes());
        let base: &Obj = match (found.first(), &default) {
            (Some(o), _) => o,
            (None, Some(d)) => &d.obj,
            (None, None) => return Ok(atoms::false_().encode(env)),
        };
        let new_obj = splice(base, &edits);
        let replaced = part.put(keypos, k.hash, k.sort_key(&tab), new_obj);
        drop(part);
        drop(replaced);
        Ok(atoms::true_().encode(env))
    })
}

fn update_counter<'a>(env: Env<'a>, [t, key, ops, default]: [Term<'a>; 4]) -> Res<Term<'a>> {
    update_counter_impl(env, t, key, ops, default, &Route::Hash)
}
nif!("update_counter", 4, update_counter);

fn update_element<'a>(env: Env<'a>, [t, key, ops, default]: [Term<'a>; 4]) -> Res<Term<'a>> {
    update_element_impl(env, t, key, ops, default, &Route::Hash)
}
nif!("update_element", 4, update_element);
