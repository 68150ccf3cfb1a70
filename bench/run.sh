#!/bin/sh
# Runs the ets vs shards micro-benchmark. See bench/README.md.
#   QUICK=1 bench/run.sh        # smoke test (~20 s)
#   bench/run.sh                # full run (~3 min on 2 cores)
#   SHARDS_MOD=ets bench/run.sh # stand-in: ets on both sides, no build needed
set -eu
cd "$(dirname "$0")/.."

SHARDS_MOD=${SHARDS_MOD:-shards}
if [ "$SHARDS_MOD" = shards ] && [ ! -d _build/default/lib/shards/ebin ]; then
    rebar3 compile
fi

EBIN=$(mktemp -d "${TMPDIR:-/tmp}/shards_bench.XXXXXX")
trap 'rm -rf "$EBIN"' EXIT
erlc -o "$EBIN" bench/shards_bench.erl

# ERL_LIBS makes code:priv_dir(shards) resolve to _build/default/lib/shards/priv
# (also in the child VMs of the memory test, which inherit the environment).
ERL_LIBS="$PWD/_build/default/lib${ERL_LIBS:+:$ERL_LIBS}" SHARDS_MOD="$SHARDS_MOD" \
    erl -noshell +S 2 -pa _build/default/lib/shards/ebin -pa "$EBIN" \
        -s shards_bench main
