%%% @doc Random match specs (PropEr), with ets as the oracle.
%%%
%%% Specs are generated from the grammar the native engine handles (heads
%%% with '_', variables, constants, nested tuples, lists and maps; every
%%% guard function; bodies with '$_', '$$', variables, constructions and
%%% constants), with now and then an invalid one. They are run
%%% - through match_spec_run/2 and test_ms/2 on random terms, and
%%% - on an ets set and a shards set holding the same random objects:
%%%   select/2 and select_count/2 (multisets), select/3 chained through its
%%%   continuations (the concatenation, as a multiset), and select_delete/2
%%%   and select_replace/2 (compared by result and by the tables' contents).
%%% Errors must be the same too.
%%%
%%% SHARDS_PROPER_N sets the number of cases per property (default 300).
-module(shards_ms_random_tests).

-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-export([prop_ms_run/0, prop_table/0, prop_replace/0, spec/0, objects/1,
         run_table/6, with_tables/5, replace_diffs/3]).

-define(DEFAULT_N, 300).

numtests() ->
    shards_test_util:proper_numtests(?DEFAULT_N).

check(Prop) ->
    ?assertEqual(true, proper:quickcheck(Prop, [{numtests, numtests()}, {to_file, user}])).

match_spec_run_test_() ->
    {timeout, 3600, fun() -> check(prop_ms_run()) end}.

tables_test_() ->
    {timeout, 3600, fun() -> check(prop_table()) end}.

select_replace_test_() ->
    {timeout, 3600, fun() -> check(prop_replace()) end}.

%%%===================================================================
%%% Properties
%%%===================================================================

%% match_spec_compile + match_spec_run, and test_ms on each term.
prop_ms_run() ->
    ?FORALL({Spec, Terms}, {spec(), objects(1)},
            begin
                Run = fun(M) ->
                              shards_test_util:r(
                                fun() -> M:match_spec_run(Terms, M:match_spec_compile(Spec)) end)
                      end,
                Test = fun(M) -> [M:test_ms(T, Spec) || T <- Terms] end,
                Diffs = diff(run, Run(ets), Run(shards)) ++ diff(test_ms, Test(ets), Test(shards)),
                ?WHENFAIL(io:format(user, "spec ~p~nterms ~p~n~p~n", [Spec, Terms, Diffs]),
                          Diffs =:= [])
            end).

%% The same spec on an ets set and a shards set with the same objects.
prop_table() ->
    ?FORALL({Type, P, KP}, {types(), elements([1, 2, 7]), elements([1, 2])},
            ?FORALL({Spec, Objects, Limit}, {spec(), objects(KP), integer(1, 6)},
                    begin
                        Diffs = run_table(Type, P, KP, Spec, Objects, Limit),
                        ?WHENFAIL(io:format(user, "~p partitions ~p keypos ~p limit ~p~n"
                                            "spec ~p~nobjects ~p~n~p~n",
                                            [Type, P, KP, Limit, Spec, Objects, Diffs]),
                                  Diffs =:= [])
                    end)).

types() ->
    elements([set, ordered_set, bag, duplicate_bag]).

%% select_replace with specs that mostly keep the key.
prop_replace() ->
    ?FORALL({Type, P, KP}, {types(), elements([1, 2, 7]), elements([1, 2])},
            ?FORALL({Spec, Objects}, {replace_spec(KP), objects(KP)},
                    begin
                        Diffs = with_tables(Type, P, KP, Objects, fun(E, S) ->
                                    replace_diffs(E, S, Spec)
                                end),
                        ?WHENFAIL(io:format(user, "~p partitions ~p keypos ~p~nspec ~p~n"
                                            "objects ~p~n~p~n",
                                            [Type, P, KP, Spec, Objects, Diffs]),
                                  Diffs =:= [])
                    end)).

%% For an ordered_set, results compare in order (ets gives key order, and
%% reverse key order for select_reverse); for the other types, as multisets.
run_table(Type, P, KP, Spec, Objects, Limit) ->
    Order = fun(F) -> in_order(Type, F) end,
    with_tables(Type, P, KP, Objects,
                fun(E, S) ->
                        Sel = fun(M, T) -> Order(fun() -> M:select(T, Spec) end) end,
                        Rev = fun(M, T) -> Order(fun() -> M:select_reverse(T, Spec) end) end,
                        Cnt = fun(M, T) -> shards_test_util:r(fun() -> M:select_count(T, Spec) end) end,
                        Chunks = fun(M, T) -> chunks(Type, M, T, Spec, Limit) end,
                        RevChunks = fun(M, T) -> rev_chunks(Type, M, T, Spec, Limit) end,
                        diff(select, Sel(ets, E), Sel(shards, S))
                            ++ diff(select_reverse, Rev(ets, E), Rev(shards, S))
                            ++ diff(select_count, Cnt(ets, E), Cnt(shards, S))
                            ++ diff({select, Limit}, Chunks(ets, E), Chunks(shards, S))
                            ++ diff({select_reverse, Limit}, RevChunks(ets, E), RevChunks(shards, S))
                            ++ delete_diffs(E, S, Spec)
                end).

delete_diffs(E, S, Spec) ->
    Del = fun(M, T) -> shards_test_util:r(fun() -> M:select_delete(T, Spec) end) end,
    diff(select_delete, Del(ets, E), Del(shards, S))
        ++ diff(after_select_delete, contents(ets, E), contents(shards, S)).

replace_diffs(E, S, Spec) ->
    Rep = fun(M, T) -> shards_test_util:r(fun() -> M:select_replace(T, Spec) end) end,
    diff(select_replace, Rep(ets, E), Rep(shards, S))
        ++ diff(after_select_replace, contents(ets, E), contents(shards, S)).

with_tables(Type, P, KP, Objects, F) ->
    E = ets:new(ms_rnd, [Type, public, {keypos, KP}]),
    S = shards:new(ms_rnd, [Type, public, {keypos, KP}, {partitions, P}]),
    try
        %% One by one: which of several objects with the same key a list
        %% insert keeps is not defined.
        [true = ets:insert(E, O) || O <- Objects],
        [true = shards:insert(S, O) || O <- Objects],
        F(E, S)
    after
        ets:delete(E),
        shards:delete(S)
    end.

contents(M, T) ->
    in_order(M:info(T, type), fun() -> M:tab2list(T) end).

in_order(ordered_set, F) -> shards_test_util:r(F);
in_order(_, F) -> sorted(F).

sorted(F) ->
    case shards_test_util:r(F) of
        {ok, L} when is_list(L) -> {ok, shards_test_util:sorted(L)};
        Other -> Other
    end.

%% All chunks of select/3 and its continuations, concatenated (in order
%% for an ordered_set, else sorted); each chunk must be a non-empty list of
%% at most Limit results.
chunks(Type, M, T, Spec, Limit) ->
    case shards_test_util:r(fun() -> M:select(T, Spec, Limit) end) of
        {ok, First} -> {ok, follow(Type, M, select, First, Limit, [])};
        Error -> Error
    end.

rev_chunks(Type, M, T, Spec, Limit) ->
    case shards_test_util:r(fun() -> M:select_reverse(T, Spec, Limit) end) of
        {ok, First} -> {ok, follow(Type, M, select_reverse, First, Limit, [])};
        Error -> Error
    end.

follow(Type, _M, _F, '$end_of_table', _Limit, Acc) ->
    All = lists:append(lists:reverse(Acc)),
    case Type of
        ordered_set -> All;
        _ -> shards_test_util:sorted(All)
    end;
follow(Type, M, F, {Chunk, Cont}, Limit, Acc) when is_list(Chunk), Chunk =/= [],
                                                   length(Chunk) =< Limit ->
    follow(Type, M, F, M:F(Cont), Limit, [Chunk | Acc]);
follow(_Type, _M, _F, Bad, _Limit, _Acc) ->
    {bad_chunk, Bad}.

diff(Label, A, B) ->
    case shards_test_util:same(A, B) of
        true -> [];
        false -> [{Label, {ets, A}, {shards, B}}]
    end.

%%%===================================================================
%%% Generators: terms
%%%===================================================================

terms(Terms) ->
    elements([exactly(T) || T <- Terms]).

value_pool() ->
    Big = shards_test_util:bin(100),
    [0, 1, 2, 3, -1, 5, 1.0, 0.0, -0.0, 2.5, -3.5, 1.0e300,
     (1 bsl 59) - 1, 1 bsl 59, -(1 bsl 59) - 1, 1 bsl 64, -(1 bsl 70), 1 bsl 130,
     a, b, true, false, '', 'EXIT', '_x',
     <<>>, <<"ab">>, <<1, 2, 3>>, Big, binary:part(Big, 1, 70), <<1:3>>, <<7, 1:5>>,
     [], [1, 2], [a | b], [1.0], "str", [[1], {2}],
     {}, {a}, {a, 1}, {1, 2.0, [x]}, {r, 1, 2},
     #{}, #{a => 1}, #{1 => 1.0, 1.0 => 1}, #{k => {v, [w]}},
     self(), shards_test_util:external_pid(), list_to_port("#Port<0.1>"),
     shards_test_util:external_ref(), make_ref(), fun lists:map/2].

%% Mostly a few common values, so that comparisons and repeated variables
%% often meet equal terms.
value() ->
    frequency([{3, terms([0, 1, 2, 1.0, 0.0, -0.0, a, b, <<"ab">>, [1, 2], {a, 1}])},
               {2, terms(value_pool())}]).

%% Objects: tuples of arity KP..KP+2, with keys that often collide.
key() ->
    terms([1, 1.0, 2, 0.0, -0.0, 1 bsl 64, a, b, <<"ab">>, shards_test_util:bin(100),
           {a, 1}, [1, 2], #{a => 1}, self(), {1, 2.0, [x]}]).

object(KP) ->
    ?LET({K, Before, After}, {key(), vector(KP - 1, value()), resize(2, list(value()))},
         list_to_tuple(Before ++ [K | After])).

%% More objects share a shape with the heads (two or three elements).
shaped_object(KP) ->
    ?LET({K, Before, After}, {key(), vector(KP - 1, value()), vector(2 - KP + 1, value())},
         list_to_tuple(Before ++ [K | After])).

objects(KP) ->
    resize(10, list(frequency([{1, object(KP)}, {1, shaped_object(KP)}]))).

%%%===================================================================
%%% Generators: match specs
%%%===================================================================

vars() -> ['$1', '$2', '$3', '$0'].

%% A spec: usually valid, sometimes not.
spec() ->
    frequency([{20, resize(3, non_empty(list(clause())))},
               {1, invalid_spec()}]).

clause() ->
    ?LET(Head, head(),
         begin
             Bound = bound_vars(Head),
             {Head, guards(Bound), body(Bound)}
         end).

guards(Bound) ->
    frequency([{5, []},
               {4, [expr(2, Bound)]},
               {1, [expr(1, Bound), expr(2, Bound)]}]).

body(Bound) ->
    frequency([{6, [expr(2, Bound)]},
               {2, [expr(1, Bound), expr(2, Bound)]},
               {2, [true]}]).

head() ->
    frequency([{1, terms(['_', '$1'])},
               {1, ?LET(E, head_elem(1), [E])},
               {10, ?LET(N, integer(1, 3), ?LET(Es, vector(N, head_elem(2)), list_to_tuple(Es)))}]).

head_elem(0) ->
    frequency([{4, '_'}, {5, elements(vars())}, {1, value()}, {1, key()}]);
head_elem(D) ->
    frequency([{16, head_elem(0)},
               {1, ?LAZY(?LET(Es, resize(3, list(head_elem(D - 1))), list_to_tuple(Es)))},
               {1, ?LAZY(?LET({H, T}, {head_elem(D - 1), head_elem(D - 1)}, [H | T]))},
               {1, ?LAZY(?LET(Es, resize(2, list(head_elem(D - 1))), Es))},
               {1, ?LAZY(?LET(Kvs, resize(2, list({map_key(), head_elem(D - 1)})),
                              maps:from_list(Kvs)))}]).

map_key() ->
    terms([a, b, k, 1, 1.0, <<"ab">>]).

bound_vars(Head) ->
    lists:usort(vars_in(Head)).

vars_in(T) when is_atom(T) ->
    [T || lists:member(T, vars())];
vars_in(T) when is_tuple(T) ->
    vars_in(tuple_to_list(T));
vars_in([H | T]) ->
    vars_in(H) ++ vars_in(T);
vars_in(M) when is_map(M) ->
    vars_in(maps:values(M));
vars_in(_) ->
    [].

%% A guard or body expression over the variables Bound.
expr(0, Bound) ->
    frequency([{4, leaf(Bound)}, {1, terms(['$_', '$$'])}]);
expr(D, Bound) ->
    Sub = ?LAZY(expr(D - 1, Bound)),
    frequency(
      [{6, expr(0, Bound)},
       {3, {elements([is_atom, is_float, is_integer, is_list, is_number, is_pid,
                      is_port, is_reference, is_tuple, is_map, is_binary,
                      is_function]), Sub}},
       {1, {is_record, Sub, terms([a, r, 1]), terms([1, 2, 3])}},
       {4, {elements(['==', '=:=', '/=', '=/=', '<', '>', '=<', '>=']), Sub, Sub}},
       {3, {elements(['+', '-', '*', '/', 'div', 'rem', 'band', 'bor', 'bxor', 'bsl',
                      'bsr']), Sub, Sub}},
       {3, {elements(['-', '+', 'bnot', abs, trunc, round, float, hd, tl, length,
                      size, byte_size, bit_size, map_size, 'not', node]), Sub}},
       {1, {element, oneof([integer(0, 4), Sub]), Sub}},
       {1, {elements([map_get, is_map_key]), oneof([map_key(), Sub]), Sub}},
       {1, {binary_part, Sub, oneof([integer(-2, 4), Sub]), oneof([integer(-2, 4), Sub])}},
       {1, {binary_part, Sub, {{integer(-1, 3), integer(-2, 3)}}}},
       {2, {elements(['andalso', 'orelse', 'and', 'or', 'xor']), Sub, Sub}},
       {1, {elements(['andalso', 'orelse', 'and', 'or']), Sub, Sub, Sub}},
       {1, ?LET(Es, resize(3, list(Sub)), {list_to_tuple(Es)})},
       {1, ?LET(Es, resize(3, list(Sub)), Es)},
       {1, ?LET({H, T}, {Sub, Sub}, [H | T])},
       {1, ?LET(Kvs, resize(2, list({oneof([map_key(), Sub]), Sub})), maps:from_list(Kvs))},
       {1, terms([{node}, {self}])},
       {1, {const, value()}}]).

leaf([]) ->
    const_expr();
leaf(Bound) ->
    frequency([{5, elements(Bound)}, {2, const_expr()}]).

%% A constant as an expression: tuples must be quoted with {const, T}.
const_expr() ->
    ?LET(V, value(),
         case is_tuple(V) of
             true -> {const, V};
             false -> V
         end).

invalid_spec() ->
    terms([foo, [foo], [{'_', [], []}], [{'_', foo, [true]}], [{'_', [], foo}],
           [{'$1', [], ['$2']}], [{'_', [{'==', '$1', 1}], [true]}],
           [{'_', [], [{foo, 1}]}], [{'_', [], [{1, 2}]}], [{'_', [], [{}]}],
           [{'_', [], [{tuple_size, '$_'}]}], [{'_', [], [{is_atom, 1, 2}]}],
           [{#{'$1' => 1}, [], [true]}], [{#{'_' => 1}, [], [true]}],
           [{'_', [], [true]} | x], [{'_', [], [true], x}], [{'_', [], [{const, 1, 2}]}],
           [{'_', [], [{message, 1}]}], [{'_', [], [{min, 1, 2}]}]]).

%% select_replace specs: heads with the key at KP, bodies that keep it
%% (usually), change it, or are not allowed at all.
replace_spec(KP) ->
    ?LET(Clauses, resize(2, non_empty(list(replace_clause(KP)))), Clauses).

replace_clause(KP) ->
    ?LET({Key, Rest}, {oneof(['$1', value()]), resize(3, list(head_elem(1)))},
         begin
             Head = list_to_tuple(insert_at(KP, Key, Rest, '$2')),
             Bound = bound_vars(Head),
             ?LET({Guards, Body}, {resize(1, list(expr(1, Bound))), replace_body(KP, Head, Bound)},
                  {Head, Guards, Body})
         end).

%% Puts Key at position KP, padding with Pad.
insert_at(KP, Key, Rest, Pad) ->
    Before = lists:sublist(Rest ++ lists:duplicate(KP, Pad), KP - 1),
    After = lists:nthtail(min(KP - 1, length(Rest)), Rest),
    Before ++ [Key | After].

replace_body(KP, Head, Bound) ->
    Key = element(KP, Head),
    frequency(
      [{2, ['$_']},
       {6, ?LET(Others, resize(3, list(expr(1, Bound))),
                [{list_to_tuple(insert_at(KP, key_expr(Key), Others, a))}])},
       {2, ?LET(Others, resize(3, list(expr(1, Bound))),
                [{list_to_tuple(insert_at(KP, {element, KP, '$_'}, Others, b))}])},
       {1, ?LET(Others, resize(2, list(value())), [{const, list_to_tuple(insert_at(KP, Key, Others, c))}])},
       {1, [{{changed}}]},
       {1, ?LET(E, expr(1, Bound), [E])}]).

key_expr(Key) when is_tuple(Key) -> {const, Key};
key_expr(Key) -> Key.
