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

/// Why a term was not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The external format cannot represent it (practically never).
    Unencodable,
    /// Encoding it would take this call over its budget (see `crate::work`).
    OverBudget,
}

impl From<crate::work::OverBudget> for EncodeError {
    fn from(_: crate::work::OverBudget) -> EncodeError {
        EncodeError::OverBudget
    }
}

/// An encoder's allocations, kept between calls by whoever reuses them.
#[derive(Default)]
pub struct Scratch {
    out: Vec<u8>,
    shared: Vec<(u64, usize)>,
    pending: Vec<ErlNifTerm>,
}

/// Writes terms into a buffer. `share` decides whether large binaries become
/// shared references (object values) or are copied inline (keys, which must
/// have a canonical encoding).
pub struct Encoder {
    env: *mut ErlNifEnv,
    pub out: Vec<u8>,
    /// Shared binaries created so far; owned by the encoder until `take_shared`.
    shared: Vec<(u64, usize)>,
    /// The terms still to write, the next one last (the walk's own stack).
    pending: Vec<ErlNifTerm>,
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
                pending: Vec::new(),
            },
        )
    }

    /// An encoder reusing both of `scratch`'s allocations.
    pub fn with_scratch(env: *mut ErlNifEnv, mut scratch: Scratch) -> Self {
        scratch.out.clear();
        scratch.shared.clear();
        scratch.pending.clear();
        Encoder {
            env,
            out: scratch.out,
            shared: scratch.shared,
            pending: scratch.pending,
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
            pending: std::mem::take(&mut self.pending),
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

    /// Appends `t`. Fails for terms that cannot be serialised at all, and
    /// when the call's work budget runs out (see `crate::work`).
    ///
    /// Never recursive, whatever the depth of `t`: the elements still to
    /// write wait on the encoder's own stack.
    pub fn term(&mut self, t: ErlNifTerm, share: bool) -> Result<(), EncodeError> {
        if is_immediate(t) {
            self.immediate(t);
            return Ok(());
        }
        let bottom = self.pending.len();
        self.pending.push(t);
        let result = self.drain(bottom, share);
        self.pending.truncate(bottom);
        result
    }

    #[inline]
    fn immediate(&mut self, t: ErlNifTerm) {
        self.out.push(IMMEDIATE);
        self.out.extend_from_slice(&to_raw(t).to_le_bytes());
    }

    /// Writes the pending terms above `bottom`.
    fn drain(&mut self, bottom: usize, share: bool) -> Result<(), EncodeError> {
        while self.pending.len() > bottom {
            let t = self.pending.pop().expect("a pending term");
            if is_immediate(t) {
                self.immediate(t);
                continue;
            }
            crate::work::spend(1)?;
            // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
            let ty = unsafe { enif_term_type(self.env, t) };
            match ty {
                ErlNifTermType::ERL_NIF_TERM_TYPE_TUPLE => {
                    let mut arity: c_int = 0;
                    let mut elems: *const ErlNifTerm = std::ptr::null();
                    // SAFETY: `t` is a tuple of `self.env`; on success `elems`
                    // points at its `arity` elements, alive for the call.
                    let elems = unsafe {
                        enif_get_tuple(self.env, t, &mut arity, &mut elems);
                        std::slice::from_raw_parts(elems, arity as usize)
                    };
                    crate::work::spend(elems.len())?;
                    self.out.push(TUPLE);
                    put_varint(&mut self.out, elems.len());
                    self.pending.extend(elems.iter().rev());
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_FLOAT => {
                    let mut f = 0.0f64;
                    // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                    unsafe { enif_get_double(self.env, t, &mut f) };
                    self.out.push(FLOAT);
                    self.out.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_LIST => self.list(t)?,
                ErlNifTermType::ERL_NIF_TERM_TYPE_BITSTRING => self.bitstring(t, share)?,
                ErlNifTermType::ERL_NIF_TERM_TYPE_MAP => self.map(t)?,
                _ => self.external(t)?,
            }
        }
        Ok(())
    }

    /// Writes a list's header and queues its heads, then its tail.
    fn list(&mut self, t: ErlNifTerm) -> Result<(), EncodeError> {
        let (mut head, mut tail) = (from_raw(0), from_raw(0));
        let start = self.pending.len();
        let mut cur = t;
        // SAFETY: `cur` is a valid list cell of `self.env` while the loop runs.
        while unsafe { enif_get_list_cell(self.env, cur, &mut head, &mut tail) } != 0 {
            self.pending.push(head);
            cur = tail;
        }
        let n = self.pending.len() - start;
        crate::work::spend(n)?;
        self.out.push(LIST);
        put_varint(&mut self.out, n);
        // The tail is written last, so it goes under the heads, which are
        // reversed to come off the stack first to last.
        self.pending.insert(start, cur);
        self.pending[start + 1..].reverse();
        Ok(())
    }

    fn bitstring(&mut self, t: ErlNifTerm, share: bool) -> Result<(), EncodeError> {
        let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
        // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
        if unsafe { enif_inspect_binary(self.env, t, bin.as_mut_ptr()) } == 0 {
            return self.external(t); // not a whole number of bytes
        }
        // SAFETY: inspected just above.
        let bin = unsafe { bin.assume_init() };
        // SAFETY: the binary's bytes, alive while `t` is (this NIF call).
        let data = unsafe { std::slice::from_raw_parts(bin.data, bin.size) };
        if share && data.len() > SHARE_THRESHOLD {
            let held = if data.len() >= shared_bin::HOLD_MIN {
                // SAFETY: `t` is a term of `self.env`, valid during this NIF call.
                unsafe { shared_bin::hold(t) }
            } else {
                None
            };
            let (base, offset) = match held {
                Some(held) => held,
                None => {
                    crate::work::spend_bytes(data.len())?;
                    shared_bin::alloc(data)
                }
            };
            self.shared.push((base as u64, data.len()));
            self.out.push(SHARED_BIN);
            self.out.extend_from_slice(&(base as u64).to_le_bytes());
            put_varint(&mut self.out, offset);
            put_varint(&mut self.out, data.len());
        } else {
            crate::work::spend_bytes(data.len())?;
            self.out.push(BINARY);
            put_varint(&mut self.out, data.len());
            self.out.extend_from_slice(data);
        }
        Ok(())
    }

    /// Writes a map's header and queues its keys and values, in the VM's
    /// iteration order.
    fn map(&mut self, t: ErlNifTerm) -> Result<(), EncodeError> {
        let mut size = 0;
        // SAFETY: `t` is a map of `self.env`.
        unsafe { enif_get_map_size(self.env, t, &mut size) };
        crate::work::spend(2 * size)?;
        let mut it = MaybeUninit::<ErlNifMapIterator>::uninit();
        // SAFETY: `t` is a map of `self.env`; the iterator is destroyed below.
        let ok = unsafe {
            enif_map_iterator_create(
                self.env,
                t,
                it.as_mut_ptr(),
                ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
            )
        };
        if ok == 0 {
            return Err(EncodeError::Unencodable);
        }
        self.out.push(MAP);
        put_varint(&mut self.out, size);
        let start = self.pending.len();
        let (mut k, mut v) = (from_raw(0), from_raw(0));
        // SAFETY: the iterator was created above and is destroyed below.
        unsafe {
            while enif_map_iterator_get_pair(self.env, it.as_mut_ptr(), &mut k, &mut v) != 0 {
                self.pending.push(k);
                self.pending.push(v);
                enif_map_iterator_next(self.env, it.as_mut_ptr());
            }
            enif_map_iterator_destroy(self.env, it.as_mut_ptr());
        }
        self.pending[start..].reverse();
        Ok(())
    }

    /// Anything without a layout of its own is kept in the external term format.
    fn external(&mut self, t: ErlNifTerm) -> Result<(), EncodeError> {
        let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
        // SAFETY: on success the binary is ours and released after the copy.
        unsafe {
            if enif_term_to_binary(self.env, t, bin.as_mut_ptr()) == 0 {
                return Err(EncodeError::Unencodable);
            }
            let mut bin = bin.assume_init();
            let data = std::slice::from_raw_parts(bin.data, bin.size);
            let spent = crate::work::spend_bytes(data.len());
            if spent.is_ok() {
                self.out.push(EXTERNAL);
                put_varint(&mut self.out, data.len());
                self.out.extend_from_slice(data);
            }
            enif_release_binary(&mut bin);
            spent?;
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
