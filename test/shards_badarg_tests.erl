%%% @doc Bad input (PropEr): every exported function of `shards' is called
%%% with random and malformed arguments, and must raise exactly what `ets'
%%% raises for the same call (class, reason and error_info cause) or
%%% return the same result; a failing call must leave the table as ets
%%% leaves it. The VM must never crash.
%%%
%%% Arguments come from one pool for every position: table ids (the live
%%% table by name or id, a deleted table, an atom naming no table, a plain
%%% reference, a pid, numbers, strings), keys, objects (non-tuples, empty
%%% tuples, tuples shorter than the keypos), lists (improper, 10 000 and
%%% 100 000 objects long with a bad one at the end), positions (0, -1,
%%% floats, atoms, bignums), update ops, funs of the wrong arity, options.
%%%
%%% The oracle for each function: ets's function of the same name and
%%% arity; the shards 1.x arities that take the metadata last are compared
%%% with ets's function without it. Functions ets lacks (the metadata
%%% functions, update_element/4,5, which has OTP 27 semantics) must return
%%% or raise error:badarg and nothing else. Known holes in the oracle are
%%% not generated: info items and options only shards has, update_counter/4
%%% with a default shorter than the keypos (OTP 25's ets stores it), and
%%% delete_all_objects on a fixed table (OTP 25's ets then miscounts its
%%% size; match_delete/2 stands in for it).
%%%
%%% 300 cases by default; SHARDS_PROPER_N sets the number.
-module(shards_badarg_tests).

-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-export([prop_bad_input/0]).

-define(DEFAULT_N, 300).

numtests() ->
    shards_test_util:proper_numtests(?DEFAULT_N).

bad_input_test_() ->
    {timeout, 3600,
     fun() ->
             put(badarg_stats, #{calls => 0, errors => 0}),
             Ok = proper:quickcheck(prop_bad_input(), [{numtests, numtests()}, {to_file, user}]),
             io:format(user, "~nshards_badarg_tests: ~p~n", [get(badarg_stats)]),
             ?assertEqual(true, Ok)
     end}.

%%%===================================================================
%%% Property
%%%===================================================================

prop_bad_input() ->
    ?FORALL({Type, KP, Named}, {elements([set, ordered_set, bag, duplicate_bag]),
                                elements([1, 2]), boolean()},
            ?FORALL(Calls, resize(4, non_empty(list(call(KP)))),
                    begin
                        %% PropEr 1.2 cannot report an exception on OTP 25
                        %% (it calls erlang:get_stacktrace/0): catch it here.
                        {Ok, Report} = try run(Type, KP, Named, Calls)
                                       catch C:R:St -> {false, {crashed, C, R, St}}
                                       end,
                        ?WHENFAIL(io:format(user, "~p keypos ~p named ~p~n~p~n",
                                            [Type, KP, Named, shards_test_util:shorten(Report)]),
                                  Ok)
                    end)).

%% One shards export and its arguments (symbolic: '$tab' and friends are
%% replaced per side when the call runs).
%% The shards 1.x arities get the table's metadata last half of the time.
call(KP) ->
    ?LET({F, A}, elements(exports()),
         ?LET({Args, UseMeta}, {vector(A, arg(KP)), boolean()},
              case takes_meta(F, A) andalso UseMeta of
                  true -> {F, lists:droplast(Args) ++ ['$meta']};
                  false -> {F, Args}
              end)).

takes_meta(F, A) ->
    oracle(F, A) =:= {F, A - 1}.

exports() ->
    [FA || {F, _} = FA <- shards:module_info(exports), F =/= module_info].

%%%===================================================================
%%% Running both sides
%%%===================================================================

run(Type, KP, Named, Calls) ->
    Holder = shards_test_util:spawn_holder(),
    Dead = shards_test_util:dead_pid(),
    Sides = [setup(M, Type, KP, Named) || M <- [ets, shards]],
    try
        Diffs = lists:append([compare_call(Type, KP, Sides, Holder, Dead, C) || C <- Calls]),
        {Diffs =:= [], Diffs}
    after
        [teardown(S) || S <- Sides],
        shards_test_util:stop_holder(Holder),
        shards_test_util:flush()
    end.

setup(M, Type, KP, Named) ->
    Opts = [Type, public, {keypos, KP}] ++ [named_table || Named],
    T = M:new(badarg_tab, Opts),
    Id = case Named of true -> M:whereis(T); false -> T end,
    true = M:insert(T, [obj(KP, K, V) || {K, V} <- [{a, 1}, {b, 2}, {1, x}]]),
    Deleted = M:new(badarg_deleted, [Type]),
    true = M:delete(Deleted),
    #{m => M, tab => T, id => Id, deleted => Deleted, keypos => KP}.

teardown(#{m := M, id := Id}) ->
    _ = (catch M:delete(Id)),
    ok.

obj(1, K, V) -> {K, V};
obj(2, K, V) -> {V, K}.

compare_call(Type, KP, [E, S], Holder, Dead, {F, Args} = Call) ->
    case oracle_hole(KP, E, Call) of
        true ->
            [];
        false ->
            ER = outcome(Type, E, Holder, Dead, F, Args),
            SR = outcome(Type, S, Holder, Dead, F, Args),
            count(SR),
            EC = contents(Type, E),
            SC = contents(Type, S),
            Verdict = case oracle(F, length(Args)) of
                          none -> lenient(SR) andalso resync(E, S);
                          _ -> same_outcome(Type, F, ER, SR) andalso shards_test_util:same(EC, SC)
                      end,
            case Verdict of
                true -> [];
                false -> [{Call, {ets, ER, EC}, {shards, SR, SC}}]
            end
    end.

count(R) ->
    #{calls := C, errors := E} = Stats = case get(badarg_stats) of
                                              undefined -> #{calls => 0, errors => 0};
                                              St -> St
                                          end,
    put(badarg_stats, Stats#{calls := C + 1,
                             errors := E + case R of {error, _, _, _} -> 1; _ -> 0 end}).

%% Which key a step of a hashed table's traversal returns is up to the
%% implementation (as in ets): only the errors must agree there.
same_outcome(Type, F, {ok, _}, {ok, _}) when Type =/= ordered_set,
                                             (F =:= first orelse F =:= next orelse
                                              F =:= last orelse F =:= prev) ->
    true;
same_outcome(_Type, _F, ER, SR) ->
    shards_test_util:same(ER, SR).

%% After a call ets has no oracle for (update_element/4 may have inserted
%% its default), ets gets the shards table's contents, in the same order
%% (a bag's objects under one key stay in insertion order), so that the
%% calls after it are compared from the same state.
resync(#{id := EId}, #{id := SId}) ->
    case shards_test_util:r(fun() -> shards:tab2list(SId) end) of
        {ok, L} ->
            true = ets:delete_all_objects(EId),
            true = ets:insert(EId, L),
            true;
        _ ->
            true
    end.

%% No oracle: a result, or error:badarg.
lenient({ok, _}) -> true;
lenient({error, error, badarg, _}) -> true;
lenient(_) -> false.

%% The table as it is now (sorted unless ordered), or the error.
contents(Type, #{m := M, id := Id}) ->
    shards_test_util:r(fun() -> shards_random_tests:in_order(Type, M:tab2list(Id)) end).

%% ets's function for a shards export: {Function, ArgsToKeep} or none.
oracle(F, _A) when F =:= table_meta; F =:= get_meta; F =:= put_meta; F =:= all ->
    none;
oracle(update_element, A) when A >= 4 -> none;
%% table/1,2 return QLC handles holding funs: not comparable with ets's
%% (shards_qlc_tests compares what queries over them return).
oracle(table, _A) -> none;
oracle(F, A) ->
    case erlang:function_exported(ets, F, A) orelse {F, A} =:= {lookup_element, 4} of
        true -> {F, A};
        false -> {F, A - 1}
    end.

%% Holes in the oracle (see the module doc), not generated.
%% OTP 25's ets raises badarg without a cause when an argument after the
%% table is itself an ets table id (of a live or a deleted table),
%% whatever the table argument is.
oracle_hole(KP, #{tab := T} = E, {_, [_ | Rest]} = Call) ->
    lists:member('$id', Rest) orelse lists:member('$deleted', Rest)
        orelse (is_reference(T) andalso lists:member('$tab', Rest))
        orelse oracle_hole1(KP, E, Call);
oracle_hole(KP, E, Call) ->
    oracle_hole1(KP, E, Call).

oracle_hole1(KP, _E, {update_counter, [_, _, _, D | _]}) when is_tuple(D), tuple_size(D) < KP ->
    true;
oracle_hole1(_KP, _E, {info, [_, Item | _]}) ->
    lists:member(Item, [partitions, memory, safe_fixed, safe_fixed_monotonic_time]);
oracle_hole1(_KP, _E, {new, [_, Opts]}) ->
    any_shards_only_option(Opts);
oracle_hole1(_KP, _E, _) ->
    false.

any_shards_only_option([O | Rest]) ->
    shards_only_option(O) orelse any_shards_only_option(Rest);
any_shards_only_option(_) ->
    false.

shards_only_option({partitions, _}) -> true;
shards_only_option({n_shards, _}) -> true;
shards_only_option({keyslot_fun, _}) -> true;
shards_only_option({parallel, _}) -> true;
shards_only_option({parallel_timeout, _}) -> true;
shards_only_option(_) -> false.

%% Runs the call on one side, with the symbolic arguments made concrete.
outcome(Type, #{m := M} = Side, Holder, Dead, F, Args0) ->
    Args = concrete(Side, Holder, Dead, Args0),
    {EF, N} = case oracle(F, length(Args)) of
                  none -> {F, length(Args)};
                  {F1, N1} -> {F1, N1}
              end,
    R = case M of
            shards -> shards_test_util:r(fun() -> apply(shards, F, Args) end);
            ets -> shards_test_util:r(fun() -> ets_call(Side, EF, lists:sublist(Args, N)) end)
        end,
    case {F, R} of
        {new, {ok, New}} -> M:delete(New);
        _ -> ok
    end,
    normalise(Type, Side, F, R).

%% ets's delete_all_objects on the live table goes through match_delete
%% (OTP 25 miscounts the size of a fixed table otherwise).
ets_call(#{id := Id, tab := T}, delete_all_objects, [X]) when X =:= Id; X =:= T ->
    ets:match_delete(X, '_');
ets_call(_, F, Args) ->
    shards_test_util:do(ets, F, Args).

%% {'$long', N, Last} (kept symbolic so that reports stay short) is a list
%% of N valid objects ending with Last.
concrete(Side, Holder, Dead, Args) ->
    [case A of
         {'$long', N, Last} -> long_list(maps:get(keypos, Side), N, Last);
         _ -> A
     end || A <- concrete1(Side, Holder, Dead, Args)].

concrete1(#{m := M} = Side, Holder, Dead, Args) ->
    Meta = case M of
               shards -> try shards:table_meta(maps:get(id, Side)) catch _:_ -> #{} end;
               ets -> #{}
           end,
    shards_test_util:subst(Args, [{'$tab', maps:get(tab, Side)}, {'$id', maps:get(id, Side)},
                                  {'$deleted', maps:get(deleted, Side)},
                                  {'$holder', Holder}, {'$dead', Dead}, {'$self', self()},
                                  {'$meta', Meta}]).

%% Table ids become '$tab'; lists whose order ets leaves free are sorted;
%% on hashed types first/last compare only whether they found the table
%% empty, and next/prev only whether they failed (which key comes next is
%% up to the implementation).
normalise(Type, #{id := Id, tab := T}, F, R) ->
    R1 = shards_test_util:subst(R, [{Id, '$id'}, {T, '$tab'}]),
    case {Type, F, R1} of
        {_, new, {ok, New}} when is_reference(New) -> {ok, '$new_ref'};
        {_, info, {ok, L}} when is_list(L) -> {ok, lists:sort([K || {K, _} <- L] -- [partitions])};
        {_, all, {ok, L}} when is_list(L) -> {ok, list};
        {ordered_set, _, _} -> R1;
        {_, Step, {ok, K}} when Step =:= first; Step =:= last ->
            {ok, K =:= '$end_of_table'};
        {_, Step, {ok, _}} when Step =:= next; Step =:= prev ->
            ok;
        {_, Many, {ok, L}} when is_list(L), (Many =:= tab2list orelse Many =:= foldl orelse
                                            Many =:= foldr) ->
            {Elements, Tail} = split_tail(L, []),
            {ok, {shards_test_util:sorted(Elements), Tail}};
        _ -> R1
    end.

%% The elements and the tail of a list that may be improper (a fold that
%% conses onto a non-list accumulator builds one).
split_tail([H | T], Acc) -> split_tail(T, [H | Acc]);
split_tail(Tail, Acc) -> {lists:reverse(Acc), Tail}.

%%%===================================================================
%%% Argument pool
%%%===================================================================

arg(KP) ->
    frequency([{6, table()}, {6, key()}, {6, object(KP)}, {3, objects(KP)},
               {3, position()}, {3, update_op()}, {2, fun_arg()}, {2, options()},
               {2, pid_arg()}, {2, junk()}]).

table() ->
    elements(['$tab', '$id', '$deleted', no_such_table, badarg_tab, badarg_deleted,
              exactly(make_ref()), '$self', 42, exactly("tab"), exactly({badarg_tab}),
              exactly([]), 1.0]).

key() ->
    elements([a, b, 1, 1.0, x, 2, exactly({a}), exactly([a | b]), exactly(<<"k">>),
              '$end_of_table', exactly(1 bsl 64)]).

%% Valid objects (key at KP), and every kind of bad one.
object(KP) ->
    frequency([{4, ?LET({K, V}, {key(), junk_or_int()}, obj(KP, K, V))},
               {1, exactly({})},
               {1, ?LET(K, key(), {K})},
               {1, exactly(not_a_tuple)},
               {1, exactly([{a, 1}])},
               {1, ?LET(K, key(), {K, 1, 2, 3})}]).

objects(KP) ->
    frequency([{4, resize(5, list(object(KP)))},
               {1, ?LET(L, resize(3, list(object(KP))), exactly(L ++ improper))},
               {1, ?LET(L, resize(3, list(object(KP))), exactly(improper_list(L)))},
               {1, ?LET(Bad, object(KP), {'$long', 10000, Bad})},
               {1, exactly({'$long', 100000, not_a_tuple})},
               {1, exactly({'$long', 2000, {}})}]).

improper_list([]) -> [{z, 1} | tail];
improper_list(L) -> lists:droplast(L) ++ [lists:last(L) | tail].

long_list(KP, N, Last) ->
    [obj(KP, {long, I}, I) || I <- lists:seq(1, N)] ++ [Last].

junk_or_int() ->
    frequency([{3, integer(-3, 3)}, {1, junk()}]).

position() ->
    elements([0, -1, 1, 2, 3, 4, 1000, a, 1.0, exactly(1 bsl 64), exactly(-(1 bsl 64)),
              exactly([2])]).

update_op() ->
    elements([1, -1, a, exactly({2, 1}), exactly({1, 1}), exactly({3, 1}), exactly({2, a}),
              exactly({2, 1, 10, 0}), exactly({2, 1, a, 0}), exactly([{2, 1}, {2, -1}]),
              exactly([{2, 1} | bad]), exactly({2, x}), exactly([{2, x}, {3, y}]),
              exactly([{1, x}]), exactly({a, 1}), exactly({})]).

fun_arg() ->
    elements([exactly(fun(O, Acc) -> [O | Acc] end), exactly(fun(_) -> ok end),
              exactly(fun() -> ok end), exactly(fun(_, _) -> erlang:error(in_fun) end),
              not_a_fun]).

options() ->
    elements([exactly([]), exactly([set]), exactly([named_table]), exactly([bag, private]),
              exactly([{keypos, 0}]), exactly([{keypos, 2}]), exactly([{keypos, a}]),
              exactly([{heir, none}]), exactly({heir, none}), exactly([{heir, '$holder', data}]),
              exactly({heir, '$holder', data}), exactly({heir, '$dead', data}),
              exactly([{heir, self, x}]), exactly([{protection, private}]),
              exactly([public | bad]), exactly([{write_concurrency, maybe}]),
              exactly([{read_concurrency, true}, compressed]), exactly([unknown_option]),
              exactly(new_name), exactly(other_name), true, false]).

pid_arg() ->
    elements(['$holder', '$dead', '$self', exactly(list_to_pid("<0.0.0>"))]).

junk() ->
    elements([exactly([]), exactly(""), exactly(<<>>), exactly({}), 1.5, -7,
              exactly(1 bsl 100), exactly(#{}), exactly(#{a => 1}), exactly([a, b | c]),
              exactly({1, 2, 3}), exactly(make_ref()), exactly(self()), true, undefined]).
