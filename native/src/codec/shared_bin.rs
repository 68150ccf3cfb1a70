//! Binaries over 64 bytes live in VM resources, so a lookup hands out a
//! reference to them instead of a copy, as ETS does for refc binaries.
//!
//! Allocating one resource per binary costs more than the insert itself, so
//! binaries up to `MAX_PACKED` bytes are packed into chunk resources: each
//! scheduler thread bump-allocates in its own chunk. A term made from a
//! packed binary is `enif_make_resource_binary` over the bytes inside the
//! chunk, which keeps the chunk alive on its own. Larger binaries get a
//! resource of their own, with one reference per stored copy.
//!
//! The resources have no destructor and no Rust wrapper: their memory *is*
//! the bytes (after a chunk's header).
//!
//! A chunk stays allocated while any of its binaries is stored, so under
//! random overwrites most chunks end up holding a few live binaries among
//! dead ones (measured: 2.7x the resident memory of a fresh table). Each
//! chunk therefore counts its stored bytes; once it is sealed (no longer any
//! thread's current chunk) and that count falls under half the chunk, it is
//! *sparse*, and when sparse chunks pile up (`SWEEP_MIN_SPARSE`), the hook
//! set with `on_sparse` runs (the table layer's sweep, which moves the
//! survivors into fresh chunks with `relocate`). The chunk holds one VM
//! reference for all its stored binaries, released when the last one goes;
//! terms made from it hold their own.
//!
//! Binaries of `HOLD_MIN` bytes or more are not copied at all, as ETS does
//! not copy a refc binary: a *held* resource keeps the caller's binary alive
//! in a process-independent environment of its own (about 1 KB and 2 us to
//! make, which beats copying only for big binaries), and terms are made
//! over the VM's own bytes. Everything else treats both kinds alike: an
//! owning resource, and the bytes at an offset from it (for a held binary,
//! outside the resource, so offsets wrap).

use super::format::shared_bytes_at;
use once_cell::sync::OnceCell;
use rustler::sys::{
    c_void, enif_alloc_env, enif_alloc_resource, enif_free_env, enif_inspect_binary,
    enif_keep_resource, enif_make_copy, enif_make_resource_binary, enif_release_resource,
    ErlNifBinary, ErlNifEnv, ErlNifResourceDtor, ErlNifResourceType, ErlNifResourceTypeInit,
    ErlNifTerm,
};
use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

static RESOURCE_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());
static HELD_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

/// Binaries this big are held, not copied (see the module doc). Measured:
/// at 16 KB holding takes 2 us and copying 3 us; at 4 KB, 2.3 and 1.5.
pub const HOLD_MIN: usize = 16 * 1024;

/// Chunk size; a chunk stays alive while any binary in it is stored or
/// referenced, so it is kept small.
const CHUNK: usize = 8 * 1024;
/// Binaries up to this size are packed into chunks.
pub const MAX_PACKED: usize = 1024;
/// Where a chunk's binaries start, after its header (`ChunkState`): every
/// offset in a chunk is then a two-byte varint, so a binary moved to
/// another chunk is respelled in place (`relocate`).
const FIRST: usize = 128;
/// A sealed chunk storing fewer bytes than this is sparse.
const SPARSE_BELOW: u64 = (CHUNK / 2) as u64;
/// A sweep is asked for when at least this many chunks (2 MB), and an
/// eighth of all chunks, are sparse.
const SWEEP_MIN_SPARSE: usize = 256;

/// A chunk's header: the bytes of its stored binaries, and `SEALED` once
/// no thread allocates in it any more.
type ChunkState = AtomicU64;
const SEALED: u64 = 1 << 63;
/// What a current chunk's header counts as stored: all it can hold.
const RESERVED: u64 = (CHUNK - FIRST) as u64;

/// Chunks with binaries stored in them (or still current).
static CHUNKS: AtomicUsize = AtomicUsize::new(0);
/// Of those, the sparse ones.
static SPARSE: AtomicUsize = AtomicUsize::new(0);
static ON_SPARSE: OnceCell<fn()> = OnceCell::new();

