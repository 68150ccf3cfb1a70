//! update_counter and update_element: read-modify-write of one object under
//! its partition's write lock. Everything that can fail is checked before
//! the object is replaced, so a failing call changes nothing.

use super::*;
use crate::codec::format::get_varint;
use crate::codec::shared_bin;
use rustler::sys::{enif_binary_to_term, enif_make_tuple_from_array};

/// One counter update: `{Pos, Incr}` or `{Pos, Incr, Threshold, SetValue}`.
struct CounterOp {
    pos: usize,
    incr: i128,
    threshold: Option<(i128, i128)>,
}

/// Reads an integer term as i128 (counters beyond i128 are refused).
fn int_of(t: Term<'_>) -> Option<i128> {
    if let Ok(v) = t.decode::<i64>() {
        return Some(v as i128);
    }
    if !t.is_number() || t.is_float() {
        return None;
    }
    // A bignum: parse its external format (SMALL_BIG_EXT / LARGE_BIG_EXT).
    let bin = t.to_binary();
    let b = bin.as_slice();
    let (n, sign, digits) = match b.get(1)? {
        110 => (*b.get(2)? as usize, *b.get(3)?, b.get(4..)?),
        111 => (u32::from_be_bytes(b.get(2..6)?.try_into().ok()?) as usize, *b.get(6)?, b.get(7..)?),
        _ => return None,
    };
    if n > 16 || digits.len() < n {
        return None;
    }
    let mut mag = [0u8; 16];
    mag[..n].copy_from_slice(&digits[..n]);
    let m = u128::from_le_bytes(mag);
    if sign == 0 {
        i128::try_from(m).ok()
    } else {
        0i128.checked_sub_unsigned(m)
    }
}

fn int_term(env: Env<'_>, v: i128) -> Term<'_> {
    if let Ok(small) = i64::try_from(v) {
        return small.encode(env);
    }
    let mag = v.unsigned_abs().to_le_bytes();
    let n = 16 - mag.iter().rev().take_while(|&&b| b == 0).count();
    let mut ext = vec![131, 110, n as u8, (v < 0) as u8];
    ext.extend_from_slice(&mag[..n]);
    let mut t = crate::codec::from_raw(0);
    // SAFETY: `ext` is a well-formed SMALL_BIG_EXT.
    unsafe { enif_binary_to_term(env.as_c_arg(), ext.as_ptr(), ext.len(), &mut t, 0) };
    unsafe { Term::new(env, t) }
}

fn parse_counter_op(t: Term<'_>, keypos: usize) -> Res<CounterOp> {
    if let Some(incr) = int_of(t) {
        return Ok(CounterOp { pos: keypos + 1, incr, threshold: None });
    }
    let parts = rustler::types::tuple::get_tuple(t).map_err(|_| Fail::BadArg)?;
    let int = |i: usize| parts.get(i).and_then(|&x| int_of(x)).ok_or(Fail::BadArg);
    let pos = usize::try_from(int(0)?).ok().filter(|&p| p >= 1).ok_or(Fail::BadArg)?;
    match parts.len() {
        2 => Ok(CounterOp { pos, incr: int(1)?, threshold: None }),
        4 => Ok(CounterOp { pos, incr: int(1)?, threshold: Some((int(2)?, int(3)?)) }),
        _ => Err(Fail::BadArg),
    }
}

/// The default object of the /4 forms (`[]` when absent, else `{Default}`),
/// with its key element replaced by `key`, as ETS does.
fn default_object<'a>(env: Env<'a>, key: Term<'a>, default: Term<'a>, keypos: usize) -> Res<Option<Encoded>> {
    if default.is_empty_list() {
        return Ok(None);
    }
    let wrapped = rustler::types::tuple::get_tuple(default).map_err(|_| Fail::BadArg)?;
    let mut elems = rustler::types::tuple::get_tuple(wrapped[0]).map_err(|_| Fail::BadArg)?;
    if elems.len() < keypos {
        return Err(cause(atoms::position()));
    }
    elems[keypos - 1] = key;
    let raw: Vec<ErlNifTerm> = elems.iter().map(|e| e.as_c_arg()).collect();
    // SAFETY: `raw` holds valid terms of `env`.
    let tuple = unsafe { Term::new(env, enif_make_tuple_from_array(env.as_c_arg(), raw.as_ptr(), raw.len() as _)) };
    encode_object(env, tuple, keypos).map(Some)
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
    for &(p, _) in &bins {
        // SAFETY: each pointer is alive: held by `base` or by the encoder
        // that produced the new elements, both alive here.
        unsafe { shared_bin::keep(p as *const _) };
    }
    Obj::new(&out, !bins.is_empty(), base.key_neg_zero())
}

fn element_int<'a>(env: Env<'a>, bytes: &[u8], (s, _): (usize, usize)) -> Option<i128> {
    let mut p = s;
    // SAFETY: a valid element encoding of a live object.
    let t = unsafe { Term::new(env, decode::term(env.as_c_arg(), bytes, &mut p)) };
    int_of(t)
}

