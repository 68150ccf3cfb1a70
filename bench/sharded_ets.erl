%% @doc The sharded-ETS baseline: the original shards design (shards 1.x,
%% pure Erlang) reduced to its core. A table is N plain ets tables; the one
%% holding a key is `erlang:phash2(Key, N)'. The handle is a tuple of the
%% partitions' tids (for a `named_table' it sits in `persistent_term' under
%% the name), so routing a key costs one hash and one `element/2'.
%%
%% The API is the subset of `ets' the benchmark uses, with ets's arguments
%% and results. As in the original library, calls that span partitions are
%% not atomic: a list `insert/2' is one ets insert per partition, and a list
%% `insert_new/2' checks every key, then inserts.
-module(sharded_ets).

-export([new/2, delete/1, insert/2, insert_new/2, lookup/2, member/2,
         delete/2, take/2, update_counter/3, update_counter/4, select/2,
         delete_all_objects/1, tab2list/1, info/2, whereis/1]).

-export_type([tab/0]).

-record(sharded, {keypos = 1 :: pos_integer(), parts :: tuple()}).

-opaque tab() :: #sharded{} | atom().

%% @doc Creates a table of `{partitions, N}' ets tables (default: one per
%% online scheduler). The other options go to every partition, except
%% `named_table', which names the whole table.
-spec new(atom(), [term()]) -> tab().
new(Name, Options) ->
    N = proplists:get_value(partitions, Options, erlang:system_info(schedulers_online)),
    Named = lists:member(named_table, Options),
    PartOpts = [O || O <- Options, O =/= named_table, not is_partitions(O)],
    Parts = list_to_tuple([ets:new(Name, PartOpts) || _ <- lists:seq(1, N)]),
    Tab = #sharded{keypos = proplists:get_value(keypos, Options, 1), parts = Parts},
    case Named of
        true ->
            case persistent_term:get({?MODULE, Name}, undefined) of
                undefined -> persistent_term:put({?MODULE, Name}, Tab), Name;
                _ -> lists:foreach(fun ets:delete/1, tuple_to_list(Parts)), error(badarg, [Name, Options])
            end;
        false ->
            Tab
    end.

is_partitions({partitions, _}) -> true;
is_partitions(_) -> false.

