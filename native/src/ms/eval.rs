//! Running a compiled spec on one encoded object.
//!
//! Heads are matched on the bytes; guards are evaluated on `Val`s (numbers
//! and immediates natively, the rest as views of the encoding). Only a
//! result that is returned, or a comparison the engine leaves to the VM,
//! builds terms on the caller's heap.

use super::num::{self, Fail, Num};
use super::value::*;
use super::{Bif, Clause, Expr, MatchSpec, Pat, Program};
use crate::codec::compare::{equal_at, Floats};
use crate::codec::encode::Encoder;
use crate::codec::format::*;
use crate::codec::{decode, from_raw, to_raw};
use rustler::sys::{
    enif_binary_to_term, enif_compare, enif_make_double, enif_make_int64, enif_make_list_cell,
    enif_make_map_put, enif_make_new_map, enif_make_tuple_from_array, enif_release_binary,
    enif_term_to_binary, ErlNifBinary, ErlNifTerm,
};
use rustler::{Env, Term};
use std::cell::Cell;
use std::cmp::Ordering;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

type R<T> = Result<T, Fail>;

/// Raw words of the atoms the engine produces or tests for.
pub struct Words {
    pub true_: u64,
    pub false_: u64,
    pub exit: u64,
    pub nil: u64,
}

mod atoms {
    rustler::atoms! { exit = "EXIT" }
}

pub fn words() -> &'static Words {
    static WORDS: OnceLock<Words> = OnceLock::new();
    WORDS.get_or_init(|| Words {
        true_: to_raw(rustler::types::atom::true_().as_c_arg()),
        false_: to_raw(rustler::types::atom::false_().as_c_arg()),
        exit: to_raw(atoms::exit().as_c_arg()),
        nil: rustler::OwnedEnv::new().run(|env| to_raw(Term::list_new_empty(env).as_c_arg())),
    })
}

/// The result of running a spec on one object.
#[derive(Debug)]
pub enum Outcome<T> {
    NoMatch,
    Match(T),
    /// The engine cannot answer for this object: ask ETS.
    Fallback,
}

/// What a caller wants from a match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Want {
    /// The body's value, built on the caller's heap (select).
    Term,
    /// Only whether the body's value is `true` (select_count, select_delete).
    True,
}

/// Guards fail on errors; bodies turn an error into the value `'EXIT'`
/// and go on, as ETS does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Guard,
    Body,
}

/// What one clause attempt sees.
struct Cx<'o, 's> {
    obj: &'o [u8],
    arena: &'o Arena,
    slots: &'s [Val<'o>],
    all_vars: &'o [u16],
}

/// Runs specs for one NIF call: `self()` is `caller`, terms go to `env`.
pub struct Runner<'e> {
    env: Env<'e>,
    caller: u64,
    node: Cell<Option<u64>>,
    w: &'static Words,
}

