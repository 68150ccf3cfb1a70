//! `hot_nif!`: registers a NIF as `#[rustler::nif]` does, minus the `Vec`
//! of arguments rustler's wrapper allocates and frees on every call (about
//! 4% of a small insert) and minus its result plumbing (`NifResult` turned
//! into a `NifReturned` and applied: about 5%). For the key-value calls
//! that run millions of times a second; everything else keeps the attribute.

/// `hot_nif!("name", arity, function)` exports `function(env, [args]) ->
/// Res<Term>` as `shards_nif:name/arity`, on a normal scheduler: a `Fail`
/// is raised as `run` raises it, a panic as `#[rustler::nif]` raises it.
macro_rules! hot_nif {
    ($name:literal, $arity:literal, $f:path) => {
        rustler::codegen_runtime::inventory::submit!(rustler::Nif {
            name: concat!($name, "\0").as_ptr() as *const rustler::codegen_runtime::c_char,
            arity: $arity,
            flags: rustler::SchedulerFlags::Normal as rustler::codegen_runtime::c_uint,
            raw_func: {
                unsafe extern "C" fn nif_func(
                    nif_env: *mut rustler::sys::ErlNifEnv,
                    _argc: rustler::codegen_runtime::c_int,
                    argv: *const rustler::sys::ErlNifTerm,
                ) -> rustler::sys::ErlNifTerm {
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
