//! The select and match family: match specs (compiled by `crate::ms`) run
//! over a table's stored objects, one lock at a time.
//!
//! - A spec whose heads all fix the key only visits those keys.
//! - Small tables are scanned in the call; for bigger ones the Erlang side
//!   is told to call the dirty-scheduler variant (`$shards_dirty`), on all
//!   locks or, for `{parallel, true}` tables, on ranges in parallel.
//! - `select/3` and `select/1` scan a bounded number of objects per call
//!   from a cursor that the continuation carries: a traversal position,
//!   so that resuming walks nothing again (select_reverse/3 walks an
//!   ordered_set backwards the same way).
//! - Objects the engine cannot judge come back as `Fallbacks`, for the
//!   Erlang side to run through `ets:match_spec_run/2`.

use super::spec_cache::{self, Cached, Lease};
use super::*;
use crate::codec::terms_equal;
use crate::ms::{keeps_key::keeps_key, MatchSpec, MsError, Outcome, Runner};
use crate::table::ordered_store::SortKey;
use crate::table::partition::{Edit, Removed};
use crate::table::Kind;
use rustler::{Atom, LocalPid};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

mod atoms {
    rustler::atoms! {
        select, count, delete, replace, start, reverse, ordered, table_type,
        compiled = "$shards_ms",
        verify = "$shards_verify",
        dirty = "$shards_dirty",
        fallback = "$shards_fallback",
        end_of_table = "$end_of_table",
    }
}

/// Above this many objects a full scan runs on a dirty scheduler.
const DIRTY_SCAN: usize = 2_000;
/// Objects a `select/3` chunk call examines at most.
const CHUNK_BUDGET: usize = 4_000;
/// Elements `match_spec_run/2` handles per call.
const RUN_BUDGET: usize = 1_000;

/// A compiled match spec, as the term `match_spec_compile/1` returns.
pub struct CompiledMs(pub MatchSpec);

#[rustler::resource_impl]
impl rustler::Resource for CompiledMs {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Select,
    Count,
    Delete,
    Replace,
}

impl Op {
    fn parse(a: Atom) -> Res<Op> {
        Ok(if a == atoms::select() {
            Op::Select
        } else if a == atoms::count() {
            Op::Count
        } else if a == atoms::delete() {
            Op::Delete
        } else if a == atoms::replace() {
            Op::Replace
        } else {
            return Err(Fail::BadArg);
        })
    }

    fn access(self) -> Access {
        match self {
            Op::Select | Op::Count => Access::Read,
            Op::Delete | Op::Replace => Access::Write,
        }
    }
}

/// A spec argument: a compiled spec, a spec term compiled here, or one
/// the spec cache lends (see `spec_cache`).
enum Ms {
    Compiled(ResourceArc<CompiledMs>),
    Fresh(MatchSpec),
    Lent(Lease),
}

impl Ms {
    fn spec(&self) -> &MatchSpec {
        match self {
            Ms::Compiled(r) => &r.0,
            Ms::Fresh(m) => m,
            Ms::Lent(l) => l,
        }
    }

    /// As a resource that can outlive the call (keeping the spec it was
    /// compiled from, `spec`, for fallbacks).
    fn into_arc(self, spec: Term<'_>) -> Res<ResourceArc<CompiledMs>> {
        let fresh = match self {
            Ms::Compiled(r) => return Ok(r),
            Ms::Fresh(m) => m,
            Ms::Lent(_) => MatchSpec::compile(spec, false).map_err(|_| Fail::BadArg)?,
        };
        Ok(ResourceArc::new(CompiledMs(
            fresh.with_source(spec).map_err(|_| Fail::BadArg)?,
        )))
    }
}

