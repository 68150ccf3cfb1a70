%% Select benchmark: ets versus shards over the same 1M objects, in one VM.
%% Not part of `make test'. Run it with bench/select_bench.sh.
%%
%% Workloads (objects {I, I rem 1000, <<"value">>}, I in 1..N):
%%   select_count  select_count(T, [{{'_', '$1', '_'}, [{'<', '$1', 100}], [true]}])
%%                 (counts 10% of the objects)
%%   select_guard  select(T, [{{'$1', '$2', '_'}, [{'<', '$2', 10}], ['$1']}])
%%                 (returns 1% of the keys)
%%   select_key    select(T, [{{K, '_', '_'}, [], ['$_']}]) for random keys K
%%                 (one object each; reported per call)
%%   select/3      select_guard's spec in chunks of 100, through every
%%                 continuation
%%   select_rev    select_reverse(T, GuardSpec, 100) on an ordered_set of the
%%                 same objects: the first chunk
%% and, for shards, the two scans on a {parallel, true} table too (par/seq:
%% how much faster than on the sequential table).
%%
%% Environment knobs:
%%   OBJECTS=N    table size (default 1000000)
%%   ROUNDS=N     measured rounds, the median is reported (default 5)
%%   KEY_CALLS=N  select_key calls per round (default 100000)
-module(select_bench).

-export([main/0]).

-define(ETS_OPTS, [set, public, {write_concurrency, auto}, {read_concurrency, true}]).
-define(COUNT_MS, [{{'_', '$1', '_'}, [{'<', '$1', 100}], [true]}]).
-define(GUARD_MS, [{{'$1', '$2', '_'}, [{'<', '$2', 10}], ['$1']}]).

-spec main() -> no_return().
main() ->
    Code = try
               run(),
               0
           catch C:R:St ->
               io:format(standard_error, "benchmark failed: ~p:~p~n~p~n", [C, R, St]),
               1
           end,
    halt(Code).

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        V -> list_to_integer(V)
    end.

run() ->
    N = env_int("OBJECTS", 1000000),
    Rounds = env_int("ROUNDS", 5),
    KeyCalls = env_int("KEY_CALLS", 100000),
    io:format("OTP ~s, ~b schedulers, ~b dirty CPU schedulers; ~b objects, ~b rounds (median); "
              "load average ~s~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers_online),
               erlang:system_info(dirty_cpu_schedulers_online), N, Rounds, loadavg()]),
    io:format("ets: ets:new(_, ~w); shards: shards:new(_, [set, public]) "
              "(~b partitions)~n~n", [?ETS_OPTS, erlang:system_info(schedulers_online)]),
    Objects = [{I, I rem 1000, <<"value">>} || I <- lists:seq(1, N)],
    E = ets:new(bench, ?ETS_OPTS),
    S = shards:new(bench, [set, public]),
    P = shards:new(bench, [set, public, {parallel, true}]),
    [true = M:insert(T, Objects) || {M, T} <- [{ets, E}, {shards, S}, {shards, P}]],
    check(E, S, P),
    _ = rand:seed(exsss, {1, 2, 3}),
    Keys = list_to_tuple([rand:uniform(N) || _ <- lists:seq(1, KeyCalls)]),
    Scans = [{select_count, fun(M, T) -> M:select_count(T, ?COUNT_MS) end},
             {select_guard, fun(M, T) -> M:select(T, ?GUARD_MS) end}],
    %% par/seq: the sequential shards time over the parallel one, round by
    %% round (the median of those ratios: robust to load that drifts).
    io:format("~-14s ~12s ~12s ~9s ~14s ~9s ~9s~n",
              [workload, "ets ms", "shards ms", "x ets", "parallel ms", "x ets", "par/seq"]),
    [begin
         Times = rounds(Rounds, [fun() -> F(ets, E) end, fun() -> F(shards, S) end,
                                 fun() -> F(shards, P) end]),
         [Et, St, Pt] = medians(Times),
         Gain = median([Ts / Tp || [_, Ts, Tp] <- Times]),
         io:format("~-14s ~12.1f ~12.1f ~9.2f ~14.1f ~9.2f ~9.2f~n",
                   [Name, Et / 1000, St / 1000, Et / St, Pt / 1000, Et / Pt, Gain])
     end || {Name, F} <- Scans],
    KeyRun = fun(M, T) -> fun() -> select_keys(M, T, Keys, tuple_size(Keys)) end end,
    KeyTimes = rounds(Rounds, [KeyRun(ets, E), KeyRun(shards, S)]),
    [Ek, Sk] = medians(KeyTimes),
    io:format("~-14s ~10.3f us ~9.3f us ~9.2f   (per call; median of paired ratios ~.2f)~n",
              [select_key, Ek / KeyCalls, Sk / KeyCalls, Ek / Sk,
               median([A / B || [A, B] <- KeyTimes])]),
    %% select/3: every chunk of 100 results, through the continuations.
    ChunkRun = fun(M, T) -> fun() -> follow(M, M:select(T, ?GUARD_MS, 100), 0) end end,
    [Ec, Sc] = medians(rounds(Rounds, [ChunkRun(ets, E), ChunkRun(shards, S)])),
    io:format("~-14s ~12.1f ~12.1f ~9.2f   (select/3, all chunks of 100)~n",
              ['select/3', Ec / 1000, Sc / 1000, Ec / Sc]),
    _ = [M:delete(T) || {M, T} <- [{ets, E}, {shards, S}, {shards, P}]],
    %% select_reverse/3 on an ordered_set: the first chunk of 100.
    OE = ets:new(bench, [ordered_set | tl(?ETS_OPTS)]),
    OS = shards:new(bench, [ordered_set, public]),
    [true = M:insert(T, Objects) || {M, T} <- [{ets, OE}, {shards, OS}]],
    {Rev, _} = ets:select_reverse(OE, ?GUARD_MS, 100),
    {Rev, _} = shards:select_reverse(OS, ?GUARD_MS, 100),
    RevRun = fun(M, T) -> fun() -> M:select_reverse(T, ?GUARD_MS, 100) end end,
    [Er, Sr] = medians(rounds(Rounds, [RevRun(ets, OE), RevRun(shards, OS)])),
    io:format("~-14s ~12.3f ~12.3f ~9.2f   (ordered_set, select_reverse/3: first chunk of 100)~n",
              [select_rev, Er / 1000, Sr / 1000, Er / Sr]),
    io:format("~nload average ~s~n", [loadavg()]),
    ok.

loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(B), " "), 3));
        _ -> "unknown"
    end.

follow(_M, '$end_of_table', N) -> N;
follow(M, {L, C}, N) -> follow(M, M:select(C), N + length(L)).

%% The three tables must agree before anything is timed.
check(E, S, P) ->
    Count = ets:select_count(E, ?COUNT_MS),
    Count = shards:select_count(S, ?COUNT_MS),
    Count = shards:select_count(P, ?COUNT_MS),
    Guard = lists:sort(ets:select(E, ?GUARD_MS)),
    Guard = lists:sort(shards:select(S, ?GUARD_MS)),
    Guard = lists:sort(shards:select(P, ?GUARD_MS)),
    [Obj] = ets:select(E, [{{42, '_', '_'}, [], ['$_']}]),
    [Obj] = shards:select(S, [{{42, '_', '_'}, [], ['$_']}]),
    ok.

select_keys(_M, _T, _Keys, 0) ->
    ok;
select_keys(M, T, Keys, I) ->
    [_] = M:select(T, [{{element(I, Keys), '_', '_'}, [], ['$_']}]),
    select_keys(M, T, Keys, I - 1).

%% Microseconds of each fun in each of Rounds rounds (a list per round, in
%% the order of Funs), alternating which goes first; one warm-up round is
%% discarded.
rounds(Rounds, Funs) ->
    _ = [timed(F) || F <- Funs],
    Indexed = lists:zip(lists:seq(1, length(Funs)), Funs),
    [begin
         Order = case R rem 2 of
                     0 -> Indexed;
                     1 -> lists:reverse(Indexed)
                 end,
         [T || {_, T} <- lists:sort([{I, timed(F)} || {I, F} <- Order])]
     end || R <- lists:seq(1, Rounds)].

%% The median time of each fun.
medians([First | _] = Times) ->
    [median([lists:nth(I, Round) || Round <- Times]) || I <- lists:seq(1, length(First))].

timed(F) ->
    garbage_collect(),
    {T, _} = timer:tc(F),
    T.

median(L) ->
    lists:nth((length(L) + 1) div 2, lists:sort(L)).
