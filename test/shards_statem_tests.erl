%%% @doc Stateful model test (PropEr statem): random command sequences run
%%% against an ets table and a shards table side by side, and every result
%%% must be the same (errors included: class, reason and error_info cause).
%%%
%%% Each sequence gets a random configuration: type (set, ordered_set, bag,
%%% duplicate_bag), partitions (1, 2, 7, 64), keypos (1, 2), named or not,
%%% protection, and a heir or not. Both tables are created by actor 1, one
%%% of three spawned "actor" processes the test can run calls in and kill.
%%% The commands:
%%%   op            a key-value, traversal or safe_fixtable call (the random
%%%                 test's generator), run in the runner or in an actor;
%%%   check         the whole contents and the info items, compared;
%%%   kill          an actor dies: an owner takes its table with it, or
%%%                 hands it to a live heir ('ETS-TRANSFER' compared);
%%%   give_away     to an actor (alive or dead) or the runner;
%%%   setopts_heir  a new heir (or none);
%%%   delete_tab    the table is deleted: every later call gets badarg;
%%%   rename        to a name of the pool;
%%%   try_new       a new named table: free name or already_exists.
%%%
%%% The model (the state) tracks only what generation needs: whether the
%%% table exists, its owner, heir, name and which actors live. `check'
%%% verifies the model against ets, so a wrong model cannot go unnoticed.
%%%
%%% Results compare exactly; for hashed types, where ets leaves the order
%%% free, lists of objects compare as multisets and first/next by whether
%%% they reach the end (shards_random_tests:comparable/3).
%%%
%%% Owner death: ets deletes (or transfers) a table before the owner's
%%% 'DOWN' messages go out; shards does it in the NIF resource's monitor
%%% callback, which may run a little later. After the 'DOWN' the test
%%% records whether shards still showed the old state, waits (at most 2 s)
%%% for it to settle and prints how often and how long that took. The
%%% strict ordering is tested on its own in shards_known_divergence_tests
%%% (not part of `make test').
%%%
%%% 300 sequences by default; SHARDS_PROPER_N sets the number (`make
%%% proper' runs 10 000).
-module(shards_statem_tests).

-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-export([initial_state/0, command/1, precondition/2, postcondition/3, next_state/3]).
-export([op/3, check/1, kill/2, give_away/3, setopts_heir/3, delete_tab/2, rename/3,
         try_new/1]).
-export([prop_statem/0, run/1]).

-define(DEFAULT_N, 300).
-define(NAMES, [stm_a, stm_b, stm_c]).
-define(ACTORS, [1, 2, 3]).
-define(SETTLE_US, 2000000).
-define(MSG_MS, 2000).
-define(CALL_MS, 10000).

-record(m, {type = set, parts = 1, keypos = 1, named = false, prot = public,
            exists = true,
            owner = 1 :: runner | pos_integer(),
            heir = none :: none | runner | pos_integer(),
            alive = ?ACTORS,
            name = stm_a}).

numtests() ->
    shards_test_util:proper_numtests(?DEFAULT_N).

statem_test_() ->
    {timeout, 7200, fun() -> ?assertEqual(true, run(numtests())) end}.

%% Runs N sequences and prints what they did.
run(N) ->
    stats_init(),
    try
        %% Bigger sizes than PropEr's default (1..42): sequences of about
        %% 30 commands on average instead of 10.
        Ok = proper:quickcheck(prop_statem(), [{numtests, N}, {to_file, user},
                                               {start_size, 20}, {max_size, 100}]),
        stats_print(),
        Ok
    after
        ets:delete(stm_stats)
    end.

%%%===================================================================
%%% Property
%%%===================================================================

prop_statem() ->
    ?FORALL(Cfg, config(),
            ?FORALL(Cmds, commands(?MODULE, Cfg),
                    begin
                        setup(Cfg),
                        {H, S, Res} = try run_commands(?MODULE, Cmds)
                                      after cleanup()
                                      end,
                        stats_add(sequences, 1),
                        stats_add(commands, length(H)),
                        ?WHENFAIL(io:format(user, "~nconfig ~p~nresult ~p~nlast state ~p~n"
                                            "history (ets, shards):~n~p~n",
                                            [Cfg, Res, S, shorten_history(H)]),
                                  Res =:= ok)
                    end)).

shorten_history(H) ->
    [shards_test_util:shorten(R) || {_, R} <- H].

config() ->
    ?LET({Type, P, KP, Named, Prot, Heir},
         {elements([set, ordered_set, bag, duplicate_bag]), elements([1, 2, 7, 64]),
          elements([1, 2]), boolean(), elements([public, protected, private]),
          elements([none, 2])},
         #m{type = Type, parts = P, keypos = KP, named = Named, prot = Prot,
            heir = Heir}).

initial_state() -> #m{}.

%%%===================================================================
%%% Generation and the model
%%%===================================================================

command(S) ->
    Who = who(S),
    Cmds = [{30, {call, ?MODULE, op, [Who, addr(S), op_gen(S#m.keypos)]}},
            {4, {call, ?MODULE, check, [Who]}},
            {3, {call, ?MODULE, give_away, [Who, target(), gift()]}},
            {2, {call, ?MODULE, setopts_heir, [Who, oneof([none, target()]), gift()]}},
            {1, {call, ?MODULE, delete_tab, [Who, addr(S)]}},
            {2, {call, ?MODULE, rename, [Who, addr(S), elements(?NAMES)]}},
            {1, {call, ?MODULE, try_new, [elements(?NAMES)]}}]
        ++ [{3, ?LET(I, elements(S#m.alive),
                     {call, ?MODULE, kill, [I, transfers_on_kill(S, I)]})}
            || S#m.alive =/= []],
    frequency(Cmds).

%% Building the random test's op generator takes ~15 ms (its term pools are
%% computed on every call): it is built once per keypos.
op_gen(KP) ->
    case get({stm_op_gen, KP}) of
        undefined ->
            G = shards_random_tests:op(KP),
            put({stm_op_gen, KP}, G),
            G;
        G ->
            G
    end.

%% Mostly the owner, sometimes the runner or any live actor.
who(S) ->
    Owner = [{6, exactly(S#m.owner)} || S#m.owner =:= runner orelse
                                            lists:member(S#m.owner, S#m.alive)],
    Others = [{2, elements(S#m.alive)} || S#m.alive =/= []],
    frequency([{2, exactly(runner)} | Owner ++ Others]).

%% How a call names the table: the handle new/rename returned, the id
%% (whereis or the reference), or a name of the pool.
addr(_S) ->
    frequency([{8, exactly(current)}, {1, exactly(id)}, {1, {name, elements(?NAMES)}}]).

target() ->
    elements([runner | ?ACTORS]).

gift() ->
    elements([g, {data, [1, 2.0]}, <<"gift">>]).

alive(_S, runner) -> true;
alive(S, I) -> lists:member(I, S#m.alive).

resolves(S, current) -> S#m.exists;
resolves(S, id) -> S#m.exists;
resolves(S, {name, N}) -> S#m.exists andalso S#m.named andalso N =:= S#m.name.

writes(S, Who) -> S#m.prot =:= public orelse Who =:= S#m.owner.

%% give_away succeeds (and the recipient gets 'ETS-TRANSFER').
gives(S, Who, To) ->
    S#m.exists andalso Who =:= S#m.owner andalso alive(S, To) andalso To =/= S#m.owner.

%% When actor I dies, whether its table goes to the heir.
transfers_on_kill(S, I) ->
    S#m.exists andalso S#m.owner =:= I andalso S#m.heir =/= none andalso
        S#m.heir =/= I andalso alive(S, S#m.heir).

precondition(S, {call, _, kill, [I, Transfers]}) ->
    lists:member(I, S#m.alive) andalso Transfers =:= transfers_on_kill(S, I);
precondition(S, {call, _, _, [Who | _]}) when Who =:= runner; is_integer(Who) ->
    alive(S, Who);
precondition(_S, {call, _, try_new, _}) ->
    true.

next_state(S, _R, {call, _, kill, [I, Transfers]}) ->
    S1 = S#m{alive = S#m.alive -- [I]},
    if
        Transfers -> S1#m{owner = S#m.heir};
        S#m.exists andalso S#m.owner =:= I -> S1#m{exists = false};
        true -> S1
    end;
next_state(S, _R, {call, _, give_away, [Who, To, _]}) ->
    case gives(S, Who, To) of
        true -> S#m{owner = To};
        false -> S
    end;
next_state(S, _R, {call, _, setopts_heir, [Who, H, _]}) ->
    case S#m.exists andalso Who =:= S#m.owner of
        true when H =:= none -> S#m{heir = none};
        true -> S#m{heir = case alive(S, H) of true -> H; false -> none end};
        false -> S
    end;
next_state(S, _R, {call, _, delete_tab, [Who, Addr]}) ->
    case resolves(S, Addr) andalso writes(S, Who) of
        true -> S#m{exists = false};
        false -> S
    end;
next_state(S, _R, {call, _, rename, [Who, Addr, N]}) ->
    case resolves(S, Addr) andalso writes(S, Who) andalso
        not (S#m.named andalso N =:= S#m.name) of
        true -> S#m{name = N};
        false -> S
    end;
next_state(S, _R, _Call) ->
    S.

%% Every command returns {Ets, Shards} (normalised); check and kill add
%% what the model must agree with.
postcondition(S, {call, _, check, _}, {Model, E, Sh}) ->
    Expected = {S#m.exists, S#m.owner, S#m.heir, S#m.name},
    case Model of
        Expected -> ok;
        _ -> io:format(user, "~nmodel ~p =/= ets ~p~n", [Expected, Model])
    end,
    Model =:= Expected andalso same(E, Sh);
postcondition(_S, {call, _, kill, [_, Transfers]}, {Got, E, Sh}) ->
    Got =:= Transfers andalso same(E, Sh);
postcondition(_S, _Call, {E, Sh}) ->
    same(E, Sh).

same(E, Sh) ->
    case shards_test_util:same(E, Sh) of
        true ->
            true;
        false ->
            io:format(user, "~nets    ~p~nshards ~p~n",
                      [shards_test_util:shorten(E), shards_test_util:shorten(Sh)]),
            false
    end.

%%%===================================================================
%%% Runtime: actors and tables (kept in the process dictionary)
%%%===================================================================

setup(S) ->
    flush_stray(),
    Runner = self(),
    Actors = maps:from_list([{I, spawn(fun() -> actor_loop(Runner, I) end)} || I <- ?ACTORS]),
    put(stm_actors, Actors),
    put(stm_type, S#m.type),
    Opts = [S#m.type, S#m.prot, {keypos, S#m.keypos}]
        ++ [named_table || S#m.named]
        ++ [{heir, maps:get(H, Actors), heir_data} || H <- [S#m.heir], H =/= none],
    Tabs = [begin
                {ok, {ok, T}} = run_as(1, fun() -> new(M, stm_a, tag(M, Opts), S#m.parts) end),
                Id = case S#m.named of true -> M:whereis(T); false -> T end,
                {M, #{current => T, id => Id}}
            end || M <- [ets, shards]],
    put(stm_tabs, maps:from_list(Tabs)),
    remember_model().

new(ets, Name, Opts, _P) -> shards_test_util:r(fun() -> ets:new(Name, Opts) end);
new(shards, Name, Opts, P) ->
    shards_test_util:r(fun() -> shards:new(Name, [{partitions, P} | Opts]) end).

%% Heir and gift data carry the side, so that the 'ETS-TRANSFER' messages
%% of the two tables can be told apart (normalised away afterwards).
tag(M, Opts) -> [tag_opt(M, O) || O <- Opts].
tag_opt(M, {heir, P, D}) -> {heir, P, {M, D}};
tag_opt(_M, O) -> O.

actor_loop(Runner, I) ->
    receive
        {run, Ref, F} ->
            Runner ! {Ref, shards_test_util:r(F)},
            actor_loop(Runner, I);
        Msg ->
            Runner ! {actor_got, I, Msg},
            actor_loop(Runner, I)
    end.

actor(I) -> maps:get(I, get(stm_actors)).

pid_of(runner) -> self();
pid_of(I) -> actor(I).

%% Runs F as Who (the runner or an actor) and returns r(F).
run_as(runner, F) ->
    shards_test_util:r(F);
run_as(I, F) ->
    Ref = make_ref(),
    actor(I) ! {run, Ref, F},
    receive
        {Ref, R} -> R
    after ?CALL_MS ->
            {timeout, I}
    end.

tab(M, current) -> maps:get(current, maps:get(M, get(stm_tabs)));
tab(M, id) -> maps:get(id, maps:get(M, get(stm_tabs)));
tab(_M, {name, N}) -> N.

set_current(M, T) ->
    Tabs = get(stm_tabs),
    put(stm_tabs, Tabs#{M := (maps:get(M, Tabs))#{current := T}}).

%% Pids become {'$actor', I} or '$runner'; table ids become '$tab_id'.
norm(X) ->
    Tabs = get(stm_tabs),
    Pairs = [{self(), '$runner'}]
        ++ [{P, {'$actor', I}} || {I, P} <- maps:to_list(get(stm_actors))]
        ++ [{maps:get(id, maps:get(M, Tabs)), '$tab_id'} || M <- [ets, shards]],
    shards_test_util:subst(X, Pairs).

%% Runs F(M, Tab) for ets and then shards, as Who.
both(Who, Addr, F) ->
    [E, Sh] = [begin
                   T = tab(M, Addr),
                   norm(run_as(Who, fun() -> F(M, T) end))
               end || M <- [ets, shards]],
    {E, Sh}.

%%%===================================================================
%%% Commands
%%%===================================================================

%% Keys ets leaves behind when update_counter/4 fails on a fixed table
%% (see shards_random_tests:ghost_keys/3): next/prev from them are not
%% compared, and counted.
op(Who, Addr, Op) ->
    Type = get(stm_type),
    Ghosts = case get(stm_ghosts) of undefined -> []; G -> G end,
    {E, Sh} = both(Who, Addr, fun(M, T) ->
                                      R = shards_random_tests:apply_op(M, T, Op),
                                      {R, shards_random_tests:comparable(Type, Op, R)}
                              end),
    put(stm_ghosts, shards_random_tests:ghost_keys(Op, raw(E), Ghosts)),
    case shards_random_tests:ets_ghost(Type, Op, Ghosts) of
        true -> stats_add(ets_ghost_key_steps, 1), {skipped, skipped};
        false -> {comparable(E), comparable(Sh)}
    end.

raw({ok, {R, _}}) -> R;
raw(Other) -> Other.

comparable({ok, {_, C}}) -> {ok, C};
comparable(Other) -> Other.

%% The contents and info items as Who sees them, and (as the runner) what
%% ets says of existence, owner, heir and name, for the model to match.
check(Who) ->
    Type = get(stm_type),
    {E, Sh} = both(Who, id, fun(M, T) -> view(Type, M, T) end),
    EtsId = tab(ets, id),
    Model = case ets:info(EtsId, id) of
                undefined ->
                    {false, owner(get(stm_model_owner)), heir(get(stm_model_heir)),
                     get(stm_model_name)};
                _ ->
                    {true, owner(norm(ets:info(EtsId, owner))),
                     heir(norm(ets:info(EtsId, heir))), ets:info(EtsId, name)}
            end,
    {Model, E, Sh}.

owner('$runner') -> runner;
owner({'$actor', I}) -> I;
owner(X) -> X.

heir(none) -> none;
heir(X) -> owner(X).

view(Type, M, T) ->
    R = fun shards_test_util:r/1,
    [R(fun() -> shards_random_tests:in_order(Type, M:tab2list(T)) end)
     | [R(fun() -> M:info(T, I) end)
        || I <- [size, type, keypos, protection, named_table, name, owner, heir, fixed, id]]].

kill(I, Transfers) ->
    Pid = actor(I),
    EtsBefore = side_view(ets),
    MRef = monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, _} -> ok end,
    EtsView = side_view(ets),
    Settled = settle(EtsView, side_view(shards)),
    EtsBefore =:= {true, {'$actor', I}} andalso stats_add(owner_deaths, 1),
    {EMsgs, SMsgs} = transfer_msgs(Transfers),
    Transferred = EMsgs =/= [],
    Transferred andalso stats_add(heir_transfers, 1),
    remember_model(),
    {Transferred, {EtsView, EMsgs}, {Settled, SMsgs}}.

%% {Exists, Owner} of one side's table, as the runner sees it.
side_view(M) ->
    Id = tab(M, id),
    case M:info(Id, id) of
        undefined -> {false, none};
        _ -> {true, norm(M:info(Id, owner))}
    end.

%% Waits until shards shows what ets showed right after the 'DOWN' (the
%% NIF's monitor callback may not have run yet), and records how long.
settle(Want, Want) ->
    Want;
settle(Want, _AtDown) ->
    T0 = erlang:monotonic_time(microsecond),
    Got = settle_loop(Want, T0),
    Us = erlang:monotonic_time(microsecond) - T0,
    stats_add(late_after_down, 1),
    stats_max(late_after_down_max_us, Us),
    Got.

settle_loop(Want, T0) ->
    case side_view(shards) of
        Want ->
            Want;
        Got ->
            case erlang:monotonic_time(microsecond) - T0 > ?SETTLE_US of
                true -> Got;
                false -> erlang:yield(), settle_loop(Want, T0)
            end
    end.

%% The 'ETS-TRANSFER' messages of each side (to an actor, forwarded, or
%% to the runner). When one side's message comes, the other's is awaited.
transfer_msgs(Expected) ->
    Wait = case Expected of true -> ?MSG_MS; false -> 0 end,
    collect_transfers([], [], Wait).

collect_transfers(E, S, Wait) ->
    receive
        {actor_got, I, {'ETS-TRANSFER', _, _, _} = Msg} ->
            add_transfer({'$actor', I}, Msg, E, S);
        {'ETS-TRANSFER', _, _, _} = Msg ->
            add_transfer('$runner', Msg, E, S)
    after Wait ->
            {lists:reverse(E), lists:reverse(S)}
    end.

add_transfer(To, {'ETS-TRANSFER', Tab, From, Data}, E, S) ->
    case Data of
        {ets, D} ->
            E1 = [norm({To, Tab, From, D}) | E],
            collect_transfers(E1, S, other_wait(E1, S));
        {shards, D} ->
            S1 = [norm({To, Tab, From, D}) | S],
            collect_transfers(E, S1, other_wait(E, S1));
        _ ->
            S1 = [{untagged, norm({To, Tab, From, Data})} | S],
            collect_transfers(E, S1, other_wait(E, S1))
    end.

other_wait(E, S) when length(E) =:= length(S) -> 0;
other_wait(_, _) -> ?MSG_MS.

give_away(Who, To, Gift) ->
    ToPid = pid_of(To),
    {E, Sh} = both(Who, current, fun(M, T) -> M:give_away(T, ToPid, {M, Gift}) end),
    Given = E =:= {ok, true},
    Given andalso stats_add(give_aways, 1),
    {EMsgs, SMsgs} = transfer_msgs(Given),
    remember_model(),
    {{E, EMsgs}, {Sh, SMsgs}}.

setopts_heir(Who, none, _Data) ->
    R = both(Who, current, fun(M, T) -> M:setopts(T, {heir, none}) end),
    remember_model(),
    R;
setopts_heir(Who, H, Data) ->
    HPid = pid_of(H),
    R = both(Who, current, fun(M, T) -> M:setopts(T, {heir, HPid, {M, Data}}) end),
    remember_model(),
    R.

delete_tab(Who, Addr) ->
    {E, Sh} = both(Who, Addr, fun(M, T) -> M:delete(T) end),
    E =:= {ok, true} andalso stats_add(deletions, 1),
    remember_model(),
    {E, Sh}.

rename(Who, Addr, N) ->
    [E, Sh] = [begin
                   T = tab(M, Addr),
                   R = run_as(Who, fun() -> M:rename(T, N) end),
                   case R of
                       {ok, New} when is_atom(New) -> set_current(M, New);
                       _ -> ok
                   end,
                   norm(R)
               end || M <- [ets, shards]],
    remember_model(),
    {E, Sh}.

%% Creates (and deletes again) a named table of the same type.
try_new(N) ->
    Type = get(stm_type),
    [E, Sh] = [begin
                   R = new(M, N, [Type, named_table], 1),
                   case R of
                       {ok, T} -> Id = M:whereis(T), M:delete(T),
                                  shards_test_util:subst(norm(R), [{Id, '$new_id'}]);
                       _ -> norm(R)
                   end
               end || M <- [ets, shards]],
    {E, Sh}.

%% The model's view of a deleted table (ets no longer tells owner, heir
%% and name once the table is gone).
remember_model() ->
    EtsId = tab(ets, id),
    case ets:info(EtsId, id) of
        undefined ->
            ok;
        _ ->
            put(stm_model_owner, owner(norm(ets:info(EtsId, owner)))),
            put(stm_model_heir, heir(norm(ets:info(EtsId, heir)))),
            put(stm_model_name, ets:info(EtsId, name))
    end.

%%%===================================================================
%%% Cleanup
%%%===================================================================

%% Deletes what is left (as the owner), kills the actors, and makes sure
%% no table of the pool's names outlives the sequence.
cleanup() ->
    Tabs = get(stm_tabs),
    [begin
         Id = maps:get(id, maps:get(M, Tabs)),
         case M:info(Id, owner) of
             undefined -> ok;
             Owner when Owner =:= self() -> catch M:delete(Id);
             Owner -> run_in_pid(Owner, fun() -> M:delete(Id) end)
         end
     end || M <- [ets, shards], Tabs =/= undefined],
    [begin
         MRef = monitor(process, P),
         exit(P, kill),
         receive {'DOWN', MRef, process, P, _} -> ok end
     end || P <- maps:values(get(stm_actors))],
    [wait_free(M, N) || M <- [ets, shards], N <- ?NAMES],
    flush_stray(),
    [erase(K) || K <- [stm_tabs, stm_actors, stm_type, stm_model_owner, stm_model_heir,
                       stm_model_name, stm_ghosts]],
    ok.

run_in_pid(Pid, F) ->
    Ref = make_ref(),
    Pid ! {run, Ref, F},
    receive {Ref, _} -> ok after ?CALL_MS -> ok end.

wait_free(M, N) ->
    wait_free(M, N, 2000).

wait_free(_M, _N, 0) ->
    ok;
wait_free(M, N, Tries) ->
    case M:whereis(N) of
        undefined -> ok;
        _ -> timer:sleep(1), wait_free(M, N, Tries - 1)
    end.

flush_stray() ->
    receive
        {actor_got, _, _} -> flush_stray();
        {'ETS-TRANSFER', _, _, _} -> flush_stray()
    after 0 -> ok
    end.

%%%===================================================================
%%% Statistics, printed at the end
%%%===================================================================

stats_init() ->
    catch ets:delete(stm_stats),
    ets:new(stm_stats, [named_table, public]),
    ets:insert(stm_stats, [{K, 0} || K <- [sequences, commands, owner_deaths, heir_transfers,
                                          give_aways, deletions, late_after_down,
                                          late_after_down_max_us, ets_ghost_key_steps]]).

stats_add(K, N) ->
    ets:update_counter(stm_stats, K, N, {K, 0}).

stats_max(K, V) ->
    case ets:lookup(stm_stats, K) of
        [{_, Old}] when Old >= V -> ok;
        _ -> ets:insert(stm_stats, {K, V})
    end.

stats_print() ->
    io:format(user, "~nshards_statem_tests: ~p~n", [lists:sort(ets:tab2list(stm_stats))]).
