%% @doc ETS-compatible partitioned tables, kept by a Rust NIF.
%%
%% The API is the `ets' API (same arguments, results and errors) plus the
%% original `shards' library's partitioning options and metadata functions,
%% so code written for either runs unchanged. A table is split into
%% partitions (default: one per online scheduler), each behind its own lock.
%%
%% Extra options for {@link new/2}: `{partitions, N}' (or the older
%% `{n_shards, N}'), `{keyslot_fun, Fun}' (the partition of a key is
%% `Fun(Key, N)'), `{parallel, Bool}' (full-table select scans run the
%% partitions in parallel) and `{parallel_timeout, T}' (their time limit).
-module(shards).

-export([new/2, insert/2, insert_new/2, lookup/2, lookup_element/3,
         lookup_element/4, member/2, delete/1, delete/2, delete_object/2,
         delete_all_objects/1, take/2, update_counter/3, update_counter/4,
         update_element/3, update_element/4, info/1, info/2, all/0,
         whereis/1, rename/2, give_away/3, setopts/2, tab2list/1,
         first/1, next/2, last/1, prev/2, foldl/3, foldr/3, safe_fixtable/2,
         table/1, table/2]).
%% Queries: the select and match family, and match specs.
-export([select/1, select/2, select/3, select_reverse/1, select_reverse/2,
         select_reverse/3, select_count/2, select_delete/2, select_replace/2,
         match/1, match/2, match/3, match_object/1, match_object/2,
         match_object/3, match_delete/2, match_spec_compile/1,
         match_spec_run/2, is_compiled_ms/1, test_ms/2]).
%% The original shards API: metadata, and the arities taking it last.
-export([table_meta/1, get_meta/2, get_meta/3, put_meta/3,
         insert/3, insert_new/3, lookup/3, member/3, delete/3,
         delete_object/3, delete_all_objects/2, take/3, update_counter/5,
         update_element/5, info/3, rename/3, tab2list/2, select/4,
         select_reverse/4, select_count/3, select_delete/3, select_replace/3,
         match/4, match_object/4, match_delete/3]).

-export_type([tab/0, meta/0, option/0, continuation/0]).

-type tab() :: atom() | reference().
-type meta() :: #{'__struct__' := shards_meta, tab := tab(), name := atom(),
                  keypos := pos_integer(), partitions := pos_integer(),
                  keyslot_fun := fun((term(), pos_integer()) -> non_neg_integer()) | undefined,
                  parallel := boolean(), parallel_timeout := timeout()}.
-type option() :: set | ordered_set | bag | duplicate_bag | public | protected | private | named_table
                | {keypos, pos_integer()} | {heir, pid(), term()} | {heir, none}
                | {write_concurrency, boolean() | auto} | {read_concurrency, boolean()}
                | {decentralized_counters, boolean()} | compressed
                | {partitions, pos_integer()} | {n_shards, pos_integer()}
                | {keyslot_fun, fun((term(), pos_integer()) -> non_neg_integer())}
                | {parallel, boolean()} | {parallel_timeout, timeout()}.
%% What select/3 and friends return to continue with (opaque).
-type continuation() :: '$end_of_table' | tuple().
-type match_spec() :: [{term(), [term()], [term()]}].
-type update_op() :: {pos_integer(), integer()}
                   | {pos_integer(), integer(), integer(), integer()}.

%% Calls the NIF; its errors become ETS errors raised from this function.
-define(NIF(Call, Args),
        try Call
        catch error:E__:St__ -> shards_error:handle(E__, St__, ?FUNCTION_NAME, Args)
        end).

-record(opts, {type = set, keypos = 1, protection = protected, named = false,
               partitions = erlang:system_info(schedulers_online), heir = none,
               keyslot_fun = none, read_concurrency = false,
               write_concurrency = false, compressed = false,
               decentralized_counters = default, parallel = false,
               parallel_timeout = infinity}).

%%% Creation and deletion

%% @doc Creates a table, as `ets:new/2'. Returns the name for a
%% `named_table', else a reference identifying the table.
-spec new(atom(), [option()]) -> tab().
new(Name, Options) when is_atom(Name), is_list(Options) ->
    O = try parse_options(Options, #opts{})
        catch throw:badarg -> erlang:error(badarg, [Name, Options], error_info())
        end,
    DecCounters = case O#opts.decentralized_counters of
                      default -> O#opts.write_concurrency =:= auto;
                      D -> D
                  end,
    NifOpts = {O#opts.keypos, O#opts.protection, O#opts.named, O#opts.partitions,
               O#opts.heir, O#opts.keyslot_fun, O#opts.read_concurrency,
               O#opts.write_concurrency, O#opts.compressed, DecCounters,
               O#opts.type, O#opts.parallel, O#opts.parallel_timeout},
    ?NIF(shards_nif:new(Name, NifOpts), [Name, Options]);
new(Name, Options) ->
    erlang:error(badarg, [Name, Options], error_info()).

error_info() ->
    [{error_info, #{module => shards_error}}].

parse_options([], O) -> O;
parse_options([Opt | Rest], O) -> parse_options(Rest, option(Opt, O));
parse_options(_, _) -> throw(badarg).

option(T, O) when T =:= set; T =:= ordered_set; T =:= bag; T =:= duplicate_bag -> O#opts{type = T};
option(P, O) when P =:= public; P =:= protected; P =:= private -> O#opts{protection = P};
option(named_table, O) -> O#opts{named = true};
option({keypos, P}, O) when is_integer(P), P >= 1 -> O#opts{keypos = P};
option({heir, none}, O) -> O#opts{heir = none};
option({heir, Pid, Data}, O) when is_pid(Pid), node(Pid) =:= node() -> O#opts{heir = {Pid, Data}};
option({write_concurrency, W}, O) when is_boolean(W); W =:= auto -> O#opts{write_concurrency = W};
option({read_concurrency, R}, O) when is_boolean(R) -> O#opts{read_concurrency = R};
option({decentralized_counters, D}, O) when is_boolean(D) -> O#opts{decentralized_counters = D};
option(compressed, O) -> O#opts{compressed = true};
option({partitions, N}, O) when is_integer(N), N >= 1 -> O#opts{partitions = N};
option({n_shards, N}, O) when is_integer(N), N >= 1 -> O#opts{partitions = N};
option({keyslot_fun, F}, O) when is_function(F, 2) -> O#opts{keyslot_fun = F};
option({parallel, P}, O) when is_boolean(P) -> O#opts{parallel = P};
option({parallel_timeout, T}, O) when T =:= infinity; is_integer(T), T >= 0, T < 1 bsl 59 ->
    O#opts{parallel_timeout = T};
option(_, _) -> throw(badarg).

%% @doc Deletes the whole table, as `ets:delete/1'.
-spec delete(tab()) -> true.
delete(Tab) -> ?NIF(shards_nif:delete(Tab), [Tab]).

