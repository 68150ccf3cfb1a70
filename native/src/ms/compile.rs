//! Spec term -> program. Refuses (`Invalid`) exactly what ETS refuses among
//! the constructs it knows; anything else it is unsure of is `Unsupported`,
//! and the caller asks ETS (`ets:match_spec_compile/1`) to decide.

use super::*;
use crate::codec::encode::{is_immediate, Encoder};
use rustler::sys::{c_char, enif_get_atom, enif_get_tuple, ErlNifCharEncoding, ErlNifTerm};
use rustler::{Term, TermType};

/// What an atom means in a spec.
enum AtomRole {
    /// `'_'`
    Underscore,
    /// `'$N'`
    Var(u32),
    /// `'$_'`
    Whole,
    /// `'$$'`
    AllVars,
    /// Any other atom.
    Plain,
}

/// Variables above this number are left to ETS (it has no limit we know).
const MAX_VAR: u32 = 99_999_999;

fn raw(t: Term<'_>) -> u64 {
    crate::codec::to_raw(t.as_c_arg())
}

/// Runs `f` on the atom's latin-1 name; `None` for names longer than 255
/// bytes or outside latin-1 (none of which means anything special).
fn with_atom_name<R>(t: Term<'_>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut buf = std::mem::MaybeUninit::<[u8; 256]>::uninit();
    // SAFETY: `t` is an atom of its environment; `buf` holds 256 bytes and
    // enif_get_atom writes at most that many (including the NUL).
    let n = unsafe {
        enif_get_atom(
            t.get_env().as_c_arg(),
            t.as_c_arg(),
            buf.as_mut_ptr() as *mut c_char,
            256,
            ErlNifCharEncoding::ERL_NIF_LATIN1,
        )
    };
    if n <= 0 {
        return None;
    }
    // SAFETY: enif_get_atom wrote `n` bytes (the name and a NUL).
    let name = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize - 1) };
    Some(f(name))
}

fn atom_role(t: Term<'_>) -> Result<AtomRole, MsError> {
    let role = with_atom_name(t, |name| match name {
        b"_" => Ok(AtomRole::Underscore),
        b"$_" => Ok(AtomRole::Whole),
        b"$$" => Ok(AtomRole::AllVars),
        [b'$', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            if digits == b"0" {
                Ok(AtomRole::Var(0))
            } else if digits[0] == b'0' {
                Ok(AtomRole::Plain)
            } else if digits.len() > 8 {
                Err(MsError::Unsupported)
            } else {
                let n = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + (d - b'0') as u32);
                if n > MAX_VAR {
                    Err(MsError::Unsupported)
                } else {
                    Ok(AtomRole::Var(n))
                }
            }
        }
        _ => Ok(AtomRole::Plain),
    });
    role.unwrap_or(Ok(AtomRole::Plain))
}

pub fn encode(t: Term<'_>) -> Result<Vec<u8>, MsError> {
    let mut enc = Encoder::with_buffer(t.get_env().as_c_arg(), Vec::with_capacity(64));
    enc.term(t.as_c_arg(), false)?;
    Ok(enc.into_buffer())
}

/// How deep the compiler goes into a spec's terms (it recurses, one level
/// per level of the term). Below this, a head pattern that holds no
/// variable is kept as one constant (as ETS itself matches it, structure
/// and all); anything else there, and any deeper guard or body, is left
/// to ETS: `Unsupported`, and ETS's own engine runs that clause, raising
/// `system_limit` where ETS does.
const MAX_DEPTH: usize = 64;

/// Maps of more keys than this, in a head pattern or built by a body, are
/// left to ETS: matching or building them here costs time proportional to
/// the product of their sizes.
const MAX_MAP_KEYS: usize = 32;

/// Whether `t`, as a head pattern, matches exactly one term: it holds no
/// variable, no `'_'` and no map (a map pattern matches bigger maps).
/// Never recursive, whatever the depth of `t`.
fn is_ground(t: Term<'_>) -> bool {
    let mut pending = vec![t];
    while let Some(t) = pending.pop() {
        match shape(t) {
            Shape::Atom => {
                if !matches!(
                    atom_role(t),
                    Ok(AtomRole::Plain | AtomRole::Whole | AtomRole::AllVars)
                ) {
                    return false;
                }
            }
            Shape::Tuple => match tuple_elems(t) {
                Some(es) => pending.extend(es),
                None => return false,
            },
            Shape::List => {
                let (heads, tail) = cells(t);
                pending.extend(heads);
                pending.push(tail);
            }
            Shape::Map => return false,
            Shape::Other => {}
        }
    }
    true
}

