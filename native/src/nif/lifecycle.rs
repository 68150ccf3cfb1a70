//! Table life: creation, deletion, ownership (give_away, heir, owner exit),
//! names, info and the original shards' metadata.

use super::*;
use crate::table::{drop_objects, Kind, State};
use rustler::{Atom, LocalPid, Monitor};

pub(super) fn raw(t: Term<'_>) -> u64 {
    crate::codec::to_raw(t.as_c_arg())
}

pub(super) fn term_of<'a>(env: Env<'a>, raw: u64) -> Term<'a> {
    // SAFETY: only immediates (atoms, local pids) are stored as raw words.
    unsafe { Term::new(env, crate::codec::from_raw(raw)) }
}

pub(super) fn encode_value(env: Env<'_>, t: Term<'_>) -> Res<Obj> {
    let mut enc = Encoder::with_buffer(env.as_c_arg(), Vec::new());
    enc.term(t.as_c_arg(), true)?;
    let obj = Obj::new(&enc.out, enc.has_shared(), false);
    enc.take_shared();
    Ok(obj)
}

/// `Heir` is `none` or `{Pid, Data}`. As in ETS, a heir that is not alive
/// when it is set means no heir.
fn parse_heir(env: Env<'_>, heir: Term<'_>) -> Res<Option<(u64, Obj)>> {
    if heir.is_atom() {
        return Ok(None);
    }
    let (pid, data): (LocalPid, Term) = heir.decode()?;
    heir_of(env, pid, data)
}

fn heir_of(env: Env<'_>, pid: LocalPid, data: Term<'_>) -> Res<Option<(u64, Obj)>> {
    if !env.is_process_alive(pid) {
        return Ok(None);
    }
    Ok(Some((raw(pid.encode(env)), encode_value(env, data)?)))
}

/// Monitors `pid` on behalf of the table (its resource receives the
/// `down` callback). Goes through the raw API because rustler's `monitor`
/// refuses the callback environment of `down`, where a heir must be
/// monitored. `None` if the process is not alive.
pub(super) fn monitor(env: Env<'_>, table: &Table, pid: &LocalPid) -> Option<Monitor> {
    let mut mon = std::mem::MaybeUninit::<rustler::sys::ErlNifMonitor>::uninit();
    // SAFETY: `env` is the calling NIF's or callback's environment, `table`
    // is a live table resource (every `Table` lives in one) and `mon` is
    // written on success.
    let r = unsafe {
        rustler::sys::enif_monitor_process(
            env.as_c_arg(),
            table as *const Table as *const std::ffi::c_void,
            pid.as_c_arg(),
            mon.as_mut_ptr(),
        )
    };
    // SAFETY: `enif_monitor_process` returned 0, so it initialised `mon`.
    (r == 0).then(|| Monitor::from_c_arg(unsafe { mon.assume_init() }))
}

pub(super) fn demonitor(env: Env<'_>, table: &Table, mon: &Monitor) {
    // SAFETY: as for `monitor`; demonitoring a fired monitor is harmless.
    unsafe {
        rustler::sys::enif_demonitor_process(
            env.as_c_arg(),
            table as *const Table as *const std::ffi::c_void,
            mon.as_c_arg(),
        );
    }
}

fn parse_kind(t: Term<'_>) -> Res<Kind> {
    let a: Atom = t.decode()?;
    Ok(if a == atoms::set() {
        Kind::Set
    } else if a == atoms::ordered_set() {
        Kind::OrderedSet
    } else if a == atoms::bag() {
        Kind::Bag
    } else if a == atoms::duplicate_bag() {
        Kind::DuplicateBag
    } else {
        return Err(Fail::BadArg);
    })
}

fn kind_atom(k: Kind) -> Atom {
    match k {
        Kind::Set => atoms::set(),
        Kind::OrderedSet => atoms::ordered_set(),
        Kind::Bag => atoms::bag(),
        Kind::DuplicateBag => atoms::duplicate_bag(),
    }
}

