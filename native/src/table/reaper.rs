//! Frees the objects of deleted or emptied tables.
//!
//! A few objects are freed at once. Many are freed off the schedulers, by a
//! thread of their own, a slice at a time with a rest between slices:
//! freeing a million objects in one go stalled every scheduler for up to
//! half a second (each packed binary's chunk going back to the VM's
//! allocator lands on the schedulers' own deferred-free queues), far
//! longer than ETS, which frees a deleted table in slices too.

use super::partition::Contents;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Up to this many objects are freed by the caller, at once.
const AT_ONCE: usize = 5_000;
/// Objects the reaper frees between two rests.
const SLICE: usize = 200;
/// The reaper's rest between two slices.
const REST: Duration = Duration::from_micros(500);

/// Reaper threads still running (library code must not be unloaded
/// under them: see `wait_idle`).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Frees the objects of `batches`: at once when they are few, else on a
/// reaper thread.
pub fn free(batches: Vec<Contents>) {
    let n: usize = batches.iter().map(Contents::size).sum();
    if n <= AT_ONCE {
        drop(batches);
        return;
    }
    RUNNING.fetch_add(1, Ordering::AcqRel);
    let spawned = std::thread::Builder::new()
        .name("shards_reaper".into())
        .spawn(move || {
            free_slowly(batches);
            RUNNING.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(e) = spawned {
        // No thread to be had: free here rather than leak. (The closure,
        // with the objects, came back with the error only to be dropped.)
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        drop(e);
    }
}

fn free_slowly(batches: Vec<Contents>) {
    let mut objects = batches.into_iter().flat_map(Contents::into_objects);
    loop {
        let freed = objects.by_ref().take(SLICE).count();
        if freed < SLICE {
            return;
        }
        std::thread::sleep(REST);
    }
}

/// Waits until no reaper runs (before the library is unloaded).
pub fn wait_idle() {
    while RUNNING.load(Ordering::Acquire) > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}
