%%% @doc Table lifecycle compared with ets: owner death, heir, give_away,
%%% setopts(heir), deleted tables, access from other processes.
%%%
%%% Every scenario is a fun of the module (ets or shards) that returns a
%%% trace; pids and table ids of the run are replaced by placeholders and
%%% the ets trace must equal the shards trace (for 1, 2, 7, 64 partitions).
-module(shards_lifecycle_tests).

-include_lib("eunit/include/eunit.hrl").

-import(shards_test_util,
        [r/1, subst/2, in_proc/1, partitions/0,
         spawn_holder/0, stop_holder/1, dead_pid/0, wait_down/1]).

-define(MSG_TIMEOUT, 1000).
-define(NO_MSG_TIMEOUT, 150).

%% Runs Scenario(ets, 1) and Scenario(shards, P) for each P; each returns
%% a trace that must be the same. Every run gets a fresh table name (so
%% that a table left behind by a failure does not spoil the next run),
%% replaced by '$name' in the trace.
cmp(Scenario) ->
    Run = fun(M, P) ->
                  Name = list_to_atom("lc_tab_" ++
                                          integer_to_list(erlang:unique_integer([positive]))),
                  put(lc_name, Name),
                  subst(Scenario(M, P), [{Name, '$name'}])
          end,
    try
        E = Run(ets, 1),
        [shards_test_util:assert_same({?MODULE, get(test_label)},
                                      {partitions, P, E}, {partitions, P, Run(shards, P)})
         || P <- partitions()],
        ok
    after
        erase(test_label)
    end.

%% The table name of the current run.
name() -> get(lc_name).

new_tab(M, Opts, P) -> new_tab(M, name(), Opts, P).

new_tab(ets, Name, Opts, _P) -> ets:new(Name, Opts);
new_tab(shards, Name, Opts, P) -> shards:new(Name, [{partitions, P} | Opts]).

%% A process that creates a table, reports it and then runs the funs it
%% is sent, until told to die.
spawn_owner(M, Opts, P) ->
    Self = self(),
    Ref = make_ref(),
    Name = name(),
    Pid = spawn(fun() ->
                        T = new_tab(M, Name, Opts, P),
                        Self ! {Ref, T},
                        owner_loop()
                end),
    receive
        {Ref, T} -> {Pid, T}
    after 3000 ->
            error(owner_timeout)
    end.

owner_loop() ->
    receive
        die ->
            ok;
        {run, From, Ref, F} ->
            From ! {Ref, r(F)},
            owner_loop()
    end.

%% Runs F in the process Pid (an owner or a holder) and returns r(F).
run_in(Pid, F) ->
    Ref = make_ref(),
    Pid ! {run, self(), Ref, F},
    receive
        {Ref, Res} -> Res
    after 3000 ->
            {timeout, Pid}
    end.

kill(Pid) ->
    MRef = monitor(process, Pid),
    Pid ! die,
    wait_down(MRef).

