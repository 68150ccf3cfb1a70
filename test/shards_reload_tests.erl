%%% @doc Loading the NIF library again: `l(shards_nif)' with live tables
%%% (an upgrade), `code:delete/1' + `code:purge/1' + `code:load_file/1'
%%% with and without live tables, `init:restart()', and another build of
%%% the library loaded over one with live tables (refused with a clear
%%% error, the loaded code staying in use). Each runs in a child node or a
%%% child VM, so that a crash fails the test instead of the run.
-module(shards_reload_tests).

-include_lib("eunit/include/eunit.hrl").

-export([upgrade/0, reload_without_tables/0, reload_with_tables/0, other_build/1,
         other_build_without_tables/1]).

reload_test_() ->
    {timeout, 300,
     [{"l(shards_nif) with live tables", fun() -> in_peer(upgrade, []) end},
      {"delete, purge and load without tables", fun() -> in_peer(reload_without_tables, []) end},
      {"delete, purge and load with live tables", fun() -> in_peer(reload_with_tables, []) end},
      {"another build over live tables is refused", fun() -> in_peer(other_build, [copy_app()]) end},
      {"another build without live tables loads",
       fun() -> in_peer(other_build_without_tables, [copy_app()]) end},
      {"init:restart()", fun restart/0}]}.

in_peer(F, Args) ->
    Peer = shards_peer:start(),
    try
        ?assertEqual({ok, ok}, shards_peer:call(Peer, ?MODULE, F, Args))
    after
        shards_peer:stop(Peer)
    end.

%% A table of each kind, with objects that hold shared binaries.
tables() ->
    [begin
         T = shards:new(t, [Type, public]),
         true = shards:insert(T, [{I, <<I:64, 0:800>>} || I <- lists:seq(1, 100)]),
         T
     end || Type <- [set, ordered_set, bag]].

usable(Tabs) ->
    [{T, 100, [{7, <<7:64, 0:800>>}]} = {T, length(shards:tab2list(T)), shards:lookup(T, 7)}
     || T <- Tabs],
    [1] = [length(shards:select(T, [{{3, '_'}, [], ['$_']}])) || T <- [hd(Tabs)]],
    ok.

upgrade() ->
    Old = tables(),
    {module, shards_nif} = code:load_file(shards_nif),
    ok = usable(Old),
    ok = usable(tables()),
    _ = code:purge(shards_nif),
    ok = usable(Old),
    ok = usable(tables()).

reload_without_tables() ->
    [shards:delete(T) || T <- tables()],
    true = code:delete(shards_nif),
    _ = code:purge(shards_nif),
    {module, shards_nif} = code:load_file(shards_nif),
    ok = usable(tables()).

reload_with_tables() ->
    Old = tables(),
    true = code:delete(shards_nif),
    _ = code:purge(shards_nif),
    {module, shards_nif} = code:load_file(shards_nif),
    ok = usable(Old),
    ok = usable(tables()),
    %% And once more, over both generations.
    true = code:delete(shards_nif),
    _ = code:purge(shards_nif),
    {module, shards_nif} = code:load_file(shards_nif),
    ok = usable(Old),
    ok = usable(tables()).

%% `Dir' holds a copy of the application (another file for the library):
%% loading its shards_nif over the one with live tables fails, and the
%% loaded one, tables and all, goes on working.
other_build(Dir) ->
    Old = tables(),
    true = code:add_patha(filename:join(Dir, "ebin")),
    {error, on_load_failure} = code:load_file(shards_nif),
    ok = usable(Old),
    ok = usable(tables()).

other_build_without_tables(Dir) ->
    [shards:delete(T) || T <- tables()],
    true = code:add_patha(filename:join(Dir, "ebin")),
    {module, shards_nif} = code:load_file(shards_nif),
    true = lists:prefix(Dir, code:which(shards_nif)),
    ok = usable(tables()).

%% A copy of the application's ebin and priv (a new file for the library).
copy_app() ->
    Dir = filename:join([os:getenv("TMPDIR", "/tmp"),
                         "shards_reload_" ++ integer_to_list(erlang:unique_integer([positive])),
                         "shards"]),
    Ebin = filename:dirname(code:which(shards_nif)),
    Priv = filename:join(filename:dirname(Ebin), "priv"),
    [begin
         ok = filelib:ensure_dir(filename:join([Dir, Sub, "x"])),
         [{ok, _} = file:copy(filename:join(From, F), filename:join([Dir, Sub, F]))
          || F <- element(2, file:list_dir(From))]
     end || {Sub, From} <- [{"ebin", Ebin}, {"priv", Priv}]],
    Dir.

%% init:restart() restarts the system in the same OS process (the library
%% stays mapped): a child VM makes tables, restarts, and makes tables
%% again; the environment variable tells the second boot from the first.
restart() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Eval = "case os:getenv(\"SHARDS_RESTARTED\") of "
           "false -> T = shards:new(t, [public]), shards:insert(T, {a, <<0:800>>}), "
           "         os:putenv(\"SHARDS_RESTARTED\", \"1\"), init:restart(); "
           "_ -> T = shards:new(t, [public]), shards:insert(T, {b, 1}), "
           "     io:format(\"after restart: ~p~n\", [shards:lookup(T, b)]), halt(0) end.",
    Erl = os:find_executable("erl"),
    Port = open_port({spawn_executable, Erl},
                     [{args, ["-noshell", "-pa" | Paths] ++ ["-eval", Eval]},
                      exit_status, stderr_to_stdout, binary]),
    {Status, Out} = collect(Port, <<>>),
    ?assertEqual({0, match}, {Status, re:run(Out, "after restart: \\[\\{b,1\\}\\]",
                                             [{capture, none}])}).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, Acc}
    after 60000 -> {timeout, Acc}
    end.
