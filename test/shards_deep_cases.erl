%%% @doc Deep and wide terms through every function of `shards' that
%%% takes or gives terms, compared with `ets' (run inside a child node by
%%% shards_deep_tests, so that a crash is a failing case, not a dead VM).
%%%
%%% A case is a table type, a shape and a depth. Terms are built without
%%% recursion, and results are compared here, in the child: only the names
%%% of the operations whose outcome differs come back (a million-level
%%% term must never be printed).
-module(shards_deep_cases).

-export([shapes/0, deep/3, run/3, run_dirty/3, run_elixir_like/2, guard_nesting/1]).
-ifdef(TEST).
-export([ops/5]).
-endif.

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

%% @doc The shapes of terms: deep (one element at each level) and wide.
shapes() ->
    [list, improper, tuple, map_value, map_key, mixed, wide_list, wide_tuple, wide_map].

%% @doc A term of `Shape', `Depth' levels deep (or that many elements
%% wide), with `Leaf' at the bottom.
deep(list, D, Leaf) -> nest(D, fun(X) -> [X] end, Leaf);
deep(improper, D, Leaf) -> nest(D, fun(X) -> [X | tail] end, Leaf);
deep(tuple, D, Leaf) -> nest(D, fun(X) -> {X, 7} end, Leaf);
deep(map_value, D, Leaf) -> nest(D, fun(X) -> #{k => X} end, Leaf);
deep(map_key, D, Leaf) -> nest(D, fun(X) -> #{X => 1} end, Leaf);
deep(mixed, D, Leaf) ->
    Wraps = {fun(X) -> [X] end, fun(X) -> {X} end, fun(X) -> #{X => 1} end, fun(X) -> #{k => X} end,
             fun(X) -> [a, X | b] end, fun(X) -> {1.5, X, <<"bin">>} end},
    {_, T} = lists:foldl(fun(_, {I, X}) ->
                                 W = element(I rem tuple_size(Wraps) + 1, Wraps),
                                 {I + 1, W(X)}
                         end, {0, Leaf}, lists:seq(1, D)),
    T;
deep(wide_list, D, Leaf) -> lists:seq(1, D) ++ [Leaf];
deep(wide_tuple, D, Leaf) -> list_to_tuple([Leaf | lists:seq(1, D)]);
deep(wide_map, D, Leaf) -> maps:from_list([{leaf, Leaf} | [{I, I} || I <- lists:seq(1, D)]]).

nest(D, Wrap, Leaf) ->
    lists:foldl(fun(_, X) -> Wrap(X) end, Leaf, lists:seq(1, D)).

%% @doc Every operation on a table of `Type', with deep values and keys of
%% `Shape' and `Depth', on ets and on shards: `ok' or `{differs, Ops}'.
run(Type, Shape, Depth) ->
    V = deep(Shape, Depth, v1),
    V2 = deep(Shape, Depth, 2.5),
    Keys = [deep(Shape, Depth, L) || L <- [kb, 1, <<"ka">>, 0.5]],
    compare(fun(M) -> ops(M, Type, V, V2, Keys) end).

%% @doc The paths that run on dirty schedulers (long lists, big tables,
%% full scans) with a deep object among many small ones.
run_dirty(Type, Shape, Depth) ->
    V = deep(Shape, Depth, v1),
    compare(fun(M) -> dirty_ops(M, Type, V) end).

%% @doc The calls the Elixir module `Shards' makes (it delegates to
%% `shards'), with deep terms, as a quick check for the ExUnit suite.
run_elixir_like(Shape, Depth) ->
    run(set, Shape, Depth).

%% @doc Guards nested `N' deep with `orelse': the outcome of ets (results,
%% or `system_limit') and of shards must agree.
guard_nesting(N) ->
    G = nest(N, fun(X) -> {'orelse', X, false} end, true),
    B = nest(N, fun(X) -> {{X}} end, x),
    compare(fun(M) ->
                    T = M:new(g, [public]),
                    M:insert(T, [{1}, {2}]),
                    R = [{select_guard, r(fun() -> lists:sort(M:select(T, [{{'$1'}, [G], ['$1']}])) end)},
                         {select_body, r(fun() -> length(M:select(T, [{{'$1'}, [], [B]}])) end)},
                         {ms_compile, r(fun() -> ok(M:match_spec_compile([{{'$1'}, [G], ['$1']}])) end)},
                         {select_count, r(fun() -> M:select_count(T, [{{'$1'}, [G], [true]}]) end)}],
                    M:delete(T),
                    R
            end).

ok(_) -> ok.

%%% The operations

ops(M, Type, V, V2, [K1, K2, K3, K4] = Keys) ->
    T = M:new(deep, [Type, public]),
    Sorted = sorter(Type),
    Values =
        [{insert, r(fun() -> M:insert(T, {k, V}) end)},
         {lookup, r(fun() -> M:lookup(T, k) end)},
         {lookup_element, r(fun() -> M:lookup_element(T, k, 2) end)},
         {member, r(fun() -> M:member(T, k) end)},
         {insert_new, r(fun() -> M:insert_new(T, {k2, V}) end)},
         {insert_new_again, r(fun() -> M:insert_new(T, {k2, V}) end)},
         {update_element, r(fun() -> M:update_element(T, k2, {2, V2}) end)},
         {update_counter_default, r(fun() -> M:update_counter(T, kc, {2, 1}, {kc, 0, V}) end)},
         {select_head, r(fun() -> Sorted(M:select(T, [{{k, V}, [], ['$_']}])) end)},
         {select_guard, r(fun() -> Sorted(M:select(T, [{{'$1', '$2'}, [{'=:=', '$2', {const, V}}], ['$1']}])) end)},
         {select_body, r(fun() -> Sorted(M:select(T, [{{k, '_'}, [], [{const, V}]}])) end)},
         {select_bound_var, r(fun() -> Sorted(M:select(T, [{{'$1', V}, [], [{{'$1', '$_'}}]}])) end)},
         {match_object, r(fun() -> Sorted(M:match_object(T, {k, V})) end)},
         {match, r(fun() -> Sorted(M:match(T, {'$1', V})) end)},
         {select_count, r(fun() -> M:select_count(T, [{{'_', V}, [], [true]}]) end)},
         {select_reverse, r(fun() -> Sorted(M:select_reverse(T, [{{'_', V}, [], ['$_']}])) end)},
         {select_chunks, r(fun() -> Sorted(chunks(M, M:select(T, [{{'_', V}, [], ['$_']}], 1))) end)},
         {match_spec_run, r(fun() -> M:match_spec_run([{k, V}, {k, V2}],
                                                      M:match_spec_compile([{{k, V}, [], [{{'$_', {const, V2}}}]}])) end)},
         {test_ms, r(fun() -> M:test_ms({k, V}, [{{k, '$1'}, [{'=:=', '$1', {const, V}}], [{{'$1'}}]}]) end)},
         {tab2list, r(fun() -> Sorted(M:tab2list(T)) end)},
         {foldl, r(fun() -> Sorted(M:foldl(fun(O, A) -> [O | A] end, [], T)) end)},
         {select_replace, r(fun() -> M:select_replace(T, [{{k2, '_'}, [], [{{k2, {const, V}}}]}]) end)},
         {after_replace, r(fun() -> M:lookup(T, k2) end)},
         {delete_object, r(fun() -> M:delete_object(T, {k, V}) end)},
         {select_delete, r(fun() -> M:select_delete(T, [{{'_', V}, [], [true]}]) end)},
         {take, r(fun() -> M:take(T, kc) end)},
         {match_delete, r(fun() -> M:match_delete(T, {'_', V2}) end)},
         {emptied, r(fun() -> Sorted(M:tab2list(T)) end)}],
    Table =
        [{insert_keys, r(fun() -> M:insert(T, [{K, K} || K <- Keys]) end)},
         {lookup_key, r(fun() -> [M:lookup(T, K) || K <- Keys] end)},
         {member_key, r(fun() -> [M:member(T, K) || K <- Keys] end)},
         {key_order, r(fun() -> Sorted(M:tab2list(T)) end)},
         {walk, r(fun() -> Sorted(walk(M, T, M:first(T))) end)},
         {next_key, r(fun() -> next_or_error(M, Type, T, K1) end)},
         {prev_key, r(fun() -> prev_or_error(M, Type, T, K2) end)},
         {select_key, r(fun() -> Sorted(M:select(T, [{{K3, '$1'}, [], ['$1']}])) end)},
         {match_object_key, r(fun() -> Sorted(M:match_object(T, {K4, '_'})) end)},
         {update_counter_key, r(fun() -> M:update_counter(T, K1, {3, 1}, {x, 1, 10}) end)},
         {insert_new_key, r(fun() -> M:insert_new(T, {K2, new}) end)},
         {delete_key, r(fun() -> M:delete(T, K2) end)},
         {take_key, r(fun() -> M:take(T, K3) end)},
         {delete_object_key, r(fun() -> M:delete_object(T, {K4, K4}) end)},
         {left, r(fun() -> Sorted(M:tab2list(T)) end)}],
    Meta = [{setopts_heir, r(fun() -> M:setopts(T, {heir, self(), V}) end)},
            {give_away, r(fun() -> give_away(M, T, V) end)}],
    Values ++ Table ++ Meta ++ shards_only(M, V).

%% Calls ets has no counterpart of: the same outcome as the value given.
shards_only(ets, V) ->
    [{meta, {ok, [V]}}, {heir_data, {ok, V}}];
shards_only(shards, V) ->
    T = shards:new(meta, [public, {heir, self(), V}]),
    R = [{meta, r(fun() -> ok = shards:put_meta(T, V, V), [shards:get_meta(T, V)] end)},
         {heir_data, r(fun() -> heir_data(T, V) end)}],
    catch shards:delete(T),
    R.

%% The table goes to a helper and comes back: the gift is the deep term.
give_away(M, T, V) ->
    Self = self(),
    Pid = spawn(fun() ->
                        receive {'ETS-TRANSFER', T, _, Gift} ->
                                M:give_away(T, Self, Gift)
                        end,
                        receive stop -> ok end
                end),
    true = M:give_away(T, Pid, V),
    receive {'ETS-TRANSFER', T, Pid, Back} -> Pid ! stop, Back =:= V
    after 5000 -> timeout
    end.

%% The heir data a table hands over when its owner dies.
heir_data(T, V) ->
    Owner = spawn(fun() -> receive {'ETS-TRANSFER', T, _, _} -> ok end end),
    true = shards:give_away(T, Owner, x),
    receive {'ETS-TRANSFER', T, Owner, Data} -> Data =:= V andalso V
    after 5000 -> timeout
    end.

%% All chunks of a select/3 and its continuations.
chunks(_M, '$end_of_table') -> [];
chunks(M, {Chunk, Cont}) -> Chunk ++ chunks(M, M:select(Cont)).

walk(_M, _T, '$end_of_table') -> [];
walk(M, T, K) -> [K | walk(M, T, M:next(T, K))].

next_or_error(M, ordered_set, T, K) -> M:next(T, K);
next_or_error(M, _, T, K) -> M:member(T, K) andalso is_term(M:next(T, K)).
prev_or_error(M, ordered_set, T, K) -> M:prev(T, K);
prev_or_error(M, _, T, K) -> M:member(T, K) andalso is_term(M:prev(T, K)).

is_term(_) -> true.

dirty_ops(M, Type, V) ->
    T = M:new(dirty, [Type, public]),
    Sorted = sorter(Type),
    Small = [{I, I} || I <- lists:seq(1, 12000)],
    R = [{insert_long_list, r(fun() -> M:insert(T, [{kd, V} | lists:sublist(Small, 1500)]) end)},
         {insert_new_long_list, r(fun() -> M:insert_new(T, [{kn, V} | lists:nthtail(1500, Small)]) end)},
         {tab2list_big, r(fun() -> Sorted(M:tab2list(T)) end)},
         {select_all_big, r(fun() -> Sorted(M:select(T, [{'_', [], ['$_']}])) end)},
         {select_deep_big, r(fun() -> Sorted(M:select(T, [{{'$1', V}, [], ['$1']}])) end)},
         {select_count_big, r(fun() -> M:select_count(T, [{{'_', V}, [], [true]}]) end)},
         {match_object_big, r(fun() -> Sorted(M:match_object(T, {'_', V})) end)},
         {select_replace_big, r(fun() -> M:select_replace(T, [{{kd, '_'}, [], [{{kd, {const, V}}}]}]) end)},
         {select_delete_big, r(fun() -> M:select_delete(T, [{{'_', V}, [], [true]}]) end)},
         {left_big, r(fun() -> length(M:tab2list(T)) end)}],
    M:delete(T),
    R.

%%% Comparing

%% Runs the operations on ets and on shards; `ok' when every outcome
%% agrees, else the names of those that differ.
compare(Ops) ->
    E = Ops(ets),
    S = Ops(shards),
    case [Name || {{Name, A}, {Name, B}} <- lists:zip(E, S), A =/= B] of
        [] -> ok;
        Differ -> {differs, Differ}
    end.

%% A result, or the error class and reason (the stack is shards' own).
r(F) ->
    try {ok, F()}
    catch C:R -> {C, R}
    end.

%% The order of results is unspecified but for an ordered_set.
sorter(ordered_set) -> fun(L) -> L end;
sorter(_) -> fun lists:sort/1.
