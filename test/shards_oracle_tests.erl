%%% @doc Deterministic oracle tests: every call is made on an ets `set' and
%%% on a shards `set' (with 1, 2, 7 and 64 partitions) and the outcomes,
%%% errors included (class, reason and error_info cause), must be equal.
%%% Nothing here hard-codes a shards result: expectations come from ets.
-module(shards_oracle_tests).

-include_lib("eunit/include/eunit.hrl").

-import(shards_test_util,
        [r/1, do/3, canon/1, same/2, sorted/1, subst/2, compare_runs/3,
         tricky_terms/0, tricky_keys/0, in_proc/1, partitions/0,
         dead_pid/0, spawn_holder/0, stop_holder/1]).

-define(P, partitions()).

%% Where an assertion is, for failure reports.
-define(WHERE, {?MODULE, ?FUNCTION_NAME, ?LINE}).

%% Asserts that Steps give the same outcomes on ets and shards.
-define(assertSame(Opts, Steps),
        shards_test_util:assert_same(?WHERE, compare_runs(Opts, Steps, ?P))).

%% Runs F(ets) and F(shards) and compares the outcomes exactly.
-define(cmp(F), cmp(?WHERE, F)).

cmp(Where, F) ->
    shards_test_util:assert_same(Where, F(ets), F(shards)).

%% Runs F with a label that failure reports show.
labelled(Label, F) ->
    put(test_label, Label),
    try F() after erase(test_label) end.

tab2list_step() ->
    {sorted, tab2list, ['$T']}.

size_step() ->
    {info, ['$T', size]}.

%%%===================================================================
%%% Keys and values: the tricky terms
%%%===================================================================

tricky_keys_test_() ->
    {timeout, 120,
     [{"keypos 1", fun() -> tricky_keys_case(1) end},
      {"keypos 2", fun() -> tricky_keys_case(2) end},
      {"keypos 3, objects longer than keypos",
       fun() -> tricky_keys_case(3) end}]}.

obj(1, K, V) -> {K, V, extra};
obj(2, K, V) -> {V, K, extra};
obj(3, K, V) -> {V, extra, K, V}.

tricky_keys_case(KeyPos) ->
    Keys = tricky_keys(),
    Steps =
        [{insert, ['$T', obj(KeyPos, K, {value_of, K})]} || K <- Keys] ++
        [size_step(), tab2list_step()] ++
        lists:append(
          [[{lookup, ['$T', K]},
            {member, ['$T', K]},
            {lookup_element, ['$T', K, 1]},
            {lookup_element, ['$T', K, KeyPos]}]
           || K <- Keys]) ++
        %% overwrite every key (0.0 / -0.0 collide), then read again
        [{insert, ['$T', obj(KeyPos, K, {second, K})]} || K <- lists:reverse(Keys)] ++
        [size_step(), tab2list_step()] ++
        [{lookup, ['$T', K]} || K <- Keys] ++
        %% take half of the keys, delete the other half
        lists:append(
          [case I rem 2 of
               0 -> [{take, ['$T', K]}, {member, ['$T', K]}];
               1 -> [{delete, ['$T', K]}, {lookup, ['$T', K]}]
           end || {I, K} <- lists:zip(lists:seq(1, length(Keys)), Keys)]) ++
        [size_step(), tab2list_step()],
    ?assertSame([set, public, {keypos, KeyPos}], Steps).

tricky_values_test_() ->
    {timeout, 60,
     fun() ->
             Vals = tricky_terms(),
             Idx = lists:seq(1, length(Vals)),
             Steps =
                 [{insert, ['$T', {{k, I}, V, [V], {V}}]} || {I, V} <- lists:zip(Idx, Vals)] ++
                 [{lookup, ['$T', {k, I}]} || I <- Idx] ++
                 [{lookup_element, ['$T', {k, I}, 2]} || I <- Idx] ++
                 [{lookup_element, ['$T', {k, I}, 4]} || I <- Idx] ++
                 [{delete_object, ['$T', {{k, I}, V, [V], {V}}]}
                  || {I, V} <- lists:zip(Idx, Vals), I rem 3 =:= 0] ++
                 [tab2list_step(), size_step()],
             ?assertSame([set, public], Steps)
     end}.

%% 0.0 and -0.0 are the same key in an OTP 25 ets set; the last insert
%% wins and the stored object keeps the exact bits of its float.
negative_zero_test() ->
    Steps =
        [{insert, ['$T', {0.0, a}]},
         {insert, ['$T', {-0.0, b}]},
         {lookup, ['$T', 0.0]},
         {lookup, ['$T', -0.0]},
         {label, bits, fun(M, T) -> [<<X/float>> || {X, _} <- M:lookup(T, 0.0)] end},
         size_step(),
         {insert_new, ['$T', {0.0, c}]},
         {insert_new, ['$T', {-0.0, c}]},
         {member, ['$T', 0.0]},
         {take, ['$T', 0.0]},
         {insert, ['$T', {-0.0, a}]},
         {insert, ['$T', {0.0, b}]},
         {label, bits2, fun(M, T) -> [<<X/float>> || {X, _} <- M:lookup(T, -0.0)] end},
         {lookup_element, ['$T', -0.0, 1]},
         {delete, ['$T', -0.0]},
         {member, ['$T', 0.0]},
         %% inside compound keys
         {insert, ['$T', {{0.0}, a}]},
         {insert, ['$T', {{-0.0}, b}]},
         {insert, ['$T', {[1, -0.0], a}]},
         {insert, ['$T', {[1, 0.0], b}]},
         {lookup, ['$T', {0.0}]},
         {lookup, ['$T', [1, -0.0]]},
         size_step(),
         %% in values: delete_object and update_element
         {insert, ['$T', {v, 0.0, -0.0}]},
         {delete_object, ['$T', {v, -0.0, 0.0}]},
         {lookup, ['$T', v]},
         {insert, ['$T', {v, 0.0, -0.0}]},
         {update_element, ['$T', v, {2, -0.0}]},
         {lookup, ['$T', v]},
         tab2list_step()],
    ?assertSame([set, public], Steps).

