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
    enc.term(t.as_c_arg(), true).map_err(|_| Fail::BadArg)?;
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

/// Monitors `pid` on behalf of the table. Goes through the raw API because
/// rustler's `monitor` refuses the callback environment of `down`, where a
/// heir must be monitored. `None` if the process is not alive.
pub(super) fn monitor(env: Env<'_>, table: &ResourceArc<Table>, pid: &LocalPid) -> Option<Monitor> {
    let mut mon = std::mem::MaybeUninit::<rustler::sys::ErlNifMonitor>::uninit();
    // SAFETY: `env` is the calling NIF's or callback's environment, the
    // resource is alive (we hold a reference) and `mon` is written on success.
    let r = unsafe {
        rustler::sys::enif_monitor_process(
            env.as_c_arg(),
            table.as_c_arg(),
            pid.as_c_arg(),
            mon.as_mut_ptr(),
        )
    };
    // SAFETY: `enif_monitor_process` returned 0, so it initialised `mon`.
    (r == 0).then(|| Monitor::from_c_arg(unsafe { mon.assume_init() }))
}

pub(super) fn demonitor(env: Env<'_>, table: &ResourceArc<Table>, mon: &Monitor) {
    // SAFETY: as for `monitor`; demonitoring a fired monitor is harmless.
    unsafe {
        rustler::sys::enif_demonitor_process(env.as_c_arg(), table.as_c_arg(), mon.as_c_arg());
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
/// Type})`,
/// options already validated by the Erlang side.
#[rustler::nif]
fn new<'a>(env: Env<'a>, name: Atom, opts: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let o = rustler::types::tuple::get_tuple(opts)?;
        let [keypos, protection, named, partitions, heir, keyslot, rc, wc, compressed, dc, kind] =
            o[..]
        else {
            return Err(Fail::BadArg);
        };
        let kind = parse_kind(kind)?;
        let keypos: usize = keypos.decode()?;
        let protection = parse_protection(protection)?;
        let named: bool = named.decode()?;
        let partitions: usize = partitions.decode()?;
        if keypos < 1 || partitions < 1 {
            return Err(Fail::BadArg);
        }
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
            read_concurrency: raw(rc),
            write_concurrency: raw(wc),
            compressed: raw(compressed),
            decentralized_counters: raw(dc),
        };
        let owner = env.pid();
        let table = ResourceArc::new(Table::new(
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
        super::handle::learn(env, &table);
        let mon = monitor(env, &table, &owner);
        table.state.lock().owner_monitor = mon;
        Ok(if named {
            name.encode(env)
        } else {
            table.encode(env)
        })
    })
}

/// Deletes a table: it disappears from the registry at once, later calls
/// through any id get badarg, and its objects are freed off the scheduler
/// when there are many.
pub fn delete_table(env: Option<Env<'_>>, table: &Table) {
    if !table.mark_deleted() {
        return;
    }
    if let (Some(env), Some(arc)) = (env, registry::by_id(table.id)) {
        if let Some(mon) = table.state.lock().owner_monitor.take() {
            demonitor(env, &arc, &mon);
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
    let Some(arc) = registry::by_id(table.id) else {
        return;
    };
    let heir = table.state.lock().heir.as_ref().map(|(p, _)| *p);
    if let Some(heir_raw) = heir.filter(|&h| h != table.owner()) {
        if let Ok(heir_pid) = term_of(env, heir_raw).decode::<LocalPid>() {
            if let Some(mon) = monitor(env, &arc, &heir_pid) {
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

#[rustler::nif(name = "delete")]
fn delete_tab<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        check_access(env, &tab, Access::Write)?;
        delete_table(Some(env), &tab);
        Ok(atoms::true_().encode(env))
    })
}

#[rustler::nif]
fn delete_all_objects<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        check_access(env, &tab, Access::Write)?;
        drop_objects(tab.take_all());
        Ok(atoms::true_().encode(env))
    })
}

/// Checks in ETS's order: the recipient (a live local pid), the table and
/// write access, ownership (`not_owner`), then a gift to oneself (`owner`).
#[rustler::nif]
fn give_away<'a>(
    env: Env<'a>,
    t: Term<'a>,
    to: Term<'a>,
    gift: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
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
        let arc = registry::by_id(tab.id).ok_or(cause(atoms::id()))?;
        let mon = monitor(env, &arc, &to_pid).ok_or(Fail::BadArg)?;
        let old = tab.state.lock().owner_monitor.replace(mon);
        if let Some(old) = old {
            demonitor(env, &arc, &old);
        }
        tab.set_owner(raw(to));
        let msg = (atoms::ets_transfer(), tab_term(env, &tab), env.pid(), gift);
        let _ = env.send(&to_pid, msg);
        Ok(atoms::true_().encode(env))
    })
}

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
#[rustler::nif]
fn setopts<'a>(env: Env<'a>, t: Term<'a>, opts: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
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
    })
}

