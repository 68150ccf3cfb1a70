%% @doc The benchmark suite: every scenario, at every number of workers,
%% against every target (see `shards_bench_targets'), in one VM and in
%% alternating order; then memory per object. Run it with `make bench'
%% (bench/run.sh); bench/README.md explains the knobs and the output.
%%
%% Environment (all optional):
%%   FULL=1          the whole matrix: 1, 2, 4 ... 256 workers, 1 s rounds
%%   SCENARIOS=a,b   scenario names, `default' or `all' (shards_bench_scenarios)
%%   BENCH_CONFIG=F  a file of scenario maps instead of the built-in catalog
%%   WORKERS=1,8     worker counts
%%   DURATION_MS=N   length of one measured round per target
%%   WARMUP_MS=N     length of the discarded warm-up run per target
%%   ROUNDS=N        measured rounds; the median is reported
%%   ONLY=loadgen|traverse|mem  run one part
%%   TAG=name        names the CSV and gnuplot files (default bench, or full)
%%   MEM_OBJECTS=N   objects per table in the memory part (default 1000000)
%%   WALK_KEYS=N     keys in the ordered_set traversal part (default 1000000)
%%   RESULTS_DIR=D   where CSV and gnuplot files go (default bench/results)
%%   PARTITIONS=N    partitions of shards and sharded_ets (default: schedulers)
-module(shards_bench).

-export([main/0]).

%% @doc Runs the suite and halts: 0 on success, 2 on a configuration
%% error (reported before anything is measured), 1 on a crash.
-spec main() -> no_return().
main() ->
    Code = try
               run(config()),
               0
           catch
               throw:{bench_config_error, Msg} ->
                   io:format(standard_error, "bench: ~s~n", [Msg]),
                   2;
               C:R:St ->
                   io:format(standard_error, "bench: failed: ~p:~p~n~p~n", [C, R, St]),
                   1
           end,
    halt(Code).

config() ->
    Full = os:getenv("FULL", "0") =/= "0",
    Tag = os:getenv("TAG", pick(Full, "full", "bench")),
    #{tag => Tag,
      workers => env_ints("WORKERS", pick(Full, [1 bsl I || I <- lists:seq(0, 8)], [1, 4, 16, 64])),
      duration => env_int("DURATION_MS", pick(Full, 1000, 300)),
      warmup => env_int("WARMUP_MS", pick(Full, 300, 100)),
      rounds => env_int("ROUNDS", 3),
      scenarios => #{names => os:getenv("SCENARIOS", "default"),
                     file => case os:getenv("BENCH_CONFIG", "") of
                                 "" -> false;
                                 F -> F
                             end},
      only => case os:getenv("ONLY", "") of
                  "" -> "all";
                  Part -> Part
              end,
      mem_objects => env_int("MEM_OBJECTS", 1000000),
      walk_keys => env_int("WALK_KEYS", 1000000),
      results => os:getenv("RESULTS_DIR", "bench/results")}.

run(Cfg = #{only := Only, results := Dir}) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    header(),
    ok = if Only =:= "all"; Only =:= "loadgen" -> loadgen(Cfg); true -> ok end,
    ok = if Only =:= "all"; Only =:= "traverse" ->
                 shards_bench_traverse:run(maps:get(walk_keys, Cfg), maps:get(rounds, Cfg), Dir);
            true -> ok
         end,
    ok = if Only =:= "all"; Only =:= "mem" -> shards_bench_mem:run(maps:get(mem_objects, Cfg), Dir);
            true -> ok
         end.

header() ->
    io:format("~s, ~s, OTP ~s, ~b schedulers online~n",
              [calendar:system_time_to_rfc3339(erlang:system_time(second)), machine(),
               erlang:system_info(otp_release), erlang:system_info(schedulers_online)]),
    io:format("load average: ~s (other work on the machine makes the rounds noisy)~n",
              [loadavg()]),
    lists:foreach(fun(T) -> io:format("  ~s~n", [shards_bench_targets:describe(T)]) end,
                  shards_bench_targets:all()).

%%% The load generator part

loadgen(Cfg = #{workers := Workers, rounds := Rounds, duration := D, warmup := Warm,
                tag := Tag, results := Dir}) ->
    %% Check every scenario before measuring anything, so a bad one fails fast.
    Scenarios = [shards_loadgen:validate(S) || S <- shards_bench_scenarios:select(maps:get(scenarios, Cfg))],
    Targets = shards_bench_targets:all(),
    Points = length(Scenarios) * length(Workers),
    Secs = Points * length(Targets) * (Warm + Rounds * D) / 1000,
    io:format("~nLoad generator: ~b scenarios x workers ~w x ~b targets; per target a ~b ms "
              "warm-up, then ~b rounds of ~b ms in alternating order (median shown); "
              "latency of 1 op in 64. About ~b s.~n",
              [length(Scenarios), Workers, length(Targets), Warm, Rounds, D, round(Secs)]),
    process_flag(priority, high),  % so the coordinator stops the workers on time
    Start = erlang:monotonic_time(millisecond),
    {Rows, _} = lists:mapfoldl(fun(S, Done) -> scenario(S, Cfg, Done, Points, Start) end,
                               0, Scenarios),
    process_flag(priority, normal),
    AllRows = lists:append(Rows),
    io:format("~n"),
    shards_bench_report:print_table(AllRows),
    Base = filename:join(Dir, io_lib:format("~s_s~b", [Tag, erlang:system_info(schedulers_online)])),
    ok = shards_bench_report:write_csv(Base ++ ".csv", AllRows),
    Title = io_lib:format("ets vs sharded ets vs shards: ~s, OTP ~s, +S ~b, ~s",
                          [machine(), erlang:system_info(otp_release),
                           erlang:system_info(schedulers_online),
                           calendar:system_time_to_rfc3339(erlang:system_time(second),
                                                           [{unit, second}])]),
    ok = shards_bench_report:write_gnuplot(Base ++ ".gp", filename:absname(Base ++ ".png"),
                                           lists:flatten(Title), AllRows),
    io:format("load average: ~s~nwrote ~s.csv and ~s.gp~n", [loadavg(), Base, Base]).

