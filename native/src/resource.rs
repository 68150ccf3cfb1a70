//! The VM resources this library keeps its objects in (tables, compiled
//! match specs, scan grants), without rustler's resource registry.
//!
//! rustler opens resource types only with `ERL_NIF_RT_CREATE`, so a NIF
//! library loaded again while its objects live (an upgrade with `l/1`, a
//! reload after `code:purge/1`) cannot register them again, and it looks a
//! type up in a map on every decode. Here every type's pointer sits in a
//! static, and types are opened to be taken over:
//! - a type's name holds the address of this library instance's statics,
//!   so a loaded instance reopening its own types (an upgrade that maps
//!   the same file) takes over its live objects, whose layout is its own;
//! - another build (another file, mapped elsewhere) names different types,
//!   and never reads objects laid out by other code;
//! - a purge takes a library's types out of the VM's list even while
//!   objects of them live, so a load after it can only create new ones:
//!   each slot remembers the types it held before, and a decode that
//!   fails with the current one tries those. Every type opened keeps one
//!   object of its own forever (an anchor), so that a former type is
//!   never freed and its address never reused by another type, and the
//!   instance's code stays mapped for its objects' callbacks.

use rustler::sys::{
    c_void, enif_alloc_resource, enif_get_resource, enif_keep_resource, enif_make_resource,
    enif_open_resource_type_x, enif_release_resource, ErlNifEnv, ErlNifMonitor, ErlNifPid,
    ErlNifResourceFlags, ErlNifResourceType, ErlNifResourceTypeInit,
};
use rustler::{Env, LocalPid, Monitor, Term};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A Rust type kept in VM resources of its own type.
pub trait Kept: Send + Sync + Sized + 'static {
    /// The type's name (made unique to this library instance when opened).
    const NAME: &'static str;
    /// Whether `down` is registered (the type monitors processes).
    const MONITORS: bool = false;

    /// Where the opened type is kept.
    fn slot() -> &'static TypeSlot;

    /// A process this object monitors exited.
    fn down(&self, _env: Env<'_>, _pid: LocalPid, _monitor: Monitor) {}
}

// ERTS aligns resource data to 8 bytes; `Handle::new` checks it.
const RESOURCE_ALIGN: usize = 8;

/// The resource type of a `Kept` type: the one opened last, and those
/// opened before it by this instance (see the module doc).
pub struct TypeSlot {
    current: AtomicPtr<ErlNifResourceType>,
    former: parking_lot::Mutex<Vec<usize>>,
}

impl TypeSlot {
    pub const fn new() -> TypeSlot {
        TypeSlot {
            current: AtomicPtr::new(std::ptr::null_mut()),
            former: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// The type new objects get.
    #[inline]
    pub fn current(&self) -> *const ErlNifResourceType {
        self.current.load(Ordering::Acquire)
    }

    /// Makes `ty` the current type (keeping the one it replaces).
    fn set(&self, ty: *const ErlNifResourceType) {
        let old = self.current.swap(ty as *mut _, Ordering::AcqRel);
        if !old.is_null() && !std::ptr::eq(old, ty) {
            self.former.lock().push(old as usize);
        }
    }

    /// The types this instance opened before the current one.
    fn former(&self) -> Vec<usize> {
        self.former.lock().clone()
    }
}

impl Default for TypeSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps one object of `ty` for as long as the VM runs (see the module
/// doc); its memory is never read, and its destructor never runs.
///
/// # Safety
/// `ty` must be a type just opened by the load or upgrade callback.
unsafe fn anchor(ty: *const ErlNifResourceType) {
    // SAFETY: the caller's contract; the one reference is never released.
    unsafe { enif_alloc_resource(ty, 0) };
}

/// The name of a resource type, unique to this library instance: the
/// address of one of its statics.
pub fn instance_name(base: &str) -> CString {
    static ANCHOR: u8 = 0;
    let instance = &ANCHOR as *const u8 as usize;
    CString::new(format!("{base}@{instance:x}")).expect("no NUL in a type name")
}

/// Opens the type of `T`, taking over the live objects of a type of the
/// same name (this same instance, loaded again) or creating it. Call from
/// the load or upgrade callback only.
///
/// # Safety
/// `env` must be the environment of the load or upgrade callback.
pub unsafe fn open<T: Kept>(env: *mut ErlNifEnv) -> bool {
    let init = ErlNifResourceTypeInit {
        dtor: destructor::<T> as *const _,
        stop: std::ptr::null(),
        down: if T::MONITORS {
            down::<T> as *const _
        } else {
            std::ptr::null()
        },
        members: 3,
        dyncall: std::ptr::null(),
    };
    // SAFETY: the caller's contract; `init` lives for the call.
    let ty = unsafe { open_type(env, &instance_name(T::NAME), &init) };
    if ty.is_null() {
        return false;
    }
    T::slot().set(ty);
    true
}

/// Opens a resource type by name: takes it over if it exists, else
/// creates it.
///
/// # Safety
/// As for `open`; `init` describes callbacks valid for this library.
pub unsafe fn open_type(
    env: *mut ErlNifEnv,
    name: &CString,
    init: &ErlNifResourceTypeInit,
) -> *const ErlNifResourceType {
    let mut tried = ErlNifResourceFlags::ERL_NIF_RT_CREATE;
    // SAFETY: the caller's contract; the name is NUL-terminated.
    unsafe {
        let taken = enif_open_resource_type_x(
            env,
            name.as_ptr(),
            init,
            ErlNifResourceFlags::ERL_NIF_RT_TAKEOVER,
            &mut tried,
        );
        if !taken.is_null() {
            return taken;
        }
        let created = enif_open_resource_type_x(
            env,
            name.as_ptr(),
            init,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            &mut tried,
        );
        if !created.is_null() {
            anchor(created);
        }
        created
    }
}

unsafe extern "C" fn destructor<T: Kept>(_env: *mut ErlNifEnv, obj: *mut c_void) {
    // A panic must not unwind into the VM; the object is gone either way.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the VM calls this once per object, which `Handle::new`
        // initialised with a `T`; nothing reads it afterwards.
        unsafe { std::ptr::drop_in_place(obj as *mut T) }
    });
}

unsafe extern "C" fn down<T: Kept>(
    env: *mut ErlNifEnv,
    obj: *mut c_void,
    pid: *const ErlNifPid,
    mon: *const ErlNifMonitor,
) {
    let lifetime = ();
    // SAFETY: the VM passes its callback environment, a live object of
    // this type, and the pid and monitor that fired, all valid for the call.
    let (env, obj, pid, mon) = unsafe {
        (
            Env::new(&lifetime, env),
            &*(obj as *const T),
            LocalPid::from_c_arg(*pid),
            Monitor::from_c_arg(*mon),
        )
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.down(env, pid, mon)));
}

