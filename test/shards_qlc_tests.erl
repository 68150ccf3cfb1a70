%%% @doc table/1,2 with qlc, ets as the oracle, for every table type.
-module(shards_qlc_tests).

-include_lib("stdlib/include/qlc.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

with_tables(Type, F) ->
    E = ets:new(e, [Type, public]),
    S = shards:new(s, [Type, public, {partitions, 3}]),
    Objs = [{I rem 11, I, integer_to_binary(I)} || I <- lists:seq(1, 300)],
    [true = M:insert(T, O) || {M, T} <- [{ets, E}, {shards, S}], O <- Objs],
    try F(E, S) after ets:delete(E), shards:delete(S) end.

%% ordered_set answers come in key order (compared as they are); the
%% others as multisets.
same(ordered_set, A, B) -> ?assertEqual(A, B);
same(_, A, B) -> ?assertEqual(lists:sort(A), lists:sort(B)).

queries_test_() ->
    [{atom_to_list(Type),
      fun() ->
              with_tables(Type, fun(E, S) ->
                  Queries =
                      [fun(Tb) -> qlc:e(qlc:q([V || {K, V, _} <- Tb, K =:= 3])) end,
                       fun(Tb) -> qlc:e(qlc:q([K || {K, V, _} <- Tb, V > 290])) end,
                       fun(Tb) -> qlc:e(qlc:q([{K, B} || {K, _, B} <- Tb, K == 5.0])) end,
                       fun(Tb) -> qlc:e(qlc:q([X || X <- Tb])) end],
                  [same(Type, Q(ets:table(E)), Q(shards:table(S))) || Q <- Queries],
                  [same(Type, Q(ets:table(E, Opts)), Q(shards:table(S, Opts)))
                   || Q <- Queries,
                      Opts <- [[{n_objects, 1}], [{n_objects, 7}, {traverse, first_next}],
                               [{traverse, select}],
                               [{traverse, {select, [{{'$1', '_', '_'}, [{'<', '$1', 4}], ['$_']}]}}]]],
                  %% last_prev: the reverse of first_next for an ordered_set.
                  All = fun(Tb) -> qlc:e(qlc:q([X || X <- Tb])) end,
                  same(Type, All(ets:table(E, [{traverse, last_prev}])),
                       All(shards:table(S, [{traverse, last_prev}])))
              end)
      end} || Type <- ?TYPES].

%% A query that joins two tables uses the key lookup of the inner one.
join_test() ->
    A = shards:new(a, [set]),
    B = shards:new(b, [ordered_set]),
    shards:insert(A, [{I, I * 2} || I <- lists:seq(1, 100)]),
    shards:insert(B, [{I * 2, I} || I <- lists:seq(1, 100)]),
    Q = qlc:q([{X, Z} || {X, Y} <- shards:table(A), {W, Z} <- shards:table(B), Y =:= W]),
    ?assertEqual([{I, I} || I <- lists:seq(1, 100)], lists:sort(qlc:e(Q))),
    shards:delete(A),
    shards:delete(B).

bad_options_test() ->
    S = shards:new(s, []),
    E = ets:new(e, []),
    [?assertEqual(shards_test_util:r(fun() -> ets:table(E, Opts) end) =:= {ok, ok},
                  shards_test_util:r(fun() -> shards:table(S, Opts) end) =:= {ok, ok})
     || Opts <- [[{n_objects, 0}], [{traverse, sideways}], [foo]]],
    [?assertMatch({error, error, badarg, _},
                  shards_test_util:r(fun() -> shards:table(S, Opts) end))
     || Opts <- [[{n_objects, 0}], [{traverse, sideways}], [foo]]],
    shards:delete(S),
    ets:delete(E).