%% @doc Deletes all objects, as `ets:delete_all_objects/1'.
-spec delete_all_objects(tab()) -> true.
delete_all_objects(Tab) -> ?NIF(shards_nif:delete_all_objects(Tab), [Tab]).

%%% Writes

%% @doc Inserts an object or a list of objects, as `ets:insert/2'. A list is
%% inserted atomically, even across partitions.
-spec insert(tab(), tuple() | [tuple()]) -> true.
insert(Tab, Objects) -> ?NIF(shards_nif:insert(Tab, Objects), [Tab, Objects]).

%% @doc Inserts only if no key exists yet, as `ets:insert_new/2'. A list is
%% all-or-nothing and atomic, even across partitions.
-spec insert_new(tab(), tuple() | [tuple()]) -> boolean().
insert_new(Tab, Objects) -> ?NIF(shards_nif:insert_new(Tab, Objects), [Tab, Objects]).

%% @doc Deletes the object with key `Key', as `ets:delete/2'.
-spec delete(tab(), term()) -> true.
delete(Tab, Key) -> ?NIF(shards_nif:delete_key(Tab, Key), [Tab, Key]).

%% @doc Deletes this exact object, as `ets:delete_object/2'.
-spec delete_object(tab(), tuple()) -> true.
delete_object(Tab, Object) -> ?NIF(shards_nif:delete_object(Tab, Object), [Tab, Object]).

%% @doc Removes and returns the object with key `Key', as `ets:take/2'.
-spec take(tab(), term()) -> [tuple()].
take(Tab, Key) -> ?NIF(shards_nif:take(Tab, Key), [Tab, Key]).