/// One reference to a resource object of type `T`.
pub struct Handle<T: Kept> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: `T` is `Send + Sync`, and the VM's reference counts are atomic.
unsafe impl<T: Kept> Send for Handle<T> {}
// SAFETY: as above.
unsafe impl<T: Kept> Sync for Handle<T> {}

impl<T: Kept> Handle<T> {
    /// A new object holding `value`.
    pub fn new(value: T) -> Handle<T> {
        const { assert!(std::mem::align_of::<T>() <= RESOURCE_ALIGN) };
        let ty = T::slot().current();
        // SAFETY: the type was opened at load; the VM returns memory of
        // the size asked for, aligned to 8 bytes, with one reference (ours).
        unsafe {
            let p = enif_alloc_resource(ty, std::mem::size_of::<T>().max(1)) as *mut T;
            p.write(value);
            Handle {
                ptr: NonNull::new(p).expect("enif_alloc_resource"),
                _owns: PhantomData,
            }
        }
    }

    /// The object a term refers to, borrowed for as long as the term lives.
    #[inline]
    pub fn borrow<'a>(term: Term<'a>) -> Option<&'a T> {
        Self::borrow_as(term, T::slot().current()).or_else(|| Self::borrow_former(term))
    }

    /// `borrow` for an object made before this instance was loaded again.
    #[cold]
    fn borrow_former<'a>(term: Term<'a>) -> Option<&'a T> {
        T::slot()
            .former()
            .into_iter()
            .find_map(|ty| Self::borrow_as(term, ty as *const ErlNifResourceType))
    }

    #[inline]
    fn borrow_as<'a>(term: Term<'a>, ty: *const ErlNifResourceType) -> Option<&'a T> {
        let mut obj: *const c_void = std::ptr::null();
        // SAFETY: `term` is a live term of its environment; `ty` is a type
        // this instance opened (never freed: see `anchor`), compared, not
        // read; on success `obj` is an object of it, kept alive by the term.
        unsafe {
            let ok = enif_get_resource(term.get_env().as_c_arg(), term.as_c_arg(), ty, &mut obj);
            (ok != 0).then(|| &*(obj as *const T))
        }
    }

    /// A new reference to the object a term refers to.
    pub fn from_term(term: Term<'_>) -> Option<Handle<T>> {
        Self::borrow(term).map(|obj| Self::from_ref(obj))
    }

    /// A new reference to an object known to be one of these resources.
    ///
    /// `obj` must be borrowed from a `Handle` or from `borrow`.
    pub fn from_ref(obj: &T) -> Handle<T> {
        let p = obj as *const T as *mut T;
        // SAFETY: `obj` is a live resource object (the caller's contract),
        // so taking one more reference on it is sound.
        unsafe { enif_keep_resource(p as *const c_void) };
        Handle {
            ptr: NonNull::new(p).expect("a reference is never null"),
            _owns: PhantomData,
        }
    }

    /// The object as a term of `env`.
    pub fn term<'a>(&self, env: Env<'a>) -> Term<'a> {
        // SAFETY: a live resource object; the term holds its own reference.
        unsafe {
            Term::new(
                env,
                enif_make_resource(env.as_c_arg(), self.ptr.as_ptr() as *const c_void),
            )
        }
    }

    /// The object's address, as the VM's monitor and resource calls take it.
    pub fn as_c_arg(&self) -> *const c_void {
        self.ptr.as_ptr() as *const c_void
    }
}

impl<T: Kept> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self::from_ref(self)
    }
}

impl<T: Kept> Drop for Handle<T> {
    fn drop(&mut self) {
        // SAFETY: this handle owns one reference.
        unsafe { enif_release_resource(self.ptr.as_ptr() as *const c_void) }
    }
}

impl<T: Kept> std::ops::Deref for Handle<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the object lives while this handle holds a reference.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Kept> rustler::Encoder for Handle<T> {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        self.term(env)
    }
}

/// Declares the static slot of a `Kept` type.
#[macro_export]
macro_rules! kept_slot {
    () => {
        fn slot() -> &'static $crate::resource::TypeSlot {
            static SLOT: $crate::resource::TypeSlot = $crate::resource::TypeSlot::new();
            &SLOT
        }
    };
}