#[rustler::nif]
fn rename<'a>(env: Env<'a>, t: Term<'a>, name: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
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
            let arc = registry::by_id(tab.id).ok_or(cause(atoms::id()))?;
            if !registry::rename(&arc, old, new) {
                return Err(Fail::BadArg);
            }
        }
        tab.state.lock().name = new;
        Ok(tab_term(env, &tab))
    })
}

/// `info(Tab, Item)`; `undefined` when the table does not exist.
#[rustler::nif]
fn info<'a>(env: Env<'a>, t: Term<'a>, item: Term<'a>) -> rustler::NifResult<Term<'a>> {
    // As ets: `undefined` for a table that does not exist (any more),
    // badarg for terms that cannot name a table; the item is checked only
    // after the table (badarg without a cause).
    let tab = match resolve(t) {
        Ok(tab) => tab,
        Err(Fail::Cause(c)) if c == atoms::id() => return Ok(atoms::undefined().encode(env)),
        Err(e) => return Err(raise(e)),
    };
    let s = || tab.state.lock();
    let item: Atom = item.decode()?;
    let name = info_item_name(item).ok_or(rustler::Error::BadArg)?;
    let v = match name {
        "id" => registry::by_id(tab.id)
            .map(|a| a.encode(env))
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
        "read_concurrency" => term_of(env, s().read_concurrency),
        "write_concurrency" => term_of(env, s().write_concurrency),
        "compressed" => term_of(env, s().compressed),
        "decentralized_counters" => term_of(env, s().decentralized_counters),
        "fixed" => (!s().fixers.is_empty()).encode(env),
        "safe_fixed" => super::fixation::info(env, &tab, false),
        "safe_fixed_monotonic_time" => super::fixation::info(env, &tab, true),
        _ => return Err(rustler::Error::BadArg),
    };
    Ok(v)
}

mod info_atoms {
    rustler::atoms! {
        id, size, memory, type_ = "type", keypos, protection, owner, heir, name,
        named_table, partitions, read_concurrency, write_concurrency, compressed,
        decentralized_counters, fixed, safe_fixed, safe_fixed_monotonic_time,
    }
}

/// The name of an `info/2` item, found by comparing atoms (turning the atom
/// into a string on every call cost as much as a lookup).
fn info_item_name(item: Atom) -> Option<&'static str> {
    use info_atoms::*;
    type Item = (fn() -> Atom, &'static str);
    let items: [Item; 18] = [
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

#[rustler::nif]
fn all(env: Env<'_>) -> Vec<Term<'_>> {
    registry::all().iter().map(|t| tab_term(env, t)).collect()
}

#[rustler::nif]
fn whereis(env: Env<'_>, name: Atom) -> Term<'_> {
    match registry::by_name(raw(name.to_term(env))) {
        Some(t) if !t.is_deleted() => t.encode(env),
        _ => atoms::undefined().encode(env),
    }
}

/// `{Fun, Partitions}` for a table with a keyslot fun.
#[rustler::nif]
fn keyslot_fun<'a>(env: Env<'a>, t: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        let fun = tab
            .state
            .lock()
            .keyslot_fun
            .as_ref()
            .map(|f| object_term(env, f));
        Ok((fun.ok_or(Fail::BadArg)?, tab.partition_count()).encode(env))
    })
}

#[rustler::nif]
fn put_meta<'a>(
    env: Env<'a>,
    t: Term<'a>,
    key: Term<'a>,
    value: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        let k = encode_value(env, key)?;
        let v = encode_value(env, value)?;
        let mut s = tab.state.lock();
        s.meta
            .retain(|(old, _)| !crate::codec::terms_equal(old.bytes(), k.bytes()));
        s.meta.push((k, v));
        Ok(rustler::types::atom::ok().encode(env))
    })
}

/// `[Value]` if set, else `[]`.
#[rustler::nif]
fn get_meta<'a>(env: Env<'a>, t: Term<'a>, key: Term<'a>) -> rustler::NifResult<Term<'a>> {
    run(|| {
        let tab = resolve(t)?;
        let k = encode_value(env, key)?;
        let s = tab.state.lock();
        Ok(
            match s
                .meta
                .iter()
                .find(|(old, _)| crate::codec::terms_equal(old.bytes(), k.bytes()))
            {
                Some((_, v)) => cons(env, object_term(env, v), nil(env)),
                None => nil(env),
            },
        )
    })
}

/// `chunk_stats()`: `{Chunks, Sparse, Sweeping}`, the packed-binary chunks
/// in use, how many are sparse, and whether a sweep runs (for tests).
#[rustler::nif]
fn chunk_stats() -> (usize, usize, bool) {
    let (chunks, sparse) = crate::codec::shared_bin::chunk_counts();
    (chunks, sparse, crate::table::sweep::running())
}

/// `sweep_now()`: one sweep pass over every table, in this call; `true`
/// (for tests).
#[rustler::nif(schedule = "DirtyCpu")]
fn sweep_now() -> rustler::Atom {
    crate::table::sweep::sweep_now();
    crate::nif::atoms::true_()
}
