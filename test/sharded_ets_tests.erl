%%% @doc The benchmark's sharded-ETS baseline (bench/sharded_ets.erl)
%%% against ets as the oracle: the same calls give the same results, so the
%%% benchmark compares tables that do the same work.
-module(sharded_ets_tests).

-include_lib("eunit/include/eunit.hrl").

%% A random sequence of calls on ets and on sharded_ets with P partitions;
%% every result must be the same (select results compared as sets, since
%% partitions are visited one after another).
same_results_test_() ->
    [{lists:flatten(io_lib:format("~p partitions, seed ~p", [P, Seed])),
      fun() -> compare(P, Seed) end}
     || P <- [1, 2, 7], Seed <- [1, 2]].

compare(P, Seed) ->
    _ = rand:seed(exsss, Seed),
    E = ets:new(oracle, [set, public]),
    S = sharded_ets:new(baseline, [set, public, {partitions, P}]),
    try
        lists:foreach(fun(_) ->
                              Call = random_call(),
                              ?assertEqual({Call, run(ets, E, Call)},
                                           {Call, run(sharded_ets, S, Call)})
                      end, lists:seq(1, 3000)),
        ?assertEqual(ets:info(E, size), sharded_ets:info(S, size)),
        ?assertEqual(lists:sort(ets:tab2list(E)), lists:sort(sharded_ets:tab2list(S))),
        ?assertEqual(P, sharded_ets:info(S, partitions))
    after
        ets:delete(E),
        sharded_ets:delete(S)
    end.

random_call() ->
    K = rand:uniform(40),
    O = {K, rand:uniform(5), rand:uniform(3)},
    case rand:uniform(12) of
        1 -> {insert, [O]};
        2 -> {insert, [[O, {K + 1, 0, 0}, {K + 20, 1, 1}]]};
        3 -> {insert_new, [O]};
        4 -> {insert_new, [[O, {K + 3, 0, 0}]]};
        5 -> {lookup, [K]};
        6 -> {member, [K]};
        7 -> {delete, [K]};
        8 -> {take, [K]};
        9 -> {update_counter, [K, {2, 1}, {K, 0, 0}]};
        10 -> {update_counter, [K, [{2, 1}, {3, -1}]]};
        11 -> {sorted, select, [[{{K, '$1', '_'}, [], ['$1']}]]};
        12 -> {sorted, select, [[{{'$1', '$2', '_'}, [{'>', '$2', 3}], [{{'$1', '$2'}}]}]]}
    end.

run(Mod, T, {sorted, F, Args}) ->
    case run(Mod, T, {F, Args}) of
        {ok, L} -> {ok, lists:sort(L)};
        Err -> Err
    end;
run(Mod, T, {F, Args}) ->
    try {ok, apply(Mod, F, [T | Args])}
    catch error:R -> {error, R}
    end.

%% A match spec that binds the key to one ground term is answered by that
%% key's partition alone; others go to all partitions.
select_routing_test() ->
    S = sharded_ets:new(routing, [set, public, {partitions, 4}]),
    try
        true = sharded_ets:insert(S, [{K, K * 10} || K <- lists:seq(1, 100)]),
        ?assertEqual([{7, 70}], sharded_ets:select(S, [{{7, '_'}, [], ['$_']}])),
        ?assertEqual([{7, 70}], sharded_ets:select(S, [{{7, '$1'}, [], ['$_']},
                                                       {{7, 70}, [], ['$_']}])),
        ?assertEqual([{7, 70}, {8, 80}],
                     lists:sort(sharded_ets:select(S, [{{7, '_'}, [], ['$_']},
                                                       {{8, '_'}, [], ['$_']}]))),
        ?assertEqual(100, length(sharded_ets:select(S, [{'_', [], ['$_']}]))),
        ?assertEqual([{{'$9'}, x}], select_tuple_key())
    after
        sharded_ets:delete(S)
    end.

%% A key holding a match variable ({'$1'}) is a pattern, not a ground key:
%% the select must visit every partition, and finds {'$9'} through it.
select_tuple_key() ->
    S = sharded_ets:new(tuple_keys, [set, public, {partitions, 4}]),
    try
        true = sharded_ets:insert(S, [{{N}, N} || N <- lists:seq(1, 50)] ++ [{{'$9'}, x}]),
        %% matches every {N} key: must visit every partition
        50 = length(sharded_ets:select(S, [{{{'$1'}, '$2'}, [{is_integer, '$2'}], ['$_']}])),
        sharded_ets:select(S, [{{{'$1'}, x}, [], ['$_']}])
    after
        sharded_ets:delete(S)
    end.

named_table_test() ->
    Name = sharded_ets:new(sharded_named, [set, public, named_table, {partitions, 3}]),
    try
        ?assertEqual(sharded_named, Name),
        ?assertError(badarg, sharded_ets:new(sharded_named, [named_table])),
        true = sharded_ets:insert(sharded_named, {a, 1}),
        ?assertEqual([{a, 1}], sharded_ets:lookup(sharded_named, a)),
        ?assertNotEqual(undefined, sharded_ets:whereis(sharded_named))
    after
        sharded_ets:delete(sharded_named)
    end,
    ?assertEqual(undefined, sharded_ets:whereis(sharded_named)),
    ?assertError(badarg, sharded_ets:lookup(sharded_named, a)).