scenario(S, Cfg = #{workers := Workers}, Done0, Points, Start) ->
    Targets = shards_bench_targets:all(),
    Tabs = [{T, shards_bench_targets:new(T, maps:get(type, S))} || T <- Targets],
    try
        lists:foreach(fun({_, Tab}) -> shards_loadgen:prefill(Tab, S) end, Tabs),
        Seqs = shards_loadgen:sequences(S, lists:max(Workers)),
        lists:mapfoldl(fun(W, Done) ->
                               Rows = point(S, W, lists:sublist(Seqs, W), Tabs, Cfg),
                               progress(S, W, Rows, Done + 1, Points, Start),
                               {Rows, Done + 1}
                       end, Done0, Workers)
    of
        {RowLists, Done} -> {lists:append(RowLists), Done}
    after
        [true = Mod:delete(T) || {_, {Mod, T}} <- Tabs]
    end.

%% One (scenario, workers) configuration: every target, alternating order.
point(S, W, Seqs, Tabs, #{rounds := Rounds, duration := D, warmup := Warm}) ->
    lists:foreach(fun({_, Tab}) -> run_once(Tab, Seqs, Warm, shards_bench_hist:new()) end, Tabs),
    Hists = maps:from_list([{T, shards_bench_hist:new()} || {T, _} <- Tabs]),
    PerRound = [begin
                    Order = case R rem 2 of
                                1 -> Tabs;
                                0 -> lists:reverse(Tabs)
                            end,
                    [{T, run_once(Tab, Seqs, D, maps:get(T, Hists))} || {T, Tab} <- Order]
                end || R <- lists:seq(1, Rounds)],
    Rates = [{T, median([Rate || Round <- PerRound, {T1, Rate} <- Round, T1 =:= T]),
              [Rate || Round <- PerRound, {T1, Rate} <- Round, T1 =:= T]}
             || {T, _} <- Tabs],
    {_, Ref, _} = lists:keyfind(shards_bench_targets:reference(), 1, Rates),
    #{mix := Mix, keys := Keys, value := Value} = shards_loadgen:describe(S),
    [maps:merge(#{scenario => maps:get(name, S), type => maps:get(type, S), value => Value,
                  keys => Keys, keyspace => maps:get(keyspace, S), mix => Mix,
                  schedulers => erlang:system_info(schedulers_online), workers => W,
                  target => T, ops_per_s => Rate, ratio => Rate / Ref, rounds => Each},
                shards_bench_hist:summary(maps:get(T, Hists)))
     || {T, Rate, Each} <- Rates].

run_once(Tab, Seqs, Ms, Hist) ->
    true = erlang:garbage_collect(),
    #{ops := Ops, seconds := Secs} = shards_loadgen:measure(Tab, Seqs, Ms, Hist),
    Ops / Secs.

progress(S, W, Rows, Done, Points, Start) ->
    Elapsed = (erlang:monotonic_time(millisecond) - Start) / 1000,
    Left = Elapsed / Done * (Points - Done),
    io:format(standard_error, "[~2b/~b] ~s, ~b workers:~s Mops/s  (~b s, ~~~b s left)~n",
              [Done, Points, maps:get(name, S), W,
               [io_lib:format(" ~s ~.2f", [T, Ops / 1.0e6])
                || #{target := T, ops_per_s := Ops} <- Rows],
               round(Elapsed), round(Left)]).

%%% Helpers

machine() ->
    Cpu = case file:read_file("/proc/cpuinfo") of
              {ok, B} ->
                  case re:run(B, "model name\\s*:\\s*([^\\n]*)", [{capture, all_but_first, list}]) of
                      {match, [M]} -> M;
                      nomatch -> "unknown CPU"
                  end;
              _ -> "unknown CPU"
          end,
    io_lib:format("~s, ~p cores", [Cpu, erlang:system_info(logical_processors)]).

loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(B), " \n"), 3));
        _ -> "unknown"
    end.

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

env_int(Name, Default) ->
    case os:getenv(Name, "") of
        "" -> Default;
        V -> list_to_integer(V)
    end.

env_ints(Name, Default) ->
    case os:getenv(Name, "") of
        "" -> Default;
        V -> [list_to_integer(X) || X <- string:lexemes(V, ", ")]
    end.

pick(true, A, _) -> A;
pick(false, _, B) -> B.
