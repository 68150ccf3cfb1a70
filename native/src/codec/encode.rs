//! Erlang term -> owned bytes (see `format` for the layout).

use super::flat::Flat;
use super::format::*;
use super::shared_bin;
use super::{from_raw, to_raw};
use rustler::sys::{
    c_int, enif_get_double, enif_get_list_cell, enif_get_map_size, enif_get_tuple,
    enif_inspect_binary, enif_map_iterator_create, enif_map_iterator_destroy,
    enif_map_iterator_get_pair, enif_map_iterator_next, enif_release_binary, enif_term_to_binary,
    enif_term_type, ErlNifBinary, ErlNifEnv, ErlNifMapIterator, ErlNifMapIteratorEntry, ErlNifTerm,
    ErlNifTermType,
};
use std::mem::MaybeUninit;

/// An immediate term (small integer, atom, local pid or port, `[]`):
/// self-contained, so its raw word is what is stored.
#[inline]
pub fn is_immediate(t: ErlNifTerm) -> bool {
    is_immediate_word(to_raw(t))
}

/// A term the external format cannot represent (practically never).
#[derive(Debug)]
pub struct Unencodable;

/// An encoder's allocations, kept between calls by whoever reuses them.
#[derive(Default)]
pub struct Scratch {
    out: Vec<u8>,
    shared: Vec<(u64, usize)>,
}

/// Writes terms into a buffer. `share` decides whether large binaries become
/// shared references (object values) or are copied inline (keys, which must
/// have a canonical encoding).
pub struct Encoder {
    env: *mut ErlNifEnv,
    pub out: Vec<u8>,
    /// Shared binaries created so far; owned by the encoder until `take_shared`.
    shared: Vec<(u64, usize)>,
}

impl Encoder {
    /// An encoder writing into `buf` (cleared first), so callers can reuse one
    /// allocation across calls.
    pub fn with_buffer(env: *mut ErlNifEnv, buf: Vec<u8>) -> Self {
        Self::with_scratch(
            env,
            Scratch {
                out: buf,
                shared: Vec::new(),
            },
        )
    }

    /// An encoder reusing both of `scratch`'s allocations.
    pub fn with_scratch(env: *mut ErlNifEnv, mut scratch: Scratch) -> Self {
        scratch.out.clear();
        scratch.shared.clear();
        Encoder {
            env,
            out: scratch.out,
            shared: scratch.shared,
        }
    }

    /// Gives the buffer back (releasing shared binaries no object took).
    pub fn into_buffer(self) -> Vec<u8> {
        self.into_scratch().out
    }

    /// Gives both allocations back (releasing shared binaries no object took).
    pub fn into_scratch(mut self) -> Scratch {
        self.release_shared();
        Scratch {
            out: std::mem::take(&mut self.out),
            shared: std::mem::take(&mut self.shared),
        }
    }

    pub fn has_shared(&self) -> bool {
        !self.shared.is_empty()
    }

    /// Hands the references of the shared binaries written so far to the caller
    /// (they now belong to the object built from `out`).
    pub fn take_shared(&mut self) {
        self.shared.clear();
    }

    #[inline]
    fn release_shared(&mut self) {
        if !self.shared.is_empty() {
            self.release_shared_now();
        }
    }

    #[inline(never)]
    fn release_shared_now(&mut self) {
        for (base, len) in self.shared.drain(..) {
            // SAFETY: each binary came from `shared_bin::alloc` or `hold`,
            // and its reference is still ours (not yet taken by an object).
            unsafe { shared_bin::release(base, len) }
        }
    }

