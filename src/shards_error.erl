%% @doc ETS-style errors for `shards'.
%%
%% The NIF raises `badarg', `{badarg, Cause}' or `shards_keyslot'. `handle/4'
%% re-raises them as `error:badarg' with the caller's own stack frame and an
%% `error_info' map carrying the same `cause' ETS would give, so the shell
%% explains the error (through `format_error/2' below) as it does for ets.
-module(shards_error).

-export([handle/4, badarg/3, badarg/4, format_error/2]).

-spec handle(term(), erlang:stacktrace(), atom(), [term()]) -> no_return() | term().
handle(shards_keyslot, _St, Fun, Args) ->
    shards_keyslot:call(Fun, Args);
handle(badarg, St, Fun, Args) ->
    raise(#{module => ?MODULE}, St, Fun, Args);
handle({badarg, Cause}, St, Fun, Args) ->
    raise(#{module => ?MODULE, cause => Cause}, St, Fun, Args);
handle(Reason, St, _Fun, _Args) ->
    erlang:raise(error, Reason, St).

%% @doc Raises a plain badarg (no cause) from `shards:Fun(Args)'.
-spec badarg(erlang:stacktrace(), atom(), [term()]) -> no_return().
badarg(St, Fun, Args) ->
    raise(#{module => ?MODULE}, St, Fun, Args).

%% @doc Raises badarg with an ETS `error_info' cause from `shards:Fun(Args)'.
-spec badarg(atom(), erlang:stacktrace(), atom(), [term()]) -> no_return().
badarg(Cause, St, Fun, Args) ->
    raise(#{module => ?MODULE, cause => Cause}, St, Fun, Args).

-spec raise(map(), erlang:stacktrace(), atom(), [term()]) -> no_return().
raise(ErrorInfo, St, Fun, Args) ->
    Caller = [F || {M, _, _, _} = F <- St, not internal(M)],
    erlang:raise(error, badarg, [{shards, Fun, Args, [{error_info, ErrorInfo}]} | Caller]).

internal(M) ->
    lists:member(M, [shards, shards_nif, shards_error, shards_keyslot, shards_select]).

%% @doc Explains a shards error, argument by argument, for the shell.
%% The texts are binaries, as OTP's own error modules give them: Elixir's
%% ArgumentError messages need a binary for `general'.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => binary()}.
format_error(_Reason, [{_M, _F, Args, Info} | _]) ->
    ErrorInfo = proplists:get_value(error_info, Info, #{}),
    explain(maps:get(cause, ErrorInfo, none), Args).

explain(id, _) -> #{1 => <<"the table identifier does not refer to an existing shards table">>};
explain(type, _) -> #{1 => <<"not a table identifier">>};
explain(access, _) -> #{1 => <<"the table identifier refers to a table with insufficient access rights">>};
explain(badkey, _) -> #{2 => <<"not a key that exists in the table">>};
explain(keypos, _) -> #{3 => <<"the position is the same as the key position">>};
explain(position, _) -> #{3 => <<"the position is out of range">>};
explain(already_exists, _) -> #{1 => <<"table name already exists">>};
explain(owner, _) -> #{2 => <<"the process is already the owner of the table">>};
explain(_, [Tab | _]) ->
    case shards:info(Tab, id) of
        undefined -> #{1 => <<"the table identifier does not refer to an existing shards table">>};
        _ -> #{general => <<"one of the arguments is invalid for this table">>}
    end;
explain(_, []) ->
    #{general => <<"invalid arguments">>}.
