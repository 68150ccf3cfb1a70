//! The work one NIF call may do on a normal scheduler.
//!
//! A call on a normal scheduler must return within about a millisecond.
//! Work proportional to the size of its input (encoding a term, making a
//! sort key) is metered here; once a call's budget is spent, the walker
//! doing it stops with `OverBudget`, and the call, which has changed
//! nothing yet, is run again on a dirty scheduler, where the meter has no
//! limit (see `nif::dispatch`). Threads that are not schedulers (the
//! sweep, the reaper) are never limited.

use std::cell::Cell;

/// Units of work a call may spend on a normal scheduler: one unit is one
/// term of the input, or 64 bytes of a binary copied out of it.
pub const BUDGET: usize = 40_000;

/// Bytes of binary data that cost one unit.
pub const BYTES_PER_UNIT: usize = 64;

/// The call has spent its budget: it must move to a dirty scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

thread_local! {
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Starts the meter of a NIF call: `BUDGET` on a normal scheduler,
/// unlimited on any other thread.
#[inline]
pub fn start() {
    let budget = if on_normal_scheduler() {
        BUDGET
    } else {
        usize::MAX
    };
    LEFT.with(|l| l.set(budget));
}

/// Whether this call's work is limited (it runs on a normal scheduler).
#[inline]
pub fn limited() -> bool {
    LEFT.with(|l| l.get() != usize::MAX)
}

/// Spends `units` of the call's budget.
#[inline]
pub fn spend(units: usize) -> Result<(), OverBudget> {
    LEFT.with(|l| match l.get() {
        usize::MAX => Ok(()),
        left => match left.checked_sub(units) {
            Some(left) => {
                l.set(left);
                Ok(())
            }
            None => Err(OverBudget),
        },
    })
}

/// `spend` for `n` bytes of binary data.
#[inline]
pub fn spend_bytes(n: usize) -> Result<(), OverBudget> {
    spend(n / BYTES_PER_UNIT)
}

/// Whether this call may still spend `units` (without spending them).
#[inline]
pub fn affords(units: usize) -> bool {
    LEFT.with(|l| l.get() >= units)
}

/// Whether the calling thread is a normal scheduler (the meter is kept
/// per thread, and a scheduler thread never changes its kind).
fn on_normal_scheduler() -> bool {
    thread_local! {
        static NORMAL: Cell<Option<bool>> = const { Cell::new(None) };
    }
    NORMAL.with(|n| match n.get() {
        Some(normal) => normal,
        None => {
            // SAFETY: callable from any thread; it only reads the thread's kind.
            let normal =
                unsafe { rustler::sys::enif_thread_type() } == ERL_NIF_THR_NORMAL_SCHEDULER;
            n.set(Some(normal));
            normal
        }
    })
}

/// `ERL_NIF_THR_NORMAL_SCHEDULER` in erl_nif.h.
const ERL_NIF_THR_NORMAL_SCHEDULER: std::os::raw::c_int = 1;
