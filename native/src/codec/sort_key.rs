//! Sort keys of VM terms: see `order.rs` for the byte layout.
//!
//! Pids, ports and references are ordered as the VM orders them: node name,
//! then node creation, then their numbers (pid serial before pid number;
//! reference words from the most significant). Funs too: local funs by
//! module, index, old uniq, number of free variables, then the variables;
//! after them external funs (`fun M:F/A`) by module, function, arity.

use super::order::{self, *};
use super::rope::{Part, Rope};
use rustler::sys::*;
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int, c_uint};

/// Why a term got no sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoKey {
    /// It cannot be serialised.
    Unencodable,
    /// Making it would take this call over its budget (see `crate::work`).
    OverBudget,
}

impl From<crate::work::OverBudget> for NoKey {
    fn from(_: crate::work::OverBudget) -> NoKey {
        NoKey::OverBudget
    }
}

/// A step of the walk that makes a sort key (see `put`).
enum Task {
    /// The sort key of a term; `exact` inside map keys.
    Term(ErlNifTerm, bool),
    /// A list cell: `CONS`, then its head.
    Cell(ErlNifTerm, bool),
    /// The end of a proper list.
    Nil,
    /// A map key's sort key goes to a part of its own from here...
    BeginKey,
    /// ... to here, and joins its map's keys.
    EndKey,
    /// A map's keys are all made: write them in order, then its values.
    MapValues(Vec<ErlNifTerm>, bool),
}

