//! A table: N partitions, each behind its own lock, plus the table's metadata.

pub mod bag_store;
pub mod hash_store;
pub mod ordered_store;
pub mod partition;
pub mod reaper;
pub mod registry;
pub mod set_store;
pub mod slot_hint;
pub mod sweep;
pub mod tournament;

use crate::codec::Obj;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use partition::{Contents, Partition};
use rustler::Monitor;
use slot_hint::SlotHint;
use std::panic::RefUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Protection {
    Public = 0,
    Protected = 1,
    Private = 2,
}

impl Protection {
    fn from_u8(v: u8) -> Protection {
        match v {
            0 => Protection::Public,
            1 => Protection::Protected,
            _ => Protection::Private,
        }
    }
}

/// The ETS table type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Set,
    OrderedSet,
    Bag,
    DuplicateBag,
}

impl Kind {
    pub fn is_bag(self) -> bool {
        matches!(self, Kind::Bag | Kind::DuplicateBag)
    }
}

/// Keeps each partition's lock on its own cache line, so two schedulers
/// working on different partitions never contend on one line.
#[repr(align(128))]
struct Padded<T>(T);

/// One store behind its lock, with the store's version as of its last
/// write (ordered_set only): a traversal step reads it without the lock to
/// tell whether what it cached from that store still holds.
struct Lock {
    store: RwLock<Partition>,
    version: AtomicU64,
}

/// A write lock on one store. Dropping it publishes the store's version
/// (while still holding the lock) for `Table::version`, and where its
/// slots now lie for `Table::prefetch`.
pub struct WriteGuard<'t> {
    guard: RwLockWriteGuard<'t, Partition>,
    version: &'t AtomicU64,
    hint: &'t SlotHint,
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Partition;
    fn deref(&self) -> &Partition {
        &self.guard
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Partition {
        &mut self.guard
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if let Partition::Ordered(s) = &*self.guard {
            self.version.store(s.version(), Ordering::Release);
        }
        self.hint.set(self.guard.slot_layout());
    }
}

/// The parts of a table that change rarely (ownership, name, options).
pub struct State {
    /// Raw atom term of the table's name.
    pub name: u64,
    pub named: bool,
    /// Raw pid term of the heir and the encoded heir data.
    pub heir: Option<(u64, Obj)>,
    pub owner_monitor: Option<Monitor>,
    /// Processes fixing the table (`safe_fixtable/2`), latest first.
    pub fixers: Vec<Fixer>,
    /// `{erlang:timestamp(), erlang:monotonic_time()}` when the current
    /// fixation began, encoded.
    pub fixed_since: Option<Obj>,
    /// The original shards' per-table metadata (`put_meta/3`).
    pub meta: Vec<(Obj, Obj)>,
    /// The `{keyslot_fun, Fun}` option, encoded.
    pub keyslot_fun: Option<Obj>,
    /// The `{parallel, P}` option: full scans run partitions in parallel.
    pub parallel: bool,
    /// The `{parallel_timeout, T}` option (raw term: an atom or a small
    /// integer).
    pub parallel_timeout: u64,
    /// Creation options echoed by `info/2` (raw atom terms).
    pub read_concurrency: u64,
    pub write_concurrency: u64,
    pub compressed: u64,
    pub decentralized_counters: u64,
}

/// A process fixing a table, and how many times it did.
pub struct Fixer {
    pub pid: u64,
    pub count: usize,
    pub monitor: Option<Monitor>,
}

pub struct Table {
    pub id: u64,
    pub kind: Kind,
    pub keypos: usize,
    /// A `Protection`; `setopts/2` may change it.
    protection: AtomicU8,
    pub has_keyslot_fun: bool,
    /// Partitions as the user sees them (`info/2`, `keyslot_fun`).
    partitions: usize,
    /// Lock stripes per partition (a power of two).
    stripes: usize,
    /// `partitions * stripes` stores, each behind its own lock.
    locks: Box<[Padded<Lock>]>,
    /// One per lock, packed: written only when a store's table moves.
    hints: Box<[SlotHint]>,
    deleted: AtomicBool,
    /// Raw term of the owner pid (local pids are immediates).
    owner: AtomicU64,
    pub state: Mutex<State>,
}

// SAFETY: parking_lot locks do not poison and are released on unwind; every
// write computes its new objects before taking a lock and mutates under it
// with operations that cannot panic midway, so a caught panic leaves no
// half-applied write behind.
impl RefUnwindSafe for Table {}

