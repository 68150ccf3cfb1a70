%%% @doc shards_group and shards_owner: tables owned by children of a
%%% dynamic supervisor. Where a table's life can be compared with ets (a
%%% table whose owner is killed), the same scenario runs on an ets table
%%% owned by a plain process as the oracle.
-module(shards_group_tests).

-include_lib("eunit/include/eunit.hrl").

-define(WAIT_MS, 2000).

%% A fresh atom per call, so that a failed test leaves nothing behind for
%% the next one.
uniq(Prefix) ->
    list_to_atom(Prefix ++ "_" ++ integer_to_list(erlang:unique_integer([positive]))).

%% Starts an unregistered group, runs F(Group) and stops the group.
with_group(F) ->
    {ok, Group} = shards_group:start_link(undefined),
    try F(Group)
    after
        unlink(Group),
        catch shards_group:stop(Group)
    end.

%% Silences the supervisor's reports of children we kill on purpose.
quietly(F) ->
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    try F()
    after
        logger:set_primary_config(level, Level)
    end.

wait_until(F) -> wait_until(F, ?WAIT_MS).

wait_until(F, Left) when Left =< 0 -> ?assert(F());
wait_until(F, Left) ->
    case F() of
        true -> ok;
        false -> timer:sleep(5), wait_until(F, Left - 5)
    end.

start_link_registers_the_group_test() ->
    {ok, Pid} = shards_group:start_link(),
    ?assertEqual(Pid, whereis(shards_group)),
    unlink(Pid),
    ?assertEqual(ok, shards_group:stop(shards_group)),
    ?assertEqual(undefined, whereis(shards_group)),
    Name = uniq("named_group"),
    {ok, Pid2} = shards_group:start_link(Name),
    ?assertEqual(Pid2, whereis(Name)),
    unlink(Pid2),
    ?assertEqual(ok, shards_group:stop(Name, 1000)),
    ?assertEqual(undefined, whereis(Name)).

start_link_undefined_registers_nothing_test() ->
    Before = registered(),
    {ok, Pid} = shards_group:start_link(undefined),
    ?assertEqual(lists:sort(Before), lists:sort(registered())),
    unlink(Pid),
    ?assertEqual(ok, shards_group:stop(Pid)),
    ?assertNot(is_process_alive(Pid)).

new_table_named_test() ->
    with_group(
      fun(G) ->
              Name = uniq("grp_named"),
              {ok, Owner, Tab} = shards_group:new_table(G, Name, [named_table, public]),
              ?assertEqual(Name, Tab),
              ?assertEqual(Owner, shards:info(Tab, owner)),
              ?assertNotEqual(self(), Owner),
              ?assertEqual([{undefined, Owner, worker, [shards_owner]}],
                           supervisor:which_children(G)),
              ?assertEqual(Tab, shards_owner:table(Owner)),
              ?assert(shards:insert(Tab, {k, v})),
              ?assertEqual([{k, v}], shards:lookup(Tab, k))
      end).

new_table_unnamed_test() ->
    with_group(
      fun(G) ->
              {ok, Owner, Tab} = shards_group:new_table(G, grp_unnamed, [public, {partitions, 3}]),
              ?assert(is_reference(Tab)),
              ?assertEqual(Owner, shards:info(Tab, owner)),
              ?assertEqual(3, shards:info(Tab, partitions)),
              ?assertEqual(grp_unnamed, shards:info(Tab, name))
      end).

%% The options are those of shards:new/2: ets's default access is
%% protected, so only the owner may write, as with ets.
new_table_keeps_ets_access_rules_test() ->
    with_group(
      fun(G) ->
              {ok, _Owner, Tab} = shards_group:new_table(G, grp_protected, []),
              ?assertEqual(protected, shards:info(Tab, protection)),
              ?assertEqual([], shards:lookup(Tab, k)),
              ?assertError(badarg, shards:insert(Tab, {k, v}))
      end).

%% The caller that created the table may die: the group's child owns it.
table_survives_its_creator_test() ->
    with_group(
      fun(G) ->
              Name = uniq("grp_survivor"),
              Self = self(),
              {Creator, Mon} =
                  spawn_monitor(fun() ->
                                        {ok, _, T} = shards_group:new_table(G, Name, [named_table, public]),
                                        true = shards:insert(T, {from_creator, 1}),
                                        Self ! created
                                end),
              receive created -> ok after ?WAIT_MS -> error(timeout) end,
              receive {'DOWN', Mon, process, Creator, _} -> ok after ?WAIT_MS -> error(timeout) end,
              ?assertEqual([{from_creator, 1}], shards:lookup(Name, from_creator))
      end).

