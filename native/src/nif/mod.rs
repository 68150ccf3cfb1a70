//! NIF entry points and what they share: resolving a table argument, access
//! checks, errors carrying an ETS `error_info` cause, and encoding of the
//! caller's keys and objects.

#[macro_use]
mod entry;

pub mod fixation;
pub mod integer;
pub mod kv;
pub mod lifecycle;
pub mod select;
mod spec_cache;
pub mod traverse;
pub mod update;

use crate::codec::encode::{is_immediate, EncodeError, Encoder, Scratch};
use crate::codec::format::{self, IMMEDIATE, TUPLE};
use crate::codec::sort_key::{self, NoKey};
use crate::codec::{decode, Obj};
use crate::resource::{Handle, Kept};
use crate::table::partition::hash_key;
use crate::table::{registry, Kind, Protection, Table};
use rustler::sys::{enif_get_tuple, enif_make_list_cell, ErlNifTerm};
use rustler::{Encoder as _, Env, LocalPid, Monitor, Term};
use std::cell::RefCell;
use std::ops::Deref;

pub mod atoms {
    rustler::atoms! {
        badarg, id, access, badkey, keypos, position, owner, type_ = "type",
        already_exists, not_owner, none, undefined, true_ = "true", false_ = "false",
        set, ordered_set, bag, duplicate_bag, public, protected, private,
        table_type, end_of_table = "$end_of_table",
        ets_transfer = "ETS-TRANSFER", dirty_loop = "shards_dirty_loop",
        keyslot = "shards_keyslot",
    }
}

/// Why a call fails. Every variant surfaces as `error:badarg` on the Erlang
/// side (with the ETS `error_info` cause), except `Keyslot`, which asks the
/// Erlang side to call again with partitions chosen by the table's keyslot
/// fun, and `Dirty`, which runs the call again on a dirty scheduler (see
/// `entry`): it may only be returned before the call changed anything.
#[derive(Debug)]
pub enum Fail {
    BadArg,
    Cause(rustler::Atom),
    Keyslot,
    Dirty,
}

pub type Res<T> = Result<T, Fail>;

impl From<rustler::Error> for Fail {
    fn from(_: rustler::Error) -> Fail {
        Fail::BadArg
    }
}

impl From<EncodeError> for Fail {
    fn from(e: EncodeError) -> Fail {
        match e {
            EncodeError::Unencodable => Fail::BadArg,
            EncodeError::OverBudget => Fail::Dirty,
        }
    }
}

impl From<NoKey> for Fail {
    fn from(e: NoKey) -> Fail {
        match e {
            NoKey::Unencodable => Fail::BadArg,
            NoKey::OverBudget => Fail::Dirty,
        }
    }
}

impl From<crate::work::OverBudget> for Fail {
    fn from(_: crate::work::OverBudget) -> Fail {
        Fail::Dirty
    }
}

pub fn cause(a: rustler::Atom) -> Fail {
    Fail::Cause(a)
}

/// Raises `f` from a NIF (see `entry`): `badarg`, `{badarg, Cause}` or
/// `shards_keyslot`.
pub fn raise_now(env: Env<'_>, f: Fail) -> ErlNifTerm {
    let reason = match f {
        // SAFETY: `env` is the calling NIF's environment.
        Fail::BadArg => return unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) },
        Fail::Cause(c) => (atoms::badarg(), c).encode(env),
        Fail::Keyslot => atoms::keyslot().encode(env),
        // Only a call without a work limit gets here (see `entry`).
        Fail::Dirty => atoms::dirty_loop().encode(env),
    };
    // SAFETY: as above; the reason is a term of `env`.
    unsafe { rustler::sys::enif_raise_exception(env.as_c_arg(), reason.as_c_arg()) }
}

