%% @private
%% @doc Loads the Rust NIF library and declares its functions. Callers use
%% the `shards' module; these functions raise `badarg', `{badarg, Cause}' or
%% `shards_keyslot', which `shards_error' turns into ETS-style errors. A
%% call too big for a normal scheduler moves itself to a dirty one.
-module(shards_nif).

-export([new/2, insert/2, insert_new/2, lookup/2, member/2, lookup_element/3,
         delete_key/2, take/2, delete_object/2, tab2list/1, routed/4,
         update_counter/4, update_element/4, delete/1, delete_all_objects/1,
         give_away/3, setopts/2, rename/2, info/2, all/0, whereis/1,
         put_meta/3, get_meta/2, first/1, next/2, last/1, prev/2,
         safe_fixtable/3, select_all/3, select_job/1, select_chunk/4,
         ms_compile/2, ms_is/1, ms_source/1, ms_run/2, replace_object/3,
         chunk_stats/0, sweep_now/0]).

-on_load(init/0).

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE})).

init() ->
    case erlang:load_nif(filename:join(priv_dir(), "libshards_nif"), 0) of
        ok ->
            ok;
        {error, {upgrade, _}} = Error ->
            %% Another build of the library over one with live tables,
            %% which it could not read: the loaded code stays in use.
            logger:error("shards: cannot load a different build of the shards NIF "
                         "while tables of the loaded one are alive; delete them "
                         "(or restart the node) first. The loaded version stays in use."),
            Error;
        Error ->
            Error
    end.

priv_dir() ->
    case code:priv_dir(shards) of
        {error, bad_name} ->
            Ebin = filename:dirname(code:which(?MODULE)),
            filename:join(filename:dirname(Ebin), "priv");
        Dir ->
            Dir
    end.

new(_Name, _Opts) -> ?NOT_LOADED.
insert(_Tab, _Objects) -> ?NOT_LOADED.
insert_new(_Tab, _Objects) -> ?NOT_LOADED.
lookup(_Tab, _Key) -> ?NOT_LOADED.
member(_Tab, _Key) -> ?NOT_LOADED.
lookup_element(_Tab, _Key, _Pos) -> ?NOT_LOADED.
delete_key(_Tab, _Key) -> ?NOT_LOADED.
take(_Tab, _Key) -> ?NOT_LOADED.
delete_object(_Tab, _Object) -> ?NOT_LOADED.
tab2list(_Tab) -> ?NOT_LOADED.
routed(_Op, _Tab, _Slots, _Args) -> ?NOT_LOADED.
update_counter(_Tab, _Key, _Op, _Default) -> ?NOT_LOADED.
update_element(_Tab, _Key, _Ops, _Default) -> ?NOT_LOADED.
delete(_Tab) -> ?NOT_LOADED.
delete_all_objects(_Tab) -> ?NOT_LOADED.
give_away(_Tab, _Pid, _Gift) -> ?NOT_LOADED.
setopts(_Tab, _Opts) -> ?NOT_LOADED.
rename(_Tab, _Name) -> ?NOT_LOADED.
info(_Tab, _Item) -> ?NOT_LOADED.
all() -> ?NOT_LOADED.
whereis(_Name) -> ?NOT_LOADED.
put_meta(_Tab, _Key, _Value) -> ?NOT_LOADED.
get_meta(_Tab, _Key) -> ?NOT_LOADED.
first(_Tab) -> ?NOT_LOADED.
next(_Tab, _Key) -> ?NOT_LOADED.
last(_Tab) -> ?NOT_LOADED.
prev(_Tab, _Key) -> ?NOT_LOADED.
safe_fixtable(_Tab, _Fix, _Since) -> ?NOT_LOADED.
select_all(_Op, _Tab, _Spec) -> ?NOT_LOADED.
select_job(_Grant) -> ?NOT_LOADED.
select_chunk(_Tab, _Ms, _Cursor, _Want) -> ?NOT_LOADED.
ms_compile(_Spec, _Lenient) -> ?NOT_LOADED.
ms_is(_Term) -> ?NOT_LOADED.
ms_source(_Ms) -> ?NOT_LOADED.
ms_run(_List, _Ms) -> ?NOT_LOADED.
replace_object(_Tab, _Old, _New) -> ?NOT_LOADED.
chunk_stats() -> ?NOT_LOADED.
sweep_now() -> ?NOT_LOADED.
