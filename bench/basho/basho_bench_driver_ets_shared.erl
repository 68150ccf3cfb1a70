%% @doc basho_bench driver for ets with one table shared by all workers, the
%% counterpart of basho_bench_driver_shards. (basho_bench's own
%% basho_bench_driver_ets gives each worker a table of its own, so its
%% workers never contend; hence a different name.) Operations get, put,
%% delete, update_counter and select; configuration
%% `{ets_table_options, Opts}' (default `[set, {write_concurrency, auto},
%% {read_concurrency, true}]', the fair baseline) and `{ets_table_name, Name}'.
%% See basho_bench_shared_table and bench/README.md.
-module(basho_bench_driver_ets_shared).

-export([new/1, run/4]).

-spec new(term()) -> {ok, basho_bench_shared_table:state()}.
new(_Id) ->
    basho_bench_shared_table:new(ets, [set, {write_concurrency, auto}, {read_concurrency, true}]).

-spec run(atom(), fun(() -> term()), fun(() -> term()), basho_bench_shared_table:state()) ->
          {ok, basho_bench_shared_table:state()}
        | {error, term(), basho_bench_shared_table:state()}.
run(Op, KeyGen, ValueGen, State) ->
    basho_bench_shared_table:run(Op, KeyGen, ValueGen, State).