/// A resolved table argument: a resource term borrowed for the call, or a
/// named table found in the registry.
pub enum Tab<'a> {
    Borrowed(&'a Table),
    Named(Handle<Table>),
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

/// A table lives in a resource of its own, which monitors its owner, its
/// heir and the processes fixing it.
impl Kept for Table {
    const NAME: &'static str = "shards_table";
    const MONITORS: bool = true;
    crate::kept_slot!();

    fn down(&self, env: Env<'_>, pid: LocalPid, _monitor: Monitor) {
        fixation::process_down(env, self, pid);
        lifecycle::owner_down(env, self, pid);
    }
}

/// Opens the resource types of the NIF layer (see `crate::resource`).
///
/// # Safety
/// `env` must be the environment of the load or upgrade callback.
pub unsafe fn open_types(env: *mut rustler::sys::ErlNifEnv) -> bool {
    // SAFETY: the caller's contract.
    unsafe {
        crate::resource::open::<Table>(env)
            && crate::resource::open::<select::CompiledMs>(env)
            && crate::resource::open::<select::ScanGrant>(env)
    }
}

/// Resolves a table id or name, failing with ETS's causes: `type` for a term
/// that cannot name a table, `id` for a table that does not exist (any more).
pub fn resolve<'a>(term: Term<'a>) -> Res<Tab<'a>> {
    // A table id (the common case) first: one type check.
    let tab = match Handle::<Table>::borrow(term) {
        Some(t) => Tab::Borrowed(t),
        None if term.is_atom() => Tab::Named(
            registry::by_name(crate::codec::to_raw(term.as_c_arg())).ok_or(cause(atoms::id()))?,
        ),
        None => return Err(cause(atoms::type_())),
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
        Some(handle) => handle.term(env),
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
    if needs_owner(table, access) && self_pid(env) != table.owner() {
        return Err(cause(atoms::access()));
    }
    Ok(())
}

/// `check_access` for the process `pid` (raw term): the process a scan
/// grant was made for, whoever runs it.
pub fn check_access_of(table: &Table, access: Access, pid: u64) -> Res<()> {
    if needs_owner(table, access) && pid != table.owner() {
        return Err(cause(atoms::access()));
    }
    Ok(())
}

#[inline]
fn needs_owner(table: &Table, access: Access) -> bool {
    !matches!(
        (table.protection(), access),
        (Protection::Public, _) | (Protection::Protected, Access::Read)
    )
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
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A tuple's elements, read in place (no copy), or `None` for a non-tuple.
pub fn tuple_elems<'a>(t: Term<'a>) -> Option<&'a [ErlNifTerm]> {
    let mut arity = 0;
    let mut elems: *const ErlNifTerm = std::ptr::null();
    // SAFETY: `t` is a live term of its environment; on success `elems`
    // points at `arity` terms that live as long as `t`.
    let ok =
        unsafe { enif_get_tuple(t.get_env().as_c_arg(), t.as_c_arg(), &mut arity, &mut elems) };
    if ok == 0 {
        return None;
    }
    // SAFETY: as above.
    Some(unsafe { std::slice::from_raw_parts(elems, arity as usize) })
}

/// Runs `f` with an encoder over this thread's scratch buffers. The buffers
/// are taken out for the call, so a nested call gets fresh ones.
pub fn with_encoder<R>(env: Env<'_>, f: impl FnOnce(&mut Encoder) -> R) -> R {
    SCRATCH.with(|cell| {
        let scratch = std::mem::take(&mut *cell.borrow_mut());
        let mut enc = Encoder::with_scratch(env.as_c_arg(), scratch);
        let r = f(&mut enc);
        *cell.borrow_mut() = enc.into_scratch();
        r
    })
}

/// A key as a table compares it: for hashed tables its canonical encoding
/// (`-0.0` as `0.0`, binaries inline), for ordered_set its sort key; and the
/// hash that picks its partition.
pub struct Key {
    bytes: KeyBytes,
    pub hash: u64,
}

/// Sort keys up to this long are kept without allocating.
const INLINE_KEY: usize = 38;

enum KeyBytes {
    Immediate([u8; 9]),
    Inline([u8; INLINE_KEY], u8),
    Heap(Vec<u8>),
}

