#!/bin/sh
# Runs the select benchmark (bench/select_bench.erl): ets vs shards over 1M
# objects. Knobs: OBJECTS, ROUNDS, KEY_CALLS (see the module's header).
set -eu
cd "$(dirname "$0")/.."

if [ ! -d _build/default/lib/shards/ebin ]; then
    rebar3 compile
fi

# The module is compiled into the build tree (never /tmp).
EBIN=_build/select_bench/ebin
mkdir -p "$EBIN"
erlc -o "$EBIN" bench/select_bench.erl

ERL_LIBS="$PWD/_build/default/lib${ERL_LIBS:+:$ERL_LIBS}" \
    erl -noshell +S 2 -pa _build/default/lib/shards/ebin -pa "$EBIN" \
        -s select_bench main
