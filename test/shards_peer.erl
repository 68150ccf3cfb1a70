%%% @doc Runs test code in a child node (OTP's `peer'), so that a call that
%%% could take the VM down (a deep term, a reload of the NIF) fails the
%%% named test instead of killing the test run.
%%%
%%% The child is a plain `erl' with this node's code path, connected over
%%% its standard input and output (no distribution needed).
-module(shards_peer).

-export([start/0, start/1, stop/1, call/4, call/5]).

-define(TIMEOUT, 120000).

%% @doc A new child node with this node's code path.
-spec start() -> pid().
start() ->
    start([]).

%% @doc As `start/0', with extra `erl' arguments.
-spec start([string()]) -> pid().
start(Args) ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    {ok, Peer, _Node} = peer:start(#{connection => standard_io,
                                     args => ["-pa" | Paths] ++ Args}),
    Peer.

-spec stop(pid()) -> ok.
stop(Peer) ->
    try peer:stop(Peer) catch _:_ -> ok end.

%% @doc `M:F(A)' in the child: `{ok, Result}', or `{peer_died, Why}' when
%% the child went down during the call (a crash of the VM).
-spec call(pid(), module(), atom(), [term()]) -> {ok, term()} | {peer_died, term()}.
call(Peer, M, F, A) ->
    call(Peer, M, F, A, ?TIMEOUT).

-spec call(pid(), module(), atom(), [term()], timeout()) ->
          {ok, term()} | {peer_died, term()}.
call(Peer, M, F, A, Timeout) ->
    try
        {ok, peer:call(Peer, M, F, A, Timeout)}
    catch
        exit:Why -> {peer_died, Why}
    end.