%% The next message forwarded by the holder H (or `no_message').
holder_msg(H) ->
    receive
        {holder_got, H, Msg} -> Msg
    after ?MSG_TIMEOUT ->
            no_message
    end.

no_more_holder_msg(H) ->
    receive
        {holder_got, H, Msg} -> {unexpected, Msg}
    after ?NO_MSG_TIMEOUT ->
            none
    end.

self_transfer_msg() ->
    receive
        {'ETS-TRANSFER', _, _, _} = Msg -> Msg
    after ?MSG_TIMEOUT ->
            no_message
    end.

%% Table ids in a trace: the value returned by new (name or id) and the
%% id found by whereis/1 for named tables.
norm(M, T, Trace, Extra) ->
    Ids = case is_atom(T) of
              true ->
                  case M:whereis(T) of
                      undefined -> [{T, '$tab'}];
                      Id -> [{T, '$tab'}, {Id, '$tab_id'}]
                  end;
              false ->
                  [{T, '$tab'}]
          end,
    subst(Trace, Ids ++ Extra).

opts_variants() ->
    [{"unnamed", [public]}, {"named", [public, named_table]},
     {"protected named", [protected, named_table]},
     {"private", [private]}].

%%%===================================================================
%%% Owner dies
%%%===================================================================

owner_dies_test_() ->
    [{Name, {timeout, 30,
             fun() ->
                     put(test_label, {owner_dies, Name}),
                     cmp(fun(M, P) -> owner_dies(M, P, Opts) end)
             end}}
     || {Name, Opts} <- opts_variants()].

owner_dies(M, P, Opts) ->
    {Owner, T} = spawn_owner(M, Opts, P),
    Id = case is_atom(T) of true -> M:whereis(T); false -> T end,
    Before = [run_in(Owner, fun() -> M:insert(T, {k, 1}) end),
              r(fun() -> M:lookup(T, k) end),
              r(fun() -> M:info(T, owner) =:= Owner end),
              lists:member(T, M:all())],
    kill(Owner),
    After = [r(fun() -> M:lookup(T, k) end),
             r(fun() -> M:insert(T, {k, 2}) end),
             r(fun() -> M:lookup(Id, k) end),
             r(fun() -> M:info(T) end),
             r(fun() -> M:info(T, size) end),
             r(fun() -> M:delete(T) end),
             lists:member(T, M:all()),
             lists:member(Id, M:all()),
             M:whereis(name())],
    %% the name is free again
    Again = case r(fun() -> new_tab(M, Opts, P) end) of
                {ok, T2} ->
                    R = {ok, M:info(T2, owner) =:= self(), T2 =:= T},
                    M:delete(T2),
                    R;
                Err ->
                    Err
            end,
    norm(M, T, {Before, After, Again}, [{Id, '$id'}, {Owner, '$owner'}]).

%%%===================================================================
%%% Heir
%%%===================================================================

heir_test_() ->
    [{Name, {timeout, 30,
             fun() ->
                     put(test_label, {heir, Name}),
                     cmp(fun(M, P) -> heir(M, P, Opts) end)
             end}}
     || {Name, Opts} <- opts_variants()] ++
        [{"heir dies before the owner",
          {timeout, 30, fun() -> put(test_label, heir_dead), cmp(fun heir_dead/2) end}},
         {"heir is the owner itself",
          {timeout, 30, fun() -> put(test_label, heir_is_owner), cmp(fun heir_is_owner/2) end}},
         {"heir set by setopts",
          {timeout, 30, fun() -> put(test_label, heir_by_setopts), cmp(fun heir_by_setopts/2) end}},
         {"heir removed by setopts",
          {timeout, 30, fun() -> put(test_label, heir_removed), cmp(fun heir_removed/2) end}}].

heir(M, P, Opts) ->
    H = spawn_holder(),
    {Owner, T} = spawn_owner(M, [{heir, H, {heir_data, [1, 2.0]}} | Opts], P),
    Setup = [run_in(Owner, fun() -> M:insert(T, [{k, 1}, {j, 2}]) end),
             r(fun() -> M:info(T, heir) end)],
    kill(Owner),
    Msg = holder_msg(H),
    After = [no_more_holder_msg(H),
             r(fun() -> M:info(T, owner) end),
             r(fun() -> M:info(T, heir) end),
             run_in(H, fun() -> lists:sort(M:tab2list(T)) end),
             run_in(H, fun() -> M:insert(T, {by_heir, 1}) end),
             run_in(H, fun() -> M:lookup(T, by_heir) end),
             r(fun() -> M:insert(T, {by_other, 1}) end),
             r(fun() -> M:lookup(T, k) end)],
    %% the heir dies in turn: the table is gone
    stop_holder(H),
    Gone = [r(fun() -> M:lookup(T, k) end), lists:member(T, M:all())],
    norm(M, T, {Setup, Msg, After, Gone}, [{Owner, '$owner'}, {H, '$heir'}]).

heir_dead(M, P) ->
    Dead = dead_pid(),
    {Owner, T} = spawn_owner(M, [public, {heir, Dead, x}], P),
    Info = r(fun() -> M:info(T, heir) end),
    kill(Owner),
    norm(M, T, {Info, r(fun() -> M:lookup(T, k) end)}, [{Owner, '$owner'}, {Dead, '$dead'}]).

heir_is_owner(M, P) ->
    Self = self(),
    Ref = make_ref(),
    Name = name(),
    Owner = spawn(fun() ->
                          T = new_tab(M, Name, [public, {heir, self(), mine}], P),
                          Self ! {Ref, T},
                          owner_loop()
                  end),
    T = receive {Ref, T0} -> T0 after 3000 -> error(timeout) end,
    Info = r(fun() -> M:info(T, heir) end),
    kill(Owner),
    norm(M, T, {Info, r(fun() -> M:lookup(T, k) end)}, [{Owner, '$owner'}]).

heir_by_setopts(M, P) ->
    H = spawn_holder(),
    {Owner, T} = spawn_owner(M, [protected], P),
    Set = [run_in(Owner, fun() -> M:setopts(T, {heir, H, set_later}) end),
           r(fun() -> M:info(T, heir) end),
           %% only the owner may set the heir
           r(fun() -> M:setopts(T, {heir, self(), not_me}) end),
           r(fun() -> M:info(T, heir) end),
           run_in(Owner, fun() -> M:insert(T, {k, v}) end)],
    kill(Owner),
    Msg = holder_msg(H),
    After = [r(fun() -> M:info(T, owner) end),
             run_in(H, fun() -> M:lookup(T, k) end)],
    stop_holder(H),
    norm(M, T, {Set, Msg, After}, [{Owner, '$owner'}, {H, '$heir'}]).

heir_removed(M, P) ->
    H = spawn_holder(),
    {Owner, T} = spawn_owner(M, [public, {heir, H, x}], P),
    Set = [run_in(Owner, fun() -> M:setopts(T, [{heir, none}]) end),
           r(fun() -> M:info(T, heir) end)],
    kill(Owner),
    After = [no_more_holder_msg(H), r(fun() -> M:lookup(T, k) end)],
    stop_holder(H),
    norm(M, T, {Set, After}, [{Owner, '$owner'}, {H, '$heir'}]).

%%%===================================================================
%%% give_away
%%%===================================================================

give_away_test_() ->
    [{Name, {timeout, 30,
             fun() ->
                     put(test_label, {give_away, Name}),
                     cmp(fun(M, P) -> give_away(M, P, Opts) end)
             end}}
     || {Name, Opts} <- opts_variants()].

give_away(M, P, Opts) ->
    H = spawn_holder(),
    T = new_tab(M, Opts, P),
    Me = self(),
    Steps1 = [r(fun() -> M:insert(T, {k, 1}) end),
              r(fun() -> M:give_away(T, H, {gift, <<"data">>}) end)],
    Msg1 = holder_msg(H),
    Steps2 = [r(fun() -> M:info(T, owner) end),
              %% the old owner is now an ordinary process
              r(fun() -> M:insert(T, {old_owner, 1}) end),
              r(fun() -> M:lookup(T, k) end),
              r(fun() -> M:give_away(T, H, again) end),
              r(fun() -> M:setopts(T, {heir, none}) end),
              run_in(H, fun() -> M:insert(T, {new_owner, 1}) end),
              run_in(H, fun() -> M:give_away(T, H, to_self) end),
              %% and back to us
              run_in(H, fun() -> M:give_away(T, Me, back) end)],
    Msg2 = self_transfer_msg(),
    Steps3 = [r(fun() -> M:info(T, owner) end),
              r(fun() -> M:insert(T, {back_home, 1}) end),
              r(fun() -> lists:sort(M:tab2list(T)) end)],
    stop_holder(H),
    Alive = r(fun() -> M:info(T, size) end),
    M:delete(T),
    norm(M, T, {Steps1, Msg1, Steps2, Msg2, Steps3, Alive},
         [{H, '$holder'}, {Me, '$me'}]).

%% The new owner dies: the table goes with it.
give_away_then_die_test() ->
    put(test_label, give_away_then_die),
    cmp(fun(M, P) ->
                H = spawn_holder(),
                T = new_tab(M, [public], P),
                R1 = r(fun() -> M:give_away(T, H, g) end),
                Msg = holder_msg(H),
                stop_holder(H),
                norm(M, T, {R1, Msg, r(fun() -> M:lookup(T, k) end)}, [{H, '$holder'}])
        end).

%%%===================================================================
%%% Deleted tables and other processes
%%%===================================================================

deleted_while_held_test() ->
    put(test_label, deleted_while_held),
    cmp(fun(M, P) ->
                H = spawn_holder(),
                T = new_tab(M, [public], P),
                M:insert(T, {k, 1}),
                R1 = run_in(H, fun() -> M:lookup(T, k) end),
                M:delete(T),
                R2 = run_in(H, fun() -> M:lookup(T, k) end),
                R3 = run_in(H, fun() -> M:insert(T, {k, 2}) end),
                R4 = run_in(H, fun() -> M:info(T, size) end),
                stop_holder(H),
                norm(M, T, {R1, R2, R3, R4}, [])
        end).

%% A process deletes the table while others hammer it: every worker ends
%% with the same error as with ets (badarg, cause id).
delete_under_load_test_() ->
    {timeout, 60, fun() -> put(test_label, delete_under_load), cmp(fun delete_under_load/2) end}.

delete_under_load(M, P) ->
    T = new_tab(M, [public], P),
    Self = self(),
    Workers = [spawn(fun() -> hammer(M, Self, T, I, 0) end) || I <- lists:seq(1, 4)],
    timer:sleep(50),
    Deleted = r(fun() -> M:delete(T) end),
    Results = [receive {hammer_done, W, R} -> R after 3000 -> timeout end
               || W <- Workers],
    {Deleted, Results}.

%% Same, with the owner dying instead of deleting the table.
owner_dies_under_load_test_() ->
    {timeout, 60,
     fun() -> put(test_label, owner_dies_under_load), cmp(fun owner_dies_under_load/2) end}.

owner_dies_under_load(M, P) ->
    {Owner, T} = spawn_owner(M, [public], P),
    Self = self(),
    Workers = [spawn(fun() -> hammer(M, Self, T, I, 0) end) || I <- lists:seq(1, 4)],
    timer:sleep(50),
    kill(Owner),
    Results = [receive {hammer_done, W, R} -> R after 3000 -> timeout end
               || W <- Workers],
    {Results, lists:member(T, M:all())}.

hammer(M, Parent, T, I, N) ->
    R = r(fun() ->
                  true = M:insert(T, {{I, N rem 100}, N}),
                  _ = M:lookup(T, {I, (N + 7) rem 100}),
                  _ = M:insert_new(T, [{{I, x, N rem 50}, 1}, {{I, y, N rem 50}, 2}]),
                  true = M:delete(T, {I, (N + 3) rem 100}),
                  ok
          end),
    case R of
        {ok, ok} -> hammer(M, Parent, T, I, N + 1);
        _ -> Parent ! {hammer_done, self(), R}
    end.

named_from_other_process_test() ->
    put(test_label, named_from_other_process),
    cmp(fun(M, P) ->
                T = new_tab(M, [protected, named_table], P),
                Name = name(),
                M:insert(T, {k, 1}),
                R = [in_proc(fun() -> M:lookup(Name, k) end),
                     in_proc(fun() -> M:member(Name, k) end),
                     in_proc(fun() -> M:info(Name, owner) end),
                     in_proc(fun() -> M:whereis(Name) =/= undefined end),
                     in_proc(fun() -> M:insert(Name, {k, 2}) end),
                     in_proc(fun() -> M:lookup(M:whereis(Name), k) end)],
                M:delete(T),
                norm(M, T, R, [])
        end).

access_after_transfer_test() ->
    put(test_label, access_after_transfer),
    cmp(fun(M, P) ->
                H = spawn_holder(),
                T = new_tab(M, [private], P),
                M:insert(T, {k, 1}),
                R1 = run_in(H, fun() -> M:lookup(T, k) end),
                R2 = r(fun() -> M:give_away(T, H, g) end),
                _ = holder_msg(H),
                R3 = r(fun() -> M:lookup(T, k) end),
                R4 = run_in(H, fun() -> M:lookup(T, k) end),
                R5 = run_in(H, fun() -> M:insert(T, {h, 1}) end),
                R6 = r(fun() -> M:info(T, owner) end),
                R7 = r(fun() -> M:info(T, protection) end),
                R8 = run_in(H, fun() -> M:delete(T) end),
                R9 = r(fun() -> M:lookup(T, k) end),
                stop_holder(H),
                norm(M, T, {R1, R2, R3, R4, R5, R6, R7, R8, R9}, [{H, '$holder'}])
        end).