%% @doc Atomically updates counters, as `ets:update_counter/3'.
-spec update_counter(tab(), term(), integer() | update_op() | [update_op()]) ->
          integer() | [integer()].
update_counter(Tab, Key, Op) ->
    ?NIF(shards_nif:update_counter(Tab, Key, Op, []), [Tab, Key, Op]).

%% @doc As `ets:update_counter/4': `Default' is inserted (with its key set
%% to `Key') when the key is missing. A metadata last argument (shards 1.x)
%% is accepted too.
-spec update_counter(tab(), term(), integer() | update_op() | [update_op()], tuple() | meta()) ->
          integer() | [integer()].
update_counter(Tab, Key, Op, #{'__struct__' := shards_meta}) ->
    update_counter(Tab, Key, Op);
update_counter(Tab, Key, Op, Default) ->
    ?NIF(shards_nif:update_counter(Tab, Key, Op, {Default}), [Tab, Key, Op, Default]).

%% @doc As `update_counter/4' with the metadata last (shards 1.x).
-spec update_counter(tab(), term(), integer() | update_op() | [update_op()], tuple(), meta()) ->
          integer() | [integer()].
update_counter(Tab, Key, Op, Default, _Meta) -> update_counter(Tab, Key, Op, Default).

%% @doc Replaces elements of the object with key `Key', as
%% `ets:update_element/3'; `false' if there is no such object.
-spec update_element(tab(), term(), {pos_integer(), term()} | [{pos_integer(), term()}]) -> boolean().
update_element(Tab, Key, Ops) ->
    ?NIF(shards_nif:update_element(Tab, Key, Ops, []), [Tab, Key, Ops]).

%% @doc As `update_element/3', inserting `Default' (key set to `Key') when
%% the key is missing (OTP 27 semantics). A metadata last argument is accepted.
-spec update_element(tab(), term(), {pos_integer(), term()} | [{pos_integer(), term()}],
                     tuple() | meta()) -> boolean().
update_element(Tab, Key, Ops, #{'__struct__' := shards_meta}) ->
    update_element(Tab, Key, Ops);
update_element(Tab, Key, Ops, Default) ->
    ?NIF(shards_nif:update_element(Tab, Key, Ops, {Default}), [Tab, Key, Ops, Default]).

%% @doc As `update_element/4' with the metadata last (shards 1.x).
-spec update_element(tab(), term(), {pos_integer(), term()} | [{pos_integer(), term()}],
                     tuple(), meta()) -> boolean().
update_element(Tab, Key, Ops, Default, _Meta) -> update_element(Tab, Key, Ops, Default).

%%% Reads

%% @doc The objects with key `Key', as `ets:lookup/2'.
-spec lookup(tab(), term()) -> [tuple()].
lookup(Tab, Key) -> ?NIF(shards_nif:lookup(Tab, Key), [Tab, Key]).

%% @doc Element `Pos' of the object with key `Key', as `ets:lookup_element/3'.
-spec lookup_element(tab(), term(), pos_integer()) -> term().
lookup_element(Tab, Key, Pos) ->
    ?NIF(shards_nif:lookup_element(Tab, Key, Pos), [Tab, Key, Pos]).

%% @doc As `lookup_element/3', returning `Default' when the key is missing
%% (OTP 26 semantics). A metadata last argument (shards 1.x) is accepted too.
-spec lookup_element(tab(), term(), pos_integer(), term()) -> term().
lookup_element(Tab, Key, Pos, #{'__struct__' := shards_meta}) ->
    lookup_element(Tab, Key, Pos);
lookup_element(Tab, Key, Pos, Default) ->
    try shards_nif:lookup_element(Tab, Key, Pos)
    catch
        error:{badarg, badkey} -> Default;
        error:E:St -> shards_error:handle(E, St, lookup_element, [Tab, Key, Pos, Default])
    end.

%% @doc Whether an object with key `Key' exists, as `ets:member/2'.
-spec member(tab(), term()) -> boolean().
member(Tab, Key) -> ?NIF(shards_nif:member(Tab, Key), [Tab, Key]).

%% @doc All objects, as `ets:tab2list/1'.
-spec tab2list(tab()) -> [tuple()].
tab2list(Tab) -> ?NIF(shards_nif:tab2list(Tab), [Tab]).

%%% Traversal

%% @doc The first key, as `ets:first/1': the smallest key of an
%% ordered_set (over all partitions), some key of other types, or
%% `'$end_of_table''.
-spec first(tab()) -> term() | '$end_of_table'.
first(Tab) ->
    ?NIF(shards_nif:first(Tab), [Tab]).

%% @doc The key after `Key', as `ets:next/2'. In an ordered_set `Key' need
%% not be in the table; in other types it must be.
-spec next(tab(), term()) -> term() | '$end_of_table'.
next(Tab, Key) ->
    ?NIF(shards_nif:next(Tab, Key), [Tab, Key]).

%% @doc The last key, as `ets:last/1' (`first/1' for unordered types).
-spec last(tab()) -> term() | '$end_of_table'.
last(Tab) ->
    ?NIF(shards_nif:last(Tab), [Tab]).

%% @doc The key before `Key', as `ets:prev/2' (`next/2' for unordered types).
-spec prev(tab(), term()) -> term() | '$end_of_table'.
prev(Tab, Key) ->
    ?NIF(shards_nif:prev(Tab, Key), [Tab, Key]).

