#!/bin/sh
# Build the Rust NIF (native/) and install it as priv/libshards_nif.so.
#
# Used as a rebar3 compile pre_hook. All paths are resolved from this script's
# own (symlink-resolved) location, so it works from the project root, from
# _checkouts/shards (a symlink) and from deps/shards alike.
#
# Environment:
#   CARGO             cargo binary to use (default: cargo on PATH, then ~/.cargo/bin/cargo)
#   CARGO_TARGET_DIR  cargo target dir (default: <project>/native/target)
set -eu

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(dirname "$SCRIPT_DIR")
MANIFEST="$ROOT/native/Cargo.toml"
LIB=libshards_nif
DEST="$ROOT/priv/$LIB.so"

if [ ! -f "$MANIFEST" ]; then
    echo "build_nif.sh: $MANIFEST not found" >&2
    exit 1
fi

if [ -z "${CARGO:-}" ]; then
    if command -v cargo >/dev/null 2>&1; then
        CARGO=cargo
    elif [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ]; then
        CARGO="$HOME/.cargo/bin/cargo"
    else
        echo "build_nif.sh: cargo not found; install Rust (https://rustup.rs)" >&2
        exit 1
    fi
fi

# Reuse one target dir per project checkout, whoever invokes the build.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/native/target}
export CARGO_TARGET_DIR

# cargo names the library .dylib on macOS; the VM loads <name>.so everywhere.
case "$(uname -s)" in
    Darwin) SRC="$CARGO_TARGET_DIR/release/$LIB.dylib" ;;
    *) SRC="$CARGO_TARGET_DIR/release/$LIB.so" ;;
esac

"$CARGO" build --release --manifest-path "$MANIFEST"

mkdir -p "$ROOT/priv"
# Never overwrite a .so in place: a running VM may have it mmapped.
# Unlinking first keeps the old inode alive for that VM. Skip when unchanged.
if [ -f "$DEST" ] && cmp -s "$SRC" "$DEST"; then
    exit 0
fi
rm -f "$DEST"
cp "$SRC" "$DEST"
echo "build_nif.sh: installed $DEST"