/// `new(Name, {KeyPos, Protection, Named, Partitions, Heir, KeyslotFun,
/// ReadConcurrency, WriteConcurrency, Compressed, DecentralizedCounters,
/// Type, Parallel, ParallelTimeout})`, options already validated by the
/// Erlang side.
fn new<'a>(env: Env<'a>, [name, opts]: [Term<'a>; 2]) -> Res<Term<'a>> {
    let name: Atom = name.decode()?;
    let o = rustler::types::tuple::get_tuple(opts)?;
    let [keypos, protection, named, partitions, heir, keyslot, rc, wc, compressed, dc, kind, parallel, parallel_timeout] =
        o[..]
    else {
        return Err(Fail::BadArg);
    };
    let kind = parse_kind(kind)?;
    let keypos: usize = keypos.decode()?;
    let protection = parse_protection(protection)?;
    let named: bool = named.decode()?;
    let partitions: usize = partitions.decode()?;
    if keypos < 1 || partitions < 1 || !is_immediate(parallel_timeout.as_c_arg()) {
        return Err(Fail::BadArg);
    }
    let parallel: bool = parallel.decode()?;
    let state = State {
        name: raw(name.to_term(env)),
        named,
        heir: parse_heir(env, heir)?,
        owner_monitor: None,
        fixers: Vec::new(),
        fixed_since: None,
        meta: Vec::new(),
        keyslot_fun: if keyslot.is_fun() {
            Some(encode_value(env, keyslot)?)
        } else {
            None
        },
        parallel,
        parallel_timeout: raw(parallel_timeout),
        read_concurrency: raw(rc),
        write_concurrency: raw(wc),
        compressed: raw(compressed),
        decentralized_counters: raw(dc),
    };
    let owner = env.pid();
    let table = Handle::new(Table::new(
        registry::next_id(),
        kind,
        keypos,
        protection,
        partitions,
        raw(owner.encode(env)),
        state,
    ));
    if !registry::register(&table, named.then(|| raw(name.to_term(env)))) {
        return Err(cause(atoms::already_exists()));
    }
    let mon = monitor(env, &table, &owner);
    table.state.lock().owner_monitor = mon;
    Ok(if named {
        name.encode(env)
    } else {
        table.term(env)
    })
}
nif!("new", 2, new);

/// Deletes a table: it disappears from the registry at once, later calls
/// through any id get badarg, and its objects are freed off the scheduler
/// when there are many.
pub fn delete_table(env: Option<Env<'_>>, table: &Table) {
    if !table.mark_deleted() {
        return;
    }
    if let Some(env) = env {
        if let Some(mon) = table.state.lock().owner_monitor.take() {
            demonitor(env, table, &mon);
        }
    }
    registry::unregister(table);
    drop_objects(table.take_all());
    let mut state = table.state.lock();
    state.meta.clear();
    state.heir = None;
}

/// The owner exited: hand the table to a live heir, or delete it (ETS rules).
pub fn owner_down(env: Env<'_>, table: &Table, pid: LocalPid) {
    if table.is_deleted() || raw(pid.encode(env)) != table.owner() {
        return;
    }
    let heir = table.state.lock().heir.as_ref().map(|(p, _)| *p);
    if let Some(heir_raw) = heir.filter(|&h| h != table.owner()) {
        if let Ok(heir_pid) = term_of(env, heir_raw).decode::<LocalPid>() {
            if let Some(mon) = monitor(env, table, &heir_pid) {
                table.set_owner(heir_raw);
                let data = {
                    let mut state = table.state.lock();
                    state.owner_monitor = Some(mon);
                    state.heir.as_ref().map(|(_, d)| object_term(env, d))
                };
                let msg = (atoms::ets_transfer(), tab_term(env, table), pid, data);
                let _ = env.send(&heir_pid, msg);
                return;
            }
        }
    }
    table.state.lock().owner_monitor = None;
    delete_table(None, table);
}

fn delete<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Write)?;
    delete_table(Some(env), &tab);
    Ok(atoms::true_().encode(env))
}
nif!("delete", 1, delete);

fn delete_all_objects<'a>(env: Env<'a>, [t]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Write)?;
    drop_objects(tab.take_all());
    Ok(atoms::true_().encode(env))
}
nif!("delete_all_objects", 1, delete_all_objects);

/// Checks in ETS's order: the recipient (a live local pid), the table and
/// write access, ownership (`not_owner`), then a gift to oneself (`owner`).
fn give_away<'a>(env: Env<'a>, [t, to, gift]: [Term<'a>; 3]) -> Res<Term<'a>> {
    // ETS checks the table (existence, access) before the recipient.
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Write)?;
    let to_pid: LocalPid = to.decode()?;
    if !env.is_process_alive(to_pid) {
        return Err(Fail::BadArg);
    }
    if self_pid(env) != tab.owner() {
        return Err(cause(atoms::not_owner()));
    }
    if raw(to) == tab.owner() {
        return Err(cause(atoms::owner()));
    }
    let mon = monitor(env, &tab, &to_pid).ok_or(Fail::BadArg)?;
    let old = tab.state.lock().owner_monitor.replace(mon);
    if let Some(old) = old {
        demonitor(env, &tab, &old);
    }
    tab.set_owner(raw(to));
    let msg = (atoms::ets_transfer(), tab_term(env, &tab), env.pid(), gift);
    let _ = env.send(&to_pid, msg);
    Ok(atoms::true_().encode(env))
}
nif!("give_away", 3, give_away);

enum TableOpt {
    Heir(Option<(u64, Obj)>),
    Protection(Protection),
}