impl Key {
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            KeyBytes::Immediate(b) => b,
            KeyBytes::Inline(b, n) => &b[..*n as usize],
            KeyBytes::Heap(v) => v,
        }
    }

    /// The sort key to store with a new object of this key (ordered_set).
    pub fn sort_key(&self, tab: &Table) -> Option<&[u8]> {
        (tab.kind == Kind::OrderedSet).then(|| self.bytes())
    }

    fn new(bytes: KeyBytes) -> Key {
        let mut k = Key { bytes, hash: 0 };
        k.hash = hash_key(k.bytes());
        k
    }

    /// A key of these bytes: kept inline when short enough.
    fn of_slice(b: &[u8]) -> Key {
        Key::new(if b.len() <= INLINE_KEY {
            let mut inline = [0u8; INLINE_KEY];
            inline[..b.len()].copy_from_slice(b);
            KeyBytes::Inline(inline, b.len() as u8)
        } else {
            KeyBytes::Heap(b.to_vec())
        })
    }
}

pub fn encode_key(env: Env<'_>, tab: &Table, key: Term<'_>) -> Res<Key> {
    match tab.kind {
        Kind::OrderedSet => sort_key_of(env, key),
        _ => encode_hashed_key(env, key),
    }
}

/// `encode_key` for a call that goes on to the key's object: its lock and
/// its slot are prefetched, so that they load together instead of one
/// after the other. (Not for a traversal step, which reads neither.)
pub fn encode_key_to_access(env: Env<'_>, tab: &Table, key: Term<'_>) -> Res<Key> {
    let key = encode_key(env, tab, key)?;
    tab.prefetch(key.hash, key.bytes());
    Ok(key)
}

/// `encode_key` for a set or bag.
fn encode_hashed_key(env: Env<'_>, key: Term<'_>) -> Res<Key> {
    let raw = key.as_c_arg();
    if is_immediate(raw) {
        let mut b = [0u8; 9];
        b[0] = IMMEDIATE;
        b[1..].copy_from_slice(&crate::codec::to_raw(raw).to_le_bytes());
        return Ok(Key::new(KeyBytes::Immediate(b)));
    }
    with_encoder(env, |enc| {
        enc.term(raw, false)?;
        if format::contains_neg_zero(&enc.out) {
            format::normalise_neg_zero(&mut enc.out);
        }
        Ok(Key::of_slice(&enc.out))
    })
}

thread_local! {
    /// Scratch buffer for sort keys.
    static SORT_SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(64));
}

/// The key a table compares for a key given in canonical encoding.
pub fn key_of_canonical(env: Env<'_>, tab: &Table, canonical: &[u8]) -> Res<Key> {
    if tab.kind == Kind::OrderedSet {
        let mut at = 0;
        // SAFETY: `canonical` is a complete encoding; keys hold no shared binaries.
        let term = unsafe { Term::new(env, decode::term(env.as_c_arg(), canonical, &mut at)) };
        return sort_key_of(env, term);
    }
    Ok(Key::of_slice(canonical))
}

/// The sort key (Erlang term order) of an ordered_set key.
pub fn sort_key_of(env: Env<'_>, key: Term<'_>) -> Res<Key> {
    SORT_SCRATCH.with(|s| {
        let mut out = s.borrow_mut();
        out.clear();
        // SAFETY: `key` is a term of `env`, the calling process's environment.
        unsafe { sort_key::put(env.as_c_arg(), key.as_c_arg(), &mut out) }?;
        Ok(Key::of_slice(&out))
    })
}

/// An object ready to store, with the hash of its key (and for ordered_set
/// the key's sort key).
pub struct Encoded {
    pub obj: Obj,
    pub hash: u64,
    pub sort_key: Option<Key>,
}

impl Encoded {
    /// Calls `f` with the key as the table compares it (see `Key`).
    pub fn with_key<R>(&self, keypos: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.sort_key {
            Some(k) => f(k.bytes()),
            None => self.obj.with_canonical_key(keypos, f),
        }
    }
}

