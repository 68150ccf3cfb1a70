%%% @doc A long_schedule system monitor for the stress suites: while it
%%% runs, every time a process stays on a normal scheduler for more than
%%% 5 ms without yielding the VM reports it. A report that names a watched
%%% process (the test's own) or a shards function (the NIF calls run inside
%%% them) is an offender. Other processes' reports (the VM's own, the test
%%% runner's) are printed but do not count.
%%%
%%% long_schedule measures wall-clock time, so it also fires when the OS
%%% takes the CPU away from a scheduler thread in the middle of a time
%%% slice (on a loaded 2-core machine a pure Erlang loop gets hundreds of
%%% 6-136 ms reports a minute), or when the hypervisor runs another guest
%%% on the virtual CPU (steal time). To tell these apart, `os_wait_ms/0'
%%% adds up how long the normal scheduler threads waited on the OS run
%%% queue (/proc/self/task/TID/schedstat) and the CPU time stolen from the
%%% machine (/proc/stat): a report whose overrun of the limit exceeds what
%%% was lost that way meanwhile was real work on the scheduler (or a
%%% scheduler blocked on a lock held by a preempted thread, which the
%%% lost time also covers).
-module(shards_sched_monitor).

-export([start/0, stop/1, watch/1, reports/1, offenders/1, os_wait_ms/0, limit_ms/0,
         checked/3]).

-define(LIMIT_MS, 5).

-type monitor() :: {pid(), undefined | {pid(), list()}}.

%% Starts collecting; the calling process is watched.
-spec start() -> monitor().
start() ->
    Prev = erlang:system_monitor(),
    Collector = spawn(fun() -> loop([], #{}) end),
    catch unregister(?MODULE),
    register(?MODULE, Collector),
    watch([self()]),
    _ = erlang:system_monitor(Collector, [{long_schedule, ?LIMIT_MS}]),
    {Collector, Prev}.

%% Restores the previous system monitor; returns every report received.
-spec stop(monitor()) -> list().
stop({Collector, Prev} = Mon) ->
    _ = case Prev of
            undefined -> erlang:system_monitor(undefined);
            {Pid, Opts} -> erlang:system_monitor(Pid, Opts)
        end,
    All = reports(Mon),
    [io:format(user, "~nlong_schedule over ~b ms: ~p~n", [?LIMIT_MS, All]) || All =/= []],
    exit(Collector, kill),
    All.

%% Marks processes as the test's own (no-op when no monitor runs).
-spec watch([pid()]) -> ok.
watch(Pids) ->
    catch ?MODULE ! {watch, Pids},
    ok.

%% [{ArrivalMs, Pid, Info, Watched}] for every report so far.
-spec reports(monitor()) -> list().
reports({Collector, _}) ->
    Ref = make_ref(),
    Collector ! {get, self(), Ref},
    receive {Ref, Reports} -> Reports after 5000 -> error(monitor_timeout) end.

%% The reports that name a watched process or a shards function.
-spec offenders(monitor()) -> list().
offenders(Mon) ->
    [R || {_At, _Pid, Info, Watched} = R <- reports(Mon), Watched orelse in_shards(Info)].

%% Runs Fun and then judges the offending reports that arrived meanwhile.
%% Each must be explained by the time the OS kept the scheduler threads
%% waiting during the run (the report's overrun of the limit is at most
%% that wait); any other fails the test. SHARDS_SCHED_STRICT=1 counts
%% every offender (for a quiet machine).
-spec checked(monitor(), string(), fun(() -> term())) -> term().
checked(Mon, Name, Fun) ->
    T0 = erlang:monotonic_time(millisecond),
    W0 = os_wait_ms(),
    Result = Fun(),
    timer:sleep(20),
    W1 = os_wait_ms(),
    T1 = erlang:monotonic_time(millisecond),
    Wait = case {W0, W1} of
               {unknown, _} -> 0.0;
               {_, unknown} -> 0.0;
               _ -> W1 - W0
           end,
    Offenders = [R || {At, _, _, _} = R <- offenders(Mon), At >= T0, At =< T1],
    Strict = os:getenv("SHARDS_SCHED_STRICT") =:= "1",
    Unexplained = [R || {_, _, Info, _} = R <- Offenders,
                        Strict orelse proplists:get_value(timeout, Info) - ?LIMIT_MS > Wait],
    Offenders =/= [] andalso
        io:format(user, "~n~s: ~b long_schedule report(s) of test processes, "
                  "max ~b ms; ~.1f ms lost to the OS meanwhile (run queue and steal); "
                  "~b not explained by that~n",
                  [Name, length(Offenders),
                   lists:max([proplists:get_value(timeout, I) || {_, _, I, _} <- Offenders]),
                   Wait, length(Unexplained)]),
    case Unexplained of
        [] -> Result;
        _ -> error({long_schedule, Name, {os_wait_ms, Wait}, Unexplained})
    end.

-spec limit_ms() -> pos_integer().
limit_ms() -> ?LIMIT_MS.

%% Time lost to the OS so far, in ms: the normal scheduler threads'
%% time runnable but not running (waiting for a CPU), plus the machine's
%% steal time; `unknown' without /proc.
-spec os_wait_ms() -> float() | unknown.
os_wait_ms() ->
    case {run_queue_wait_ms(), steal_ms()} of
        {unknown, _} -> unknown;
        {_, unknown} -> unknown;
        {W, S} -> W + S
    end.

