%%% @doc Concurrency: a list written by insert_new/2 or insert/2 across
%%% many partitions must become visible all at once (as with ets).
%%%
%%% A writer repeatedly writes a batch {K_j, G} (j = 0..N-1, generation G)
%%% whose keys lie in different partitions, then deletes the keys one by
%%% one, starting at key A = G rem N and going round. Readers read all the
%%% keys twice in a row. If both reads of K_A show generation G, the table
%%% held the whole batch G during the time between them (the batch went in
%%% at once and K_A is deleted first), so every key read in between must
%%% show G too. A batch written partition by partition breaks this.
-module(shards_atomicity_tests).

-include_lib("eunit/include/eunit.hrl").

-export([check/5, race_insert_new/3, contend/3]).

-define(RUN_MS, 700).
-define(READERS, 3).
-define(RACE_KEYS, 400).

atomic_batches_test_() ->
    Configs = [{Op, P, KS} || Op <- [insert_new, insert], P <- [7, 64],
                              KS <- [default, explicit]],
    {timeout, 120,
     [{lists:flatten(io_lib:format("~p, ~p partitions, ~p keyslot", [Op, P, KS])),
       {timeout, 60, fun() -> ?assertEqual({ok, []}, check(shards, Op, P, KS, ?RUN_MS)) end}}
      || {Op, P, KS} <- Configs]}.

%% The same check on ets itself must pass (it validates the checker).
ets_is_atomic_test_() ->
    {timeout, 60,
     [fun() -> ?assertEqual({ok, []}, check(ets, Op, 1, default, 300)) end
      || Op <- [insert_new, insert]]}.

%% Two processes race to insert_new the same keys (in opposite orders):
%% exactly one wins and the table holds only the winner's objects.
insert_new_race_test_() ->
    {timeout, 60,
     [{lists:flatten(io_lib:format("~p partitions", [P])),
       fun() -> ?assertEqual([], race_insert_new(shards, P, 300)) end}
      || P <- [2, 7, 64]]}.

%%%===================================================================

%% Keys that go to different partitions: with the explicit keyslot fun,
%% key j goes to partition j; with the default one, the keys are spread
%% by hashing and 16 keys over 7 or 64 partitions hit several of them.
keys(explicit, P) -> [{ak, J} || J <- lists:seq(0, min(P, 16) - 1)];
keys(default, _P) -> [{bk, J} || J <- lists:seq(0, 15)].

new_table(ets, _P, _KS) ->
    ets:new(atomic, [public, {write_concurrency, true}, {read_concurrency, true}]);
new_table(M, P, default) ->
    M:new(atomic, [public, {partitions, P}]);
new_table(M, P, explicit) ->
    M:new(atomic, [public, {partitions, P},
                   {keyslot_fun, fun({ak, J}, N) -> J rem N;
                                    (K, N) -> erlang:phash2(K, N)
                                 end}]).

%% Returns {ok, Violations} where Violations lists what readers saw that
%% an atomic write cannot produce, or {writer_error, ...}.
check(M, Op, P, KS, RunMs) ->
    T = new_table(M, P, KS),
    Keys = list_to_tuple(keys(KS, P)),
    N = tuple_size(Keys),
    Self = self(),
    Readers = [spawn_link(fun() -> reader(Self, M, T, Keys, N, 0, []) end)
               || _ <- lists:seq(1, ?READERS)],
    Deadline = erlang:monotonic_time(millisecond) + RunMs,
    WriterRes = writer(M, Op, T, Keys, N, 1, Deadline),
    [R ! stop || R <- Readers],
    Results = [receive {reader_done, R, Checked, Bad} -> {Checked, Bad} end || R <- Readers],
    M:delete(T),
    Bad = lists:append([B || {_, B} <- Results]),
    Checked = lists:sum([C || {C, _} <- Results]),
    case WriterRes of
        {ok, Gens} when Checked > 0 orelse Gens < 10 ->
            {ok, lists:sublist(Bad, 5)};
        {ok, Gens} ->
            {no_conclusive_reads, Gens};
        Err ->
            Err
    end.

