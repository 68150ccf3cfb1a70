//! A small per-scheduler-thread cache of compiled match specs, so that the
//! usual select calls (one spec over and over, or one spec with another key
//! each time) do not compile their spec on every call.
//!
//! - An entry is found by a hash of the spec term and confirmed by exact
//!   equality (`=:=`) with a copy of the term the entry keeps.
//! - A constant key in a head (the element at the table's keypos) is left
//!   out of both: `[{{K, '_', '_'}, [], ['$_']}]` is one entry whatever `K`
//!   is, and its compiled spec (owned by the entry, lent to one call at a
//!   time) gets the call's key patched in before use.
//! - A spec is admitted the second time its hash misses within the last few
//!   misses, so that specs built afresh for every call (a guard constant
//!   that keeps changing) only pay for the hash.

use super::select::CompiledMs;
use super::tuple_elems;
use crate::ms::{constant_pattern, is_constant_pattern, MatchSpec, Pat};
use crate::resource::Handle;
use rustler::sys::{
    enif_alloc_env, enif_free_env, enif_hash, enif_is_identical, enif_make_copy, ErlNifEnv,
    ErlNifHash, ErlNifTerm,
};
use rustler::{Env, Term};
use std::cell::RefCell;
use std::ops::Deref;

/// Entries per thread.
const ENTRIES: usize = 8;
/// Hashes of recent misses remembered for admission.
const RECENT: usize = 16;
/// Specs with more clauses are not cached (one bit per clause below).
const MAX_CLAUSES: usize = 16;

/// What identifies a spec term for the cache (the table's keypos aside).
#[derive(Clone, Copy)]
pub struct Sig {
    hash: u64,
    /// Clauses whose constant key is left out (bit `i`: clause `i`).
    keyed: u32,
}

/// A cached spec, for one call.
pub enum Cached {
    /// Shared by every call (no key left out): the resource itself.
    Shared(Handle<CompiledMs>),
    /// With the call's key patched in, lent until dropped.
    Lent(Lease),
}

/// A compiled spec lent by the cache to one call; back in its entry on drop.
pub struct Lease {
    ms: Option<Box<MatchSpec>>,
    id: u64,
}

impl Deref for Lease {
    type Target = MatchSpec;
    fn deref(&self) -> &MatchSpec {
        self.ms
            .as_deref()
            .expect("a lease holds its spec until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(ms) = self.ms.take() else { return };
        let _ = CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                if let Some(e) = c.entries.iter_mut().find(|e| e.id == self.id) {
                    e.ms = Slot::Owned(ms);
                }
            }
        });
    }
}

enum Slot {
    Shared(Handle<CompiledMs>),
    Owned(Box<MatchSpec>),
    /// Lent out (to the call running now).
    Lent,
}

struct Entry {
    id: u64,
    sig: Sig,
    /// The keypos the keys were left out at (0 when none was).
    keypos: usize,
    /// A copy of the spec term, in `env`, and its clauses as `read` saw them.
    env: *mut ErlNifEnv,
    spec: ErlNifTerm,
    clauses: Vec<SavedClause>,
    ms: Slot,
    used: u64,
}

/// A clause of a saved spec (terms of the entry's `env`).
struct SavedClause {
    whole: ErlNifTerm,
    /// For a keyed clause: its head's elements, guards and body.
    keyed: Option<(Box<[ErlNifTerm]>, ErlNifTerm, ErlNifTerm)>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: `env` was allocated by `enif_alloc_env` for this entry
        // alone, and nothing refers to its terms once the entry is gone.
        unsafe { enif_free_env(self.env) };
    }
}

