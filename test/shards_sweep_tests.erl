%%% @doc Binaries of 65 to 1024 bytes are stored packed in 8 KB chunks, and
%%% random overwrites leave most chunks holding a few live binaries among
%%% dead ones. The sweep moves those survivors into fresh chunks. These tests
%%% churn a table of each type, sweep, and check three things: the table
%%% still holds exactly what an ets table given the same calls holds, terms
%%% read before the sweep are intact, and the chunks emptied by the sweep are
%%% gone (none is left sparse, and deleting the table gives every chunk back).
-module(shards_sweep_tests).

-include_lib("eunit/include/eunit.hrl").

-define(KEYS, 3000).
-define(OVERWRITES, 10 * ?KEYS).

churn_then_sweep_test_() ->
    [{atom_to_list(Type), {timeout, 120, fun() -> churn_then_sweep(Type) end}}
     || Type <- [set, ordered_set, bag, duplicate_bag]].

churn_then_sweep(Type) ->
    wait_for_background_sweep(),
    {Chunks0, _, _} = shards_nif:chunk_stats(),
    rand:seed(exsss, {erlang:phash2(Type), 7, 11}),
    E = ets:new(oracle, [Type, public]),
    S = shards:new(swept, [Type, public]),
    [insert(E, S, object(K)) || K <- lists:seq(1, ?KEYS)],
    churn_until_sparse(Type, E, S, 5),
    Sample = [rand:uniform(?KEYS) || _ <- lists:seq(1, 200)],
    Held = [{ets:lookup(E, K), shards:lookup(S, K)} || K <- Sample],
    wait_for_background_sweep(),
    true = shards_nif:sweep_now(),
    ?assertMatch({_, 0, _}, shards_nif:chunk_stats()),
    ?assertEqual(lists:sort(ets:tab2list(E)), lists:sort(shards:tab2list(S))),
    [?assertEqual(sorted(Expected), sorted(Got)) || {Expected, Got} <- Held],
    [?assertEqual(sorted(ets:lookup(E, K)), sorted(shards:lookup(S, K))) || K <- Sample],
    true = ets:delete(E),
    true = shards:delete(S),
    %% Scheduler threads keep one current chunk each, whatever they stored.
    {Chunks1, 0, _} = shards_nif:chunk_stats(),
    ?assert(Chunks1 =< Chunks0 + 2 * erlang:system_info(schedulers) + 4).

%% Overwrites random keys until some chunks are sparse, so that the sweep
%% has work (a background pass may just have emptied them all).
churn_until_sparse(Type, E, S, Tries) ->
    [overwrite(Type, E, S, rand:uniform(?KEYS)) || _ <- lists:seq(1, ?OVERWRITES)],
    case shards_nif:chunk_stats() of
        {_, Sparse, _} when Sparse > 0 -> ok;
        _ when Tries > 1 -> churn_until_sparse(Type, E, S, Tries - 1);
        Stats -> error({no_sparse_chunks, Stats})
    end.

%% A key with binaries of every kind: inline (up to 64 bytes), packed
%% (65 to 1024, nested in a list and a map too) and of their own (over 1024).
object(K) ->
    {K, bytes(65, 1024), [bytes(1, 64), bytes(65, 400)], #{v => bytes(65, 1024)},
     case K rem 50 of 0 -> bytes(1025, 3000); _ -> none end}.

bytes(Min, Max) -> rand:bytes(Min + rand:uniform(Max - Min + 1) - 1).

%% One random overwrite; a bag gets its key's objects replaced, so that it
%% does not just grow.
overwrite(Type, E, S, K) when Type =:= bag; Type =:= duplicate_bag ->
    O = object(K),
    both(E, S, fun(M, T) -> M:delete(T, K), M:insert(T, O) end);
overwrite(_, E, S, K) ->
    insert(E, S, object(K)).

insert(E, S, O) ->
    both(E, S, fun(M, T) -> M:insert(T, O) end).

both(E, S, F) ->
    ?assertEqual(F(ets, E), F(shards, S)).

sorted(Objects) -> lists:sort(Objects).

%% A background pass may be moving binaries; the assertions want a still
%% picture.
wait_for_background_sweep() ->
    case shards_nif:chunk_stats() of
        {_, _, true} -> timer:sleep(50), wait_for_background_sweep();
        {_, _, false} -> ok
    end.
