//! Owned bytes -> Erlang term, built on the caller's heap.

use super::format::*;
use super::from_raw;
use super::shared_bin;
use rustler::sys::{
    enif_binary_to_term, enif_make_double, enif_make_list_cell, enif_make_map_from_arrays,
    enif_make_new_binary, enif_make_tuple_from_array, ErlNifEnv, ErlNifTerm,
};

/// A compound term whose elements are being built: `needs` of them, the
/// first at `from` on the value stack.
#[derive(Clone, Copy)]
struct Frame {
    tag: u8,
    needs: usize,
    from: usize,
}

/// Builds the term encoded at `*pos` in `env`, advancing `*pos` past it.
///
/// Never recursive, whatever the depth: the encoding is read in order,
/// leaves are made at once, and a compound term is made from the top of
/// the value stack once all its elements are there.
///
/// # Safety
/// `buf` must hold a valid encoding (as written by `Encoder`) whose shared
/// binaries are alive, and `env` must be a valid environment.
pub unsafe fn term(env: *mut ErlNifEnv, buf: &[u8], pos: &mut usize) -> ErlNifTerm {
    if let Some(t) = flat_tuple(env, buf, pos) {
        return t;
    }
    let mut values: Vec<ErlNifTerm> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        let at = *pos;
        let tag = buf[at];
        let compound = match tag {
            TUPLE | LIST | MAP => {
                *pos += 1;
                let n = get_varint(buf, pos);
                let needs = match tag {
                    TUPLE => n,
                    LIST => n + 1,
                    _ => 2 * n,
                };
                (needs > 0).then_some(Frame {
                    tag,
                    needs,
                    from: values.len(),
                })
            }
            _ => None,
        };
        match compound {
            Some(frame) => {
                frames.push(frame);
                continue;
            }
            None if matches!(tag, TUPLE | MAP) => {
                values.push(make(env, tag, &[])); // {} or #{}
            }
            None => values.push(leaf(env, buf, pos)),
        }
        // Complete every frame whose last element was just made.
        while let Some(&f) = frames.last() {
            if values.len() - f.from < f.needs {
                break;
            }
            frames.pop();
            let t = make(env, f.tag, &values[f.from..]);
            values.truncate(f.from);
            values.push(t);
        }
        if frames.is_empty() {
            return values.pop().expect("the decoded term");
        }
    }
}

/// The commonest object, a tuple of a few scalars, without the stacks;
/// `None` (reading nothing) for any other term.
#[inline]
unsafe fn flat_tuple(env: *mut ErlNifEnv, buf: &[u8], pos: &mut usize) -> Option<ErlNifTerm> {
    if buf[*pos] != TUPLE {
        return match buf[*pos] {
            LIST | MAP => None,
            _ => Some(leaf(env, buf, pos)),
        };
    }
    let mut p = *pos + 1;
    let n = get_varint(buf, &mut p);
    let mut small = [from_raw(0); 8];
    if n > small.len() {
        return None;
    }
    for slot in small.iter_mut().take(n) {
        if matches!(buf[p], TUPLE | LIST | MAP) {
            return None;
        }
        *slot = leaf(env, buf, &mut p);
    }
    *pos = p;
    Some(enif_make_tuple_from_array(env, small.as_ptr(), n as _))
}

/// Makes a compound term of `tag` from its elements.
unsafe fn make(env: *mut ErlNifEnv, tag: u8, elems: &[ErlNifTerm]) -> ErlNifTerm {
    match tag {
        TUPLE => enif_make_tuple_from_array(env, elems.as_ptr(), elems.len() as _),
        LIST => {
            let (tail, heads) = elems.split_last().expect("a list has a tail");
            heads
                .iter()
                .rev()
                .fold(*tail, |acc, &h| enif_make_list_cell(env, h, acc))
        }
        _ => {
            let n = elems.len() / 2;
            let mut t = from_raw(0);
            if n <= 8 {
                let (mut keys, mut vals) = ([from_raw(0); 8], [from_raw(0); 8]);
                for (i, kv) in elems.chunks_exact(2).enumerate() {
                    (keys[i], vals[i]) = (kv[0], kv[1]);
                }
                enif_make_map_from_arrays(env, keys.as_ptr(), vals.as_ptr(), n, &mut t);
            } else {
                let keys: Vec<ErlNifTerm> = elems.iter().step_by(2).copied().collect();
                let vals: Vec<ErlNifTerm> = elems.iter().skip(1).step_by(2).copied().collect();
                enif_make_map_from_arrays(env, keys.as_ptr(), vals.as_ptr(), n, &mut t);
            }
            t
        }
    }
}

/// Makes the scalar encoded at `*pos` (anything but a tuple, list or map),
/// advancing `*pos` past it.
unsafe fn leaf(env: *mut ErlNifEnv, buf: &[u8], pos: &mut usize) -> ErlNifTerm {
    let tag = buf[*pos];
    *pos += 1;
    match tag {
        IMMEDIATE => from_raw(get_u64(buf, pos)),
        FLOAT => enif_make_double(env, f64::from_bits(get_u64(buf, pos))),
        BINARY => {
            let n = get_varint(buf, pos);
            let mut t = from_raw(0);
            let dst = enif_make_new_binary(env, n, &mut t);
            std::ptr::copy_nonoverlapping(buf[*pos..].as_ptr(), dst, n);
            *pos += n;
            t
        }
        SHARED_BIN => {
            let base = get_u64(buf, pos) as *const std::ffi::c_void;
            let offset = get_varint(buf, pos);
            let len = get_varint(buf, pos);
            shared_bin::make_term(env, base, offset, len)
        }
        EXTERNAL => {
            let n = get_varint(buf, pos);
            let mut t = from_raw(0);
            enif_binary_to_term(env, buf[*pos..].as_ptr(), n, &mut t, 0);
            *pos += n;
            t
        }
        _ => unreachable!("corrupt term encoding: tag {tag}"),
    }
}

/// Builds the whole term held in `buf`.
///
/// # Safety
/// As for [`term`].
pub unsafe fn whole(env: *mut ErlNifEnv, buf: &[u8]) -> ErlNifTerm {
    let mut pos = 0;
    term(env, buf, &mut pos)
}