/// A constant: immediates directly, anything else encoded.
fn constant(t: Term<'_>) -> Result<Lit, MsError> {
    if is_immediate(t.as_c_arg()) {
        let w = raw(t);
        return Ok(if w & 0xF == 0xF {
            Lit::Int((w as i64) >> 4)
        } else {
            Lit::Imm(w)
        });
    }
    Ok(Lit::from_bytes(encode(t)?))
}

/// The elements of a tuple, read in place (no copy).
fn tuple_elems<'a>(t: Term<'a>) -> Option<impl ExactSizeIterator<Item = Term<'a>> + 'a> {
    let env = t.get_env();
    let mut arity = 0;
    let mut elems: *const ErlNifTerm = std::ptr::null();
    // SAFETY: `t` belongs to `env`; on success `elems` points at `arity`
    // terms that live as long as `t` does.
    if unsafe { enif_get_tuple(env.as_c_arg(), t.as_c_arg(), &mut arity, &mut elems) } == 0 {
        return None;
    }
    // SAFETY: as above.
    let elems = unsafe { std::slice::from_raw_parts(elems, arity as usize) };
    // SAFETY: each element is a term of `env`.
    Some(elems.iter().map(move |&e| unsafe { Term::new(env, e) }))
}

/// The items of a proper list, in order, with their count (`None` for an
/// improper list).
fn list_items(t: Term<'_>) -> Option<(usize, impl Iterator<Item = Term<'_>>)> {
    let mut cur = t;
    let mut n = 0;
    while let Ok((_, tl)) = cur.list_get_cell() {
        cur = tl;
        n += 1;
    }
    cur.is_empty_list().then(|| {
        let mut cur = t;
        let items = std::iter::from_fn(move || {
            let (h, tl) = cur.list_get_cell().ok()?;
            cur = tl;
            Some(h)
        });
        (n, items)
    })
}

/// What a spec term is, as the compiler cares: immediates are told apart
/// from their raw word, without a call into the VM.
#[derive(PartialEq, Eq)]
enum Shape {
    Atom,
    Tuple,
    /// A non-empty list.
    List,
    Map,
    /// Anything else: a constant.
    Other,
}

fn shape(t: Term<'_>) -> Shape {
    let w = raw(t);
    if is_immediate(t.as_c_arg()) {
        return if w & 0x3F == 0x0B {
            Shape::Atom
        } else {
            Shape::Other
        };
    }
    match t.get_type() {
        TermType::Tuple => Shape::Tuple,
        TermType::List => Shape::List,
        TermType::Map => Shape::Map,
        _ => Shape::Other,
    }
}

/// A list's cons cells and its (non-list) tail.
fn cells(t: Term<'_>) -> (Vec<Term<'_>>, Term<'_>) {
    let mut out = Vec::with_capacity(4);
    let mut cur = t;
    while let Ok((h, tl)) = cur.list_get_cell() {
        out.push(h);
        cur = tl;
    }
    (out, cur)
}

/// A map's pairs; `Unsupported` for a map of more than `MAX_MAP_KEYS`.
fn map_pairs(t: Term<'_>) -> Result<Vec<(Term<'_>, Term<'_>)>, MsError> {
    if t.map_size().map_or(true, |n| n > MAX_MAP_KEYS) {
        return Err(MsError::Unsupported);
    }
    let iter = rustler::types::map::MapIterator::new(t).ok_or(MsError::Unsupported)?;
    Ok(iter.collect())
}

pub fn compile(spec: Term<'_>, lenient: bool) -> Result<MatchSpec, MsError> {
    let Some((n, items)) = list_items(spec) else {
        return if lenient {
            Ok(MatchSpec {
                clauses: Box::new([opaque()]),
                source: None,
            })
        } else {
            Err(MsError::Invalid)
        };
    };
    let mut clauses = Vec::with_capacity(n);
    for item in items {
        match clause(item) {
            Ok(c) => clauses.push(c),
            Err(e) if !lenient || e == MsError::OverBudget => return Err(e),
            Err(_) => clauses.push(lenient_clause(item)?),
        }
    }
    Ok(MatchSpec {
        clauses: clauses.into_boxed_slice(),
        source: None,
    })
}

