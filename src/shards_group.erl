%% @doc A group of tables under a dynamic supervisor, as in the original
%% shards library: tables are created and deleted at run time, each owned
%% by its own `shards_owner' process under the group's supervisor.
%%
%% Add the group to a supervision tree:
%%
%% ```
%% init(GroupName) ->
%%     {ok, {#{strategy => one_for_one}, [shards_group:child_spec(GroupName)]}}.
%% '''
%%
%% then create and delete tables:
%%
%% ```
%% {ok, Pid, mytab} = shards_group:new_table(GroupName, mytab, [named_table, public]),
%% ok = shards_group:del_table(GroupName, mytab).
%% '''
%%
%% The table is owned by the child process, not by the caller, so it
%% outlives the process that created it; pass `public' if processes other
%% than the owner must write to it (the ets default is `protected').
%%
%% Children are `permanent': when an owner crashes, its table is deleted
%% (or goes to its heir) and the supervisor starts a new owner with the same
%% name and options, that is, a new, empty table. Unnamed tables get a new
%% reference on restart. `del_table/2' and stopping the group delete the
%% tables before they return.
-module(shards_group).

-behaviour(supervisor).

-export([start_link/0, start_link/1, stop/1, stop/2, child_spec/1,
         new_table/3, del_table/2]).
-export([init/1]).

%% @equiv start_link(shards_group)
-spec start_link() -> supervisor:startlink_ret().
start_link() ->
    start_link(?MODULE).

%% @doc Starts a group registered as `Name', or unregistered for
%% `undefined'.
-spec start_link(atom() | undefined) -> supervisor:startlink_ret().
start_link(undefined) ->
    supervisor:start_link(?MODULE, undefined);
start_link(Name) when is_atom(Name) ->
    supervisor:start_link({local, Name}, ?MODULE, Name).

%% @equiv stop(SupRef, 5000)
-spec stop(atom() | pid()) -> ok.
stop(SupRef) ->
    stop(SupRef, 5000).

%% @doc Stops the group `SupRef' and deletes its tables.
-spec stop(atom() | pid(), timeout()) -> ok.
stop(SupRef, Timeout) ->
    gen_server:stop(SupRef, normal, Timeout).

%% @doc A child specification that starts the group `Name' (a supervisor).
-spec child_spec(atom() | undefined) -> supervisor:child_spec().
child_spec(Name) ->
    #{id => Name,
      start => {?MODULE, start_link, [Name]},
      type => supervisor}.

%% @doc Creates the table `TabName' with `shards:new(TabName, Options)',
%% owned by a new child of the group `SupRef'. Returns the owner's pid and
%% the table (its name for a `named_table', else its reference), or
%% `{error, Reason}' (see `shards_owner:start_link/2').
-spec new_table(atom() | pid(), atom(), [shards:option()]) ->
          {ok, pid(), shards:tab()} | {error, term()}.
new_table(SupRef, TabName, Options) when is_atom(SupRef); is_pid(SupRef) ->
    supervisor:start_child(SupRef, [TabName, Options]).

%% @doc Deletes the table `Tab' by stopping its owner, a child of `SupRef'.
%% `{error, not_found}' if there is no such table or the group does not own
%% it.
-spec del_table(atom() | pid(), shards:tab()) -> ok | {error, not_found}.
del_table(SupRef, Tab) when is_atom(SupRef); is_pid(SupRef) ->
    case shards:info(Tab, owner) of
        undefined -> {error, not_found};
        Owner -> supervisor:terminate_child(SupRef, Owner)
    end.

%% @private
-spec init(atom() | undefined) ->
          {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(_Name) ->
    Owner = #{id => shards_owner,
              start => {shards_owner, start_link, []},
              restart => permanent,
              shutdown => 5000,
              type => worker,
              modules => [shards_owner]},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Owner]}}.
