%%% @doc No process can get around a table's access rights through the
%%% NIF module: every exported function of `shards_nif', called by a
%%% process that is not the owner with arguments drawn from everything it
%%% could get hold of (the table, its name, the owner's pid, specs, compiled
%%% specs, cursors, a scan grant of another table...), must neither return
%%% anything of a private table's contents or metadata nor change a private
%%% or protected table (contents and settings, as the owner sees them).
-module(shards_access_tests).

-include_lib("eunit/include/eunit.hrl").

%% Random argument vectors tried per function.
-define(TRIES, 400).
-define(SECRET, '$shards_access_secret').

no_bypass_through_any_nif_test_() ->
    {timeout, 300, fun no_bypass/0}.

no_bypass() ->
    rand:seed(exsss, {17, 42, 4711}),
    Self = self(),
    Owner = spawn(fun() -> owner(Self) end),
    {Private, Protected, Named} = receive {tables, P, Pr, N} -> {P, Pr, N} end,
    Before = [view(Owner, T) || T <- [Private, Protected, Named]],
    Pool = pool(Owner, Private, Protected, Named),
    Exports = [FA || {F, _} = FA <- shards_nif:module_info(exports),
                     F =/= module_info, F =/= load_nif],
    %% Every combination of the likeliest arguments, then random ones.
    Calls = [{F, Args} || {F, A} <- Exports, Args <- combinations(core(Pool, A), A)]
        ++ [{F, Args} || {F, A} <- Exports, _ <- lists:seq(1, tries(A)),
                         Args <- [[pick(Pool) || _ <- lists:seq(1, A)]]],
    Leaks = [{F, shorten(Args)} || {F, Args} <- Calls, leaks(shards_nif, F, Args)],
    After = [view(Owner, T) || T <- [Private, Protected, Named]],
    ?debugFmt("~p calls to ~p functions of shards_nif from a non-owner",
              [length(Calls), length(Exports)]),
    Owner ! stop,
    ?assertEqual([], Leaks),
    ?assert(Before =:= After).

%% A grant is minted only for a process that may scan: a non-owner cannot
%% get one for a private table, nor use a compiled spec or another table's
%% id in its place; a grant made for a public table scans only that table.
grant_is_bound_to_its_table_and_caller_test() ->
    Self = self(),
    Owner = spawn(fun() -> owner(Self) end),
    {Private, _, _} = receive {tables, P, Pr, N} -> {P, Pr, N} end,
    Public = shards:new(pub, [public]),
    shards:insert(Public, [{I, I} || I <- lists:seq(1, 3000)]),
    {'$shards_dirty', Grant} = shards_nif:select_all(select, Public, [{'_', [], ['$_']}]),
    ?assertError(_, shards_nif:select_all(select, Private, [{'_', [], ['$_']}])),
    ?assertError(_, shards_nif:select_job(Private)),
    ?assertError(_, shards_nif:select_job(shards_nif:ms_compile([{'_', [], ['$_']}], false))),
    {Objects, []} = shards_nif:select_job(Grant),
    ?assertEqual(3000, length(Objects)),
    ?assertNot(contains(Objects, ?SECRET)),
    %% The table turned private under an outstanding grant: access is
    %% checked again when the grant is used.
    {'$shards_dirty', Grant2} = shards_nif:select_all(select, Public, [{'_', [], ['$_']}]),
    Owner2 = spawn(fun() -> receive {'ETS-TRANSFER', _, _, _} -> receive stop -> ok end end end),
    shards:setopts(Public, {protection, private}),
    shards:give_away(Public, Owner2, x),
    ?assertError({badarg, access}, shards_nif:select_job(Grant2)),
    Owner ! stop,
    Owner2 ! stop.

%% The calls that read or changed another process's private table before
%% scans were bound to a grant and metadata was access-checked (they must
%% now fail, or not exist).
known_bypasses_test() ->
    Self = self(),
    Owner = spawn(fun() -> owner(Self) end),
    {Private, _, _} = receive {tables, P, Pr, N} -> {P, Pr, N} end,
    Ms = shards_nif:ms_compile([{'_', [], ['$_']}], false),
    Before = view(Owner, Private),
    Calls = [fun() -> apply(shards_nif, select_dirty, [select, Private, Ms, 0, 1000000, Owner]) end,
             fun() -> apply(shards_nif, select_dirty, [delete, Private, Ms, 0, 1000000, Owner]) end,
             fun() -> apply(shards_nif, select_job, [select, Private, Ms, apply(shards_nif, scan_job, []), Owner]) end,
             fun() -> shards_nif:get_meta(Private, ?SECRET) end,
             fun() -> shards_nif:put_meta(Private, ?SECRET, changed) end,
             fun() -> shards:get_meta(Private, ?SECRET) end,
             fun() -> shards:put_meta(Private, ?SECRET, changed) end],
    [?assertNot(leaks(F)) || F <- Calls],
    ?assert(Before =:= view(Owner, Private)),
    Owner ! stop.

tries(0) -> 1;
tries(_) -> ?TRIES.

%% The likeliest arguments: tables, their owner, a spec and its compiled
%% form, an operation, positions (fewer for functions of more arguments).
core(Pool, A) when A =< 3 -> [element(I, Pool) || I <- lists:seq(1, 12)];
core(Pool, _) -> [element(I, Pool) || I <- [1, 2, 3, 4, 5, 6, 7, 9]].

combinations(_Values, 0) -> [[]];
combinations(Values, A) -> [[V | Rest] || V <- Values, Rest <- combinations(Values, A - 1)].

%% The owner of a private, a protected and a named private table holding
%% the secret, answering `view' requests.
owner(Parent) ->
    Objects = fun(V) -> [{V, {V, 42}}, {k2, V} | [{I, V} || I <- lists:seq(1, 3000)]] end,
    Private = shards:new(private, [private, {heir, self(), ?SECRET}]),
    Protected = shards:new(protected, [protected, ordered_set]),
    Named = shards:new(access_named, [private, named_table, bag]),
    [shards:insert(T, Objects(?SECRET)) || T <- [Private, Named]],
    %% Anyone may read a protected table (only its contents must not change).
    shards:insert(Protected, Objects(readable)),
    shards:put_meta(Private, ?SECRET, ?SECRET),
    Parent ! {tables, Private, Protected, Named},
    owner_loop().

