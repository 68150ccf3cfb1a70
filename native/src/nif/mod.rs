//! NIF entry points and what they share: resolving a table argument, access
//! checks, errors carrying an ETS `error_info` cause, and encoding of the
//! caller's keys and objects.

pub mod integer;
pub mod kv;
pub mod lifecycle;
pub mod select;
pub mod update;

use crate::codec::encode::{is_immediate, Encoder};
use crate::codec::format::{self, IMMEDIATE, TUPLE};
use crate::codec::{decode, Obj};
use crate::table::partition::hash_key;
use crate::table::{registry, Protection, Table};
use rustler::sys::{enif_get_tuple, enif_make_list_cell, ErlNifTerm};
use rustler::{Encoder as _, Env, ResourceArc, Term};
use std::cell::RefCell;
use std::ops::Deref;

pub mod atoms {
    rustler::atoms! {
        badarg, id, access, badkey, keypos, position, owner, type_ = "type",
        already_exists, not_owner, none, undefined, true_ = "true", false_ = "false",
        set, public, protected, private,
        dirty = "$shards_dirty", ets_transfer = "ETS-TRANSFER",
    }
}

/// Why a call fails. Every variant surfaces as `error:badarg` on the Erlang
/// side (with the ETS `error_info` cause), except `Keyslot`, which asks the
/// Erlang side to call again with partitions chosen by the table's keyslot fun.
#[derive(Debug)]
pub enum Fail {
    BadArg,
    Cause(rustler::Atom),
    Keyslot,
}

pub type Res<T> = Result<T, Fail>;

impl From<rustler::Error> for Fail {
    fn from(_: rustler::Error) -> Fail {
        Fail::BadArg
    }
}

pub fn cause(a: rustler::Atom) -> Fail {
    Fail::Cause(a)
}

/// Turns a `Fail` into the exception the Erlang wrapper expects:
/// `badarg`, `{badarg, Cause}` or `shards_keyslot`.
pub fn raise(f: Fail) -> rustler::Error {
    match f {
        Fail::BadArg => rustler::Error::BadArg,
        Fail::Cause(c) => rustler::Error::RaiseTerm(Box::new((atoms::badarg(), c))),
        Fail::Keyslot => rustler::Error::RaiseAtom("shards_keyslot"),
    }
}

/// Runs a NIF body, mapping its failure to the exception.
pub fn run<'a>(f: impl FnOnce() -> Res<Term<'a>>) -> rustler::NifResult<Term<'a>> {
    f().map_err(raise)
}

/// A resolved table argument: a resource term borrowed for the call, or a
/// named table found in the registry.
pub enum Tab<'a> {
    Borrowed(&'a Table),
    Named(ResourceArc<Table>),
}

impl Deref for Tab<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        match self {
            Tab::Borrowed(t) => t,
            Tab::Named(t) => t,
        }
    }
}

/// Resolves a table id or name, failing with ETS's causes: `type` for a term
/// that cannot name a table, `id` for a table that does not exist (any more).
pub fn resolve<'a>(term: Term<'a>) -> Res<Tab<'a>> {
    let tab = if term.is_atom() {
        Tab::Named(
            registry::by_name(crate::codec::to_raw(term.as_c_arg())).ok_or(cause(atoms::id()))?,
        )
    } else {
        match term.decode::<&'a Table>() {
            Ok(t) => Tab::Borrowed(t),
            Err(_) => return Err(cause(atoms::type_())),
        }
    };
    if tab.is_deleted() {
        return Err(cause(atoms::id()));
    }
    Ok(tab)
}

/// The table id term: the name for a named table, else the resource.
pub fn tab_term<'a>(env: Env<'a>, table: &Table) -> Term<'a> {
    let state = table.state.lock();
    if state.named {
        // SAFETY: atoms are immediates, valid in every environment.
        return unsafe { Term::new(env, crate::codec::from_raw(state.name)) };
    }
    drop(state);
    match registry::by_id(table.id) {
        Some(arc) => arc.encode(env),
        None => atoms::undefined().encode(env),
    }
}

