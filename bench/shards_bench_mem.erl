%% @doc Memory per object: the same objects stored in each target, each
%% table filled in a fresh VM so one table's garbage does not hide another's
%% growth. Two measures:
%%
%% - `info(memory)': what the table reports, in bytes per object. ets does
%%   not count off-heap (refc) binaries, i.e. binaries over 64 bytes such as
%%   the 100-byte values, so for `{Bin16,Bin100}' it understates ets;
%% - `RSS delta': growth of the OS resident set (`/proc/self/statm') across
%%   filling the table, after a garbage collection. It counts everything
%%   (ETS, off-heap binaries, NIF allocations, allocator overhead): the fair
%%   comparison, though noisier;
%% - `RSS churned': the same growth measured again after `?CHURN' times `N'
%%   overwrites of random keys with new values, as a cache sees: what stays
%%   allocated once the first objects are gone.
-module(shards_bench_mem).

-export([run/2, child/1]).

-define(KINDS, [int, bin]).
-define(TARGETS, [ets, sharded_ets, shards]).
-define(CHURN, 3).

%% @doc Measures `N' objects of each kind in each target; prints a table and
%% writes `memory.csv' into `Dir'.
-spec run(pos_integer(), file:filename()) -> ok.
run(N, Dir) ->
    io:format("~nMemory: ~b objects per table, each table filled in a fresh VM~n", [N]),
    io:format("~-16s ~-14s ~-12s ~10s ~8s~n", ["objects", "measure", "target", "B/object", "vs ets"]),
    Rows = lists:append([kind_rows(Kind, N) || Kind <- ?KINDS]),
    File = filename:join(Dir, "memory.csv"),
    Csv = ["kind,measure,objects,target,bytes_per_object,ratio_vs_ets\n"
           | [io_lib:format("~s,~s,~b,~s,~.1f,~.3f~n", [K, M, N, T, B, Ratio])
              || {K, M, T, B, Ratio} <- Rows]],
    ok = file:write_file(File, Csv),
    io:format("wrote ~s~n", [File]).

kind_rows(Kind, N) ->
    Results = [{T, measure(T, Kind, N)} || T <- ?TARGETS],
    {_, {EtsInfo, EtsRss, EtsChurned}} = lists:keyfind(ets, 1, Results),
    Info = [{Kind, "info(memory)", T, I, I / EtsInfo} || {T, {I, _, _}} <- Results],
    Rss = [{Kind, "RSS delta", T, R, R / EtsRss} || {T, {_, R, _}} <- Results],
    Churned = [{Kind, "RSS churned", T, C, C / EtsChurned} || {T, {_, _, C}} <- Results],
    lists:foreach(fun({K, M, T, B, Ratio}) ->
                          io:format("~-16s ~-14s ~-12s ~10.1f ~8.2f~n",
                                    [kind_name(K), M, T, B, Ratio])
                  end, Info ++ Rss ++ Churned),
    Info ++ Rss ++ Churned.

measure(Target, Kind, N) ->
    Erl = filename:join([code:root_dir(), "bin", "erl"]),
    Ebin = filename:dirname(code:which(?MODULE)),
    %% The child inherits the environment (ERL_LIBS finds shards, PARTITIONS).
    Cmd = io_lib:format("'~s' -noshell +S ~b -pa '~s' -run ~s child ~s ~s ~b 2>&1",
                        [Erl, erlang:system_info(schedulers_online), Ebin, ?MODULE,
                         Target, Kind, N]),
    Out = os:cmd(lists:flatten(Cmd)),
    case [L || "MEM_RESULT " ++ L <- string:split(Out, "\n", all)] of
        [L] ->
            {ok, [Info, Rss, Churned], []} = io_lib:fread("~f ~f ~f", L),
            {Info, Rss, Churned};
        _ -> error({memory_child_failed, Target, Kind, Out})
    end.

%% @doc Runs in the child VM: fills one table, then overwrites it, prints
%% one MEM_RESULT line and halts.
-spec child([string()]) -> no_return().
child([TargetS, KindS, NS]) ->
    Target = list_to_atom(TargetS),
    Kind = list_to_atom(KindS),
    N = list_to_integer(NS),
    %% Load code, the NIF and any lazily created runtime state before
    %% measuring. The warm-up table is kept: deleting it would leave freed
    %% memory for the measured table to reuse without growing RSS.
    {Mod, T0} = shards_bench_targets:new(Target, set),
    true = Mod:insert(T0, object(Kind, -1)),
    Rss0 = resident_pages(),
    {Mod, T} = shards_bench_targets:new(Target, set),
    fill(Mod, T, Kind, 0, N),
    Rss1 = resident_pages(),
    N = Mod:info(T, size),
    Bytes = Mod:info(T, memory) * erlang:system_info(wordsize),
    churn(Mod, T, Kind, N, ?CHURN * N),
    Rss2 = resident_pages(),
    N = Mod:info(T, size),
    %% Asked only now: os:cmd leaves freed memory behind that the table would reuse.
    PageSize = list_to_integer(string:trim(os:cmd("getconf PAGESIZE"))),
    io:format("MEM_RESULT ~.2f ~.2f ~.2f~n",
              [Bytes / N, (Rss1 - Rss0) * PageSize / N, (Rss2 - Rss0) * PageSize / N]),
    halt(0).

fill(_Mod, _T, _Kind, N, N) -> ok;
fill(Mod, T, Kind, I, N) ->
    true = Mod:insert(T, object(Kind, I)),
    fill(Mod, T, Kind, I + 1, N).

%% Overwrites `Left' random keys of the `N' with new values.
churn(_Mod, _T, _Kind, _N, 0) -> ok;
churn(Mod, T, Kind, N, Left) ->
    true = Mod:insert(T, object(Kind, rand:uniform(N) - 1)),
    churn(Mod, T, Kind, N, Left - 1).

%% `{Int,Int}', or a 16-byte key with a unique random 100-byte value.
object(int, I) -> {I, I};
object(bin, I) -> {<<I:128>>, crypto:strong_rand_bytes(100)}.

resident_pages() ->
    true = erlang:garbage_collect(),
    timer:sleep(200),
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = string:lexemes(binary_to_list(Statm), " \n"),
    list_to_integer(Resident).

kind_name(int) -> "{Int,Int}";
kind_name(bin) -> "{Bin16,Bin100}".