%% 1 and 1.0 are different keys (a set matches keys with =:=).
int_vs_float_test() ->
    Steps =
        [{insert, ['$T', {1, int}]},
         {insert, ['$T', {1.0, float}]},
         {lookup, ['$T', 1]},
         {lookup, ['$T', 1.0]},
         size_step(),
         {insert_new, ['$T', {1.0, again}]},
         {delete, ['$T', 1.0]},
         {lookup, ['$T', 1]},
         {member, ['$T', 1.0]},
         {insert, ['$T', {{1}, a}]},
         {insert, ['$T', {{1.0}, b}]},
         {insert, ['$T', {#{1 => x}, a}]},
         {insert, ['$T', {#{1.0 => x}, b}]},
         {insert, ['$T', {[1 | 1.0], a}]},
         {insert, ['$T', {[1.0 | 1], b}]},
         {lookup, ['$T', {1.0}]},
         {lookup, ['$T', #{1 => x}]},
         {lookup, ['$T', [1.0 | 1]]},
         {delete_object, ['$T', {1, int}]},
         {insert, ['$T', {1, 1}]},
         {delete_object, ['$T', {1, 1.0}]},
         {lookup, ['$T', 1]},
         size_step(),
         tab2list_step()],
    ?assertSame([set, public], Steps).

big_and_small_integers_test() ->
    Ints = [0, 1, -1, (1 bsl 59) - 1, 1 bsl 59, -(1 bsl 59), -(1 bsl 59) - 1,
            (1 bsl 60) - 1, 1 bsl 60, -(1 bsl 60), (1 bsl 63) - 1, 1 bsl 63,
            (1 bsl 64) - 1, 1 bsl 64, -(1 bsl 64), 1 bsl 100, -(1 bsl 100),
            1 bsl 1000, -(1 bsl 1000)],
    Steps =
        [{insert, ['$T', {I, I}]} || I <- Ints] ++
        [{lookup, ['$T', I]} || I <- Ints] ++
        [{lookup, ['$T', float(I)]} || I <- Ints, abs(I) < 1 bsl 64] ++
        [{lookup, ['$T', I + 1]} || I <- Ints] ++
        [{update_counter, ['$T', I, 1]} || I <- Ints] ++
        [{update_counter, ['$T', I, -(1 bsl 62)]} || I <- Ints] ++
        [{update_counter, ['$T', I, {2, 1 bsl 65}]} || I <- Ints] ++
        [{update_counter, ['$T', I, {2, -(1 bsl 65)}]} || I <- Ints] ++
        [tab2list_step()],
    ?assertSame([set, public], Steps).

%%%===================================================================
%%% insert/2
%%%===================================================================

insert_test_() ->
    [{"keypos " ++ integer_to_list(KP), fun() -> insert_case(KP) end} || KP <- [1, 2]].

insert_case(KP) ->
    O = fun(K, V) -> obj(KP, K, V) end,
    Steps =
        [{insert, ['$T', O(a, 1)]},
         {insert, ['$T', O(a, 2)]},
         {insert, ['$T', []]},
         {insert, ['$T', [O(b, 1), O(c, 1), O(d, 1)]]},
         {insert, ['$T', [O(e, 1), O(e, 2), O(e, 3)]]},
         {insert, ['$T', [O(K, K) || K <- lists:seq(1, 500)]]},
         size_step(),
         {lookup, ['$T', e]},
         %% errors: nothing of a bad list is inserted
         {insert, ['$T', foo]},
         {insert, ['$T', {}]},
         {insert, ['$T', {x}]} ,
         {insert, ['$T', [O(f, 1), foo]]},
         {insert, ['$T', [O(g, 1), {}]]},
         {insert, ['$T', [O(h, 1) | O(i, 1)]]},
         {insert, ['$T', [O(j, 1) | improper]]},
         {insert, ['$T', [foo | O(k, 1)]]},
         {insert, ['$T', "abc"]},
         {insert, ['$T', [[O(l, 1)]]]},
         {member, ['$T', f]},
         {member, ['$T', g]},
         {member, ['$T', h]},
         {member, ['$T', j]},
         size_step(),
         tab2list_step()],
    ?assertSame([set, public, {keypos, KP}], Steps).

%% Objects made only of immediates (small integers, atoms, [], local pids)
%% take a stack-encoded path when inserted one at a time (for an
%% ordered_set, with the general sort key); lists and
%% everything else take the general encoder. Both must make the same bytes:
%% each key is written both ways, then found, replaced, de-duplicated (bag)
%% and deleted by exact object. Arities 1 to 10 cross the path's limit (8).
flat_objects_test_() ->
    [{lists:flatten(io_lib:format("~s, keypos ~b", [Type, KP])),
      fun() -> flat_objects_case(Type, KP) end}
     || Type <- [set, ordered_set, bag, duplicate_bag], KP <- [1, 2]].

flat_objects_case(Type, KP) ->
    %% 7.0 is not an immediate: general path, and in an ordered_set the
    %% same key as 7.
    Keys = [0, 7, 7.0, -7, (1 bsl 59) - 1, -(1 bsl 59), 1 bsl 59, a, [], self()],
    Obj = fun(K, N, V) -> setelement(KP, erlang:make_tuple(N, V), K) end,
    Steps =
        lists:append(
          [[{insert, ['$T', Obj(K, N, 1)]},
            {insert, ['$T', [Obj(K, N, 1)]]},
            {insert, ['$T', [Obj(K, N, 2)]]},
            {insert, ['$T', Obj(K, N, 2)]},
            {lookup, ['$T', K]},
            {delete_object, ['$T', Obj(K, N, 1)]},
            {insert_new, ['$T', Obj(K, N, 3)]},
            {lookup, ['$T', K]}]
           || K <- Keys, N <- lists:seq(KP, 10)]) ++
        [size_step(), tab2list_step()],
    ?assertSame([Type, public, {keypos, KP}], Steps).

%% Small objects without shared binaries (up to 22 bytes of encoding) are
%% kept inline in their slot; others on the heap. Each key here goes back
%% and forth across that line, in place (same length: an inline object
%% that gets a shared binary of the same size moves to the heap) and not,
%% through every kind of write; the ordered_set keeps all of its objects
%% on the heap, also those select_replace makes.
inline_objects_test_() ->
    [{atom_to_list(Type), fun() -> inline_objects_case(Type) end}
     || Type <- [set, ordered_set, bag, duplicate_bag]].

inline_objects_case(Type) ->
    Bin = fun(N) -> list_to_binary(lists:seq(1, N)) end,
    %% {K, V} with K a small integer takes 11 bytes, plus V's encoding.
    Values = [7, <<>>, Bin(9), Bin(10), Bin(65), 1.5, {a}, {a, b}, Bin(66), -3, Bin(9)],
    Keys = [1, 2, 3],
    Steps =
        lists:append(
          [[{insert, ['$T', {K, V}]},
            {lookup, ['$T', K]},
            {update_counter, ['$T', K, {2, 1}, {K, 0}]},
            {update_element, ['$T', K, {2, V}]},
            {lookup, ['$T', K]}]
           || V <- Values, K <- Keys]) ++
        [{select_replace, ['$T', [{{'$1', '$2'}, [{'<', '$1', 3}], [{{'$1', x}}]}]]},
         {lookup, ['$T', 1]},
         {insert, ['$T', {1, Bin(65)}]},
         {select_replace, ['$T', [{{'$1', '_'}, [{'==', '$1', 1}], [{{'$1', 1}}]}]]},
         {update_counter, ['$T', 1, 5]},
         {lookup, ['$T', 1]},
         {delete_object, ['$T', {2, x}]},
         {take, ['$T', 3]},
         size_step(), tab2list_step()],
    ?assertSame([Type, public], Steps).

%% Long lists (the ets BIFs yield on these): same results and contents.
big_lists_test_() ->
    {timeout, 60,
     fun() ->
             Objs = [{K, K, <<K:64>>} || K <- lists:seq(1, 50000)],
             Half = [{K, new} || K <- lists:seq(25001, 75000)],
             ?assertSame([public],
                         [{insert, ['$T', Objs]},
                          size_step(),
                          {insert_new, ['$T', Half]},
                          {insert_new, ['$T', [{K, new} || K <- lists:seq(50001, 100000)]]},
                          size_step(),
                          {lookup, ['$T', 75000]},
                          {insert, ['$T', Half]},
                          size_step(),
                          {lookup, ['$T', 30000]},
                          {label, tab2list_length, fun(M, T) -> length(M:tab2list(T)) end},
                          {insert, ['$T', Objs ++ [bad]]},
                          size_step(),
                          {delete_all_objects, ['$T']},
                          size_step()])
     end}.

%%%===================================================================
%%% insert_new/2
%%%===================================================================

insert_new_test_() ->
    [{"keypos " ++ integer_to_list(KP), fun() -> insert_new_case(KP) end} || KP <- [1, 2]].

insert_new_case(KP) ->
    O = fun(K, V) -> obj(KP, K, V) end,
    Many = [O({m, I}, I) || I <- lists:seq(1, 300)],
    Steps =
        [{insert_new, ['$T', O(a, 1)]},
         {insert_new, ['$T', O(a, 2)]},
         {lookup, ['$T', a]},
         {insert_new, ['$T', []]},
         {insert_new, ['$T', [O(b, 1), O(c, 1)]]},
         %% one existing key: all or nothing
         {insert_new, ['$T', [O(d, 1), O(e, 1), O(a, 3), O(f, 1)]]},
         {member, ['$T', d]},
         {member, ['$T', f]},
         %% duplicate keys inside the list
         {insert_new, ['$T', [O(g, 1), O(g, 2)]]},
         {lookup, ['$T', g]},
         %% many partitions at once
         {insert_new, ['$T', Many]},
         {insert_new, ['$T', Many]},
         {insert_new, ['$T', [O(n, 1) | tl(Many)]]},
         {member, ['$T', n]},
         size_step(),
         %% errors: a non-tuple, a short tuple, improper lists
         {insert_new, ['$T', foo]},
         {insert_new, ['$T', {}]},
         {insert_new, ['$T', [O(h, 1), foo]]},
         {insert_new, ['$T', [O(i, 1), {}]]},
         {insert_new, ['$T', [O(j, 1) | O(k, 1)]]},
         {insert_new, ['$T', [O(a, 9), foo]]},
         {member, ['$T', h]},
         {member, ['$T', i]},
         {member, ['$T', j]},
         size_step(),
         tab2list_step()],
    ?assertSame([set, public, {keypos, KP}], Steps).

%%%===================================================================
%%% lookup/2, member/2, lookup_element/3,4
%%%===================================================================

lookup_element_test() ->
    Positions = [-1, 0, 1, 2, 3, 4, 5, 1 bsl 64, a, 1.0, {1}],
    Keys = [k1, k2, missing],
    Steps =
        [{insert, ['$T', {k1, v1}]},
         {insert, ['$T', {k2, v2, {nested, [1]}, -0.0}]},
         {lookup, ['$T', missing]},
         {member, ['$T', missing]},
         {lookup, ['$T', k2]},
         {member, ['$T', k2]}] ++
        [{lookup_element, ['$T', K, P]} || K <- Keys, P <- Positions] ++
        [{lookup_element, ['$T', K, P, default]} || K <- Keys, P <- Positions],
    ?assertSame([set, public], Steps),
    ?assertSame([set, public, {keypos, 2}],
                [{insert, ['$T', {v, k}]},
                 {lookup_element, ['$T', k, 1]},
                 {lookup_element, ['$T', k, 2]},
                 {lookup_element, ['$T', k, 3]},
                 {lookup_element, ['$T', nok, 2]},
                 {lookup_element, ['$T', nok, 2, {def, [ault]}]},
                 {lookup_element, ['$T', k, 1, {def, [ault]}]}]).

%%%===================================================================
%%% delete/2, delete_object/2, delete_all_objects/1, take/2
%%%===================================================================

delete_test() ->
    Steps =
        [{insert, ['$T', [{K, K} || K <- lists:seq(1, 200)]]},
         {delete, ['$T', 5]},
         {delete, ['$T', 5]},
         {delete, ['$T', 5.0]},
         {delete, ['$T', 6.0]},
         {delete, ['$T', missing]},
         {member, ['$T', 5]},
         {member, ['$T', 6]},
         {delete_object, ['$T', {7, 7}]},
         {delete_object, ['$T', {8, 8.0}]},
         {delete_object, ['$T', {9, other}]},
         {delete_object, ['$T', {10, 10, 10}]},
         {delete_object, ['$T', {missing, 1}]},
         {delete_object, ['$T', foo]},
         {delete_object, ['$T', {}]},
         {delete_object, ['$T', [{11, 11}]]},
         {member, ['$T', 7]},
         {member, ['$T', 8]},
         {member, ['$T', 9]},
         {member, ['$T', 10]},
         {member, ['$T', 11]},
         {take, ['$T', 12]},
         {take, ['$T', 12]},
         {take, ['$T', 13.0]},
         {take, ['$T', missing]},
         size_step(),
         tab2list_step(),
         {delete_all_objects, ['$T']},
         size_step(),
         tab2list_step(),
         {lookup, ['$T', 1]},
         {insert, ['$T', {1, again}]},
         {delete_all_objects, ['$T']},
         {delete_all_objects, ['$T']},
         tab2list_step()],
    ?assertSame([set, public], Steps),
    ?assertSame([set, public, {keypos, 2}],
                [{insert, ['$T', {a, k, b}]},
                 {delete_object, ['$T', {a, k}]},
                 {delete_object, ['$T', {x}]},
                 {delete_object, ['$T', {b, k, b}]},
                 {member, ['$T', k]},
                 {delete_object, ['$T', {a, k, b}]},
                 {member, ['$T', k]},
                 {insert, ['$T', {a, k, b}]},
                 {take, ['$T', k]},
                 {take, ['$T', a]},
                 tab2list_step()]).

%%%===================================================================
%%% update_counter/3,4
%%%===================================================================

counter_ops() ->
    Simple = [1, -1, 0, 5, -(1 bsl 62), 1 bsl 64, -(1 bsl 100)],
    Pos = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    Incrs = [1, -3, 1 bsl 63, a, 1.0, [1]],
    Simple ++
        [{P, I} || P <- Pos, I <- Incrs] ++
        [{2, 5, 10, 0}, {2, 100, 10, -1}, {2, -100, -10, 7},
         {2, -1, 0, 0}, {2, 0, 0, 1}, {3, 1, 3, 1 bsl 70},
         {2, 1, a, 0}, {2, 1, 10, a}, {2, 1, 10.0, 0},
         {1, 1, 10, 0}, {9, 1, 10, 0}, {6, 1, 10, 0},
         {2, 1, 10}, {2, 1, 10, 0, 0}, {2}, {}, foo, 1.0, [{2, 1} | x],
         [], [{2, 1}], [{2, 1}, {3, 2}], [{2, 1}, {2, 1}, {2, 1}],
         [{2, 1}, {3, 1, 5, 0}, {6, -1, -10, 100}],
         [{2, 1}, {9, 1}], [{2, 1}, {4, 1}], [{2, 1}, {1, 1}], [{2, 1}, foo],
         [1], [{2, a}],
         %% which error wins when an op list has several bad entries
         [{1, 1}, foo], [foo, {1, 1}], [{0, 1}, {2, a}], [{2, a}, {0, 1}],
         [{9, 1}, {1, 1}], [{1, 1}, {9, 1}], [{4, 1}, {1, 1}], [{1, 1} | x]].

update_counter_test_() ->
    {timeout, 60,
     [{"existing key", fun update_counter_existing/0},
      {"missing key and defaults", fun update_counter_default/0},
      {"keypos 2", fun update_counter_keypos2/0},
      {"small/big boundary", fun update_counter_boundary/0},
      {"bignum position", fun update_counter_big_position/0}]}.

update_counter_existing() ->
    Obj = {c, 0, 10, atom, 1.5, 1 bsl 64, -(1 bsl 59)},
    Steps =
        lists:append(
          [[{insert, ['$T', Obj]},
            {update_counter, ['$T', c, Op]},
            {lookup, ['$T', c]}]
           || Op <- counter_ops()]) ++
        [{update_counter, ['$T', missing, 1]},
         {update_counter, ['$T', missing, {2, 1}]},
         {update_counter, ['$T', missing, []]},
         tab2list_step()],
    ?assertSame([set, public], Steps).

%% A position that is an integer but not a small one (2^59 or more, or
%% under -2^59) makes the operation malformed, as in ets: badarg without a
%% cause, in the order the operations are checked.
update_counter_big_position() ->
    B = 1 bsl 59,
    Ops = [{B, 1}, {1 bsl 64, 1}, {-B - 1, 1}, {B - 1, 1}, {-B, 1}, {B, 1, 10, 0},
           {B, x}, [{2, 1}, {B, 1}], [{B, 1}, {0, 1}], [{0, 1}, {B, 1}],
           [{B, 1}, {1, 1}], [{1, 1}, {B, 1}], [{B, 1} | x], [{3, 1}, {B, 1}]],
    Steps =
        lists:append(
          [[{insert, ['$T', {k, 1, y}]},
            {update_counter, ['$T', k, Op]},
            {update_counter, ['$T', new, Op]},
            {update_counter, ['$T', new, Op, {new, 0}]},
            {update_counter, ['$T', new, Op, not_a_tuple]},
            {lookup, ['$T', k]},
            {lookup, ['$T', new]}]
           || Op <- Ops]),
    ?assertSame([set, public], Steps).

update_counter_default() ->
    Defaults = [{k, 0}, {k, 0, 0}, {other_key, 5, 5}, {k}, {}, foo, [{k, 0}],
                {k, a}, {k, 1.0, 2}, {k, 1 bsl 64, 0}, {k, 0, 0, 0, 0, 0, 0}],
    Ops = [1, {2, 1}, {3, 5}, {2, 1, 0, -1}, [{2, 1}, {3, 1}], [], {1, 1}, {7, 1}, foo],
    Steps =
        lists:append(
          [[{delete, ['$T', k]},
            {update_counter, ['$T', k, Op, Def]},
            {lookup, ['$T', k]},
            %% the key may exist now: the default is then not used
            {update_counter, ['$T', k, Op, Def]},
            {lookup, ['$T', k]},
            %% surely existing key, with every default (even invalid ones)
            {insert, ['$T', {k, 0, 0}]},
            {update_counter, ['$T', k, Op, Def]},
            {lookup, ['$T', k]}]
           || Op <- Ops, Def <- Defaults,
              %% OTP 25 bug with {}: see update_counter_short_default_test_
              Def =/= {}]),
    ?assertSame([set, public], Steps).

%% No oracle: OTP 25 ets accepts a default object shorter than keypos
%% in update_counter/4 (it stores it, or corrupts the VM heap). A table
%% must never hold an object without a key: shards must raise badarg.
update_counter_short_default_test_() ->
    Cases = [{1, {}}, {2, {}}, {2, {100}}],
    Ops = [1, {1, 5}, {2, 1}, {7, 1}, [], [{1, 1}]],
    [{lists:flatten(io_lib:format("keypos ~p default ~p op ~p", [KP, Def, Op])),
      fun() ->
              [begin
                   T = shards:new(uc_short, [public, {keypos, KP}, {partitions, P}]),
                   R = r(fun() -> shards:update_counter(T, k, Op, Def) end),
                   L = shards:tab2list(T),
                   shards:delete(T),
                   ?assertMatch({P, {error, error, badarg, _}, []}, {P, R, L})
               end || P <- ?P]
      end} || {KP, Def} <- Cases, Op <- Ops].

update_counter_keypos2() ->
    Steps =
        [{insert, ['$T', {0, c, 10, 20}]},
         {update_counter, ['$T', c, 1]},
         {update_counter, ['$T', c, {1, 1}]},
         {update_counter, ['$T', c, {2, 1}]},
         {update_counter, ['$T', c, {4, -50, 0, 99}]},
         {update_counter, ['$T', c, [{1, 1}, {3, 1}, {4, 1}]]},
         {lookup, ['$T', c]},
         {update_counter, ['$T', n, 1, {0, n, 0}]},
         {update_counter, ['$T', n2, {1, 5}, {100, other}]},
         {update_counter, ['$T', n4, 2, {1, x, 1}]},
         {update_counter, ['$T', n5, {2, 1}, {1, n5}]},
         tab2list_step()],
    ?assertSame([set, public, {keypos, 2}], Steps).

update_counter_boundary() ->
    Steps =
        [{insert, ['$T', {k, (1 bsl 59) - 1, -(1 bsl 59), (1 bsl 60) - 1, (1 bsl 64) - 1}]},
         {update_counter, ['$T', k, {2, 1}]},
         {update_counter, ['$T', k, {2, -1}]},
         {update_counter, ['$T', k, {3, -1}]},
         {update_counter, ['$T', k, {3, 1}]},
         {update_counter, ['$T', k, {4, 1}]},
         {update_counter, ['$T', k, {5, 1}]},
         {update_counter, ['$T', k, {5, -(1 bsl 64)}]},
         {update_counter, ['$T', k, {2, 1 bsl 100, 1 bsl 99, -(1 bsl 99)}]},
         {update_counter, ['$T', k, {3, -(1 bsl 100), -(1 bsl 99), 1 bsl 99}]},
         {lookup, ['$T', k]}],
    ?assertSame([set, public], Steps).

%%%===================================================================
%%% update_element/3
%%%===================================================================

update_element_test() ->
    Specs = [{2, x}, {3, -0.0}, {4, <<1:3>>}, {1, k}, {1, other}, {5, x}, {0, x}, {-1, x},
             {a, x}, {2}, {2, x, y}, foo, [], [{2, a}, {3, b}], [{2, a}, {2, b}],
             [{2, a}, {5, b}], [{2, a}, {1, k}], [{2, a} | foo], [{2, a}, foo],
             [{1, x} | y], [{1, x}, foo], [foo, {1, x}], [{5, x}, {1, x}], [{1, x}, {5, x}]],
    Steps =
        lists:append(
          [[{insert, ['$T', {k, 1, 2, 3}]},
            {update_element, ['$T', k, Spec]},
            {lookup, ['$T', k]},
            {update_element, ['$T', missing, Spec]}]
           || Spec <- Specs]) ++ [tab2list_step()],
    ?assertSame([set, public], Steps),
    ?assertSame([set, public, {keypos, 2}],
                [{insert, ['$T', {1, k, 3}]},
                 {update_element, ['$T', k, {1, x}]},
                 {update_element, ['$T', k, {2, x}]},
                 {update_element, ['$T', k, {3, x}]},
                 {update_element, ['$T', k, [{1, y}, {3, y}]]},
                 {lookup, ['$T', k]}]).

%% update_element/3 and update_counter/3 with lists on a small object and
%% on one of 100 000 elements (rewritten on a dirty scheduler): values of
%% the same encoded size are written in place, others splice a new object;
%% binaries over 64 bytes (held by reference) go in and out; a position
%% given twice keeps its last value.
update_element_sizes_test_() ->
    {timeout, 120,
     [{lists:flatten(io_lib:format("~b elements", [N])), fun() -> update_element_sizes(N) end}
      || N <- [6, 100000]]}.

update_element_sizes(N) ->
    P = N div 2,
    Big = binary:copy(<<"b">>, 200),
    Huge = binary:copy(<<"h">>, 5000),
    Values = [x, y, 7, 1.5, -0.0, 1 bsl 70, <<"short">>, Big, Huge,
              binary:part(Huge, 10, 100), [Big, Huge], {a, [1, 2]}, "str", [], self(), 8],
    Specs = [{P, V} || V <- Values]
        ++ [[{P, V}, {P + 1, V}, {2, V}, {N, V}] || V <- Values]
        ++ [[{P, Big}, {P, x}], [{P, x}, {P, Huge}], [{N, 1}, {2, Big}, {N, 2}],
            [{P, 1}, {P + 1, 2}, {P + 2, 3}], [{P, 1}, {N + 1, x}], [{P, Big}, {1, k}]],
    Counters = [[{P, 1}, {P + 1, 1}], [{P, 1 bsl 62}, {2, -1}], [{P, 1}, {P, -1 bsl 70}],
                [{P + 2, 1, 10, 0}, {N, 5}], [{P, 1}, {P + 1, 1}, {N + 1, 1}]],
    Obj = list_to_tuple([k | lists:seq(1, N - 1)]),
    Look = [{lookup_element, ['$T', k, Pos]} || Pos <- lists:usort([2, P, P + 1, P + 2, N])],
    Steps =
        [{insert, ['$T', Obj]}]
        ++ lists:append([[{update_element, ['$T', k, Spec]} | Look] || Spec <- Specs])
        ++ lists:append([[{update_element, ['$T', k, [{P, 0}, {P + 1, 0}, {P + 2, 0}, {N, 0}]]},
                          {update_counter, ['$T', k, Ops]} | Look] || Ops <- Counters])
        ++ [{lookup, ['$T', k]}],
    [?assertSame([Type, public], Steps) || Type <- [set, ordered_set]].

%%%===================================================================
%%% info/1,2
%%%===================================================================

-define(INFO_ITEMS, [size, type, keypos, protection, owner, heir, name, named_table, node]).

info_test_() ->
    Holder = spawn_holder(),
    Optss = [[], [set], [public], [protected], [private], [named_table],
             [{keypos, 3}], [{heir, Holder, data}], [{heir, none}],
             [public, named_table, {keypos, 2}, {heir, self(), x}],
             [{write_concurrency, true}, {read_concurrency, true}, compressed],
             [{write_concurrency, true}, {read_concurrency, false},
              {decentralized_counters, true}]],
    {setup, fun() -> Holder end, fun shards_test_util:stop_holder/1,
     [{lists:flatten(io_lib:format("~p", [Opts])), fun() -> info_case(Opts) end}
      || Opts <- Optss] ++
     [{"info(T, memory)", fun info_memory/0},
      {"info(T, memory) across inline and heap objects", fun info_memory_inline/0},
      {"info(T, partitions)", fun info_partitions/0},
      {"info of missing tables", fun info_missing/0}]}.

info_case(Opts) ->
    labelled({info, Opts}, fun() -> info_case_body(Opts) end).

info_case_body(Opts) ->
    Steps =
        [{insert, ['$T', [{K, K, K} || K <- lists:seq(1, 100)]]}] ++
        [{info, ['$T', I]} || I <- ?INFO_ITEMS] ++
        [{label, {info1, I},
          fun(M, T) -> lists:keyfind(I, 1, M:info(T)) end} || I <- ?INFO_ITEMS] ++
        [{info, ['$T', no_such_item]},
         {info, ['$T', "size"]},
         {label, memory_is_integer,
          fun(M, T) -> Mem = M:info(T, memory), is_integer(Mem) andalso Mem >= 0 end},
         {label, memory_in_info1,
          fun(M, T) -> {memory, Mem} = lists:keyfind(memory, 1, M:info(T)), is_integer(Mem) end}],
    ?assertSame(Opts, Steps).

info_memory() ->
    [begin
         T = shards:new(mem_tab, [{partitions, P}]),
         M0 = shards:info(T, memory),
         true = shards:insert(T, [{K, shards_test_util:bin(200), lists:seq(1, 20)}
                                  || K <- lists:seq(1, 2000)]),
         M1 = shards:info(T, memory),
         true = shards:delete_all_objects(T),
         M2 = shards:info(T, memory),
         shards:delete(T),
         ?assert(is_integer(M0) andalso M0 >= 0),
         %% each object holds at least its 200-byte binary (25 words)
         ?assert(M1 - M0 > 2000 * 25),
         %% back near the start (within 10% of what the objects took)
         ?assert(abs(M2 - M0) < (M1 - M0) div 10)
     end || P <- ?P].

%% An inline object rewritten in place by one of the same length that holds
%% a shared binary moves to the heap: the table's memory must follow. The
%% shared binary's encoding ends with its offset in a chunk, one or two
%% bytes, so both small values are tried. Once the key is gone, memory is
%% back where it was.
info_memory_inline() ->
    Bin = fun(N) -> list_to_binary(lists:seq(1, N)) end,
    [begin
         T = shards:new(mem_inline_tab, [Type]),
         true = shards:insert(T, {<<>>, 0}),
         true = shards:delete(T, <<>>),
         M0 = shards:info(T, memory),
         [true = shards:insert(T, {<<>>, V})
          || V <- [Bin(10), Bin(65), Bin(11), Bin(65), Bin(10), Bin(65), Bin(11)]],
         true = shards:delete(T, <<>>),
         ?assertEqual({Type, M0}, {Type, shards:info(T, memory)}),
         shards:delete(T)
     end || Type <- [set, ordered_set, bag, duplicate_bag]].

info_partitions() ->
    [begin
         T = shards:new(part_tab, [{partitions, P}]),
         ?assertEqual(P, shards:info(T, partitions)),
         ?assertEqual({partitions, P}, lists:keyfind(partitions, 1, shards:info(T))),
         shards:delete(T),
         T2 = shards:new(part_tab, [{n_shards, P}]),
         ?assertEqual(P, shards:info(T2, partitions)),
         shards:delete(T2)
     end || P <- ?P].

info_missing() ->
    Dead = fun(M) -> T = M:new(x, []), M:delete(T), T end,
    ?cmp(fun(M) -> r(fun() -> M:info(no_such_table_xyz) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(no_such_table_xyz, size) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(Dead(M)) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(Dead(M), owner) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(123) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(123, size) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(make_ref()) end) end),
    ?cmp(fun(M) -> r(fun() -> M:info(make_ref(), size) end) end).

%%%===================================================================
%%% new/2
%%%===================================================================

new_options_test_() ->
    Holder = spawn_holder(),
    Good = [[], [set], [public], [protected], [private], [private, public],
            [named_table], [{keypos, 1}], [{keypos, 2}], [{keypos, 1000}],
            [{keypos, 2}, {keypos, 3}],
            [{heir, Holder, data}], [{heir, none}], [{heir, self(), x}],
            [{heir, dead_pid(), x}],
            [write_concurrency], [{write_concurrency, true}],
            [{write_concurrency, false}], [{write_concurrency, auto}],
            [read_concurrency], [{read_concurrency, true}],
            [{read_concurrency, false}], [compressed],
            [{decentralized_counters, true}], [{decentralized_counters, false}],
            [set, public, named_table, {keypos, 2}, {heir, none},
             {write_concurrency, true}, {read_concurrency, true}, compressed]],
    Bad = [foo, [foo], [{keypos, 0}], [{keypos, -1}], [{keypos, a}],
           [{keypos, 1.0}], [{heir, foo, x}], [{heir, self()}], [{heir, foo}],
           [{write_concurrency, maybe}], [{read_concurrency, 1}],
           [{decentralized_counters, maybe}], [public | foo], [{foo, bar}],
           [{keypos, 1, 2}], "set"],
    {setup, fun() -> Holder end, fun shards_test_util:stop_holder/1,
     [{lists:flatten(io_lib:format("new ~p", [O])), fun() -> new_case(oracle_new, O) end}
      || O <- Good ++ Bad] ++
     [{"bad names", fun() -> [new_case(N, []) || N <- ["x", 1, {a}, <<"x">>]] end},
      {"duplicate named_table", fun new_duplicate_name/0},
      {"shards-only options", fun new_shards_options/0}]}.

%% Creates the table on both sides and compares the outcome and the info
%% items; the table id itself is replaced by '$tab'.
new_case(Name, Opts) ->
    labelled({new, Name, Opts}, fun() -> new_case_body(Name, Opts) end).

new_case_body(Name, Opts) ->
    Run = fun(M, P) ->
                  case r(fun() -> new_side(M, Name, Opts, P) end) of
                      {ok, T} ->
                          Info = [{I, M:info(T, I)} || I <- ?INFO_ITEMS],
                          M:delete(T),
                          subst({ok, Info}, [{T, '$tab'}]);
                      Err ->
                          Err
                  end
          end,
    E = Run(ets, 1),
    [?cmp(fun(ets) -> E; (shards) -> Run(shards, P) end) || P <- ?P].

new_side(ets, Name, Opts, _P) -> ets:new(Name, Opts);
new_side(shards, Name, Opts, P) when is_list(Opts) ->
    %% put the partitions option after the others (keeps an improper list improper)
    shards:new(Name, append_opt(Opts, {partitions, P}));
new_side(shards, Name, Opts, _P) ->
    shards:new(Name, Opts).

append_opt([H | T], O) -> [H | append_opt(T, O)];
append_opt([], O) -> [O];
append_opt(Tail, _O) -> Tail.

new_duplicate_name() ->
    ?cmp(fun(M) ->
                T = M:new(dup_name, [named_table]),
                R1 = r(fun() -> M:new(dup_name, [named_table]) end),
                R2 = r(fun() -> M:new(dup_name, []) end),
                R2b = case R2 of {ok, T2} -> M:delete(T2), ok; _ -> R2 end,
                M:delete(T),
                R3 = r(fun() -> M:new(dup_name, [named_table]) end),
                M:delete(dup_name),
                {R1, R2b, R3, T}
        end).

new_shards_options() ->
    %% no ets oracle for these: they must be accepted or be badarg
    [begin
         T = shards:new(sopt, [{partitions, P}]),
         ?assertEqual(P, shards:info(T, partitions)),
         shards:delete(T),
         T1 = shards:new(sopt, [{n_shards, P}]),
         ?assertEqual(P, shards:info(T1, partitions)),
         shards:delete(T1)
     end || P <- ?P],
    [?assertMatch({error, error, badarg, _}, r(fun() -> shards:new(sopt, O) end))
     || O <- [[{partitions, 0}], [{partitions, -1}], [{partitions, a}],
              [{partitions, 1.0}], [{n_shards, 0}], [{keyslot_fun, foo}],
              [{keyslot_fun, fun(_) -> 0 end}]]].

%%%===================================================================
%%% keyslot_fun
%%%===================================================================

keyslot_fun_test_() ->
    Funs = [{"all to 0", fun(_, _) -> 0 end},
            {"all to last", fun(_, N) -> N - 1 end},
            {"phash2 of wrapped key", fun(K, N) -> erlang:phash2({w, K}, N) end},
            {"external fun", fun erlang:phash2/2}],
    [{Name, fun() -> keyslot_case(F) end} || {Name, F} <- Funs] ++
        [{"called with the number of partitions", fun keyslot_called/0}].

keyslot_case(F) ->
    Keys = tricky_keys(),
    Steps =
        [{insert, ['$T', {K, v1}]} || K <- Keys] ++
        [{insert_new, ['$T', [{{n, K}, 0} || K <- Keys]]}] ++
        [{lookup, ['$T', K]} || K <- Keys] ++
        [{update_counter, ['$T', {n, K}, 1]} || K <- Keys] ++
        [{take, ['$T', K]} || K <- lists:sublist(Keys, 10)] ++
        [{delete, ['$T', K]} || K <- lists:sublist(Keys, 11, 10)] ++
        [size_step(), tab2list_step()],
    E = ets:new(ks, [public]),
    EtsTrace = shards_test_util:run_steps(ets, E, Steps),
    ets:delete(E),
    [begin
         S = shards:new(ks, [public, {partitions, P}, {keyslot_fun, F}]),
         STrace = shards_test_util:run_steps(shards, S, Steps),
         shards:delete(S),
         shards_test_util:assert_same(
           ?WHERE, [{{partitions, P}, D} || D <- shards_test_util:diff_steps(EtsTrace, STrace)])
     end || P <- ?P].

keyslot_called() ->
    Self = self(),
    [begin
         F = fun(K, N) -> Self ! {keyslot, K, N}, erlang:phash2(K, N) end,
         T = shards:new(ks, [public, {partitions, P}, {keyslot_fun, F}]),
         shards_test_util:flush(),
         true = shards:insert(T, {the_key, 1}),
         [{the_key, 1}] = shards:lookup(T, the_key),
         shards:delete(T),
         Got = receive_keyslots([]),
         ?assertNotEqual([], Got),
         ?assertEqual([{the_key, P}], lists:usort(Got))
     end || P <- ?P].

receive_keyslots(Acc) ->
    receive
        {keyslot, K, N} -> receive_keyslots([{K, N} | Acc])
    after 100 ->
            lists:reverse(Acc)
    end.

%%%===================================================================
%%% Errors: missing and deleted tables, bad table arguments
%%%===================================================================

%% Every function on a table that does not exist.
missing_table_calls() ->
    [{insert, [{a, 1}]}, {insert, [[{a, 1}]]}, {insert_new, [{a, 1}]},
     {insert_new, [[{a, 1}]]}, {lookup, [a]}, {member, [a]},
     {lookup_element, [a, 2]}, {lookup_element, [a, 2, def]},
     {delete, []}, {delete, [a]}, {delete_object, [{a, 1}]},
     {delete_all_objects, []}, {take, [a]}, {update_counter, [a, 1]},
     {update_counter, [a, {2, 1}]}, {update_counter, [a, 1, {a, 0}]},
     {update_element, [a, {2, x}]}, {info, []}, {info, [size]},
     {info, [owner]}, {tab2list, []}, {rename, [new_name_xyz]},
     {give_away, [self(), gift]}, {setopts, [{heir, none}]},
     %% bad arguments on top of a missing table
     {insert, [foo]}, {lookup_element, [a, 0]}, {update_counter, [a, foo]}].

missing_table_test_() ->
    Tabs = [{"never existed", fun(_M) -> no_such_table_xyz end},
            {"deleted unnamed", fun(M) -> T = M:new(gone, []), M:delete(T), T end},
            {"deleted named",
             fun(M) -> T = M:new(gone_named, [named_table]), M:delete(T), T end},
            {"integer", fun(_M) -> 123 end},
            {"string", fun(_M) -> "tab" end},
            {"unknown reference", fun(_M) -> make_ref() end},
            {"tuple", fun(_M) -> {tab} end}],
    %% one test per kind of table argument, comparing every function
    [{Name,
      fun() ->
              Run = fun(M) ->
                            [begin
                                 T = MkTab(M),
                                 {{F, Args},
                                  subst(r(fun() -> do(M, F, [T | Args]) end), [{T, '$tab'}])}
                             end || {F, Args} <- missing_table_calls()]
                    end,
              shards_test_util:assert_same(
                ?WHERE, shards_test_util:diff_steps(Run(ets), Run(shards)))
      end}
     || {Name, MkTab} <- Tabs].

%% An ets table id must not be taken for a shards table and vice versa.
foreign_id_test() ->
    E = ets:new(foreign, [public]),
    S = shards:new(foreign, [public, {partitions, 2}]),
    try
        ?assertMatch({error, error, badarg, _}, r(fun() -> shards:lookup(E, a) end)),
        ?assertMatch({error, error, badarg, _}, r(fun() -> shards:insert(E, {a, 1}) end)),
        ?assertMatch({error, error, badarg, _}, r(fun() -> ets:lookup(S, a) end))
    after
        ets:delete(E),
        shards:delete(S)
    end.

%% When ets gives an error_info, shards must give one whose module is
%% shards_error, and the error must format (as the shell does).
error_info_module_test() ->
    T = shards:new(emod, [public, {partitions, 2}]),
    shards:insert(T, {k, 1, a}),
    Calls = [fun() -> shards:lookup(no_such_table_xyz, a) end,
             fun() -> shards:update_counter(T, missing, 1) end,
             fun() -> shards:update_counter(T, k, {3, 1}) end,
             fun() -> shards:insert(T, foo) end,
             fun() -> shards:lookup_element(T, missing, 2) end],
    try
        [begin
             ?assertEqual(shards_error, shards_test_util:error_module(C)),
             try C() of
                 _ -> ok
             catch
                 Class:Reason:St ->
                     Formatted = erl_error:format_exception(Class, Reason, St),
                     ?assert(is_list(unicode:characters_to_list(Formatted)))
             end
         end || C <- Calls]
    after
        shards:delete(T)
    end.

%%%===================================================================
%%% Access: protected and private tables from another process
%%%===================================================================

access_calls() ->
    [{lookup, [k]}, {member, [k]}, {lookup_element, [k, 2]},
     {lookup_element, [k, 2, def]}, {tab2list, []}, {info, [size]},
     {info, [owner]}, {insert, [{x, 1}]}, {insert, [[{x, 1}, {y, 2}]]},
     {insert_new, [{x, 1}]}, {insert_new, [[{x, 1}]]}, {delete, [k]},
     {delete_object, [{k, 1}]}, {delete_all_objects, []}, {take, [k]},
     {update_counter, [k, 1]}, {update_counter, [x, 1, {x, 0}]},
     {update_element, [k, {2, 5}]}, {setopts, [{heir, none}]},
     {give_away, [self(), gift]}, {rename, [renamed_xyz]}, {delete, []}].

access_test_() ->
    [{atom_to_list(Prot) ++ " " ++ atom_to_list(F) ++ "/" ++ integer_to_list(length(Args) + 1),
      fun() -> access_case(Prot, F, Args) end}
     || Prot <- [public, protected, private], {F, Args} <- access_calls()].

access_case(Prot, F, Args) ->
    labelled({access, Prot, F, Args}, fun() -> access_case_body(Prot, F, Args) end).

access_case_body(Prot, F, Args) ->
    Opts = [Prot, named_table],
    Run = fun(M) ->
                  T = shards_test_util:new_tab(M, Opts, 7),
                  M:insert(T, {k, 1}),
                  Res = in_proc(fun() -> do(M, F, [T | Args]) end),
                  Owner = r(fun() -> M:info(T, owner) end),
                  After = r(fun() -> sorted(M:tab2list(T)) end),
                  _ = (catch M:delete(T)),
                  _ = (catch M:delete(renamed_xyz)),
                  subst({Res, Owner, After}, [{T, '$tab'}])
          end,
    ?cmp(Run).

%%%===================================================================
%%% all/0, whereis/1, rename/2, give_away/3, setopts/2, tab2list/1
%%%===================================================================

all_test() ->
    [begin
         T = shards:new(all_tab, [{partitions, P}]),
         N = shards:new(all_named, [named_table, {partitions, P}]),
         All = shards:all(),
         ?assert(lists:member(T, All)),
         ?assert(lists:member(N, All)),
         shards:delete(T),
         shards:delete(N),
         All2 = shards:all(),
         ?assertNot(lists:member(T, All2)),
         ?assertNot(lists:member(N, All2))
     end || P <- ?P],
    %% same rule as ets: a named table shows as its name
    E = ets:new(all_named, [named_table]),
    ?assert(lists:member(all_named, ets:all())),
    ets:delete(E).

whereis_test() ->
    ?cmp(fun(M) ->
                R0 = M:whereis(wh_tab),
                T = M:new(wh_tab, [named_table, public]),
                Id = M:whereis(wh_tab),
                M:insert(T, {k, 1}),
                R1 = r(fun() -> M:lookup(Id, k) end),
                R2 = r(fun() -> M:insert(Id, {k2, 2}) end),
                R3 = M:lookup(wh_tab, k2),
                IsRef = is_reference(Id),
                NotName = Id =/= wh_tab,
                R4 = r(fun() -> M:info(Id, name) end),
                R5 = r(fun() -> M:info(Id, named_table) end),
                M:delete(wh_tab),
                R6 = M:whereis(wh_tab),
                R7 = r(fun() -> M:lookup(Id, k) end),
                U = M:new(wh_unnamed, []),
                R8 = M:whereis(wh_unnamed),
                M:delete(U),
                R9 = r(fun() -> M:whereis("x") end),
                R10 = r(fun() -> M:whereis(123) end),
                {R0, R1, R2, R3, IsRef, NotName, R4, R5, R6, R7, R8, R9, R10}
        end).

rename_test() ->
    ?cmp(fun(M) ->
                A = M:new(ren_a, [named_table, public]),
                B = M:new(ren_b, [named_table, public]),
                M:insert(A, {k, a}),
                Id = M:whereis(ren_a),
                R1 = r(fun() -> M:rename(ren_a, ren_b) end),
                R2 = r(fun() -> M:rename(ren_a, ren_a) end),
                R3 = r(fun() -> M:rename(ren_a, "str") end),
                R4 = r(fun() -> M:rename(ren_a, ren_c) end),
                R5 = r(fun() -> M:lookup(ren_c, k) end),
                R6 = r(fun() -> M:lookup(ren_a, k) end),
                R7 = r(fun() -> M:info(ren_c, name) end),
                R8 = M:whereis(ren_a),
                R9 = M:whereis(ren_c) =/= undefined,
                R10 = r(fun() -> M:new(ren_a, [named_table]) end),
                %% the id found before the rename still reaches the table
                R10b = r(fun() -> M:lookup(Id, k) end),
                R10c = r(fun() -> M:info(Id, name) end),
                _ = (catch M:delete(ren_a)),
                %% unnamed tables can be renamed, even to a taken name
                U = M:new(ren_u, [public]),
                R11 = r(fun() -> M:rename(U, ren_b) end),
                R12 = r(fun() -> M:info(U, name) end),
                R13 = r(fun() -> M:info(U, named_table) end),
                R14 = r(fun() -> M:lookup(ren_b, k) end),
                M:delete(U),
                M:delete(B),
                _ = (catch M:delete(ren_c)),
                subst({R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R10b, R10c,
                       R11, R12, R13, R14},
                      [{U, '$u'}])
        end).

give_away_errors_test() ->
    Holder = spawn_holder(),
    try
        ?cmp(fun(M) ->
                    T = M:new(ga, [public]),
                    Dead = dead_pid(),
                    Rs = [r(fun() -> M:give_away(T, self(), gift) end),
                          r(fun() -> M:give_away(T, Dead, gift) end),
                          r(fun() -> M:give_away(T, foo, gift) end),
                          r(fun() -> M:give_away(T, shards_test_util:external_pid(), gift) end),
                          in_proc(fun() -> M:give_away(T, Holder, gift) end),
                          r(fun() -> M:info(T, owner) end)],
                    M:delete(T),
                    subst(Rs, [{T, '$tab'}, {Dead, '$dead'}])
            end)
    after
        stop_holder(Holder)
    end.

%% give_away/3 to a dead process or a non-pid: ets checks the table first
%% (cause id for a deleted table, access for a protected or private table
%% of another owner), then the recipient.
give_away_dead_recipient_test() ->
    Dead = dead_pid(),
    ?cmp(fun(M) ->
                 Other = [begin
                              Self = self(),
                              Owner = spawn(fun() ->
                                                    Self ! {tab, M:new(gad, [Prot])},
                                                    receive _ -> ok end
                                            end),
                              T = receive {tab, T0} -> T0 end,
                              R = {Prot, r(fun() -> M:give_away(T, Dead, gift) end),
                                   r(fun() -> M:give_away(T, not_a_pid, gift) end)},
                              exit(Owner, kill),
                              R
                          end || Prot <- [protected, private]],
                 D = M:new(gad, []),
                 M:delete(D),
                 Deleted = [r(fun() -> M:give_away(D, To, gift) end) || To <- [Dead, not_a_pid]],
                 {Other, Deleted}
         end).

%% rename/2 with a name that is not an atom, info/2 with an item that is not
%% one, foldl/3 and foldr/3 with a first argument that is not a fun of
%% arity 2: as ets, the table is checked first (cause id, type or access;
%% info/2 returns undefined for a table that does not exist), then the
%% other argument (badarg without a cause; a fold returns Acc for an empty
%% table and fails with function_clause in lists:foldl/foldr otherwise).
table_checked_first_test() ->
    Calls = [{rename, fun(M, T) -> M:rename(T, "not an atom") end},
             {info, fun(M, T) -> M:info(T, "size") end},
             {info_unknown_item, fun(M, T) -> M:info(T, not_an_item) end},
             {foldl, fun(M, T) -> M:foldl(not_a_fun, acc, T) end},
             {foldl_arity, fun(M, T) -> M:foldl(fun(_) -> x end, acc, T) end},
             {foldr, fun(M, T) -> M:foldr(not_a_fun, acc, T) end},
             {foldr_arity, fun(M, T) -> M:foldr(fun(_) -> x end, acc, T) end}],
    ?cmp(fun(M) ->
                 Live = M:new(live, []),
                 M:insert(Live, {k, v}),
                 Empty = M:new(empty, []),
                 Deleted = M:new(del, []),
                 M:delete(Deleted),
                 Self = self(),
                 Owner = spawn(fun() -> Self ! {tab, M:new(priv, [private])}, receive _ -> ok end end),
                 Private = receive {tab, T0} -> T0 end,
                 R = [{Name, Which, r(fun() -> F(M, T) end)}
                      || {Name, F} <- Calls,
                         {Which, T} <- [{deleted, Deleted}, {not_a_table, {x}},
                                        {no_such_name, no_such_table}, {live, Live},
                                        {empty, Empty}, {private_of_another, Private}]],
                 exit(Owner, kill),
                 M:delete(Live),
                 M:delete(Empty),
                 R
         end).

setopts_test() ->
    Holder = spawn_holder(),
    try
        ?cmp(fun(M) ->
                    T = M:new(so, [public]),
                    Rs = [r(fun() -> M:setopts(T, {heir, Holder, d}) end),
                          r(fun() -> M:info(T, heir) end),
                          r(fun() -> M:setopts(T, [{heir, none}]) end),
                          r(fun() -> M:info(T, heir) end),
                          r(fun() -> M:setopts(T, [{heir, self(), d}]) end),
                          r(fun() -> M:info(T, heir) end),
                          r(fun() -> M:setopts(T, []) end),
                          r(fun() -> M:setopts(T, [{heir, foo, d}]) end),
                          r(fun() -> M:setopts(T, [{heir, Holder}]) end),
                          r(fun() -> M:setopts(T, [{foo, bar}]) end),
                          r(fun() -> M:setopts(T, foo) end),
                          r(fun() -> M:setopts(T, [{protection, private}]) end),
                          r(fun() -> M:info(T, protection) end),
                          r(fun() -> M:setopts(T, [{protection, foo}]) end),
                          r(fun() -> M:setopts(T, [{heir, dead_pid(), d}]) end),
                          r(fun() -> M:info(T, heir) end),
                          in_proc(fun() -> M:setopts(T, [{heir, none}]) end)],
                    M:delete(T),
                    subst(Rs, [{T, '$tab'}])
            end)
    after
        stop_holder(Holder)
    end.

tab2list_test() ->
    Objs = [{K, V} || {K, V} <- lists:zip(tricky_keys(), lists:reverse(tricky_keys()))],
    ?assertSame([public],
                [tab2list_step(),
                 {insert, ['$T', Objs]},
                 tab2list_step(),
                 {label, length, fun(M, T) -> length(M:tab2list(T)) end},
                 {delete_all_objects, ['$T']},
                 {tab2list, ['$T']}]).

%%%===================================================================
%%% shards 1.x API: table_meta/1, get_meta/2,3, put_meta/3 and the
%%% metadata-last arities
%%%===================================================================

meta_test_() ->
    [{"get_meta/put_meta", fun meta_get_put/0},
     {"metadata-last arities", fun meta_last_arities/0},
     {"table_meta of a missing table",
      fun() ->
              ?assertMatch({error, error, badarg, _},
                           r(fun() -> shards:table_meta(no_such_table_xyz) end))
      end}].

meta_get_put() ->
    [begin
         T = shards:new(meta_tab, [{partitions, P}]),
         ?assertEqual(undefined, shards:get_meta(T, my_key)),
         ?assertEqual(def, shards:get_meta(T, my_key, def)),
         ?assertEqual(ok, shards:put_meta(T, my_key, {some, <<"value">>, -0.0})),
         V = shards:get_meta(T, my_key),
         ?assert(same({some, <<"value">>, -0.0}, V)),
         ?assert(same(V, shards:get_meta(T, my_key, def))),
         ?assertEqual(ok, shards:put_meta(T, my_key, other)),
         ?assertEqual(other, shards:get_meta(T, my_key)),
         %% user metadata is not table content
         ?assertEqual([], shards:tab2list(T)),
         ?assertEqual(0, shards:info(T, size)),
         Meta = shards:table_meta(T),
         ?assertEqual(Meta, shards:table_meta(T)),
         shards:delete(T)
     end || P <- ?P].

meta_last_arities() ->
    Tab2List = {label, meta_tab2list,
                fun(ets, T) -> sorted(ets:tab2list(T));
                   (shards, T) -> sorted(shards:tab2list(T, shards:table_meta(T)))
                end},
    Steps =
        [{meta, insert, ['$T', {a, 1, 2}]},
         {meta, insert, ['$T', [{b, 1, 2}, {c, 1, 2}, {d, 0, 0}]]},
         {meta, insert_new, ['$T', {a, 9, 9}]},
         {meta, insert_new, ['$T', [{e, 1, 1}, {f, 1, 1}]]},
         {meta, insert_new, ['$T', [{g, 1, 1}, {a, 1, 1}]]},
         {meta, insert, ['$T', foo]},
         {meta, lookup, ['$T', a]},
         {meta, lookup, ['$T', g]},
         {meta, member, ['$T', b]},
         {meta, member, ['$T', g]},
         {meta, delete, ['$T', b]},
         {meta, delete_object, ['$T', {c, 1, 2}]},
         {meta, delete_object, ['$T', {d, 1, 2}]},
         {meta, take, ['$T', e]},
         {meta, take, ['$T', e]},
         {meta, update_counter, ['$T', a, {2, 5}, {a, 0, 0}]},
         {meta, update_counter, ['$T', z, [{2, 5}, {3, 1}], {z, 0, 0}]},
         {meta, update_element, ['$T', a, {3, x}]},
         {meta, update_element, ['$T', a, {1, x}]},
         Tab2List,
         {sorted, tab2list, ['$T']},
         {meta, delete_all_objects, ['$T']},
         Tab2List],
    ?assertSame([public], Steps).

%% ordered_set keys that are funs, in the VM's order: local funs (module,
%% index, uniq, free variables compared with ==) before external ones
%% (module, function, arity).
fun_keys_in_order_test() ->
    Funs = [fun lists:map/2, fun erlang:length/1, adder(1), adder(1.0), adder(0),
            adder({a, 2}), fun() -> ok end, fun(A, B) -> {A, B} end, fun shards:new/2,
            fun lists:map/3, fun lists:all/2],
    Objs = [{F, I} || {I, F} <- lists:enumerate(Funs)],
    Run = fun(M, Opts) ->
                  T = M:new(funs, [ordered_set | Opts]),
                  M:insert(T, Objs),
                  R = {[I || {_, I} <- M:tab2list(T)], M:info(T, size),
                       [M:lookup(T, F) || F <- Funs]},
                  M:delete(T),
                  R
          end,
    [?assertEqual(Run(ets, []), Run(shards, [{partitions, P}])) || P <- [1, 2, 7]].

adder(Y) -> fun(X) -> X + Y end.
