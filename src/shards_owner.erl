%% @doc A process that creates one shards table and owns it, so that the
%% table can sit in a supervision tree: `shards_group' starts these under a
%% dynamic supervisor, and Elixir's `{Shards, Opts}' child spec starts one.
%%
%% The table lives exactly as long as this process. On an orderly stop
%% (the supervisor's shutdown, `shards_group:del_table/2') the table is
%% deleted before the process exits, so its name is free as soon as the stop
%% returns. If the process crashes, the table goes to its heir, if it has
%% one, as with any owner; otherwise it is deleted, and a supervisor restart
%% creates a new, empty table with the same name and options.
-module(shards_owner).

-behaviour(gen_server).

-export([start_link/2, table/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% How long init waits for a dead owner's table to be gone (see create/3).
-define(NAME_RETRIES, 200).
-define(NAME_RETRY_MS, 5).

-record(state, {tab :: shards:tab(), ref :: reference()}).

%% @doc Starts an owner linked to the caller; it creates the table with
%% `shards:new(Name, Options)'. Returns the table (its name for a
%% `named_table', else its reference) with the pid, so that supervisors
%% report it as the child's extra info. Errors: `{error, {already_exists,
%% Name}}' when a live process owns a table of that name, else `{error,
%% Reason}' with the reason `shards:new/2' raised (`badarg' for bad options).
-spec start_link(atom(), [shards:option()]) -> {ok, pid(), shards:tab()} | {error, term()}.
start_link(Name, Options) ->
    case gen_server:start_link(?MODULE, {Name, Options}, []) of
        {ok, Pid} -> {ok, Pid, table(Pid)};
        {error, _} = Error -> Error
    end.

%% @doc The table owned by the owner process `Pid'.
-spec table(pid()) -> shards:tab().
table(Pid) -> gen_server:call(Pid, table).

%% @private
-spec init({atom(), [shards:option()]}) -> {ok, #state{}} | {stop, term()}.
init({Name, Options}) ->
    %% Trap exits so that a supervisor's shutdown runs terminate/2, which
    %% deletes the table before this process is gone.
    process_flag(trap_exit, true),
    case create(Name, Options, ?NAME_RETRIES) of
        {ok, Tab} -> {ok, #state{tab = Tab, ref = table_ref(Tab)}};
        {error, Reason} -> {stop, Reason}
    end.

%% A table's owner is deleted shortly after its owner dies, but the
%% supervisor may hear of the death (and restart us) first. So when the
%% name is taken by a table whose owner is dead, wait for it to go.
create(Name, Options, Retries) ->
    try
        {ok, shards:new(Name, Options)}
    catch
        error:badarg:St ->
            case cause(St) of
                already_exists -> name_taken(Name, Options, Retries);
                _ -> {error, badarg}
            end;
        error:Reason ->
            {error, Reason}
    end.

name_taken(Name, _Options, 0) ->
    {error, {already_exists, Name}};
name_taken(Name, Options, Retries) ->
    case shards:info(Name, owner) of
        undefined ->
            create(Name, Options, Retries - 1);
        Owner ->
            case is_process_alive(Owner) of
                true ->
                    {error, {already_exists, Name}};
                false ->
                    timer:sleep(?NAME_RETRY_MS),
                    create(Name, Options, Retries - 1)
            end
    end.

%% The `cause' shards gives in the error_info of its badarg errors.
cause([{shards, _, _, Info} | _]) ->
    maps:get(cause, proplists:get_value(error_info, Info, #{}), none);
cause(_) ->
    none.

%% The reference of the table, which keeps naming this table if it is
%% renamed (and its old name reused by another table).
table_ref(Tab) when is_reference(Tab) -> Tab;
table_ref(Name) -> shards:whereis(Name).

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(table, _From, #state{tab = Tab} = State) ->
    {reply, Tab, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
%% Exits of linked processes other than the parent (the parent's exit is
%% handled by gen_server) and stray messages are ignored.
-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(_Msg, State) ->
    {noreply, State}.

%% @private
%% Deletes the table if this process still owns it (it may have been given
%% away or deleted meanwhile).
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{ref = Ref}) ->
    case shards:info(Ref, owner) =:= self() of
        true -> _ = shards:delete(Ref), ok;
        false -> ok
    end.