impl Table {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        kind: Kind,
        keypos: usize,
        protection: Protection,
        partitions: usize,
        owner: u64,
        state: State,
    ) -> Table {
        let stripes = stripes_for(kind, partitions);
        Table {
            id,
            kind,
            keypos,
            protection: AtomicU8::new(protection as u8),
            has_keyslot_fun: state.keyslot_fun.is_some(),
            partitions,
            stripes,
            locks: (0..partitions * stripes)
                .map(|_| {
                    Padded(Lock {
                        store: RwLock::new(Partition::new(kind)),
                        version: AtomicU64::new(0),
                    })
                })
                .collect(),
            hints: (0..partitions * stripes)
                .map(|_| SlotHint::default())
                .collect(),
            deleted: AtomicBool::new(false),
            owner: AtomicU64::new(owner),
            state: Mutex::new(state),
        }
    }

    pub fn protection(&self) -> Protection {
        Protection::from_u8(self.protection.load(Ordering::Relaxed))
    }

    pub fn set_protection(&self, p: Protection) {
        self.protection.store(p as u8, Ordering::Relaxed)
    }

    pub fn partition_count(&self) -> usize {
        self.partitions
    }

    pub fn lock_count(&self) -> usize {
        self.locks.len()
    }

    #[inline]
    pub fn partition_of(&self, hash: u64) -> usize {
        crate::codec::hash::partition_of(hash, self.partitions)
    }

    /// The lock (hash table) of a key: its partition's stripe for the hash.
    #[inline]
    pub fn lock_of(&self, partition: usize, hash: u64) -> usize {
        partition * self.stripes + crate::codec::hash::stripe_of(hash, self.stripes)
    }

    /// Starts loading what a call on a key will touch under its lock: the
    /// lock itself and the key's slot (see `slot_hint`). `hash` is the
    /// key's hash and `key` the key as the table compares it (for an
    /// ordered_set, its sort key). Called as soon as those are known.
    #[inline]
    pub fn prefetch(&self, hash: u64, key: &[u8]) {
        if self.has_keyslot_fun {
            return; // the partition comes from the user's function
        }
        let lock = self.lock_of(self.partition_of(hash), hash);
        crate::prefetch::write(&self.locks[lock] as *const Padded<Lock> as usize);
        let slot_hash = match self.kind {
            Kind::OrderedSet => ordered_store::OrderedStore::index_hash(key),
            _ => Some(hash),
        };
        if let Some(h) = slot_hash {
            self.hints[lock].prefetch(h);
        }
    }

    #[inline]
    pub fn read(&self, lock: usize) -> RwLockReadGuard<'_, Partition> {
        self.locks[lock].0.store.read()
    }

    #[inline]
    pub fn write(&self, lock: usize) -> WriteGuard<'_> {
        let l = &self.locks[lock].0;
        WriteGuard {
            guard: l.store.write(),
            version: &l.version,
            hint: &self.hints[lock],
        }
    }

    /// As `write`, without waiting: `None` when the lock is taken.
    pub fn try_write(&self, lock: usize) -> Option<WriteGuard<'_>> {
        let l = &self.locks[lock].0;
        Some(WriteGuard {
            guard: l.store.try_write()?,
            version: &l.version,
            hint: &self.hints[lock],
        })
    }

    /// The version of an ordered_set store as of its last write, read
    /// without its lock (see `OrderedStore::version`).
    #[inline]
    pub fn version(&self, lock: usize) -> u64 {
        self.locks[lock].0.version.load(Ordering::Acquire)
    }

    /// Write-locks the given locks (sorted, deduplicated indices), in index
    /// order so that concurrent multi-lock writes cannot deadlock.
    pub fn write_many(&self, sorted: &[usize]) -> Vec<(usize, WriteGuard<'_>)> {
        sorted.iter().map(|&i| (i, self.write(i))).collect()
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Marks the table deleted; returns false if it already was.
    pub fn mark_deleted(&self) -> bool {
        !self.deleted.swap(true, Ordering::AcqRel)
    }

    pub fn owner(&self) -> u64 {
        self.owner.load(Ordering::Acquire)
    }

    pub fn set_owner(&self, pid: u64) {
        self.owner.store(pid, Ordering::Release)
    }

    pub fn size(&self) -> usize {
        (0..self.lock_count()).map(|l| self.read(l).size()).sum()
    }

    /// Memory in bytes: the partitions plus the table's fixed part.
    pub fn memory(&self) -> usize {
        let parts: usize = (0..self.lock_count()).map(|l| self.read(l).memory()).sum();
        parts
            + std::mem::size_of::<Table>()
            + self.locks.len() * std::mem::size_of::<Padded<Lock>>()
            + self.hints.len() * std::mem::size_of::<SlotHint>()
    }

    /// Starts a fixation in every partition (`safe_fixtable/2`).
    pub fn fix_all(&self) {
        (0..self.lock_count()).for_each(|l| self.write(l).fix());
    }

    pub fn unfix_all(&self) {
        (0..self.lock_count()).for_each(|l| self.write(l).unfix(self.keypos));
    }

    /// Empties every partition. The objects are dropped by the caller,
    /// outside the locks (see `drop_objects`).
    pub fn take_all(&self) -> Vec<Contents> {
        (0..self.lock_count())
            .map(|l| self.write(l).take_all(self.keypos))
            .collect()
    }
}

/// Lock stripes per partition. Hashed tables get enough locks in all (at
/// least 64) that schedulers rarely meet on one, as ETS's
/// `write_concurrency` locks do, whatever the number of partitions. An
/// ordered_set gets at least `ORDERED_LOCKS`: fewer, since every ordered
/// scan merges its stores (a traversal step reads each store's version, a
/// scan keeps a heap of one head per store), but enough that two writers
/// seldom meet (measured at 2 schedulers, 64 processes, 50/50
/// insert/lookup: 2 locks run at 0.5-0.85x ETS, 8 at 0.8-1.1x, 16 at
/// 1.1-1.5x; later, with a walk step that merges the stores with a winner
/// tree: 16 at a median 1.42x and 32 at 1.49x over seven alternating pairs,
/// lock waits and yields 5.8% and 3.7% of the profile, and the walk of 1M
/// keys at 1.3-1.5x ETS's time with 32).
fn stripes_for(kind: Kind, partitions: usize) -> usize {
    let locks = if kind == Kind::OrderedSet {
        ORDERED_LOCKS
    } else {
        HASHED_LOCKS
    };
    locks.div_ceil(partitions).next_power_of_two()
}

const HASHED_LOCKS: usize = 64;
const ORDERED_LOCKS: usize = 32;

/// Frees the objects of emptied partitions (see `reaper`).
pub fn drop_objects(batches: Vec<Contents>) {
    reaper::free(batches)
}
