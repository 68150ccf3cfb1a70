#!/bin/sh
# The benchmark suite (see bench/README.md): ets, sharded ets and shards side
# by side, then memory per object, then a PNG chart per scheduler count.
#   bench/run.sh           default matrix, under 3 minutes on 2 cores (make bench)
#   FULL=1 bench/run.sh    1..256 workers, once with +S 1 and once with +S 2
#   ONLY=foundation bench/run.sh   only the foundation micro-benchmark
# Other knobs are environment variables read by bench/shards_bench.erl.
set -eu
cd "$(dirname "$0")/.."

# The bench modules are compiled by rebar3 with the project (extra_src_dirs).
LIB=_build/default/lib
if [ ! -f "$LIB/shards/bench/shards_bench.beam" ] || [ ! -f "$LIB/shards/ebin/shards.beam" ]; then
    rebar3 compile
fi
RESULTS_DIR=${RESULTS_DIR:-bench/results}
export RESULTS_DIR

# gnuplot draws the chart; install it when missing (Debian, as root), but a
# missing chart is no reason to fail the benchmark.
if ! command -v gnuplot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing gnuplot-nox for the chart" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox >/dev/null 2>&1; } ||
            echo "bench: could not install gnuplot-nox; no chart" >&2
    else
        echo "bench: gnuplot not found (install gnuplot-nox); no chart" >&2
    fi
fi

if [ "${FULL:-0}" != 0 ]; then TAG=full; SCHEDULERS="1 2"; else TAG=bench; SCHEDULERS=2; fi

# ERL_LIBS lets code:priv_dir(shards) find the NIF (also in the memory
# part's child VMs, which inherit the environment).
ERL_LIBS="$PWD/$LIB${ERL_LIBS:+:$ERL_LIBS}"
export ERL_LIBS

last=$(echo $SCHEDULERS | awk '{print $NF}')
for s in $SCHEDULERS; do
    # The memory part does not depend on the scheduler count: run it once.
    only=${ONLY:-}
    if [ -z "$only" ] && [ "$s" != "$last" ]; then only=loadgen; fi
    ONLY=$only erl -noshell +S "$s:$s" -pa "$LIB/shards/bench" -s shards_bench main
    gp="$RESULTS_DIR/${TAG}_s$s.gp"
    if [ "$only" != mem ] && [ -f "$gp" ] && command -v gnuplot >/dev/null 2>&1; then
        gnuplot "$gp" && echo "chart: $RESULTS_DIR/${TAG}_s$s.png"
    fi
done

# The foundation issue's micro-benchmark: lookup, insert and 50/50 of
# {Int, Int} and {Bin16, Bin100} objects, at 1 and 64 workers (about 50 s).
if [ -z "${ONLY:-}" ] || [ "${ONLY:-}" = foundation ]; then
    TAG=foundation SCENARIOS=foundation WORKERS=${WORKERS:-1,64} ONLY=loadgen \
        erl -noshell +S "$last:$last" -pa "$LIB/shards/bench" -s shards_bench main
fi
