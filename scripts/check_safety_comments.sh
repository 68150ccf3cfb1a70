#!/bin/sh
# Every `unsafe` block in the Rust sources must say why it is sound: a
# `// SAFETY:` comment on the same line or within the 3 lines above it.
# (`unsafe fn` and `unsafe impl` are declarations, not blocks; an
# `unsafe impl` is checked the same way.) Run by `make lint`.
#
# Usage: scripts/check_safety_comments.sh [DIR...]   (default: native/src)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
if [ "$#" -eq 0 ]; then
    set -- "$ROOT/native/src"
fi

COUNTS=$(mktemp)
trap 'rm -f "$COUNTS"' EXIT
status=0
for f in $(find "$@" -name '*.rs' | sort); do
    awk -v file="$f" '
        { line[NR] = $0 }
        # code only: drop a trailing // comment and string contents
        function code(s) {
            gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
            sub(/\/\/.*/, "", s)
            return s
        }
        {
            c = code($0)
            if (c ~ /(^|[^A-Za-z0-9_])unsafe[ \t]*(\{|impl)/ || c ~ /(^|[^A-Za-z0-9_])unsafe[ \t]*$/) {
                ok = 0
                for (i = NR; i >= NR - 3 && i >= 1; i--)
                    if (line[i] ~ /\/\/ *SAFETY:/) ok = 1
                n++
                if (!ok) {
                    printf "%s:%d: unsafe without a // SAFETY: comment within 3 lines above\n", file, NR
                    bad = 1
                }
            }
        }
        END { print n + 0 >> count_file; exit bad }
    ' count_file="$COUNTS" "$f" || status=1
done
total=$(awk '{ s += $1 } END { print s + 0 }' "$COUNTS")

if [ "$status" -ne 0 ]; then
    echo "check_safety_comments: add a // SAFETY: comment saying why each block is sound" >&2
else
    echo "check_safety_comments: $total unsafe blocks, each with a // SAFETY: comment"
fi
exit "$status"