fn parse_table_opt(env: Env<'_>, o: Term<'_>) -> Res<TableOpt> {
    let parts = rustler::types::tuple::get_tuple(o)?;
    let name = parts.first().ok_or(Fail::BadArg)?.atom_to_string()?;
    match (name.as_str(), &parts[1..]) {
        ("heir", [none]) if none.atom_to_string().is_ok_and(|a| a == "none") => {
            Ok(TableOpt::Heir(None))
        }
        ("heir", [pid, data]) => Ok(TableOpt::Heir(heir_of(env, pid.decode()?, *data)?)),
        ("protection", [p]) => Ok(TableOpt::Protection(parse_protection(*p)?)),
        _ => Err(Fail::BadArg),
    }
}

fn parse_protection(p: Term<'_>) -> Res<Protection> {
    match p.atom_to_string()?.as_str() {
        "public" => Ok(Protection::Public),
        "protected" => Ok(Protection::Protected),
        "private" => Ok(Protection::Private),
        _ => Err(Fail::BadArg),
    }
}

/// `setopts(Tab, Opts)`: `{heir, Pid, Data}`, `{heir, none}` and
/// `{protection, P}`, all validated before any is applied; owner only.
fn setopts<'a>(env: Env<'a>, [t, opts]: [Term<'a>; 2]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    let items = if opts.is_list() {
        list_terms(opts)?
    } else {
        vec![opts]
    };
    let parsed = items
        .into_iter()
        .map(|o| parse_table_opt(env, o))
        .collect::<Res<Vec<_>>>()?;
    check_access(env, &tab, Access::Write)?;
    if self_pid(env) != tab.owner() {
        return Err(Fail::BadArg);
    }
    for opt in parsed {
        match opt {
            TableOpt::Heir(h) => tab.state.lock().heir = h,
            TableOpt::Protection(p) => tab.set_protection(p),
        }
    }
    Ok(atoms::true_().encode(env))
}
nif!("setopts", 2, setopts);

fn rename<'a>(env: Env<'a>, [t, name]: [Term<'a>; 2]) -> Res<Term<'a>> {
    // As ets: the table first (id, type, access), then the name
    // (badarg without a cause).
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Write)?;
    let name: Atom = name.decode()?;
    let new = raw(name.to_term(env));
    let (named, old) = {
        let s = tab.state.lock();
        (s.named, s.name)
    };
    if named {
        let handle = registry::by_id(tab.id).ok_or(cause(atoms::id()))?;
        if !registry::rename(&handle, old, new) {
            return Err(Fail::BadArg);
        }
    }
    tab.state.lock().name = new;
    Ok(tab_term(env, &tab))
}
nif!("rename", 2, rename);