impl<'e> Runner<'e> {
    /// `caller` must be a local pid (it is what `self()` returns).
    pub fn new(env: Env<'e>, caller: Term<'e>) -> Runner<'e> {
        Runner {
            env,
            caller: to_raw(caller.as_c_arg()),
            node: Cell::new(None),
            w: words(),
        }
    }

    /// Runs `ms` on the encoded term `obj`, building the result term.
    pub fn run(&self, ms: &MatchSpec, obj: &[u8]) -> Outcome<Term<'e>> {
        self.run_want(ms, obj, Want::Term)
            .map(|t| t.expect("a term is built"))
    }

    /// Whether `ms` gives `true` for `obj`, building nothing.
    pub fn test(&self, ms: &MatchSpec, obj: &[u8]) -> Outcome<()> {
        self.run_want(ms, obj, Want::True).map(|_| ())
    }

    fn run_want(&self, ms: &MatchSpec, obj: &[u8], want: Want) -> Outcome<Option<Term<'e>>> {
        for c in ms.clauses.iter() {
            let arena = Arena::default();
            if let Some(o) = self.clause(c, obj, &arena, want) {
                return o;
            }
        }
        Outcome::NoMatch
    }

    /// `None`: this clause does not apply, try the next.
    fn clause<'o>(
        &self,
        c: &'o Clause,
        obj: &'o [u8],
        arena: &'o Arena,
        want: Want,
    ) -> Option<Outcome<Option<Term<'e>>>> {
        let Some(head) = &c.head else {
            return Some(Outcome::Fallback);
        };
        let mut inline = [Val::Int(0); 8];
        let mut heap;
        let slots: &mut [Val<'o>] = if c.slots <= inline.len() {
            &mut inline[..c.slots]
        } else {
            heap = vec![Val::Int(0); c.slots];
            &mut heap
        };
        match self.head(head, obj, 0, slots, arena) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(_) => return Some(Outcome::Fallback),
        }
        let Some(prog) = &c.prog else {
            return Some(Outcome::Fallback);
        };
        let cx = Cx {
            obj,
            arena,
            slots,
            all_vars: &prog.all_vars,
        };
        self.program(prog, &cx, want)
    }

    fn program<'o>(
        &self,
        prog: &'o Program,
        cx: &Cx<'o, '_>,
        want: Want,
    ) -> Option<Outcome<Option<Term<'e>>>> {
        for g in prog.guards.iter() {
            match self.eval(g, cx, Mode::Guard) {
                Ok(v) if v.is_atom_word(self.w.true_) => {}
                Ok(_) | Err(Fail::Error) => return None,
                Err(Fail::Unsupported) => return Some(Outcome::Fallback),
            }
        }
        Some(match want {
            Want::True if prog.body_true => Outcome::Match(None),
            Want::True => match self.eval(&prog.body, cx, Mode::Body) {
                Ok(v) if v.is_atom_word(self.w.true_) => Outcome::Match(None),
                Ok(_) => Outcome::NoMatch,
                Err(_) => Outcome::Fallback,
            },
            Want::Term => match self.build(&prog.body, cx, Mode::Body) {
                // SAFETY: built in `self.env` during this call.
                Ok(t) => Outcome::Match(Some(unsafe { Term::new(self.env, t) })),
                Err(_) => Outcome::Fallback,
            },
        })
    }

    // ----- heads -------------------------------------------------------

    fn head<'o>(
        &self,
        p: &'o Pat,
        buf: &'o [u8],
        pos: usize,
        slots: &mut [Val<'o>],
        arena: &'o Arena,
    ) -> R<bool> {
        Ok(match p {
            Pat::Any => true,
            Pat::Bind(s) => {
                slots[*s as usize] = Val::of(buf, pos);
                true
            }
            Pat::Check(s) => exact_eq(slots[*s as usize], Val::of(buf, pos)),
            Pat::Imm(w) => buf[pos] == IMMEDIATE && get_u64(buf, &mut (pos + 1)) == *w,
            Pat::Float(bits) => buf[pos] == FLOAT && get_u64(buf, &mut (pos + 1)) == *bits,
            Pat::Const(c) => const_eq(c, &buf[pos..]),
            Pat::Tuple(ps) => {
                if buf[pos] != TUPLE {
                    return Ok(false);
                }
                let mut p = pos + 1;
                if get_varint(buf, &mut p) != ps.len() {
                    return Ok(false);
                }
                for (i, sp) in ps.iter().enumerate() {
                    // The common element patterns inline; the rest recurse.
                    match sp {
                        Pat::Any => {}
                        Pat::Bind(s) => slots[*s as usize] = Val::of(buf, p),
                        _ => {
                            if !self.head(sp, buf, p, slots, arena)? {
                                return Ok(false);
                            }
                        }
                    }
                    if i + 1 < ps.len() {
                        p = skip(buf, p);
                    }
                }
                true
            }
            Pat::List(ps, tail) => {
                if buf[pos] != LIST {
                    return Ok(false);
                }
                let mut p = pos + 1;
                let n = get_varint(buf, &mut p);
                if n < ps.len() {
                    return Ok(false);
                }
                for sp in ps.iter() {
                    if !self.head(sp, buf, p, slots, arena)? {
                        return Ok(false);
                    }
                    p = skip(buf, p);
                }
                if n == ps.len() {
                    return self.head(tail, buf, p, slots, arena);
                }
                // More cells than the pattern has: the tail pattern meets
                // the rest of the list.
                match &**tail {
                    Pat::Any => true,
                    Pat::Bind(_) | Pat::Check(_) => {
                        let mut out = Vec::new();
                        write_list_rest(&mut out, &buf[pos..], ps.len());
                        let rest = arena.alloc(out);
                        self.head(tail, rest, 0, slots, arena)?
                    }
                    _ => false,
                }
            }
            Pat::Map(pairs) => {
                if buf[pos] != MAP {
                    return Ok(false);
                }
                let m = &buf[pos..];
                for (k, vp) in pairs.iter() {
                    match map_find(m, k.val()) {
                        Some(v) if self.head(vp, m, v, slots, arena)? => {}
                        _ => return Ok(false),
                    }
                }
                true
            }
        })
    }

    // ----- guards and bodies -------------------------------------------

    fn boolean<'o>(&self, b: bool) -> Val<'o> {
        Val::Imm(if b { self.w.true_ } else { self.w.false_ })
    }

    fn as_bool(&self, v: Val<'_>) -> R<bool> {
        match v {
            Val::Imm(w) if w == self.w.true_ => Ok(true),
            Val::Imm(w) if w == self.w.false_ => Ok(false),
            _ => Err(Fail::Error),
        }
    }

    fn caught<'o>(&self, r: R<Val<'o>>, mode: Mode) -> R<Val<'o>> {
        match (r, mode) {
            (Err(Fail::Error), Mode::Body) => Ok(Val::Imm(self.w.exit)),
            (r, _) => r,
        }
    }

    fn eval<'o>(&self, e: &'o Expr, cx: &Cx<'o, '_>, mode: Mode) -> R<Val<'o>> {
        match e {
            Expr::Lit(l) => Ok(l.val()),
            Expr::Var(s) => Ok(cx.slots[*s as usize]),
            Expr::Whole => Ok(Val::of(cx.obj, 0)),
            Expr::AllVars => {
                let vals: Vec<Val<'o>> =
                    cx.all_vars.iter().map(|&s| cx.slots[s as usize]).collect();
                let mut out = Vec::new();
                write_list(&mut out, &vals, Val::Imm(self.w.nil));
                Ok(Val::of(cx.arena.alloc(out), 0))
            }
            Expr::Tuple(es) => {
                let vals = es
                    .iter()
                    .map(|x| self.eval(x, cx, mode))
                    .collect::<R<Vec<_>>>()?;
                let mut out = vec![TUPLE];
                put_varint(&mut out, vals.len());
                vals.iter().for_each(|v| write_val(&mut out, *v));
                Ok(Val::of(cx.arena.alloc(out), 0))
            }
            Expr::List(es, tail) => {
                let vals = es
                    .iter()
                    .map(|x| self.eval(x, cx, mode))
                    .collect::<R<Vec<_>>>()?;
                let tail = self.eval(tail, cx, mode)?;
                let mut out = Vec::new();
                write_list(&mut out, &vals, tail);
                Ok(Val::of(cx.arena.alloc(out), 0))
            }
            Expr::Map(_) => {
                // Maps need the VM's key order to be encoded canonically.
                let t = self.build(e, cx, mode)?;
                let mut enc = Encoder::with_buffer(self.env.as_c_arg(), Vec::new());
                enc.term(t, false).map_err(|_| Fail::Unsupported)?;
                Ok(Val::of(cx.arena.alloc(enc.into_buffer()), 0))
            }
            Expr::Call(b, args) if args.len() == 2 && b.is_comparison() => {
                // Comparisons take any terms and never fail: no frame needed.
                let x = self.operand(&args[0], cx, mode)?;
                let y = self.operand(&args[1], cx, mode)?;
                self.comparison(*b, x, y)
            }
            Expr::Call(b, args) => {
                let r = self.call(*b, args, cx, mode);
                self.caught(r, mode)
            }
            Expr::AndAlso(args) => {
                let r = self.short_circuit(args, cx, mode, self.w.false_);
                self.caught(r, mode)
            }
            Expr::OrElse(args) => {
                let r = self.short_circuit(args, cx, mode, self.w.true_);
                self.caught(r, mode)
            }
        }
    }

    /// An argument: variables and constants read in place, the rest evaluated.
    #[inline(always)]
    fn operand<'o>(&self, e: &'o Expr, cx: &Cx<'o, '_>, mode: Mode) -> R<Val<'o>> {
        match e {
            Expr::Var(s) => Ok(cx.slots[*s as usize]),
            Expr::Lit(l) => Ok(l.val()),
            _ => self.eval(e, cx, mode),
        }
    }

    /// Evaluates the arguments (on the stack for the usual few) and calls.
    fn call<'o>(&self, b: Bif, args: &'o [Expr], cx: &Cx<'o, '_>, mode: Mode) -> R<Val<'o>> {
        let mut inline = [Val::Int(0); 4];
        if args.len() <= inline.len() {
            for (slot, a) in inline.iter_mut().zip(args) {
                *slot = self.operand(a, cx, mode)?;
            }
            return self.bif(b, &inline[..args.len()], cx);
        }
        let vals = args
            .iter()
            .map(|x| self.eval(x, cx, mode))
            .collect::<R<Vec<_>>>()?;
        self.bif(b, &vals, cx)
    }

    /// `andalso` (stops at `false`) and `orelse` (stops at `true`): every
    /// argument but the last must be a boolean; the last one's value is
    /// the result as it is.
    fn short_circuit<'o>(
        &self,
        args: &'o [Expr],
        cx: &Cx<'o, '_>,
        mode: Mode,
        stop: u64,
    ) -> R<Val<'o>> {
        let last = args.len() - 1;
        for (i, a) in args.iter().enumerate() {
            let v = self.eval(a, cx, mode)?;
            if i == last {
                return Ok(v);
            }
            self.as_bool(v)?;
            if v.is_atom_word(stop) {
                return Ok(v);
            }
        }
        unreachable!("andalso/orelse have at least one argument")
    }

    fn bif<'o>(&self, b: Bif, a: &[Val<'o>], cx: &Cx<'o, '_>) -> R<Val<'o>> {
        use Bif::*;
        let kind = |v: &Val<'_>| match v.kind() {
            Kind::Other => Err(Fail::Unsupported),
            k => Ok(k),
        };
        let is = |v: &Val<'_>, ks: &[Kind]| kind(v).map(|k| self.boolean(ks.contains(&k)));
        Ok(match b {
            IsAtom => is(&a[0], &[Kind::Atom])?,
            IsFloat => is(&a[0], &[Kind::Float])?,
            IsInteger => is(&a[0], &[Kind::Int, Kind::BigInt])?,
            IsList => is(&a[0], &[Kind::List, Kind::Nil])?,
            IsNumber => is(&a[0], &[Kind::Int, Kind::BigInt, Kind::Float])?,
            IsPid => is(&a[0], &[Kind::Pid])?,
            IsPort => is(&a[0], &[Kind::Port])?,
            IsReference => is(&a[0], &[Kind::Ref])?,
            IsTuple => is(&a[0], &[Kind::Tuple])?,
            IsMap => is(&a[0], &[Kind::Map])?,
            IsBinary => is(&a[0], &[Kind::Binary])?,
            IsFunction => is(&a[0], &[Kind::Fun])?,
            IsRecord => {
                if kind(&a[1])? != Kind::Atom {
                    return Err(Fail::Error);
                }
                let size = match a[2] {
                    Val::Int(i) if fits_small(i) => i,
                    _ => return Err(Fail::Error),
                };
                let yes = match a[0] {
                    Val::Enc(t) if t[0] == TUPLE && size >= 1 => {
                        tuple_arity(t, 0) == Some(size as usize)
                            && exact_eq(Val::of(t, tuple_element(t, 0, 0).unwrap().0), a[1])
                    }
                    _ => false,
                };
                self.boolean(yes)
            }
            IsMapKey => self.boolean(map_find(map_arg(a[1])?, a[0]).is_some()),
            MapGet => {
                let m = map_arg(a[1])?;
                Val::of(m, map_find(m, a[0]).ok_or(Fail::Error)?)
            }
            MapSize => {
                let m = map_arg(a[0])?;
                Val::Int(get_varint(m, &mut 1) as i64)
            }
            Abs => num_val(num::abs(num_arg(&a[0])?)?),
            Element => {
                let n = int_arg(&a[0])?;
                let Val::Enc(t) = a[1] else {
                    return Err(Fail::Error);
                };
                if t[0] != TUPLE || n < 1 {
                    return Err(Fail::Error);
                }
                let idx = usize::try_from(n - 1).map_err(|_| Fail::Error)?;
                let (s, _) = tuple_element(t, 0, idx).ok_or(Fail::Error)?;
                Val::of(t, s)
            }
            Hd => {
                let l = list_arg(a[0])?;
                let mut p = 1;
                get_varint(l, &mut p);
                Val::of(l, p)
            }
            Tl => {
                let l = list_arg(a[0])?;
                let mut p = 1;
                if get_varint(l, &mut p) == 1 {
                    Val::of(l, skip(l, p))
                } else {
                    let mut out = Vec::new();
                    write_list_rest(&mut out, l, 1);
                    Val::of(cx.arena.alloc(out), 0)
                }
            }
            Length => match a[0] {
                Val::Imm(w) if w == self.w.nil => Val::Int(0),
                v => {
                    let l = list_arg(v)?;
                    let mut p = 1;
                    let n = get_varint(l, &mut p);
                    for _ in 0..n {
                        p = skip(l, p);
                    }
                    if !Val::of(l, p).is_atom_word(self.w.nil) {
                        return Err(Fail::Error);
                    }
                    Val::Int(n as i64)
                }
            },
            Node0 => Val::Imm(self.local_node()?),
            Node1 => match (a[0], kind(&a[0])?) {
                (Val::Imm(_), Kind::Pid | Kind::Port) => Val::Imm(self.local_node()?),
                (Val::Enc(b), Kind::Pid | Kind::Port | Kind::Ref) => {
                    Val::Imm(self.node_in_ext(ext_bytes(b)).ok_or(Fail::Unsupported)?)
                }
                _ => return Err(Fail::Error),
            },
            Round => match num_arg(&a[0])? {
                Num::I(i) => Val::Int(i),
                Num::F(f) => Val::Int(num::float_to_int(f.round())?),
            },
            Trunc => match num_arg(&a[0])? {
                Num::I(i) => Val::Int(i),
                Num::F(f) => Val::Int(num::float_to_int(f.trunc())?),
            },
            Size => match kind(&a[0])? {
                Kind::Tuple => Val::Int(a[0].tuple_arity().unwrap_or(0) as i64),
                Kind::Binary => Val::Int(a[0].binary().unwrap_or(&[]).len() as i64),
                Kind::Bitstring => Val::Int((bits_of(a[0])?.0 / 8) as i64),
                _ => return Err(Fail::Error),
            },
            BitSize => match kind(&a[0])? {
                Kind::Binary => Val::Int(a[0].binary().unwrap_or(&[]).len() as i64 * 8),
                Kind::Bitstring => Val::Int(bits_of(a[0])?.0 as i64),
                _ => return Err(Fail::Error),
            },
            ByteSize => match kind(&a[0])? {
                Kind::Binary => Val::Int(a[0].binary().unwrap_or(&[]).len() as i64),
                Kind::Bitstring => Val::Int(bits_of(a[0])?.0.div_ceil(8) as i64),
                _ => return Err(Fail::Error),
            },
            BinaryPart2 => {
                let Val::Enc(t) = a[1] else {
                    return Err(Fail::Error);
                };
                if t[0] != TUPLE || tuple_arity(t, 0) != Some(2) {
                    return Err(Fail::Error);
                }
                let start = Val::of(t, tuple_element(t, 0, 0).unwrap().0);
                let len = Val::of(t, tuple_element(t, 0, 1).unwrap().0);
                self.binary_part(a[0], start, len, cx)?
            }
            BinaryPart3 => self.binary_part(a[0], a[1], a[2], cx)?,
            Float => match num_arg(&a[0])? {
                Num::I(i) => Val::Float(num::int_to_f64(i)),
                Num::F(f) => Val::Float(f),
            },
            Plus1 => num_val(num_arg(&a[0])?),
            Minus1 => num_val(num::neg(num_arg(&a[0])?)?),
            Plus => num_val(num::add(num_arg(&a[0])?, num_arg(&a[1])?)?),
            Minus => num_val(num::sub(num_arg(&a[0])?, num_arg(&a[1])?)?),
            Times => num_val(num::mul(num_arg(&a[0])?, num_arg(&a[1])?)?),
            Divide => num_val(num::fdiv(num_arg(&a[0])?, num_arg(&a[1])?)?),
            Div => Val::Int(num::idiv(int_arg(&a[0])?, int_arg(&a[1])?)?),
            Rem => Val::Int(num::irem(int_arg(&a[0])?, int_arg(&a[1])?)?),
            Band => Val::Int(int_arg(&a[0])? & int_arg(&a[1])?),
            Bor => Val::Int(int_arg(&a[0])? | int_arg(&a[1])?),
            Bxor => Val::Int(int_arg(&a[0])? ^ int_arg(&a[1])?),
            Bnot => Val::Int(!int_arg(&a[0])?),
            Bsl => Val::Int(num::bsl(int_arg(&a[0])?, int_arg(&a[1])?)?),
            Bsr => Val::Int(num::bsr(int_arg(&a[0])?, int_arg(&a[1])?)?),
            Gt | Ge | Lt | Le | Eq | Ne | ExactEq | ExactNe => self.comparison(b, a[0], a[1])?,
            Not => self.boolean(!self.as_bool(a[0])?),
            Xor => self.boolean(self.as_bool(a[0])? ^ self.as_bool(a[1])?),
            And => {
                let bs = a.iter().map(|v| self.as_bool(*v)).collect::<R<Vec<_>>>()?;
                self.boolean(bs.iter().all(|&b| b))
            }
            Or => {
                let bs = a.iter().map(|v| self.as_bool(*v)).collect::<R<Vec<_>>>()?;
                self.boolean(bs.iter().any(|&b| b))
            }
            SelfPid => Val::Imm(self.caller),
        })
    }

    #[inline]
    fn comparison<'o>(&self, b: Bif, x: Val<'_>, y: Val<'_>) -> R<Val<'o>> {
        use Bif::*;
        let yes = match b {
            ExactEq => exact_eq(x, y),
            ExactNe => !exact_eq(x, y),
            _ => {
                let o = self.compare(x, y)?;
                match b {
                    Gt => o == Ordering::Greater,
                    Ge => o != Ordering::Less,
                    Lt => o == Ordering::Less,
                    Le => o != Ordering::Greater,
                    Eq => o == Ordering::Equal,
                    _ => o != Ordering::Equal,
                }
            }
        };
        Ok(self.boolean(yes))
    }

    fn binary_part<'o>(
        &self,
        bin: Val<'o>,
        start: Val<'o>,
        len: Val<'o>,
        cx: &Cx<'o, '_>,
    ) -> R<Val<'o>> {
        let bytes = match bin.kind() {
            Kind::Binary => bin.binary().unwrap_or(&[]),
            Kind::Bitstring | Kind::Other => return Err(Fail::Unsupported),
            _ => return Err(Fail::Error),
        };
        let (s, l) = (int_arg(&start)?, int_arg(&len)?);
        let (from, to) = if l >= 0 { (s, s + l) } else { (s + l, s) };
        if from < 0 || to > bytes.len() as i64 {
            return Err(Fail::Error);
        }
        let part = &bytes[from as usize..to as usize];
        let mut out = vec![BINARY];
        put_varint(&mut out, part.len());
        out.extend_from_slice(part);
        Ok(Val::of(cx.arena.alloc(out), 0))
    }

    /// Term order; the VM decides the cases the engine leaves to it.
    #[inline]
    fn compare(&self, a: Val<'_>, b: Val<'_>) -> R<Ordering> {
        match compare(a, b) {
            Some(o) => Ok(o),
            None => self.compare_in_vm(a, b),
        }
    }

    #[inline(never)]
    fn compare_in_vm(&self, a: Val<'_>, b: Val<'_>) -> R<Ordering> {
        let (x, y) = (self.term(a)?, self.term(b)?);
        // SAFETY: both terms were just built in `self.env`.
        Ok(unsafe { enif_compare(x, y) }.cmp(&0))
    }

    // ----- building terms ----------------------------------------------

    /// A value as a term on the caller's heap.
    fn term(&self, v: Val<'_>) -> R<ErlNifTerm> {
        let env = self.env.as_c_arg();
        // SAFETY: `env` is the calling process's environment for this call;
        // encodings come from live objects or this spec's constants.
        Ok(unsafe {
            match v {
                Val::Int(i) => enif_make_int64(env, i),
                Val::Float(f) => enif_make_double(env, f),
                Val::Imm(w) => from_raw(w),
                Val::Enc(b) => decode::whole(env, b),
            }
        })
    }

    fn term_from_ext(&self, ext: &[u8]) -> Option<ErlNifTerm> {
        let mut t = from_raw(0);
        // SAFETY: `ext` is a complete external-format term; on success
        // `t` is a term of `self.env`.
        let used =
            unsafe { enif_binary_to_term(self.env.as_c_arg(), ext.as_ptr(), ext.len(), &mut t, 0) };
        (used > 0).then_some(t)
    }

    fn build<'o>(&self, e: &'o Expr, cx: &Cx<'o, '_>, mode: Mode) -> R<ErlNifTerm> {
        let env = self.env.as_c_arg();
        match e {
            Expr::Var(s) => self.term(cx.slots[*s as usize]),
            Expr::Whole => self.term(Val::Enc(cx.obj)),
            Expr::Lit(l) => self.term(l.val()),
            Expr::AllVars => {
                let vals: Vec<Val<'o>> =
                    cx.all_vars.iter().map(|&s| cx.slots[s as usize]).collect();
                self.list_term(vals.into_iter().map(|v| self.term(v)), from_raw(self.w.nil))
            }
            Expr::Tuple(es) => {
                let ts = es
                    .iter()
                    .map(|x| self.build(x, cx, mode))
                    .collect::<R<Vec<_>>>()?;
                // SAFETY: `ts` holds terms of `env`.
                Ok(unsafe { enif_make_tuple_from_array(env, ts.as_ptr(), ts.len() as _) })
            }
            Expr::List(es, tail) => {
                let ts = es
                    .iter()
                    .map(|x| self.build(x, cx, mode))
                    .collect::<R<Vec<_>>>()?;
                let tail = self.build(tail, cx, mode)?;
                self.list_term(ts.into_iter().map(Ok), tail)
            }
            Expr::Map(kvs) => {
                // SAFETY: every term involved belongs to `env`.
                let mut m = unsafe { enif_make_new_map(env) };
                for (k, v) in kvs.iter() {
                    let (k, v) = (self.build(k, cx, mode)?, self.build(v, cx, mode)?);
                    let mut out = from_raw(0);
                    // SAFETY: as above; put replaces an existing key.
                    if unsafe { enif_make_map_put(env, m, k, v, &mut out) } == 0 {
                        return Err(Fail::Unsupported);
                    }
                    m = out;
                }
                Ok(m)
            }
            Expr::Call(..) | Expr::AndAlso(_) | Expr::OrElse(_) => {
                let v = self.eval(e, cx, mode)?;
                self.term(v)
            }
        }
    }

    fn list_term(
        &self,
        heads: impl DoubleEndedIterator<Item = R<ErlNifTerm>>,
        tail: ErlNifTerm,
    ) -> R<ErlNifTerm> {
        let hs = heads.collect::<R<Vec<_>>>()?;
        // SAFETY: all terms belong to `self.env`.
        Ok(hs.iter().rev().fold(tail, |acc, &h| unsafe {
            enif_make_list_cell(self.env.as_c_arg(), h, acc)
        }))
    }

    // ----- nodes -------------------------------------------------------

    /// `node()`: read from the caller's pid in the external format.
    fn local_node(&self) -> R<u64> {
        if let Some(n) = self.node.get() {
            return Ok(n);
        }
        let mut bin = MaybeUninit::<ErlNifBinary>::uninit();
        // SAFETY: on success the binary is ours and released below.
        let n = unsafe {
            if enif_term_to_binary(self.env.as_c_arg(), from_raw(self.caller), bin.as_mut_ptr())
                == 0
            {
                return Err(Fail::Unsupported);
            }
            let mut bin = bin.assume_init();
            let ext = std::slice::from_raw_parts(bin.data, bin.size);
            let n = self.node_in_ext(ext);
            enif_release_binary(&mut bin);
            n
        };
        let n = n.ok_or(Fail::Unsupported)?;
        self.node.set(Some(n));
        Ok(n)
    }

    /// The node atom of a pid, port or reference in the external format.
    fn node_in_ext(&self, ext: &[u8]) -> Option<u64> {
        let at = match *ext.get(1)? {
            88 | 103 | 89 | 102 | 120 | 101 => 2,
            90 | 114 => 4,
            _ => return None,
        };
        let len = match *ext.get(at)? {
            100 | 118 => 3 + u16::from_be_bytes(ext.get(at + 1..at + 3)?.try_into().ok()?) as usize,
            115 | 119 => 2 + *ext.get(at + 1)? as usize,
            _ => return None,
        };
        let mut atom = Vec::with_capacity(len + 1);
        atom.push(131);
        atom.extend_from_slice(ext.get(at..at + len)?);
        self.term_from_ext(&atom).map(to_raw)
    }
}

