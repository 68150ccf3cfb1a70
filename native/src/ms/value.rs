//! Values met while running a match spec, read straight from the owned
//! encoding: numbers held natively, immediates by their raw word, anything
//! else as a view of its bytes. Nothing is copied onto a process heap here.

use super::num::{self, Num};
use crate::codec::compare::{binary_at, terms_equal};
use crate::codec::format::*;
use std::cell::UnsafeCell;
use std::cmp::Ordering;

/// One value. `Enc` views an encoded term (a tuple, list, map, binary or an
/// `EXTERNAL` term that is not an integer fitting `i64`); the slice starts
/// at the term and may run past its end.
// A word-sized tag keeps copies of values (and of results holding them)
// to aligned words, which the CPU forwards from store to load.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Val<'a> {
    Int(i64),
    Float(f64),
    /// A non-integer immediate: atom, local pid or port, `[]`.
    Imm(u64),
    Enc(&'a [u8]),
}

/// The raw word of `[]` (taken from the VM: it differs between releases).
pub fn nil_word() -> u64 {
    super::eval::words().nil
}

#[inline]
pub fn make_small(i: i64) -> u64 {
    ((i << 4) as u64) | 0xF
}

#[inline]
pub fn fits_small(i: i64) -> bool {
    (num::MIN_SMALL..=num::MAX_SMALL).contains(&i)
}

/// What a value is, as far as guards and term order care.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Int,
    /// An integer too big for `i64` (kept encoded).
    BigInt,
    Float,
    Atom,
    Ref,
    Fun,
    Port,
    Pid,
    Tuple,
    Map,
    Nil,
    List,
    Binary,
    Bitstring,
    /// Something this engine does not classify (never seen in practice).
    Other,
}

/// Term order classes: number < atom < reference < fun < port < pid <
/// tuple < map < nil < list < bit string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Class {
    Number,
    Atom,
    Ref,
    Fun,
    Port,
    Pid,
    Tuple,
    Map,
    Nil,
    List,
    Bits,
}

impl Kind {
    pub fn class(self) -> Option<Class> {
        Some(match self {
            Kind::Int | Kind::BigInt | Kind::Float => Class::Number,
            Kind::Atom => Class::Atom,
            Kind::Ref => Class::Ref,
            Kind::Fun => Class::Fun,
            Kind::Port => Class::Port,
            Kind::Pid => Class::Pid,
            Kind::Tuple => Class::Tuple,
            Kind::Map => Class::Map,
            Kind::Nil => Class::Nil,
            Kind::List => Class::List,
            Kind::Binary | Kind::Bitstring => Class::Bits,
            Kind::Other => return None,
        })
    }
}

pub fn imm_kind(w: u64) -> Kind {
    match w & 0xF {
        0xF => Kind::Int,
        0x3 => Kind::Pid,
        0x7 => Kind::Port,
        0xB if w & 0x3F == 0x0B => Kind::Atom,
        _ if w == nil_word() => Kind::Nil,
        _ => Kind::Other,
    }
}

/// The `term_to_binary` bytes of an `EXTERNAL` term at `b[0]`.
pub fn ext_bytes(b: &[u8]) -> &[u8] {
    let mut p = 1;
    let n = get_varint(b, &mut p);
    &b[p..p + n]
}

fn ext_kind(ext: &[u8]) -> Kind {
    match ext.get(1) {
        Some(97 | 98 | 110 | 111) => Kind::BigInt,
        Some(88 | 103) => Kind::Pid,
        Some(89 | 102 | 120) => Kind::Port,
        Some(90 | 101 | 114) => Kind::Ref,
        Some(112 | 113 | 117) => Kind::Fun,
        Some(77) => Kind::Bitstring,
        _ => Kind::Other,
    }
}

impl<'a> Val<'a> {
    /// The value of the term encoded at `buf[pos]`.
    #[inline]
    pub fn of(buf: &'a [u8], pos: usize) -> Val<'a> {
        match buf[pos] {
            IMMEDIATE => {
                let w = u64::from_le_bytes(buf[pos + 1..pos + 9].try_into().unwrap());
                if w & 0xF == 0xF {
                    Val::Int((w as i64) >> 4)
                } else {
                    Val::Imm(w)
                }
            }
            FLOAT => Val::Float(f64::from_bits(u64::from_le_bytes(
                buf[pos + 1..pos + 9].try_into().unwrap(),
            ))),
            EXTERNAL => match num::parse_ext_int(ext_bytes(&buf[pos..])) {
                Some(Some(i)) => Val::Int(i),
                _ => Val::Enc(&buf[pos..]),
            },
            _ => Val::Enc(&buf[pos..]),
        }
    }

    pub fn kind(&self) -> Kind {
        match *self {
            Val::Int(_) => Kind::Int,
            Val::Float(_) => Kind::Float,
            Val::Imm(w) => imm_kind(w),
            Val::Enc(b) => match b[0] {
                TUPLE => Kind::Tuple,
                LIST => Kind::List,
                BINARY | SHARED_BIN => Kind::Binary,
                MAP => Kind::Map,
                EXTERNAL => ext_kind(ext_bytes(b)),
                _ => Kind::Other,
            },
        }
    }

    pub fn num(&self) -> Option<Num> {
        match *self {
            Val::Int(i) => Some(Num::I(i)),
            Val::Float(f) => Some(Num::F(f)),
            _ => None,
        }
    }

    pub fn is_atom_word(&self, w: u64) -> bool {
        matches!(*self, Val::Imm(x) if x == w)
    }

    /// The bytes of a binary (not a bitstring).
    pub fn binary(&self) -> Option<&'a [u8]> {
        match *self {
            Val::Enc(b) if b[0] == BINARY || b[0] == SHARED_BIN => Some(binary_at(b, &mut 0)),
            _ => None,
        }
    }

