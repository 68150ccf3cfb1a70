//! shards: ETS-compatible partitioned tables, as a NIF library.
//!
//! - `codec`: the owned term encoding (objects live outside any process).
//! - `ms`: the match-spec engine (select, match and friends).
//! - `table`: partitions, locks, the registry of live tables.
//! - `nif`: the entry points called by the Erlang module `shards_nif`.
//! - `prefetch`: cache hints for the memory a call will touch next.

pub mod codec;
pub mod ms;
mod nif;
mod prefetch;
pub mod table;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    codec::shared_bin::on_sparse(table::sweep::request);
    // SAFETY: this is the load callback and `env` its environment.
    unsafe { codec::shared_bin::open(env.as_c_arg()) }
}

rustler::init!("shards_nif", load = load);