/// A spec term, or `{$shards_ms, CompiledMs}` from the Erlang side's own
/// calls (a compiled spec passed by a user is not a spec, as for ETS), for
/// a table of key position `keypos`. `None` when the spec must first be
/// checked by ETS (`$shards_verify`).
fn ms_arg(t: Term<'_>, keypos: usize) -> Option<Ms> {
    if t.is_tuple() {
        if let Ok((tag, r)) = t.decode::<(Atom, ResourceArc<CompiledMs>)>() {
            if tag == atoms::compiled() {
                return Some(Ms::Compiled(r));
            }
        }
    }
    let admit = match spec_cache::lookup(t, keypos) {
        Ok(Cached::Shared(r)) => return Some(Ms::Compiled(r)),
        Ok(Cached::Lent(l)) => return Some(Ms::Lent(l)),
        Err(admit) => admit,
    };
    let ms = MatchSpec::compile(t, false).ok()?;
    Some(match admit {
        Some(sig) => match spec_cache::insert(sig, t, keypos, ms) {
            Some(Cached::Shared(r)) => Ms::Compiled(r),
            Some(Cached::Lent(l)) => Ms::Lent(l),
            None => Ms::Fresh(MatchSpec::compile(t, false).ok()?),
        },
        None => Ms::Fresh(ms),
    })
}

/// ETS access rules for the process `pid` (the caller, also when a helper
/// process scans on its behalf).
fn check_access_of(table: &Table, access: Access, pid: u64) -> Res<()> {
    let needs_owner = !matches!(
        (table.protection(), access),
        (Protection::Public, _) | (Protection::Protected, Access::Read)
    );
    if needs_owner && pid != table.owner() {
        return Err(cause(super::atoms::access()));
    }
    Ok(())
}

/// What a scan gathers: results (or a count), and the objects to run
/// through ETS.
struct Acc<'a> {
    env: Env<'a>,
    results: Term<'a>,
    count: usize,
    fallbacks: Term<'a>,
    n_fallbacks: usize,
}

impl<'a> Acc<'a> {
    fn new(env: Env<'a>) -> Acc<'a> {
        // SAFETY: `[]` is an immediate, valid in every environment.
        let nil = unsafe { Term::new(env, crate::codec::from_raw(crate::ms::value::nil_word())) };
        Acc {
            env,
            results: nil,
            count: 0,
            fallbacks: nil,
            n_fallbacks: 0,
        }
    }

    fn push(&mut self, t: Term<'a>) {
        self.results = cons(self.env, t, self.results);
        self.count += 1;
    }

    fn fall_back(&mut self, obj: &Obj) {
        self.fallbacks = cons(self.env, object_term(self.env, obj), self.fallbacks);
        self.n_fallbacks += 1;
    }

    /// `{Results, Fallbacks}`, where Results is a count for all but select.
    fn reply(self, op: Op) -> Term<'a> {
        let r = match op {
            Op::Select => self.results,
            _ => self.count.encode(self.env),
        };
        (r, self.fallbacks).encode(self.env)
    }
}

/// Applies a read-only op (select, count) to one object.
fn visit<'a>(op: Op, ms: &MatchSpec, run: &Runner<'a>, obj: &Obj, acc: &mut Acc<'a>) {
    if op == Op::Select {
        match run.run(ms, obj.bytes()) {
            Outcome::Match(t) => acc.push(t),
            Outcome::NoMatch => {}
            Outcome::Fallback => acc.fall_back(obj),
        }
    } else {
        match run.test(ms, obj.bytes()) {
            Outcome::Match(()) => acc.count += 1,
            Outcome::NoMatch => {}
            Outcome::Fallback => acc.fall_back(obj),
        }
    }
}

/// Decides the fate of one object for select_delete / select_replace.
fn edit_one<'a>(
    op: Op,
    env: Env<'a>,
    tab: &Table,
    ms: &MatchSpec,
    run: &Runner<'a>,
    obj: &Obj,
    acc: &mut Acc<'a>,
) -> Edit {
    if op == Op::Delete {
        return match run.test(ms, obj.bytes()) {
            Outcome::Match(()) => {
                acc.count += 1;
                Edit::Remove
            }
            Outcome::NoMatch => Edit::Keep,
            Outcome::Fallback => {
                acc.fall_back(obj);
                Edit::Keep
            }
        };
    }
    match run.run(ms, obj.bytes()) {
        Outcome::Match(t) => match replacement(env, tab, obj, t) {
            Some(new) => {
                acc.count += 1;
                new
            }
            None => Edit::Keep,
        },
        Outcome::NoMatch => Edit::Keep,
        Outcome::Fallback => {
            acc.fall_back(obj);
            Edit::Keep
        }
    }
}

