%% @doc Configuration errors of the benchmark: a scenario asks for an
%% operation, table type or option a target does not support. They are
%% thrown as `{bench_config_error, Message}' and reported by
%% `shards_bench:main/0' before any measurement starts.
-module(shards_bench_error).

-export([raise/2]).

-spec raise(io:format(), [term()]) -> no_return().
raise(Format, Args) ->
    throw({bench_config_error, lists:flatten(io_lib:format(Format, Args))}).
