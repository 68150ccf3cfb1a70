%%% @doc Concurrency stress: 64 processes at once on one table, for every
%%% table type where the operation applies and partitions 1, 7 and 64,
%%% with invariants checked once they are done:
%%%   - update_counter: no lost increments (the final counter is the sum of
%%%     all increments) and every call saw its own value (the values
%%%     returned for a key are all distinct);
%%%   - insert_new races on the same keys, single objects and overlapping
%%%     lists: each key won by exactly one process, the table holds the
%%%     winners' objects and nothing else;
%%%   - take and delete_object on overlapping keys: no object both taken and
%%%     still present, none taken twice, nothing else lost;
%%%   - inserts and deletes: size equal to a recount.
%%% A long_schedule system monitor (5 ms) runs throughout: a report naming a
%%% test process, or a shards function, fails the case it came in, unless
%%% the OS kept the schedulers off the CPU (run-queue wait and steal time)
%%% for longer than its overrun meanwhile (shards_sched_monitor:checked/3).
%%% The number of operations run is printed.
-module(shards_stress_tests).

-include_lib("eunit/include/eunit.hrl").

-export([run_workers/2]).

-define(WORKERS, 64).
-define(TYPES, [set, ordered_set, bag, duplicate_bag]).
-define(PARTITIONS, [1, 7, 64]).

stress_test_() ->
    {timeout, 900,
     {setup,
      fun() -> ets:new(stress_ops, [named_table, public]), shards_sched_monitor:start() end,
      fun(Mon) -> _ = shards_sched_monitor:stop(Mon), ets:delete(stress_ops) end,
      fun(Mon) ->
              {inorder,
               [{case_name(Name, Type, P),
                 {timeout, 300,
                  fun() ->
                          shards_sched_monitor:checked(Mon, case_name(Name, Type, P),
                                                       fun() -> Fun(Type, P) end)
                  end}}
                || {Name, Fun, Types} <- phases(), Type <- Types, P <- ?PARTITIONS]
               ++ [{"operations run", fun print_ops/0}]}
      end}}.

phases() ->
    [{"update_counter", fun counters/2, [set, ordered_set]},
     {"insert_new race", fun insert_new_race/2, ?TYPES},
     {"take and delete_object", fun take_delete/2, ?TYPES},
     {"insert, delete, size", fun churn/2, ?TYPES}].

case_name(Name, Type, P) ->
    lists:flatten(io_lib:format("~s, ~p, ~p partitions", [Name, Type, P])).

count_ops(Phase, N) ->
    ets:update_counter(stress_ops, Phase, N, {Phase, 0}).

print_ops() ->
    L = lists:sort(ets:tab2list(stress_ops)),
    Total = lists:sum([N || {_, N} <- L]),
    io:format(user, "~nshards_stress_tests: ~b operations by ~b processes at a time: ~p~n",
              [Total, ?WORKERS, L]),
    ?assert(Total > 0).

new_tab(Type, P) ->
    shards:new(stress, [Type, public, {partitions, P}]).

%% Spawns N workers that wait for a common start, runs Fun(I) in each and
%% returns their results in order. Workers are registered with the
%% scheduler monitor as processes of the test.
run_workers(N, Fun) ->
    Self = self(),
    Go = make_ref(),
    Pids = [spawn_link(fun() ->
                               receive Go -> ok end,
                               Self ! {self(), Fun(I)}
                       end) || I <- lists:seq(1, N)],
    shards_sched_monitor:watch([Self | Pids]),
    [P ! Go || P <- Pids],
    [receive {P, R} -> R after 120000 -> error({worker_timeout, P}) end || P <- Pids].

%%%===================================================================
%%% update_counter: no lost increments
%%%===================================================================

-define(COUNTERS, 16).
-define(COUNTER_OPS, 1500).