%% @doc The handle of a named table, or `undefined'.
-spec whereis(atom()) -> tab() | undefined.
whereis(Name) ->
    persistent_term:get({?MODULE, Name}, undefined).

-spec delete(tab()) -> true.
delete(Name) when is_atom(Name) ->
    Tab = resolve(Name),
    _ = persistent_term:erase({?MODULE, Name}),
    delete(Tab);
delete(#sharded{parts = Parts}) ->
    lists:foreach(fun(P) -> true = ets:delete(P) end, tuple_to_list(Parts)),
    true.

-spec insert(tab(), tuple() | [tuple()]) -> true.
insert(Tab, Objects) when is_list(Objects) ->
    T = resolve(Tab),
    lists:foreach(fun({P, Objs}) -> true = ets:insert(P, Objs) end, group(T, Objects)),
    true;
insert(Tab, Object) ->
    T = resolve(Tab),
    ets:insert(part(T, element(T#sharded.keypos, Object)), Object).

-spec insert_new(tab(), tuple() | [tuple()]) -> boolean().
insert_new(Tab, Objects) when is_list(Objects) ->
    T = resolve(Tab),
    KeyPos = T#sharded.keypos,
    case lists:any(fun(O) -> member(T, element(KeyPos, O)) end, Objects) of
        true -> false;
        false -> insert(T, Objects)
    end;
insert_new(Tab, Object) ->
    T = resolve(Tab),
    ets:insert_new(part(T, element(T#sharded.keypos, Object)), Object).

-spec lookup(tab(), term()) -> [tuple()].
lookup(Tab, Key) -> ets:lookup(part(resolve(Tab), Key), Key).

-spec member(tab(), term()) -> boolean().
member(Tab, Key) -> ets:member(part(resolve(Tab), Key), Key).

-spec delete(tab(), term()) -> true.
delete(Tab, Key) -> ets:delete(part(resolve(Tab), Key), Key).

-spec take(tab(), term()) -> [tuple()].
take(Tab, Key) -> ets:take(part(resolve(Tab), Key), Key).

-spec update_counter(tab(), term(), term()) -> integer() | [integer()].
update_counter(Tab, Key, Op) -> ets:update_counter(part(resolve(Tab), Key), Key, Op).

-spec update_counter(tab(), term(), term(), tuple()) -> integer() | [integer()].
update_counter(Tab, Key, Op, Default) ->
    ets:update_counter(part(resolve(Tab), Key), Key, Op, Default).

%% @doc A match spec whose clauses all bind the key to the same ground term
%% goes to that key's partition only; any other visits every partition.
-spec select(tab(), ets:match_spec()) -> [term()].
select(Tab, MatchSpec) ->
    T = resolve(Tab),
    case bound_key(MatchSpec, T#sharded.keypos) of
        {ok, Key} -> ets:select(part(T, Key), MatchSpec);
        error -> lists:append([ets:select(P, MatchSpec) || P <- tuple_to_list(T#sharded.parts)])
    end.

-spec delete_all_objects(tab()) -> true.
delete_all_objects(Tab) ->
    lists:foreach(fun(P) -> true = ets:delete_all_objects(P) end, parts(Tab)),
    true.

-spec tab2list(tab()) -> [tuple()].
tab2list(Tab) -> lists:append([ets:tab2list(P) || P <- parts(Tab)]).

%% @doc `size' and `memory' are summed over the partitions; `partitions'
%% is their number; anything else is the first partition's answer.
-spec info(tab(), atom()) -> term().
info(Tab, partitions) -> tuple_size((resolve(Tab))#sharded.parts);
info(Tab, Item) when Item =:= size; Item =:= memory ->
    lists:sum([ets:info(P, Item) || P <- parts(Tab)]);
info(Tab, Item) -> ets:info(hd(parts(Tab)), Item).

%%% Internals

resolve(#sharded{} = T) -> T;
resolve(Name) when is_atom(Name) ->
    case persistent_term:get({?MODULE, Name}, undefined) of
        undefined -> error(badarg, [Name]);
        T -> T
    end.

parts(Tab) -> tuple_to_list((resolve(Tab))#sharded.parts).

part(#sharded{parts = Parts}, Key) ->
    element(erlang:phash2(Key, tuple_size(Parts)) + 1, Parts).

group(#sharded{keypos = KeyPos} = T, Objects) ->
    M = lists:foldl(fun(O, Acc) ->
                            P = part(T, element(KeyPos, O)),
                            maps:update_with(P, fun(L) -> [O | L] end, [O], Acc)
                    end, #{}, Objects),
    [{P, lists:reverse(Os)} || {P, Os} <- maps:to_list(M)].

bound_key([Clause | Rest], KeyPos) ->
    case key_of(Clause, KeyPos) of
        {ok, Key} ->
            case lists:all(fun(C) -> key_of(C, KeyPos) =:= {ok, Key} end, Rest) of
                true -> {ok, Key};
                false -> error
            end;
        error ->
            error
    end;
bound_key(_, _) ->
    error.

key_of({Head, _, _}, KeyPos) when is_tuple(Head), tuple_size(Head) >= KeyPos ->
    Key = element(KeyPos, Head),
    case is_ground(Key) of
        true -> {ok, Key};
        false -> error
    end;
key_of(_, _) ->
    error.

%% A term without match variables ('_', '$1', ...).
is_ground('_') -> false;
is_ground(A) when is_atom(A) -> not is_match_var(atom_to_list(A));
is_ground(T) when is_tuple(T) -> lists:all(fun is_ground/1, tuple_to_list(T));
is_ground([H | T]) -> is_ground(H) andalso is_ground(T);
is_ground(M) when is_map(M) -> is_ground(maps:to_list(M));
is_ground(_) -> true.

is_match_var([$$ | Digits]) when Digits =/= [] -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, Digits);
is_match_var(_) -> false.
