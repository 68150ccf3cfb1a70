%%% @doc Failing cases found by the reliability suites, kept here until the
%%% engine is fixed. They do not run in `make test': only with
%%% SHARDS_KNOWN_DIVERGENCES=1 (`make known-divergences'), where they are
%%% expected to fail until fixed; when one passes, move it to its suite.
%%%
%%% 1. give_away/3 to a dead process (or a non-pid) reports the wrong
%%%    error_info cause: ets checks the table first (cause `id' for a
%%%    table that does not exist, `access' for a protected or private
%%%    table of another owner) and the recipient after; shards checks the
%%%    recipient first and raises badarg without a cause.
%%%    (shards_statem_tests skips this case unless the variable is set.)
%%% 2. Argument checks in shards.erl that come before the table check
%%%    (ets checks the table first: cause id, type, or `undefined' from
%%%    info/2 for a table that does not exist), found by
%%%    shards_badarg_tests, which skips them unless the variable is set:
%%%    - rename/2 with a name that is not an atom (shards: no cause);
%%%    - info/2 with an item that is not an atom (shards: badarg, no cause,
%%%      where ets returns `undefined' for a deleted table);
%%%    - foldl/3 and foldr/3 with a first argument that is not a fun of
%%%      arity 2 (shards: badarg, no cause; ets: cause id/type for a bad
%%%      table, else {badfun, F} or {badarity, ...} when it calls it, or Acc
%%%      for an empty table).
%%%    - update_counter/3,4 with a position that is an integer but not a
%%%      small one (2^59 or more): ets raises badarg without a cause,
%%%      shards with cause `position'.
%%% 3. update_element/3 on an object of 200 000 elements holds a normal
%%%    scheduler for about 10 ms (it rewrites the whole object); ets takes
%%%    about 20 us (shards_budget_cases:over_budget_cases/0).
%%%
%%% 4. An ets artifact rather than a shards bug, kept so that it is a
%%%    decision: on a fixed set, update_counter/4 that fails (bad position
%%%    or default) leaves its key behind as a deleted marker in ets, and
%%%    next/2 and prev/2 from that key then succeed; in shards they fail
%%%    with badarg as for any key never in the table. The random and model
%%%    tests do not compare next/prev from such keys.
%%%
%%% Also here, a promise the NIF does not make by construction: ets deletes
%%% (or hands over) a dead owner's table before the owner's 'DOWN' messages
%%% go out; shards does it in the resource's monitor callback. Never seen
%%% late on OTP 25 (0 of 26 000 crashes, with busy schedulers too), but
%%% nothing orders the two, so it is checked strictly only here.
-module(shards_known_divergence_tests).

-include_lib("eunit/include/eunit.hrl").

enabled() ->
    os:getenv("SHARDS_KNOWN_DIVERGENCES") =:= "1".

known_test_() ->
    case enabled() of
        false -> [];
        true -> [{"give_away to a dead pid: table checked first", fun give_away_dead_recipient/0},
                 {"rename, info, foldl, foldr: table checked before the other arguments",
                  fun table_checked_first/0},
                 {"update_counter with a bignum position: no cause", fun update_counter_big_position/0},
                 {"next/2 from the key of a failed update_counter/4 on a fixed set",
                  fun next_after_failed_update_counter/0},
                 {"update_element on a huge object within the scheduler budget",
                  {timeout, 120, fun update_element_huge_object/0}},
                 {"a crashed owner's table is gone by its 'DOWN' (5000 crashes)",
                  {timeout, 300, fun table_gone_by_owner_down/0}}]
    end.

r(F) -> shards_test_util:r(F).

%% Same call on ets and shards tables owned by another process.
give_away_dead_recipient() ->
    Dead = shards_test_util:dead_pid(),
    Results =
        [begin
             Self = self(),
             Owner = spawn(fun() -> Self ! {tab, M:new(gad, [Prot])}, receive _ -> ok end end),
             T = receive {tab, T0} -> T0 end,
             R = {Prot, r(fun() -> M:give_away(T, Dead, gift) end),
                  r(fun() -> M:give_away(T, not_a_pid, gift) end)},
             exit(Owner, kill),
             R
         end || M <- [ets, shards], Prot <- [protected, private]],
    Deleted = [r(fun() -> T = M:new(gad, []), M:delete(T), M:give_away(T, Dead, gift) end)
               || M <- [ets, shards]],
    {EtsR, ShardsR} = lists:split(2, Results),
    ?assertEqual({EtsR, hd(Deleted)}, {ShardsR, lists:last(Deleted)}).

update_element_huge_object() ->
    Limit = shards_budget_cases:limit_us(),
    [?assert(S =< Limit, {Name, ets_us, E, shards_us, S})
     || {Name, _, E, S} <- [shards_budget_cases:measure(C)
                            || C <- shards_budget_cases:over_budget_cases()]].

table_gone_by_owner_down() ->
    Busy = [spawn(fun Spin() -> _ = erlang:phash2(make_ref()), Spin() end)
            || _ <- lists:seq(1, erlang:system_info(schedulers_online))],
    try
        Late = lists:sum([element(1, shards_fault_tests:crash_cycle(gone_by_down, P))
                          || _ <- lists:seq(1, 1250), P <- [1, 2, 7, 64]]),
        ?assertEqual(0, Late)
    after
        [exit(B, kill) || B <- Busy]
    end.

%% Each call on a deleted table, a non-table, and (folds) a live table.
table_checked_first() ->
    Calls = [{rename, fun(M, T) -> M:rename(T, "not an atom") end},
             {info, fun(M, T) -> M:info(T, "size") end},
             {foldl, fun(M, T) -> M:foldl(not_a_fun, acc, T) end},
             {foldr, fun(M, T) -> M:foldr(fun(_) -> x end, acc, T) end}],
    Run = fun(M) ->
                  Live = M:new(live, []),
                  M:insert(Live, {k, v}),
                  Deleted = M:new(del, []),
                  M:delete(Deleted),
                  R = [{Name, Which, strip(r(fun() -> F(M, T) end))}
                       || {Name, F} <- Calls,
                          {Which, T} <- [{deleted, Deleted}, {not_a_table, {x}}, {live, Live}]],
                  M:delete(Live),
                  R
          end,
    ?assertEqual(Run(ets), Run(shards)).

%% {badfun, F} and {badarity, {F, Args}} carry the fun: keep the reason's tag.
strip({error, error, {Tag, _}, C}) -> {error, error, Tag, C};
strip(R) -> R.

update_counter_big_position() ->
    Run = fun(M) ->
                  T = M:new(ucbp, []),
                  M:insert(T, {k, 1}),
                  R = [r(fun() -> M:update_counter(T, k, {1 bsl 64, 1}) end),
                       r(fun() -> M:update_counter(T, k, [{2, 1}, {1 bsl 59, 1}]) end),
                       r(fun() -> M:update_counter(T, new, {1 bsl 64, 1}, {new, 0}) end)],
                  M:delete(T),
                  R
          end,
    ?assertEqual(Run(ets), Run(shards)).

next_after_failed_update_counter() ->
    Run = fun(M) ->
                  T = M:new(nafuc, [set, public]),
                  M:insert(T, {a, 1}),
                  true = M:safe_fixtable(T, true),
                  R = [r(fun() -> M:update_counter(T, zz, {-1, 1}, {zz, 0}) end),
                       r(fun() -> M:next(T, zz) end),
                       r(fun() -> M:prev(T, zz) end)],
                  M:delete(T),
                  R
          end,
    ?assertEqual(Run(ets), Run(shards)).