pub fn self_pid(env: Env<'_>) -> u64 {
    crate::codec::to_raw(env.pid().encode(env).as_c_arg())
}

#[derive(Clone, Copy)]
pub enum Access {
    Read,
    Write,
}

/// ETS access rules: private tables belong to the owner alone; protected
/// tables may be read by anyone and written by the owner.
#[inline]
pub fn check_access(env: Env<'_>, table: &Table, access: Access) -> Res<()> {
    let needs_owner = !matches!(
        (table.protection(), access),
        (Protection::Public, _) | (Protection::Protected, Access::Read)
    );
    if needs_owner && self_pid(env) != table.owner() {
        return Err(cause(atoms::access()));
    }
    Ok(())
}

/// Resolves and checks a table in one step; also refuses automatic routing
/// on tables whose partitions are chosen by a keyslot fun.
pub fn open<'a>(env: Env<'a>, term: Term<'a>, access: Access, route: &Route) -> Res<Tab<'a>> {
    let tab = resolve(term)?;
    check_access(env, &tab, access)?;
    if tab.has_keyslot_fun && matches!(route, Route::Hash) {
        return Err(Fail::Keyslot);
    }
    Ok(tab)
}

/// Which partition a key goes to: by hash, or as the keyslot fun decided on
/// the Erlang side (one slot per key, in argument order).
pub enum Route {
    Hash,
    Slots(Vec<usize>),
}

impl Route {
    /// The lock index for the `n`th key, of hash `hash`.
    pub fn slot(&self, table: &Table, n: usize, hash: u64) -> Res<usize> {
        let partition = match self {
            Route::Hash => table.partition_of(hash),
            Route::Slots(s) => s
                .get(n)
                .copied()
                .filter(|&p| p < table.partition_count())
                .ok_or(Fail::BadArg)?,
        };
        Ok(table.lock_of(partition, hash))
    }
}

thread_local! {
    /// Scratch buffer for encoding, reused across calls on a scheduler thread.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

pub fn with_encoder<R>(env: Env<'_>, f: impl FnOnce(&mut Encoder) -> R) -> R {
    let buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let mut enc = Encoder::with_buffer(env.as_c_arg(), buf);
    let r = f(&mut enc);
    let buf = enc.into_buffer();
    SCRATCH.with(|s| *s.borrow_mut() = buf);
    r
}

/// A key in canonical form (`-0.0` as `0.0`, binaries inline) and its hash.
pub struct Key {
    bytes: KeyBytes,
    pub hash: u64,
}

enum KeyBytes {
    Immediate([u8; 9]),
    Heap(Vec<u8>),
}

impl Key {
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            KeyBytes::Immediate(b) => b,
            KeyBytes::Heap(v) => v,
        }
    }
}

pub fn encode_key(env: Env<'_>, key: Term<'_>) -> Res<Key> {
    let raw = key.as_c_arg();
    let bytes = if is_immediate(raw) {
        let mut b = [0u8; 9];
        b[0] = IMMEDIATE;
        b[1..].copy_from_slice(&crate::codec::to_raw(raw).to_le_bytes());
        KeyBytes::Immediate(b)
    } else {
        let mut v = with_encoder(env, |enc| enc.term(raw, false).map(|_| enc.out.clone()))
            .map_err(|_| Fail::BadArg)?;
        format::normalise_neg_zero(&mut v);
        KeyBytes::Heap(v)
    };
    let mut k = Key { bytes, hash: 0 };
    k.hash = hash_key(k.bytes());
    Ok(k)
}

/// An object ready to store, with the hash of its key.
pub struct Encoded {
    pub obj: Obj,
    pub hash: u64,
}

/// Encodes a tuple for storage: the key inline (canonical), other large
/// binaries shared. Fails like ETS for non-tuples and tuples shorter than keypos.
pub fn encode_object(env: Env<'_>, term: Term<'_>, keypos: usize) -> Res<Encoded> {
    with_encoder(env, |enc| {
        let (hash, neg_zero) = encode_object_into(env, term, keypos, enc)?;
        let obj = Obj::new(&enc.out, enc.has_shared(), neg_zero);
        enc.take_shared();
        Ok(Encoded { obj, hash })
    })
}