%% @doc Fixes or releases the table, as `ets:safe_fixtable/2': while a
%% process fixes it, a first/next traversal sees every key that stays in the
%% table exactly once, and `next/2' accepts keys deleted meanwhile. A
%% fixation ends when its process exits.
-spec safe_fixtable(tab(), boolean()) -> true.
safe_fixtable(Tab, Fix) ->
    Since = {erlang:timestamp(), erlang:monotonic_time()},
    ?NIF(shards_nif:safe_fixtable(Tab, Fix, Since), [Tab, Fix]).

%% @doc A QLC table for `Tab', as `ets:table/1'.
-spec table(tab()) -> qlc:query_handle().
table(Tab) ->
    table(Tab, []).

%% @doc A QLC table for `Tab', as `ets:table/2'. Options: `{n_objects, N}'
%% (objects read per chunk) and `{traverse, T}' with `T' one of
%% `first_next', `last_prev', `select' or `{select, MatchSpec}'. Queries
%% on the key are answered by `lookup/2'.
-spec table(tab(), [{n_objects, pos_integer() | default}
                    | {traverse, first_next | last_prev | select | {select, term()}}]) ->
          qlc:query_handle().
table(Tab, Opts) ->
    {N, Traverse} = try table_options(Opts, {100, select})
                    catch throw:badarg when is_atom(Tab); is_reference(Tab) ->
                            erlang:error(badarg, [Tab, Opts]);
                          throw:badarg ->
                            %% As ets: a term that cannot name a table.
                            shards_error:badarg(type, [], table, [Tab, Opts])
                    end,
    Info = fun(keypos) -> info(Tab, keypos);
              (is_sorted_key) -> info(Tab, type) =:= ordered_set;
              (is_unique_objects) -> info(Tab, type) =/= duplicate_bag;
              (num_of_objects) -> info(Tab, size);
              (indices) -> [];
              (_) -> undefined
           end,
    Lookup = fun(_KeyPos, Keys) -> lists:flatmap(fun(K) -> lookup(Tab, K) end, Keys) end,
    KeyEquality = case info(Tab, type) of
                      ordered_set -> '==';
                      _ -> '=:='
                  end,
    %% As ets: a traversal restricted by a match spec offers no key lookup
    %% (a lookup would bypass the spec).
    LookupOpt = case Traverse of
                    {select, _} -> [];
                    _ -> [{lookup_fun, Lookup}]
                end,
    qlc:table(table_traverse(Tab, N, Traverse),
              [{info_fun, Info}, {key_equality, KeyEquality},
               {format_fun, fun(_) -> io_lib:format("shards:table(~tw)", [Tab]) end}
               | LookupOpt]).

table_options([], Acc) -> Acc;
table_options([{n_objects, default} | T], {_, Tr}) -> table_options(T, {100, Tr});
table_options([{n_objects, N} | T], {_, Tr}) when is_integer(N), N > 0 ->
    table_options(T, {N, Tr});
table_options([{traverse, Tr} | T], {N, _}) when Tr =:= first_next; Tr =:= last_prev;
                                                   Tr =:= select ->
    table_options(T, {N, Tr});
