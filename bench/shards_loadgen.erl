%% @doc The load generator: a scenario (operation mix, key distribution,
%% value kind, table type) turned into per-worker operation sequences, and
%% the measurement of N workers running them against one table.
%%
%% A scenario is a map:
%%
%% - `name': an atom;
%% - `type': `set' (default), `ordered_set', `bag' or `duplicate_bag';
%% - `mix': `[{Op, Weight}]', Op one of {@link ops/0};
%% - `keys': `uniform' (default), `{pareto, Shape}' (basho_bench's
%%   `pareto_int': mean at 20% of the key space, shape 1.5 puts 65% of the
%%   accesses on the lowest 10% of the keys) or `{hotspot, HotFraction,
%%   HotProbability}' (that probability of picking one of the first
%%   `HotFraction' of the keys);
%% - `keyspace': number of distinct integer keys (default 100000);
%% - `value': `small' (the object is a tuple of three small integers),
%%   `bin100' (a 100-byte binary) or `bin100k' (a 100 KB binary);
%% - `shape': `triple' (default) or `pair': objects `{Key, Value}', as in
%%   the first micro-benchmark of the foundation issue;
%% - `key': `int' (default) or `bin16': the key `<<K:128>>' instead of `K'.
%%
%% Objects are `{Key, Counter, Value}' (or `{Key, Value}'): `update_counter' increments
%% position 2, and the full-table select looks for a negative counter, so
%% it scans everything and returns nothing (it measures the scan, not the
%% copying of the result).
%%
%% Work that is not the measured operation is kept out of the loop: every
%% worker cycles through a pre-built tuple of 4096 operations (the same
%% ones for every target), and only one operation in 64 is timed.
-module(shards_loadgen).

-export([ops/0, types/0, validate/1, preflight/2, prefill/2, sequences/2,
         measure/4, describe/1]).

-export_type([scenario/0, op/0]).

-type op() :: lookup | insert | insert_new | delete | take | update_counter
            | select_key | select_all.
-type scenario() :: #{name := atom(), mix := [{op(), pos_integer()}],
                      type => atom(), keys => term(), keyspace => pos_integer(),
                      value => small | bin100 | bin100k, shape => triple | pair,
                      key => int | bin16}.

-define(SEQ_LEN, 4096).  % operations per worker, cycled through
-define(BATCH, 64).      % ops between looks at the stop flag; 1 of them is timed
-define(POOL, 16).       % distinct values per scenario

%% @doc The operations a mix may name, with the function each one calls.
-spec ops() -> [{op(), {atom(), arity()}}].
ops() ->
    [{lookup, {lookup, 2}}, {insert, {insert, 2}}, {insert_new, {insert_new, 2}},
     {delete, {delete, 2}}, {take, {take, 2}}, {update_counter, {update_counter, 4}},
     {select_key, {select, 2}}, {select_all, {select, 2}}].

-spec types() -> [atom()].
types() -> [set, ordered_set, bag, duplicate_bag].

