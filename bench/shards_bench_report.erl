%% @doc Output of the load generator's results: the table on stdout, the
%% CSV file, and a gnuplot script drawing throughput and p99 latency against
%% the number of workers (one row of two plots per scenario).
-module(shards_bench_report).

-export([print_table/1, write_csv/2, write_gnuplot/4]).

-export_type([row/0]).

%% One target in one (scenario, workers) configuration. Latencies in ns.
-type row() :: #{scenario := atom(), type := atom(), value := string(), keys := string(),
                 keyspace := pos_integer(), mix := string(), schedulers := pos_integer(),
                 workers := pos_integer(), target := atom(), ops_per_s := float(),
                 ratio := float(), p50 := number() | undefined, p99 := number() | undefined,
                 p999 := number() | undefined, samples := non_neg_integer(),
                 rounds := [float()]}.

-spec print_table([row()]) -> ok.
print_table(Rows) ->
    io:format("~-14s ~7s  ~-12s ~9s ~9s ~9s ~9s ~8s~n",
              ["scenario", "workers", "target", "Mops/s", "p50 us", "p99 us", "p99.9 us", "vs ets"]),
    lists:foreach(
      fun(R = #{scenario := S, workers := W, target := T, ops_per_s := Ops, ratio := Ratio}) ->
              io:format("~-14s ~7b  ~-12s ~9.3f ~9s ~9s ~9s ~8.2f~n",
                        [S, W, T, Ops / 1.0e6, us(maps:get(p50, R)), us(maps:get(p99, R)),
                         us(maps:get(p999, R)), Ratio])
      end, Rows).

us(undefined) -> "-";
us(Ns) when Ns < 10000 -> float_to_list(Ns / 1000, [{decimals, 2}]);
us(Ns) -> float_to_list(Ns / 1000, [{decimals, 0}]).

-spec write_csv(file:filename(), [row()]) -> ok.
write_csv(File, Rows) ->
    Header = "scenario,type,value,keys,keyspace,mix,schedulers,workers,target,ops_per_s,"
             "ratio_vs_ets,p50_us,p99_us,p999_us,latency_samples,rounds_ops_per_s\n",
    Lines = [io_lib:format("~s,~s,~s,~s,~b,~s,~b,~b,~s,~.1f,~.4f,~s,~s,~s,~b,~s~n",
                           [S, Ty, V, K, KS, M, Sch, W, T, Ops, Ratio,
                            csv_us(P50), csv_us(P99), csv_us(P999), N,
                            lists:join(";", [float_to_list(X, [{decimals, 1}]) || X <- Rounds])])
             || #{scenario := S, type := Ty, value := V, keys := K, keyspace := KS, mix := M,
                  schedulers := Sch, workers := W, target := T, ops_per_s := Ops, ratio := Ratio,
                  p50 := P50, p99 := P99, p999 := P999, samples := N, rounds := Rounds} <- Rows],
    ok = file:write_file(File, [Header | Lines]).

csv_us(undefined) -> "";
csv_us(Ns) -> float_to_list(Ns / 1000, [{decimals, 3}]).

%% @doc Writes a gnuplot script (data inline) that renders `Png'.
-spec write_gnuplot(file:filename(), file:filename(), string(), [row()]) -> ok.
write_gnuplot(Script, Png, Title, Rows) ->
    Scenarios = unique([S || #{scenario := S} <- Rows]),
    Targets = unique([T || #{target := T} <- Rows]),
    Blocks = [datablock(S, T, [R || R = #{scenario := S1, target := T1} <- Rows,
                                    S1 =:= S, T1 =:= T])
              || S <- Scenarios, T <- Targets],
    Plots = [[plot(S, Targets, "throughput", "Mops/s", 2, false),
              plot(S, Targets, "p99 latency", "microseconds", 3, true)]
             || S <- Scenarios],
    Gp = [Blocks,
          io_lib:format("set terminal pngcairo noenhanced size 1100,~b font \",9\"~n"
                        "set output '~s'~n", [60 + 260 * length(Scenarios), Png]),
          "set datafile missing '?'\n"
          "set logscale x 2\nset xlabel 'workers'\nset grid\nset key outside right top font ',8'\n"
          "set style data linespoints\n",
          io_lib:format("set multiplot layout ~b,2 title \"~s\"~n", [length(Scenarios), Title]),
          Plots,
          "unset multiplot\n"],
    ok = file:write_file(Script, Gp).

datablock(S, T, Rows) ->
    [io_lib:format("$~s << EOD~n", [block_name(S, T)]),
     [io_lib:format("~b ~.6f ~s~n", [W, Ops / 1.0e6, case P99 of
                                                         undefined -> "?";
                                                         _ -> float_to_list(P99 / 1000, [{decimals, 3}])
                                                     end])
      || #{workers := W, ops_per_s := Ops, p99 := P99} <- lists:sort(fun by_workers/2, Rows)],
     "EOD\n"].

by_workers(#{workers := A}, #{workers := B}) -> A =< B.

plot(S, Targets, What, YLabel, Col, LogY) ->
    [io_lib:format("set title '~s: ~s'~nset ylabel '~s'~n", [S, What, YLabel]),
     case LogY of
         true -> "set logscale y\nset yrange [*:*]\n";
         false -> "unset logscale y\nset yrange [0:*]\n"
     end,
     "plot ",
     lists:join(", ", [io_lib:format("$~s using 1:~b title '~s'", [block_name(S, T), Col, T])
                       || T <- Targets]),
     "\n"].

block_name(S, T) -> io_lib:format("d_~s_~s", [sanitize(S), sanitize(T)]).

sanitize(A) ->
    [case C of
         _ when C >= $a, C =< $z; C >= $A, C =< $Z; C >= $0, C =< $9 -> C;
         _ -> $_
     end || C <- atom_to_list(A)].

unique(L) -> unique(L, []).
unique([], Acc) -> lists:reverse(Acc);
unique([X | Rest], Acc) ->
    case lists:member(X, Acc) of
        true -> unique(Rest, Acc);
        false -> unique(Rest, [X | Acc])
    end.
