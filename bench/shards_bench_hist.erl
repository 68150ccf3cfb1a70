%% @doc Latency histogram for the load generator: log-linear buckets in a
%% `counters' array, so worker processes record samples concurrently
%% without messages or locks.
%%
%% Values are nanoseconds. Below 64 ns each value has its own bucket; above,
%% every power of two is split into 32 buckets, so a reported percentile is
%% within about 3% of the true value. Values over 2^40 ns (18 minutes) go to
%% the last bucket.
-module(shards_bench_hist).

-export([new/0, record/2, count/1, percentile/2, summary/1]).

-export_type([hist/0]).

-opaque hist() :: counters:counters_ref().

-define(LINEAR, 64).        % values 0..63 get a bucket each
-define(SUB_BITS, 5).       % 2^5 = 32 buckets per power of two above that
-define(MAX_EXP, 40).
-define(BUCKETS, (?LINEAR + (?MAX_EXP - 6) * (1 bsl ?SUB_BITS))).

-spec new() -> hist().
new() -> counters:new(?BUCKETS, [write_concurrency]).

%% @doc Records one sample of `Nanos' nanoseconds.
-spec record(hist(), integer()) -> ok.
record(H, Nanos) -> counters:add(H, index(Nanos), 1).

-spec count(hist()) -> non_neg_integer().
count(H) -> lists:sum(buckets(H)).

%% @doc The value below which a fraction `P' (0 < P =< 1) of the samples
%% fall, in nanoseconds; `undefined' without samples.
-spec percentile(hist(), float()) -> number() | undefined.
percentile(H, P) ->
    Counts = buckets(H),
    case lists:sum(Counts) of
        0 -> undefined;
        Total -> walk(Counts, 1, max(1, ceil(P * Total)), 0)
    end.

%% @doc p50, p99 and p99.9 in nanoseconds, and the number of samples.
-spec summary(hist()) -> #{samples := non_neg_integer(), p50 := number() | undefined,
                           p99 := number() | undefined, p999 := number() | undefined}.
summary(H) ->
    #{samples => count(H), p50 => percentile(H, 0.5), p99 => percentile(H, 0.99),
      p999 => percentile(H, 0.999)}.

%%% Internals

buckets(H) -> [counters:get(H, I) || I <- lists:seq(1, ?BUCKETS)].

walk([C | _], I, Rank, Seen) when Seen + C >= Rank -> value(I);
walk([C | Rest], I, Rank, Seen) -> walk(Rest, I + 1, Rank, Seen + C).

%% Bucket index (1-based) of a value.
index(V) when V < ?LINEAR -> max(V, 0) + 1;
index(V) when V >= 1 bsl ?MAX_EXP -> ?BUCKETS;
index(V) ->
    E = msb(V, 0),                            % 6 .. MAX_EXP-1
    Sub = (V bsr (E - ?SUB_BITS)) band ((1 bsl ?SUB_BITS) - 1),
    ?LINEAR + (E - 6) * (1 bsl ?SUB_BITS) + Sub + 1.

%% The midpoint of a bucket's range.
value(I) when I =< ?LINEAR -> I - 1;
value(I) ->
    J = I - ?LINEAR - 1,
    E = J bsr ?SUB_BITS + 6,
    Sub = J band ((1 bsl ?SUB_BITS) - 1),
    Width = 1 bsl (E - ?SUB_BITS),
    ((1 bsl ?SUB_BITS) + Sub) * Width + Width / 2.

%% Position of the most significant set bit.
msb(V, N) when V > 1 -> msb(V bsr 1, N + 1);
msb(_, N) -> N.