/// The object replacing `old` with the body's value `t`; `None` if it
/// would change the key (the spec check makes that impossible, but a key
/// is never changed here whatever happens).
fn replacement(env: Env<'_>, tab: &Table, old: &Obj, t: Term<'_>) -> Option<Edit> {
    let keypos = tab.keypos;
    let new = encode_object(env, t, tab).ok()?;
    if new.obj.bytes() == old.bytes() {
        return Some(Edit::Keep);
    }
    let same_key =
        old.with_canonical_key(keypos, |a| new.obj.with_canonical_key(keypos, |b| a == b));
    same_key.then_some(Edit::Replace(new.obj))
}

/// Runs `op` over the objects of `locks`.
fn scan<'a>(
    op: Op,
    env: Env<'a>,
    tab: &Table,
    ms: &MatchSpec,
    run: &Runner<'a>,
    locks: Range<usize>,
    acc: &mut Acc<'a>,
) {
    if tab.kind == Kind::OrderedSet && op == Op::Select {
        // Greatest key first: consing the results leaves them in key order
        // (ordered tables are never split into lock ranges). Only what
        // matches, or is left to ETS, is merged across stores.
        traverse::merged_kept(
            tab,
            true,
            |o| match run.run(ms, o.bytes()) {
                Outcome::NoMatch => None,
                outcome => Some(outcome),
            },
            |outcome, o| match outcome {
                Outcome::Match(t) => acc.push(t),
                _ => acc.fall_back(o),
            },
        );
        return;
    }
    for l in locks {
        match op {
            Op::Select | Op::Count => {
                let part = tab.read(l);
                traverse::each_prefetched(
                    part.iter(),
                    |o| o,
                    |o| {
                        visit(op, ms, run, o, acc);
                        true
                    },
                );
            }
            Op::Delete | Op::Replace => {
                let garbage = tab
                    .write(l)
                    .edit(tab.keypos, |o| edit_one(op, env, tab, ms, run, o, acc));
                drop(garbage); // after the lock is released
            }
        }
    }
}

/// The locks that may hold `hash`: its partition's, or one per partition
/// when a keyslot fun places keys.
fn locks_of(tab: &Table, hash: u64) -> impl Iterator<Item = usize> + '_ {
    let parts = if tab.has_keyslot_fun {
        0..tab.partition_count()
    } else {
        let p = tab.partition_of(hash);
        p..p + 1
    };
    parts.map(move |p| tab.lock_of(p, hash))
}

/// Runs `op` on the objects with the keys every head fixes, if they do;
/// false when a scan is needed. An ordered_set's results come in key order,
/// or in reverse key order when `reverse`.
fn by_keys<'a>(
    op: Op,
    env: Env<'a>,
    tab: &Table,
    ms: &MatchSpec,
    run: &Runner<'a>,
    acc: &mut Acc<'a>,
    reverse: bool,
) -> Res<bool> {
    let keypos = tab.keypos;
    // Most specs fix one key: it needs no vector.
    let mut first: Option<Key> = None;
    let mut more: Vec<Key> = Vec::new();
    let mut failed = None;
    let bound = ms.each_bound_key(keypos, |k| match key_of_canonical(env, tab, k) {
        Ok(key) if first.is_none() => first = Some(key),
        Ok(key) => more.push(key),
        Err(e) => failed = failed.take().or(Some(e)),
    });
    if !bound {
        return Ok(false);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if tab.kind == Kind::OrderedSet && !more.is_empty() {
        // Greatest first (results are consed; smallest first for reverse
        // order), each key once (1 and 1.0 are one ordered_set key).
        more.extend(first.take());
        if reverse {
            more.sort_by(|a, b| a.bytes().cmp(b.bytes()));
        } else {
            more.sort_by(|a, b| b.bytes().cmp(a.bytes()));
        }
        more.dedup_by(|a, b| a.bytes() == b.bytes());
    }
    for k in first.iter().chain(more.iter()) {
        for l in locks_of(tab, k.hash) {
            match op {
                Op::Select | Op::Count => {
                    let part = tab.read(l);
                    for o in part.lookup(keypos, k.hash, k.bytes()).iter() {
                        visit(op, ms, run, o, acc);
                    }
                }
                Op::Delete | Op::Replace if tab.kind.is_bag() => {
                    let key = k.bytes();
                    let garbage = tab.write(l).edit(keypos, |o| {
                        if o.has_key(keypos, key) {
                            edit_one(op, env, tab, ms, run, o, acc)
                        } else {
                            Edit::Keep
                        }
                    });
                    drop(garbage);
                }
                Op::Delete | Op::Replace => {
                    let mut part = tab.write(l);
                    let found = part.lookup(keypos, k.hash, k.bytes());
                    let Some(o) = found.first() else {
                        continue;
                    };
                    let old = match edit_one(op, env, tab, ms, run, o, acc) {
                        Edit::Keep => Removed::None,
                        Edit::Remove => part.remove(keypos, k.hash, k.bytes()),
                        Edit::Replace(new) => part.put(keypos, k.hash, k.sort_key(tab), new).into(),
                    };
                    drop(part);
                    drop(old);
                }
            }
        }
    }
    Ok(true)
}

/// select_replace's check: every clause keeps the key (else badarg).
fn check_replace<'a>(env: Env<'a>, spec: Term<'a>, ms: &MatchSpec, keypos: usize) -> Res<()> {
    let spec = if spec.is_list() {
        spec
    } else {
        // A compiled spec: check the spec it was compiled from.
        let source = ms.source().ok_or(Fail::BadArg)?;
        // SAFETY: the source is a valid encoding owned by `ms`.
        unsafe { Term::new(env, decode::whole(env.as_c_arg(), source)) }
    };
    for clause in list_terms(spec)? {
        let parts = rustler::types::tuple::get_tuple(clause)?;
        let [head, _, body] = parts[..] else {
            return Err(Fail::BadArg);
        };
        if !keeps_key(keypos, head, body) {
            return Err(Fail::BadArg);
        }
    }
    Ok(())
}

