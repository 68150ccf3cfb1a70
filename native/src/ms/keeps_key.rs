//! `select_replace` refuses a spec unless every clause provably keeps the
//! object's key. This is ETS's own static check (`db_match_keeps_key` and
//! `db_match_eq_body` in OTP's erl_db_util.c), so the same specs pass.

use crate::codec::encode::is_immediate;
use crate::codec::to_raw;
use rustler::types::tuple::get_tuple;
use rustler::{Term, TermType};

fn atom_is(t: Term<'_>, name: &str) -> bool {
    t.is_atom() && t.atom_to_string().is_ok_and(|s| s == name)
}

fn is_var(t: Term<'_>) -> bool {
    t.is_atom()
        && t.atom_to_string().is_ok_and(|s| {
            let d = s.strip_prefix('$').unwrap_or("");
            !d.is_empty()
                && d.bytes().all(|b| b.is_ascii_digit())
                && (d == "0" || !d.starts_with('0'))
        })
}

/// Element `keypos` of a tuple.
fn key_of(t: Term<'_>, keypos: usize) -> Option<Term<'_>> {
    if t.get_type() != TermType::Tuple {
        return None;
    }
    get_tuple(t).ok()?.get(keypos - 1).copied()
}

/// Whether the clause `{Head, _, Body}` keeps the key at `keypos`.
pub fn keeps_key<'a>(keypos: usize, head: Term<'a>, body: Term<'a>) -> bool {
    let Ok((single, rest)) = body.list_get_cell() else {
        return false;
    };
    if !rest.is_empty_list() {
        return false;
    }
    if atom_is(single, "$_") {
        return true;
    }
    if single.get_type() != TermType::Tuple {
        return false;
    }
    let Some(match_key) = key_of(head, keypos) else {
        return false;
    };
    let Ok(parts) = get_tuple(single) else {
        return false;
    };
    let (sub, const_mode) = match parts[..] {
        [c, sub] if atom_is(c, "const") => (sub, true),
        [sub] => (sub, false),
        _ => return false,
    };
    let Some(body_key) = key_of(sub, keypos) else {
        return false;
    };
    if eq_body(match_key, body_key, const_mode) {
        return true;
    }
    if const_mode || body_key.get_type() != TermType::Tuple {
        return false;
    }
    // {element, KeyPos, '$_'}
    matches!(get_tuple(body_key).ok().as_deref(),
        Some([e, k, w]) if atom_is(*e, "element")
            && k.decode::<i64>().is_ok_and(|k| k == keypos as i64)
            && atom_is(*w, "$_"))
}

/// Whether the construction `b` always builds the term the pattern `a`
/// matched. Never recursive, whatever the depth: the pairs still to check
/// wait on a stack, and every one must hold.
fn eq_body<'a>(a: Term<'a>, b: Term<'a>, const_mode: bool) -> bool {
    let mut pending = vec![(a, b, const_mode)];
    while let Some((a, b, const_mode)) = pending.pop() {
        if !eq_shallow(a, b, const_mode, &mut pending) {
            return false;
        }
    }
    true
}

/// One step of `eq_body`: false when `b` cannot build what `a` matched;
/// else true, with the pairs of elements still to check pushed.
fn eq_shallow<'a>(
    a: Term<'a>,
    b: Term<'a>,
    const_mode: bool,
    pending: &mut Vec<(Term<'a>, Term<'a>, bool)>,
) -> bool {
    if b.is_list() && !b.is_empty_list() {
        return match (a.list_get_cell(), b.list_get_cell()) {
            (Ok((ah, at)), Ok((bh, bt))) => {
                pending.push((at, bt, const_mode));
                pending.push((ah, bh, const_mode));
                true
            }
            _ => false,
        };
    }
    match b.get_type() {
        TermType::Tuple => {
            let Ok(mut bs) = get_tuple(b) else {
                return false;
            };
            if !const_mode {
                match bs[..] {
                    [inner] if inner.get_type() == TermType::Tuple => {
                        bs = get_tuple(inner).unwrap_or_default();
                    }
                    [c, x] if atom_is(c, "const") => {
                        pending.push((a, x, true));
                        return true;
                    }
                    _ => return false,
                }
            }
            if a.get_type() != TermType::Tuple {
                return false;
            }
            let Ok(as_) = get_tuple(a) else {
                return false;
            };
            if as_.len() != bs.len() {
                return false;
            }
            pending.extend(as_.into_iter().zip(bs).map(|(x, y)| (x, y, const_mode)));
            true
        }
        TermType::Map => false,
        _ if !is_immediate(b.as_c_arg()) => a == b,
        _ => {
            let special = atom_is(a, "_") || atom_is(a, "$$") || atom_is(a, "$_");
            to_raw(a.as_c_arg()) == to_raw(b.as_c_arg()) && !special && !(const_mode && is_var(a))
        }
    }
}
