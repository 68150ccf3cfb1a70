-module(rebar_app_tests).

-include_lib("eunit/include/eunit.hrl").

run_test() ->
    ?assertEqual(<<"hello from shards">>, rebar_app:run()).

nif_in_priv_dir_test() ->
    Priv = code:priv_dir(shards),
    ?assert(is_list(Priv)),
    ?assert(filelib:is_regular(filename:join(Priv, "libshards_nif.so"))).
