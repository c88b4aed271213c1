# hoclieu — common tasks. `make help` lists them.

CARGO ?= cargo
DATA ?= data
BIND ?= 127.0.0.1:8080
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
TOOLS := $(CURDIR)/target/tools
S3S_FS := $(shell command -v s3s-fs 2>/dev/null || echo $(HOME)/.cargo/bin/s3s-fs)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The browser test (crates/hoclieu/tests/browser.rs): Debian's Chromium, driven by playwright-core
# (tests/browser, npm) under node.
CHROMIUM ?= /usr/bin/chromium
NODE := $(shell command -v node 2>/dev/null)
TEST_ENV := HOCLIEU_TEST_S3S_FS=$(S3S_FS) HOCLIEU_TEST_PYTHON=$(TOOLS)/venv/bin/python \
	HOCLIEU_TEST_NODE=$(NODE) HOCLIEU_TEST_CHROMIUM=$(CHROMIUM)
# Preview converters (Debian): LibreOffice (Office → PDF), pdftoppm, ffmpeg/ffprobe, and fonts
# with Vietnamese coverage so converted pages do not show boxes.
CONVERTERS := poppler-utils ffmpeg libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui \
	fonts-dejavu-core fonts-noto-core

.PHONY: help run build test tools converters eval lint fmt clippy clean bench bench-quick bench-smoke bench-tools \
	crash fuzz fuzz-tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## build (release) and serve on http://127.0.0.1:8080 with embedded defaults and the demo materials
	$(CARGO) build --release --locked -p hoclieu
	./target/release/hoclieu serve --data-dir $(DATA) --bind $(BIND) --demo fixtures/demo/materials.jsonl

build: ## build the release binary (target/release/hoclieu)
	$(CARGO) build --release --locked -p hoclieu

tools: converters ## install what the tests use: s3s-fs (an S3 server, via cargo), tuspy (a tus client, via pip), the converters, chromium (apt) and playwright-core (npm; needs node 20+)
	@test -x "$(S3S_FS)" || $(CARGO) install s3s-fs --version 0.14.1 --features binary --locked
	@test -x $(TOOLS)/venv/bin/python || python3 -m venv $(TOOLS)/venv
	@$(TOOLS)/venv/bin/python -c "import tusclient" 2>/dev/null || $(TOOLS)/venv/bin/pip install --quiet tuspy==1.1.0
	@if [ -x $(CHROMIUM) ]; then :; else \
		echo "installing chromium fonts-noto-core"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-noto-core; \
	fi
	@test -d tests/browser/node_modules/playwright-core -a -d tests/browser/node_modules/axe-core || npm ci --silent --prefix tests/browser

converters: ## install the preview converters (Debian packages) unless they are present
	@if command -v soffice >/dev/null && command -v pdftoppm >/dev/null && command -v ffmpeg >/dev/null \
		&& command -v ffprobe >/dev/null; then :; else \
		echo "installing $(CONVERTERS)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(CONVERTERS); \
	fi

test: tools ## run the whole test suite (needs PostgreSQL on 127.0.0.1:5432; see README)
ifeq ($(NEXTEST),yes)
	$(TEST_ENV) $(CARGO) nextest run --workspace --locked --no-fail-fast
else
	$(TEST_ENV) $(CARGO) test --workspace --locked --no-fail-fast
endif

eval: ## search quality: nDCG@10, Success@10, Recall@10 per query variant beside a naive baseline
	$(CARGO) run --release --locked -p hoclieu-eval -- --check

bench-tools: ## install what the benchmarks use: wrk, nginx, matplotlib (Debian packages), PostgreSQL running
	@bench/tools.sh

bench: bench-tools ## benchmarks at 1M records beside PostgreSQL FTS, SQLite FTS5 and nginx → bench/report.md (< 30 min)
	$(CARGO) build --release --locked -p hoclieu -p hoclieu-bench
	./target/release/hoclieu-bench --records 1000000 --label bench --out bench --reindex-repeats 1 --peer-repeats 1

bench-quick: bench-tools ## the same at 100k records, for day-to-day comparisons → target/bench-quick/report.md
	$(CARGO) build --release --locked -p hoclieu -p hoclieu-bench
	./target/release/hoclieu-bench --records 100000 --label bench-quick --out target/bench-quick

bench-smoke: bench-tools ## the harness end to end at 10k records with short runs (CI: keeps it from rotting)
	$(CARGO) build --locked -p hoclieu -p hoclieu-bench
	./target/debug/hoclieu-bench --records 10000 --label bench-smoke --out target/bench-smoke \
	  --repeats 1 --reindex-repeats 1 --peer-repeats 1 --seconds 2 --connections 1,16 --download-mib 64 --upload-mib 128 --queries 40

CRASH_UPLOADS ?= 2000
CRASH_KILLS ?= 100
crash: ## kill -9 the server CRASH_KILLS times during CRASH_UPLOADS uploads (multipart and tus), then check nothing acknowledged was lost → target/crash/report.json
	$(CARGO) build --release --locked -p hoclieu
	@mkdir -p target/crash
	python3 tests/crash/crash.py --bin target/release/hoclieu --uploads $(CRASH_UPLOADS) --kills $(CRASH_KILLS) \
	  --clients 8 --max-size 4194304 --seed $$(date +%s) --report target/crash/report.json

FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= pdf office package html image
fuzz-tools: ## install AFL++ (apt) and cargo-afl
	@command -v afl-fuzz >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends afl++; }
	@$(CARGO) afl --version >/dev/null 2>&1 || $(CARGO) install cargo-afl --version 0.18.1 --locked

fuzz: fuzz-tools ## fuzz the file parsers with AFL++, FUZZ_SECONDS per target → target/fuzz/report.md
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

lint: ## formatting and clippy, warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output (not the data directory)
	$(CARGO) clean