owner_loop() ->
    receive
        {view, From, T} ->
            From ! {view, T, {lists:sort(shards:tab2list(T)),
                              [shards:info(T, I) || I <- [owner, protection, heir, name,
                                                          named_table, size, keypos]],
                              shards:get_meta(T, ?SECRET)}},
            owner_loop();
        stop ->
            ok
    end.

view(Owner, T) ->
    Owner ! {view, self(), T},
    receive {view, T, V} -> V end.

%% Everything a process other than the owner can name.
pool(Owner, Private, Protected, Named) ->
    Public = shards:new(pub_pool, [public]),
    shards:insert(Public, [{I, I} || I <- lists:seq(1, 3000)]),
    {'$shards_dirty', OtherGrant} = shards_nif:select_all(select, Public, [{'_', [], ['$_']}]),
    Ms = shards_nif:ms_compile([{'_', [], ['$_']}], false),
    Tabs = [Private, Protected, Named],
    list_to_tuple(
      Tabs ++
      [Owner, {'$shards_ms', Ms}, [{'_', [], ['$_']}], select, ?SECRET, 0, 1000000, start] ++
      Tabs ++ Tabs ++
      [Owner, self(), ?SECRET, k2, 1, 0, -1, 2, 1000000, '_', [], true, false,
       {?SECRET, 1}, [{?SECRET, 1}, {k9, x}], {k9, x}, [{k9, x}],
       [{'_', [], ['$_']}], [{{'$1', '$2'}, [], [{{'$1', '$2'}}]}],
       [{'_', [], [true]}], {'$shards_ms', Ms}, Ms, OtherGrant, Public,
       start, reverse, {0, 0, 0}, {ordered, <<>>}, {reverse, <<255>>},
       select, count, delete, replace, insert, insert_new, lookup, take,
       delete_object, update_counter, update_element, member,
       [0], [0, 0], {2, 1}, [{2, 1}], {{k9, 0}}, {heir, self(), x}, {heir, none},
       {protection, public}, [{protection, public}], size, owner, name,
       {erlang:timestamp(), erlang:monotonic_time()}, renamed_by_attacker]).

pick(Pool) ->
    element(rand:uniform(tuple_size(Pool)), Pool).

%% Whether the call gave away the secret (in its result or its error).
leaks(M, F, Args) ->
    leaks(fun() -> apply(M, F, Args) end).

leaks(F) ->
    Out = try F() catch C:R -> {C, R} end,
    contains(Out, ?SECRET).

contains(Term, Secret) ->
    contains([Term], Secret, 0).

contains([], _, _) -> false;
contains(_, _, N) when N > 100000 -> false;
contains([T | Rest], S, N) when is_tuple(T) -> contains(tuple_to_list(T) ++ Rest, S, N + 1);
contains([T | Rest], S, N) when is_list(T) -> contains(improper(T) ++ Rest, S, N + 1);
contains([T | Rest], S, N) when is_map(T) -> contains(maps:to_list(T) ++ Rest, S, N + 1);
contains([S | _], S, _) -> true;
contains([_ | Rest], S, N) -> contains(Rest, S, N + 1).

improper([H | T]) -> [H | improper(T)];
improper([]) -> [];
improper(T) -> [T].

shorten(Args) ->
    [case erts_debug:flat_size(A) > 20 of true -> big; false -> A end || A <- Args].
