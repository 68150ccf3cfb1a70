//! shards: ETS-compatible partitioned tables, as a NIF library.
//!
//! - `codec`: the owned term encoding (objects live outside any process).
//! - `ms`: the match-spec engine (select, match and friends).
//! - `table`: partitions, locks, the registry of live tables.
//! - `nif`: the entry points called by the Erlang module `shards_nif`.
//! - `resource`: the VM resources objects live in, kept across reloads.
//! - `work`: how much work a call may do on a normal scheduler.
//! - `prefetch`: cache hints for the memory a call will touch next.

pub mod codec;
pub mod ms;
mod nif;
mod prefetch;
pub mod resource;
pub mod table;
pub mod work;

use rustler::codegen_runtime::{c_int, c_void, ErlNifEntry, ErlNifEnv, ErlNifFunc, ErlNifTerm};

/// What a loaded instance of this library hands the VM as its private
/// data, so that an instance loaded over it (an upgrade) can tell whether
/// it is the same code: the same instance shares its statics, tables
/// included; another build cannot read this one's tables.
#[repr(C)]
struct Instance {
    /// `MAGIC`: the layout of this struct.
    magic: u64,
    /// Tables alive in this instance.
    live_tables: extern "C" fn() -> usize,
}

const MAGIC: u64 = 0x7368_6172_6473_0001;

extern "C" fn live_tables() -> usize {
    table::registry::count()
}

static INSTANCE: Instance = Instance {
    magic: MAGIC,
    live_tables,
};

/// Opens every resource type, taking over this instance's live objects
/// when it is loaded again (see `resource`).
unsafe fn open_types(env: *mut ErlNifEnv) -> bool {
    codec::shared_bin::on_sparse(table::sweep::request);
    // SAFETY: the load or upgrade environment (caller's contract).
    unsafe { codec::shared_bin::open(env) && nif::open_types(env) }
}

unsafe extern "C" fn load(
    env: *mut ErlNifEnv,
    priv_data: *mut *mut c_void,
    _load_info: ErlNifTerm,
) -> c_int {
    // SAFETY: the VM calls this with its load environment and a slot for
    // the private data.
    unsafe {
        if !open_types(env) {
            return 1;
        }
        *priv_data = &INSTANCE as *const Instance as *mut c_void;
    }
    0
}

/// `l(shards_nif)` and other loads over a loaded instance. The same
/// instance (the same file, mapped once) takes its own objects over; a
/// different build is refused while the old one has live tables, which it
/// could not read (the old code then stays loaded and working).
unsafe extern "C" fn upgrade(
    env: *mut ErlNifEnv,
    priv_data: *mut *mut c_void,
    old_priv_data: *mut *mut c_void,
    load_info: ErlNifTerm,
) -> c_int {
    // SAFETY: the VM passes the old instance's private data, which that
    // instance set to its `Instance` (or left null); its layout is checked
    // by `magic` before its function is called.
    unsafe {
        let old = *old_priv_data as *const Instance;
        let same = std::ptr::eq(old, &INSTANCE);
        if !same && !old.is_null() && ((*old).magic != MAGIC || ((*old).live_tables)() > 0) {
            return 2;
        }
        load(env, priv_data, load_info)
    }
}

unsafe extern "C" fn unload(_env: *mut ErlNifEnv, _priv_data: *mut c_void) {
    // No thread of ours may run this library's code once it is unmapped.
    table::reaper::wait_idle();
    table::sweep::wait_idle();
}

/// The NIF library's entry point (what `rustler::init!` would make, plus
/// the upgrade and unload callbacks it lacks).
#[no_mangle]
pub extern "C" fn nif_init() -> *const ErlNifEntry {
    struct Entry(ErlNifEntry);
    // SAFETY: the entry only holds pointers to static data.
    unsafe impl Sync for Entry {}
    unsafe impl Send for Entry {}
    static ENTRY: std::sync::OnceLock<Entry> = std::sync::OnceLock::new();
    // SAFETY: fills rustler's table of VM functions (a no-op where they
    // are linked directly), before any of them is called.
    unsafe { rustler::codegen_runtime::internal_write_symbols() };
    &ENTRY
        .get_or_init(|| {
            let funcs: &'static [ErlNifFunc] = Box::leak(
                rustler::codegen_runtime::inventory::iter::<rustler::Nif>()
                    .map(rustler::Nif::get_def)
                    .collect(),
            );
            let mut entry = ErlNifEntry::new(c"shards_nif", funcs, load);
            entry.upgrade = Some(upgrade);
            entry.unload = Some(unload);
            Entry(entry)
        })
        .0
}
