%% @doc The code behind `basho_bench_driver_shards' and
%% `basho_bench_driver_ets_shared': one public named table shared by all
%% basho_bench workers, and the operations run on it.
%%
%% basho_bench calls `new(Id)' in every worker process, concurrently. The
%% first call starts a holder process that registers itself, creates the
%% table and keeps it alive for the rest of the run (a table dies with its
%% owner, and a worker may exit early); the other calls wait until the table
%% exists. The table's handle, not its name, goes into each worker's state.
%%
%% Configuration, read from basho_bench's config (its application env) with
%% the table module as prefix, e.g. for shards:
%%   {shards_table_name, Name}       default basho_bench_shards
%%   {shards_table_options, Opts}    passed to shards:new/2, plus public and
%%                                   named_table (the driver adds them)
%%
%% Operations (keys and values come from basho_bench's generators):
%%   get             lookup(Key)
%%   put             insert({Key, Value})
%%   delete          delete(Key)
%%   update_counter  update_counter({counter, Key}, {2, 1}, {{counter, Key}, 0}):
%%                   counters use their own keys, since put stores binaries
%%   select          select([{{Key, '_'}, [], ['$_']}]), a select on a bound key
%% Each returns `{ok, State}', or `{error, Reason, State}' when the call
%% raises or the table module lacks the function.
-module(basho_bench_shared_table).

-export([new/2, run/4, stop/1]).

-record(state, {mod :: module(), tab :: term(), has_select :: boolean()}).

-opaque state() :: #state{}.
-export_type([state/0]).

-define(WAIT_MS, 10000).

%% @doc Joins (or creates) the shared table of `Mod' (`ets' or `shards').
-spec new(module(), [term()]) -> {ok, state()}.
new(Mod, DefaultOptions) ->
    Name = config(Mod, "table_name", list_to_atom("basho_bench_" ++ atom_to_list(Mod))),
    Options = config(Mod, "table_options", DefaultOptions),
    Tab = ensure_table(Mod, Name, Options),
    _ = code:ensure_loaded(Mod),
    {ok, #state{mod = Mod, tab = Tab, has_select = erlang:function_exported(Mod, select, 2)}}.

-spec run(atom(), fun(() -> term()), fun(() -> term()), state()) ->
          {ok, state()} | {error, term(), state()}.
run(Op, KeyGen, ValueGen, State) ->
    try operation(Op, KeyGen, ValueGen, State) of
        ok -> {ok, State}
    catch
        error:Reason -> {error, Reason, State}
    end.

operation(get, KeyGen, _, #state{mod = M, tab = T}) ->
    _ = M:lookup(T, KeyGen()),
    ok;
operation(put, KeyGen, ValueGen, #state{mod = M, tab = T}) ->
    true = M:insert(T, {KeyGen(), ValueGen()}),
    ok;
operation(delete, KeyGen, _, #state{mod = M, tab = T}) ->
    true = M:delete(T, KeyGen()),
    ok;
operation(update_counter, KeyGen, _, #state{mod = M, tab = T}) ->
    Key = {counter, KeyGen()},
    _ = M:update_counter(T, Key, {2, 1}, {Key, 0}),
    ok;
operation(select, _, _, #state{mod = M, has_select = false}) ->
    error({not_supported, {M, select, 2}});
operation(select, KeyGen, _, #state{mod = M, tab = T}) ->
    _ = M:select(T, [{{KeyGen(), '_'}, [], ['$_']}]),
    ok;
operation(Op, _, _, _) ->
    error({unknown_operation, Op}).

%% @doc Deletes the shared table of `Mod' (stops its holder); for tests and
%% shells, basho_bench itself never calls it.
-spec stop(module()) -> ok.
stop(Mod) ->
    Name = config(Mod, "table_name", list_to_atom("basho_bench_" ++ atom_to_list(Mod))),
    case whereis(holder_name(Name)) of
        undefined ->
            ok;
        Pid ->
            Ref = monitor(process, Pid),
            exit(Pid, kill),
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            wait(fun() -> Mod:whereis(Name) =:= undefined end, ?WAIT_MS)
    end.

%%% Internals

config(Mod, Key, Default) ->
    application:get_env(basho_bench, list_to_atom(atom_to_list(Mod) ++ "_" ++ Key), Default).

ensure_table(Mod, Name, Options) ->
    case Mod:whereis(Name) of
        undefined ->
            start_holder(Mod, Name, Options),
            ok = wait(fun() -> Mod:whereis(Name) =/= undefined end, ?WAIT_MS),
            Mod:whereis(Name);
        Tab ->
            Tab
    end.

%% The holder registers a name first: only one of the racing workers'
%% holders gets it; the others exit and their workers wait for the table.
start_holder(Mod, Name, Options) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> holder(Self, Mod, Name, Options) end),
    receive
        {Pid, created} -> demonitor(Ref, [flush]), ok;
        {'DOWN', Ref, process, Pid, lost_race} -> ok;
        {'DOWN', Ref, process, Pid, Reason} -> error({cannot_create_table, Mod, Name, Reason})
    end.

holder(Parent, Mod, Name, Options) ->
    try register(holder_name(Name), self())
    catch error:badarg -> exit(lost_race)
    end,
    _ = Mod:new(Name, [public, named_table | Options -- [public, protected, private]]),
    Parent ! {self(), created},
    receive stop -> ok end.  % nothing sends it: stop/1 kills the holder

holder_name(Name) -> list_to_atom(atom_to_list(Name) ++ "_holder").

wait(Done, Ms) ->
    case Done() of
        true -> ok;
        false when Ms =< 0 -> error(timeout);
        false -> timer:sleep(1), wait(Done, Ms - 1)
    end.
