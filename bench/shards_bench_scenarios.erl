%% @doc The scenarios the benchmark knows, and which ones a run uses.
%%
%% `default/0' is what `make bench' runs: the key-value operations on set
%% and ordered_set tables. The catalog also holds
%% scenarios for select and the other table types; ask for them by name
%% (`SCENARIOS=select_key,bag_mix make bench'). Until every target supports
%% what they use, the run stops before measuring anything and says what is
%% missing. A file of scenario maps (`BENCH_CONFIG=path', read with
%% `file:consult/1') can replace the catalog's; see `shards_loadgen' for the
%% keys of a scenario.
-module(shards_bench_scenarios).

-export([catalog/0, default/0, foundation/0, select/1]).

-spec catalog() -> [map()].
catalog() ->
    [#{name => read_mostly, mix => [{lookup, 90}, {insert, 10}],
       keys => uniform, value => small},
     #{name => write_heavy, mix => [{insert, 60}, {delete, 20}, {lookup, 20}],
       keys => uniform, value => bin100},
     #{name => kv_mix, mix => [{lookup, 40}, {insert, 15}, {insert_new, 10}, {delete, 10},
                               {take, 10}, {update_counter, 15}],
       keys => {pareto, 1.5}, value => small},
     #{name => hot_counters, mix => [{update_counter, 80}, {lookup, 20}],
       keys => {hotspot, 0.001, 0.9}, value => small},
     #{name => big_values, mix => [{lookup, 80}, {insert, 20}],
       keys => uniform, keyspace => 1000, value => bin100k},
     #{name => ordered_set_mix, type => ordered_set, mix => [{insert, 50}, {lookup, 50}],
       keys => uniform, value => small},
     %% Not in the default run yet: they need select in shards.
     #{name => select_key, mix => [{lookup, 50}, {select_key, 50}],
       keys => uniform, value => small},
     #{name => select_scan, mix => [{lookup, 95}, {select_all, 5}],
       keys => uniform, keyspace => 10000, value => small},
     #{name => ordered_set_read, type => ordered_set, mix => [{lookup, 90}, {insert, 10}],
       keys => uniform, value => small},
     #{name => bag_mix, type => bag, mix => [{insert, 40}, {lookup, 50}, {delete, 10}],
       keys => uniform, value => small},
     %% The first micro-benchmark of the foundation issue (`foundation'):
     %% {Int, Int} and {16-byte binary, 100-byte binary} objects.
     #{name => int_lookup, mix => [{lookup, 1}], shape => pair, value => small},
     #{name => int_insert, mix => [{insert, 1}], shape => pair, value => small},
     #{name => int_mix, mix => [{insert, 1}, {lookup, 1}], shape => pair, value => small},
     #{name => bin_lookup, mix => [{lookup, 1}], shape => pair, key => bin16, value => bin100},
     #{name => bin_insert, mix => [{insert, 1}], shape => pair, key => bin16, value => bin100},
     #{name => bin_mix, mix => [{insert, 1}, {lookup, 1}], shape => pair, key => bin16,
       value => bin100},
     #{name => duplicate_bag_mix, type => duplicate_bag,
       mix => [{insert, 10}, {lookup, 80}, {delete, 10}],
       keys => uniform, keyspace => 10000, value => small}].

-spec default() -> [atom()].
default() -> [read_mostly, write_heavy, kv_mix, hot_counters, big_values,
             ordered_set_read, ordered_set_mix].

%% @doc The foundation issue's micro-benchmark (run at 1 and 64 workers).
-spec foundation() -> [atom()].
foundation() -> [int_lookup, int_insert, int_mix, bin_lookup, bin_insert, bin_mix].

%% @doc The scenarios for a run: `"default"', `"foundation"', `"all"' or comma-separated
%% names, from `File' when one is given (else from the catalog).
-spec select(#{names := string(), file := string() | false}) -> [map()].
select(#{names := Names, file := File}) ->
    Known = case File of
                false -> catalog();
                _ -> consult(File)
            end,
    KnownNames = [maps:get(name, S, unnamed) || S <- Known],
    Wanted = case Names of
                 "all" -> KnownNames;
                 "default" when File =:= false -> default();
                 "foundation" when File =:= false -> foundation();
                 "default" -> KnownNames;
                 _ -> [list_to_atom(N) || N <- string:lexemes(Names, ", ")]
             end,
    [case [S || S <- Known, maps:get(name, S, unnamed) =:= W] of
         [S | _] -> S;
         [] -> shards_bench_error:raise("unknown scenario ~s (known: ~s)",
                                        [W, lists:join(", ", [atom_to_list(N) || N <- KnownNames])])
     end || W <- Wanted].

consult(File) ->
    case file:consult(File) of
        {ok, Terms} ->
            [T || T <- Terms, is_map(T)] =:= Terms
                orelse shards_bench_error:raise("~s: every term must be a scenario map", [File]),
            Terms;
        {error, Reason} ->
            shards_bench_error:raise("cannot read ~s: ~s", [File, file:format_error(Reason)])
    end.
