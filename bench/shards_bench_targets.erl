%% @doc The tables the benchmark compares. Every target is driven through
%% the same ets-style calls (`Mod:lookup(Tab, Key)', ...), so the load
%% generator treats them alike:
%%
%% - `ets': `ets' tuned for concurrency, `{write_concurrency, auto}' and
%%   `{read_concurrency, true}'. This is the reference for the ratios;
%% - `ets_plain': `ets' with default options (one table lock);
%% - `sharded_ets': N tuned ets tables chosen by `erlang:phash2(Key, N)'
%%   (see `sharded_ets'), the original shards design;
%% - `shards': this project's tables, default options.
%%
%% `sharded_ets' and `shards' get one partition per online scheduler, or
%% `PARTITIONS' from the environment.
-module(shards_bench_targets).

-export([all/0, reference/0, module/1, options/2, new/2, describe/1]).

-export_type([target/0, table/0]).

-type target() :: ets | ets_plain | sharded_ets | shards.
%% A created table: the module to call and the handle to pass.
-type table() :: {module(), term()}.

-spec all() -> [target()].
all() -> [ets, ets_plain, sharded_ets, shards].

%% @doc The target the others are compared with.
-spec reference() -> target().
reference() -> ets.

-spec module(target()) -> module().
module(ets) -> ets;
module(ets_plain) -> ets;
module(sharded_ets) -> sharded_ets;
module(shards) -> shards.

-spec options(target(), atom()) -> [term()].
options(ets, Type) -> [Type, public, {write_concurrency, auto}, {read_concurrency, true}];
options(ets_plain, Type) -> [Type, public];
options(sharded_ets, Type) -> options(ets, Type) ++ partitions();
options(shards, Type) -> [Type, public | partitions()].

%% @doc Creates an empty table of `Type', or throws a readable
%% `{bench_config_error, Message}' when the target cannot make one.
-spec new(target(), atom()) -> table().
new(Target, Type) ->
    Mod = module(Target),
    Opts = options(Target, Type),
    try
        {Mod, Mod:new(bench_table, Opts)}
    catch
        Class:Reason ->
            shards_bench_error:raise("~s cannot create a table of type ~s: ~s:new(bench_table, ~0p) "
                                     "raised ~s:~0p", [Target, Type, Mod, Opts, Class, Reason])
    end.

%% @doc A one-line description, for the run's header.
-spec describe(target()) -> iolist().
describe(Target) ->
    io_lib:format("~-12s ~s:new(_, ~0p)", [Target, module(Target), options(Target, set)]).

partitions() ->
    case os:getenv("PARTITIONS") of
        false -> [];
        "" -> [];
        N -> [{partitions, list_to_integer(N)}]
    end.