/// `select_all(Op, Tab, Spec)`: a whole query (select/2, select_count/2,
/// select_delete/2, select_replace/2). Replies `{Results, Fallbacks}`,
/// `$shards_verify` (let ETS check the spec first), or `{$shards_dirty,
/// CompiledMs, Locks}` (scan on dirty schedulers).
fn select_all<'a>(env: Env<'a>, [op, t, spec]: [Term<'a>; 3]) -> Res<Term<'a>> {
    let op = Op::parse(op.decode()?)?;
    let tab = resolve(t)?;
    check_access(env, &tab, op.access())?;
    if op == Op::Replace && tab.kind == Kind::Bag {
        return Err(cause(atoms::table_type())); // whatever the spec
    }
    let Some(ms) = ms_arg(spec, tab.keypos) else {
        return Ok(atoms::verify().encode(env));
    };
    if op == Op::Replace {
        check_replace(env, spec, ms.spec(), tab.keypos)?;
    }
    let runner = Runner::new(env, env.pid().encode(env));
    let mut acc = Acc::new(env);
    if by_keys(op, env, &tab, ms.spec(), &runner, &mut acc, false)? {
        return Ok(acc.reply(op));
    }
    if tab.size() > DIRTY_SCAN {
        let arc = ms.into_arc(spec)?;
        return Ok((atoms::dirty(), arc, tab.lock_count()).encode(env));
    }
    scan(
        op,
        env,
        &tab,
        ms.spec(),
        &runner,
        0..tab.lock_count(),
        &mut acc,
    );
    Ok(acc.reply(op))
}

hot_nif!("select_all", 3, select_all);

/// What a scan on a dirty scheduler starts from: the operation, the table
/// (with `caller`'s access rights checked), and a spec runner for which
/// `self()` is `caller`.
fn for_caller<'a>(
    env: Env<'a>,
    op: Atom,
    t: Term<'a>,
    caller: LocalPid,
) -> Res<(Op, Tab<'a>, Runner<'a>)> {
    let op = Op::parse(op)?;
    let tab = resolve(t)?;
    let caller = caller.encode(env);
    check_access_of(&tab, op.access(), crate::codec::to_raw(caller.as_c_arg()))?;
    Ok((op, tab, Runner::new(env, caller)))
}

