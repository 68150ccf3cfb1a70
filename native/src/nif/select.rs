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
use crate::codec::encode::EncodeError;
use crate::codec::terms_equal;
use crate::ms::{keeps_key::keeps_key, MatchSpec, MsError, Outcome, Runner};
use crate::table::ordered_store::SortKey;
use crate::table::partition::{Edit, Removed};
use crate::table::Kind;
use rustler::Atom;
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

/// Objects a `select/3` chunk call examines at most.
const CHUNK_BUDGET: usize = 4_000;
/// Elements `match_spec_run/2` handles per call.
const RUN_BUDGET: usize = 1_000;

/// A compiled match spec, as the term `match_spec_compile/1` returns.
pub struct CompiledMs(pub MatchSpec);

impl Kept for CompiledMs {
    const NAME: &'static str = "shards_compiled_ms";
    crate::kept_slot!();
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
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
    Compiled(Handle<CompiledMs>),
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
    fn into_arc(self, spec: Term<'_>) -> Res<Handle<CompiledMs>> {
        let fresh = match self {
            Ms::Compiled(r) => return Ok(r),
            Ms::Fresh(m) => m,
            Ms::Lent(_) => MatchSpec::compile(spec, false).map_err(ms_fail)?,
        };
        Ok(Handle::new(CompiledMs(
            fresh.with_source(spec).map_err(ms_fail)?,
        )))
    }
}

/// A spec the engine refused (or, over budget, could not finish).
fn ms_fail(e: MsError) -> Fail {
    match e {
        MsError::OverBudget => Fail::Dirty,
        MsError::Invalid | MsError::Unsupported => Fail::BadArg,
    }
}

