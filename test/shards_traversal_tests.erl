%%% @doc Traversal under concurrent writes, and safe_fixtable/2, for every
%%% table type and several partition counts (ets is the oracle where it
%%% makes a promise).
-module(shards_traversal_tests).

-include_lib("eunit/include/eunit.hrl").

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).
-define(PARTITIONS, [1, 2, 7, 64]).
-define(STABLE, 2000).

%% A writer process keeps inserting and deleting keys above ?STABLE,
%% counting its writes in Counter; returns once it has started writing.
churn(Tab, Stop, Counter) ->
    Pid = spawn_link(fun() -> churn_loop(Tab, Stop, Counter, 0) end),
    wait_until(fun() -> atomics:get(Counter, 1) > 100 end),
    Pid.

churn_loop(Tab, Stop, Counter, N) ->
    receive
        {Stop, From} -> From ! {Stop, N}
    after 0 ->
            K = ?STABLE + rand:uniform(5000),
            case N rem 2 of
                0 -> shards:insert(Tab, {K, N});
                1 -> shards:delete(Tab, K)
            end,
            atomics:add(Counter, 1, 1),
            churn_loop(Tab, Stop, Counter, N + 1)
    end.

stop(Pid, Ref) ->
    Pid ! {Ref, self()},
    receive {Ref, N} -> N end.

walk(Tab, First, Next) ->
    walk(Tab, First, Next, fun() -> ok end).

%% Calls Pause every 100 steps.
walk(Tab, First, Next, Pause) ->
    walk(Tab, shards:First(Tab), Next, Pause, []).

walk(_Tab, '$end_of_table', _Next, _Pause, Acc) ->
    lists:reverse(Acc);
walk(Tab, K, Next, Pause, Acc) ->
    length(Acc) rem 100 =:= 0 andalso Pause(),
    walk(Tab, shards:Next(Tab, K), Next, Pause, [K | Acc]).

%% Waits until the writer has written again: writes interleave with the walk.
writes_between_steps(Counter) ->
    fun() ->
            N = atomics:get(Counter, 1),
            ok = wait_until(fun() -> atomics:get(Counter, 1) > N + 10 end)
    end.

%% With the table fixed, every key present for the whole traversal is seen
%% exactly once while another process inserts and deletes other keys; an
%% ordered_set walk is also in order.
fixed_traversal_sees_stable_keys_once_test_() ->
    [{lists:flatten(io_lib:format("~p, ~p partitions", [Type, P])),
      {timeout, 60, fun() -> fixed_traversal(Type, P) end}}
     || Type <- ?TYPES, P <- ?PARTITIONS].

fixed_traversal(Type, P) ->
    T = shards:new(t, [Type, public, {partitions, P}]),
    shards:insert(T, [{K, stable} || K <- lists:seq(1, ?STABLE)]),
    Ref = make_ref(),
    Counter = atomics:new(1, []),
    W = churn(T, Ref, Counter),
    true = shards:safe_fixtable(T, true),
    Before = atomics:get(Counter, 1),
    Seen = walk(T, first, next, writes_between_steps(Counter)),
    During = atomics:get(Counter, 1) - Before,
    true = shards:safe_fixtable(T, false),
    stop(W, Ref),
    Stable = [K || K <- Seen, K =< ?STABLE],
    ?assertEqual({[], []}, {Stable -- lists:usort(Stable), lists:seq(1, ?STABLE) -- Stable}),
    %% The writer really wrote while the walk ran (two schedulers).
    ?assert(During > 0),
    case Type of
        ordered_set -> ?assertEqual(lists:sort(Seen), Seen);
        _ -> ok
    end,
    shards:delete(T).

%% The traversal itself may delete what it has visited (the classic
%% fixed-table idiom) and still visits every object once.
fixed_traversal_deleting_as_it_goes_test() ->
    [begin
         T = shards:new(t, [Type, public, {partitions, P}]),
         shards:insert(T, [{K} || K <- lists:seq(1, 3000)]),
         shards:safe_fixtable(T, true),
         Seen = delete_walk(T, shards:first(T), []),
         shards:safe_fixtable(T, false),
         ?assertEqual(lists:seq(1, 3000), lists:sort(Seen)),
         ?assertEqual(0, shards:info(T, size)),
         shards:delete(T)
     end || Type <- ?TYPES, P <- ?PARTITIONS].

