//! A match-spec engine: ETS match specifications compiled once into a small
//! program that runs directly on stored objects (the owned encoding), so
//! objects that do not match are never copied to a process heap.
//!
//! - `compile`: spec term -> program; refuses what ETS refuses.
//! - `eval`: runs a program on one encoded object.
//! - `value`, `num`: values read from the encoding, term order, arithmetic.
//! - `keeps_key`: the check `select_replace` makes on a spec.
//!
//! Anything the engine does not handle natively (a construct it does not
//! know, an integer beyond 128 bits) is never answered wrongly: the clause or
//! the object is marked `Fallback`, and the Erlang side asks ETS's own engine
//! (`ets:match_spec_run/2`) about it.

mod compile;
pub use compile::{constant_pattern, is_constant_pattern};
mod eval;
pub mod keeps_key;
pub mod num;
pub mod value;

pub use eval::{Outcome, Runner, Want};

use crate::codec::format;
use value::Val;

/// Why a spec did not compile natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsError {
    /// ETS would refuse it too (badarg).
    Invalid,
    /// Valid or not, this engine cannot tell: ask ETS.
    Unsupported,
    /// Compiling it would take the call over its budget (see `crate::work`).
    OverBudget,
}

impl From<crate::codec::encode::EncodeError> for MsError {
    fn from(e: crate::codec::encode::EncodeError) -> MsError {
        match e {
            crate::codec::encode::EncodeError::OverBudget => MsError::OverBudget,
            crate::codec::encode::EncodeError::Unencodable => MsError::Unsupported,
        }
    }
}

/// A constant, kept in the form values are compared in.
#[derive(Debug)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Imm(u64),
    Enc(Box<[u8]>),
}

impl Lit {
    pub fn from_bytes(b: Vec<u8>) -> Lit {
        match Val::of(&b, 0) {
            Val::Int(i) => Lit::Int(i),
            Val::Float(f) => Lit::Float(f),
            Val::Imm(w) => Lit::Imm(w),
            Val::Enc(_) => Lit::Enc(b.into_boxed_slice()),
        }
    }

    #[inline]
    pub fn val(&self) -> Val<'_> {
        match self {
            Lit::Int(i) => Val::Int(*i),
            Lit::Float(f) => Val::Float(*f),
            Lit::Imm(w) => Val::Imm(*w),
            Lit::Enc(b) => Val::Enc(b),
        }
    }
}

/// A head pattern.
#[derive(Debug)]
pub enum Pat {
    /// `'_'`
    Any,
    /// First occurrence of a variable: binds its slot.
    Bind(u16),
    /// A later occurrence: must equal the bound value (`=:=`).
    Check(u16),
    /// An immediate constant (raw word).
    Imm(u64),
    /// A float constant: ETS compares head floats bit for bit.
    Float(u64),
    /// A constant without a layout of its own here (a binary, an
    /// `EXTERNAL` term, or a whole constant below the compiler's depth
    /// limit), encoded: matched as ETS matches constants in a head, floats
    /// bit for bit and binaries by content.
    Const(Box<[u8]>),
    Tuple(Box<[Pat]>),
    /// Cons cells, then the tail pattern (never itself a list pattern).
    List(Box<[Pat]>, Box<Pat>),
    /// A map holding (at least) these keys, with values matching.
    Map(Box<[(Lit, Pat)]>),
}

/// The guard and body functions ETS accepts in table match specs (OTP 25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bif {
    IsAtom,
    IsFloat,
    IsInteger,
    IsList,
    IsNumber,
    IsPid,
    IsPort,
    IsReference,
    IsTuple,
    IsMap,
    IsBinary,
    IsFunction,
    IsRecord,
    IsMapKey,
    MapGet,
    MapSize,
    Abs,
    Element,
    Hd,
    Tl,
    Length,
    Node0,
    Node1,
    Round,
    Size,
    BitSize,
    ByteSize,
    BinaryPart2,
    BinaryPart3,
    Trunc,
    Float,
    Plus1,
    Minus1,
    Plus,
    Minus,
    Times,
    Divide,
    Div,
    Rem,
    Band,
    Bor,
    Bxor,
    Bnot,
    Bsl,
    Bsr,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    ExactEq,
    Ne,
    ExactNe,
    Not,
    Xor,
    And,
    Or,
    SelfPid,
}

impl Bif {
    pub fn is_comparison(self) -> bool {
        use Bif::*;
        matches!(self, Gt | Ge | Lt | Le | Eq | ExactEq | Ne | ExactNe)
    }
}

/// A guard or body expression.
#[derive(Debug)]
pub enum Expr {
    Lit(Lit),
    Var(u16),
    /// `'$_'`
    Whole,
    /// `'$$'`
    AllVars,
    /// `{{...}}`
    Tuple(Box<[Expr]>),
    List(Box<[Expr]>, Box<Expr>),
    /// Keys and values are expressions; a later duplicate key wins.
    Map(Box<[(Expr, Expr)]>),
    Call(Bif, Box<[Expr]>),
    AndAlso(Box<[Expr]>),
    OrElse(Box<[Expr]>),
}

/// The guards and body of a clause.
#[derive(Debug)]
pub struct Program {
    guards: Box<[Expr]>,
    /// The last body expression (the earlier ones cannot change the result).
    body: Expr,
    /// The body is the constant `true` (select_count, select_delete).
    body_true: bool,
    /// Slots of the head's variables in variable-number order, for `'$$'`.
    all_vars: Box<[u16]>,
}

#[derive(Debug)]
pub struct Clause {
    /// `None` when the head is not understood: every object falls back.
    head: Option<Pat>,
    /// `None` when guards or body are not understood: a match falls back.
    prog: Option<Program>,
    slots: usize,
}

