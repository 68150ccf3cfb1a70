//! Decoding a table handle without rustler's per-call type lookup.
//!
//! rustler finds a resource's `ErlNifResourceType` in a SipHash map on every
//! decode, about 8% of a small insert, and keeps the pointer private. The
//! first table created reveals it instead: ERTS keeps the type pointer in the
//! resource header, two words before the data (`ErtsResource` in erl_nif.c).
//! That candidate is only trusted once `enif_get_resource` confirms it on
//! that very table; until then (or if it never is), decoding stays on
//! rustler's path.

use crate::table::Table;
use rustler::sys::{enif_get_resource, ErlNifResourceType};
use rustler::{Encoder as _, Env, ResourceArc, Term};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

static TABLE_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());
/// Bytes from the resource's data to the `Table` in it (rustler aligns it).
static TABLE_OFFSET: AtomicUsize = AtomicUsize::new(0);

/// Learns the table resource type from a freshly made table, once.
pub fn learn(env: Env<'_>, table: &ResourceArc<Table>) {
    if !TABLE_TYPE.load(Ordering::Acquire).is_null() {
        return;
    }
    let data = table.as_c_arg();
    // SAFETY: `data` is the data of a live resource, which ERTS allocates
    // after a header of at least two pointer-sized words, so the read stays
    // inside that allocation; the value is only a candidate, checked below.
    let candidate = unsafe { *(data as *const *mut ErlNifResourceType).sub(2) };
    let term = table.encode(env);
    let mut found = std::ptr::null();
    // SAFETY: `term` is a live term of `env`; `enif_get_resource` only
    // compares `candidate` with the resource's type, never dereferences it.
    let confirmed =
        unsafe { enif_get_resource(env.as_c_arg(), term.as_c_arg(), candidate, &mut found) } != 0
            && std::ptr::eq(found, data);
    if confirmed {
        let offset = &**table as *const Table as usize - data as usize;
        TABLE_OFFSET.store(offset, Ordering::Relaxed);
        TABLE_TYPE.store(candidate, Ordering::Release);
    }
}

/// The table a resource term holds, borrowed for the call.
#[inline]
pub fn decode<'a>(term: Term<'a>) -> Option<&'a Table> {
    let ty = TABLE_TYPE.load(Ordering::Acquire);
    if ty.is_null() {
        return term.decode::<&'a Table>().ok();
    }
    let mut data = std::ptr::null();
    // SAFETY: `term` is a live term of its environment and `ty` the
    // confirmed type of tables.
    let ok =
        unsafe { enif_get_resource(term.get_env().as_c_arg(), term.as_c_arg(), ty, &mut data) };
    if ok == 0 {
        return None;
    }
    let offset = TABLE_OFFSET.load(Ordering::Relaxed);
    // SAFETY: `data` is the data of a table resource, which holds its
    // `Table` at `offset` (measured on the first table, the same for all);
    // the term keeps the resource alive while the call borrows it.
    Some(unsafe { &*((data as *const u8).add(offset) as *const Table) })
}
