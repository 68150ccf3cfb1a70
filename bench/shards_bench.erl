%% Micro-benchmark: ets versus shards, side by side in one VM.
%%
%% Run it through bench/run.sh (see bench/README.md). Environment knobs:
%%   QUICK=1            smoke test: 0.2 s per measurement, 2 rounds, 100k objects for memory
%%   DURATION_MS=N      length of one measurement (default 1000)
%%   ROUNDS=N           measured rounds per workload, median is reported (default 5)
%%   MEM_OBJECTS=N      objects per table in the memory test (default 1000000)
%%   ONLY=micro|mem     run only one part
%%   SHARDS_MOD=Mod     module on the "shards" side (default shards; ets = stand-in)
%%   PARTITIONS=N       pass {partitions, N} to the shards side (default: its own default)
%%   RESULTS_DIR=Dir    where the CSV files go (default bench/results)
-module(shards_bench).

-export([main/0, mem_child/1]).

-define(KEYSPACE, 100000).
-define(SEQ_LEN, 10000).   % keys per worker, cycled through with element/2
-define(BATCH, 100).       % ops between two looks at the stop flag; divides ?SEQ_LEN
-define(PROCS, [1, 64]).
-define(OPS, [lookup, insert, mix]).
-define(KINDS, [int, bin]).
-define(ETS_OPTS, [set, public, {write_concurrency, auto}, {read_concurrency, true}]).

%% ---------------------------------------------------------------------------
%% Entry points

main() ->
    Code = try
               run(config()),
               0
           catch C:R:St ->
               io:format(standard_error, "benchmark failed: ~p:~p~n~p~n", [C, R, St]),
               1
           end,
    halt(Code).

run(Cfg = #{only := Only}) ->
    [{ets, ets, EtsOpts}, {shards, Mod, ShardsOpts}] = sides(Cfg),
    io:format("OTP ~s, ~b schedulers online~n", [erlang:system_info(otp_release),
                                                   erlang:system_info(schedulers_online)]),
    io:format("ets    side: ets:new(_, ~w)~n", [EtsOpts]),
    io:format("shards side: ~s:new(_, ~w)~n", [Mod, ShardsOpts]),
    io:format("load average: ~s (other work on the machine makes the rounds noisy)~n~n", [loadavg()]),
    ok = filelib:ensure_dir(filename:join(maps:get(results, Cfg), "x")),
    [micro(Cfg) || Only =/= "mem"],
    [memory(Cfg) || Only =/= "micro"],
    ok.

config() ->
    Quick = os:getenv("QUICK", "0") =/= "0",
    Mod = list_to_atom(os:getenv("SHARDS_MOD", "shards")),
    Parts = case os:getenv("PARTITIONS") of
                false -> [];
                P -> [{partitions, list_to_integer(P)}]
            end,
    #{duration => env_int("DURATION_MS", pick(Quick, 200, 1000)),
      rounds => env_int("ROUNDS", pick(Quick, 2, 5)),
      mem_n => env_int("MEM_OBJECTS", pick(Quick, 100000, 1000000)),
      only => os:getenv("ONLY", "all"),
      results => os:getenv("RESULTS_DIR", "bench/results"),
      mod => Mod,
      shards_opts => [set, public | Parts]}.