del_table_test() ->
    with_group(
      fun(G) ->
              Name = uniq("grp_del"),
              {ok, Owner, Name} = shards_group:new_table(G, Name, [named_table]),
              ?assertEqual(ok, shards_group:del_table(G, Name)),
              %% deleted before del_table returns, so the name is free at once
              ?assertEqual(undefined, shards:whereis(Name)),
              ?assertNot(is_process_alive(Owner)),
              ?assertEqual([], supervisor:which_children(G)),
              {ok, _, Name} = shards_group:new_table(G, Name, [named_table]),
              ?assertEqual(ok, shards_group:del_table(G, Name))
      end).

del_table_by_reference_test() ->
    with_group(
      fun(G) ->
              {ok, _Owner, Tab} = shards_group:new_table(G, grp_del_ref, []),
              ?assertEqual(ok, shards_group:del_table(G, Tab)),
              ?assertEqual(undefined, shards:info(Tab, id))
      end).

del_table_not_found_test() ->
    with_group(
      fun(G) ->
              ?assertEqual({error, not_found}, shards_group:del_table(G, uniq("no_such_tab"))),
              %% a table owned by someone else is not the group's to delete
              Mine = shards:new(grp_not_mine, []),
              ?assertEqual({error, not_found}, shards_group:del_table(G, Mine)),
              ?assertEqual(self(), shards:info(Mine, owner)),
              shards:delete(Mine),
              ?assertEqual({error, not_found}, shards_group:del_table(G, Mine)),
              %% as ets:info/2, a term that cannot name a table is badarg
              ?assertError(badarg, shards_group:del_table(G, 42))
      end).

new_table_errors_test() ->
    quietly(fun new_table_errors/0).

new_table_errors() ->
    with_group(
      fun(G) ->
              Name = uniq("grp_taken"),
              Mine = shards:new(Name, [named_table]),
              ?assertEqual({error, {already_exists, Name}},
                           shards_group:new_table(G, Name, [named_table])),
              shards:delete(Mine),
              ?assertEqual({error, badarg}, shards_group:new_table(G, grp_bad, [{keypos, 0}])),
              ?assertEqual({error, badarg}, shards_group:new_table(G, grp_bad, not_a_list)),
              ?assertEqual([], supervisor:which_children(G))
      end).

%% Killing the owner deletes the table (as for an ets table whose owner is
%% killed); the supervisor restarts the owner, which makes a new empty table
%% under the same name. Repeated, because the restart races with the
%% deletion of the old table.
owner_crash_recreates_table_test_() ->
    {timeout, 60, fun owner_crash_recreates_table/0}.

owner_crash_recreates_table() ->
    quietly(
      fun() ->
              with_group(
                fun(G) ->
                        Name = uniq("grp_crash"),
                        {ok, Owner0, Name} = shards_group:new_table(G, Name, [named_table, public]),
                        lists:foldl(fun(_, Owner) -> crash_and_restart(G, Name, Owner) end,
                                    Owner0, lists:seq(1, 8)),
                        ok
                end)
      end).

crash_and_restart(G, Name, Owner) ->
    true = shards:insert(Name, {k, Owner}),
    Ref = shards:whereis(Name),
    %% the oracle: an ets table whose owner is killed the same way
    {EtsOwner, EtsTab} = ets_owner(),
    exit(EtsOwner, kill),
    exit(Owner, kill),
    wait_until(fun() -> ets:info(EtsTab, id) =:= undefined end),
    wait_until(fun() -> shards:info(Ref, id) =:= undefined end),
    wait_until(fun() ->
                       case supervisor:which_children(G) of
                           [{_, New, _, _}] when is_pid(New), New =/= Owner ->
                               shards:info(Name, owner) =:= New;
                           _ ->
                               false
                       end
               end),
    [{_, NewOwner, _, _}] = supervisor:which_children(G),
    ?assertEqual(0, shards:info(Name, size)),
    ?assertEqual(public, shards:info(Name, protection)),
    NewOwner.

