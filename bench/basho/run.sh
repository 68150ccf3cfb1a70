#!/bin/sh
# Runs a basho_bench config from this directory with a basho_bench checkout:
#   bench/basho/run.sh /path/to/basho_bench bench/basho/shards.config
# It builds shards if needed, then hands basho_bench a copy of the config
# with two settings appended: code_paths (shards' ebin, so the NIF loads
# from its priv/) and source_dir (this directory: basho_bench compiles and
# loads the drivers from it). Results go to tests/ in the basho_bench
# checkout, as usual (tests/current/summary.csv; `make results` there draws
# the graphs).
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 BASHO_BENCH_DIR CONFIG [basho_bench options]" >&2
    exit 2
fi
BB=$(cd "$1" && pwd)
CONFIG=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [ ! -f "$ROOT/_build/default/lib/shards/ebin/shards.beam" ]; then
    (cd "$ROOT" && rebar3 compile)
fi
for bin in "$BB/_build/default/bin/basho_bench" "$BB/basho_bench"; do
    if [ -x "$bin" ]; then BIN=$bin; break; fi
done
if [ -z "${BIN:-}" ]; then
    echo "no basho_bench executable in $BB (build it there first: make)" >&2
    exit 1
fi

TMPDIR_=$(mktemp -d)
trap 'rm -rf "$TMPDIR_"' EXIT
RUN_CONFIG="$TMPDIR_/$(basename "$CONFIG")"
cp "$CONFIG" "$RUN_CONFIG"
printf '\n{code_paths, ["%s"]}.\n{source_dir, "%s"}.\n' \
    "$ROOT/_build/default/lib/shards/ebin" "$HERE" >> "$RUN_CONFIG"
cd "$BB"
"$BIN" "$@" "$RUN_CONFIG"
