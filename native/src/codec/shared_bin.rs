//! Binaries over 64 bytes live in VM resources, so a lookup hands out a
//! reference to them instead of a copy, as ETS does for refc binaries.
//!
//! Allocating one resource per binary costs more than the insert itself, so
//! binaries up to `MAX_PACKED` bytes are packed into chunk resources: each
//! scheduler thread bump-allocates in its own chunk, and every stored binary
//! holds one reference on its chunk (an uncontended atomic increment). A
//! term made from it is `enif_make_resource_binary` over the bytes inside the
//! chunk, which keeps the chunk alive on its own. A chunk is freed when its
//! last binary is gone. Larger binaries get a resource of their own.
//!
//! The resources have no destructor and no Rust wrapper: their memory *is*
//! the bytes.
//!
//! Binaries of `HOLD_MIN` bytes or more are not copied at all, as ETS does
//! not copy a refc binary: a *held* resource keeps the caller's binary alive
//! in a process-independent environment of its own (about 1 KB and 2 us to
//! make, which beats copying only for big binaries), and terms are made
//! over the VM's own bytes. Everything else treats both kinds alike: an
//! owning resource, and the bytes at an offset from it (for a held binary,
//! outside the resource, so offsets wrap).

use super::format::shared_bytes_at;
use rustler::sys::{
    c_void, enif_alloc_env, enif_alloc_resource, enif_free_env, enif_inspect_binary,
    enif_keep_resource, enif_make_copy, enif_make_resource_binary, enif_open_resource_type,
    enif_release_resource, ErlNifBinary, ErlNifEnv, ErlNifResourceFlags, ErlNifResourceType,
    ErlNifTerm,
};
use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, Ordering};

static RESOURCE_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());
static HELD_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

/// Binaries this big are held, not copied (see the module doc). Measured:
/// at 16 KB holding takes 2 us and copying 3 us; at 4 KB, 2.3 and 1.5.
pub const HOLD_MIN: usize = 16 * 1024;

/// Chunk size; a chunk stays alive while any binary in it is stored or
/// referenced, so it is kept small.
const CHUNK: usize = 8 * 1024;
/// Binaries up to this size are packed into chunks.
const MAX_PACKED: usize = 1024;

/// Opens the resource type; called once from the NIF library's `load`.
///
/// # Safety
/// `env` must be the environment passed to `load`.
pub unsafe fn open(env: *mut ErlNifEnv) -> bool {
    // SAFETY: the load environment (caller's contract); the name is a
    // NUL-terminated static string.
    let ty = unsafe {
        enif_open_resource_type(
            env,
            std::ptr::null(),
            c"shards_shared_binary".as_ptr(),
            None,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            std::ptr::null_mut(),
        )
    };
    RESOURCE_TYPE.store(ty as *mut _, Ordering::Release);
    // SAFETY: as above; `free_held` matches the destructor signature.
    let held = unsafe {
        enif_open_resource_type(
            env,
            std::ptr::null(),
            c"shards_held_binary".as_ptr(),
            Some(free_held),
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            std::ptr::null_mut(),
        )
    };
    HELD_TYPE.store(held as *mut _, Ordering::Release);
    !ty.is_null() && !held.is_null()
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

/// The calling thread's current chunk and how much of it is used. The
/// thread holds one reference on it until the chunk is full.
struct Chunk {
    base: *mut c_void,
    used: usize,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: the thread's own reference, taken when the chunk was made.
        unsafe { enif_release_resource(self.base) }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Chunk>> = const { RefCell::new(None) };
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
                *current = Some(Chunk {
                    base: new_resource(CHUNK),
                    used: 0,
                });
            }
            let chunk = current.as_mut().expect("a current chunk");
            let offset = chunk.used;
            chunk.used += bytes.len();
            // SAFETY: the chunk is alive (the thread holds a reference).
            unsafe { enif_keep_resource(chunk.base) };
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

/// Drops one reference.
///
/// # Safety
/// `base` must be a shared resource whose reference the caller owns.
pub unsafe fn release(base: *const c_void) {
    enif_release_resource(base)
}

/// Takes one more reference (for an object built by copying another's bytes).
///
/// # Safety
/// `base` must be a live shared resource.
pub unsafe fn keep(base: *const c_void) {
    enif_keep_resource(base);
}