ets_owner() ->
    Self = self(),
    Pid = spawn(fun() ->
                        T = ets:new(grp_oracle, [public]),
                        Self ! {tab, self(), T},
                        receive never -> ok end
                end),
    receive {tab, Pid, T} -> {Pid, T} after ?WAIT_MS -> error(timeout) end.

%% With a heir, a crashed owner's table goes to the heir, as with ets; the
%% restarted owner finds the name taken by a live process and fails.
owner_crash_with_heir_test() ->
    quietly(
      fun() ->
              {ok, G} = shards_group:start_link(undefined),
              unlink(G),
              Name = uniq("grp_heir"),
              {ok, Owner, Name} =
                  shards_group:new_table(G, Name, [named_table, {heir, self(), gift}]),
              GMon = monitor(process, G),
              exit(Owner, kill),
              receive
                  {'ETS-TRANSFER', Name, Owner, gift} -> ok
              after ?WAIT_MS -> error(no_transfer)
              end,
              ?assertEqual(self(), shards:info(Name, owner)),
              %% the group keeps failing to restart the owner and gives up
              receive
                  {'DOWN', GMon, process, G, Reason} -> ?assertEqual(shutdown, Reason)
              after 5 * ?WAIT_MS -> error(group_still_alive)
              end,
              shards:delete(Name)
      end).

stop_deletes_the_tables_test() ->
    {ok, G} = shards_group:start_link(undefined),
    unlink(G),
    A = uniq("grp_stop_a"),
    {ok, _, A} = shards_group:new_table(G, A, [named_table]),
    {ok, _, B} = shards_group:new_table(G, grp_stop_b, []),
    ?assertEqual(ok, shards_group:stop(G)),
    ?assertEqual(undefined, shards:whereis(A)),
    ?assertEqual(undefined, shards:info(B, id)).

%% A renamed table is still the owner's: stopping deletes it under its new
%% name, and leaves alone a new table that took the old name.
stop_deletes_a_renamed_table_test() ->
    with_group(
      fun(G) ->
              Old = uniq("grp_old"),
              New = uniq("grp_new"),
              {ok, _, Old} = shards_group:new_table(G, Old, [named_table, public]),
              ?assertEqual(New, shards:rename(Old, New)),
              Other = shards:new(Old, [named_table]),
              ?assertEqual(ok, shards_group:del_table(G, New)),
              ?assertEqual(undefined, shards:whereis(New)),
              ?assertEqual(self(), shards:info(Other, owner)),
              shards:delete(Other)
      end).

child_spec_test() ->
    Name = uniq("grp_child"),
    ?assertEqual(#{id => Name, start => {shards_group, start_link, [Name]}, type => supervisor},
                 shards_group:child_spec(Name)),
    {ok, Sup} = supervisor:start_link(sup_cb(), [shards_group:child_spec(Name)]),
    ?assertMatch([{Name, _, supervisor, _}], supervisor:which_children(Sup)),
    Tab = uniq("grp_child_tab"),
    {ok, _, Tab} = shards_group:new_table(Name, Tab, [named_table]),
    unlink(Sup),
    ok = gen_server:stop(Sup),
    ?assertEqual(undefined, whereis(Name)),
    ?assertEqual(undefined, shards:whereis(Tab)).

%% A one_for_one supervisor with the given children (this module is its
%% callback module through sup_cb/0).
sup_cb() -> shards_group_tests_sup.

%% A table is deleted shortly after its owner dies, possibly after the
%% owner's monitors fire; an owner started right after the 'DOWN' must still
%% get the name (shards_owner waits for the dead owner's table to go).
owner_start_right_after_down_test_() ->
    {timeout, 60, fun owner_start_right_after_down/0}.

owner_start_right_after_down() ->
    Name = uniq("grp_after_down"),
    Self = self(),
    lists:foreach(
      fun(_) ->
              {P, Mon} = spawn_monitor(fun() ->
                                               _ = shards:new(Name, [named_table]),
                                               Self ! made,
                                               receive never -> ok end
                                       end),
              receive made -> ok after ?WAIT_MS -> error(timeout) end,
              exit(P, kill),
              receive {'DOWN', Mon, process, P, killed} -> ok end,
              {ok, Owner, Name} = shards_owner:start_link(Name, [named_table]),
              unlink(Owner),
              ok = gen_server:stop(Owner)
      end, lists:seq(1, 2000)).