counters(Type, P) ->
    T = new_tab(Type, P),
    Results = run_workers(?WORKERS, fun(_) -> counter_worker(T, ?COUNTER_OPS, #{}, []) end),
    Sums = lists:foldl(fun({S, _}, Acc) ->
                               maps:fold(fun(K, V, A) -> maps:update_with(K, fun(X) -> X + V end, V, A) end,
                                         Acc, S)
                       end, #{}, Results),
    Seen = lists:append([Vs || {_, Vs} <- Results]),
    try
        [?assertEqual({K, [{K, Sum}]}, {K, shards:lookup(T, K)}) || {K, Sum} <- maps:to_list(Sums)],
        %% Each increment returned a value no other one returned.
        ?assertEqual(length(Seen), length(lists:usort(Seen))),
        ?assertEqual(maps:size(Sums), shards:info(T, size)),
        count_ops(update_counter, ?WORKERS * ?COUNTER_OPS)
    after
        shards:delete(T)
    end.

%% Three forms of update_counter/4 (the default inserts a missing key);
%% returns the sum added per key and the {Key, Value} pairs returned.
counter_worker(_T, 0, Sums, Seen) ->
    {Sums, Seen};
counter_worker(T, N, Sums, Seen) ->
    K = {c, rand:uniform(?COUNTERS)},
    Inc = rand:uniform(5),
    V = case N rem 3 of
            0 -> shards:update_counter(T, K, Inc, {K, 0});
            1 -> shards:update_counter(T, K, {2, Inc}, {K, 0});
            2 -> [V1, V1] = shards:update_counter(T, K, [{2, Inc}, {2, 0}], {K, 0}), V1
        end,
    counter_worker(T, N - 1, maps:update_with(K, fun(X) -> X + Inc end, Inc, Sums),
                   [{K, V} | Seen]).

%%%===================================================================
%%% insert_new races: one winner per key
%%%===================================================================

-define(RACE_KEYS, 300).

insert_new_race(Type, P) ->
    T = new_tab(Type, P),
    Keys = lists:seq(1, ?RACE_KEYS),
    Results = run_workers(?WORKERS, fun(W) -> race_worker(T, W, Keys) end),
    try
        %% single objects: exactly one winner per key, whose object is stored
        Wins = lists:append([Ws || {Ws, _} <- Results]),
        ?assertEqual(Keys, lists:sort([K || {K, _} <- Wins])),
        [?assertEqual([{K, W}], shards:lookup(T, K)) || {K, W} <- Wins],
        %% overlapping lists: the table holds exactly the winning lists, and
        %% no key is in two of them
        ListWins = lists:append([Ls || {_, Ls} <- Results]),
        WonObjects = lists:append(ListWins),
        ?assertEqual(length(WonObjects), length(lists:usort([K || {K, _} <- WonObjects]))),
        Stored = [O || {{l, _}, _} = O <- shards:tab2list(T)],
        ?assertEqual(lists:sort(WonObjects), lists:sort(Stored)),
        ?assertEqual(length(shards:tab2list(T)), shards:info(T, size)),
        count_ops(insert_new, ?WORKERS * ?RACE_KEYS * 2)
    after
        shards:delete(T)
    end.

%% Tries every key in a random order; then lists of two neighbouring keys
%% {l, K}, {l, K + 1}. Returns the keys won and the lists won.
race_worker(T, W, Keys) ->
    Wins = [{K, W} || K <- shuffle(Keys), shards:insert_new(T, {K, W})],
    Lists = [[{{l, K}, W}, {{l, K + 1}, W}] || K <- shuffle(Keys)],
    {Wins, [L || L <- Lists, shards:insert_new(T, L)]}.

shuffle(L) ->
    [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

%%%===================================================================
%%% take and delete_object on overlapping keys
%%%===================================================================

-define(TAKE_KEYS, 200).
-define(TAKE_OPS, 300).

%% Objects per key: one for a set; three for a bag; for a duplicate_bag
%% also a duplicate.
initial(Type) ->
    [O || K <- lists:seq(1, ?TAKE_KEYS), O <- objects_of(Type, K)].

objects_of(set, K) -> [{K, v}];
objects_of(ordered_set, K) -> [{K, v}];
objects_of(bag, K) -> [{K, V} || V <- [1, 2, 3]];
objects_of(duplicate_bag, K) -> [{K, 1}, {K, 1}, {K, 2}, {K, 3}].

take_delete(Type, P) ->
    T = new_tab(Type, P),
    Initial = initial(Type),
    true = shards:insert(T, Initial),
    Objects = list_to_tuple(Initial),
    Results = run_workers(?WORKERS, fun(_) -> take_worker(T, Objects, ?TAKE_OPS, [], []) end),
    Takes = lists:append([Ts || {Ts, _} <- Results]),
    Taken = lists:append(Takes),
    Deleted = lists:usort(lists:append([Ds || {_, Ds} <- Results])),
    TakenKeys = lists:usort([K || {K, _} <- Taken]),
    Final = shards:tab2list(T),
    try
        %% no object both taken and still present
        ?assertEqual([], [O || O <- Final, lists:member(element(1, O), TakenKeys)]),
        %% each key taken (non-empty) once only, all its objects together
        NonEmpty = [element(1, hd(Os)) || Os <- Takes],
        ?assertEqual(length(NonEmpty), length(lists:usort(NonEmpty))),
        ?assertEqual([], [Os || Os <- Takes, length(lists:usort([K || {K, _} <- Os])) =/= 1]),
        %% nothing taken twice, nothing taken that was not there
        ?assertEqual([], msort(Taken) -- msort(Initial)),
        ?assertEqual([], msort(Taken ++ Final) -- msort(Initial)),
        %% nothing else lost: the final contents are exactly what was neither
        %% under a taken key nor deleted
        Expected = [O || O <- Initial, not lists:member(element(1, O), TakenKeys),
                         not lists:member(O, Deleted)],
        ?assertEqual(msort(Expected), msort(Final)),
        ?assertEqual(length(Final), shards:info(T, size)),
        count_ops(take_delete_object, ?WORKERS * ?TAKE_OPS)
    after
        shards:delete(T)
    end.

%% Half takes of a random key, half delete_object of a random initial
%% object. Returns {Takes, DeletedObjects}: the objects of each non-empty
%% take, and every object it asked to delete.
take_worker(_T, _Objects, 0, Takes, Deleted) ->
    {Takes, Deleted};
take_worker(T, Objects, N, Takes, Deleted) ->
    O = element(rand:uniform(tuple_size(Objects)), Objects),
    case N rem 2 of
        0 ->
            case shards:take(T, element(1, O)) of
                [] -> take_worker(T, Objects, N - 1, Takes, Deleted);
                Os -> take_worker(T, Objects, N - 1, [Os | Takes], Deleted)
            end;
        1 ->
            true = shards:delete_object(T, O),
            take_worker(T, Objects, N - 1, Takes, [O | Deleted])
    end.

msort(L) -> lists:sort(L).

%%%===================================================================
%%% inserts and deletes: size equals a recount
%%%===================================================================

-define(CHURN_OPS, 1000).
-define(CHURN_KEYS, 500).

churn(Type, P) ->
    T = new_tab(Type, P),
    Self = self(),
    %% a reader checks size stays within bounds while the others write
    Stop = make_ref(),
    Reader = spawn_link(fun() -> size_reader(Self, T, Stop, 0, 0) end),
    shards_sched_monitor:watch([Reader]),
    _ = run_workers(?WORKERS, fun(W) -> churn_worker(T, W, ?CHURN_OPS) end),
    Reader ! Stop,
    {Reads, Bad} = receive {Stop, R, B} -> {R, B} end,
    try
        ?assertEqual(0, Bad),
        All = shards:tab2list(T),
        ?assertEqual(length(All), shards:info(T, size)),
        Recount = lists:sum([length(shards:lookup(T, K))
                             || K <- lists:usort([element(1, O) || O <- All])]),
        ?assertEqual(length(All), Recount),
        count_ops(insert_delete, ?WORKERS * ?CHURN_OPS + Reads)
    after
        shards:delete(T)
    end.

churn_worker(_T, _W, 0) ->
    ok;
churn_worker(T, W, N) ->
    K = rand:uniform(?CHURN_KEYS),
    true = case rand:uniform(4) of
               1 -> shards:delete(T, K);
               2 -> shards:delete_object(T, {K, W rem 4});
               _ -> shards:insert(T, [{K, W rem 4}, {K + ?CHURN_KEYS, N rem 3}])
           end,
    churn_worker(T, W, N - 1).

%% At most 2 * ?CHURN_KEYS keys, and for bags 4 values per key (W rem 4)
%% or 3 (N rem 3): size can never leave [0, 8 * ?CHURN_KEYS]; duplicate
%% bags are unbounded, so only the lower bound holds for them.
size_reader(Parent, T, Stop, Reads, Bad) ->
    receive
        Stop -> Parent ! {Stop, Reads, Bad}
    after 0 ->
            S = shards:info(T, size),
            Max = case shards:info(T, type) of
                      duplicate_bag -> infinity;
                      _ -> 8 * ?CHURN_KEYS
                  end,
            Ok = is_integer(S) andalso S >= 0 andalso (Max =:= infinity orelse S =< Max),
            size_reader(Parent, T, Stop, Reads + 1, Bad + case Ok of true -> 0; false -> 1 end)
    end.
