%% @private
%% @doc The select and match family of `shards', and the match-spec
%% functions.
%%
%% The native engine (`shards_nif') compiles and runs match specs on the
%% stored objects. Two things go through ETS itself:
%% - a spec the engine cannot judge is checked by `ets:match_spec_compile/1'
%%   (so invalid specs fail exactly as in ETS), then compiled leniently;
%% - objects the engine cannot evaluate come back as "fallbacks" and are
%%   run through `ets:match_spec_run/2'.
%%
%% Full scans of big tables run on dirty schedulers (in parallel for
%% `{parallel, true}' tables); `select/3' and continuations scan a bounded
%% number of objects per NIF call.
-module(shards_select).

-export([all/5, chunk/4, continue/2, compile/2, run/3, test/3, is_compiled/1,
         all_reverse/4, chunk_reverse/4]).

-export_type([op/0, who/0, par/0]).

%% select: results; count, delete, replace: a count.
-type op() :: select | count | delete | replace.
%% The public function and its arguments, named in errors.
-type who() :: {atom(), [term()]}.
%% Parallel scan settings: the table's own, or {Parallel, Timeout} from a
%% shards 1.x metadata argument.
-type par() :: table | {boolean(), timeout()}.

%%% Whole-table queries

%% @doc select/2, select_count/2, select_delete/2, select_replace/2.
-spec all(op(), shards:tab(), term(), par(), who()) -> [term()] | non_neg_integer().
all(Op, Tab, Spec, Par, {Fun, Args} = Who) ->
    try shards_nif:select_all(Op, Tab, Spec) of
        {Result, []} ->
            Result;
        '$shards_verify' ->
            Ms = verified(Spec, Who),
            all(Op, Tab, {'$shards_ms', Ms}, Par, Who);
        {'$shards_dirty', Grant} ->
            finish(Op, Tab, Spec, dirty(Tab, Grant, Par, Who), Who);
        Reply ->
            finish(Op, Tab, Spec, Reply, Who)
    catch
        error:E:St -> shards_error:handle(E, St, Fun, Args)
    end.

%% Adds what ETS makes of the fallback objects.
finish(_Op, _Tab, _Spec, {Result, []}, _Who) ->
    Result;
finish(Op, Tab, Spec, {Result, Fallbacks}, Who) ->
    Ets = ets:match_spec_compile(source(Spec)),
    case Op of
        select ->
            case is_ordered(Tab) of
                %% Key order: run ETS over the table in order instead.
                true -> ets:match_spec_run(shards:tab2list(Tab), Ets);
                false -> ets:match_spec_run(Fallbacks, Ets) ++ Result
            end;
        count ->
            Result + length([T || T <- ets:match_spec_run(Fallbacks, Ets), T =:= true]);
        delete ->
            Result + length([O || O <- Fallbacks,
                                  ets:match_spec_run([O], Ets) =:= [true],
                                  nif(fun() -> shards:delete_object(Tab, O) end, Who)]);
        replace ->
            Result + length([O || O <- Fallbacks,
                                  [New] <- [ets:match_spec_run([O], Ets)],
                                  nif(fun() -> shards_nif:replace_object(Tab, O, New) end, Who)])
    end.

source({'$shards_ms', Ms}) -> shards_nif:ms_source(Ms);
source(Spec) ->
    case shards_nif:ms_is(Spec) of
        true -> shards_nif:ms_source(Spec);
        false -> Spec
    end.

%% A scan on dirty schedulers, by the grant select_all made for this
%% process: one call, or for a parallel table one call per dirty CPU
%% scheduler, each taking locks one at a time from the grant until none is
%% left (so that a worker that gets less CPU takes fewer locks rather than
%% holding the others up).
dirty(Tab, Grant, Par, Who) ->
    {Parallel, Timeout} = parallel(Tab, Par),
    Workers = erlang:system_info(dirty_cpu_schedulers_online),
    %% An ordered_set is scanned in one merged pass, to keep key order.
    case Parallel andalso Workers > 1 andalso not is_ordered(Tab) of
        false ->
            nif(fun() -> shards_nif:select_job(Grant) end, Who);
        true ->
            merge(scan_parallel(Grant, Workers, Timeout, Who))
    end.

parallel(_Tab, {Parallel, Timeout}) ->
    {Parallel, Timeout};
parallel(Tab, table) ->
    {shards_nif:info(Tab, parallel), shards_nif:info(Tab, parallel_timeout)}.

%% The caller is one of the workers, helper processes the others; the
%% caller stays the `self()' of the spec either way (the grant says so).
scan_parallel(Grant, Workers, Timeout, Who) ->
    Caller = self(),
    Ref = make_ref(),
    Helpers = [spawn_monitor(
                 fun() ->
                         R = try {ok, shards_nif:select_job(Grant)}
                             catch error:E -> {error, E}
                             end,
                         Caller ! {Ref, self(), R}
                 end) || _ <- lists:seq(2, Workers)],
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    try
        Own = nif(fun() -> shards_nif:select_job(Grant) end, Who),
        [Own | [collect(Ref, H, Deadline, Who) || H <- Helpers]]
    after
        [stop_helper(Ref, H) || H <- Helpers]
    end.

collect(Ref, {Pid, MRef}, Deadline, Who) ->
    Wait = case Deadline of
               infinity -> infinity;
               _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
           end,
    receive
        {Ref, Pid, {ok, R}} -> R;
        {Ref, Pid, {error, E}} -> shards_error:handle(E, [], element(1, Who), element(2, Who));
        {'DOWN', MRef, process, Pid, Why} -> erlang:error({parallel_scan_failed, Why})
    after Wait ->
            erlang:error(timeout)
    end.

%% Makes sure a helper is gone and leaves nothing of it in the mailbox.
stop_helper(Ref, {Pid, MRef}) ->
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, _} -> ok end,
    receive {Ref, Pid, _} -> ok after 0 -> ok end.

merge([{R, _} | _] = Replies) when is_list(R) ->
    {lists:append([Rs || {Rs, _} <- Replies]), lists:append([F || {_, F} <- Replies])};
merge(Replies) ->
    {lists:sum([N || {N, _} <- Replies]), lists:append([F || {_, F} <- Replies])}.

%%% Chunks and continuations

%% Continuations are {TableId, shards_select, CompiledMs, Limit, Extra, Next}:
%% Extra holds results already found beyond the last chunk, Next is the
%% NIF's cursor (a hashed table's traversal position {Lock, Pos, Sub}, or
%% an ordered_set's {ordered | reverse, SortKey}, which also says which way
%% select/1 and select_reverse/1 go on, as in ets). They hold no state that changes, so they can
%% be reused and passed to other processes. As with ets (unless the table is
%% fixed), objects inserted or deleted between two chunks may make a later
%% chunk miss or repeat an object.

%% @doc select/3 (and match/3, match_object/3).
-spec chunk(shards:tab(), term(), term(), who()) -> {[term()], term()} | '$end_of_table'.
chunk(Tab, Spec, Limit, Who) ->
    loop(Tab, Spec, Limit, start, [], 0, Who).

%% @doc select/1 (and match/1, match_object/1, select_reverse/1).
-spec continue(term(), who()) -> {[term()], term()} | '$end_of_table'.
continue('$end_of_table', _Who) ->
    '$end_of_table';
continue({Tab, shards_select, Ms, Limit, [], Next}, Who) ->
    loop(Tab, {'$shards_ms', Ms}, Limit, Next, [], 0, Who);
continue({Tab, shards_select, Ms, Limit, Extra, Next}, Who) when is_list(Extra) ->
    %% The table must still be there and readable, as for any chunk.
    _ = nif(fun() -> shards_nif:select_chunk(Tab, [], start, 1) end, Who),
    deliver(Tab, Ms, Limit, Next, Extra, length(Extra), Who);
continue(Cont, Who) when is_tuple(Cont), tuple_size(Cont) >= 1 ->
    %% As ETS: the first element must name a table, or the error says so.
    _ = nif(fun() -> shards_nif:select_chunk(element(1, Cont), [], start, 1) end, Who),
    badarg(Who);
continue(_Cont, Who) ->
    badarg(Who).

loop(Tab, Spec, Limit, Cursor, Acc, N, Who) ->
    Want = case is_integer(Limit) of
               true -> Limit - N;
               false -> Limit
           end,
    case nif(fun() -> shards_nif:select_chunk(Tab, Spec, Cursor, Want) end, Who) of
        '$shards_verify' ->
            Ms = verified(Spec, Who),
            loop(Tab, {'$shards_ms', Ms}, Limit, Cursor, Acc, N, Who);
        {Results, Count, [], Next, Ms, Id} ->
            deliver(Id, Ms, Limit, Next, Acc ++ Results, N + Count, Who);
        {Results, Count, Fallbacks, Next, Ms, Id} ->
            Ets = ets:match_spec_compile(shards_nif:ms_source(Ms)),
            More = ets:match_spec_run(Fallbacks, Ets),
            deliver(Id, Ms, Limit, Next, Acc ++ Results ++ More, N + Count + length(More), Who)
    end.

deliver(Tab, Ms, Limit, Next, Acc, N, _Who) when N >= Limit ->
    {Chunk, Extra} = lists:split(Limit, Acc),
    case {Extra, Next} of
        {[], '$end_of_table'} -> {Chunk, '$end_of_table'};
        _ -> {Chunk, {Tab, shards_select, Ms, Limit, Extra, Next}}
    end;
deliver(_Tab, _Ms, _Limit, '$end_of_table', [], _N, _Who) ->
    '$end_of_table';
deliver(_Tab, _Ms, _Limit, '$end_of_table', Acc, _N, _Who) ->
    {Acc, '$end_of_table'};
deliver(Tab, Ms, Limit, Next, Acc, N, Who) ->
    loop(Tab, {'$shards_ms', Ms}, Limit, Next, Acc, N, Who).

%%% select_reverse

%% @doc select_reverse/2: an ordered_set's results in reverse key order;
%% for the other types the same as select/2 (as in ets).
-spec all_reverse(shards:tab(), term(), par(), who()) -> [term()].
all_reverse(Tab, Spec, Par, Who) ->
    R = all(select, Tab, Spec, Par, Who),
    case is_ordered(Tab) of
        true -> lists:reverse(R);
        false -> R
    end.

%% @doc select_reverse/3: chunks from the greatest key of an ordered_set,
%% walked as select/3 walks forward (each chunk examines only what it needs);
%% for the other types the same as select/3 (as in ets).
-spec chunk_reverse(shards:tab(), term(), term(), who()) ->
          {[term()], term()} | '$end_of_table'.
chunk_reverse(Tab, Spec, Limit, Who) ->
    case is_ordered(Tab) of
        false -> chunk(Tab, Spec, Limit, Who);
        true -> loop(Tab, Spec, Limit, reverse, [], 0, Who)
    end.

is_ordered(Tab) ->
    try shards_nif:info(Tab, type) =:= ordered_set
    catch error:_ -> false
    end.

%%% Match specs

%% @doc match_spec_compile/1.
-spec compile(term(), who()) -> reference().
compile([], Who) ->
    badarg(Who); % as ets: an empty spec selects nothing but does not compile
compile(Spec, Who) ->
    case shards_nif:ms_compile(Spec, false) of
        '$shards_verify' -> verified(Spec, Who);
        Ms -> Ms
    end.

%% @doc match_spec_run/2: with a spec compiled by shards natively (ETS for
%% the odd element), else as `ets:match_spec_run/2'.
-spec run(term(), term(), who()) -> [term()].
run(List, Ms, Who) ->
    case shards_nif:ms_is(Ms) of
        true ->
            run_loop(List, Ms, [], Who);
        false ->
            try ets:match_spec_run(List, Ms)
            catch error:badarg:St -> shards_error:badarg(St, element(1, Who), element(2, Who))
            end
    end.

run_loop(List, Ms, Acc, Who) ->
    case nif(fun() -> shards_nif:ms_run(List, Ms) end, Who) of
        {Done, []} ->
            lists:append(lists:reverse([Done | Acc]));
        {'$shards_fallback', Done, [Elem | Rest]} ->
            Ets = ets:match_spec_compile(shards_nif:ms_source(Ms)),
            run_loop(Rest, Ms, [ets:match_spec_run([Elem], Ets), Done | Acc], Who);
        {Done, Rest} ->
            run_loop(Rest, Ms, [Done | Acc], Who)
    end.

%% @doc test_ms/2.
-spec test(term(), term(), who()) -> {ok, term()} | {error, [{warning | error, string()}]}.
test(Term, [], _Who) ->
    ets:test_ms(Term, []); % ets's own message for an empty spec
test(Term, Spec, Who) ->
    case shards_nif:ms_compile(Spec, false) of
        '$shards_verify' ->
            ets:test_ms(Term, Spec);
        Ms ->
            case run([Term], Ms, Who) of
                [Result] -> {ok, Result};
                [] -> {ok, false}
            end
    end.

%% @doc is_compiled_ms/1: a spec compiled by shards (or by ETS).
-spec is_compiled(term()) -> boolean().
is_compiled(Term) ->
    shards_nif:ms_is(Term) orelse ets:is_compiled_ms(Term).

%%% Helpers

%% ETS judges the spec (raising badarg as ETS does); then it is compiled
%% leniently, constructs the engine does not know being left to ETS.
verified(Spec, Who) ->
    try ets:match_spec_compile(Spec) of
        _ -> ok
    catch error:badarg:St -> shards_error:badarg(St, element(1, Who), element(2, Who))
    end,
    case shards_nif:ms_compile(Spec, true) of
        '$shards_verify' -> badarg(Who);
        Ms -> Ms
    end.

nif(F, {Fun, Args}) ->
    try F()
    catch error:E:St -> shards_error:handle(E, St, Fun, Args)
    end.

-spec badarg(who()) -> no_return().
badarg({Fun, Args}) ->
    shards_error:badarg([], Fun, Args).