#[derive(Default)]
struct Cache {
    entries: Vec<Entry>,
    recent: [u64; RECENT],
    next_recent: usize,
    clock: u64,
    ids: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Looks `spec` up for a table of key position `keypos`. On a miss, `Err`
/// says whether the caller should `insert` the spec it compiles (`Some`),
/// or leave the cache alone (`None`: not cacheable, or first seen).
pub fn lookup(spec: Term<'_>, keypos: usize) -> Result<Cached, Option<Sig>> {
    let view = read(spec, keypos).ok_or(None)?;
    let sig = view.sig();
    CACHE.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return Err(None);
        };
        c.clock += 1;
        let clock = c.clock;
        let found = c.entries.iter().position(|e| {
            e.sig.hash == sig.hash
                && e.sig.keyed == sig.keyed
                && (sig.keyed == 0 || e.keypos == keypos)
                && view.same(spec, e, keypos)
        });
        let Some(i) = found else {
            if c.recent.contains(&sig.hash) {
                return Err(Some(sig));
            }
            let at = c.next_recent;
            c.recent[at] = sig.hash;
            c.next_recent = (at + 1) % RECENT;
            return Err(None);
        };
        let e = &mut c.entries[i];
        e.used = clock;
        match std::mem::replace(&mut e.ms, Slot::Lent) {
            Slot::Shared(a) => {
                e.ms = Slot::Shared(a.clone());
                Ok(Cached::Shared(a))
            }
            Slot::Owned(mut ms) => {
                if view.patch(spec.get_env(), &mut ms, keypos) {
                    Ok(Cached::Lent(Lease {
                        ms: Some(ms),
                        id: e.id,
                    }))
                } else {
                    e.ms = Slot::Owned(ms);
                    Err(None)
                }
            }
            Slot::Lent => Err(None),
        }
    })
}

/// Caches `ms`, compiled (strictly) from `spec` after `lookup` asked for it.
/// `None` when it cannot be kept (the caller then compiles it afresh).
pub fn insert(sig: Sig, spec: Term<'_>, keypos: usize, ms: MatchSpec) -> Option<Cached> {
    let ms = if sig.keyed == 0 {
        Slot::Shared(Handle::new(CompiledMs(ms.with_source(spec).ok()?)))
    } else {
        Slot::Owned(Box::new(ms))
    };
    CACHE.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.entries.len() == ENTRIES {
            let oldest = (0..c.entries.len()).min_by_key(|&i| c.entries[i].used)?;
            c.entries.swap_remove(oldest);
        }
        c.ids += 1;
        let id = c.ids;
        let used = c.clock;
        // SAFETY: a fresh process-independent environment, freed with the entry.
        let env = unsafe { enif_alloc_env() };
        // SAFETY: `spec` is a live term of the calling environment; the copy
        // lives in `env`.
        let saved = unsafe { enif_make_copy(env, spec.as_c_arg()) };
        let lifetime = ();
        // SAFETY: `env` is the live environment just allocated.
        let saved_term = unsafe { Term::new(Env::new(&lifetime, env), saved) };
        let clauses = saved_clauses(saved_term, sig.keyed, keypos);
        let (slot, out) = match ms {
            Slot::Shared(a) => (Slot::Shared(a.clone()), Cached::Shared(a)),
            Slot::Owned(ms) => (Slot::Lent, Cached::Lent(Lease { ms: Some(ms), id })),
            Slot::Lent => unreachable!("made above"),
        };
        c.entries.push(Entry {
            id,
            sig,
            keypos: if sig.keyed == 0 { 0 } else { keypos },
            env,
            spec: saved,
            clauses,
            ms: slot,
            used,
        });
        Some(out)
    })
}

fn mix(h: u64, x: u64) -> u64 {
    let h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

fn is_immediate(t: ErlNifTerm) -> bool {
    crate::codec::encode::is_immediate(t)
}

/// A term's hash: immediates by their word, others by the VM's hash.
fn term_hash(t: ErlNifTerm) -> u64 {
    if is_immediate(t) {
        return crate::codec::to_raw(t);
    }
    // SAFETY: `t` is a live term.
    unsafe { enif_hash(ErlNifHash::ERL_NIF_INTERNAL_HASH, t, 0x5eed) }
}

/// `a =:= b` (the same word is the same term).
fn identical(a: ErlNifTerm, b: ErlNifTerm) -> bool {
    if a == b {
        return true;
    }
    if is_immediate(a) || is_immediate(b) {
        return false;
    }
    // SAFETY: both are live terms (of any environments).
    unsafe { enif_is_identical(a, b) != 0 }
}

/// A clause `{Head, Guards, Body}` whose head is a tuple with a constant
/// key (element `keypos`): the head's elements, the guards and the body.
fn keyed_clause<'a>(clause: Term<'a>, keypos: usize) -> Option<Keyed<'a>> {
    let env = clause.get_env();
    let parts = tuple_elems(clause).filter(|p| p.len() == 3)?;
    // SAFETY: an element of a live tuple of `env`.
    let head = tuple_elems(unsafe { Term::new(env, parts[0]) }).filter(|es| es.len() >= keypos)?;
    // SAFETY: as above.
    let key = unsafe { Term::new(env, head[keypos - 1]) };
    is_constant_pattern(key).then_some(Keyed {
        head,
        guards: parts[1],
        body: parts[2],
    })
}