/// Encodes an object into `enc` (see `encode_object`); returns the hash of
/// its canonical key and whether the key holds a `-0.0`.
pub fn encode_object_into(
    env: Env<'_>,
    term: Term<'_>,
    keypos: usize,
    enc: &mut Encoder,
) -> Res<(u64, bool)> {
    let mut arity = 0;
    let mut elems: *const ErlNifTerm = std::ptr::null();
    // SAFETY: `term` belongs to `env`; on success `elems` points at `arity` terms.
    if unsafe { enif_get_tuple(env.as_c_arg(), term.as_c_arg(), &mut arity, &mut elems) } == 0
        || (arity as usize) < keypos
    {
        return Err(Fail::BadArg);
    }
    {
        enc.out.clear();
        enc.out.push(TUPLE);
        format::put_varint(&mut enc.out, arity as usize);
        let mut key_range = (0, 0);
        for i in 0..arity as usize {
            let start = enc.out.len();
            // SAFETY: i < arity.
            let e = unsafe { *elems.add(i) };
            enc.term(e, i + 1 != keypos).map_err(|_| Fail::BadArg)?;
            if i + 1 == keypos {
                key_range = (start, enc.out.len());
            }
        }
        let key = &enc.out[key_range.0..key_range.1];
        let neg_zero = format::contains_neg_zero(key);
        let hash = if neg_zero {
            let mut k = key.to_vec();
            format::normalise_neg_zero(&mut k);
            hash_key(&k)
        } else {
            hash_key(key)
        };
        Ok((hash, neg_zero))
    }
}

/// Encodes an object or a list of objects (as `insert/2` takes them).
/// A single object needs no vector: inserts of one object are the hot path.
pub enum Objects {
    One(Encoded),
    Many(Vec<Encoded>),
}

impl Objects {
    pub fn into_vec(self) -> Vec<Encoded> {
        match self {
            Objects::One(o) => vec![o],
            Objects::Many(v) => v,
        }
    }
}

pub fn encode_objects(env: Env<'_>, term: Term<'_>, keypos: usize) -> Res<Objects> {
    if term.is_list() {
        let list = list_terms(term)?;
        let objs = list
            .into_iter()
            .map(|t| encode_object(env, t, keypos))
            .collect::<Res<Vec<_>>>()?;
        Ok(Objects::Many(objs))
    } else {
        Ok(Objects::One(encode_object(env, term, keypos)?))
    }
}

/// The elements of a proper list; badarg for an improper one (rustler's own
/// list decoder panics on those).
pub fn list_terms(term: Term<'_>) -> Res<Vec<Term<'_>>> {
    let mut out = Vec::new();
    let mut cur = term;
    while let Ok((head, tail)) = cur.list_get_cell() {
        out.push(head);
        cur = tail;
    }
    if !cur.is_empty_list() {
        return Err(Fail::BadArg);
    }
    Ok(out)
}

/// Builds a stored object on the caller's heap.
#[inline]
pub fn object_term<'a>(env: Env<'a>, obj: &Obj) -> Term<'a> {
    // SAFETY: `obj` is a valid encoding kept alive by the caller's lock.
    unsafe { Term::new(env, decode::whole(env.as_c_arg(), obj.bytes())) }
}

/// Prepends `head` to `tail`.
#[inline]
pub fn cons<'a>(env: Env<'a>, head: Term<'a>, tail: Term<'a>) -> Term<'a> {
    // SAFETY: both terms belong to `env`.
    unsafe {
        Term::new(
            env,
            enif_make_list_cell(env.as_c_arg(), head.as_c_arg(), tail.as_c_arg()),
        )
    }
}

pub fn nil(env: Env<'_>) -> Term<'_> {
    Term::list_new_empty(env)
}
