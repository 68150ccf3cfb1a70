%%% @doc How long single shards calls hold a normal scheduler, at the sizes
%%% where a call could take long: big lists, big tables, a bag key with many
%%% objects, huge objects. Each call is timed 3 times on an idle VM (state
%%% rebuilt in between, not timed) and the minimum kept, so that the OS
%%% taking the CPU away during one run does not count; ets is timed the
%%% same way for comparison. Used by shards_sched_budget_tests.
-module(shards_budget_cases).

-export([cases/0, measure/1, measure_all/0, print/1, print_one/1,
         limit_us/0]).

-define(REPEATS, 3).
-define(LIMIT_US, 5000).

limit_us() -> ?LIMIT_US.

bin100(I) -> <<I:32, (binary:copy(<<"x">>, 96))/binary>>.

objs(N) -> [{I, bin100(I)} || I <- lists:seq(1, N)].

%% Key-heavy bags: N objects under the single key `k'.
bag_objs(N) -> [{k, I} || I <- lists:seq(1, N)].

%% {Name, Type, Setup, Call}: Setup(M, T) fills table T of module M (not
%% timed), Call(M, T) is timed.
cases() ->
    Types = [set, ordered_set, bag, duplicate_bag],
    [{{insert_list, 1000, objects_with_100b_binaries}, Ty,
      fun(_, _) -> ok end, fun(M, T) -> M:insert(T, objs(1000)) end} || Ty <- Types]
    ++ [{{insert_new_list, 1000, objects_with_100b_binaries}, Ty,
          fun(_, _) -> ok end, fun(M, T) -> M:insert_new(T, objs(1000)) end} || Ty <- Types]
    ++ [{{tab2list, 9999, objects_with_100b_binaries}, Ty,
          fun(M, T) -> M:insert(T, objs(9999)) end, fun(M, T) -> M:tab2list(T) end}
        || Ty <- Types]
    ++ [{{delete_table, 50000, objects}, Ty,
          fun(M, T) -> M:insert(T, objs(50000)) end, fun(M, T) -> M:delete(T) end}
        || Ty <- Types]
    ++ [{{delete_all_objects, 50000, objects}, Ty,
          fun(M, T) -> M:insert(T, objs(50000)) end, fun(M, T) -> M:delete_all_objects(T) end}
        || Ty <- Types]
    ++ [{{info_size_and_memory, 50000, objects}, Ty,
          fun(M, T) -> M:insert(T, objs(50000)) end,
          fun(M, T) -> {M:info(T, size), M:info(T, memory)} end} || Ty <- Types]
    ++ [{{first_next_last, 50000, objects}, Ty,
          fun(M, T) -> M:insert(T, objs(50000)) end,
          fun(M, T) -> F = M:first(T), {M:next(T, F), M:last(T)} end} || Ty <- Types]
    ++ lists:append(
         [[{{lookup_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end, fun(M, T) -> M:lookup(T, k) end},
           {{take_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end, fun(M, T) -> M:take(T, k) end},
           {{delete_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end, fun(M, T) -> M:delete(T, k) end},
           {{insert_one_into_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end, fun(M, T) -> M:insert(T, {k, 0}) end},
           {{delete_object_in_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end,
            fun(M, T) -> M:delete_object(T, {k, N div 2}) end},
           {{member_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end, fun(M, T) -> M:member(T, k) end},
           {{lookup_element_key_with, N, objects}, Ty,
            fun(M, T) -> M:insert(T, bag_objs(N)) end,
            fun(M, T) -> M:lookup_element(T, k, 2) end}]
          || N <- [5000], Ty <- [bag, duplicate_bag]])
    ++ [{{insert_one_object, list_of, 50000}, set,
          fun(_, _) -> ok end, fun(M, T) -> M:insert(T, {k, lists:seq(1, 50000)}) end},
        {{lookup_one_object, list_of, 50000}, set,
          fun(M, T) -> M:insert(T, {k, lists:seq(1, 50000)}) end,
          fun(M, T) -> M:lookup(T, k) end},
        {{insert_one_object, tuple_of, 50000}, set,
          fun(_, _) -> ok end,
          fun(M, T) -> M:insert(T, list_to_tuple([k | lists:seq(1, 50000)])) end},
        {{update_counter_in, tuple_of, 50000}, set,
          fun(M, T) -> M:insert(T, list_to_tuple([k | lists:seq(1, 50000)])) end,
          fun(M, T) -> M:update_counter(T, k, {50000, 1}) end},
        %% A value of the same encoded size is written in place (about
        %% 70 us at 200 000 elements); another size rewrites the object.
        {{update_element_in, tuple_of, 200000}, set,
          fun(M, T) -> M:insert(T, list_to_tuple([k | lists:seq(1, 200000)])) end,
          fun(M, T) -> M:update_element(T, k, {100000, x}) end},
        {{update_element_resize_in, tuple_of, 50000}, set,
          fun(M, T) -> M:insert(T, list_to_tuple([k | lists:seq(1, 50000)])) end,
          fun(M, T) -> M:update_element(T, k, {25000, [1, 2, 3]}) end}].

%% {Case, Type, EtsMinUs, ShardsMinUs}
measure({Name, Type, Setup, Call}) ->
    {Name, Type, min_us(ets, Type, Setup, Call), min_us(shards, Type, Setup, Call)}.

min_us(M, Type, Setup, Call) ->
    lists:min([once(M, Type, Setup, Call) || _ <- lists:seq(1, ?REPEATS)]).

once(M, Type, Setup, Call) ->
    T = case M of
            ets -> ets:new(budget, [Type, public]);
            shards -> shards:new(budget, [Type, public])
        end,
    Setup(M, T),
    garbage_collect(),
    erlang:yield(),
    T0 = erlang:monotonic_time(microsecond),
    _ = Call(M, T),
    Us = erlang:monotonic_time(microsecond) - T0,
    catch M:delete(T),
    Us.

measure_all() ->
    io:format(user, "~n~-58s ~-14s ~10s ~10s~n", ["call", "type", "ets us", "shards us"]),
    [begin R = measure(C), print_one(R), R end || C <- cases()].

print(Results) ->
    io:format(user, "~n~-58s ~-14s ~10s ~10s~n", ["call", "type", "ets us", "shards us"]),
    [print_one(R) || R <- Results],
    ok.

print_one({Name, Type, E, S}) ->
    io:format(user, "~-58s ~-14s ~10b ~10b~s~n",
              [io_lib:format("~p", [Name]), Type, E, S,
               case S > ?LIMIT_US of true -> "  OVER"; false -> "" end]).