/// A clause nothing is known about: every object goes to ETS.
fn opaque() -> Clause {
    Clause {
        head: None,
        prog: None,
        slots: 0,
    }
}

/// For a clause not understood as a whole: keep its head as a filter when
/// that much is understood, and let ETS evaluate the matching objects.
fn lenient_clause(item: Term<'_>) -> Result<Clause, MsError> {
    let Some(head) = tuple_elems(item).and_then(|mut es| es.next()) else {
        return Ok(opaque());
    };
    let mut cx = Compiler::default();
    match cx.pat(head) {
        Ok(pat) => Ok(Clause {
            head: Some(pat),
            prog: None,
            slots: cx.vars.len(),
        }),
        Err(MsError::OverBudget) => Err(MsError::OverBudget),
        Err(_) => Ok(opaque()),
    }
}

#[derive(Default)]
struct Compiler {
    /// Variable number of each slot, in order of first appearance.
    vars: Vec<u32>,
    /// Levels of the spec term the compiler is in (see `MAX_DEPTH`).
    depth: usize,
}

impl Compiler {
    fn slot(&self, n: u32) -> Option<u16> {
        self.vars.iter().position(|&v| v == n).map(|s| s as u16)
    }

    /// A head pattern.
    fn pat(&mut self, t: Term<'_>) -> Result<Pat, MsError> {
        if self.depth == MAX_DEPTH {
            return match is_ground(t) {
                true => Ok(Pat::Const(encode(t)?.into_boxed_slice())),
                false => Err(MsError::Unsupported),
            };
        }
        crate::work::spend(1).map_err(|_| MsError::OverBudget)?;
        self.depth += 1;
        let p = self.pat_here(t);
        self.depth -= 1;
        p
    }

    fn pat_here(&mut self, t: Term<'_>) -> Result<Pat, MsError> {
        match shape(t) {
            Shape::Atom => Ok(match atom_role(t)? {
                AtomRole::Underscore => Pat::Any,
                AtomRole::Var(n) => match self.slot(n) {
                    Some(s) => Pat::Check(s),
                    None => {
                        self.vars.push(n);
                        Pat::Bind((self.vars.len() - 1) as u16)
                    }
                },
                // '$_' and '$$' are plain atoms in a head.
                _ => Pat::Imm(raw(t)),
            }),
            Shape::Tuple => {
                let elems = tuple_elems(t).ok_or(MsError::Invalid)?;
                let mut pats = Vec::with_capacity(elems.len());
                for e in elems {
                    pats.push(self.pat(e)?);
                }
                Ok(Pat::Tuple(pats.into_boxed_slice()))
            }
            Shape::List => {
                let (heads, tail) = cells(t);
                let pats = heads
                    .into_iter()
                    .map(|h| self.pat(h))
                    .collect::<Result<Vec<_>, _>>()?;
                let tp = self.pat(tail)?;
                Ok(Pat::List(pats.into_boxed_slice(), Box::new(tp)))
            }
            Shape::Map => {
                let mut pairs = Vec::new();
                for (k, v) in map_pairs(t)? {
                    if shape(k) == Shape::Atom
                        && matches!(atom_role(k)?, AtomRole::Var(_) | AtomRole::Underscore)
                    {
                        return Err(MsError::Invalid);
                    }
                    let p = self.pat(v)?;
                    pairs.push((constant(k)?, p));
                }
                Ok(Pat::Map(pairs.into_boxed_slice()))
            }
            Shape::Other if is_immediate(t.as_c_arg()) => Ok(Pat::Imm(raw(t))),
            Shape::Other => {
                let b = encode(t)?;
                Ok(match b[0] {
                    format::IMMEDIATE => Pat::Imm(format::get_u64(&b, &mut 1)),
                    format::FLOAT => Pat::Float(format::get_u64(&b, &mut 1)),
                    _ => Pat::Const(b.into_boxed_slice()),
                })
            }
        }
    }

    /// A guard or body expression.
    fn expr(&mut self, t: Term<'_>) -> Result<Expr, MsError> {
        if self.depth == MAX_DEPTH {
            return Err(MsError::Unsupported);
        }
        crate::work::spend(1).map_err(|_| MsError::OverBudget)?;
        self.depth += 1;
        let e = self.expr_here(t);
        self.depth -= 1;
        e
    }