/// The common case, without allocating: one op on a small-integer element
/// whose new value is a small integer too, rewritten in place. `None` when
/// the general path is needed.
fn counter_in_place(env: Env<'_>, obj: &mut Obj, op: &CounterOp, keypos: usize) -> Res<Option<i128>> {
    let (s, _) = format::tuple_element(obj.bytes(), 0, op.pos - 1).ok_or(cause(atoms::position()))?;
    if op.pos == keypos {
        return Err(cause(atoms::keypos()));
    }
    let bytes = obj.bytes_mut();
    if bytes[s] != IMMEDIATE {
        return Ok(None);
    }
    let mut at = s + 1;
    let old = unsafe { Term::new(env, crate::codec::from_raw(format::get_u64(bytes, &mut at))) };
    let old = int_of(old).ok_or(Fail::BadArg)?;
    let mut v = old.checked_add(op.incr).ok_or(Fail::BadArg)?;
    if let Some((threshold, set)) = op.threshold {
        if (op.incr >= 0 && v > threshold) || (op.incr < 0 && v < threshold) {
            v = set;
        }
    }
    let new = int_term(env, v).as_c_arg();
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
    let keypos = tab.keypos;
    let (ops, as_list) = if ops.is_list() {
        let items: Vec<Term> = ops.decode()?;
        let parsed = items
            .into_iter()
            .map(|o| if int_of(o).is_some() { Err(Fail::BadArg) } else { parse_counter_op(o, keypos) })
            .collect::<Res<Vec<_>>>()?;
        (parsed, true)
    } else {
        (vec![parse_counter_op(ops, keypos)?], false)
    };
    let k = encode_key(env, key)?;
    let default = default_object(env, key, default, keypos)?;
    let p = route.slot(&tab, 0, k.hash)?;

    let mut part = tab.write(p);
    if let (false, [op]) = (as_list, &ops[..]) {
        if let Some(obj) = part.get_mut(keypos, k.hash, k.bytes()) {
            if let Some(v) = counter_in_place(env, obj, op, keypos)? {
                return Ok(int_term(env, v));
            }
        }
    }
    let existing = part.get(keypos, k.hash, k.bytes());
    let base: &Obj = match (existing, &default) {
        (Some(o), _) => o,
        (None, Some(d)) => &d.obj,
        (None, None) => return Err(cause(atoms::badkey())),
    };
    let bytes = base.bytes();
    let ranges = element_ranges(bytes);
    let mut current: Vec<Option<i128>> = vec![None; ranges.len()];
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        if op.pos > ranges.len() {
            return Err(cause(atoms::position()));
        }
        if op.pos == keypos {
            return Err(cause(atoms::keypos()));
        }
        let i = op.pos - 1;
        let old = match current[i] {
            Some(v) => v,
            None => element_int(env, bytes, ranges[i]).ok_or(Fail::BadArg)?,
        };
        let mut v = old.checked_add(op.incr).ok_or(Fail::BadArg)?;
        if let Some((threshold, set)) = op.threshold {
            if (op.incr >= 0 && v > threshold) || (op.incr < 0 && v < threshold) {
                v = set;
            }
        }
        current[i] = Some(v);
        results.push(v);
    }
    let new_elems = with_encoder(env, |enc| {
        current
            .iter()
            .map(|c| {
                c.map(|v| {
                    enc.out.clear();
                    enc.term(int_term(env, v).as_c_arg(), true).expect("integers encode");
                    enc.out.clone()
                })
            })
            .collect::<Vec<_>>()
    });
    let new_obj = splice(base, &ranges, &new_elems);
    let replaced = part.put(keypos, k.hash, new_obj);
    drop(part);
    drop(replaced);
    drop(default);
    Ok(if as_list {
        results.iter().rev().fold(nil(env), |acc, &v| cons(env, int_term(env, v), acc))
    } else {
        int_term(env, results[0])
    })
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
    let keypos = tab.keypos;
    let items: Vec<Term> = if ops.is_list() { ops.decode()? } else { vec![ops] };
    let mut changes = Vec::with_capacity(items.len());
    for item in items {
        let parts = rustler::types::tuple::get_tuple(item).map_err(|_| Fail::BadArg)?;
        let [pos, value] = parts[..] else { return Err(Fail::BadArg) };
        let pos = pos.decode::<i64>().ok().filter(|&p| p >= 1).ok_or(Fail::BadArg)? as usize;
        changes.push((pos, value));
    }
    let k = encode_key(env, key)?;
    let default = default_object(env, key, default, keypos)?;
    let p = route.slot(&tab, 0, k.hash)?;
    // Encode the new values before locking; the encoder keeps their shared
    // binaries alive until the new object holds its own references.
    let buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let mut enc = Encoder::with_buffer(env.as_c_arg(), buf);
    let mut encoded = Vec::with_capacity(changes.len());
    for &(pos, value) in &changes {
        let s = enc.out.len();
        enc.term(value.as_c_arg(), true).map_err(|_| Fail::BadArg)?;
        encoded.push((pos, s, enc.out.len()));
    }

    let mut part = tab.write(p);
    let existing = part.get(keypos, k.hash, k.bytes());
    let base: &Obj = match (existing, &default) {
        (Some(o), _) => o,
        (None, Some(d)) => &d.obj,
        (None, None) => return Ok(atoms::false_().encode(env)),
    };
    let ranges = element_ranges(base.bytes());
    let mut new_elems: Vec<Option<Vec<u8>>> = vec![None; ranges.len()];
    for &(pos, s, e) in &encoded {
        if pos > ranges.len() {
            return Err(Fail::BadArg);
        }
        if pos == keypos {
            return Err(cause(atoms::keypos()));
        }
        new_elems[pos - 1] = Some(enc.out[s..e].to_vec());
    }
    let new_obj = splice(base, &ranges, &new_elems);
    let replaced = part.put(keypos, k.hash, new_obj);
    drop(part);
    drop(replaced);
    drop(default);
    let buf = enc.into_buffer();
    SCRATCH.with(|s| *s.borrow_mut() = buf);
    Ok(atoms::true_().encode(env))
}

#[rustler::nif]
fn update_counter<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, ops: Term<'a>, default: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(env, || update_counter_impl(env, t, key, ops, default, &Route::Hash))
}

#[rustler::nif]
fn update_element<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>, ops: Term<'a>, default: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(env, || update_element_impl(env, t, key, ops, default, &Route::Hash))
}
