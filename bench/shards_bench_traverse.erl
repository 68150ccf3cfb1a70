%% @doc Full traversal of an ordered_set: first/1 then next/2 over every key,
%% ets (ordered_set, {write_concurrency, true}) against shards (its
%% partitions merged into one order), alternating, median of the rounds.
-module(shards_bench_traverse).

-export([run/3]).

%% @doc Walks `N' keys `Rounds' times per table; prints the times and the
%% ratio, and writes `traverse.csv' into `Dir'.
-spec run(pos_integer(), pos_integer(), file:filename()) -> ok.
run(N, Rounds, Dir) ->
    io:format("~nTraversal: first/next over ~b ordered_set keys, median of ~b rounds~n",
              [N, Rounds]),
    Keys = [rand:uniform(1 bsl 40) || _ <- lists:seq(1, N)],
    Partitions = erlang:system_info(schedulers_online),
    E = ets:new(bench_walk, [ordered_set, public, {write_concurrency, true}]),
    S = shards:new(bench_walk, [ordered_set, public, {partitions, Partitions}]),
    [fill(M, T, Keys) || {M, T} <- [{ets, E}, {shards, S}]],
    Times = [{walk_time(ets, E), walk_time(shards, S)} || _ <- lists:seq(1, Rounds)],
    EtsMs = median([Et || {Et, _} <- Times]) / 1000,
    ShardsMs = median([St || {_, St} <- Times]) / 1000,
    Keys1 = ets:info(E, size),
    Keys1 = shards:info(S, size),
    io:format("  ets ~.1f ms, shards ~.1f ms: shards takes ~.2fx ets's time (target: within 2x)~n",
              [EtsMs, ShardsMs, ShardsMs / EtsMs]),
    ets:delete(E),
    shards:delete(S),
    File = filename:join(Dir, "traverse.csv"),
    ok = file:write_file(File, io_lib:format("keys,ets_ms,shards_ms,time_ratio~n~b,~.1f,~.1f,~.3f~n",
                                             [Keys1, EtsMs, ShardsMs, ShardsMs / EtsMs])),
    io:format("wrote ~s~n", [File]).

fill(M, T, Keys) ->
    lists:foreach(fun(K) -> M:insert(T, {K, K}) end, Keys).

walk_time(M, T) ->
    erlang:garbage_collect(),
    {Us, Count} = timer:tc(fun() -> walk(M, T, M:first(T), 0) end),
    Count = M:info(T, size),
    Us.

walk(_M, _T, '$end_of_table', N) -> N;
walk(M, T, K, N) -> walk(M, T, M:next(T, K), N + 1).

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
