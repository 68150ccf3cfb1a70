%%% @doc Deep and wide terms (nested lists, improper lists, tuples, maps as
%%% keys and values, mixed; up to a million levels) through every function
%%% of `shards' that takes or gives terms, on all four table types, on the
%%% normal and the dirty-scheduler paths, compared with ets
%%% (shards_deep_cases). Each case runs in a child node: a case that would
%%% crash the VM fails with its name.
%%%
%%% `make test' runs every shape at 2,000 levels (where recursive walkers
%%% used to die on dirty schedulers), the main shapes at 100,000 and a
%%% million levels; `make proper' (SHARDS_DEEP=full) runs every shape and
%%% type at every depth.
-module(shards_deep_tests).

-include_lib("eunit/include/eunit.hrl").

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

deep_terms_test_() ->
    {setup, fun() -> ok end, fun(_) -> shards_peer:stop(peer()) end,
     [{timeout, 600, {name(Case), fun() -> check(Case) end}} || Case <- cases()]}.

%% The child node, started again after a case took it down.
peer() ->
    case persistent_term:get(?MODULE, undefined) of
        P when is_pid(P) -> case is_process_alive(P) of true -> P; false -> new_peer() end;
        _ -> new_peer()
    end.

new_peer() ->
    P = shards_peer:start(),
    persistent_term:put(?MODULE, P),
    P.

cases() ->
    Shapes = shards_deep_cases:shapes(),
    case os:getenv("SHARDS_DEEP") of
        "full" ->
            [{run, Ty, Sh, D} || D <- [2000, 100000], Ty <- ?TYPES, Sh <- Shapes]
                ++ [{run, Ty, Sh, 1000000} || Ty <- ?TYPES, Sh <- [list, improper, tuple, map_value]]
                ++ [{run_dirty, Ty, Sh, D} || D <- [2000, 100000], Ty <- ?TYPES, Sh <- Shapes]
                ++ [{guard_nesting, N} || N <- [1000, 10000, 100000, 1000000]];
        _ ->
            [{run, Ty, Sh, 2000} || Ty <- ?TYPES, Sh <- Shapes]
                ++ [{run, Ty, Sh, 100000} || Ty <- [set, ordered_set], Sh <- [list, tuple, map_value]]
                ++ [{run, set, list, 1000000}, {run, ordered_set, list, 1000000}]
                ++ [{run_dirty, Ty, Sh, 2000} || Ty <- ?TYPES, Sh <- [list, map_key, mixed]]
                ++ [{run_dirty, Ty, tuple, 100000} || Ty <- [set, ordered_set]]
                ++ [{guard_nesting, N} || N <- [1000, 10000, 1000000]]
    end.

name(Case) ->
    lists:flatten(io_lib:format("~w", [Case])).

check(Case) ->
    [F | Args] = tuple_to_list(Case),
    case shards_peer:call(peer(), shards_deep_cases, F, Args, 590000) of
        {ok, ok} -> ok;
        {ok, {differs, Ops}} -> erlang:error({differs_from_ets, Case, Ops});
        {peer_died, Why} ->
            shards_peer:stop(peer()),
            erlang:error({vm_died, Case, Why})
    end.