/// A spec term, or `{$shards_ms, CompiledMs}` from the Erlang side's own
/// calls (a compiled spec passed by a user is not a spec, as for ETS), for
/// a table of key position `keypos`. `None` when the spec must first be
/// checked by ETS (`$shards_verify`).
fn ms_arg(t: Term<'_>, keypos: usize) -> Res<Option<Ms>> {
    if t.is_tuple() {
        if let Ok((tag, r)) = t.decode::<(Atom, Term)>() {
            if tag == atoms::compiled() {
                if let Some(r) = Handle::<CompiledMs>::from_term(r) {
                    return Ok(Some(Ms::Compiled(r)));
                }
            }
        }
    }
    let admit = match spec_cache::lookup(t, keypos) {
        Ok(Cached::Shared(r)) => return Ok(Some(Ms::Compiled(r))),
        Ok(Cached::Lent(l)) => return Ok(Some(Ms::Lent(l))),
        Err(admit) => admit,
    };
    let ms = match MatchSpec::compile(t, false) {
        Ok(ms) => ms,
        Err(MsError::OverBudget) => return Err(Fail::Dirty),
        Err(_) => return Ok(None),
    };
    Ok(Some(match admit {
        Some(sig) => match spec_cache::insert(sig, t, keypos, ms) {
            Some(Cached::Shared(r)) => Ms::Compiled(r),
            Some(Cached::Lent(l)) => Ms::Lent(l),
            None => Ms::Fresh(MatchSpec::compile(t, false).map_err(ms_fail)?),
        },
        None => Ms::Fresh(ms),
    }))
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

/// Objects a whole query may scan on a normal scheduler: a bigger table is
/// scanned by `select_job` on dirty schedulers.
const SCAN_IN_CALL: usize = 2_000;

/// `select_all(Op, Tab, Spec)`: a whole query (select/2, select_count/2,
/// select_delete/2, select_replace/2). Replies `{Results, Fallbacks}`,
/// `$shards_verify` (let ETS check the spec first), or `{$shards_dirty,
/// Grant}`: a scan on dirty schedulers, by `select_job(Grant)` calls.
fn select_all<'a>(env: Env<'a>, [op, t, spec]: [Term<'a>; 3]) -> Res<Term<'a>> {
    let op = Op::parse(op.decode()?)?;
    let tab = resolve(t)?;
    check_access(env, &tab, op.access())?;
    if op == Op::Replace && tab.kind == Kind::Bag {
        return Err(cause(atoms::table_type())); // whatever the spec
    }
    let Some(ms) = ms_arg(spec, tab.keypos)? else {
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
    if tab.size() > SCAN_IN_CALL || !crate::work::affords(tab.memory() / OUTPUT_BYTES_PER_UNIT) {
        let grant = ScanGrant {
            table: Handle::from_ref(&*tab),
            op,
            ms: ms.into_arc(spec)?,
            caller: self_pid(env),
            next: AtomicUsize::new(0),
        };
        return Ok((atoms::dirty(), Handle::new(grant)).encode(env));
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
nif!("select_all", 3, select_all);

/// The right to scan one table on behalf of the process that asked: made
/// only by `select_all`, after it checked that process's access, and bound
/// to the table, the operation, the spec and the caller (what `self()`
/// means in the spec). A parallel scan hands it to helper processes; each
/// `select_job` takes the table's locks one at a time from it until none
/// is left, so a worker that gets less CPU takes fewer locks rather than
/// holding the others up.
pub struct ScanGrant {
    table: Handle<Table>,
    op: Op,
    ms: Handle<CompiledMs>,
    caller: u64,
    next: AtomicUsize,
}

impl Kept for ScanGrant {
    const NAME: &'static str = "shards_scan_grant";
    crate::kept_slot!();
}

/// `select_job(Grant)`: one worker of the scan `Grant` allows, on a dirty
/// scheduler. Access is checked again for the grant's caller (the table
/// may have changed hands, or protection, since).
fn select_job<'a>(env: Env<'a>, [grant]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let grant = Handle::<ScanGrant>::borrow(grant).ok_or(Fail::BadArg)?;
    let tab = &grant.table;
    if tab.is_deleted() {
        return Err(cause(super::atoms::id()));
    }
    check_access_of(tab, grant.op.access(), grant.caller)?;
    // SAFETY: the caller's pid is an immediate, valid in every environment.
    let caller = unsafe { Term::new(env, crate::codec::from_raw(grant.caller)) };
    let runner = Runner::new(env, caller);
    let mut acc = Acc::new(env);
    let locks = tab.lock_count();
    if tab.kind == Kind::OrderedSet {
        // One merged pass keeps key order: the first worker takes it all.
        if grant.next.swap(locks, Ordering::Relaxed) == 0 {
            scan(grant.op, env, tab, &grant.ms.0, &runner, 0..locks, &mut acc);
        }
        return Ok(acc.reply(grant.op));
    }
    loop {
        let l = grant.next.fetch_add(1, Ordering::Relaxed);
        if l >= locks {
            break;
        }
        scan(grant.op, env, tab, &grant.ms.0, &runner, l..l + 1, &mut acc);
    }
    Ok(acc.reply(grant.op))
}
nif!("select_job", 1, select_job, DirtyCpu);

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
fn select_chunk<'a>(env: Env<'a>, [t, spec, cursor, want]: [Term<'a>; 4]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    let want = match want.decode::<i64>() {
        Ok(w) if (1..(1 << 59)).contains(&w) => w as usize,
        _ => return Err(Fail::BadArg),
    };
    let Some(ms) = ms_arg(spec, tab.keypos)? else {
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
        .map(|t| t.term(env))
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
    let reply =
        |acc: Acc<'a>, next: Term<'a>, ms: Handle<CompiledMs>| reply(acc, next, ms.encode(env));
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
    let mut budget = ChunkBudget::new();
    while lock < tab.lock_count() {
        let mut stopped = false;
        {
            let part = tab.read(lock);
            traverse::each_prefetched(
                part.iter_from(pos, sub),
                |(_, _, o)| o,
                |(b, i, o)| {
                    if !budget.take(o) {
                        stopped = true;
                        return false;
                    }
                    visit(Op::Select, &ms.0, &runner, o, &mut acc);
                    (pos, sub) = (b, i + 1);
                    stopped = acc.count + acc.n_fallbacks >= want || budget.spent();
                    !stopped
                },
            );
        }
        if stopped {
            budget.progress()?;
            return Ok(reply(acc, (lock, pos, sub).encode(env), ms));
        }
        lock += 1;
        (pos, sub) = (0, 0);
    }
    Ok(reply(acc, eot, ms))
}
nif!("select_chunk", 4, select_chunk);

/// What one chunk call may examine: `CHUNK_BUDGET` objects, and no more
/// work than a normal scheduler affords (see `crate::work`).
struct ChunkBudget {
    objects: usize,
    examined: usize,
    /// An object was refused for lack of work budget.
    refused: bool,
}

impl ChunkBudget {
    fn new() -> ChunkBudget {
        ChunkBudget {
            objects: CHUNK_BUDGET,
            examined: 0,
            refused: false,
        }
    }

    /// Takes the work of examining `o`; false (taking nothing) when the
    /// call cannot afford it.
    fn take(&mut self, o: &Obj) -> bool {
        if self.objects == 0 {
            return false;
        }
        if crate::work::spend(1 + o.bytes().len() / OUTPUT_BYTES_PER_UNIT).is_err() {
            self.refused = true;
            return false;
        }
        self.objects -= 1;
        self.examined += 1;
        true
    }

    fn spent(&self) -> bool {
        self.objects == 0
    }

    /// `Fail::Dirty` when the chunk could not examine even one object (its
    /// first is too big for a normal scheduler).
    fn progress(&self) -> Res<()> {
        if self.refused && self.examined == 0 {
            return Err(Fail::Dirty);
        }
        Ok(())
    }
}

/// A chunk of an ordered_set: from after the sort key `after` (or from the
/// first key), in key order, or from before it (the last key) in reverse
/// key order when `descending`. Returns the results in that order and the
/// next cursor (or `$end_of_table`). A chunk ends at an object left to ETS
/// (the Erlang side puts ETS's results after the others).
fn ordered_chunk<'a>(
    env: Env<'a>,
    tab: &Table,
    ms: &Handle<CompiledMs>,
    runner: &Runner<'a>,
    after: Option<&SortKey>,
    descending: bool,
    want: usize,
) -> Res<(Acc<'a>, Term<'a>)> {
    let mut acc = Acc::new(env);
    let mut budget = ChunkBudget::new();
    let mut stopped_at: Option<SortKey> = None;
    let mut previous: Option<SortKey> = after.cloned();
    traverse::merged_from(tab, after, descending, |k, o| {
        if !budget.take(o) {
            stopped_at = previous.take();
            return false;
        }
        visit(Op::Select, &ms.0, runner, o, &mut acc);
        if acc.count + acc.n_fallbacks >= want || budget.spent() || acc.n_fallbacks > 0 {
            stopped_at = Some(k.clone());
            return false;
        }
        previous = Some(k.clone());
        true
    });
    budget.progress()?;
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
fn ms_compile<'a>(env: Env<'a>, [spec, lenient]: [Term<'a>; 2]) -> Res<Term<'a>> {
    let lenient: bool = lenient.decode()?;
    Ok(
        match MatchSpec::compile(spec, lenient).and_then(|ms| ms.with_source(spec)) {
            Ok(ms) => Handle::new(CompiledMs(ms)).encode(env),
            Err(MsError::Invalid | MsError::Unsupported) => atoms::verify().encode(env),
            Err(MsError::OverBudget) => return Err(Fail::Dirty),
        },
    )
}
nif!("ms_compile", 2, ms_compile);

fn ms_is<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    Ok(Handle::<CompiledMs>::borrow(t).is_some().encode(env))
}
nif!("ms_is", 1, ms_is);

/// The spec a compiled spec was made from.
fn ms_source<'a>(env: Env<'a>, [ms]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let ms = Handle::<CompiledMs>::borrow(ms).ok_or(Fail::BadArg)?;
    let source = ms.0.source().ok_or(Fail::BadArg)?;
    charge_output(1, source.len())?;
    // SAFETY: the source is a valid encoding owned by the compiled spec.
    Ok(unsafe { Term::new(env, decode::whole(env.as_c_arg(), source)) })
}
nif!("ms_source", 1, ms_source);

/// `ms_run(List, CompiledMs)`: `match_spec_run/2` on up to `RUN_BUDGET`
/// elements, fewer when they take more work than a normal scheduler
/// affords. Replies `{Results, Rest}` (results in list order, `Rest` the
/// elements not yet run), or `{$shards_fallback, Results, [Elem | Rest]}`
/// when ETS must run `Elem`.
fn ms_run<'a>(env: Env<'a>, [list, ms]: [Term<'a>; 2]) -> Res<Term<'a>> {
    let ms = Handle::<CompiledMs>::borrow(ms).ok_or(Fail::BadArg)?;
    let runner = Runner::new(env, env.pid().encode(env));
    let mut out = Vec::new();
    let mut cur = list;
    for n in 0..RUN_BUDGET {
        let Ok((head, tail)) = cur.list_get_cell() else {
            break;
        };
        let outcome = with_encoder(env, |enc| {
            enc.term(head.as_c_arg(), false)
                .map(|_| runner.run(&ms.0, &enc.out))
        });
        let done = || out.iter().rev().fold(nil(env), |acc, &t| cons(env, t, acc));
        match outcome {
            Ok(Outcome::Match(t)) => out.push(t),
            Ok(Outcome::NoMatch) => {}
            Err(EncodeError::OverBudget) if n == 0 => return Err(Fail::Dirty),
            Err(EncodeError::OverBudget) => return Ok((done(), cur).encode(env)),
            Ok(Outcome::Fallback) | Err(EncodeError::Unencodable) => {
                return Ok((atoms::fallback(), done(), cur).encode(env));
            }
        }
        cur = tail;
    }
    if !cur.is_list() {
        return Err(Fail::BadArg);
    }
    let done = out.iter().rev().fold(nil(env), |acc, &t| cons(env, t, acc));
    Ok((done, cur).encode(env))
}
nif!("ms_run", 2, ms_run);

/// `replace_object(Tab, Old, New)`: replaces `Old` by `New` (same key) if
/// `Old` is still stored as it was; for objects ETS evaluated on the Erlang
/// side during select_replace.
fn replace_object<'a>(env: Env<'a>, [t, old, new]: [Term<'a>; 3]) -> Res<Term<'a>> {
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
}
nif!("replace_object", 3, replace_object);
