%%% @doc The basho_bench drivers (bench/basho/), called the way basho_bench
%%% calls them: every worker process calls `new(Id)', then
%%% `run(Op, KeyGen, ValueGen, State)' with generator funs of no arguments,
%%% threading the state it gets back. ets is the oracle: the same calls
%%% through basho_bench_driver_ets_shared and basho_bench_driver_shards must
%%% leave the same objects in the two tables.
%%%
%%% The configs in bench/basho/ are read like basho_bench reads them, and
%%% their operations, key and value generators are run through the drivers.
-module(basho_bench_drivers_tests).

-include_lib("eunit/include/eunit.hrl").

-define(SHARDS, basho_bench_driver_shards).
-define(ETS, basho_bench_driver_ets_shared).

drivers() -> [{?SHARDS, shards}, {?ETS, ets}].

%% Each test starts and ends without the drivers' tables or config.
with_clean_tables(Test) ->
    {setup, fun cleanup/0, fun(_) -> cleanup() end, Test}.

cleanup() ->
    [application:unset_env(basho_bench, K)
     || K <- [shards_table_name, shards_table_options, ets_table_name, ets_table_options]],
    [ok = basho_bench_shared_table:stop(Mod) || {_, Mod} <- drivers()],
    ok.

table_name(Mod) -> list_to_atom("basho_bench_" ++ atom_to_list(Mod)).

%% basho_bench-style generators, from a seeded random sequence.
keygen(Max) -> fun() -> rand:uniform(Max) end.
valgen(Size) -> fun() -> binary:copy(<<(rand:uniform(255))>>, Size) end.

%% Runs Ops through one fresh worker of Driver; every call must answer
%% {ok, State}. Returns the final state.
run_worker(Driver, Id, Ops, Seed) ->
    _ = rand:seed(exsss, Seed),
    {ok, S0} = Driver:new(Id),
    lists:foldl(fun(Op, S) ->
                        case Driver:run(Op, keygen(200), valgen(32), S) of
                            {ok, S1} -> S1;
                            Other -> error({unexpected, Driver, Op, Other})
                        end
                end, S0, Ops).

supported_ops(Mod) ->
    [get, put, delete, update_counter] ++ [select || has_select(Mod)].

has_select(Mod) ->
    _ = code:ensure_loaded(Mod),
    erlang:function_exported(Mod, select, 2).

contents(Mod) -> lists:sort(Mod:tab2list(table_name(Mod))).

same_calls_same_objects_test_() ->
    with_clean_tables(
      fun() ->
              _ = rand:seed(exsss, 11),
              Ops = [lists:nth(rand:uniform(5), [get, put, put, delete, update_counter])
                     || _ <- lists:seq(1, 2000)]
                  ++ [select || has_select(shards)],
              [run_worker(D, 1, Ops, 99) || {D, _} <- drivers()],
              Ets = contents(ets),
              ?assert(length(Ets) > 50),
              ?assert(lists:any(fun({{counter, _}, N}) -> N > 1; (_) -> false end, Ets)),
              ?assertEqual(Ets, contents(shards))
      end).

every_operation_answers_ok_test_() ->
    with_clean_tables(
      [?_assertMatch({ok, _}, D:run(Op, keygen(10), valgen(8), element(2, D:new(1))))
       || {D, Mod} <- drivers(), Op <- supported_ops(Mod)]).

select_without_support_is_an_error_test_() ->
    with_clean_tables(
      fun() ->
              {ok, S} = ?SHARDS:new(1),
              case has_select(shards) of
                  true -> ?assertMatch({ok, _}, ?SHARDS:run(select, keygen(10), valgen(8), S));
                  false -> ?assertMatch({error, {not_supported, {shards, select, 2}}, _},
                                        ?SHARDS:run(select, keygen(10), valgen(8), S))
              end
      end).

unknown_operation_is_an_error_test_() ->
    with_clean_tables(
      [?_assertMatch({error, {unknown_operation, frobnicate}, _},
                     D:run(frobnicate, keygen(10), valgen(8), element(2, D:new(1))))
       || {D, _} <- drivers()]).