table_options([{traverse, {select, _} = Tr} | T], {N, _}) -> table_options(T, {N, Tr});
table_options(_, _) -> throw(badarg).

%% QLC's traverse function: a list of objects ending in a fun for more.
table_traverse(Tab, N, select) ->
    table_traverse(Tab, N, {select, [{'_', [], ['$_']}]});
table_traverse(Tab, N, {select, Spec}) ->
    fun() -> table_chunk(select(Tab, Spec, N)) end;
table_traverse(Tab, _N, first_next) ->
    fun() -> table_walk(Tab, first(Tab), fun next/2) end;
table_traverse(Tab, _N, last_prev) ->
    fun() -> table_walk(Tab, last(Tab), fun prev/2) end.

table_chunk('$end_of_table') -> [];
table_chunk({Objects, Cont}) -> Objects ++ fun() -> table_chunk(select(Cont)) end.

table_walk(_Tab, '$end_of_table', _Step) -> [];
table_walk(Tab, Key, Step) ->
    lookup(Tab, Key) ++ fun() -> table_walk(Tab, Step(Tab, Key), Step) end.

%% @doc Folds over all objects, as `ets:foldl/3' (in key order for an
%% ordered_set). As ets, the table is checked first; `Fun' is checked only
%% when there is an object to apply it to (an empty table gives `Acc',
%% else a `Fun' that is not a fun of arity 2 fails in `lists:foldl/3'
%% with function_clause).
-spec foldl(fun((tuple(), Acc) -> Acc), Acc, tab()) -> Acc.
foldl(Fun, Acc, Tab) ->
    case tab2list(Tab) of
        [] -> Acc;
        Objects -> lists:foldl(Fun, Acc, Objects)
    end.

%% @doc Folds over all objects from the last, as `ets:foldr/3' (in reverse
%% key order for an ordered_set); `Fun' is checked as in `foldl/3'.
-spec foldr(fun((tuple(), Acc) -> Acc), Acc, tab()) -> Acc.
foldr(Fun, Acc, Tab) ->
    case tab2list(Tab) of
        [] -> Acc;
        Objects -> lists:foldr(Fun, Acc, Objects)
    end.

%%% Queries: select, match and match specs
%%
%% Results and errors are those of ets. For set tables the order of the
%% results is unspecified (as in ets), and select_reverse is select; an
%% ordered_set gives them in key order (reverse order for select_reverse),
%% merged across its partitions.

%% @doc The results of `MatchSpec' for every object, as `ets:select/2'.
-spec select(tab(), match_spec()) -> [term()].
select(Tab, Spec) ->
    shards_select:all(select, Tab, Spec, table, {select, [Tab, Spec]}).

%% @doc As `ets:select/3': at most `Limit' results and a continuation for
%% `select/1'. A metadata last argument (shards 1.x) gives `select/2'.
-spec select(tab(), match_spec(), pos_integer() | meta()) ->
          {[term()], continuation()} | '$end_of_table' | [term()].
select(Tab, Spec, #{'__struct__' := shards_meta} = Meta) ->
    shards_select:all(select, Tab, Spec, meta_par(Meta), {select, [Tab, Spec]});
select(Tab, Spec, Limit) ->
    shards_select:chunk(Tab, Spec, Limit, {select, [Tab, Spec, Limit]}).

%% @private
-spec select(tab(), match_spec(), pos_integer(), meta()) ->
          {[term()], continuation()} | '$end_of_table'.
select(Tab, Spec, Limit, _Meta) -> select(Tab, Spec, Limit).

%% @doc The next chunk after a `select/3' (or `match/3', ...), as
%% `ets:select/1'. A continuation may be reused and passed to another process.
-spec select(continuation()) -> {[term()], continuation()} | '$end_of_table'.
select(Cont) ->
    shards_select:continue(Cont, {select, [Cont]}).

%% @doc As `ets:select_reverse/2': reverse key order for an ordered_set,
%% the same as `select/2' for the other types.
-spec select_reverse(tab(), match_spec()) -> [term()].
select_reverse(Tab, Spec) ->
    shards_select:all_reverse(Tab, Spec, table, {select_reverse, [Tab, Spec]}).

%% @doc As `ets:select_reverse/3' (a metadata last argument gives `/2').
-spec select_reverse(tab(), match_spec(), pos_integer() | meta()) ->
          {[term()], continuation()} | '$end_of_table' | [term()].
