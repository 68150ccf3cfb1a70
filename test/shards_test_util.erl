%%% @doc Helpers shared by the shards test suites.
%%%
%%% The suites use `ets' as the oracle: the same call is made on an ets
%%% table and on a shards table and the two outcomes must agree, errors
%%% included. The helpers here run calls and normalise their outcomes so
%%% that they can be compared term by term.
-module(shards_test_util).

-export([proper_numtests/1, 
    r/1,
    cause/1,
    error_module/1,
    do/3,
    do_meta/3,
    canon/1,
    same/2,
    sorted/1,
    subst/2,
    new_tab/3,
    del_tab/2,
    compare_runs/3,
    assert_same/2,
    assert_same/3,
    shorten/1,
    run_steps/3,
    diff_steps/2,
    tricky_terms/0,
    tricky_keys/0,
    external_pid/0,
    external_ref/0,
    external_port/0,
    bin/1,
    partitions/0,
    in_proc/1,
    spawn_holder/0,
    stop_holder/1,
    dead_pid/0,
    wait_down/1,
    flush/0
]).

-define(PARTITIONS, [1, 2, 7, 64]).

partitions() -> ?PARTITIONS.

%%%-------------------------------------------------------------------
%%% Running calls
%%%-------------------------------------------------------------------

%% Runs F and returns `{ok, Result}' or `{error, Class, Reason, Cause}'
%% where Cause is the `cause' of the `error_info' of the top stack frame
%% (`none' when there is no cause).
r(F) ->
    try
        {ok, F()}
    catch
        Class:Reason:St -> {error, Class, Reason, cause(St)}
    end.

cause(St) -> maps:get(cause, error_info(St), none).

%% The `module' of the error_info of the top frame of the exception raised
%% by F (or `none' / `no_exception').
error_module(F) ->
    try F() of
        _ -> no_exception
    catch
        _:_:St -> maps:get(module, error_info(St), none)
    end.

error_info([{_M, _F, _A, Info} | _]) when is_list(Info) ->
    case proplists:get_value(error_info, Info, #{}) of
        M when is_map(M) -> M;
        _ -> #{}
    end;
error_info(_) ->
    #{}.

%% Calls function F of module M (ets or shards) with Args. The only
%% difference: ets in OTP 25 has no lookup_element/4, so for ets it is
%% emulated with the OTP 26 semantics (erl_db.c, ets_lookup_element_4:
%% the table is checked, then a position that is not a positive small
%% integer is badarg, then a missing key gives the default and a position
%% beyond the object's size is badarg).
do(ets, lookup_element, [T, K, Pos, Def]) ->
    case is_integer(Pos) andalso Pos >= 1 andalso Pos < (1 bsl 59) of
        false ->
            ets:lookup_element(T, K, Pos);
        true ->
            case ets:lookup(T, K) of
                [] -> Def;
                _ -> ets:lookup_element(T, K, Pos)
            end
    end;
do(M, F, Args) ->
    apply(M, F, Args).

%% Calls the metadata-last arity of F on shards (the last argument being
%% shards:table_meta(Tab)), and the plain arity on ets.
do_meta(ets, F, Args) ->
    do(ets, F, Args);
do_meta(shards, F, [Tab | _] = Args) ->
    Meta = shards:table_meta(Tab),
    apply(shards, F, Args ++ [Meta]).

%%%-------------------------------------------------------------------
%%% Exact comparison of terms
%%%-------------------------------------------------------------------

%% A canonical form where floats keep their exact bits (so that 0.0 and
%% -0.0, which are =:= in OTP 25, differ) and maps become sorted lists.
canon(F) when is_float(F) ->
    {'$float', <<F/float>>};
canon(T) when is_tuple(T) ->
    list_to_tuple([canon(E) || E <- tuple_to_list(T)]);
canon(L) when is_list(L) ->
    canon_list(L);
canon(M) when is_map(M) ->
    {'$map', lists:sort([{canon(K), canon(V)} || {K, V} <- maps:to_list(M)])};
canon(X) ->
    X.

canon_list([]) -> [];
canon_list([H | T]) -> [canon(H) | canon_list(T)];
canon_list(Tail) -> {'$improper_tail', canon(Tail)}.

same(A, B) -> canon(A) =:= canon(B).

%% Sorts a list of objects by their canonical form (lists:sort alone
%% would leave 1 and 1.0 in input order since they compare equal).
sorted(L) when is_list(L) ->
    [X || {_, X} <- lists:sort([{canon(E), E} || E <- L])];
sorted(Other) ->
    Other.

%% Replaces every occurrence (by =:=) of each From in Term by To.
subst(Term, Pairs) ->
    case [To || {From, To} <- Pairs, From =:= Term] of
        [To | _] -> To;
        [] -> subst1(Term, Pairs)
    end.

subst1(T, Pairs) when is_tuple(T) ->
    list_to_tuple([subst(E, Pairs) || E <- tuple_to_list(T)]);
subst1([H | T], Pairs) ->
    [subst(H, Pairs) | subst(T, Pairs)];
subst1(M, Pairs) when is_map(M) ->
    maps:from_list([{subst(K, Pairs), subst(V, Pairs)} || {K, V} <- maps:to_list(M)]);
subst1(X, _Pairs) ->
    X.

%%%-------------------------------------------------------------------
%%% Tables
%%%-------------------------------------------------------------------

%% Creates a table on side M; for shards, {partitions, P} is added first.
new_tab(ets, Opts, _P) ->
    ets:new(oracle_tab, Opts);
new_tab(shards, Opts, P) ->
    shards:new(oracle_tab, [{partitions, P} | Opts]).

del_tab(M, T) ->
    _ = (catch M:delete(T)),
    ok.

%% A step is {Fun, Args} where '$T' in Args stands for the table, or
%% {meta, Fun, Args} for the metadata-last arity, or
%% {sorted, Fun, Args} when the result is a list whose order is free, or
%% {label, Label, fun((M, T) -> term())} for anything else.
run_steps(M, T, Steps) ->
    [{step_label(S), run_step(M, T, S)} || S <- Steps].

step_label({label, L, _}) -> L;
step_label({meta, F, Args}) -> {meta, F, Args};
step_label({sorted, F, Args}) -> {F, Args};
step_label({F, Args}) -> {F, Args}.

run_step(M, T, {label, _, Fun}) ->
    r(fun() -> Fun(M, T) end);
run_step(M, T, {meta, F, Args}) ->
    r(fun() -> do_meta(M, F, subst(Args, [{'$T', T}])) end);
run_step(M, T, {sorted, F, Args}) ->
    case r(fun() -> do(M, F, subst(Args, [{'$T', T}])) end) of
        {ok, L} -> {ok, sorted(L)};
        E -> E
    end;
run_step(M, T, {F, Args}) ->
    r(fun() -> do(M, F, subst(Args, [{'$T', T}])) end).

%% Compares two traces of {Label, Outcome}; returns the mismatches as
%% [{Label, {ets, EtsOutcome}, {shards, ShardsOutcome}}].
diff_steps(EtsTrace, ShardsTrace) ->
    lists:append(
      lists:zipwith(
        fun({L, E}, {_, S}) ->
                case same(E, S) of
                    true -> [];
                    false -> [{L, {ets, E}, {shards, S}}]
                end
        end,
        EtsTrace, ShardsTrace)).

%% Runs Steps on a fresh ets table and on a fresh shards table for every
%% partition count, and returns the mismatches tagged with the partition
%% count. Table ids in the outcomes are replaced by '$tab'.
compare_runs(Opts, Steps, Partitions) ->
    E = ets:new(oracle_tab, Opts),
    EtsTrace = subst(run_steps(ets, E, Steps), [{E, '$tab'}]),
    del_tab(ets, E),
    group_by_partitions(lists:append(
      [begin
           S = new_tab(shards, Opts, P),
           ShardsTrace = subst(run_steps(shards, S, Steps), [{S, '$tab'}]),
           del_tab(shards, S),
           [{P, Mismatch} || Mismatch <- diff_steps(EtsTrace, ShardsTrace)]
       end || P <- Partitions])).

%% Fails (printing every mismatch, shortened, on the console) when the
%% list of mismatches is not empty.
%% Where is {Module, Function, Line} of the assertion; generated tests
%% also put a label in the process dictionary (key test_label).
assert_same(_Where, []) ->
    ok;
assert_same(Where, Mismatches) ->
    Short = shorten(Mismatches),
    io:format(user, "~n*** ets vs shards at ~p, label ~p: ~b mismatch(es):~n~p~n",
              [Where, get(test_label), length(Mismatches), Short]),
    erlang:error({ets_vs_shards, lists:sublist(Short, 3)}).

%% Compares the outcome of the same thing on ets and on shards.
%% Only the differing parts are reported, each with its path in the term.
assert_same(Where, Ets, Shards) ->
    case same(Ets, Shards) of
        true -> ok;
        false -> assert_same(Where, [{{at, list_to_tuple(Path)}, {ets, E}, {shards, S}}
                                     || {Path, E, S} <- diff(Ets, Shards, [])])
    end.

diff(A, B, Path) ->
    case same(A, B) of
        true ->
            [];
        false when is_tuple(A), is_tuple(B), tuple_size(A) =:= tuple_size(B) ->
            diff_elems(tuple_to_list(A), tuple_to_list(B), 1, Path);
        false when is_list(A), is_list(B) ->
            case proper_len(A) =:= proper_len(B) andalso is_integer(proper_len(A)) of
                true -> diff_elems(A, B, 1, Path);
                false -> [{lists:reverse(Path), A, B}]
            end;
        false ->
            [{lists:reverse(Path), A, B}]
    end.

diff_elems([], [], _, _) -> [];
diff_elems([A | As], [B | Bs], I, Path) ->
    diff(A, B, [I | Path]) ++ diff_elems(As, Bs, I + 1, Path).

proper_len(L) ->
    try length(L) catch error:badarg -> improper end.

%% Makes a term printable in a report: long binaries, big integers and
%% long lists are abbreviated.
shorten(B) when is_binary(B), byte_size(B) > 16 ->
    {'$binary', byte_size(B), binary:part(B, 0, 8)};
shorten(I) when is_integer(I), abs(I) > 1 bsl 128 ->
    {'$bigint', case I < 0 of true -> '-'; false -> '+' end,
     {bits, length(integer_to_list(abs(I), 2))}, {low16, abs(I) band 16#ffff}};
shorten(L) when is_list(L) ->
    shorten_list(L, 30);
shorten(T) when is_tuple(T), tuple_size(T) > 30 ->
    {'$tuple', tuple_size(T), shorten(lists:sublist(tuple_to_list(T), 10))};
shorten(T) when is_tuple(T) ->
    list_to_tuple([shorten(E) || E <- tuple_to_list(T)]);
shorten(M) when is_map(M), map_size(M) > 10 ->
    {'$map', map_size(M)};
shorten(M) when is_map(M) ->
    maps:from_list([{shorten(K), shorten(V)} || {K, V} <- maps:to_list(M)]);
shorten(X) ->
    X.

shorten_list([], _) -> [];
shorten_list([_ | _], 0) -> ['...'];
shorten_list([H | T], N) -> [shorten(H) | shorten_list(T, N - 1)];
shorten_list(Tail, _) -> shorten(Tail).

%% The same mismatch for several partition counts is reported once:
%% [{{partitions, [P]}, Mismatch}], in the order first seen.
group_by_partitions(Found) ->
    Keys = lists:foldl(fun({_, M}, Acc) ->
                               case lists:member(M, Acc) of
                                   true -> Acc;
                                   false -> Acc ++ [M]
                               end
                       end, [], Found),
    [{{partitions, lists:usort([P || {P, M1} <- Found, M1 =:= M])}, M} || M <- Keys].

%%%-------------------------------------------------------------------
%%% Tricky terms
%%%-------------------------------------------------------------------

bin(N) ->
    list_to_binary([I rem 256 || I <- lists:seq(1, N)]).

%% A pid, a reference and a port of another node, built from the
%% external term format.
external_pid() ->
    Node = <<"other@host">>,
    binary_to_term(<<131, 88, 119, (byte_size(Node)), Node/binary,
                     42:32, 7:32, 1234:32>>).

external_ref() ->
    Node = <<"other@host">>,
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(Node)), Node/binary,
                     1234:32, 1:32, 2:32, 3:32>>).

external_port() ->
    Node = <<"other@host">>,
    binary_to_term(<<131, 89, 119, (byte_size(Node)), Node/binary,
                     99:32, 1234:32>>).

big_map() ->
    maps:from_list([{I, {v, I}} || I <- lists:seq(1, 40)]).

%% Terms used as keys. 0.0 and -0.0 are the same key in an OTP 25 set.
tricky_keys() ->
    Y = 42,
    Big = bin(100),
    [1, 1.0, 0, 0.0, -0.0, -1, 3.5, -2.5e300, 1.0e-300,
     1 bsl 59, (1 bsl 59) - 1, -(1 bsl 59), -(1 bsl 59) - 1,
     1 bsl 60, -(1 bsl 60), 1 bsl 64, -(1 bsl 64), 1 bsl 100, -(1 bsl 100),
     a, '', 'with space', 'ünïcödé', true, false, undefined,
     <<>>, bin(1), bin(63), bin(64), bin(65), bin(100), bin(100000),
     binary:part(Big, 1, 64), <<1:3>>, <<255, 1:7>>,
     [], [1, 2, 3], [1.0, 2, 3], [a | b], [1, [2, [3 | 4]]], "string", "",
     {}, {a}, {1}, {1.0}, {a, {b, {c, {d, {e}}}}}, {[], <<>>, {}},
     #{}, #{a => 1}, #{1 => a}, #{1.0 => a}, big_map(),
     #{[1] => #{2 => {3}}, <<"k">> => [x]},
     self(), whereis(init), list_to_pid("<0.0.0>"), external_pid(),
     list_to_port("#Port<0.1>"), external_port(),
     make_ref(), external_ref(),
     fun lists:map/2, fun erlang:length/1,
     fun(X) -> X + Y end, fun() -> ok end,
     {-0.0}, [0.0], {1 bsl 64, -(1 bsl 100)}].

tricky_terms() ->
    Huge = bin(100000),
    <<_:3, Unaligned:20000/binary, _/bits>> = Huge,
    tricky_keys() ++
        %% 16 KB and more: held, not copied, as values (a sub-binary keeps
        %% its whole binary; an unaligned one is aligned in a copy).
        [binary:part(Huge, 7, 20000), Unaligned, {[Huge], #{Huge => Unaligned}},
         list_to_binary(lists:duplicate(1000, "x")),
         lists:seq(1, 1000),
         erlang:make_tuple(300, z),
         #{big => big_map(), nested => {big_map(), [big_map()]}}].

%%%-------------------------------------------------------------------
%%% Processes
%%%-------------------------------------------------------------------

%% Runs F in another process and returns r(F) from there.
in_proc(F) ->
    Self = self(),
    Ref = make_ref(),
    {Pid, MRef} = spawn_monitor(fun() -> Self ! {Ref, r(F)} end),
    receive
        {Ref, Res} ->
            receive {'DOWN', MRef, process, Pid, _} -> ok end,
            Res;
        {'DOWN', MRef, process, Pid, Why} ->
            {died, Why}
    after 4000 ->
            {timeout, Pid}
    end.

%% A process that stays alive until stopped; it forwards every message
%% it gets to its parent as {holder_got, Self, Msg} and runs funs sent
%% as {run, From, Ref, F}.
spawn_holder() ->
    Parent = self(),
    spawn(fun() -> holder_loop(Parent) end).

holder_loop(Parent) ->
    receive
        stop ->
            ok;
        {run, From, Ref, F} ->
            From ! {Ref, r(F)},
            holder_loop(Parent);
        Msg ->
            Parent ! {holder_got, self(), Msg},
            holder_loop(Parent)
    end.

stop_holder(Pid) ->
    MRef = monitor(process, Pid),
    Pid ! stop,
    wait_down(MRef).

dead_pid() ->
    {Pid, MRef} = spawn_monitor(fun() -> ok end),
    wait_down(MRef),
    Pid.

wait_down(MRef) ->
    receive
        {'DOWN', MRef, process, _, _} -> ok
    after 4000 ->
            error(down_timeout)
    end.

flush() ->
    receive
        _ -> flush()
    after 0 ->
            ok
    end.

%% PropEr cases to run: SHARDS_PROPER_N when set, else Default.
proper_numtests(Default) ->
    case os:getenv("SHARDS_PROPER_N") of
        false -> Default;
        "" -> Default;
        S -> list_to_integer(S)
    end.
