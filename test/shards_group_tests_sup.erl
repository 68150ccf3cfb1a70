%%% @doc A one_for_one supervisor with the children it is given, for
%%% shards_group_tests.
-module(shards_group_tests_sup).

-behaviour(supervisor).

-export([init/1]).

init(Children) ->
    {ok, {#{strategy => one_for_one}, Children}}.
