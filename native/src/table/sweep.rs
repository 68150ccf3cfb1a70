//! The sweep: moves stored binaries out of sparse chunks (see
//! `codec::shared_bin`), so that the memory of a table under random
//! overwrites follows what it stores instead of what it once stored.
//!
//! It runs on a thread of its own, one pass at a time and at most one pass
//! per `PAUSE`, over every live table, at the idle priority: it uses a core
//! only when no scheduler wants it (as a normal thread it took a third of a
//! 2-core machine from 64 busy processes). It never waits for a lock (a
//! waiting writer would hold up the schedulers' readers): it takes a
//! partition's write lock when free, for one short step
//! (`Partition::sweep_step`), and rests between steps. Moving a binary
//! rewrites its reference in place: objects keep their size, their key and
//! their place. A hash table that grows between two steps moves its
//! entries, so a pass may miss some objects or see some twice; the next
//! pass gets them.

use super::partition::SweepAt;
use super::registry;
use crate::codec::object::SharedRefs;
use crate::codec::shared_bin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static RUNNING: AtomicBool = AtomicBool::new(false);

/// The least time from the end of one pass to the start of the next.
const PAUSE: Duration = Duration::from_millis(250);
/// The rest between two steps. A pass holds each lock only now and then:
/// a process that finds the lock taken waits. Measured on the 2-core
/// machine, with a lone process rewriting 100k keys: with steps back to
/// back, or resting three times a step's length, it ran 10-20% slower (the
/// pass, though on an idle core, competes for the caches too); with this
/// rest, no slower. The price: a table rewritten whole every second or
/// faster outpaces the sweep.
const STEP_GAP: Duration = Duration::from_micros(50);

/// Starts a pass unless one is running (the hook of `shared_bin::on_sparse`).
pub fn request() {
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let started = std::thread::Builder::new()
        .name("shards_sweep".into())
        .spawn(|| {
            lower_priority();
            sweep_all();
            std::thread::sleep(PAUSE);
            RUNNING.store(false, Ordering::Release);
        });
    if started.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

/// Whether a pass is running (for tests).
pub fn running() -> bool {
    RUNNING.load(Ordering::Acquire)
}

/// Waits until no pass runs (before the library is unloaded).
pub fn wait_idle() {
    while running() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Puts the calling thread in the idle scheduling class (Linux; elsewhere
/// it keeps its priority).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct SchedParam {
            sched_priority: std::os::raw::c_int,
        }
        const SCHED_IDLE: std::os::raw::c_int = 5;
        extern "C" {
            fn sched_setscheduler(
                pid: std::os::raw::c_int,
                policy: std::os::raw::c_int,
                param: *const SchedParam,
            ) -> std::os::raw::c_int;
        }
        let param = SchedParam { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid
        // `struct sched_param` for the call. A failure leaves the priority.
        unsafe { sched_setscheduler(0, SCHED_IDLE, &param) };
    }
}

/// Runs one pass in the calling thread (for tests: the pass a sweep makes).
pub fn sweep_now() {
    sweep_all();
}

fn sweep_all() {
    shared_bin::seal_current();
    for tab in registry::all() {
        for lock in 0..tab.lock_count() {
            let mut at = SweepAt::default();
            let mut more = true;
            while more && !tab.is_deleted() {
                let Some(mut part) = tab.try_write(lock) else {
                    std::thread::sleep(Duration::from_micros(20));
                    continue;
                };
                let mut moved = SharedRefs::default();
                more = part.sweep_step(&mut at, |obj| obj.leave_sparse_chunks(&mut moved));
                drop(part);
                drop(moved); // the old references, after the lock
                std::thread::sleep(STEP_GAP);
            }
        }
    }
}