#[derive(Debug)]
pub struct MatchSpec {
    clauses: Box<[Clause]>,
    /// The spec as given, encoded, for ETS to run objects that fall back
    /// (kept by specs that outlive the call: see `with_source`).
    source: Option<Box<[u8]>>,
}

impl MatchSpec {
    /// Compiles a spec. Strict mode refuses anything not fully understood
    /// (`Unsupported`) or invalid; lenient mode is for specs ETS has already
    /// accepted, and marks the clauses it does not understand for fallback.
    pub fn compile(spec: rustler::Term<'_>, lenient: bool) -> Result<MatchSpec, MsError> {
        compile::compile(spec, lenient)
    }

    /// Keeps an encoded copy of the spec it was compiled from.
    pub fn with_source(mut self, spec: rustler::Term<'_>) -> Result<MatchSpec, MsError> {
        self.source = Some(compile::encode(spec)?.into_boxed_slice());
        Ok(self)
    }

    /// Puts `pat` as the key pattern (element `keypos`) of clause `clause`'s
    /// head: the spec cache's way of reusing a compiled spec for another
    /// key. False (changing nothing) when that clause's head is not a tuple
    /// of at least `keypos` elements.
    pub fn set_key_pattern(&mut self, clause: usize, keypos: usize, pat: Pat) -> bool {
        let Some(c) = self.clauses.get_mut(clause) else {
            return false;
        };
        match &mut c.head {
            Some(Pat::Tuple(es)) if keypos >= 1 && es.len() >= keypos => {
                es[keypos - 1] = pat;
                true
            }
            _ => false,
        }
    }

    /// The spec it was compiled from, encoded (when kept).
    pub fn source(&self) -> Option<&[u8]> {
        self.source.as_deref()
    }

    /// Whether every clause runs natively (no object can fall back for a
    /// construct the engine does not know).
    pub fn is_native(&self) -> bool {
        self.clauses
            .iter()
            .all(|c| c.head.is_some() && c.prog.is_some())
    }

    /// Every body is `true`: the spec is a filter, as select_count and
    /// select_delete use it.
    pub fn is_count_spec(&self) -> bool {
        self.clauses
            .iter()
            .all(|c| c.prog.as_ref().is_some_and(|p| p.body_true))
    }

    pub fn is_delete_spec(&self) -> bool {
        self.is_count_spec()
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Runs the spec on one encoded object for the calling process (a
    /// scan over many objects should make one `Runner` and reuse it).
    pub fn run<'a>(&self, env: rustler::Env<'a>, obj: &[u8]) -> Outcome<rustler::Term<'a>> {
        use rustler::Encoder;
        Runner::new(env, env.pid().encode(env)).run(self, obj)
    }

    /// When every clause's head fixes the key at `keypos` (holds no
    /// variable or `'_'`), calls `f` on each such key (canonical: `-0.0` as
    /// `0.0`; each key once) and returns true: as in ETS, only objects with
    /// those keys are candidates. Returns false (calling nothing) when some
    /// clause leaves the key open. Clauses whose head cannot match a table
    /// object (not a tuple, or too short) add no key.
    pub fn each_bound_key(&self, keypos: usize, mut f: impl FnMut(&[u8])) -> bool {
        fn key_of(c: &Clause, keypos: usize) -> Result<Option<&Pat>, ()> {
            match c.head.as_ref() {
                Some(Pat::Tuple(es)) if es.len() >= keypos => {
                    let k = &es[keypos - 1];
                    compile::var_free(k).then_some(Some(k)).ok_or(())
                }
                None | Some(Pat::Any | Pat::Bind(_) | Pat::Check(_)) => Err(()),
                Some(_) => Ok(None),
            }
        }
        if self.clauses.iter().any(|c| key_of(c, keypos).is_err()) {
            return false;
        }
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut k = Vec::new();
        for c in self.clauses.iter() {
            let Ok(Some(key)) = key_of(c, keypos) else {
                continue;
            };
            if let (Pat::Imm(w), 1) = (key, self.clauses.len()) {
                // The usual key (an atom or a small integer), without allocating.
                let mut b = [0u8; 9];
                b[0] = format::IMMEDIATE;
                b[1..].copy_from_slice(&w.to_le_bytes());
                f(&b);
                continue;
            }
            k.clear();
            write_pat(key, &mut k);
            format::normalise_neg_zero(&mut k);
            if self.clauses.len() > 1 {
                if seen.contains(&k) {
                    continue;
                }
                seen.push(k.clone());
            }
            f(&k);
        }
        true
    }
}

/// Encodes a variable-free pattern as the term it matches (canonically, as
/// the codec encodes keys).
fn write_pat(p: &Pat, out: &mut Vec<u8>) {
    match p {
        Pat::Imm(w) => value::write_val(out, Val::Imm(*w)),
        Pat::Float(bits) => value::write_val(out, Val::Float(f64::from_bits(*bits))),
        Pat::Const(b) => out.extend_from_slice(b),
        Pat::Tuple(es) => {
            out.push(format::TUPLE);
            format::put_varint(out, es.len());
            es.iter().for_each(|e| write_pat(e, out));
        }
        Pat::List(es, tail) => {
            out.push(format::LIST);
            format::put_varint(out, es.len());
            es.iter().for_each(|e| write_pat(e, out));
            write_pat(tail, out);
        }
        Pat::Map(kvs) => {
            out.push(format::MAP);
            format::put_varint(out, kvs.len());
            for (k, v) in kvs.iter() {
                value::write_val(out, k.val());
                write_pat(v, out);
            }
        }
        Pat::Any | Pat::Bind(_) | Pat::Check(_) => unreachable!("a variable-free pattern"),
    }
}
