%% @doc basho_bench driver for shards: every worker uses one shared table.
%% Operations get, put, delete, update_counter and select; configuration
%% `{shards_table_options, Opts}' (default `[set]') and
%% `{shards_table_name, Name}'. See basho_bench_shared_table and
%% bench/README.md.
-module(basho_bench_driver_shards).

-export([new/1, run/4]).

-spec new(term()) -> {ok, basho_bench_shared_table:state()}.
new(_Id) ->
    basho_bench_shared_table:new(shards, [set]).

-spec run(atom(), fun(() -> term()), fun(() -> term()), basho_bench_shared_table:state()) ->
          {ok, basho_bench_shared_table:state()}
        | {error, term(), basho_bench_shared_table:state()}.
run(Op, KeyGen, ValueGen, State) ->
    basho_bench_shared_table:run(Op, KeyGen, ValueGen, State).
