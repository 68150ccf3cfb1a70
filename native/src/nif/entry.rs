//! `nif!`: how every NIF of this library is registered and entered.
//!
//! It registers a function as `#[rustler::nif]` does, minus the `Vec` of
//! arguments rustler's wrapper allocates on every call and its result
//! plumbing (together about 9% of a small insert), and adds what every
//! call needs here:
//! - the call's work meter starts (`crate::work`);
//! - `Fail::Dirty` (the call would hold its normal scheduler too long, and
//!   changed nothing) runs the same function again, with the same
//!   arguments, on a dirty CPU scheduler (`enif_schedule_nif`);
//! - any other `Fail` is raised as `raise_now` says (as is a `Dirty` from
//!   a call already unlimited, which would be a bug), and a panic as
//!   rustler raises one (`error:nif_panicked`).
//!
//! It relies on `rustler::codegen_runtime` (the `Nif` registration that
//! `rustler::init!` collects), which is why rustler is pinned exactly.

/// `nif!("name", arity, function)` exports `function(env, [args]) ->
/// Res<Term>` as `shards_nif:name/arity`, called on a normal scheduler;
/// `nif!("name", arity, function, DirtyCpu)` on a dirty CPU scheduler.
macro_rules! nif {
    ($name:literal, $arity:literal, $f:path) => {
        nif!($name, $arity, $f, Normal);
    };
    ($name:literal, $arity:literal, $f:path, $schedule:ident) => {
        rustler::codegen_runtime::inventory::submit!(rustler::Nif {
            name: concat!($name, "\0").as_ptr() as *const rustler::codegen_runtime::c_char,
            arity: $arity,
            flags: rustler::SchedulerFlags::$schedule as rustler::codegen_runtime::c_uint,
            raw_func: {
                unsafe extern "C" fn nif_func(
                    nif_env: *mut rustler::sys::ErlNifEnv,
                    argc: rustler::codegen_runtime::c_int,
                    argv: *const rustler::sys::ErlNifTerm,
                ) -> rustler::sys::ErlNifTerm {
                    $crate::work::start();
                    let lifetime = ();
                    // SAFETY: the VM calls this with its environment for the
                    // call, valid until we return.
                    let env = unsafe { rustler::Env::new(&lifetime, nif_env) };
                    // SAFETY: the VM passes exactly `$arity` live terms of
                    // `env` (the arity this function is registered with).
                    let args: [rustler::Term<'_>; $arity] =
                        std::array::from_fn(|i| unsafe { rustler::Term::new(env, *argv.add(i)) });
                    match std::panic::catch_unwind(move || $f(env, args)) {
                        Ok(Ok(term)) => term.as_c_arg(),
                        Ok(Err($crate::nif::Fail::Dirty)) if $crate::work::limited() => {
                            // SAFETY: this call's own environment, function,
                            // arguments and name; what the VM returns is this
                            // call's result.
                            unsafe {
                                rustler::sys::enif_schedule_nif(
                                    nif_env,
                                    concat!($name, "\0").as_ptr() as *const _,
                                    rustler::SchedulerFlags::DirtyCpu as _,
                                    nif_func,
                                    argc,
                                    argv,
                                )
                            }
                        }
                        Ok(Err(fail)) => $crate::nif::raise_now(env, fail),
                        Err(panic) => {
                            let result = Err::<rustler::NifResult<rustler::Term<'_>>, _>(panic);
                            rustler::codegen_runtime::handle_nif_result(result, env).apply(env)
                        }
                    }
                }
                nif_func
            },
        });
    };
}
