%%% @doc Failing cases found by the reliability suites, kept here until the
%%% engine is fixed. They do not run in `make test': only with
%%% SHARDS_KNOWN_DIVERGENCES=1 (`make known-divergences'), where they are
%%% expected to fail until fixed; when one passes, move it to its suite.
%%%
%%% An ets artifact rather than a shards bug, kept so that it is a
%%% decision: on a fixed set, update_counter/4 that fails (bad position or
%%% default) leaves its key behind as a deleted marker in ets, and next/2
%%% and prev/2 from that key then succeed; in shards they fail with badarg
%%% as for any key never in the table. The random and model tests do not
%%% compare next/prev from such keys.
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
        true -> [{"next/2 from the key of a failed update_counter/4 on a fixed set",
                  fun next_after_failed_update_counter/0},
                 {"a crashed owner's table is gone by its 'DOWN' (5000 crashes)",
                  {timeout, 300, fun table_gone_by_owner_down/0}}]
    end.

r(F) -> shards_test_util:r(F).

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