    /// Arity of a tuple.
    pub fn tuple_arity(&self) -> Option<usize> {
        match *self {
            Val::Enc(b) if b[0] == TUPLE => tuple_arity(b, 0),
            _ => None,
        }
    }
}

/// Bits and data of a bitstring kept in the external format
/// (`BIT_BINARY_EXT`): whole bytes, then the bits used in the last one.
pub fn bitstring(b: &[u8]) -> Option<(usize, &[u8])> {
    let ext = ext_bytes(b);
    if ext.len() < 7 || ext[1] != 77 {
        return None;
    }
    let len = u32::from_be_bytes(ext[2..6].try_into().ok()?) as usize;
    let bits = ext[6] as usize;
    let data = ext.get(7..7 + len)?;
    let total = if len == 0 { 0 } else { (len - 1) * 8 + bits };
    Some((total, data))
}

/// `=:=` (with OTP 25's `0.0 =:= -0.0`).
pub fn exact_eq(a: Val<'_>, b: Val<'_>) -> bool {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Imm(x), Val::Imm(y)) => x == y,
        (Val::Enc(x), Val::Enc(y)) => terms_equal(x, y),
        _ => false,
    }
}

/// Compares two immediates (atoms by name, pids and ports by number).
fn cmp_immediates(x: u64, y: u64) -> Ordering {
    // SAFETY: immediates are self-contained words, valid in any environment.
    let c =
        unsafe { rustler::sys::enif_compare(crate::codec::from_raw(x), crate::codec::from_raw(y)) };
    c.cmp(&0)
}

/// Term order, natively where it is simple; `None` when the VM must decide
/// (maps, references, funs, remote pids, bitstrings, huge integers).
#[inline]
pub fn compare(a: Val<'_>, b: Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(&y)),
        (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
            Some(num::cmp(a.num()?, b.num()?))
        }
        _ => compare_terms(a, b),
    }
}

/// Term order of two values that are not both numbers. Never recursive,
/// whatever the depth: pairs of elements still to compare wait on a
/// stack, in order, and the first that differs decides.
#[inline(never)]
fn compare_terms(a: Val<'_>, b: Val<'_>) -> Option<Ordering> {
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut next = Some(Pending::Pair(a, b));
    while let Some(item) = next.take().or_else(|| pending.pop()) {
        let (a, b) = match item {
            Pending::Decided(Ordering::Equal) => continue,
            Pending::Decided(o) => return Some(o),
            Pending::Pair(a, b) => (a, b),
        };
        let o = match (a, b) {
            (Val::Int(x), Val::Int(y)) => x.cmp(&y),
            (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
                num::cmp(a.num()?, b.num()?)
            }
            _ => compare_shallow(a, b, &mut pending)?,
        };
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
}

/// What `compare_terms` has left to do: compare two values, or an
/// outcome already known for that point in the order.
enum Pending<'a> {
    Pair(Val<'a>, Val<'a>),
    Decided(Ordering),
}

/// Compares what `a` and `b` are without their elements; for two tuples or
/// two lists that agree so far, pushes their elements' comparisons (the
/// first on top) and says `Equal`.
fn compare_shallow<'a>(a: Val<'a>, b: Val<'a>, pending: &mut Vec<Pending<'a>>) -> Option<Ordering> {
    let (ca, cb) = (a.kind().class()?, b.kind().class()?);
    if ca != cb {
        return Some(ca.cmp(&cb));
    }
    match (ca, a, b) {
        (Class::Number, _, _) => Some(num::cmp(a.num()?, b.num()?)),
        (Class::Atom | Class::Pid | Class::Port, Val::Imm(x), Val::Imm(y)) => {
            Some(cmp_immediates(x, y))
        }
        (Class::Nil, _, _) => Some(Ordering::Equal),
        (Class::Tuple, Val::Enc(x), Val::Enc(y)) => {
            let (mut px, mut py) = (1, 1);
            let (nx, ny) = (get_varint(x, &mut px), get_varint(y, &mut py));
            if nx != ny {
                return Some(nx.cmp(&ny));
            }
            push_elements(x, px, y, py, nx, pending);
            Some(Ordering::Equal)
        }
        (Class::List, Val::Enc(x), Val::Enc(y)) => {
            let (mut px, mut py) = (1, 1);
            let (nx, ny) = (get_varint(x, &mut px), get_varint(y, &mut py));
            let common = nx.min(ny);
            // After the common cells: the tails, or one list's tail (never
            // a list) against the other's remaining cells.
            let (tx, ty) = (nth(x, px, common), nth(y, py, common));
            pending.push(if nx == ny {
                Pending::Pair(Val::of(x, tx), Val::of(y, ty))
            } else if nx < ny {
                Pending::Decided(Val::of(x, tx).kind().class()?.cmp(&Class::List))
            } else {
                Pending::Decided(Class::List.cmp(&Val::of(y, ty).kind().class()?))
            });
            push_elements(x, px, y, py, common, pending);
            Some(Ordering::Equal)
        }
        (Class::Bits, _, _) => Some(a.binary()?.cmp(b.binary()?)),
        _ => None,
    }
}