writer(M, Op, T, Keys, N, G, Deadline) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true ->
            {ok, G};
        false ->
            Batch = [{element(J + 1, Keys), G} || J <- lists:seq(0, N - 1)],
            case M:Op(T, Batch) of
                true ->
                    %% hold the batch for a while (and check it is all
                    %% there), so that readers can see it whole
                    Mine = list_to_tuple(lists:duplicate(N, G)),
                    Mine = read_all(M, T, Keys, N),
                    Mine = read_all(M, T, Keys, N),
                    A = G rem N,
                    [true = M:delete(T, element(((A + I) rem N) + 1, Keys))
                     || I <- lists:seq(0, N - 1)],
                    writer(M, Op, T, Keys, N, G + 1, Deadline);
                Other ->
                    {writer_error, {Op, G, Other}}
            end
    end.

reader(Parent, M, T, Keys, N, Checked, Bad) ->
    receive
        stop ->
            Parent ! {reader_done, self(), Checked, Bad}
    after 0 ->
            R1 = read_all(M, T, Keys, N),
            R2 = read_all(M, T, Keys, N),
            {C, B} = verify(R1, R2, N),
            Bad1 = case B of
                       [] -> Bad;
                       _ when length(Bad) < 20 -> [{R1, R2} | Bad];
                       _ -> Bad
                   end,
            reader(Parent, M, T, Keys, N, Checked + C, Bad1)
    end.

read_all(M, T, Keys, N) ->
    list_to_tuple([gen(M:lookup(T, element(J + 1, Keys))) || J <- lists:seq(0, N - 1)]).

gen([]) -> none;
gen([{_, G}]) -> G;
gen(Other) -> {unexpected, Other}.

%% For the anchor A of the generation seen at R1[A] = R2[A] = G with
%% G rem N = A, the keys read between the two reads of K_A are R1[J] for
%% J > A and R2[J] for J < A: all must be G.
verify(R1, R2, N) ->
    Checks =
        [begin
             G = element(A + 1, R1),
             InWindow = [element(J + 1, R1) || J <- lists:seq(A + 1, N - 1)] ++
                        [element(J + 1, R2) || J <- lists:seq(0, A - 1)],
             [X || X <- InWindow, X =/= G]
         end
         || A <- lists:seq(0, N - 1),
            is_integer(element(A + 1, R1)),
            element(A + 1, R1) =:= element(A + 1, R2),
            element(A + 1, R1) rem N =:= A],
    Unexpected = [X || X <- tuple_to_list(R1) ++ tuple_to_list(R2),
                       not (is_integer(X) orelse X =:= none)],
    {length(Checks), lists:append(Checks) ++ Unexpected}.

%%%===================================================================

race_insert_new(M, P, Rounds) ->
    T = M:new(race, [public, {partitions, P}]),
    Keys = [{rk, J} || J <- lists:seq(1, ?RACE_KEYS)],
    Bad = lists:append([race_round(M, T, Keys, R) || R <- lists:seq(1, Rounds)]),
    M:delete(T),
    lists:sublist(Bad, 5).

race_round(M, T, Keys, Round) ->
    true = M:delete_all_objects(T),
    Self = self(),
    Go = make_ref(),
    Racer = fun(Tag, Ks) ->
                    spawn_link(fun() ->
                                       receive Go -> ok end,
                                       Self ! {Go, Tag, M:insert_new(T, [{K, Tag} || K <- Ks])}
                               end)
            end,
    Pids = [Racer(a, Keys), Racer(b, lists:reverse(Keys))],
    [P ! Go || P <- Pids],
    Res = lists:sort([receive {Go, Tag, R} -> {Tag, R} end || _ <- Pids]),
    Content = lists:usort([V || {_, V} <- M:tab2list(T)]),
    Size = M:info(T, size),
    case {Res, Content, Size} of
        {[{a, true}, {b, false}], [a], ?RACE_KEYS} -> [];
        {[{a, false}, {b, true}], [b], ?RACE_KEYS} -> [];
        _ -> [{round, Round, Res, Content, Size}]
    end.