delete_walk(_T, '$end_of_table', Acc) -> Acc;
delete_walk(T, K, Acc) ->
    shards:delete(T, K),
    delete_walk(T, shards:next(T, K), [K | Acc]).

%% Unfixed, a walk racing with writers ends: at '$end_of_table', or with
%% badarg when the key it stands on was deleted (as ets).
unfixed_traversal_ends_test_() ->
    {timeout, 60,
     fun() ->
             [begin
                  T = shards:new(t, [Type, public, {partitions, P}]),
                  shards:insert(T, [{K, stable} || K <- lists:seq(1, ?STABLE)]),
                  Ref = make_ref(),
                  W = churn(T, Ref, atomics:new(1, [])),
                  R = try walk(T, first, next) of
                          L when is_list(L) -> done
                      catch error:badarg -> badarg
                      end,
                  stop(W, Ref),
                  ?assert(lists:member(R, [done, badarg])),
                  shards:delete(T)
              end || Type <- ?TYPES, P <- [1, 7]]
     end}.

%% next/2 of a missing key: ets semantics per type, fixed or not.
next_of_missing_key_test() ->
    [begin
         E = ets:new(e, [Type, public]),
         S = shards:new(s, [Type, public, {partitions, 3}]),
         [M:insert(X, [{1}, {3}, {5}]) || {M, X} <- [{ets, E}, {shards, S}]],
         Same = fun(F) ->
                        ?assertEqual(shards_test_util:r(fun() -> F(ets, E) end),
                                     shards_test_util:r(fun() -> F(shards, S) end))
                end,
         case Type of
             ordered_set ->
                 [Same(fun(M, X) -> M:Step(X, K) end)
                  || Step <- [next, prev], K <- [0, 2, 2.5, 3.0, 6, a, -1]];
             _ ->
                 Same(fun(M, X) -> M:next(X, 2) end),
                 Same(fun(M, X) -> M:prev(X, 2) end)
         end,
         ets:delete(E),
         shards:delete(S)
     end || Type <- ?TYPES].

%% info(T, fixed | safe_fixed | safe_fixed_monotonic_time) have ets's shapes
%% and count nested fixations per process.
fixation_info_test() ->
    [begin
         T = shards:new(t, [Type, public]),
         ?assertEqual(false, shards:info(T, fixed)),
         ?assertEqual(false, shards:info(T, safe_fixed)),
         Before = erlang:monotonic_time(),
         true = shards:safe_fixtable(T, true),
         true = shards:safe_fixtable(T, true),
         ?assertEqual(true, shards:info(T, fixed)),
         {{Mega, Sec, Micro}, [{Pid, 2}]} = shards:info(T, safe_fixed),
         ?assert(is_integer(Mega) andalso is_integer(Sec) andalso is_integer(Micro)),
         ?assertEqual(self(), Pid),
         {Mono, [{Pid, 2}]} = shards:info(T, safe_fixed_monotonic_time),
         ?assert(Mono >= Before),
         true = shards:safe_fixtable(T, false),
         ?assertEqual(true, shards:info(T, fixed)),
         true = shards:safe_fixtable(T, false),
         ?assertEqual(false, shards:info(T, fixed)),
         %% Releasing an unfixed table is harmless, as in ets.
         ?assertEqual(true, shards:safe_fixtable(T, false)),
         shards:delete(T)
     end || Type <- ?TYPES].

%% A process's fixations end when it exits.
fixation_released_on_exit_test() ->
    T = shards:new(t, [set, public]),
    Parent = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       shards:safe_fixtable(T, true),
                                       Parent ! fixed,
                                       receive stop -> ok end
                               end),
    receive fixed -> ok end,
    ?assertMatch({_, [{Pid, 1}]}, shards:info(T, safe_fixed)),
    Pid ! stop,
    receive {'DOWN', Mon, process, Pid, _} -> ok end,
    ?assertEqual(ok, wait_until(fun() -> shards:info(T, fixed) =:= false end)),
    shards:delete(T).

wait_until(F) -> wait_until(F, 1000).
wait_until(_F, 0) -> timeout;
wait_until(F, N) ->
    case F() of
        true -> ok;
        false -> timer:sleep(1), wait_until(F, N - 1)
    end.

