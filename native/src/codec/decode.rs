//! Owned bytes -> Erlang term, built on the caller's heap.

use super::format::*;
use super::from_raw;
use super::shared_bin;
use rustler::sys::{
    enif_binary_to_term, enif_make_double, enif_make_list_cell, enif_make_map_from_arrays,
    enif_make_new_binary, enif_make_tuple_from_array, ErlNifEnv, ErlNifTerm,
};

/// Builds the term encoded at `*pos` in `env`, advancing `*pos` past it.
///
/// # Safety
/// `buf` must hold a valid encoding (as written by `Encoder`) whose shared
/// binaries are alive, and `env` must be a valid environment.
pub unsafe fn term(env: *mut ErlNifEnv, buf: &[u8], pos: &mut usize) -> ErlNifTerm {
    let tag = buf[*pos];
    *pos += 1;
    match tag {
        IMMEDIATE => from_raw(get_u64(buf, pos)),
        FLOAT => enif_make_double(env, f64::from_bits(get_u64(buf, pos))),
        TUPLE => {
            let n = get_varint(buf, pos);
            let mut small = [from_raw(0); 8];
            if n <= small.len() {
                for slot in small.iter_mut().take(n) {
                    *slot = term(env, buf, pos);
                }
                enif_make_tuple_from_array(env, small.as_ptr(), n as _)
            } else {
                let elems: Vec<ErlNifTerm> = (0..n).map(|_| term(env, buf, pos)).collect();
                enif_make_tuple_from_array(env, elems.as_ptr(), n as _)
            }
        }
        LIST => {
            let n = get_varint(buf, pos);
            let heads: Vec<ErlNifTerm> = (0..n).map(|_| term(env, buf, pos)).collect();
            let tail = term(env, buf, pos);
            heads
                .iter()
                .rev()
                .fold(tail, |acc, &h| enif_make_list_cell(env, h, acc))
        }
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
        MAP => {
            let n = get_varint(buf, pos);
            let mut keys = Vec::with_capacity(n);
            let mut vals = Vec::with_capacity(n);
            for _ in 0..n {
                keys.push(term(env, buf, pos));
                vals.push(term(env, buf, pos));
            }
            let mut t = from_raw(0);
            enif_make_map_from_arrays(env, keys.as_ptr(), vals.as_ptr(), n, &mut t);
            t
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
