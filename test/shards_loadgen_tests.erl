%%% @doc The benchmark's load generator and its parts (bench/): scenario
%%% checks, operation sequences, key distributions, the latency histogram
%%% and the report files. No timing is asserted here: the measurement runs
%%% only to check that it counts operations and samples latencies.
-module(shards_loadgen_tests).

-include_lib("eunit/include/eunit.hrl").

scenario(Overrides) ->
    maps:merge(#{name => test_scenario, mix => [{lookup, 3}, {insert, 1}], keyspace => 1000},
               Overrides).

config_error(Fun) ->
    try Fun() of
        Result -> error({expected_config_error, Result})
    catch
        throw:{bench_config_error, Msg} -> Msg
    end.

contains(Msg, Part) -> string:find(Msg, Part) =/= nomatch.

%%% Scenario checks

defaults_filled_in_test() ->
    S = shards_loadgen:validate(#{name => t, mix => [{lookup, 1}]}),
    ?assertMatch(#{type := set, keys := uniform, keyspace := 100000, value := small}, S).

every_default_scenario_is_valid_test_() ->
    {timeout, 60,
     fun() ->
             Scenarios = shards_bench_scenarios:select(#{names => "default", file => false}),
             ?assertEqual(shards_bench_scenarios:default(), [N || #{name := N} <- Scenarios]),
             [?assertMatch(#{name := _}, shards_loadgen:validate(S)) || S <- Scenarios]
     end}.

unknown_operation_test() ->
    Msg = config_error(fun() -> shards_loadgen:validate(scenario(#{mix => [{frobnicate, 1}]})) end),
    ?assert(contains(Msg, "frobnicate")).

bad_weight_test() ->
    Msg = config_error(fun() -> shards_loadgen:validate(scenario(#{mix => [{lookup, 0}]})) end),
    ?assert(contains(Msg, "lookup")).

unknown_key_distribution_test() ->
    Msg = config_error(fun() -> shards_loadgen:validate(scenario(#{keys => zipf})) end),
    ?assert(contains(Msg, "zipf")).

unknown_scenario_name_test() ->
    Msg = config_error(fun() -> shards_bench_scenarios:select(#{names => "nope", file => false}) end),
    ?assert(contains(Msg, "nope")).

%% select is in the catalog before every target has it: validating such a
%% scenario either passes (the target has select/2) or names what is missing.
select_scenario_passes_or_says_what_is_missing_test() ->
    [S] = shards_bench_scenarios:select(#{names => "select_key", file => false}),
    case shards_has(select, 2) of
        true -> ?assertMatch(#{name := select_key}, shards_loadgen:validate(S));
        false -> ?assert(contains(config_error(fun() -> shards_loadgen:validate(S) end),
                                  "select/2"))
    end.

%% The same for table types: an operation ets itself refuses on a bag
%% (update_counter) or a type shards cannot create yet is reported, with
%% the type in the message, before anything is measured.
unsupported_type_or_operation_is_reported_test() ->
    Msg = config_error(fun() ->
                               shards_loadgen:validate(scenario(#{type => bag,
                                                                  mix => [{update_counter, 1}]}))
                       end),
    ?assert(contains(Msg, "bag")).

shards_has(F, A) ->
    _ = code:ensure_loaded(shards),
    erlang:function_exported(shards, F, A).

%%% Sequences and key distributions

sequences_are_deterministic_test() ->
    S = shards_loadgen:validate(scenario(#{})),
    ?assertEqual(shards_loadgen:sequences(S, 3), shards_loadgen:sequences(S, 3)),
    [A, B] = shards_loadgen:sequences(S, 2),
    ?assertNotEqual(A, B).

mix_weights_are_followed_test() ->
    S = shards_loadgen:validate(scenario(#{mix => [{lookup, 3}, {insert, 1}]})),
    Actions = lists:append([tuple_to_list(Seq) || Seq <- shards_loadgen:sequences(S, 4)]),
    Lookups = length([a || {lookup, _} <- Actions]),
    Share = Lookups / length(Actions),
    ?assert(abs(Share - 0.75) < 0.03),
    ?assertEqual(length(Actions), Lookups + length([a || {insert, {_, 0, _}} <- Actions])).

keys_stay_in_the_key_space_test_() ->
    [fun() ->
             S = shards_loadgen:validate(scenario(#{keys => Keys, mix => [{lookup, 1}]})),
             Ks = keys(S, 4),
             ?assert(lists:all(fun(K) -> K >= 0 andalso K < 1000 end, Ks))
     end || Keys <- [uniform, {pareto, 1.5}, {hotspot, 0.01, 0.9}]].

hotspot_skew_test() ->
    S = shards_loadgen:validate(scenario(#{keys => {hotspot, 0.01, 0.9}, mix => [{lookup, 1}]})),
    Ks = keys(S, 4),
    Hot = length([K || K <- Ks, K < 10]) / length(Ks),
    ?assert(Hot > 0.85 andalso Hot < 0.95).

pareto_skew_test() ->
    S = shards_loadgen:validate(scenario(#{keys => {pareto, 1.5}, mix => [{lookup, 1}]})),
    Ks = keys(S, 4),
    Low = length([K || K <- Ks, K < 100]) / length(Ks),
    %% (1 - U)^(-2/3) - 1 < 1 for U > 1 - 2^-1.5: about 65% of the keys
    ?assert(Low > 0.6 andalso Low < 0.7).

keys(S, Workers) ->
    [K || Seq <- shards_loadgen:sequences(S, Workers), {lookup, K} <- tuple_to_list(Seq)].

%%% Measurement (structure only)

measure_counts_operations_on_every_target_test_() ->
    {timeout, 60,
     fun() ->
             S = shards_loadgen:validate(scenario(#{mix => [{lookup, 2}, {insert, 1},
                                                            {update_counter, 1}, {take, 1},
                                                            {insert_new, 1}, {delete, 1}]})),
             Seqs = shards_loadgen:sequences(S, 3),
             lists:foreach(
               fun(Target) ->
                       Tab = {Mod, T} = shards_bench_targets:new(Target, set),
                       try
                           ok = shards_loadgen:prefill(Tab, S),
                           ?assertEqual(1000, Mod:info(T, size)),
                           H = shards_bench_hist:new(),
                           #{ops := Ops, seconds := Secs} = shards_loadgen:measure(Tab, Seqs, 30, H),
                           ?assert(Ops > 0 andalso Ops rem 64 =:= 0),
                           ?assert(Secs > 0),
                           ?assertEqual(Ops div 64, shards_bench_hist:count(H))
                       after
                           true = Mod:delete(T)
                       end
               end, shards_bench_targets:all())
     end}.

%%% Histogram

histogram_percentiles_are_within_bucket_precision_test() ->
    _ = rand:seed(exsss, 5),
    Values = [trunc(math:exp(rand:uniform() * 15)) || _ <- lists:seq(1, 20000)],
    H = shards_bench_hist:new(),
    lists:foreach(fun(V) -> shards_bench_hist:record(H, V) end, Values),
    Sorted = list_to_tuple(lists:sort(Values)),
    ?assertEqual(20000, shards_bench_hist:count(H)),
    lists:foreach(
      fun(P) ->
              Exact = element(ceil(P * 20000), Sorted),
              Got = shards_bench_hist:percentile(H, P),
              ?assert(abs(Got - Exact) =< max(1, Exact * 0.035))
      end, [0.01, 0.5, 0.9, 0.99, 0.999, 1.0]).

histogram_small_and_huge_values_test() ->
    H = shards_bench_hist:new(),
    ?assertEqual(undefined, shards_bench_hist:percentile(H, 0.5)),
    ok = shards_bench_hist:record(H, 0),
    ok = shards_bench_hist:record(H, 63),
    ok = shards_bench_hist:record(H, 1 bsl 50),
    ?assertEqual(0, shards_bench_hist:percentile(H, 0.3)),
    ?assertEqual(63, shards_bench_hist:percentile(H, 0.6)),
    ?assert(shards_bench_hist:percentile(H, 1.0) > 1.0e11),
    ?assertMatch(#{samples := 3}, shards_bench_hist:summary(H)).

%%% Report files

report_files_test() ->
    Dir = filename:join(tmp_dir(), "shards_bench_report_test"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Rows = [#{scenario => s1, type => set, value => "small", keys => "uniform", keyspace => 10,
              mix => "lookup:1", schedulers => 2, workers => W, target => T,
              ops_per_s => 1.0e6 * W, ratio => 1.0, p50 => 500, p99 => 1500.0,
              p999 => undefined, samples => 10, rounds => [1.0e6, 1.1e6]}
            || W <- [1, 4], T <- [ets, shards]],
    Csv = filename:join(Dir, "r.csv"),
    ok = shards_bench_report:write_csv(Csv, Rows),
    {ok, CsvBin} = file:read_file(Csv),
    [Header | Lines] = string:lexemes(binary_to_list(CsvBin), "\n"),
    ?assertEqual(4, length(Lines)),
    ?assertEqual(length(string:split(Header, ",", all)),
                 length(string:split(hd(Lines), ",", all))),
    Gp = filename:join(Dir, "r.gp"),
    ok = shards_bench_report:write_gnuplot(Gp, filename:join(Dir, "r.png"), "t", Rows),
    {ok, GpBin} = file:read_file(Gp),
    ?assert(contains(binary_to_list(GpBin), "$d_s1_shards << EOD")),
    ok = file:delete(Csv),
    ok = file:delete(Gp).

tmp_dir() ->
    case os:getenv("TMPDIR", "") of
        "" -> "/tmp";
        D -> D
    end.
