//! Where each store's hash table keeps a key's slot, readable without the
//! store's lock: a call that knows its key's hash can start loading the
//! slot, and the lock's cache line, while it still encodes its object, so
//! that the probe under the lock does not wait on memory (measured: the
//! slot's cache miss was half of the key comparison's time, a sixth of a
//! 64-process insert of `{Bin16, Bin100}` objects).
//!
//! The writer holding a store's lock keeps its hint current (see
//! `WriteGuard`); a reader may see it stale or half-updated, which only
//! sends a prefetch to a useless address.

use super::hash_store::SlotLayout;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[derive(Default)]
pub struct SlotHint {
    ctrl: AtomicUsize,
    mask: AtomicUsize,
    entry: AtomicUsize,
}

impl SlotHint {
    /// Records the store's layout; stores only when it changed, so the
    /// hints stay shared in every core's cache.
    #[inline]
    pub fn set(&self, l: SlotLayout) {
        if self.ctrl.load(Relaxed) != l.ctrl || self.mask.load(Relaxed) != l.mask {
            self.ctrl.store(l.ctrl, Relaxed);
            self.mask.store(l.mask, Relaxed);
            self.entry.store(l.entry, Relaxed);
        }
    }

    /// Prefetches the control bytes and slots where `hash`'s key most
    /// likely is: its first bucket, or one of the next two (which lie
    /// below it), where 85% of keys are (`tests/slot_layout.rs`).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let l = SlotLayout {
            ctrl: self.ctrl.load(Relaxed),
            mask: self.mask.load(Relaxed),
            entry: self.entry.load(Relaxed),
        };
        if l.ctrl != 0 {
            let (slot, ctrl) = l.addresses(hash);
            crate::prefetch::read(slot);
            crate::prefetch::read(slot.wrapping_sub(2 * l.entry));
            crate::prefetch::read(ctrl);
        }
    }
}