/// Pushes the comparisons of the `n` elements from `x[px]` and `y[py]`,
/// the first on top.
fn push_elements<'a>(
    x: &'a [u8],
    mut px: usize,
    y: &'a [u8],
    mut py: usize,
    n: usize,
    pending: &mut Vec<Pending<'a>>,
) {
    let from = pending.len();
    for _ in 0..n {
        pending.push(Pending::Pair(Val::of(x, px), Val::of(y, py)));
        px = skip(x, px);
        py = skip(y, py);
    }
    pending[from..].reverse();
}

/// The position of the `n`th term from `pos` (terms one after another).
fn nth(buf: &[u8], mut pos: usize, n: usize) -> usize {
    for _ in 0..n {
        pos = skip(buf, pos);
    }
    pos
}

/// Looks `key` up in the map encoded at `m[0]` (keys compared with `=:=`);
/// returns the position of the value.
pub fn map_find(m: &[u8], key: Val<'_>) -> Option<usize> {
    let mut p = 1;
    let n = get_varint(m, &mut p);
    for _ in 0..n {
        let v = skip(m, p);
        if exact_eq(Val::of(m, p), key) {
            return Some(v);
        }
        p = skip(m, v);
    }
    None
}

/// Byte copy of exactly the term at `b[0]`.
pub fn term_bytes(b: &[u8]) -> &[u8] {
    &b[..skip(b, 0)]
}

/// Appends the encoding of `v`, in the canonical form stored objects use
/// (so that encodings compare byte for byte).
pub fn write_val(out: &mut Vec<u8>, v: Val<'_>) {
    match v {
        Val::Int(i) if fits_small(i) => {
            out.push(IMMEDIATE);
            out.extend_from_slice(&make_small(i).to_le_bytes());
        }
        Val::Int(i) => {
            let mut ext = Vec::with_capacity(20);
            num::write_ext_bignum(i, &mut ext);
            out.push(EXTERNAL);
            put_varint(out, ext.len());
            out.extend_from_slice(&ext);
        }
        Val::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Val::Imm(w) => {
            out.push(IMMEDIATE);
            out.extend_from_slice(&w.to_le_bytes());
        }
        Val::Enc(b) => out.extend_from_slice(term_bytes(b)),
    }
}

/// Encodes the list `[heads... | tail]`, merging a list tail so that the
/// result has the canonical (flat) form.
pub fn write_list(out: &mut Vec<u8>, heads: &[Val<'_>], tail: Val<'_>) {
    let (extra, tail_at) = match tail {
        Val::Enc(b) if b[0] == LIST => {
            let mut p = 1;
            let n = get_varint(b, &mut p);
            (Some((b, p)), n)
        }
        _ => (None, 0),
    };
    let cells = heads.len() + tail_at;
    if cells == 0 {
        write_val(out, tail);
        return;
    }
    out.push(LIST);
    put_varint(out, cells);
    for h in heads {
        write_val(out, *h);
    }
    match extra {
        Some((b, p)) => out.extend_from_slice(&b[p..skip(b, 0)]),
        None => write_val(out, tail),
    }
}

/// The rest of the list at `b[0]` after its first `k` cells (`k` < cells),
/// re-encoded as a list of its own.
pub fn write_list_rest(out: &mut Vec<u8>, b: &[u8], k: usize) {
    let mut p = 1;
    let n = get_varint(b, &mut p);
    for _ in 0..k {
        p = skip(b, p);
    }
    out.push(LIST);
    put_varint(out, n - k);
    out.extend_from_slice(&b[p..skip(b, 0)]);
}

/// Memory for values built while running a spec on one object: each
/// allocation is a separate box, so earlier views stay valid as more are made.
#[derive(Default)]
pub struct Arena {
    bufs: UnsafeCell<Vec<Box<[u8]>>>,
}

impl Arena {
    pub fn alloc(&self, bytes: Vec<u8>) -> &[u8] {
        let b = bytes.into_boxed_slice();
        let view: *const [u8] = &*b;
        // `bufs` is only touched here, never re-entrantly, and boxes are
        // never removed or mutated before the arena is dropped.
        // SAFETY: a box's heap data does not move when the outer vector
        // grows, so `view` stays valid for as long as `&self` is borrowed.
        unsafe {
            (*self.bufs.get()).push(b);
            &*view
        }
    }
}