/// `select_dirty(Op, Tab, CompiledMs, From, To, Caller)`: the scan of locks
/// `From..To` on a dirty scheduler, on behalf of `Caller` (what `self()`
/// means in the spec, and whose access rights count).
#[rustler::nif(schedule = "DirtyCpu")]
fn select_dirty<'a>(
    env: Env<'a>,
    op: Atom,
    t: Term<'a>,
    ms: ResourceArc<CompiledMs>,
    from: usize,
    to: usize,
    caller: LocalPid,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let (op, tab, runner) = for_caller(env, op, t, caller)?;
        let mut acc = Acc::new(env);
        let to = to.min(tab.lock_count());
        scan(op, env, &tab, &ms.0, &runner, from.min(to)..to, &mut acc);
        Ok(acc.reply(op))
    })
}

/// The locks of a parallel scan, handed out one at a time to whichever
/// worker asks next: a worker that gets less CPU (or starts late) takes
/// fewer locks, instead of leaving the others waiting for its fixed share.
pub struct ScanJob {
    next: AtomicUsize,
}

#[rustler::resource_impl]
impl rustler::Resource for ScanJob {}

/// `scan_job()`: a fresh job, from lock 0.
#[rustler::nif]
fn scan_job() -> ResourceArc<ScanJob> {
    ResourceArc::new(ScanJob {
        next: AtomicUsize::new(0),
    })
}

/// `select_job(Op, Tab, CompiledMs, Job, Caller)`: one worker of a parallel
/// scan, on a dirty scheduler: scans the locks it claims from `Job` until
/// none is left, on behalf of `Caller` (as `select_dirty`).
#[rustler::nif(schedule = "DirtyCpu")]
fn select_job<'a>(
    env: Env<'a>,
    op: Atom,
    t: Term<'a>,
    ms: ResourceArc<CompiledMs>,
    job: ResourceArc<ScanJob>,
    caller: LocalPid,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let (op, tab, runner) = for_caller(env, op, t, caller)?;
        let mut acc = Acc::new(env);
        loop {
            let l = job.next.fetch_add(1, Ordering::Relaxed);
            if l >= tab.lock_count() {
                break;
            }
            scan(op, env, &tab, &ms.0, &runner, l..l + 1, &mut acc);
        }
        Ok(acc.reply(op))
    })
}

/// `select_chunk(Tab, Spec, Cursor, Want)`: up to `Want` results (matches
/// plus fallbacks) from `Cursor`, examining a bounded number of objects.
/// Cursors: `start`; `reverse` (an ordered_set from its greatest key, for
/// select_reverse/3); `{Lock, Pos, Sub}` (a hashed table's traversal
/// position: resuming there walks nothing again); `{ordered | reverse,
/// SortKey}` (an ordered_set after or before that key). Replies `{Results,
/// Count, Fallbacks, Next, CompiledMs, TableId}` with `Next` a cursor or
/// `$end_of_table` (TableId names this very table in continuations,
/// whatever its name becomes; CompiledMs is `$end_of_table` too when the
/// chunk is the last and needs no ETS), or `$shards_verify`.
#[rustler::nif]
fn select_chunk<'a>(
    env: Env<'a>,
    t: Term<'a>,
    spec: Term<'a>,
    cursor: Term<'a>,
    want: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        check_access(env, &tab, Access::Read)?;
        let want = match want.decode::<i64>() {
            Ok(w) if (1..(1 << 59)).contains(&w) => w as usize,
            _ => return Err(Fail::BadArg),
        };
        let Some(ms) = ms_arg(spec, tab.keypos) else {
            return Ok(atoms::verify().encode(env));
        };
        let runner = Runner::new(env, env.pid().encode(env));
        let mut acc = Acc::new(env);
        let (start, reverse) = match cursor.decode::<Atom>() {
            Ok(a) if a == atoms::start() => (true, false),
            Ok(a) if a == atoms::reverse() => (true, true),
            _ => (false, false),
        };
        let eot = atoms::end_of_table().encode(env);
        let id = registry::by_id(tab.id)
            .map(|t| t.encode(env))
            .ok_or(cause(super::atoms::id()))?;
        let reply = |acc: Acc<'a>, next: Term<'a>, ms: Term<'a>| {
            (acc.results, acc.count, acc.fallbacks, next, ms, id).encode(env)
        };
        if start && by_keys(Op::Select, env, &tab, ms.spec(), &runner, &mut acc, reverse)? {
            if acc.n_fallbacks == 0 && acc.count <= want {
                // One chunk and no continuation: the Erlang side has no use
                // for a compiled spec (a cached one need not be compiled again).
                return Ok(reply(acc, eot, eot));
            }
            let ms = ms.into_arc(spec)?.encode(env);
            return Ok(reply(acc, eot, ms));
        }
        let ms = ms.into_arc(spec)?;
        let reply = |acc: Acc<'a>, next: Term<'a>, ms: ResourceArc<CompiledMs>| {
            reply(acc, next, ms.encode(env))
        };
        if tab.kind == Kind::OrderedSet {
            let from = if start {
                None
            } else {
                let (tag, bytes): (Atom, rustler::Binary) = cursor.decode()?;
                let descending = if tag == atoms::ordered() {
                    false
                } else if tag == atoms::reverse() {
                    true
                } else {
                    return Err(Fail::BadArg);
                };
                Some((SortKey::new(bytes.as_slice()), descending))
            };
            let descending = from.as_ref().map_or(reverse, |f| f.1);
            let after = from.as_ref().map(|f| &f.0);
            return ordered_chunk(env, &tab, &ms, &runner, after, descending, want)
                .map(|(acc, next)| reply(acc, next, ms));
        }
        let (mut lock, mut pos, mut sub) = if start {
            (0, 0, 0)
        } else {
            cursor.decode::<(usize, usize, usize)>()?
        };
        let mut budget = CHUNK_BUDGET;
        while lock < tab.lock_count() {
            let mut stopped = false;
            {
                let part = tab.read(lock);
                traverse::each_prefetched(
                    part.iter_from(pos, sub),
                    |(_, _, o)| o,
                    |(b, i, o)| {
                        visit(Op::Select, &ms.0, &runner, o, &mut acc);
                        (pos, sub) = (b, i + 1);
                        budget = budget.saturating_sub(1);
                        stopped = acc.count + acc.n_fallbacks >= want || budget == 0;
                        !stopped
                    },
                );
            }
            if stopped {
                return Ok(reply(acc, (lock, pos, sub).encode(env), ms));
            }
            lock += 1;
            (pos, sub) = (0, 0);
        }
        Ok(reply(acc, eot, ms))
    })
}

