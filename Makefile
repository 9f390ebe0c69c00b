# firstbyte: `make serve` runs it locally, `make test` proves it, `make bench` measures it.
# The versions of the tools it installs live here and nowhere else.

VICEROY_VERSION    := 0.22.0
FASTLY_CLI_VERSION := 16.1.0
PY_BROTLI_VERSION  := 1.2.1
CARGO_FUZZ_VERSION := 0.13.2
# httpbin under gunicorn, an origin nobody on the project wrote (harness/src/peers.rs).
# Flask and Werkzeug are pinned too: their releases have broken httpbin before.
HTTPBIN_VERSION    := 0.10.4
GUNICORN_VERSION   := 27.0.1
FLASK_VERSION      := 3.1.3
WERKZEUG_VERSION   := 3.1.9
# The bench's peer cache, a Debian package (any Debian revision of this release).
VARNISH_VERSION    := 7.1.*
# The browser of the dictionary suite's real-browser test (harness/tests/browser.rs), a
# Debian package (any Debian revision of this release).
CHROMIUM_VERSION   := 156.*
# Counts instructions per request for `make instructions` (a Debian package).
VALGRIND_VERSION   := 1:3.19.*
# The C compiler, archiver and C library that build the C zstd library (the `dcz` encoder)
# for wasm32-wasip1: Debian's clang and llvm (14) and wasi-libc, any Debian revision of
# these releases; .cargo/config.toml points the wasm target's cc at them.
CLANG_VERSION      := 1:14.0-55.*
WASI_LIBC_VERSION  := 0.0~git20220510.*

CARGO_HOME ?= $(HOME)/.cargo
export PATH := $(CARGO_HOME)/bin:$(PATH)
export VICEROY_VERSION FASTLY_CLI_VERSION PY_BROTLI_VERSION
export HTTPBIN_VERSION GUNICORN_VERSION FLASK_VERSION WERKZEUG_VERSION VARNISH_VERSION
export CHROMIUM_VERSION
export VALGRIND_VERSION
export CLANG_VERSION WASI_LIBC_VERSION

HARNESS := cd harness && cargo
HOST := $(shell rustc -vV | sed -n 's/^host: //p')

.PHONY: serve test bench bench-smoke build tools lint unit e2e package fuzz clean check-config

## serve: the dev origin on 127.0.0.1:7070 and firstbyte on Viceroy at 127.0.0.1:7676
serve: build check-config
	@scripts/serve

## test: everything — lint, unit tests (wasm, under Viceroy), the config check, end to end
## (the conformance matrix among them), package, bench smoke, a 20-second soak
test: lint unit check-config e2e package bench-smoke soak-smoke
	@echo "make test: all checks passed"

## check-config: every key of every route in fastly.toml's local and [setup] stores, at
## once (a request reads only the route it matches, so this is where the others are checked)
check-config: tools
	$(HARNESS) run --release --bin check-config

## bench: the TTFB and throughput benchmark (results under target/bench/; its dictionary part
## downloads two pinned releases of real bundles from the npm registry into target/bench-data/,
## pinned in harness/src/bench/dictionary.rs; BENCH_ARGS=--record
## keeps the run in docs/bench/runs/ and puts its claims into README.md), then the
## criterion benchmarks of replace against aho-corasick and of the ESI tokenizer (plain HTML
## against its worst shapes)
bench: build esi-peer bench-tools
	$(HARNESS) run --release --bin bench -- $(BENCH_ARGS)
	cargo bench -p firstbyte-transform --bench transform_replace --target $(HOST)
	cargo bench -p firstbyte-transform --bench esi_tokenize --target $(HOST)

bench-smoke: build esi-peer bench-tools
	$(HARNESS) run --release --bin bench -- --smoke

## instructions: instructions per request of the bench's load modes, counted by callgrind
## around Viceroy (the same on a busy machine as on an idle one; about 10 minutes)
.PHONY: instructions
instructions: build
	@scripts/instructions $(INSTRUCTIONS_REQUESTS)

# The bench's ESI peer, fastly/esi 0.7.2: its own lockfile (fastly 0.12), so its own build.
.PHONY: esi-peer
esi-peer: tools
	cd benches/esi-fastly && cargo build --release --target wasm32-wasip1 --locked

# Varnish, the peer of the edge cache's collapsed misses.
.PHONY: bench-tools
bench-tools:
	@scripts/tools --bench

## soak: a bounded load-and-fault run through every demo route (SOAK_ARGS: --requests N,
## --seconds S, --clients C; default 20000 requests or 300 s, whichever comes first)
.PHONY: soak soak-smoke
soak: build
	$(HARNESS) run --release --bin soak -- $(SOAK_ARGS)

soak-smoke: build
	$(HARNESS) run --release --bin soak -- --seconds 20

tools:
	@scripts/tools

build: tools
	cargo build --release --workspace
	$(HARNESS) build --release --bins

lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p firstbyte-transform -p firstbyte-config -p firstbyte-cache-meta --all-targets --target $(HOST) -- -D warnings
	$(HARNESS) fmt -- --check
	$(HARNESS) clippy --all-targets -- -D warnings
	$(HARNESS) run --release --bin layers

unit: tools
	cargo test --workspace
	cargo test -p firstbyte-transform -p firstbyte-config -p firstbyte-cache-meta --target $(HOST)
	$(HARNESS) test --release --lib --bins

# esi-peer: harness/tests/esi_fastly.rs composes the same template with fastly/esi.
e2e: build esi-peer browser-tools
	$(HARNESS) test --release --test '*'

# Chromium, the real browser of harness/tests/browser.rs (only the end-to-end tests need it).
.PHONY: browser-tools
browser-tools:
	@scripts/tools --browser

package: build
	@scripts/package

## fuzz: each cargo-fuzz target (the stages', the cache metadata's) for FUZZ_SECONDS (nightly
## + cargo-fuzz); new inputs go to transform/fuzz/target/corpus, the checked-in seeds stay
FUZZ_SECONDS ?= 60
fuzz:
	@cargo fuzz --version 2>/dev/null | grep -q "$(CARGO_FUZZ_VERSION)" || \
	  (cd / && cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd transform && for t in replace html codec esi expr cache_meta; do \
	  mkdir -p fuzz/target/corpus/$$t && \
	  cargo +nightly fuzz run $$t fuzz/target/corpus/$$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	cargo clean
	$(HARNESS) clean
	rm -rf pkg