/// Encodes a tuple for storage: the key inline (canonical), other large
/// binaries shared. Fails like ETS for non-tuples and tuples shorter than keypos.
pub fn encode_object(env: Env<'_>, term: Term<'_>, tab: &Table) -> Res<Encoded> {
    with_encoder(env, |enc| {
        let k = encode_object_into(env, term, tab, enc)?;
        let obj = Obj::new(&enc.out, enc.has_shared(), k.neg_zero);
        enc.take_shared();
        Ok(Encoded {
            obj,
            hash: k.hash,
            sort_key: k.sort_key,
        })
    })
}

/// What `encode_object_into` learns about an object's key.
pub struct ObjKey {
    pub hash: u64,
    /// The key holds a `-0.0` (hashed tables compare it as `0.0`).
    pub neg_zero: bool,
    /// For ordered_set tables.
    pub sort_key: Option<Key>,
}

/// The hash of an encoded key, as keys are compared: `-0.0` as `0.0`
/// (`neg_zero`: the key holds one).
fn canonical_hash(key: &[u8], neg_zero: bool) -> u64 {
    if neg_zero {
        let mut k = key.to_vec();
        format::normalise_neg_zero(&mut k);
        hash_key(&k)
    } else {
        hash_key(key)
    }
}

/// Encodes an object into `enc` (see `encode_object`).
pub fn encode_object_into(
    env: Env<'_>,
    term: Term<'_>,
    tab: &Table,
    enc: &mut Encoder,
) -> Res<ObjKey> {
    let keypos = tab.keypos;
    let elems = tuple_elems(term)
        .filter(|e| e.len() >= keypos)
        .ok_or(Fail::BadArg)?;
    crate::work::spend(elems.len())?;
    enc.out.clear();
    enc.out.push(TUPLE);
    format::put_varint(&mut enc.out, elems.len());
    let (mut hash, mut neg_zero) = (0, false);
    for (i, &e) in elems.iter().enumerate() {
        let start = enc.out.len();
        enc.term(e, i + 1 != keypos)?;
        if i + 1 == keypos {
            let key = &enc.out[start..];
            neg_zero = format::contains_neg_zero(key);
            if tab.kind != Kind::OrderedSet {
                // Hashed now, so the key's slot loads while the rest encodes.
                hash = canonical_hash(key, neg_zero);
                tab.prefetch(hash, key);
            }
        }
    }
    if tab.kind == Kind::OrderedSet {
        // SAFETY: an element of the live tuple `term` (keypos <= arity).
        let key_term = unsafe { Term::new(env, elems[keypos - 1]) };
        let sk = sort_key_of(env, key_term)?;
        tab.prefetch(sk.hash, sk.bytes());
        return Ok(ObjKey {
            hash: sk.hash,
            neg_zero,
            sort_key: Some(sk),
        });
    }
    Ok(ObjKey {
        hash,
        neg_zero,
        sort_key: None,
    })
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

pub fn encode_objects(env: Env<'_>, term: Term<'_>, tab: &Table) -> Res<Objects> {
    if term.is_list() {
        let list = list_terms(term)?;
        let objs = list
            .into_iter()
            .map(|t| encode_object(env, t, tab))
            .collect::<Res<Vec<_>>>()?;
        Ok(Objects::Many(objs))
    } else {
        Ok(Objects::One(encode_object(env, term, tab)?))
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
    crate::work::spend(out.len())?;
    if !cur.is_empty_list() {
        return Err(Fail::BadArg);
    }
    Ok(out)
}

/// Bytes of stored encoding that cost one unit of work to build on the
/// caller's heap (see `crate::work`).
pub const OUTPUT_BYTES_PER_UNIT: usize = 16;

/// Charges the call for building objects of `bytes` of encoding (and
/// `count` of them) on the caller's heap: `Fail::Dirty` when a normal
/// scheduler cannot afford it. Call before changing anything.
pub fn charge_output(count: usize, bytes: usize) -> Res<()> {
    crate::work::spend(count + bytes / OUTPUT_BYTES_PER_UNIT)?;
    Ok(())
}

/// `charge_output` for the objects `objs`.
pub fn charge_objects(objs: &[Obj]) -> Res<()> {
    charge_output(objs.len(), objs.iter().map(|o| o.bytes().len()).sum())
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
