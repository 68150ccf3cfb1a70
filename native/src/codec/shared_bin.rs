//! Binaries over 64 bytes live in a VM resource, so a lookup hands out a
//! reference to them instead of a copy, as ETS does for refc binaries.
//!
//! The resource is allocated with exactly the binary's size (no Rust wrapper,
//! no destructor): its memory *is* the bytes. A stored object holds one
//! reference, released when the object is dropped; every term made from it
//! holds its own, managed by the VM.

use rustler::sys::{
    c_void, enif_alloc_resource, enif_make_resource_binary, enif_open_resource_type,
    enif_release_resource, ErlNifEnv, ErlNifResourceFlags, ErlNifResourceType, ErlNifTerm,
};
use std::sync::atomic::{AtomicPtr, Ordering};

static RESOURCE_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

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
    !ty.is_null()
}

/// Copies `bytes` into a new shared binary; the caller owns the one reference.
pub fn alloc(bytes: &[u8]) -> *mut c_void {
    let ty = RESOURCE_TYPE.load(Ordering::Acquire);
    // SAFETY: the type was opened at load; the resource has room for exactly
    // `bytes.len()` bytes, which we fill before anyone else can see it.
    unsafe {
        let p = enif_alloc_resource(ty, bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len());
        p
    }
}

/// The bytes of a shared binary.
///
/// # Safety
/// `ptr` must be a live shared binary of `len` bytes.
pub unsafe fn bytes<'a>(ptr: *const c_void, len: usize) -> &'a [u8] {
    std::slice::from_raw_parts(ptr as *const u8, len)
}

/// A binary term referring to the shared bytes (no copy).
///
/// # Safety
/// `ptr` must be a live shared binary of `len` bytes and `env` a valid environment.
pub unsafe fn make_term(env: *mut ErlNifEnv, ptr: *const c_void, len: usize) -> ErlNifTerm {
    enif_make_resource_binary(env, ptr, ptr, len)
}

/// Drops the stored object's reference.
///
/// # Safety
/// `ptr` must be a shared binary whose reference the caller owns.
pub unsafe fn release(ptr: *const c_void) {
    enif_release_resource(ptr)
}

/// Takes one more reference (for an object built by copying another's bytes).
///
/// # Safety
/// `ptr` must be a live shared binary.
pub unsafe fn keep(ptr: *const c_void) {
    rustler::sys::enif_keep_resource(ptr);
}