%% Workers are separate processes: a put by one is seen by the others, and
%% the table outlives the worker that happened to create it.
one_table_for_all_workers_test_() ->
    with_clean_tables(
      [fun() ->
               Self = self(),
               First = spawn(fun() ->
                                     {ok, S} = D:new(1),
                                     {ok, _} = D:run(put, fun() -> k1 end, fun() -> <<"v1">> end, S),
                                     Self ! {self(), done}
                             end),
               receive {First, done} -> ok end,
               wait_dead(First),
               {ok, S2} = D:new(2),
               {ok, _} = D:run(put, fun() -> k2 end, fun() -> <<"v2">> end, S2),
               ?assertEqual([{k1, <<"v1">>}, {k2, <<"v2">>}], contents(Mod))
       end || {D, Mod} <- drivers()]).

concurrent_new_makes_one_table_test_() ->
    with_clean_tables(
      [fun() ->
               Self = self(),
               Pids = [spawn(fun() ->
                                     {ok, S} = D:new(Id),
                                     Self ! {self(), D:run(put, fun() -> Id end,
                                                           fun() -> <<Id>> end, S)}
                             end) || Id <- lists:seq(1, 16)],
               [receive {P, Res} -> ?assertMatch({ok, _}, Res) end || P <- Pids],
               ?assertEqual([{Id, <<Id>>} || Id <- lists:seq(1, 16)], contents(Mod)),
               ?assertEqual(1, length([T || T <- Mod:all(), table_named(Mod, T)]))
       end || {D, Mod} <- drivers()]).

table_named(Mod, T) ->
    Name = table_name(Mod),
    T =:= Name orelse Mod:info(T, name) =:= Name.

options_and_name_come_from_the_basho_bench_config_test_() ->
    with_clean_tables(
      fun() ->
              ok = application:set_env(basho_bench, shards_table_name, bb_custom),
              ok = application:set_env(basho_bench, shards_table_options, [{partitions, 3}]),
              ok = application:set_env(basho_bench, ets_table_name, bb_custom_ets),
              ok = application:set_env(basho_bench, ets_table_options, [ordered_set]),
              {ok, _} = ?SHARDS:new(1),
              {ok, _} = ?ETS:new(1),
              ?assertEqual(3, shards:info(bb_custom, partitions)),
              ?assertEqual(public, shards:info(bb_custom, protection)),
              ?assertEqual(ordered_set, ets:info(bb_custom_ets, type)),
              ?assertEqual(public, ets:info(bb_custom_ets, protection)),
              ok = basho_bench_shared_table:stop(shards),
              ok = basho_bench_shared_table:stop(ets),
              ?assertEqual(undefined, shards:whereis(bb_custom)),
              ?assertEqual(undefined, ets:whereis(bb_custom_ets))
      end).

%% The configs: consulted as basho_bench does, their driver and operations
%% run with generators built from their key_generator and value_generator.
configs_run_through_their_drivers_test_() ->
    Configs = filelib:wildcard(filename:join(basho_dir(), "*.config")),
    [{filename:basename(C), with_clean_tables(fun() -> check_config(C) end)} || C <- Configs]
        ++ [?_assert(length(Configs) >= 2)].

check_config(File) ->
    {ok, Terms} = file:consult(File),
    lists:foreach(fun({K, V}) -> ok = application:set_env(basho_bench, K, V) end, Terms),
    try
        Driver = proplists:get_value(driver, Terms),
        max = proplists:get_value(mode, Terms),
        KeyGen = generator(proplists:get_value(key_generator, Terms)),
        ValGen = generator(proplists:get_value(value_generator, Terms)),
        {ok, S0} = Driver:new(1),
        Ops = [Op || {Op, W} <- proplists:get_value(operations, Terms), _ <- lists:seq(1, W)],
        ?assertNotEqual([], Ops),
        lists:foldl(fun(Op, S) ->
                            {ok, S1} = Driver:run(Op, KeyGen, ValGen, S),
                            S1
                    end, S0, lists:append(lists:duplicate(50, Ops)))
    after
        lists:foreach(fun({K, _}) -> application:unset_env(basho_bench, K) end, Terms)
    end.

generator({uniform_int, N}) -> fun() -> rand:uniform(N) end;
generator({fixed_bin, Size}) -> fun() -> crypto:strong_rand_bytes(Size) end.

%% bench/basho, found from where the driver was compiled.
basho_dir() ->
    filename:dirname(proplists:get_value(source, ?SHARDS:module_info(compile))).

wait_dead(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> ok end.