/// Appends the sort key of `t`, a term of `env`.
///
/// Never recursive, whatever the depth of `t`: the steps still to take
/// wait on a stack of their own. A map's keys are written sorted, so they
/// are made first, each into a part of a rope (see `rope`), and each map
/// puts its keys' parts in order without copying their bytes.
///
/// # Safety
/// `env` must be the calling process's environment and `t` one of its terms.
pub unsafe fn put(env: *mut ErlNifEnv, t: ErlNifTerm, out: &mut Vec<u8>) -> Result<(), NoKey> {
    let start = out.len();
    let mut tasks = vec![Task::Term(t, false)];
    let mut rope = Rope::new();
    // The part being written is the last.
    let mut parts: Vec<Part> = vec![rope.root()];
    // The keys made so far of each map being made, innermost last.
    let mut keys: Vec<Vec<Part>> = Vec::new();
    let mut result = Ok(());
    while let Some(task) = tasks.pop() {
        let part = *parts.last().expect("a part");
        let at = out.len();
        let step = match task {
            Task::Term(t, exact) => put_one(env, t, exact, out, &mut tasks, &mut keys),
            Task::Cell(head, exact) => {
                out.push(CONS);
                put_one(env, head, exact, out, &mut tasks, &mut keys)
            }
            Task::Nil => {
                out.push(NIL);
                Ok(())
            }
            Task::BeginKey => {
                parts.push(rope.part());
                Ok(())
            }
            Task::EndKey => {
                let key = parts.pop().expect("a key's part");
                keys.last_mut().expect("a map's keys").push(key);
                Ok(())
            }
            Task::MapValues(values, exact) => {
                let made = keys.pop().expect("a map's keys");
                let mut pairs: Vec<(Part, ErlNifTerm)> = made.into_iter().zip(values).collect();
                pairs.sort_by(|a, b| rope.cmp(&out[start..], a.0, b.0));
                out.push(MAP);
                put_count(out, pairs.len());
                rope.append_bytes(part, at - start, out.len() - start);
                for &(key, _) in &pairs {
                    rope.append_part(part, key);
                }
                tasks.extend(pairs.iter().rev().map(|&(_, v)| Task::Term(v, exact)));
                continue;
            }
        };
        rope.append_bytes(part, at - start, out.len() - start);
        if let Err(e) = step {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() && !rope.is_arena(out.len() - start) {
        let ordered = rope.flatten(&out[start..]);
        out.truncate(start);
        out.extend_from_slice(&ordered);
    }
    result
}

/// Writes the sort key of `t` as far as it goes without its elements, and
/// queues the steps for those.
unsafe fn put_one(
    env: *mut ErlNifEnv,
    t: ErlNifTerm,
    exact: bool,
    out: &mut Vec<u8>,
    tasks: &mut Vec<Task>,
    keys: &mut Vec<Vec<Part>>,
) -> Result<(), NoKey> {
    use ErlNifTermType::*;
    crate::work::spend(1)?;
    match enif_term_type(env, t) {
        ERL_NIF_TERM_TYPE_INTEGER => {
            out.push(NUMBER);
            if exact {
                out.push(EXACT_INTEGER);
            }
            let mut i = 0i64;
            if enif_get_int64(env, t, &mut i) != 0 {
                order::put_i64(out, i);
            } else {
                put_bignum(&external(env, t)?, out)?;
            }
        }
        ERL_NIF_TERM_TYPE_FLOAT => {
            out.push(NUMBER);
            if exact {
                out.push(EXACT_FLOAT);
            }
            let mut f = 0.0f64;
            enif_get_double(env, t, &mut f);
            order::put_f64(out, f);
        }
        ERL_NIF_TERM_TYPE_ATOM => {
            out.push(ATOM);
            let text = atom_text(env, t)?;
            put_bits(out, &text, text.len() * 8);
        }
        ERL_NIF_TERM_TYPE_TUPLE => {
            let mut arity: c_int = 0;
            let mut elems: *const ErlNifTerm = std::ptr::null();
            enif_get_tuple(env, t, &mut arity, &mut elems);
            let elems = std::slice::from_raw_parts(elems, arity as usize);
            out.push(TUPLE);
            put_count(out, elems.len());
            tasks.extend(elems.iter().rev().map(|&e| Task::Term(e, exact)));
        }
        ERL_NIF_TERM_TYPE_LIST => {
            let (mut head, mut tail) = (super::from_raw(0), super::from_raw(0));
            let mut heads = Vec::new();
            let mut cur = t;
            while enif_get_list_cell(env, cur, &mut head, &mut tail) != 0 {
                heads.push(head);
                cur = tail;
            }
            crate::work::spend(heads.len())?;
            if enif_is_empty_list(env, cur) != 0 {
                tasks.push(Task::Nil);
            } else {
                tasks.push(Task::Term(cur, exact)); // improper tail
            }
            tasks.extend(heads.iter().rev().map(|&h| Task::Cell(h, exact)));
        }
        ERL_NIF_TERM_TYPE_MAP => {
            // Maps compare by size, then keys (in exact order, integers
            // before floats) and then values in key order.
            let pairs = map_pairs(env, t)?;
            crate::work::spend(2 * pairs.len())?;
            let values = pairs.iter().map(|&(_, v)| v).collect();
            tasks.push(Task::MapValues(values, exact));
            keys.push(Vec::with_capacity(pairs.len()));
            for &(k, _) in pairs.iter().rev() {
                tasks.push(Task::EndKey);
                tasks.push(Task::Term(k, true));
                tasks.push(Task::BeginKey);
            }
        }
        ERL_NIF_TERM_TYPE_BITSTRING => {
            out.push(BITSTRING);
            let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
            if enif_inspect_binary(env, t, bin.as_mut_ptr()) != 0 {
                let bin = bin.assume_init();
                crate::work::spend_bytes(bin.size)?;
                put_bits(
                    out,
                    std::slice::from_raw_parts(bin.data, bin.size),
                    bin.size * 8,
                );
            } else {
                put_bitstring(&external(env, t)?, out)?;
            }
        }
        ERL_NIF_TERM_TYPE_REFERENCE => {
            out.push(REFERENCE);
            put_reference(&external(env, t)?, out)?;
        }
        ERL_NIF_TERM_TYPE_PID => {
            out.push(PID);
            put_pid(&external(env, t)?, out)?;
        }
        ERL_NIF_TERM_TYPE_PORT => {
            out.push(PORT);
            put_port(&external(env, t)?, out)?;
        }
        _ => {
            out.push(FUN);
            let free = put_fun(env, &external(env, t)?, out)?;
            tasks.extend(free.iter().rev().map(|&v| Task::Term(v, exact)));
        }
    }
    Ok(())
}

/// A map's keys and values, in the VM's iteration order.
unsafe fn map_pairs(
    env: *mut ErlNifEnv,
    t: ErlNifTerm,
) -> Result<Vec<(ErlNifTerm, ErlNifTerm)>, NoKey> {
    let mut size = 0;
    enif_get_map_size(env, t, &mut size);
    let mut pairs = Vec::with_capacity(size);
    let mut it = MaybeUninit::<ErlNifMapIterator>::uninit();
    if enif_map_iterator_create(
        env,
        t,
        it.as_mut_ptr(),
        ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
    ) == 0
    {
        return Err(NoKey::Unencodable);
    }
    let (mut k, mut v) = (super::from_raw(0), super::from_raw(0));
    while enif_map_iterator_get_pair(env, it.as_mut_ptr(), &mut k, &mut v) != 0 {
        pairs.push((k, v));
        enif_map_iterator_next(env, it.as_mut_ptr());
    }
    enif_map_iterator_destroy(env, it.as_mut_ptr());
    Ok(pairs)
}

/// An atom's text as UTF-8 (the VM compares atoms by their UTF-8 bytes).
unsafe fn atom_text(env: *mut ErlNifEnv, t: ErlNifTerm) -> Result<Vec<u8>, NoKey> {
    let mut len: c_uint = 0;
    if enif_get_atom_length(env, t, &mut len, ErlNifCharEncoding::ERL_NIF_LATIN1) != 0 {
        let mut buf = vec![0u8; len as usize + 1];
        enif_get_atom(
            env,
            t,
            buf.as_mut_ptr() as *mut c_char,
            len + 1,
            ErlNifCharEncoding::ERL_NIF_LATIN1,
        );
        buf.truncate(len as usize);
        if buf.is_ascii() {
            return Ok(buf);
        }
        let text: String = buf.iter().map(|&b| b as char).collect();
        return Ok(text.into_bytes());
    }
    // Characters beyond Latin-1: the external format has the UTF-8 text.
    let ext = external(env, t)?;
    let mut p = 1;
    read_atom(&ext, &mut p).map(|s| s.to_vec())
}

/// `term_to_binary(t)`.
unsafe fn external(env: *mut ErlNifEnv, t: ErlNifTerm) -> Result<Vec<u8>, NoKey> {
    let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
    if enif_term_to_binary(env, t, bin.as_mut_ptr()) == 0 {
        return Err(NoKey::Unencodable);
    }
    let mut bin = bin.assume_init();
    let v = std::slice::from_raw_parts(bin.data, bin.size).to_vec();
    enif_release_binary(&mut bin);
    crate::work::spend_bytes(v.len())?;
    Ok(v)
}

// External term format tags.
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;
const BIT_BINARY_EXT: u8 = 77;
const NEWER_REFERENCE_EXT: u8 = 90;
const NEW_PID_EXT: u8 = 88;
const NEW_PORT_EXT: u8 = 89;
const V4_PORT_EXT: u8 = 120;
const NEW_FUN_EXT: u8 = 112;
const EXPORT_EXT: u8 = 113;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;

fn take<'a>(b: &'a [u8], p: &mut usize, n: usize) -> Result<&'a [u8], NoKey> {
    let s = b.get(*p..*p + n).ok_or(NoKey::Unencodable)?;
    *p += n;
    Ok(s)
}