sides(#{mod := Mod, shards_opts := Opts}) ->
    [{ets, ets, ?ETS_OPTS}, {shards, Mod, Opts}].

%% ---------------------------------------------------------------------------
%% Throughput

micro(Cfg = #{duration := D, rounds := R}) ->
    io:format("Throughput: ~b ms per measurement, half-length warm-up + ~b rounds, "
              "alternating order, median shown~n", [D, R]),
    io:format("~-22s ~5s ~12s ~14s ~11s~n",
              ["workload", "procs", "ets Mops/s", "shards Mops/s", "shards/ets"]),
    process_flag(priority, high),  % so the coordinator stops workers on time
    Rows = lists:append([bench_kind(Kind, Cfg) || Kind <- ?KINDS]),
    process_flag(priority, normal),
    File = filename:join(maps:get(results, Cfg), "micro.csv"),
    Csv = ["op,kind,procs,ets_mops,shards_mops,ratio,ets_rounds,shards_rounds\n"
           | [io_lib:format("~s,~s,~b,~.4f,~.4f,~.4f,~s,~s~n",
                            [Op, Kind, P, E, S, S / E, join(Es), join(Ss)])
              || {Op, Kind, P, E, S, Es, Ss} <- Rows]],
    ok = file:write_file(File, Csv),
    io:format("load average: ~s~nwrote ~s~n~n", [loadavg(), File]).

%% One table per side, prefilled with the whole key space; all workloads of
%% this object kind run on it (inserts overwrite, so the size stays put).
bench_kind(Kind, Cfg) ->
    rand:seed(exsss, 1),
    Keys = list_to_tuple([key(Kind, I) || I <- lists:seq(1, ?KEYSPACE)]),
    Val = rand:bytes(100),  % shared 100-byte value for {Bin16, Bin100}
    Objs = [obj(Kind, K, Val) || K <- tuple_to_list(Keys)],
    %% The same per-worker object sequences are used for both sides.
    Seqs = [seq(Kind, Keys, Val, W) || W <- lists:seq(1, lists:max(?PROCS))],
    Tabs = [{Mod, new_table(Mod, Opts, Objs)} || {_, Mod, Opts} <- sides(Cfg)],
    Rows = [measure(Op, Kind, P, lists:sublist(Seqs, P), Tabs, Cfg)
            || Op <- ?OPS, P <- ?PROCS],
    [true = Mod:delete(T) || {Mod, T} <- Tabs],
    Rows.

key(int, I) -> I - 1;                                  % 0..KeySpace-1
key(bin, _) -> binary:copy(rand:bytes(16)).           % exact-size 16 bytes

obj(int, K, _) -> {K, K};
obj(bin, K, Val) -> {K, Val}.

seq(Kind, Keys, Val, Worker) ->
    S0 = rand:seed_s(exsss, Worker),
    {L, _} = lists:mapfoldl(fun(_, S) ->
                                    {I, S1} = rand:uniform_s(?KEYSPACE, S),
                                    {obj(Kind, element(I, Keys), Val), S1}
                            end, S0, lists:seq(1, ?SEQ_LEN)),
    list_to_tuple(L).

new_table(Mod, Opts, Objs) ->
    T = Mod:new(bench_table, Opts),
    lists:foreach(fun(O) -> true = Mod:insert(T, O) end, Objs),
    %% sanity: every key is there, and lookup returns what was inserted
    ?KEYSPACE = Mod:info(T, size),
    O = lists:nth(?KEYSPACE div 2, Objs),
    [O] = Mod:lookup(T, element(1, O)),
    T.

measure(Op, Kind, Procs, Seqs, [A, B], #{rounds := R, duration := D}) ->
    Run = fun({Mod, T}) -> throughput(Mod, T, Op, Seqs, D) end,
    WarmUp = fun({Mod, T}) -> throughput(Mod, T, Op, Seqs, D div 2) end,
    _ = round(A, B, WarmUp, 1),  % discarded
    Results = [round(A, B, Run, I) || I <- lists:seq(1, R)],
    {Es, Ss} = lists:unzip(Results),
    {E, S} = {median(Es), median(Ss)},
    io:format("~-22s ~5b ~12.2f ~14.2f ~11.2f~n",
              [io_lib:format("~s ~s", [Op, kind_name(Kind)]), Procs, E, S, S / E]),
    {Op, Kind, Procs, E, S, Es, Ss}.

%% Odd rounds run ets first, even rounds shards first.
round(A, B, Run, I) when I rem 2 =:= 1 -> X = Run(A), Y = Run(B), {X, Y};
round(A, B, Run, _) -> Y = Run(B), X = Run(A), {X, Y}.

%% Mops/s of Length(Seqs) workers running Op for DurationMs.
throughput(Mod, Tab, Op, Seqs, DurationMs) ->
    Stop = atomics:new(1, []),
    Self = self(),
    Pids = [spawn_link(fun() -> worker(Self, Mod, Tab, Op, Seq, Stop) end) || Seq <- Seqs],
    [receive {ready, P} -> ok end || P <- Pids],
    T0 = erlang:monotonic_time(),
    [P ! go || P <- Pids],
    receive after DurationMs -> ok end,
    atomics:put(Stop, 1, 1),
    Ops = lists:sum([receive {done, P, N} -> N end || P <- Pids]),
    T1 = erlang:monotonic_time(),
    Ops / erlang:convert_time_unit(T1 - T0, native, microsecond).  % ops/us = Mops/s

worker(Parent, Mod, Tab, Op, Seq, Stop) ->
    Parent ! {ready, self()},
    receive go -> ok end,
    Parent ! {done, self(), loop(Mod, Tab, Op, Seq, 0, Stop, 0)}.

loop(Mod, Tab, Op, Seq, Base, Stop, N) ->
    case atomics:get(Stop, 1) of
        0 ->
            batch(Mod, Tab, Op, Seq, Base + 1, Base + ?BATCH),
            loop(Mod, Tab, Op, Seq, (Base + ?BATCH) rem ?SEQ_LEN, Stop, N + ?BATCH);
        _ ->
            N
    end.

batch(_Mod, _Tab, _Op, _Seq, I, Last) when I > Last -> ok;
batch(Mod, Tab, Op, Seq, I, Last) ->
    op(Op, Mod, Tab, I, element(I, Seq)),
    batch(Mod, Tab, Op, Seq, I + 1, Last).

op(lookup, Mod, Tab, _, Obj) -> Mod:lookup(Tab, element(1, Obj));
op(insert, Mod, Tab, _, Obj) -> Mod:insert(Tab, Obj);
op(mix, Mod, Tab, I, Obj) when I band 1 =:= 0 -> Mod:lookup(Tab, element(1, Obj));
op(mix, Mod, Tab, _, Obj) -> Mod:insert(Tab, Obj).

%% ---------------------------------------------------------------------------
%% Memory: each (kind, side) is filled in a fresh VM so RSS is not polluted.

memory(Cfg = #{mem_n := N}) ->
    io:format("Memory: ~b objects per table, each table filled in a fresh VM~n", [N]),
    io:format("~-16s ~-14s ~12s ~14s ~11s~n",
              ["objects", "measure", "ets B/obj", "shards B/obj", "shards/ets"]),
    Rows = [begin
                [{EInfo, ERss}, {SInfo, SRss}] =
                    [mem_run(Side, Kind, N) || {Side, _, _} <- sides(Cfg)],
                [mem_row(Kind, "info(memory)", EInfo, SInfo),
                 mem_row(Kind, "RSS delta", ERss, SRss)]
            end || Kind <- ?KINDS],
    File = filename:join(maps:get(results, Cfg), "memory.csv"),
    Csv = ["kind,measure,objects,ets_bytes_per_obj,shards_bytes_per_obj,ratio\n"
           | [io_lib:format("~s,~s,~b,~.1f,~.1f,~.3f~n", [K, M, N, E, S, S / E])
              || {K, M, E, S} <- lists:append(Rows)]],
    ok = file:write_file(File, Csv),
    io:format("~nwrote ~s~n", [File]).

mem_row(Kind, Measure, E, S) ->
    io:format("~-16s ~-14s ~12.1f ~14.1f ~11.2f~n", [kind_name(Kind), Measure, E, S, S / E]),
    {Kind, Measure, E, S}.

mem_run(Side, Kind, N) ->
    Erl = filename:join([code:root_dir(), "bin", "erl"]),
    Ebin = filename:dirname(code:which(?MODULE)),
    %% The child inherits the environment (ERL_LIBS, SHARDS_MOD, PARTITIONS).
    Cmd = io_lib:format("'~s' -noshell +S 2 -pa '~s' -run ~s mem_child ~s ~s ~b 2>&1",
                        [Erl, Ebin, ?MODULE, Side, Kind, N]),
    Out = os:cmd(lists:flatten(Cmd)),
    case [L || "MEM_RESULT " ++ L <- string:split(Out, "\n", all)] of
        [L] -> {ok, [Info, Rss], []} = io_lib:fread("~f ~f", L), {Info, Rss};
        _ -> error({mem_child_failed, Side, Kind, Out})
    end.

%% Runs in the child VM; prints one MEM_RESULT line and halts.
mem_child([SideS, KindS, NS]) ->
    Kind = list_to_atom(KindS),
    N = list_to_integer(NS),
    {_, Mod, Opts} = lists:keyfind(list_to_atom(SideS), 1, sides(config())),
    %% Load code / NIF and any lazily created runtime state before measuring.
    %% The warm-up table is kept: deleting it would leave freed memory in the
    %% allocators for the measured table to reuse without growing RSS.
    T0 = Mod:new(mem_warmup, Opts),
    true = Mod:insert(T0, mem_obj(Kind, -1)),
    Rss0 = resident_pages(),
    T = Mod:new(mem_table, Opts),
    fill(Mod, T, Kind, 0, N),
    Rss1 = resident_pages(),
    N = Mod:info(T, size),
    Bytes = Mod:info(T, memory) * erlang:system_info(wordsize),
    %% Asked only now: os:cmd leaves freed memory behind that the table would reuse.
    PageSize = list_to_integer(string:trim(os:cmd("getconf PAGESIZE"))),
    io:format("MEM_RESULT ~.2f ~.2f~n", [Bytes / N, (Rss1 - Rss0) * PageSize / N]),
    halt(0).

fill(_Mod, _T, _Kind, N, N) -> ok;
fill(Mod, T, Kind, I, N) ->
    true = Mod:insert(T, mem_obj(Kind, I)),
    fill(Mod, T, Kind, I + 1, N).

%% A unique, exact-size, random 100-byte value per object.
mem_obj(int, I) -> {I, I};
mem_obj(bin, I) -> {<<I:128>>, crypto:strong_rand_bytes(100)}.

resident_pages() ->
    true = erlang:garbage_collect(),
    timer:sleep(200),
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = string:lexemes(binary_to_list(Statm), " \n"),
    list_to_integer(Resident).

%% ---------------------------------------------------------------------------
%% Helpers

kind_name(int) -> "{Int,Int}";
kind_name(bin) -> "{Bin16,Bin100}".

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

join(L) -> lists:join(";", [io_lib:format("~.4f", [X]) || X <- L]).

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        V -> list_to_integer(V)
    end.

loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(B), " \n"), 3));
        _ -> "unknown"
    end.

pick(true, A, _) -> A;
pick(false, _, B) -> B.
