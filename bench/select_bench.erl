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
%% and, for shards, the same scans on a {parallel, true} table.
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
    io:format("OTP ~s, ~b schedulers, ~b dirty CPU schedulers; ~b objects, ~b rounds (median)~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers_online),
               erlang:system_info(dirty_cpu_schedulers_online), N, Rounds]),
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
    io:format("~-14s ~12s ~12s ~9s ~14s ~9s~n",
              [workload, "ets ms", "shards ms", "x ets", "parallel ms", "x ets"]),
    [begin
         [Et, St, Pt] = medians(Rounds, [fun() -> F(ets, E) end, fun() -> F(shards, S) end,
                                         fun() -> F(shards, P) end]),
         io:format("~-14s ~12.1f ~12.1f ~9.2f ~14.1f ~9.2f~n",
                   [Name, Et / 1000, St / 1000, Et / St, Pt / 1000, Et / Pt])
     end || {Name, F} <- Scans],
    KeyRun = fun(M, T) -> fun() -> select_keys(M, T, Keys, tuple_size(Keys)) end end,
    [Ek, Sk] = medians(Rounds, [KeyRun(ets, E), KeyRun(shards, S)]),
    io:format("~-14s ~10.3f us ~9.3f us ~9.2f   (per call)~n",
              [select_key, Ek / KeyCalls, Sk / KeyCalls, Ek / Sk]),
    ok.

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

%% Median microseconds of each fun over Rounds rounds, alternating which
%% goes first; one warm-up round is discarded.
medians(Rounds, Funs) ->
    _ = [timed(F) || F <- Funs],
    Times = [begin
                 Order = case R rem 2 of
                             0 -> lists:zip(lists:seq(1, length(Funs)), Funs);
                             1 -> lists:reverse(lists:zip(lists:seq(1, length(Funs)), Funs))
                         end,
                 lists:sort([{I, timed(F)} || {I, F} <- Order])
             end || R <- lists:seq(1, Rounds)],
    [median([T || Round <- Times, {J, T} <- Round, J =:= I]) || I <- lists:seq(1, length(Funs))].

timed(F) ->
    garbage_collect(),
    {T, _} = timer:tc(F),
    T.

median(L) ->
    lists:nth((length(L) + 1) div 2, lists:sort(L)).