/// A fun as the VM compares two funs (erts_cmp in utils.c); see the
/// module doc. Returns the free variables, whose sort keys come next.
unsafe fn put_fun(
    env: *mut ErlNifEnv,
    ext: &[u8],
    out: &mut Vec<u8>,
) -> Result<Vec<ErlNifTerm>, NoKey> {
    let mut p = 1;
    match take(ext, &mut p, 1)?[0] {
        NEW_FUN_EXT => {
            out.push(0);
            take(ext, &mut p, 4 + 1 + 16)?; // size, arity, md5
            let index = read_u32(ext, &mut p)?;
            let num_free = read_u32(ext, &mut p)? as usize;
            put_node(ext, &mut p, out)?; // the module, as an atom's text
            read_int(ext, &mut p)?; // old index
            let old_uniq = read_int(ext, &mut p)?;
            put_count(out, index as usize);
            order::put_i64(out, old_uniq);
            put_count(out, num_free);
            // The creator's pid, then the free variables.
            let mut terms = ext_terms(env, &ext[p..], 1 + num_free)?;
            terms.remove(0);
            Ok(terms)
        }
        EXPORT_EXT => {
            out.push(1);
            put_node(ext, &mut p, out)?; // module
            put_node(ext, &mut p, out)?; // function
            put_count(out, read_int(ext, &mut p)? as usize);
            Ok(Vec::new())
        }
        _ => Err(NoKey::Unencodable),
    }
}

/// An integer in the external format (SMALL_INTEGER_EXT or INTEGER_EXT).
fn read_int(b: &[u8], p: &mut usize) -> Result<i64, NoKey> {
    match take(b, p, 1)?[0] {
        SMALL_INTEGER_EXT => Ok(i64::from(take(b, p, 1)?[0])),
        INTEGER_EXT => Ok(i64::from(read_u32(b, p)? as i32)),
        _ => Err(NoKey::Unencodable),
    }
}

/// The first `n` terms written one after another in `bytes` (external
/// format without the version byte), as terms of `env`.
unsafe fn ext_terms(env: *mut ErlNifEnv, bytes: &[u8], n: usize) -> Result<Vec<ErlNifTerm>, NoKey> {
    let mut terms = Vec::with_capacity(n);
    let mut p = 0;
    let mut buf = Vec::with_capacity(bytes.len() + 1);
    for _ in 0..n {
        buf.clear();
        buf.push(131);
        buf.extend_from_slice(bytes.get(p..).ok_or(NoKey::Unencodable)?);
        let mut t = super::from_raw(0);
        let used = enif_binary_to_term(env, buf.as_ptr(), buf.len(), &mut t, 0);
        if used == 0 {
            return Err(NoKey::Unencodable);
        }
        p += used - 1;
        terms.push(t);
    }
    Ok(terms)
}