%% Bad arguments: as ets.
safe_fixtable_errors_test() ->
    E = ets:new(e, [public]),
    S = shards:new(s, [public]),
    [?assertEqual(shards_test_util:r(fun() -> ets:safe_fixtable(E, Arg) end),
                  shards_test_util:r(fun() -> shards:safe_fixtable(S, Arg) end))
     || Arg <- [true, false, maybe, 1]],
    ets:delete(E),
    shards:delete(S),
    ?assertMatch({error, error, badarg, _},
                 shards_test_util:r(fun() -> shards:safe_fixtable(S, true) end)),
    ?assertMatch({error, error, badarg, _},
                 shards_test_util:r(fun() -> shards:safe_fixtable(no_such_table, true) end)).

%% A private table cannot be fixed by another process.
safe_fixtable_access_test() ->
    S = shards:new(s, [private]),
    E = ets:new(e, [private]),
    Parent = self(),
    spawn(fun() ->
                  Parent ! {res,
                            shards_test_util:r(fun() -> ets:safe_fixtable(E, true) end),
                            shards_test_util:r(fun() -> shards:safe_fixtable(S, true) end)}
          end),
    receive {res, ER, SR} -> ?assertEqual(ER, SR) end,
    shards:delete(S),
    ets:delete(E).

%% An ordered_set walk interleaved with writes, in one process: each step's
%% result is exact, so ets is the oracle for every next/prev. Writes land
%% ahead of, behind and at the walk's position, so the cached keys ahead of
%% each store (read ahead several at a time) must be dropped when their
%% store changes. A second walk on another table, interleaved on the same
%% scheduler, checks that walks do not mix their caches.
ordered_walk_with_writes_matches_ets_test_() ->
    {timeout, 60,
     fun() ->
             [walk_with_writes(P, Step, Seed) || P <- ?PARTITIONS, Step <- [next, prev],
                                                 Seed <- [1, 2, 3]]
     end}.

walk_with_writes(P, Step, Seed) ->
    rand:seed(exsss, {P, Seed, 7}),
    Keys = shards_test_util:tricky_keys() ++ lists:seq(1, 300) ++ [K + 0.5 || K <- lists:seq(1, 50)],
    Pick = fun() -> lists:nth(rand:uniform(length(Keys)), Keys) end,
    Tabs = [{ets:new(e, [ordered_set, public]), shards:new(s, [ordered_set, public, {partitions, P}])}
            || _ <- [a, b]],
    %% One object at a time: a list with two keys that compare equal (1 and
    %% 1.0) leaves ets free to keep either.
    [[begin ets:insert(E, Obj), shards:insert(S, Obj) end
      || Obj <- [{Pick(), I} || I <- lists:seq(1, 200)]]
     || {E, S} <- Tabs],
    Start = case Step of next -> first; prev -> last end,
    Cursors = [{E, S, ets:Start(E)} || {E, S} <- Tabs],
    [?assertEqual(K, shards:Start(S)) || {_, S, K} <- Cursors],
    walk_steps(Cursors, Step, Pick, 0),
    [begin ets:delete(E), shards:delete(S) end || {E, S} <- Tabs],
    ok.

walk_steps([], _, _, _) -> ok;
walk_steps([{E, S, '$end_of_table'} | Rest], Step, Pick, N) ->
    walk_steps(Rest, Step, Pick, N);
walk_steps([{E, S, K} | Rest], Step, Pick, N) when N < 2000 ->
    case rand:uniform(10) of
        1 -> Obj = {Pick(), N}, ets:insert(E, Obj), shards:insert(S, Obj);
        2 -> D = Pick(), ets:delete(E, D), shards:delete(S, D);
        3 -> ets:delete(E, K), shards:delete(S, K);
        4 -> Obj = {K, N}, ets:insert(E, Obj), shards:insert(S, Obj);
        _ -> ok
    end,
    Expected = ets:Step(E, K),
    ?assertEqual({K, Expected}, {K, shards:Step(S, K)}),
    walk_steps(Rest ++ [{E, S, Expected}], Step, Pick, N + 1);
walk_steps(_, _, _, _) -> ok.