select_reverse(Tab, Spec, #{'__struct__' := shards_meta} = Meta) ->
    shards_select:all_reverse(Tab, Spec, meta_par(Meta), {select_reverse, [Tab, Spec]});
select_reverse(Tab, Spec, Limit) ->
    shards_select:chunk_reverse(Tab, Spec, Limit, {select_reverse, [Tab, Spec, Limit]}).

%% @private
-spec select_reverse(tab(), match_spec(), pos_integer(), meta()) ->
          {[term()], continuation()} | '$end_of_table'.
select_reverse(Tab, Spec, Limit, _Meta) -> select_reverse(Tab, Spec, Limit).

%% @doc As `ets:select_reverse/1'.
-spec select_reverse(continuation()) -> {[term()], continuation()} | '$end_of_table'.
select_reverse(Cont) ->
    shards_select:continue(Cont, {select_reverse, [Cont]}).

%% @doc The number of objects for which `MatchSpec' returns `true', as
%% `ets:select_count/2'.
-spec select_count(tab(), match_spec()) -> non_neg_integer().
select_count(Tab, Spec) ->
    shards_select:all(count, Tab, Spec, table, {select_count, [Tab, Spec]}).

%% @private
-spec select_count(tab(), match_spec(), meta()) -> non_neg_integer().
select_count(Tab, Spec, Meta) ->
    shards_select:all(count, Tab, Spec, meta_par(Meta), {select_count, [Tab, Spec]}).

%% @doc Deletes the objects for which `MatchSpec' returns `true', as
%% `ets:select_delete/2'; returns how many.
-spec select_delete(tab(), match_spec()) -> non_neg_integer().
select_delete(Tab, Spec) ->
    shards_select:all(delete, Tab, Spec, table, {select_delete, [Tab, Spec]}).

%% @private
-spec select_delete(tab(), match_spec(), meta()) -> non_neg_integer().
select_delete(Tab, Spec, Meta) ->
    shards_select:all(delete, Tab, Spec, meta_par(Meta), {select_delete, [Tab, Spec]}).

%% @doc Replaces each matching object by the result of `MatchSpec', as
%% `ets:select_replace/2'; a spec that may change a key is refused (badarg).
-spec select_replace(tab(), match_spec()) -> non_neg_integer().
select_replace(Tab, Spec) ->
    shards_select:all(replace, Tab, Spec, table, {select_replace, [Tab, Spec]}).

%% @private
-spec select_replace(tab(), match_spec(), meta()) -> non_neg_integer().
select_replace(Tab, Spec, Meta) ->
    shards_select:all(replace, Tab, Spec, meta_par(Meta), {select_replace, [Tab, Spec]}).

%% @doc The bindings of `Pattern' in each matching object, as `ets:match/2'.
-spec match(tab(), term()) -> [[term()]].
match(Tab, Pattern) ->
    shards_select:all(select, Tab, [{Pattern, [], ['$$']}], table, {match, [Tab, Pattern]}).

%% @doc As `ets:match/3' (a metadata last argument gives `match/2').
-spec match(tab(), term(), pos_integer() | meta()) ->
          {[[term()]], continuation()} | '$end_of_table' | [[term()]].
match(Tab, Pattern, #{'__struct__' := shards_meta} = Meta) ->
    shards_select:all(select, Tab, [{Pattern, [], ['$$']}], meta_par(Meta),
                      {match, [Tab, Pattern]});
match(Tab, Pattern, Limit) ->
    shards_select:chunk(Tab, [{Pattern, [], ['$$']}], Limit, {match, [Tab, Pattern, Limit]}).

%% @private
-spec match(tab(), term(), pos_integer(), meta()) ->
          {[[term()]], continuation()} | '$end_of_table'.
match(Tab, Pattern, Limit, _Meta) -> match(Tab, Pattern, Limit).

%% @doc As `ets:match/1'.
-spec match(continuation()) -> {[[term()]], continuation()} | '$end_of_table'.
match(Cont) ->
    shards_select:continue(Cont, {match, [Cont]}).

%% @doc The objects matching `Pattern', as `ets:match_object/2'.
-spec match_object(tab(), term()) -> [tuple()].
match_object(Tab, Pattern) ->
    shards_select:all(select, Tab, [{Pattern, [], ['$_']}], table,
                      {match_object, [Tab, Pattern]}).

%% @doc As `ets:match_object/3' (a metadata last argument gives `/2').
-spec match_object(tab(), term(), pos_integer() | meta()) ->
          {[tuple()], continuation()} | '$end_of_table' | [tuple()].
match_object(Tab, Pattern, #{'__struct__' := shards_meta} = Meta) ->
    shards_select:all(select, Tab, [{Pattern, [], ['$_']}], meta_par(Meta),
                      {match_object, [Tab, Pattern]});
match_object(Tab, Pattern, Limit) ->
    shards_select:chunk(Tab, [{Pattern, [], ['$_']}], Limit,
                        {match_object, [Tab, Pattern, Limit]}).

%% @private
-spec match_object(tab(), term(), pos_integer(), meta()) ->
          {[tuple()], continuation()} | '$end_of_table'.
match_object(Tab, Pattern, Limit, _Meta) -> match_object(Tab, Pattern, Limit).

%% @doc As `ets:match_object/1'.
-spec match_object(continuation()) -> {[tuple()], continuation()} | '$end_of_table'.
match_object(Cont) ->
    shards_select:continue(Cont, {match_object, [Cont]}).

%% @doc Deletes the objects matching `Pattern', as `ets:match_delete/2'.
-spec match_delete(tab(), term()) -> true.
match_delete(Tab, Pattern) ->
    _ = shards_select:all(delete, Tab, [{Pattern, [], [true]}], table,
                          {match_delete, [Tab, Pattern]}),
    true.

%% @private
-spec match_delete(tab(), term(), meta()) -> true.
match_delete(Tab, Pattern, Meta) ->
    _ = shards_select:all(delete, Tab, [{Pattern, [], [true]}], meta_par(Meta),
                          {match_delete, [Tab, Pattern]}),
    true.

%% @doc Compiles a match spec for `match_spec_run/2', as
%% `ets:match_spec_compile/1'.
-spec match_spec_compile(match_spec()) -> reference().
match_spec_compile(Spec) ->
    shards_select:compile(Spec, {match_spec_compile, [Spec]}).

%% @doc Runs a compiled match spec on a list of terms, as
%% `ets:match_spec_run/2'.
-spec match_spec_run([term()], reference()) -> [term()].
match_spec_run(List, Compiled) ->
    shards_select:run(List, Compiled, {match_spec_run, [List, Compiled]}).

%% @doc Whether `Term' is a compiled match spec, as `ets:is_compiled_ms/1'.
-spec is_compiled_ms(term()) -> boolean().
is_compiled_ms(Term) ->
    shards_select:is_compiled(Term).

%% @doc Runs a match spec on one term, as `ets:test_ms/2'.
-spec test_ms(term(), match_spec()) -> {ok, term()} | {error, [{warning | error, string()}]}.
test_ms(Term, Spec) ->
    shards_select:test(Term, Spec, {test_ms, [Term, Spec]}).

meta_par(#{parallel := P, parallel_timeout := T}) -> {P, T};
meta_par(_) -> {false, infinity}.

%%% Information, names and ownership

%% @doc Table information, as `ets:info/1', plus `{partitions, N}'.
-spec info(tab()) -> [{atom(), term()}] | undefined.
info(Tab) ->
    Items = [id, decentralized_counters, read_concurrency, write_concurrency,
             compressed, memory, owner, heir, name, size, node, named_table,
             type, keypos, protection, partitions],
    case info(Tab, id) of
        undefined -> undefined;
        _ -> [{Item, info(Tab, Item)} || Item <- Items]
    end.

%% @doc One item of table information, as `ets:info/2'; `partitions' gives
%% the number of partitions.
-spec info(tab(), atom()) -> term().
info(Tab, node) ->
    case info(Tab, id) of
        undefined -> undefined;
        _ -> node()
    end;
info(Tab, Item) ->
    ?NIF(shards_nif:info(Tab, Item), [Tab, Item]).

%% @doc All tables, as `ets:all/0': names for named tables, else ids.
-spec all() -> [tab()].
all() -> shards_nif:all().

%% @doc The id of the named table `Name', or `undefined', as `ets:whereis/1'.
-spec whereis(atom()) -> reference() | undefined.
whereis(Name) when is_atom(Name) -> shards_nif:whereis(Name);
whereis(Name) -> erlang:error(badarg, [Name], error_info()).

%% @doc Renames the table, as `ets:rename/2'.
-spec rename(tab(), atom()) -> tab().
rename(Tab, Name) -> ?NIF(shards_nif:rename(Tab, Name), [Tab, Name]).

%% @doc Makes `Pid' the owner, as `ets:give_away/3'; `Pid' receives
%% `{''ETS-TRANSFER'', Tab, FromPid, GiftData}'.
-spec give_away(tab(), pid(), term()) -> true.
give_away(Tab, Pid, GiftData) ->
    ?NIF(shards_nif:give_away(Tab, Pid, GiftData), [Tab, Pid, GiftData]).

%% @doc Sets table options (`heir'), as `ets:setopts/2'.
-spec setopts(tab(), {heir, pid(), term()} | {heir, none} | [tuple()]) -> true.
setopts(Tab, Opts) -> ?NIF(shards_nif:setopts(Tab, Opts), [Tab, Opts]).

%%% The original shards API

%% @doc The table's metadata (shards 1.x); it may be passed as the last
%% argument of the `*/N+1' functions.
-spec table_meta(tab()) -> meta().
table_meta(Tab) ->
    case info(Tab, id) of
        undefined ->
            erlang:error(badarg, [Tab], [{error_info, #{module => shards_error, cause => id}}]);
        _ ->
            #{'__struct__' => shards_meta, tab => Tab, name => info(Tab, name),
              keypos => info(Tab, keypos), partitions => info(Tab, partitions),
              keyslot_fun => info(Tab, keyslot_fun), parallel => info(Tab, parallel),
              parallel_timeout => info(Tab, parallel_timeout)}
    end.

%% @doc Stores `Value' under `Key' in the table's metadata.
-spec put_meta(tab(), term(), term()) -> ok.
put_meta(Tab, Key, Value) -> ?NIF(shards_nif:put_meta(Tab, Key, Value), [Tab, Key, Value]).

%% @equiv get_meta(Tab, Key, undefined)
-spec get_meta(tab(), term()) -> term().
get_meta(Tab, Key) -> get_meta(Tab, Key, undefined).

%% @doc The metadata value stored under `Key', or `Default'.
-spec get_meta(tab(), term(), term()) -> term().
get_meta(Tab, Key, Default) ->
    case ?NIF(shards_nif:get_meta(Tab, Key), [Tab, Key, Default]) of
        [Value] -> Value;
        [] -> Default
    end.

%% The shards 1.x arities: the metadata argument is not needed here.
%% @private
-spec insert(tab(), tuple() | [tuple()], meta()) -> true.
insert(Tab, Objects, _Meta) -> insert(Tab, Objects).
%% @private
-spec insert_new(tab(), tuple() | [tuple()], meta()) -> boolean().
insert_new(Tab, Objects, _Meta) -> insert_new(Tab, Objects).
%% @private
-spec lookup(tab(), term(), meta()) -> [tuple()].
lookup(Tab, Key, _Meta) -> lookup(Tab, Key).
%% @private
-spec member(tab(), term(), meta()) -> boolean().
member(Tab, Key, _Meta) -> member(Tab, Key).
%% @private
-spec delete(tab(), term(), meta()) -> true.
delete(Tab, Key, _Meta) -> delete(Tab, Key).
%% @private
-spec delete_object(tab(), tuple(), meta()) -> true.
delete_object(Tab, Object, _Meta) -> delete_object(Tab, Object).
%% @private
-spec delete_all_objects(tab(), meta()) -> true.
delete_all_objects(Tab, _Meta) -> delete_all_objects(Tab).
%% @private
-spec take(tab(), term(), meta()) -> [tuple()].
take(Tab, Key, _Meta) -> take(Tab, Key).
%% @private
-spec info(tab(), atom(), meta()) -> term().
info(Tab, Item, _Meta) -> info(Tab, Item).
%% @private
-spec rename(tab(), atom(), meta()) -> tab().
rename(Tab, Name, _Meta) -> rename(Tab, Name).
%% @private
-spec tab2list(tab(), meta()) -> [tuple()].
tab2list(Tab, _Meta) -> tab2list(Tab).
