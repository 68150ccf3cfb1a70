//! `safe_fixtable/2`: which processes fix a table, and since when.
//!
//! While any process fixes a table its hashed partitions keep traversal
//! positions stable (`table::hash_store`). A fixing process is monitored so
//! that its fixations end when it exits, as in ETS.

use super::lifecycle::{demonitor, encode_value, monitor, raw, term_of};
use super::*;
use crate::table::Fixer;
use rustler::LocalPid;

/// `safe_fixtable(Tab, Fix, Since)`: `Since` is `{erlang:timestamp(),
/// erlang:monotonic_time()}` at the call, kept if this starts the fixation.
fn safe_fixtable<'a>(env: Env<'a>, [t, fix, since]: [Term<'a>; 3]) -> Res<Term<'a>> {
    let tab = resolve(t)?;
    check_access(env, &tab, Access::Read)?;
    let fix: bool = fix.decode()?;
    let me = env.pid();
    let pid = raw(me.encode(env));
    let mut state = tab.state.lock();
    let i = state.fixers.iter().position(|f| f.pid == pid);
    match (fix, i) {
        (true, Some(i)) => state.fixers[i].count += 1,
        (true, None) => {
            if state.fixers.is_empty() {
                state.fixed_since = Some(encode_value(env, since)?);
                tab.fix_all();
            }
            let monitor = monitor(env, &tab, &me);
            state.fixers.push(Fixer {
                pid,
                count: 1,
                monitor,
            });
        }
        (false, Some(i)) => {
            state.fixers[i].count -= 1;
            if state.fixers[i].count == 0 {
                let gone = state.fixers.remove(i);
                if let Some(m) = gone.monitor {
                    demonitor(env, &tab, &m);
                }
                end_if_unfixed(&tab, &mut state);
            }
        }
        (false, None) => {}
    }
    Ok(atoms::true_().encode(env))
}
nif!("safe_fixtable", 3, safe_fixtable);

fn end_if_unfixed(tab: &Table, state: &mut crate::table::State) {
    if state.fixers.is_empty() {
        state.fixed_since = None;
        tab.unfix_all();
    }
}

/// A monitored process exited: its fixations end.
pub fn process_down(env: Env<'_>, table: &Table, pid: LocalPid) {
    let pid = raw(pid.encode(env));
    let mut state = table.state.lock();
    let before = state.fixers.len();
    state.fixers.retain(|f| f.pid != pid);
    if state.fixers.len() != before {
        end_if_unfixed(table, &mut state);
    }
}

/// `info(T, safe_fixed)` (`monotonic` false) or
/// `info(T, safe_fixed_monotonic_time)`: `{Since, [{Pid, Count}]}` or false.
pub fn info<'a>(env: Env<'a>, table: &Table, monotonic: bool) -> Term<'a> {
    let state = table.state.lock();
    let Some(since) = &state.fixed_since else {
        return atoms::false_().encode(env);
    };
    let since = rustler::types::tuple::get_tuple(object_term(env, since))
        .ok()
        .and_then(|t| t.get(monotonic as usize).copied())
        .unwrap_or_else(|| atoms::undefined().encode(env));
    let fixers: Vec<Term<'a>> = state
        .fixers
        .iter()
        .rev()
        .map(|f| (term_of(env, f.pid), f.count).encode(env))
        .collect();
    (since, fixers).encode(env)
}