/// A chunk of an ordered_set: from after the sort key `after` (or from the
/// first key), in key order, or from before it (the last key) in reverse
/// key order when `descending`. Returns the results in that order and the
/// next cursor (or `$end_of_table`). A chunk ends at an object left to ETS
/// (the Erlang side puts ETS's results after the others).
fn ordered_chunk<'a>(
    env: Env<'a>,
    tab: &Table,
    ms: &ResourceArc<CompiledMs>,
    runner: &Runner<'a>,
    after: Option<&SortKey>,
    descending: bool,
    want: usize,
) -> Res<(Acc<'a>, Term<'a>)> {
    let mut acc = Acc::new(env);
    let mut budget = CHUNK_BUDGET;
    let mut stopped_at: Option<SortKey> = None;
    traverse::merged_from(tab, after, descending, |k, o| {
        visit(Op::Select, &ms.0, runner, o, &mut acc);
        budget = budget.saturating_sub(1);
        if acc.count + acc.n_fallbacks >= want || budget == 0 || acc.n_fallbacks > 0 {
            stopped_at = Some(k.clone());
            return false;
        }
        true
    });
    // Results were consed in traversal order: put them back in it.
    let results = list_terms(acc.results)?;
    acc.results = results.into_iter().fold(nil(env), |l, t| cons(env, t, l));
    let next = match stopped_at {
        None => atoms::end_of_table().encode(env),
        Some(k) => {
            let bytes = k.to_bytes();
            let mut bin = rustler::OwnedBinary::new(bytes.len());
            bin.as_mut_slice().copy_from_slice(&bytes);
            let tag = if descending {
                atoms::reverse()
            } else {
                atoms::ordered()
            };
            (tag, bin.release(env)).encode(env)
        }
    };
    Ok((acc, next))
}

/// `ms_compile(Spec, Lenient)`: a compiled spec, or `$shards_verify` when
/// ETS must judge the spec first (then `Lenient = true` compiles what it can
/// and leaves the rest to ETS).
#[rustler::nif]
fn ms_compile<'a>(env: Env<'a>, spec: Term<'a>, lenient: bool) -> rustler::NifResult<Term<'a>> {
    Ok(
        match MatchSpec::compile(spec, lenient).and_then(|ms| ms.with_source(spec)) {
            Ok(ms) => ResourceArc::new(CompiledMs(ms)).encode(env),
            Err(MsError::Invalid | MsError::Unsupported) => atoms::verify().encode(env),
        },
    )
}