/// `info(Tab, Item)`; `undefined` when the table does not exist.
fn info<'a>(env: Env<'a>, [t, item]: [Term<'a>; 2]) -> Res<Term<'a>> {
    // As ets: `undefined` for a table that does not exist (any more),
    // badarg for terms that cannot name a table; the item is checked only
    // after the table (badarg without a cause).
    let tab = match resolve(t) {
        Ok(tab) => tab,
        Err(Fail::Cause(c)) if c == atoms::id() => return Ok(atoms::undefined().encode(env)),
        Err(e) => return Err(e),
    };
    let s = || tab.state.lock();
    let item: Atom = item.decode()?;
    let name = info_item_name(item).ok_or(Fail::BadArg)?;
    let v = match name {
        "id" => registry::by_id(tab.id)
            .map(|h| h.term(env))
            .unwrap_or(atoms::undefined().encode(env)),
        "size" => tab.size().encode(env),
        "memory" => tab.memory().div_ceil(8).encode(env),
        "type" => kind_atom(tab.kind).encode(env),
        "keypos" => tab.keypos.encode(env),
        "protection" => match tab.protection() {
            Protection::Public => atoms::public(),
            Protection::Protected => atoms::protected(),
            Protection::Private => atoms::private(),
        }
        .encode(env),
        "owner" => term_of(env, tab.owner()),
        "heir" => match &s().heir {
            Some((p, _)) => term_of(env, *p),
            None => atoms::none().encode(env),
        },
        "name" => term_of(env, s().name),
        "named_table" => s().named.encode(env),
        "partitions" => tab.partition_count().encode(env),
        "keyslot_fun" => match &s().keyslot_fun {
            Some(f) => object_term(env, f),
            None => atoms::undefined().encode(env),
        },
        "parallel" => s().parallel.encode(env),
        "parallel_timeout" => term_of(env, s().parallel_timeout),
        "read_concurrency" => term_of(env, s().read_concurrency),
        "write_concurrency" => term_of(env, s().write_concurrency),
        "compressed" => term_of(env, s().compressed),
        "decentralized_counters" => term_of(env, s().decentralized_counters),
        "fixed" => (!s().fixers.is_empty()).encode(env),
        "safe_fixed" => super::fixation::info(env, &tab, false),
        "safe_fixed_monotonic_time" => super::fixation::info(env, &tab, true),
        _ => return Err(Fail::BadArg),
    };
    Ok(v)
}
nif!("info", 2, info);

mod info_atoms {
    rustler::atoms! {
        id, size, memory, type_ = "type", keypos, protection, owner, heir, name,
        named_table, partitions, keyslot_fun, parallel, parallel_timeout,
        read_concurrency, write_concurrency, compressed, decentralized_counters,
        fixed, safe_fixed, safe_fixed_monotonic_time,
    }
}

/// The name of an `info/2` item, found by comparing atoms (turning the atom
/// into a string on every call cost as much as a lookup).
fn info_item_name(item: Atom) -> Option<&'static str> {
    use info_atoms::*;
    type Item = (fn() -> Atom, &'static str);
    let items: [Item; 21] = [
        (size, "size"),
        (type_, "type"),
        (keypos, "keypos"),
        (protection, "protection"),
        (memory, "memory"),
        (id, "id"),
        (owner, "owner"),
        (heir, "heir"),
        (name, "name"),
        (named_table, "named_table"),
        (partitions, "partitions"),
        (keyslot_fun, "keyslot_fun"),
        (parallel, "parallel"),
        (parallel_timeout, "parallel_timeout"),
        (read_concurrency, "read_concurrency"),
        (write_concurrency, "write_concurrency"),
        (compressed, "compressed"),
        (decentralized_counters, "decentralized_counters"),
        (fixed, "fixed"),
        (safe_fixed, "safe_fixed"),
        (safe_fixed_monotonic_time, "safe_fixed_monotonic_time"),
    ];
    items.iter().find(|(a, _)| a() == item).map(|&(_, n)| n)
}

fn all<'a>(env: Env<'a>, []: [Term<'a>; 0]) -> Res<Term<'a>> {
    let tabs: Vec<Term<'a>> = registry::all().iter().map(|t| tab_term(env, t)).collect();
    Ok(tabs.encode(env))
}
nif!("all", 0, all);

fn whereis<'a>(env: Env<'a>, [name]: [Term<'a>; 1]) -> Res<Term<'a>> {
    let name: Atom = name.decode()?;
    Ok(match registry::by_name(raw(name.to_term(env))) {
        Some(t) if !t.is_deleted() => t.term(env),
        _ => atoms::undefined().encode(env),
    })
}
nif!("whereis", 1, whereis);

/// `put_meta(Tab, Key, Value)`: the original shards' per-table metadata,
/// written with the table's write access.
fn put_meta<'a>(env: Env<'a>, [t, key, value]: [Term<'a>; 3]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Write)?;
    let k = encode_value(env, key)?;
    let v = encode_value(env, value)?;
    let mut s = tab.state.lock();
    s.meta
        .retain(|(old, _)| !crate::codec::terms_equal(old.bytes(), k.bytes()));
    s.meta.push((k, v));
    Ok(rustler::types::atom::ok().encode(env))
}
nif!("put_meta", 3, put_meta);

/// `get_meta(Tab, Key)`: `[Value]` if set, else `[]`; read access.
fn get_meta<'a>(env: Env<'a>, [t, key]: [Term<'a>; 2]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    let k = encode_value(env, key)?;
    let s = tab.state.lock();
    Ok(
        match s
            .meta
            .iter()
            .find(|(old, _)| crate::codec::terms_equal(old.bytes(), k.bytes()))
        {
            Some((_, v)) => {
                charge_output(1, v.bytes().len())?;
                cons(env, object_term(env, v), nil(env))
            }
            None => nil(env),
        },
    )
}
nif!("get_meta", 2, get_meta);

/// `chunk_stats()`: `{Chunks, Sparse, Sweeping}`, the packed-binary chunks
/// in use, how many are sparse, and whether a sweep runs (for tests).
fn chunk_stats<'a>(env: Env<'a>, []: [Term<'a>; 0]) -> Res<Term<'a>> {
    let (chunks, sparse) = crate::codec::shared_bin::chunk_counts();
    Ok((chunks, sparse, crate::table::sweep::running()).encode(env))
}
nif!("chunk_stats", 0, chunk_stats);

/// `sweep_now()`: one sweep pass over every table, in this call; `true`
/// (for tests).
fn sweep_now<'a>(env: Env<'a>, []: [Term<'a>; 0]) -> Res<Term<'a>> {
    crate::table::sweep::sweep_now();
    Ok(atoms::true_().encode(env))
}
nif!("sweep_now", 0, sweep_now, DirtyCpu);
