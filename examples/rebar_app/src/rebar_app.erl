-module(rebar_app).

-export([run/0]).

%% @doc Creates a table, inserts a value, reads it back and returns it.
-spec run() -> term().
run() ->
    Tab = shards:new(rebar_app_table, [set]),
    true = shards:insert(Tab, {greeting, <<"hello from shards">>}),
    [{greeting, Value}] = shards:lookup(Tab, greeting),
    true = shards:delete(Tab),
    Value.