fn read_u32(b: &[u8], p: &mut usize) -> Result<u32, NoKey> {
    Ok(u32::from_be_bytes(take(b, p, 4)?.try_into().unwrap()))
}

/// The text of the atom at `*p` (any of the four atom encodings).
fn read_atom<'a>(b: &'a [u8], p: &mut usize) -> Result<&'a [u8], NoKey> {
    let tag = *take(b, p, 1)?.first().ok_or(NoKey::Unencodable)?;
    let len = match tag {
        100 | 118 => u16::from_be_bytes(take(b, p, 2)?.try_into().unwrap()) as usize,
        115 | 119 => take(b, p, 1)?[0] as usize,
        _ => return Err(NoKey::Unencodable),
    };
    take(b, p, len)
}

/// The node's name: nodes are ordered by name, then creation (which the
/// callers append, as it comes later in the format).
fn put_node(b: &[u8], p: &mut usize, out: &mut Vec<u8>) -> Result<(), NoKey> {
    let name = read_atom(b, p)?;
    put_bits(out, name, name.len() * 8);
    Ok(())
}

fn put_bignum(ext: &[u8], out: &mut Vec<u8>) -> Result<(), NoKey> {
    let mut p = 1;
    let n = match *take(ext, &mut p, 1)?.first().ok_or(NoKey::Unencodable)? {
        SMALL_BIG_EXT => take(ext, &mut p, 1)?[0] as usize,
        LARGE_BIG_EXT => read_u32(ext, &mut p)? as usize,
        _ => return Err(NoKey::Unencodable),
    };
    let negative = take(ext, &mut p, 1)?[0] != 0;
    let mut magnitude = take(ext, &mut p, n)?.to_vec(); // little-endian digits
    magnitude.reverse();
    order::put_number(out, negative, &magnitude, 0);
    Ok(())
}

fn put_bitstring(ext: &[u8], out: &mut Vec<u8>) -> Result<(), NoKey> {
    let mut p = 1;
    if take(ext, &mut p, 1)?[0] != BIT_BINARY_EXT {
        return Err(NoKey::Unencodable);
    }
    let len = read_u32(ext, &mut p)? as usize;
    let last_bits = take(ext, &mut p, 1)?[0] as usize;
    let data = take(ext, &mut p, len)?;
    put_bits(out, data, len.saturating_sub(1) * 8 + last_bits);
    Ok(())
}

fn put_reference(ext: &[u8], out: &mut Vec<u8>) -> Result<(), NoKey> {
    let mut p = 1;
    if take(ext, &mut p, 1)?[0] != NEWER_REFERENCE_EXT {
        return Err(NoKey::Unencodable);
    }
    let words = u16::from_be_bytes(take(ext, &mut p, 2)?.try_into().unwrap()) as usize;
    put_node(ext, &mut p, out)?;
    out.extend_from_slice(take(ext, &mut p, 4)?); // creation
    let mut ids = (0..words)
        .map(|_| read_u32(ext, &mut p))
        .collect::<Result<Vec<_>, _>>()?;
    // Compared as one number, most significant word last in the format.
    while ids.len() > 1 && ids.last() == Some(&0) {
        ids.pop();
    }
    put_count(out, ids.len());
    for w in ids.iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    Ok(())
}

fn put_pid(ext: &[u8], out: &mut Vec<u8>) -> Result<(), NoKey> {
    let mut p = 1;
    if take(ext, &mut p, 1)?[0] != NEW_PID_EXT {
        return Err(NoKey::Unencodable);
    }
    put_node(ext, &mut p, out)?;
    let number = take(ext, &mut p, 4)?.to_vec();
    let serial = take(ext, &mut p, 4)?.to_vec();
    let creation = take(ext, &mut p, 4)?;
    out.extend_from_slice(creation);
    out.extend_from_slice(&serial);
    out.extend_from_slice(&number);
    Ok(())
}

fn put_port(ext: &[u8], out: &mut Vec<u8>) -> Result<(), NoKey> {
    let mut p = 1;
    let tag = take(ext, &mut p, 1)?[0];
    put_node(ext, &mut p, out)?;
    let id: u64 = match tag {
        NEW_PORT_EXT => read_u32(ext, &mut p)? as u64,
        V4_PORT_EXT => u64::from_be_bytes(take(ext, &mut p, 8)?.try_into().unwrap()),
        _ => return Err(NoKey::Unencodable),
    };
    let creation = take(ext, &mut p, 4)?;
    out.extend_from_slice(creation);
    out.extend_from_slice(&id.to_be_bytes());
    Ok(())
}
