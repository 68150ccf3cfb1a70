%% @private
%% @doc Calls for tables created with `{keyslot_fun, Fun}': the partition of
%% each key is `Fun(Key, Partitions)', computed here and passed to the NIF.
-module(shards_keyslot).

-export([call/2]).

-spec call(atom(), [term()]) -> term().
call(Op, [Tab | Rest] = Args) ->
    try
        Fun = shards_nif:info(Tab, keyslot_fun),
        N = shards_nif:info(Tab, partitions),
        Slots = [slot(Fun, Key, N) || Key <- keys(Op, Tab, Rest)],
        shards_nif:routed(Op, Tab, Slots, nif_args(Op, Rest))
    catch
        error:E:St -> shards_error:handle(E, St, Op, Args)
    end.

slot(Fun, Key, N) ->
    case Fun(Key, N) of
        S when is_integer(S), S >= 0, S < N -> S;
        _ -> erlang:error(badarg)
    end.

keys(Op, Tab, [Objects | _]) when Op =:= insert; Op =:= insert_new; Op =:= delete_object ->
    KeyPos = shards_nif:info(Tab, keypos),
    [key_of(O, KeyPos) || O <- if is_list(Objects) -> Objects; true -> [Objects] end];
keys(_Op, _Tab, [Key | _]) ->
    [Key].

key_of(Object, KeyPos) when is_tuple(Object), tuple_size(Object) >= KeyPos ->
    element(KeyPos, Object);
key_of(_, _) ->
    erlang:error(badarg).

nif_args(update_counter, [Key, Op]) -> [Key, Op, []];
nif_args(update_counter, [Key, Op, Default]) -> [Key, Op, {Default}];
nif_args(update_element, [Key, Ops]) -> [Key, Ops, []];
nif_args(update_element, [Key, Ops, Default]) -> [Key, Ops, {Default}];
nif_args(_, Rest) -> Rest.
