%%% @doc Deterministic tests of the select and match family and of the
%%% match-spec functions, ets as the oracle: same results (as multisets for
%%% set tables), same table contents after deletes and replaces, same
%%% errors (class, reason and error_info cause).
%%%
%%% Also: continuations (reused, passed to another process, after the table
%%% is gone), big tables (dirty-scheduler and parallel scans), objects the
%%% native engine leaves to ETS (bignum arithmetic), the shards 1.x arities,
%%% and a select over 200,000 objects under a long_schedule monitor.
-module(shards_select_tests).

-include_lib("eunit/include/eunit.hrl").

-import(shards_test_util, [r/1, sorted/1, same/2, compare_runs/3, in_proc/1]).

-define(WHERE, {?MODULE, ?FUNCTION_NAME, ?LINE}).

-define(assertSame(Opts, Steps),
        shards_test_util:assert_same(?WHERE, compare_runs(Opts, Steps, shards_test_util:partitions()))).

%% match_spec_run takes a compiled spec: each side compiles its own.
-define(MS_RUN(M, S, L), M:match_spec_run(L, M:match_spec_compile(S))).

-define(assertSameOutcome(F),
        shards_test_util:assert_same(?WHERE, F(ets), F(shards))).

%%%===================================================================
%%% Fixtures
%%%===================================================================

