# Entry points for building, testing and linting shards
# (Erlang/Elixir application + Rust NIF in native/).
#
#   make deps      install missing system packages (Debian, needs root)
#   make build     build the NIF and the Erlang app (rebar3)
#   make test      Rust, EUnit, Common Test, ExUnit and example-app tests
#   make lint      rustfmt, clippy, SAFETY comments, mix format, dialyzer
#   make proper    the PropEr suites at 10 000 cases each (SHARDS_PROPER_N)
#   make known-divergences  the failing cases kept out of make test
#   make bench     the benchmark suite (bench/run.sh); FULL=1 for the whole matrix
#   make examples  build and test the example apps in examples/
#   make clean     remove build outputs (keeps the cargo cache in native/target)
#   make distclean clean, plus native/target

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
# Test steps must run in order and share one cargo target dir.
.NOTPARALLEL:

REBAR3 ?= rebar3
MIX    ?= mix
CARGO  ?= cargo

# rustup installs cargo in ~/.cargo/bin, which non-login shells often lack.
export PATH := $(HOME)/.cargo/bin:$(PATH)

# rebar3, mix and cargo all keep caches under $HOME: make sure it is writable.
ORIG_HOME := $(HOME)
ifneq ($(shell test -n "$$HOME" && test -w "$$HOME" && echo ok),ok)
export HOME := $(CURDIR)/.home
$(shell mkdir -p "$(CURDIR)/.home")
# Keep using a rustup toolchain installed under the original home.
ifneq ($(wildcard $(ORIG_HOME)/.rustup),)
export RUSTUP_HOME ?= $(ORIG_HOME)/.rustup
endif
endif

# One cargo target dir for everything (rebar3 hook, mix compiler, examples),
# so the NIF is compiled once rather than once per consumer.
export CARGO_TARGET_DIR ?= $(CURDIR)/native/target

DEB_PACKAGES := erlang-nox erlang-dev erlang-eunit erlang-common-test \
                erlang-dialyzer erlang-proper erlang-proper-dev elixir rebar3

CT_SUITES := $(wildcard test/*_SUITE.erl)

.PHONY: all deps build test test-rust test-eunit test-ct test-mix examples \
        example-mix example-rebar lint bench clean distclean proper known-divergences

all: build

## deps: install only the missing Debian packages; apt-get update only if needed.
deps:
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=""; \
	  for p in $(DEB_PACKAGES); do \
	    dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then \
	      echo "error: missing packages:$$missing (run 'make deps' as root)" >&2; exit 1; \
	    fi; \
	    echo "installing:$$missing"; \
	    apt-get update; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  fi; \
	else \
	  for c in erl mix rebar3; do \
	    command -v "$$c" >/dev/null 2>&1 || { echo "error: $$c not found (no dpkg to install it)" >&2; exit 1; }; \
	  done; \
	fi
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "error: cargo not found. Install Rust, e.g. via https://rustup.rs" >&2; exit 1; }

## build: the rebar3 pre_hook (scripts/build_nif.sh) builds the NIF into priv/.
build: deps
	$(REBAR3) compile

## test: every suite, in order; the first failure stops make with non-zero status.
test: deps
	$(MAKE) test-rust test-eunit test-ct test-mix examples lint

test-rust:
	cd native && $(CARGO) test --release

test-eunit:
	$(REBAR3) eunit

# rebar3 ct fails when there is nothing to run, so only call it with suites.
test-ct:
ifneq ($(CT_SUITES),)
	$(REBAR3) ct
else
	@echo "no Common Test suites in test/, skipping rebar3 ct"
endif

# Warnings fail the build: in lib/ (compile) and in the tests (test).
test-mix:
	MIX_ENV=test $(MIX) compile --warnings-as-errors
	MIX_ENV=test $(MIX) test --warnings-as-errors

## examples: shards used as a dependency, from mix and from rebar3.
examples: deps
	$(MAKE) example-mix example-rebar

example-mix:
	cd examples/mix_app && MIX_ENV=test $(MIX) compile --warnings-as-errors
	cd examples/mix_app && MIX_ENV=test $(MIX) test --warnings-as-errors

# rebar3 has no path deps: point _checkouts/shards at this project (created
# here rather than committed, so the checkout stays free of self-references).
example-rebar:
	mkdir -p examples/rebar_app/_checkouts
	ln -sfn ../../.. examples/rebar_app/_checkouts/shards
	cd examples/rebar_app && $(REBAR3) eunit

lint: deps
	cd native && $(CARGO) fmt --check
	cd native && $(CARGO) clippy --release --all-targets -- -D warnings
	sh scripts/check_safety_comments.sh
	$(MIX) format --check-formatted
	$(REBAR3) dialyzer

## proper: the long runs of the PropEr suites (make test runs a few hundred
## cases of each): the stateful model, the random sequences, bad input; and
## deep terms of every shape on every table type up to a million levels.
SHARDS_PROPER_N ?= 10000
PROPER_MODULES := shards_statem_tests,shards_random_tests,shards_badarg_tests,shards_deep_tests

proper: build
	SHARDS_PROPER_N=$(SHARDS_PROPER_N) SHARDS_DEEP=full $(REBAR3) eunit --module=$(PROPER_MODULES)

## known-divergences: divergences from ets found by the suites and not
## fixed (test/shards_known_divergence_tests.erl); the model and bad-input
## suites run too. Fails while any remains.
known-divergences: build
	SHARDS_KNOWN_DIVERGENCES=1 $(REBAR3) eunit \
	  --module=shards_known_divergence_tests,shards_statem_tests,shards_badarg_tests


## bench: ets, sharded ets and shards side by side (bench/README.md). Under
## 3 minutes on 2 cores; FULL=1 runs 1..256 workers with +S 1 and +S 2.
FULL ?= 0
bench: build
	FULL=$(FULL) sh bench/run.sh

clean:
	rm -rf _build deps .home erl_crash.dump rebar3.crashdump
	rm -f priv/libshards_nif.so
	rm -rf examples/*/_build examples/*/deps examples/rebar_app/_checkouts

distclean: clean
	cd native && $(CARGO) clean