impl<T> Outcome<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::NoMatch => Outcome::NoMatch,
            Outcome::Match(t) => Outcome::Match(f(t)),
            Outcome::Fallback => Outcome::Fallback,
        }
    }
}

/// A head constant (binary or external term) against the term at `b[0]`.
fn const_eq(c: &[u8], b: &[u8]) -> bool {
    equal_at(c, 0, b, 0, Floats::ByBits)
}

fn num_val<'o>(n: Num) -> Val<'o> {
    match n {
        Num::I(i) => Val::Int(i),
        Num::F(f) => Val::Float(f),
    }
}

fn num_arg(v: &Val<'_>) -> R<Num> {
    match v.num() {
        Some(n) => Ok(n),
        None if v.kind() == Kind::BigInt => Err(Fail::Unsupported),
        None => Err(Fail::Error),
    }
}

fn int_arg(v: &Val<'_>) -> R<i64> {
    match *v {
        Val::Int(i) => Ok(i),
        _ if v.kind() == Kind::BigInt => Err(Fail::Unsupported),
        _ => Err(Fail::Error),
    }
}

fn map_arg(v: Val<'_>) -> R<&[u8]> {
    match v {
        Val::Enc(m) if m[0] == MAP => Ok(m),
        _ => Err(Fail::Error),
    }
}

fn list_arg(v: Val<'_>) -> R<&[u8]> {
    match v {
        Val::Enc(l) if l[0] == LIST => Ok(l),
        _ => Err(Fail::Error),
    }
}

fn bits_of(v: Val<'_>) -> R<(usize, &[u8])> {
    match v {
        Val::Enc(b) => bitstring(b).ok_or(Fail::Unsupported),
        _ => Err(Fail::Error),
    }
}