run_queue_wait_ms() ->
    case file:list_dir("/proc/self/task") of
        {ok, Tids} ->
            Waits = [wait_ns(Tid) || Tid <- Tids, is_scheduler(Tid)],
            case lists:member(unknown, Waits) orelse Waits =:= [] of
                true -> unknown;
                false -> lists:sum(Waits) / 1.0e6
            end;
        _ ->
            unknown
    end.

%% The steal column of the `cpu' line of /proc/stat, in ticks of 10 ms
%% (USER_HZ is 100 on Linux).
steal_ms() ->
    case file:read_file("/proc/stat") of
        {ok, <<"cpu ", Rest/binary>>} ->
            [Line | _] = binary:split(Rest, <<"\n">>),
            case binary:split(Line, <<" ">>, [global, trim_all]) of
                [_User, _Nice, _System, _Idle, _IoWait, _Irq, _SoftIrq, Steal | _] ->
                    binary_to_integer(Steal) * 10.0;
                _ ->
                    unknown
            end;
        _ ->
            unknown
    end.

is_scheduler(Tid) ->
    case file:read_file("/proc/self/task/" ++ Tid ++ "/comm") of
        {ok, Comm} -> re:run(Comm, "^[0-9]+_scheduler\\s*$") =/= nomatch;
        _ -> false
    end.

wait_ns(Tid) ->
    case file:read_file("/proc/self/task/" ++ Tid ++ "/schedstat") of
        {ok, B} ->
            [_Cpu, Wait | _] = binary:split(B, [<<" ">>, <<"\n">>], [global, trim_all]),
            binary_to_integer(Wait);
        _ ->
            unknown
    end.

in_shards(Info) ->
    lists:any(fun({Where, {M, _, _}}) when Where =:= in; Where =:= out ->
                      lists:member(M, [shards, shards_nif]);
                 (_) -> false
              end, Info).

loop(Reports, Watched) ->
    receive
        {monitor, Pid, long_schedule, Info} ->
            At = erlang:monotonic_time(millisecond),
            loop([{At, Pid, Info, maps:is_key(Pid, Watched)} | Reports], Watched);
        {watch, Pids} ->
            loop(Reports, maps:merge(Watched, maps:from_list([{P, true} || P <- Pids])));
        {get, From, Ref} ->
            From ! {Ref, lists:reverse(Reports)},
            loop(Reports, Watched)
    end.