#[derive(Clone, Copy)]
struct Keyed<'a> {
    head: &'a [ErlNifTerm],
    guards: ErlNifTerm,
    body: ErlNifTerm,
}

/// A spec term read once, for hashing, comparing and patching.
struct View<'a> {
    n: usize,
    wholes: [ErlNifTerm; MAX_CLAUSES],
    keyed: [Option<Keyed<'a>>; MAX_CLAUSES],
    sig: Sig,
}

/// Reads a spec; `None` when it is not a proper list of at most
/// `MAX_CLAUSES` elements (such specs are not cached).
fn read(spec: Term<'_>, keypos: usize) -> Option<View<'_>> {
    let mut v = View {
        n: 0,
        wholes: [spec.as_c_arg(); MAX_CLAUSES],
        keyed: [None; MAX_CLAUSES],
        sig: Sig { hash: 0, keyed: 0 },
    };
    let mut h = 0x5851_F42D_4C95_7F2D;
    let mut cur = spec;
    while let Ok((clause, tail)) = cur.list_get_cell() {
        if v.n == MAX_CLAUSES {
            return None;
        }
        v.wholes[v.n] = clause.as_c_arg();
        match keyed_clause(clause, keypos) {
            Some(k) => {
                v.sig.keyed |= 1 << v.n;
                h = mix(h, k.head.len() as u64);
                for (i, &e) in k.head.iter().enumerate() {
                    if i + 1 != keypos {
                        h = mix(h, term_hash(e));
                    }
                }
                h = mix(mix(h, term_hash(k.guards)), term_hash(k.body));
                v.keyed[v.n] = Some(k);
            }
            None => h = mix(h, term_hash(clause.as_c_arg())),
        }
        v.n += 1;
        cur = tail;
    }
    if !cur.is_empty_list() {
        return None;
    }
    v.sig.hash = mix(mix(h, v.n as u64), v.sig.keyed as u64);
    Some(v)
}

/// The clauses of a saved spec (read as `read` reads the spec it copies).
fn saved_clauses(saved: Term<'_>, keyed: u32, keypos: usize) -> Vec<SavedClause> {
    let mut out = Vec::new();
    let mut cur = saved;
    while let Ok((clause, tail)) = cur.list_get_cell() {
        let k = if keyed & (1 << out.len()) != 0 {
            keyed_clause(clause, keypos).map(|k| (k.head.into(), k.guards, k.body))
        } else {
            None
        };
        out.push(SavedClause {
            whole: clause.as_c_arg(),
            keyed: k,
        });
        cur = tail;
    }
    out
}

impl View<'_> {
    fn sig(&self) -> Sig {
        self.sig
    }

    /// Whether the spec equals the entry's exactly, keyed clauses' keys aside.
    fn same(&self, spec: Term<'_>, e: &Entry, keypos: usize) -> bool {
        if self.sig.keyed == 0 {
            return identical(spec.as_c_arg(), e.spec);
        }
        self.n == e.clauses.len()
            && (0..self.n).all(|i| match (&self.keyed[i], &e.clauses[i].keyed) {
                (Some(a), Some((head, guards, body))) => {
                    a.head.len() == head.len()
                        && a.head
                            .iter()
                            .zip(head.iter())
                            .enumerate()
                            .all(|(j, (&x, &y))| j + 1 == keypos || identical(x, y))
                        && identical(a.guards, *guards)
                        && identical(a.body, *body)
                }
                (None, None) => identical(self.wholes[i], e.clauses[i].whole),
                _ => false,
            })
    }

    /// Patches this spec's keys into a keyed entry's compiled spec.
    fn patch(&self, env: Env<'_>, ms: &mut MatchSpec, keypos: usize) -> bool {
        (0..self.n).all(|i| match &self.keyed[i] {
            None => true,
            Some(k) => {
                let raw = k.head[keypos - 1];
                if is_immediate(raw) {
                    // A constant immediate (`read` checked): what the compiler
                    // makes of it.
                    let pat = Pat::Imm(crate::codec::to_raw(raw));
                    return ms.set_key_pattern(i, keypos, pat);
                }
                // SAFETY: an element of a live tuple of `env`.
                let key = unsafe { Term::new(env, raw) };
                constant_pattern(key).is_ok_and(|p| ms.set_key_pattern(i, keypos, p))
            }
        })
    }
}