%% @doc Fills in defaults and checks a scenario against every target.
%% Throws `{bench_config_error, Message}' for an unknown operation, a
%% function a target lacks, a table type a target cannot create, or an
%% operation that fails on a small table of that type.
-spec validate(map()) -> scenario().
validate(Scenario0) ->
    S = maps:merge(#{type => set, keys => uniform, keyspace => 100000, value => small,
                     shape => triple, key => int},
                   Scenario0),
    Name = case S of
               #{name := N} when is_atom(N) -> N;
               _ -> shards_bench_error:raise("scenario without an atom name: ~0p", [Scenario0])
           end,
    Mix = maps:get(mix, S, []),
    Mix =/= [] orelse shards_bench_error:raise("scenario ~s has no operation mix", [Name]),
    lists:foreach(fun(OpWeight) -> check_op(Name, OpWeight) end, Mix),
    lists:member(maps:get(type, S), types())
        orelse shards_bench_error:raise("scenario ~s: unknown table type ~0p (known: ~0p)",
                                        [Name, maps:get(type, S), types()]),
    lists:member(maps:get(value, S), [small, bin100, bin100k])
        orelse shards_bench_error:raise("scenario ~s: unknown value kind ~0p",
                                        [Name, maps:get(value, S)]),
    lists:member(maps:get(shape, S), [triple, pair])
        orelse shards_bench_error:raise("scenario ~s: unknown shape ~0p (triple or pair)",
                                        [Name, maps:get(shape, S)]),
    lists:member(maps:get(key, S), [int, bin16])
        orelse shards_bench_error:raise("scenario ~s: unknown key kind ~0p (int or bin16)",
                                        [Name, maps:get(key, S)]),
    _ = key_fun(S),
    lists:foreach(fun({T, {Op, _}}) -> check_exported(Name, T, Op) end,
                  [{T, OpW} || T <- shards_bench_targets:all(), OpW <- Mix]),
    lists:foreach(fun(T) ->
                          Tab = shards_bench_targets:new(T, maps:get(type, S)),
                          try
                              prefill(Tab, S#{keyspace => 100}),
                              preflight(S, [{T, Tab}])
                          after
                              delete(Tab)
                          end
                  end, shards_bench_targets:all()),
    S.

check_op(Name, {Op, W}) when is_integer(W), W > 0, is_atom(Op) ->
    case lists:keymember(Op, 1, ops()) of
        true -> ok;
        false -> shards_bench_error:raise("scenario ~s: unknown operation ~0p (known: ~0p)",
                                          [Name, Op, [O || {O, _} <- ops()]])
    end;
check_op(Name, Bad) ->
    shards_bench_error:raise("scenario ~s: ~0p in the mix is not {Op, PositiveWeight}", [Name, Bad]).

check_exported(Name, Target, Op) ->
    Mod = shards_bench_targets:module(Target),
    {Fun, Arity} = proplists:get_value(Op, ops()),
    _ = code:ensure_loaded(Mod),
    erlang:function_exported(Mod, Fun, Arity)
        orelse shards_bench_error:raise("scenario ~s uses ~s, but ~s (target ~s) has no ~s/~b yet",
                                        [Name, Op, Mod, Target, Fun, Arity]).

%% @doc Runs every operation of the mix once on each table; throws a
%% readable error for the first one that raises.
-spec preflight(scenario(), [{shards_bench_targets:target(), shards_bench_targets:table()}]) -> ok.
preflight(S, Tabs) ->
    Pool = pool(maps:get(value, S)),
    lists:foreach(
      fun({Target, {Mod, Tab}}) ->
              lists:foreach(
                fun({Op, _}) ->
                        Action = action(S, Op, 0, element(1, Pool)),
                        try exec(Mod, Tab, Action)
                        catch Class:Reason ->
                                shards_bench_error:raise(
                                  "scenario ~s: ~s fails on ~s (~s table): ~s:~0p",
                                  [maps:get(name, S), Op, Target, maps:get(type, S), Class, Reason])
                        end
                end, maps:get(mix, S))
      end, Tabs).

%% @doc Inserts every key of the key space once (counter 0).
-spec prefill(shards_bench_targets:table(), scenario()) -> ok.
prefill({Mod, Tab}, S) ->
    Pool = pool(maps:get(value, S)),
    Objs = [object(S, K, element(K rem ?POOL + 1, Pool))
            || K <- lists:seq(0, maps:get(keyspace, S) - 1)],
    lists:foreach(fun(Chunk) -> true = Mod:insert(Tab, Chunk) end, chunks(Objs, 1000)).

delete({Mod, Tab}) -> true = Mod:delete(Tab).

%% @doc `Workers' operation sequences (tuples of actions), the same for
%% every run of this scenario: worker W always gets sequence W.
-spec sequences(scenario(), pos_integer()) -> [tuple()].
sequences(S = #{name := Name, mix := Mix}, Workers) ->
    Pool = pool(maps:get(value, S)),
    KeyFun = key_fun(S),
    {Ops, Total} = lists:mapfoldl(fun({Op, W}, Acc) -> {{Acc + W, Op}, Acc + W} end, 0, Mix),
    [begin
         St0 = rand:seed_s(exsss, {erlang:phash2(Name), W, 7}),
         {Actions, _} =
             lists:mapfoldl(fun(I, St1) ->
                                    {R, St2} = rand:uniform_s(Total, St1),
                                    {Key, St3} = KeyFun(St2),
                                    Op = pick(R, Ops),
                                    {action(S, Op, Key, element(I rem ?POOL + 1, Pool)), St3}
                            end, St0, lists:seq(1, ?SEQ_LEN)),
         list_to_tuple(Actions)
     end || W <- lists:seq(1, Workers)].

pick(R, [{Upto, Op} | _]) when R =< Upto -> Op;
pick(R, [_ | Rest]) -> pick(R, Rest).

%% The call each operation makes, with its arguments built in advance, for
%% key number `N'.
action(S, Op, N, V) ->
    K = key(S, N),
    case Op of
        lookup -> {lookup, K};
        insert -> {insert, object(S, N, V)};
        insert_new -> {insert_new, object(S, N, V)};
        delete -> {delete, K};
        take -> {take, K};
        update_counter -> {update_counter, K, object(S, N, V)};
        select_key -> {select, [{setelement(1, pattern(S), K), [], ['$_']}]};
        select_all -> {select, [{setelement(2, pattern(S), '$1'), [{'<', '$1', 0}], ['$_']}]}
    end.

key(#{key := int}, N) -> N;
key(#{key := bin16}, N) -> <<N:128>>.

object(S = #{shape := triple}, N, V) -> {key(S, N), 0, V};
object(S = #{shape := pair}, N, V) -> {key(S, N), V}.

pattern(#{shape := triple}) -> {'_', '_', '_'};
pattern(#{shape := pair}) -> {'_', '_'}.

exec(Mod, T, {lookup, K}) -> Mod:lookup(T, K);
exec(Mod, T, {insert, O}) -> Mod:insert(T, O);
exec(Mod, T, {insert_new, O}) -> Mod:insert_new(T, O);
exec(Mod, T, {delete, K}) -> Mod:delete(T, K);
exec(Mod, T, {take, K}) -> Mod:take(T, K);
exec(Mod, T, {update_counter, K, Default}) -> Mod:update_counter(T, K, {2, 1}, Default);
exec(Mod, T, {select, MS}) -> Mod:select(T, MS).

%% A key generator: rand state in, {Key, rand state} out.
key_fun(#{keys := uniform, keyspace := N}) ->
    fun(St) -> {K, St1} = rand:uniform_s(N, St), {K - 1, St1} end;
key_fun(#{keys := {pareto, Shape}, keyspace := N}) when is_number(Shape), Shape > 1 ->
    Exp = -1 / Shape,
    Scale = 0.2 * N * (Shape - 1),
    fun(St) ->
            {U, St1} = rand:uniform_s(St),           % 0 =< U < 1
            {trunc((math:pow(1 - U, Exp) - 1) * Scale) rem N, St1}
    end;
key_fun(#{keys := {hotspot, Frac, Prob}, keyspace := N})
  when Frac > 0, Frac < 1, Prob >= 0, Prob =< 1 ->
    Hot = max(1, trunc(N * Frac)),
    fun(St) ->
            {U, St1} = rand:uniform_s(St),
            case U < Prob of
                true -> {K, St2} = rand:uniform_s(Hot, St1), {K - 1, St2};
                false -> {K, St2} = rand:uniform_s(max(1, N - Hot), St1), {min(Hot + K - 1, N - 1), St2}
            end
    end;
key_fun(#{name := Name, keys := Keys}) ->
    shards_bench_error:raise("scenario ~s: unknown key distribution ~0p (known: uniform, "
                             "{pareto, Shape > 1}, {hotspot, Fraction, Probability})", [Name, Keys]).

%% Values of the scenario's kind; fixed content so every run stores the same bytes.
pool(Kind) ->
    St0 = rand:seed_s(exsss, 42),
    {Vals, _} = lists:mapfoldl(fun(I, St) -> value(Kind, I, St) end, St0, lists:seq(1, ?POOL)),
    list_to_tuple(Vals).

value(small, I, St) -> {I, St};
value(bin100, _, St) -> rand:bytes_s(100, St);
value(bin100k, _, St) -> rand:bytes_s(100 * 1024, St).

%% @doc Runs one sequence per worker against the table for `DurationMs',
%% recording one latency sample in 64 into `Hist'. Returns the operations
%% done and the time from releasing the workers to the last one stopping.
-spec measure(shards_bench_targets:table(), [tuple()], pos_integer(),
              shards_bench_hist:hist()) -> #{ops := non_neg_integer(), seconds := float()}.
measure({Mod, Tab}, Seqs, DurationMs, Hist) ->
    Stop = atomics:new(1, []),
    Self = self(),
    Pids = [spawn_link(fun() -> worker(Self, Mod, Tab, Seq, Stop, Hist) end) || Seq <- Seqs],
    [receive {ready, P} -> ok end || P <- Pids],
    T0 = erlang:monotonic_time(),
    [P ! go || P <- Pids],
    receive after DurationMs -> ok end,
    atomics:put(Stop, 1, 1),
    Ops = lists:sum([receive {done, P, N} -> N end || P <- Pids]),
    T1 = erlang:monotonic_time(),
    #{ops => Ops, seconds => erlang:convert_time_unit(T1 - T0, native, microsecond) / 1.0e6}.

worker(Parent, Mod, Tab, Seq, Stop, Hist) ->
    Parent ! {ready, self()},
    receive go -> ok end,
    Seed = erlang:phash2(self()),
    Parent ! {done, self(), loop(Mod, Tab, Seq, 1, Stop, Hist, 0, Seed)}.

%% Runs batches of ?BATCH operations until told to stop; in each batch one
%% operation, at a pseudo-random position, is timed. A fixed position would
%% make the samples fall in step with where the scheduler preempts the
%% worker (after a fixed number of reductions), over- or under-counting
%% those waits.
loop(Mod, Tab, Seq, I, Stop, Hist, N, X0) ->
    case atomics:get(Stop, 1) of
        0 ->
            X = (X0 * 1103515245 + 12345) band 16#7fffffff,
            Timed = I + (X bsr 16) band (?BATCH - 1),
            batch(Mod, Tab, Seq, I, Timed - 1),
            T0 = erlang:monotonic_time(),
            _ = exec(Mod, Tab, element(Timed, Seq)),
            T1 = erlang:monotonic_time(),
            shards_bench_hist:record(Hist, erlang:convert_time_unit(T1 - T0, native, nanosecond)),
            batch(Mod, Tab, Seq, Timed + 1, I + ?BATCH - 1),
            Next = case I + ?BATCH of
                       J when J > ?SEQ_LEN -> 1;
                       J -> J
                   end,
            loop(Mod, Tab, Seq, Next, Stop, Hist, N + ?BATCH, X);
        _ ->
            N
    end.

batch(_Mod, _Tab, _Seq, I, Last) when I > Last -> ok;
batch(Mod, Tab, Seq, I, Last) ->
    _ = exec(Mod, Tab, element(I, Seq)),
    batch(Mod, Tab, Seq, I + 1, Last).

%% @doc A short text for tables and CSV: the mix, keys and value kind.
-spec describe(scenario()) -> #{mix := string(), keys := string(), value := string()}.
describe(S = #{mix := Mix, keys := Keys, value := Value}) ->
    #{mix => lists:flatten(lists:join(" ", [io_lib:format("~s:~b", [Op, W]) || {Op, W} <- Mix])),
      keys => case Keys of
                  uniform -> "uniform";
                  {pareto, Shape} -> lists:flatten(io_lib:format("pareto:~p", [Shape]));
                  {hotspot, F, P} -> lists:flatten(io_lib:format("hotspot:~p:~p", [F, P]))
              end,
      value => case S of
                   #{shape := pair} -> lists:flatten(io_lib:format("{~s,~s}", [maps:get(key, S), Value]));
                   _ -> atom_to_list(Value)
               end}.

chunks([], _) -> [];
chunks(L, N) -> chunks(L, N, N, [], []).

chunks([], _, _, Cur, Acc) -> lists:reverse([lists:reverse(Cur) | Acc]);
chunks(L, N, 0, Cur, Acc) -> chunks(L, N, N, [], [lists:reverse(Cur) | Acc]);
chunks([H | T], N, Left, Cur, Acc) -> chunks(T, N, Left - 1, [H | Cur], Acc).