#[rustler::nif]
fn ms_is(t: Term<'_>) -> bool {
    t.decode::<ResourceArc<CompiledMs>>().is_ok()
}

/// The spec a compiled spec was made from.
#[rustler::nif]
fn ms_source<'a>(env: Env<'a>, ms: ResourceArc<CompiledMs>) -> rustler::NifResult<Term<'a>> {
    let source = ms.0.source().ok_or(rustler::Error::BadArg)?;
    // SAFETY: the source is a valid encoding owned by the compiled spec.
    Ok(unsafe { Term::new(env, decode::whole(env.as_c_arg(), source)) })
}

/// `ms_run(List, CompiledMs)`: `match_spec_run/2` on up to `RUN_BUDGET`
/// elements. Replies `{Results, Rest}` (results in list order, `Rest` the
/// elements not yet run), or `{$shards_fallback, Results, [Elem | Rest]}`
/// when ETS must run `Elem`.
#[rustler::nif]
fn ms_run<'a>(
    env: Env<'a>,
    list: Term<'a>,
    ms: ResourceArc<CompiledMs>,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let runner = Runner::new(env, env.pid().encode(env));
        let mut out = Vec::new();
        let mut cur = list;
        for _ in 0..RUN_BUDGET {
            let Ok((head, tail)) = cur.list_get_cell() else {
                break;
            };
            let outcome = with_encoder(env, |enc| {
                enc.term(head.as_c_arg(), false)
                    .map(|_| runner.run(&ms.0, &enc.out))
            });
            match outcome {
                Ok(Outcome::Match(t)) => out.push(t),
                Ok(Outcome::NoMatch) => {}
                Ok(Outcome::Fallback) | Err(_) => {
                    let done = out.iter().rev().fold(nil(env), |acc, &t| cons(env, t, acc));
                    return Ok((atoms::fallback(), done, cur).encode(env));
                }
            }
            cur = tail;
        }
        if !cur.is_list() {
            return Err(Fail::BadArg);
        }
        let done = out.iter().rev().fold(nil(env), |acc, &t| cons(env, t, acc));
        Ok((done, cur).encode(env))
    })
}

/// `replace_object(Tab, Old, New)`: replaces `Old` by `New` (same key) if
/// `Old` is still stored as it was; for objects ETS evaluated on the Erlang
/// side during select_replace.
#[rustler::nif]
fn replace_object<'a>(
    env: Env<'a>,
    t: Term<'a>,
    old: Term<'a>,
    new: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        check_access(env, &tab, Access::Write)?;
        let keypos = tab.keypos;
        let old = encode_object(env, old, &tab)?;
        let new = encode_object(env, new, &tab)?;
        let same_key = old
            .obj
            .with_canonical_key(keypos, |a| new.obj.with_canonical_key(keypos, |b| a == b));
        if !same_key {
            return Err(Fail::BadArg);
        }
        let mut new_obj = Some(new.obj);
        let mut garbage = Vec::new();
        old.with_key(keypos, |key| {
            for l in locks_of(&tab, old.hash) {
                let mut part = tab.write(l);
                if tab.kind.is_bag() {
                    // The first stored copy equal to `old`, in place.
                    garbage = part.edit(keypos, |o| match &new_obj {
                        Some(_) if terms_equal(o.bytes(), old.obj.bytes()) => {
                            Edit::Replace(new_obj.take().expect("replaced once"))
                        }
                        _ => Edit::Keep,
                    });
                } else {
                    let found = part.lookup(keypos, old.hash, key);
                    let current = found.first();
                    if current.is_some_and(|c| terms_equal(c.bytes(), old.obj.bytes())) {
                        let obj = new_obj.take().expect("replaced once");
                        garbage.extend(part.put(
                            keypos,
                            old.hash,
                            old.sort_key.as_ref().map(Key::bytes),
                            obj,
                        ));
                    }
                }
                if new_obj.is_none() {
                    break;
                }
            }
        });
        let done = new_obj.is_none();
        drop(garbage); // after the lock is released
        Ok(done.encode(env))
    })
}