    fn expr_here(&mut self, t: Term<'_>) -> Result<Expr, MsError> {
        match shape(t) {
            Shape::Atom => Ok(match atom_role(t)? {
                AtomRole::Whole => Expr::Whole,
                AtomRole::AllVars => Expr::AllVars,
                AtomRole::Var(n) => Expr::Var(self.slot(n).ok_or(MsError::Invalid)?),
                AtomRole::Underscore | AtomRole::Plain => Expr::Lit(Lit::Imm(raw(t))),
            }),
            Shape::Tuple => {
                let mut elems = tuple_elems(t).ok_or(MsError::Invalid)?;
                let n = elems.len();
                let Some(first) = elems.next() else {
                    return Err(MsError::Invalid);
                };
                if n == 1 && shape(first) == Shape::Tuple {
                    let es = tuple_elems(first)
                        .ok_or(MsError::Invalid)?
                        .map(|e| self.expr(e))
                        .collect::<Result<Box<[_]>, _>>()?;
                    return Ok(Expr::Tuple(es));
                }
                if shape(first) != Shape::Atom {
                    return Err(MsError::Invalid);
                }
                let call = with_atom_name(first, |name| function(name, n - 1))
                    .flatten()
                    .ok_or(MsError::Invalid)?;
                if let Call::Const = call {
                    return Ok(Expr::Lit(constant(elems.next().ok_or(MsError::Invalid)?)?));
                }
                let args = elems
                    .map(|a| self.expr(a))
                    .collect::<Result<Box<[_]>, _>>()?;
                Ok(match call {
                    Call::Bif(b) => Expr::Call(b, args),
                    Call::AndAlso => Expr::AndAlso(args),
                    Call::OrElse => Expr::OrElse(args),
                    Call::Const => unreachable!("handled above"),
                })
            }
            Shape::List => {
                let (heads, tail) = cells(t);
                let es = heads
                    .into_iter()
                    .map(|h| self.expr(h))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Expr::List(
                    es.into_boxed_slice(),
                    Box::new(self.expr(tail)?),
                ))
            }
            Shape::Map => {
                let pairs = map_pairs(t)?
                    .into_iter()
                    .map(|(k, v)| Ok((self.expr(k)?, self.expr(v)?)))
                    .collect::<Result<Vec<_>, MsError>>()?;
                Ok(Expr::Map(pairs.into_boxed_slice()))
            }
            Shape::Other => Ok(Expr::Lit(constant(t)?)),
        }
    }
}

fn clause(item: Term<'_>) -> Result<Clause, MsError> {
    let mut parts = tuple_elems(item).ok_or(MsError::Invalid)?;
    if parts.len() != 3 {
        return Err(MsError::Invalid);
    }
    let (head, guards, body) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let (n_guards, guard_items) = list_items(guards).ok_or(MsError::Invalid)?;
    let (_, body) = list_items(body).ok_or(MsError::Invalid)?;
    let mut cx = Compiler::default();
    let pat = cx.pat(head)?;
    let mut guards = Vec::with_capacity(n_guards);
    for g in guard_items {
        guards.push(cx.expr(g)?);
    }
    let mut last = None;
    for b in body {
        last = Some(cx.expr(b)?);
    }
    let body = last.ok_or(MsError::Invalid)?;
    let body_true = matches!(body, Expr::Lit(Lit::Imm(w)) if w == true_word());
    let mut order: Vec<u16> = (0..cx.vars.len() as u16).collect();
    order.sort_by_key(|&s| cx.vars[s as usize]);
    Ok(Clause {
        head: Some(pat),
        prog: Some(Program {
            guards: guards.into_boxed_slice(),
            body,
            body_true,
            all_vars: order.into_boxed_slice(),
        }),
        slots: cx.vars.len(),
    })
}

/// Whether `t`, as a head pattern, holds no variable and no `'_'` (maps
/// aside): a constant the head matches exactly. Used by the spec cache to
/// leave such a key out of a spec's identity.
pub fn is_constant_pattern(t: Term<'_>) -> bool {
    fn walk(t: Term<'_>, depth: usize) -> bool {
        if depth == 0 {
            return false;
        }
        match shape(t) {
            Shape::Atom => matches!(
                atom_role(t),
                Ok(AtomRole::Plain | AtomRole::Whole | AtomRole::AllVars)
            ),
            Shape::Tuple => tuple_elems(t).is_some_and(|mut es| es.all(|e| walk(e, depth - 1))),
            Shape::List => {
                let mut cur = t;
                while let Ok((h, tl)) = cur.list_get_cell() {
                    if !walk(h, depth - 1) {
                        return false;
                    }
                    cur = tl;
                }
                walk(cur, depth - 1)
            }
            Shape::Map => false,
            Shape::Other => true,
        }
    }
    walk(t, 16)
}