    /// Appends `t`. Fails only for terms that cannot be serialised at all.
    pub fn term(&mut self, t: ErlNifTerm, share: bool) -> Result<(), Unencodable> {
        if is_immediate(t) {
            self.out.push(IMMEDIATE);
            self.out.extend_from_slice(&to_raw(t).to_le_bytes());
            return Ok(());
        }
        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
        let ty = unsafe { enif_term_type(self.env, t) };
        match ty {
            // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
            ErlNifTermType::ERL_NIF_TERM_TYPE_TUPLE => unsafe {
                let mut arity: c_int = 0;
                let mut elems: *const ErlNifTerm = std::ptr::null();
                enif_get_tuple(self.env, t, &mut arity, &mut elems);
                self.out.push(TUPLE);
                put_varint(&mut self.out, arity as usize);
                for i in 0..arity as usize {
                    self.term(*elems.add(i), share)?;
                }
                Ok(())
            },
            ErlNifTermType::ERL_NIF_TERM_TYPE_FLOAT => {
                let mut f = 0.0f64;
                // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                unsafe { enif_get_double(self.env, t, &mut f) };
                self.out.push(FLOAT);
                self.out.extend_from_slice(&f.to_bits().to_le_bytes());
                Ok(())
            }
            ErlNifTermType::ERL_NIF_TERM_TYPE_LIST => self.list(t, share),
            ErlNifTermType::ERL_NIF_TERM_TYPE_BITSTRING => {
                let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
                // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                if unsafe { enif_inspect_binary(self.env, t, bin.as_mut_ptr()) } == 0 {
                    return self.external(t); // not a whole number of bytes
                }
                // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                let bin = unsafe { bin.assume_init() };
                // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                let data = unsafe { std::slice::from_raw_parts(bin.data, bin.size) };
                if share && data.len() > SHARE_THRESHOLD {
                    let held = if data.len() >= shared_bin::HOLD_MIN {
                        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                        unsafe { shared_bin::hold(t) }
                    } else {
                        None
                    };
                    let (base, offset) = held.unwrap_or_else(|| shared_bin::alloc(data));
                    self.shared.push((base as u64, data.len()));
                    self.out.push(SHARED_BIN);
                    self.out.extend_from_slice(&(base as u64).to_le_bytes());
                    put_varint(&mut self.out, offset);
                    put_varint(&mut self.out, data.len());
                } else {
                    self.out.push(BINARY);
                    put_varint(&mut self.out, data.len());
                    self.out.extend_from_slice(data);
                }
                Ok(())
            }
            ErlNifTermType::ERL_NIF_TERM_TYPE_MAP => self.map(t, share),
            _ => self.external(t),
        }
    }

    fn list(&mut self, t: ErlNifTerm, share: bool) -> Result<(), Unencodable> {
        let (mut head, mut tail) = (from_raw(0), from_raw(0));
        let mut n = 0usize;
        let mut cur = t;
        // SAFETY: `cur` is a valid list cell of `self.env` while the loop runs.
        while unsafe { enif_get_list_cell(self.env, cur, &mut head, &mut tail) } != 0 {
            n += 1;
            cur = tail;
        }
        self.out.push(LIST);
        put_varint(&mut self.out, n);
        cur = t;
        for _ in 0..n {
            // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
            unsafe { enif_get_list_cell(self.env, cur, &mut head, &mut tail) };
            self.term(head, share)?;
            cur = tail;
        }
        self.term(cur, share)
    }

    fn map(&mut self, t: ErlNifTerm, share: bool) -> Result<(), Unencodable> {
        let mut size = 0;
        // SAFETY: `t` is a map of `self.env`; the iterator is destroyed below.
        unsafe { enif_get_map_size(self.env, t, &mut size) };
        self.out.push(MAP);
        put_varint(&mut self.out, size);
        let mut it = MaybeUninit::<ErlNifMapIterator>::uninit();
        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
        let ok = unsafe {
            enif_map_iterator_create(
                self.env,
                t,
                it.as_mut_ptr(),
                ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
            )
        };
        if ok == 0 {
            return Err(Unencodable);
        }
        let mut result = Ok(());
        let (mut k, mut v) = (from_raw(0), from_raw(0));
        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
        while unsafe { enif_map_iterator_get_pair(self.env, it.as_mut_ptr(), &mut k, &mut v) } != 0
        {
            if self.term(k, share).and(self.term(v, share)).is_err() {
                result = Err(Unencodable);
                break;
            }
            // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
            unsafe { enif_map_iterator_next(self.env, it.as_mut_ptr()) };
        }
        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
        unsafe { enif_map_iterator_destroy(self.env, it.as_mut_ptr()) };
        result
    }

    /// Anything without a layout of its own is kept in the external term format.
    fn external(&mut self, t: ErlNifTerm) -> Result<(), Unencodable> {
        let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
        // SAFETY: on success the binary is ours and released after the copy.
        unsafe {
            if enif_term_to_binary(self.env, t, bin.as_mut_ptr()) == 0 {
                return Err(Unencodable);
            }
            let mut bin = bin.assume_init();
            let data = std::slice::from_raw_parts(bin.data, bin.size);
            self.out.push(EXTERNAL);
            put_varint(&mut self.out, data.len());
            self.out.extend_from_slice(data);
            enif_release_binary(&mut bin);
        }
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.release_shared();
    }
}

/// The `Flat` encoding of a tuple with elements `elems`, if they are all
/// immediates.
#[inline]
pub fn flat_tuple(elems: &[ErlNifTerm]) -> Option<Flat> {
    Flat::of_words(elems.iter().map(|&e| to_raw(e)))
}