/// Sets what runs when sparse chunks pile up (once, at load).
pub fn on_sparse(hook: fn()) {
    let _ = ON_SPARSE.set(hook);
}

/// Chunks in use and how many of them are sparse (for tests).
pub fn chunk_counts() -> (usize, usize) {
    (
        CHUNKS.load(Ordering::Relaxed),
        SPARSE.load(Ordering::Relaxed),
    )
}

/// Whether a shared binary of `len` bytes lives in a chunk (a bigger one
/// has a resource of its own).
#[inline]
fn in_chunk(len: usize) -> bool {
    len <= MAX_PACKED
}

/// The header of the chunk `base`.
///
/// # Safety
/// `base` must be a live chunk.
unsafe fn state<'a>(base: u64) -> &'a ChunkState {
    // SAFETY: a chunk's first bytes are its header, initialised at creation
    // and only touched atomically (caller's contract: the chunk is alive).
    unsafe { &*(base as usize as *const ChunkState) }
}

fn is_sparse(state: u64) -> bool {
    state & SEALED != 0 && (1..SPARSE_BELOW).contains(&(state & !SEALED))
}

/// Accounts for a chunk going from `before` to `after` (header values).
fn track(before: u64, after: u64) {
    match (is_sparse(before), is_sparse(after)) {
        (false, true) => {
            let sparse = SPARSE.fetch_add(1, Ordering::Relaxed) + 1;
            if sparse >= SWEEP_MIN_SPARSE && sparse * 8 >= CHUNKS.load(Ordering::Relaxed) {
                if let Some(hook) = ON_SPARSE.get() {
                    hook();
                }
            }
        }
        (true, false) => {
            SPARSE.fetch_sub(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// Changes the stored bytes of chunk `base` by `delta`.
///
/// # Safety
/// `base` must be a live chunk; a decrease must be of bytes stored in it.
unsafe fn adjust(base: u64, delta: i64) {
    // SAFETY: the caller's contract.
    let st = unsafe { state(base) };
    let before = if delta >= 0 {
        st.fetch_add(delta as u64, Ordering::AcqRel)
    } else {
        st.fetch_sub(delta.unsigned_abs(), Ordering::AcqRel)
    };
    // SAFETY: the caller's contract.
    unsafe { settle(base, before, before.wrapping_add(delta as u64)) }
}

/// Seals chunk `base`: no thread allocates in it any more. A current
/// chunk's header counts all of it as stored (see `Chunk::new`); sealing
/// gives back the `unused` bytes, leaving the bytes actually stored.
///
/// # Safety
/// `base` must be a live chunk, not yet sealed, with `unused` bytes never
/// handed out.
unsafe fn seal(base: u64, unused: u64) {
    // The header is at least `unused` (only handed-out bytes are released)
    // and below `SEALED`, so one addition subtracts and sets the bit.
    let delta = SEALED - unused;
    // SAFETY: the caller's contract.
    let before = unsafe { state(base) }.fetch_add(delta, Ordering::AcqRel);
    // SAFETY: the caller's contract.
    unsafe { settle(base, before, before.wrapping_add(delta)) }
}

/// Accounts for chunk `base` going from header `before` to `after`, and
/// gives up its VM reference when, sealed, it stores nothing any more.
///
/// # Safety
/// `base` must be a live chunk, and `after` the header one change made.
#[inline]
unsafe fn settle(base: u64, before: u64, after: u64) {
    // Most changes change nothing else: keep the check inline and the rest
    // out of the insert path's code.
    if is_sparse(before) != is_sparse(after) || after == SEALED {
        // SAFETY: the caller's contract.
        unsafe { settle_rare(base, before, after) }
    }
}

/// `settle` for a chunk becoming or ceasing to be sparse, or empty.
///
/// # Safety
/// As `settle`.
#[cold]
#[inline(never)]
unsafe fn settle_rare(base: u64, before: u64, after: u64) {
    track(before, after);
    if after == SEALED {
        CHUNKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the chunk's own reference, taken at creation; nothing is
        // stored in it and no thread allocates in it any more.
        unsafe { enif_release_resource(base as *const c_void) }
    }
}

/// Opens the resource types (taking over this library instance's own,
/// when it is loaded again: see `crate::resource`); called from the NIF
/// library's `load` and `upgrade`.
///
/// # Safety
/// `env` must be the environment passed to `load` or `upgrade`.
pub unsafe fn open(env: *mut ErlNifEnv) -> bool {
    let init = |dtor: Option<ErlNifResourceDtor>| ErlNifResourceTypeInit {
        dtor: dtor.map_or(std::ptr::null(), |d| d as *const ErlNifResourceDtor),
        stop: std::ptr::null(),
        down: std::ptr::null(),
        members: 1,
        dyncall: std::ptr::null(),
    };
    let name = crate::resource::instance_name;
    // SAFETY: the load environment (caller's contract); `free_held` matches
    // the destructor signature.
    unsafe {
        let ty = crate::resource::open_type(env, &name("shards_shared_binary"), &init(None));
        RESOURCE_TYPE.store(ty as *mut _, Ordering::Release);
        let held =
            crate::resource::open_type(env, &name("shards_held_binary"), &init(Some(free_held)));
        HELD_TYPE.store(held as *mut _, Ordering::Release);
        !ty.is_null() && !held.is_null()
    }
}

/// A held resource's memory: the environment that keeps the binary alive.
type Held = *mut ErlNifEnv;

unsafe extern "C" fn free_held(_env: *mut ErlNifEnv, obj: *mut c_void) {
    // SAFETY: `obj` is a held resource, initialised by `hold` with an
    // environment that nothing else uses or frees.
    unsafe { enif_free_env(*(obj as *mut Held)) }
}

/// Keeps the binary `term` alive without copying its bytes. Returns the
/// owning resource (one reference for the caller) and the offset of the
/// bytes from it, or `None` for a term that is not a binary.
///
/// # Safety
/// `term` must be a live term of the calling NIF's environment.
pub unsafe fn hold(term: ErlNifTerm) -> Option<(*mut c_void, usize)> {
    // The copy of a refc binary is a new reference to the same bytes, which
    // no process can change any more (inspecting it makes it read-only, and
    // an unaligned one is aligned in a copy owned by the environment).
    // SAFETY: a fresh process-independent environment, owned here until
    // handed to the resource; `term` is live (the caller's contract).
    unsafe {
        let own = enif_alloc_env();
        let copy = enif_make_copy(own, term);
        let mut bin = std::mem::MaybeUninit::<ErlNifBinary>::uninit();
        if enif_inspect_binary(own, copy, bin.as_mut_ptr()) == 0 {
            enif_free_env(own);
            return None;
        }
        let data = bin.assume_init().data;
        let res = enif_alloc_resource(HELD_TYPE.load(Ordering::Acquire), size_of::<Held>());
        (res as *mut Held).write(own);
        Some((res, (data as usize).wrapping_sub(res as usize)))
    }
}

fn new_resource(size: usize) -> *mut c_void {
    let ty = RESOURCE_TYPE.load(Ordering::Acquire);
    // SAFETY: the type was opened at load; the caller owns the one reference.
    unsafe { enif_alloc_resource(ty, size) }
}

/// The calling thread's current chunk and how much of it is used.
struct Chunk {
    base: *mut c_void,
    used: usize,
}

impl Chunk {
    fn new() -> Chunk {
        let base = new_resource(CHUNK);
        debug_assert_eq!(base as usize % std::mem::align_of::<ChunkState>(), 0);
        // The header counts the whole chunk as stored until it is sealed,
        // so handing out bytes needs no atomic operation.
        // SAFETY: a fresh resource of CHUNK bytes; resource data is
        // word-aligned, as the header needs.
        unsafe { (base as *mut ChunkState).write(AtomicU64::new(RESERVED)) };
        CHUNKS.fetch_add(1, Ordering::Relaxed);
        Chunk { base, used: FIRST }
    }
}

impl Drop for Chunk {
    /// Seals the chunk: full, or its thread is gone.
    fn drop(&mut self) {
        let unused = RESERVED - (self.used - FIRST) as u64;
        // SAFETY: the chunk holds its own reference until sealed and empty;
        // `used` counts every byte handed out.
        unsafe { seal(self.base as u64, unused) }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Chunk>> = const { RefCell::new(None) };
}

/// Seals the calling thread's chunk, so that what it copies next goes to a
/// fresh one (a sweep's copies then never land among the dead bytes of the
/// thread's earlier work).
pub fn seal_current() {
    CURRENT.with(|current| current.borrow_mut().take());
}

/// Copies `bytes` into shared memory. Returns the owning resource (with one
/// reference for the caller) and the offset of the bytes in it.
pub fn alloc(bytes: &[u8]) -> (*mut c_void, usize) {
    let (base, offset) = if bytes.len() > MAX_PACKED {
        (new_resource(bytes.len()), 0)
    } else {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            if current
                .as_ref()
                .is_none_or(|c| c.used + bytes.len() > CHUNK)
            {
                *current = Some(Chunk::new());
            }
            let chunk = current.as_mut().expect("a current chunk");
            let offset = chunk.used;
            chunk.used += bytes.len();
            (chunk.base, offset)
        })
    };
    // SAFETY: `offset..offset + len` lies inside the resource, and no one
    // else writes there: the range was just handed out.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (base as *mut u8).add(offset), bytes.len())
    };
    (base, offset)
}

/// A binary term referring to the shared bytes (no copy).
///
/// # Safety
/// `base` must be a live shared resource holding `len` bytes at `offset`,
/// and `env` a valid environment.
pub unsafe fn make_term(
    env: *mut ErlNifEnv,
    base: *const c_void,
    offset: usize,
    len: usize,
) -> ErlNifTerm {
    let bytes = shared_bytes_at(base as u64, offset);
    enif_make_resource_binary(env, base, bytes as *const c_void, len)
}

/// Says that a stored reference to the binary of `len` bytes at `base` is
/// about to be released (after the partition lock): its chunk's header is
/// fetched ready for the write meanwhile. Under writes from several
/// threads, the release otherwise waits for that line to come from another
/// core (measured: 13% of a 64-process insert of 100-byte binaries).
#[inline]
pub fn will_release(base: u64, len: usize) {
    if in_chunk(len) {
        crate::prefetch::write(base as usize);
    }
}

/// Drops one stored reference to the shared binary of `len` bytes at `base`.
///
/// # Safety
/// `base` must be a shared resource whose reference the caller owns.
pub unsafe fn release(base: u64, len: usize) {
    if in_chunk(len) {
        // SAFETY: the caller's contract: `len` bytes are stored in the chunk.
        unsafe { adjust(base, -(len as i64)) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { enif_release_resource(base as *const c_void) }
    }
}

/// Takes one more stored reference (for an object built by copying another's
/// bytes).
///
/// # Safety
/// `base` must be a live shared resource holding a binary of `len` bytes.
pub unsafe fn keep(base: u64, len: usize) {
    if in_chunk(len) {
        // SAFETY: the caller's contract; the chunk stores the binary, so it
        // still holds its own reference.
        unsafe { adjust(base, len as i64) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { enif_keep_resource(base as *const c_void) }
    }
}

/// Whether the binary of `len` bytes at `base` sits in a sparse chunk.
///
/// # Safety
/// `base` must be a live shared resource holding a binary of `len` bytes.
pub unsafe fn in_sparse_chunk(base: u64, len: usize) -> bool {
    // SAFETY: the caller's contract.
    in_chunk(len) && is_sparse(unsafe { state(base) }.load(Ordering::Relaxed))
}

/// Copies the binary of `len` bytes at `offset` in `base` into the calling
/// thread's chunk; returns its new place. The old reference is still the
/// caller's, to `release`.
///
/// # Safety
/// `base` must be a live chunk holding those bytes.
pub unsafe fn relocate(base: u64, offset: usize, len: usize) -> (u64, usize) {
    debug_assert!(in_chunk(len));
    // SAFETY: the caller's contract; stored bytes never change.
    let bytes = unsafe { std::slice::from_raw_parts(shared_bytes_at(base, offset), len) };
    let (new_base, new_offset) = alloc(bytes);
    (new_base as u64, new_offset)
}