/// The head pattern of a constant (see `is_constant_pattern`).
pub fn constant_pattern(t: Term<'_>) -> Result<Pat, MsError> {
    let mut cx = Compiler::default();
    let p = cx.pat(t)?;
    if cx.vars.is_empty() && var_free(&p) {
        Ok(p)
    } else {
        Err(MsError::Unsupported)
    }
}

/// Whether a pattern holds no variable or `'_'` (maps may hold other keys
/// but still count: ETS looks such keys up).
pub fn var_free(p: &Pat) -> bool {
    match p {
        Pat::Imm(_) | Pat::Float(_) | Pat::Const(_) => true,
        Pat::Tuple(es) => es.iter().all(var_free),
        Pat::List(es, tail) => es.iter().all(var_free) && var_free(tail),
        Pat::Map(kvs) => kvs.iter().all(|(_, v)| var_free(v)),
        Pat::Any | Pat::Bind(_) | Pat::Check(_) => false,
    }
}

/// The raw word of the atom `true` (atoms are the same in every environment).
pub fn true_word() -> u64 {
    crate::ms::eval::words().true_
}

enum Call {
    Bif(Bif),
    AndAlso,
    OrElse,
    Const,
}

/// The function `name/arity` of a guard or body, if ETS accepts it.
fn function(name: &[u8], arity: usize) -> Option<Call> {
    use Bif::*;
    let bif = match (name, arity) {
        (b"const", 1) => return Some(Call::Const),
        (b"andalso", n) if n >= 1 => return Some(Call::AndAlso),
        (b"orelse", n) if n >= 1 => return Some(Call::OrElse),
        (b"and", n) if n >= 1 => And,
        (b"or", n) if n >= 1 => Or,
        (b"is_atom", 1) => IsAtom,
        (b"is_float", 1) => IsFloat,
        (b"is_integer", 1) => IsInteger,
        (b"is_list", 1) => IsList,
        (b"is_number", 1) => IsNumber,
        (b"is_pid", 1) => IsPid,
        (b"is_port", 1) => IsPort,
        (b"is_reference", 1) => IsReference,
        (b"is_tuple", 1) => IsTuple,
        (b"is_map", 1) => IsMap,
        (b"is_binary", 1) => IsBinary,
        (b"is_function", 1) => IsFunction,
        (b"is_record", 3) => IsRecord,
        (b"is_map_key", 2) => IsMapKey,
        (b"map_get", 2) => MapGet,
        (b"map_size", 1) => MapSize,
        (b"abs", 1) => Abs,
        (b"element", 2) => Element,
        (b"hd", 1) => Hd,
        (b"tl", 1) => Tl,
        (b"length", 1) => Length,
        (b"node", 0) => Node0,
        (b"node", 1) => Node1,
        (b"round", 1) => Round,
        (b"size", 1) => Size,
        (b"bit_size", 1) => BitSize,
        (b"byte_size", 1) => ByteSize,
        (b"binary_part", 2) => BinaryPart2,
        (b"binary_part", 3) => BinaryPart3,
        (b"trunc", 1) => Trunc,
        (b"float", 1) => Float,
        (b"+", 1) => Plus1,
        (b"-", 1) => Minus1,
        (b"+", 2) => Plus,
        (b"-", 2) => Minus,
        (b"*", 2) => Times,
        (b"/", 2) => Divide,
        (b"div", 2) => Div,
        (b"rem", 2) => Rem,
        (b"band", 2) => Band,
        (b"bor", 2) => Bor,
        (b"bxor", 2) => Bxor,
        (b"bnot", 1) => Bnot,
        (b"bsl", 2) => Bsl,
        (b"bsr", 2) => Bsr,
        (b">", 2) => Gt,
        (b">=", 2) => Ge,
        (b"<", 2) => Lt,
        (b"=<", 2) => Le,
        (b"==", 2) => Eq,
        (b"=:=", 2) => ExactEq,
        (b"/=", 2) => Ne,
        (b"=/=", 2) => ExactNe,
        (b"not", 1) => Not,
        (b"xor", 2) => Xor,
        (b"self", 0) => SelfPid,
        _ => return None,
    };
    Some(Call::Bif(bif))
}