%%%===================================================================
%%% Contention on single keys, compared with ets under the same load
%%%===================================================================

%% Many processes work on the same few keys at once; the outcome that does
%% not depend on scheduling must be the one ets gives.
contention_test_() ->
    {timeout, 60,
     [{lists:flatten(io_lib:format("~p, ~p partitions", [What, P])),
       fun() -> ?assertEqual(contend(ets, What, 1), contend(shards, What, P)) end}
      || What <- [update_counter, take, insert_new], P <- [1, 7, 64]]}.

-define(WORKERS, 8).
-define(ROUNDS, 500).

contend(M, What, P) ->
    T = case M of
            ets -> ets:new(contend, [public, {write_concurrency, true}]);
            shards -> shards:new(contend, [public, {partitions, P}])
        end,
    Keys = [{ck, J} || J <- lists:seq(1, 4)],
    [true = M:insert(T, {K, 0, 0}) || K <- Keys],
    Self = self(),
    Go = make_ref(),
    Pids = [spawn_link(fun() ->
                               receive Go -> ok end,
                               Self ! {Go, self(), work(M, What, T, Keys, I)}
                       end) || I <- lists:seq(1, ?WORKERS)],
    [Pid ! Go || Pid <- Pids],
    Results = [receive {Go, Pid, R} -> R end || Pid <- Pids],
    Final = lists:sort(M:tab2list(T)),
    M:delete(T),
    summary(What, Results, Final).

%% update_counter: every increment is applied once (the values returned
%% for each key are all distinct, and the final counts add up); take: each
%% inserted object is taken exactly once; insert_new: exactly one process
%% wins each round, with both of its objects.
work(M, update_counter, T, Keys, _I) ->
    [begin
         K = lists:nth(1 + (R rem length(Keys)), Keys),
         {K, M:update_counter(T, K, [{2, 1}, {3, 2}])}
     end || R <- lists:seq(1, ?ROUNDS)];
work(M, take, T, _Keys, I) ->
    [{M:insert_new(T, {{tk, R}, I}), M:take(T, {tk, R})} || R <- lists:seq(1, ?ROUNDS)];
work(M, insert_new, T, _Keys, I) ->
    [{R, M:insert_new(T, [{{nk, R, a}, I}, {{nk, R, b}, I}])} || R <- lists:seq(1, ?ROUNDS)].

summary(update_counter, Results, Final) ->
    Returned = lists:append(Results),
    PerKey = [{K, lists:sort([V || {K1, V} <- Returned, K1 =:= K])}
              || K <- lists:usort([K || {K, _} <- Returned])],
    {[{K, Vs =:= [[N, 2 * N] || N <- lists:seq(1, length(Vs))]} || {K, Vs} <- PerKey],
     Final};
summary(take, Results, Final) ->
    %% an object, once inserted, is taken once (by its inserter or by
    %% another process), never twice, and none is left
    Inserted = length([ok || {true, _} <- lists:append(Results)]),
    Taken = lists:append([L || {_, L} <- lists:append(Results)]),
    {Inserted =:= length(Taken), length(Taken) =:= length(lists:usort(Taken)), Final};
summary(insert_new, Results, Final) ->
    Wins = [R || {R, true} <- lists:append(Results)],
    %% both keys of a round belong to the same winner
    Mixed = [R || R <- lists:seq(1, ?ROUNDS),
                  lists:keyfind({nk, R, a}, 1, Final) =/= false,
                  element(2, lists:keyfind({nk, R, a}, 1, Final)) =/=
                      element(2, lists:keyfind({nk, R, b}, 1, Final))],
    {lists:sort(Wins), Mixed, length(Final)}.