%% Objects of several shapes, with the tricky terms as keys and values
%% (1 and 1.0, 0.0 and -0.0, big integers, long binaries, pids, refs...).
objects() ->
    Keys = shards_test_util:tricky_keys(),
    [{K, I, {v, K}} || {I, K} <- lists:zip(lists:seq(1, length(Keys)), Keys)]
        ++ [{{pair, I}, I * 1.5, [I, I + 1], #{n => I, b => shards_test_util:bin(I + 60)}}
            || I <- lists:seq(1, 30)].

fill(Objects) ->
    [{insert, ['$T', O]} || O <- Objects].

specs() ->
    [[{'_', [], ['$_']}],
     [{'$1', [], ['$1']}],
     [{{'$1', '$2', '_'}, [{is_integer, '$2'}, {'>', '$2', 10}], [{{'$2', '$1'}}]}],
     [{{'$1', '$2', '$3'}, [{'==', '$2', 3}], ['$$']}],
     [{{'$1', '_', '$3'}, [{is_tuple, '$3'}], [{element, 1, '$3'}]}],
     [{{{pair, '$1'}, '$2', ['$3' | '_'], #{n => '$4'}}, [{'=:=', '$1', '$3'}], [['$4', '$2']]}],
     [{{{pair, '_'}, '_', '_', '$1'}, [], [{map_get, b, '$1'}]}],
     [{{{pair, '_'}, '_', '_', '$1'}, [{'>', {byte_size, {map_get, b, '$1'}}, 80}],
       [{binary_part, {map_get, b, '$1'}, 0, 3}]}],
     [{{'$1', '_', '_'}, [{is_float, '$1'}], [{'*', '$1', 2}]},
      {{'$1', '_', '_'}, [{is_binary, '$1'}], [{byte_size, '$1'}]}],
     [{{'$1', '_', '_'}, [{is_number, '$1'}, {'<', '$1', 0}], [{abs, '$1'}, {'-', '$1'}]}],
     [{{'$1', '_', '_'}, [{'orelse', {is_pid, '$1'}, {is_reference, '$1'}, {is_port, '$1'}}],
       [{node, '$1'}]}],
     [{{'$1', '$2', '_'}, [{'andalso', {is_list, '$1'}, {'>', {length, '$1'}, 1}}],
       [{hd, '$1'}, {tl, '$1'}]}],
     [{{'$1', '_', '_'}, [], [{hd, '$1'}]}],
     [{{'$1', '_', '_'}, [{is_map, '$1'}], [{map_size, '$1'}, {is_map_key, 1, '$1'}]}],
     [{{'$1', '$2', '_'}, [{'==', '$1', 1}], ['$_']}],
     [{{'$1', '$2', '_'}, [{'=:=', '$1', 1}], ['$_']}],
     [{{'$1', '_', '_'}, [{'==', '$1', 0.0}], ['$_']}],
     [{{0.0, '_', '_'}, [], ['$_']}],
     [{{1, '_', '_'}, [], ['$_']}, {{1.0, '_', '_'}, [], ['$_']}, {{a, '_', '_'}, [], ['$_']}],
     [{{shards_test_util:bin(100), '_', '_'}, [], ['$_']}],
     [{{'$1', '_', {v, '$1'}}, [{'>=', '$1', a}], [{const, {found, '$1'}}]}],
     [{{'$1', '_', '_'}, [{'<', '$1', {{}}}], [#{key => '$1', self => {self}}]}],
     [{{'$1', '$2', '_'}, [{'xor', {is_atom, '$1'}, {is_integer, '$2'}}], [{'not', {is_atom, '$1'}}]}],
     [{{'$1', '_', '_'}, [{is_function, '$1'}], [{{'$1'}}]}],
     [{{'$1', '$1', '_'}, [], ['$_']}],
     [{{[a | '$1'], '_', '_'}, [], ['$1']}],
     [{{'$1', '_', '_'}, [{is_record, '$1', a, 2}], ['$1']}],
     [{{'$1', '_', '_'}, [{'=:=', {'band', '$1', 16#ff}, 0}], [{'bsr', '$1', 4}]}],
     [{{'$1', '_', '_'}, [{is_integer, '$1'}], [{'*', '$1', '$1'}, {'+', '$1', 1}]}],
     [{{'$1', '_', '_'}, [{is_integer, '$1'}, {'>', {'*', '$1', '$1'}, 1 bsl 200}], ['$1']}]].

%%%===================================================================
%%% Queries against ets
%%%===================================================================

select_family_test_() ->
    Objs = objects(),
    {timeout, 300,
     [{lists:flatten(io_lib:format("~w", [S])),
       fun() ->
               ?assertSame([set, public],
                           fill(Objs) ++
                               [{sorted, select, ['$T', S]},
                                {sorted, select_reverse, ['$T', S]},
                                {select_count, ['$T', S]},
                                {label, match_spec_run,
                                 fun(M, _) -> sorted(?MS_RUN(M, S, Objs)) end},
                                {label, chunks, fun(M, T) -> chunks(M, T, S, 7) end},
                                {select_delete, ['$T', S]},
                                {sorted, tab2list, ['$T']}])
       end} || S <- specs()]}.

match_spec_run_test() ->
    Objs = objects(),
    [?assertSameOutcome(fun(M) -> r(fun() -> ?MS_RUN(M, S, Objs) end) end) || S <- specs()],
    [?assertSameOutcome(fun(M) -> [M:test_ms(O, S) || O <- Objs] end) || S <- specs()].

%% Order is kept, also over more elements than one NIF call handles and
%% with elements the native engine leaves to ETS (bignum arithmetic).
match_spec_run_order_test() ->
    L = [case I rem 7 of
             0 -> {I bsl 100};
             _ -> {I}
         end || I <- lists:seq(1, 5000)],
    S = [{{'$1'}, [{'>', {'*', '$1', 3}, 10}], [{'+', '$1', 1}]}],
    ?assertSameOutcome(fun(M) -> ?MS_RUN(M, S, L) end).

match_spec_misc_test() ->
    S = [{{'$1'}, [], ['$1']}],
    ?assert(shards:is_compiled_ms(shards:match_spec_compile(S))),
    ?assertSameOutcome(fun(M) -> [M:is_compiled_ms(X) || X <- [foo, S, make_ref(), {a}]] end),
    ?assertSameOutcome(fun(M) -> r(fun() -> M:match_spec_run([{1} | x], M:match_spec_compile(S))
                                   end) end),
    ?assertSameOutcome(fun(M) -> r(fun() -> M:match_spec_run(x, M:match_spec_compile(S)) end) end),
    ?assertSameOutcome(fun(M) -> r(fun() -> M:match_spec_run([{1}], foo) end) end),
    %% self() in a spec is the caller
    ?assertSameOutcome(fun(M) -> M:test_ms({a}, [{'_', [], [{self}]}]) end),
    ?assertSameOutcome(fun(M) -> in_proc(fun() ->
                                                  ?MS_RUN(M, [{'_', [], [{self}]}], [{a}]) =:= [self()]
                                          end) end).

match_family_test_() ->
    Objs = objects(),
    Patterns = [{'$1', '_', '_'}, {'_', '$2', '$1'}, {'$1', '$1', '_'}, '_', {{pair, '$1'}, '_', '_', '_'},
                {1, '_', '_'}, {{pair, 3}, '$1', '$2', #{n => '$3'}}, [x], {'$1', '_', {v, '$2'}}],
    {timeout, 120,
     [{lists:flatten(io_lib:format("~w", [P])),
       fun() ->
               ?assertSame([set, public],
                           fill(Objs) ++
                               [{sorted, match, ['$T', P]},
                                {sorted, match_object, ['$T', P]},
                                {label, match_chunks, fun(M, T) -> chunks(M, match, T, P, 5) end},
                                {label, match_object_chunks,
                                 fun(M, T) -> chunks(M, match_object, T, P, 3) end},
                                {match_delete, ['$T', P]},
                                {sorted, tab2list, ['$T']}])
       end} || P <- Patterns]}.

select_replace_test_() ->
    Specs = [[{{'$1', '$2', '$3'}, [{is_integer, '$2'}], [{{'$1', {'*', '$2', 10}, '$3'}}]}],
             [{{'$1', '_', '_'}, [], ['$_']}],
             [{{'$1', '$2', '_'}, [{'<', '$2', 5}], [{{{element, 1, '$_'}, '$2', replaced}}]}],
             [{{1, '$1', '_'}, [], [{const, {1, x, y}}]}],
             [{{1.0, '$1', '_'}, [], [{{1.0, {'+', '$1', 1}, z}}]}],
             [{{'$1', '$2', '_'}, [], [{{'$1', '$2', {'*', '$2', '$2'}}}]}],
             [{{'$1', '$2', '_'}, [{is_integer, '$1'}], [{{'$1', '$2', {'*', '$1', '$1'}}}]}],
             %% refused: the key may change
             [{{'$1', '$2', '_'}, [], [{{'$2', '$1', x}}]}],
             [{'$1', [], [{{a, b, c}}]}],
             [{{'$1', '_', '_'}, [], [{{'$1', a}}, {{'$1', b}}]}],
             [{{1, '_', '_'}, [], [{const, {1.0, x, y}}]}]],
    Objs = objects(),
    {timeout, 120,
     [{lists:flatten(io_lib:format("~w", [S])),
       fun() ->
               ?assertSame([set, public],
                           fill(Objs) ++ [{select_replace, ['$T', S]}, {sorted, tab2list, ['$T']}]),
               ?assertSame([set, public, {keypos, 2}],
                           [{insert, ['$T', {V, K, x}]} || {K, V, _} <- Objs]
                           ++ [{select_replace, ['$T', S]}, {sorted, tab2list, ['$T']}])
       end} || S <- Specs]}.

invalid_specs_test() ->
    Bad = [foo, [foo], [{'_', [], []}], [{'_', foo, [true]}], [{'$1', [], ['$2']}],
           [{'_', [], [{foo, 1}]}], [{'_', [], [{tuple_size, '$_'}]}], [{#{'$1' => 1}, [], [true]}],
           [{'_', [], [true]} | x], [{'_', [], [{message, 1}]}], [{'_', [], [{1, 2}]}]],
    Objs = objects(),
    [?assertSame([set, public],
                 fill(Objs) ++
                     [{select, ['$T', S]}, {label, select_3, fun(M, T) -> chunks(M, T, S, 3) end}, {select_count, ['$T', S]},
                      {select_delete, ['$T', S]}, {select_replace, ['$T', S]},
                      {select_reverse, ['$T', S]}, {match_spec_compile, [S]},
                      {label, test_ms, fun(M, _) -> M:test_ms({a}, S) end},
                      {sorted, tab2list, ['$T']}])
     || S <- Bad],
    ?assertSame([set, public],
                [{match, ['$T', #{'$1' => 1}]}, {match_object, ['$T', #{'_' => 1}]},
                 {match_delete, ['$T', #{'$1' => 1}]}, {match, ['$T', '_', 0]}]).

bad_arguments_test() ->
    S = [{'_', [], ['$_']}],
    ?assertSame([set, public],
                fill(objects()) ++ [{select, ['$T', S, L]} || L <- [0, -1, a, 1.0, 1 bsl 60]]
                ++ [{match, ['$T', '_', 0]}, {match_object, ['$T', '_', a]}]
                ++ [{label, bad_cont, fun(M, _) -> [r(fun() -> M:F(C) end)
                                                    || F <- [select, match, match_object,
                                                             select_reverse],
                                                       C <- [foo, '$end_of_table', [], 1]]
                                      end}]),
    %% A table that no longer exists comes before a bad spec or limit.
    ?assertSameOutcome(
       fun(M) ->
               T = M:new(x, []),
               M:delete(T),
               [r(fun() -> M:select(T, foo) end), r(fun() -> M:select(T, S, 0) end),
                r(fun() -> M:select_count(T, foo) end), r(fun() -> M:select_replace(T, foo) end),
                r(fun() -> M:match(T, '_') end), r(fun() -> M:select({x}, S) end),
                r(fun() -> M:select(no_such_table, S) end)]
       end).

access_test() ->
    S = [{'_', [], [true]}],
    [?assertSameOutcome(
        fun(M) ->
                T = M:new(x, [Prot]),
                M:insert(T, [{1}, {2}]),
                Other = in_proc(fun() ->
                                        [r(fun() -> M:select(T, S) end),
                                         chunks(M, T, S, 1),
                                         r(fun() -> M:select_count(T, S) end),
                                         r(fun() -> M:match(T, '_') end),
                                         r(fun() -> M:select_delete(T, S) end),
                                         r(fun() -> M:select_replace(T, [{'_', [], ['$_']}]) end),
                                         r(fun() -> M:match_delete(T, '_') end)]
                                end),
                M:delete(T),
                Other
        end) || Prot <- [public, protected, private]].

%%%===================================================================
%%% Continuations
%%%===================================================================

continuation_test() ->
    ?assertSameOutcome(
       fun(M) ->
               T = M:new(x, [public]),
               M:insert(T, [{I, I rem 3} || I <- lists:seq(1, 100)]),
               {First, C} = M:select(T, [{{'$1', 0}, [], ['$1']}], 4),
               Again = M:select(C),
               Same = (Again =:= M:select(C)),
               Elsewhere = in_proc(fun() -> M:select(C) end),
               All = sorted(First ++ follow(M, select, M:select(C))),
               M:delete(T),
               Gone = r(fun() -> M:select(C) end),
               {length(First), Same, same({ok, Again}, Elsewhere), All, Gone}
       end).

%% select/3 over a big table with few matches: chunks of at most Limit,
%% found over many bounded NIF calls.
sparse_chunks_test() ->
    ?assertSameOutcome(
       fun(M) ->
               T = M:new(x, [public]),
               M:insert(T, [{I, I rem 1000} || I <- lists:seq(1, 30000)]),
               R = chunks(M, T, [{{'$1', 7}, [], ['$1']}], 4),
               M:delete(T),
               R
       end).

%% select_reverse/3 on an ordered_set bigger than one chunk's budget: the
%% chunks in reverse key order, followed by select_reverse/1 or select/1
%% (both go on in the continuation's direction, as in ets); bound keys;
%% objects left to ETS (bignum arithmetic) among the others, in order (also
%% forward, with select/3).
reverse_chunks_test_() ->
    {timeout, 120,
     fun() ->
             Objs = [{I, I rem 10, I bsl (case I rem 997 of 0 -> 70; _ -> 0 end)}
                     || I <- lists:seq(1, 12000)],
             Specs = [[{'_', [], ['$_']}],
                      [{{'$1', 3, '_'}, [], ['$1']}],
                      [{{'$1', '_', '$2'}, [{'>', {'*', '$2', 2}, 10000}], [{{'$1', {'+', '$2', 1}}}]}],
                      [{{5, '_', '_'}, [], ['$_']}, {{7000, '_', '_'}, [], ['$_']},
                       {{11000, '_', '_'}, [], [k]}],
                      [{{'$1', '_', '_'}, [{'>', '$1', 11990}], ['$1']}]],
             [?assertSameOutcome(
                 fun(M) ->
                         T = M:new(x, [ordered_set, public]),
                         M:insert(T, Objs),
                         R = [{Limit, F, G, ordered_chunks(M, F, G, T, S, Limit)}
                              || S <- Specs, Limit <- [1, 7, 500, 5000],
                                 {F, G} <- [{select_reverse, select_reverse},
                                            {select_reverse, select}, {select, select}]],
                         M:delete(T),
                         R
                 end)]
     end}.

%% select/3 on a fixed hashed table whose objects are deleted between
%% chunks (some already returned, some not yet): every object still there
%% is found exactly once, as in ets (continuations resume at a traversal
%% position, which deletes do not move).
fixed_chunks_test() ->
    ?assertSameOutcome(
       fun(M) ->
               T = M:new(x, [set, public]),
               M:insert(T, [{I, I rem 3} || I <- lists:seq(1, 20000)]),
               true = M:safe_fixtable(T, true),
               {First, C} = M:select(T, [{{'$1', '_'}, [], ['$1']}], 3000),
               [M:delete(T, K) || K <- lists:seq(1, 20000, 2)],
               Rest = follow(M, select, M:select(C)),
               true = M:safe_fixtable(T, false),
               Left = [K || {K, _} <- M:tab2list(T)],
               M:delete(T),
               All = First ++ Rest,
               {length(First), length(All) =:= length(lists:usort(All)),
                lists:usort(Left ++ First) -- All, All -- lists:usort(Left ++ First)}
       end).

%%%===================================================================
%%% Big tables: dirty and parallel scans, bound keys, fallbacks
%%%===================================================================

big_objects() ->
    [{I, I rem 10, integer_to_binary(I)} || I <- lists:seq(1, 20000)]
        ++ [{{big, I}, (I bsl 80) + I, x} || I <- lists:seq(1, 50)].

big_specs() ->
    [[{{'$1', '$2', '_'}, [{'==', '$2', 3}], ['$1']}],
     [{{'$1', '$2', '$3'}, [{'<', '$2', 2}], [{{'$3', '$2'}}]}],
     [{'_', [], [true]}],
     [{{{big, '_'}, '$1', '_'}, [{'>', {'*', '$1', 2}, 1 bsl 85}], [{'+', '$1', 1}]}],
     [{{'$1', '$2', '_'}, [{'=:=', {'rem', '$2', 5}, 0}], [{{'$1', {self}}}]}],
     [{{17, '_', '_'}, [], ['$_']}, {{{big, 3}, '_', '_'}, [], ['$_']}]].

big_table_test_() ->
    {timeout, 600,
     [{Name,
       fun() ->
               [?assertSameOutcome(fun(M) -> big_case(M, Opts, S) end) || S <- big_specs()]
       end} || {Name, Opts} <- [{"sequential", []},
                                {"parallel", [{parallel, true}]},
                                {"keyslot_fun", [{keyslot_fun, fun(K, N) -> erlang:phash2(K, N) end}]}]]}.

big_case(M, Opts, S) ->
    T = new(M, Opts),
    M:insert(T, big_objects()),
    Sel = sorted(M:select(T, S)),
    Count = M:select_count(T, S),
    Chunks = chunks(M, T, S, 1000),
    Replace = r(fun() -> M:select_replace(T, [{{'$1', '$2', '$3'}, [{'==', '$2', 4}],
                                               [{{'$1', {'+', '$2', 1}, '$3'}}]}]) end),
    Delete = M:select_delete(T, [{{'$1', '$2', '_'}, [{is_integer, '$2'}, {'>', '$2', 7}], [true]}]),
    BigDelete = M:select_delete(T, [{{{big, '$1'}, '$2', '_'}, [{'>', {'*', '$2', 2}, 1 bsl 86}],
                                     [true]}]),
    Contents = sorted(M:tab2list(T)),
    M:delete(T),
    {Sel, Count, Chunks, Replace, Delete, BigDelete, Contents}.

new(ets, _Opts) -> ets:new(x, [public]);
new(shards, Opts) -> shards:new(x, [public, {partitions, 4} | Opts]).

%% Objects the engine cannot evaluate (bignum arithmetic) are judged by
%% ETS, in every operation, on small tables too.
fallback_test() ->
    Objs = [{I, I bsl 70} || I <- lists:seq(1, 20)] ++ [{a, 1}, {b, 2.5}],
    Specs = [[{{'$1', '$2'}, [{'>', {'*', '$2', '$2'}, 1 bsl 150}], ['$1']}],
             [{{'$1', '$2'}, [], [{'+', '$2', 1}]}],
             [{{'$1', '$2'}, [{is_integer, '$1'}, {'>', {'*', '$2', 4}, 1 bsl 74}], [true]}]],
    Steps = fun(S) ->
                    [{insert, ['$T', O]} || O <- Objs]
                        ++ [{sorted, select, ['$T', S]}, {select_count, ['$T', S]},
                            {label, chunks, fun(M, T) -> chunks(M, T, S, 3) end},
                            {select_replace, ['$T', [{{'$1', '$2'}, [{is_integer, '$2'}],
                                                      [{{'$1', {'*', '$2', '$2'}}}]}]]},
                            {sorted, tab2list, ['$T']},
                            {select_delete, ['$T', S]},
                            {sorted, tab2list, ['$T']}]
            end,
    [?assertSame([set, public], Steps(S)) || S <- Specs],
    %% Also where a keyslot fun places the keys.
    Keyslot = [set, public, {keyslot_fun, fun(K, N) -> erlang:phash2({y, K}, N) end}],
    [shards_test_util:assert_same(?WHERE, compare_keyslot(Keyslot, Steps(S))) || S <- Specs].

%% A key fixed in every head is looked up, not scanned for: also with a
%% keyslot fun placing keys in partitions the hash would not choose.
bound_key_test() ->
    Opts = [set, public, {keyslot_fun, fun(K, N) -> erlang:phash2({x, K}, N) end}],
    Specs = [[{{5, '$1', '_'}, [], ['$1']}],
             [{{5, '_', '_'}, [], ['$_']}, {{6, '_', '_'}, [], ['$_']}, {{5, '_', '_'}, [], [dup]}],
             [{{-0.0, '_', '_'}, [], ['$_']}], [{{0.0, '_', '_'}, [], ['$_']}],
             [{{#{}, '_', '_'}, [], ['$_']}], [{{[], '_', '_'}, [], ['$_']}]],
    Objects = [{I, I * 2, x} || I <- lists:seq(1, 50)] ++ [{0.0, z, z}, {#{a => 1}, m, m}, {[], n, n}],
    Steps = [{insert, ['$T', O]} || O <- Objects]
        ++ lists:append([[{sorted, select, ['$T', S]}, {select_count, ['$T', S]},
                          {label, chunks, fun(M, T) -> chunks(M, T, S, 1) end}] || S <- Specs])
        ++ [{select_replace, ['$T', [{{5, '$1', '_'}, [], [{{5, '$1', replaced}}]}]]},
            {select_delete, ['$T', [{{6, '_', '_'}, [], [true]}]]},
            {sorted, tab2list, ['$T']}],
    shards_test_util:assert_same(?WHERE, compare_keyslot(Opts, Steps)).

%% The spec cache (compiled specs kept per scheduler thread, a head's
%% constant key left out of a spec's identity): one spec shape with many
%% keys of every kind, constants that differ only as 1 and 1.0 do, the same
%% spec on tables of other key positions and types, and keys that are
%% variables or '_' in some calls: every call as ets answers it.
spec_cache_test_() ->
    {timeout, 120,
     fun() ->
             %% (Funs aside: their order in an ordered_set is a known divergence.)
             Keys = [K || K <- shards_test_util:tricky_keys(), not is_function(K)]
                 ++ [{pair, 1}, {pair, 1.0}, [1, 2], <<"k">>],
             Shapes = [fun(K) -> [{{K, '_', '_'}, [], ['$_']}] end,
                       fun(K) -> [{{K, '$1', '_'}, [{is_integer, '$1'}], [{{'$1', K}}]}] end,
                       fun(K) -> [{{K, '_', '_'}, [], ['$_']}, {{K, '_', '_'}, [], [dup]}] end,
                       fun(K) -> [{{'$1', K, '_'}, [], ['$1']}] end,
                       fun(K) -> [{{'$1', '_', '_'}, [{'=:=', '$1', {const, K}}], ['$_']}] end],
             Specs = [Shape(K) || Shape <- Shapes, K <- Keys ++ ['_', '$1', '$2']],
             Objs = [{K, I, {v, K}} || {I, K} <- lists:zip(lists:seq(1, length(Keys)), Keys)],
             Tabs = [{Type, KP} || Type <- [set, ordered_set, bag, duplicate_bag], KP <- [1, 2]],
             [begin
                  E = ets:new(x, [Type, public, {keypos, KP}]),
                  S = shards:new(x, [Type, public, {keypos, KP}, {partitions, 3}]),
                  ets:insert(E, Objs),
                  shards:insert(S, Objs),
                  %% Each spec three times: the second call caches it, the
                  %% third uses the cache; interleaved with the other specs.
                  [?assertEqual({Type, KP, Spec, sel(Type, r(fun() -> ets:select(E, Spec) end))},
                                {Type, KP, Spec, sel(Type, r(fun() -> shards:select(S, Spec) end))})
                   || _ <- [1, 2, 3], Spec <- Specs],
                  [?assertEqual({Type, KP, Spec, r(fun() -> ets:select_count(E, Spec) end)},
                                {Type, KP, Spec, r(fun() -> shards:select_count(S, Spec) end)})
                   || _ <- [1, 2, 3], Spec <- Specs],
                  ets:delete(E),
                  shards:delete(S)
              end || {Type, KP} <- Tabs]
     end}.

sel(ordered_set, R) -> R;
sel(_, {ok, L}) -> {ok, sorted(L)};
sel(_, R) -> R.

compare_keyslot(Opts, Steps) ->
    EtsOpts = [O || O <- Opts, not is_tuple(O) orelse element(1, O) =/= keyslot_fun],
    E = ets:new(x, EtsOpts),
    S = shards:new(x, [{partitions, 5} | Opts]),
    Diffs = shards_test_util:diff_steps(shards_test_util:run_steps(ets, E, Steps),
                                        shards_test_util:run_steps(shards, S, Steps)),
    ets:delete(E),
    shards:delete(S),
    Diffs.

%% The shards 1.x arities: metadata last, and its `parallel' setting.
meta_arities_test() ->
    S = [{{'$1', '$2'}, [{'>', '$2', 2}], ['$1']}],
    Objs = [{I, I rem 5} || I <- lists:seq(1, 3000)],
    [begin
         E = ets:new(x, [public]),
         T = shards:new(x, [public | Opts]),
         ets:insert(E, Objs),
         shards:insert(T, Objs),
         Meta = shards:table_meta(T),
         ?assertEqual(proplists:get_value(parallel, Opts, false), maps:get(parallel, Meta)),
         ?assertEqual(sorted(ets:select(E, S)), sorted(shards:select(T, S, Meta))),
         ?assertEqual(sorted(ets:select(E, S)), sorted(shards:select_reverse(T, S, Meta))),
         ?assertEqual(sorted(ets:match(E, {'$1', 3})), sorted(shards:match(T, {'$1', 3}, Meta))),
         ?assertEqual(sorted(ets:match_object(E, {'$1', 3})),
                      sorted(shards:match_object(T, {'$1', 3}, Meta))),
         ?assertEqual(sorted(follow(ets, select, ets:select(E, S, 100))),
                      sorted(follow(shards, select, shards:select(T, S, 100, Meta)))),
         ?assertEqual(sorted(follow(ets, match, ets:match(E, {'$1', 1}, 100))),
                      sorted(follow(shards, match, shards:match(T, {'$1', 1}, 100, Meta)))),
         ?assertEqual(ets:select_count(E, S), shards:select_count(T, S, Meta)),
         R = [{{'$1', 4}, [], [{{'$1', 40}}]}],
         ?assertEqual(ets:select_replace(E, R), shards:select_replace(T, R, Meta)),
         ?assertEqual(ets:select_delete(E, S), shards:select_delete(T, S, Meta)),
         ?assertEqual(ets:match_delete(E, {'_', 1}), shards:match_delete(T, {'_', 1}, Meta)),
         ?assertEqual(sorted(ets:tab2list(E)), sorted(shards:tab2list(T))),
         ets:delete(E),
         shards:delete(T)
     end || Opts <- [[], [{parallel, true}, {parallel_timeout, 5000}]]].

%% A parallel scan whose helpers cannot finish in time raises, and leaves
%% no helper or message behind.
parallel_timeout_test() ->
    T = shards:new(x, [public, {parallel, true}, {parallel_timeout, 0}]),
    shards:insert(T, [{I, I} || I <- lists:seq(1, 200000)]),
    Before = processes(),
    R = r(fun() -> shards:select_count(T, [{{'$1', '$2'}, [{'>', {'*', '$2', 3}, 7}], [true]}]) end),
    case R of
        {ok, N} -> ?assertEqual(199998, N);  % the helpers were done in time
        _ -> ?assertMatch({error, error, timeout, _}, R)
    end,
    Mine = [P || P <- processes() -- Before, process_info(P, parent) =:= {parent, self()}],
    ?assertEqual([], Mine),
    receive Stray -> ?assertEqual(no_message, Stray) after 0 -> ok end,
    shards:delete(T).

%%%===================================================================
%%% Schedulers
%%%===================================================================

%% Full scans of 200,000 objects never hold a normal scheduler long enough
%% for a long_schedule (5 ms) report about the calling process.
long_schedule_test_() ->
    {timeout, 300,
     fun() ->
             T = shards:new(x, [public]),
             shards:insert(T, [{I, I rem 7, <<"value">>} || I <- lists:seq(1, 200000)]),
             erlang:system_monitor(self(), [{long_schedule, 5}]),
             try
                 Self = self(),
                 All = shards:select(T, [{'_', [], ['$_']}]),
                 ?assertEqual(200000, length(All)),
                 ?assertEqual(200000 div 7, shards:select_count(T, [{{'_', 0, '_'}, [], [true]}])),
                 ?assertEqual(length(shards:match(T, {'$1', 1, '_'})),
                              length([x || {_, 1, _} <- All])),
                 Chunked = follow(shards, select,
                                  shards:select(T, [{{'$1', 3, '_'}, [], ['$1']}], 5000)),
                 ?assertEqual(length([x || {_, 3, _} <- All]), length(Chunked)),
                 _ = shards:select_replace(T, [{{'$1', 2, '$2'}, [], [{{'$1', 2, x}}]}]),
                 _ = shards:select_delete(T, [{{'_', 5, '_'}, [], [true]}]),
                 timer:sleep(100),
                 Reports = long_schedules(Self),
                 ?assertEqual([], Reports)
             after
                 erlang:system_monitor(undefined),
                 shards:delete(T)
             end
     end}.

long_schedules(Pid) ->
    receive
        {monitor, Pid, long_schedule, Info} -> [Info | long_schedules(Pid)];
        {monitor, _Other, long_schedule, _} -> long_schedules(Pid)
    after 0 -> []
    end.

%%%===================================================================
%%% Helpers
%%%===================================================================

%% The concatenated (sorted) results of select/3 and its continuations;
%% every chunk holds 1..Limit results.
chunks(M, T, Spec, Limit) ->
    chunks(M, select, T, Spec, Limit).

chunks(M, F, T, Arg, Limit) ->
    case r(fun() -> M:F(T, Arg, Limit) end) of
        {ok, First} -> {ok, sorted(follow(M, F, First, Limit))};
        Error -> Error
    end.

follow(M, F, First) ->
    follow(M, F, First, infinity).

%% F/3 (select_reverse or select) and then G/1 on its continuations: all
%% chunks in order, each of 1..Limit results.
ordered_chunks(M, F, G, T, Spec, Limit) ->
    follow(M, G, M:F(T, Spec, Limit), Limit).

follow(_M, _F, '$end_of_table', _Limit) ->
    [];
follow(M, F, {Chunk, Cont}, Limit) when is_list(Chunk), Chunk =/= [],
                                       (Limit =:= infinity orelse length(Chunk) =< Limit) ->
    Chunk ++ follow(M, F, M:F(Cont), Limit);
follow(_M, _F, Bad, _Limit) ->
    [{bad_chunk, Bad}].
