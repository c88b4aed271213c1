# hoclieu — common tasks. `make help` lists them.

CARGO ?= cargo
DATA ?= data
BIND ?= 127.0.0.1:8080
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: help run build test eval lint fmt clippy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## build (release) and serve on http://127.0.0.1:8080 with embedded defaults and the demo materials
	$(CARGO) build --release --locked -p hoclieu
	./target/release/hoclieu serve --data-dir $(DATA) --bind $(BIND) --demo fixtures/demo/materials.jsonl

build: ## build the release binary (target/release/hoclieu)
	$(CARGO) build --release --locked -p hoclieu

test: ## run the whole test suite (needs PostgreSQL on 127.0.0.1:5432; see README)
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --locked --no-fail-fast
else
	$(CARGO) test --workspace --locked --no-fail-fast
endif

eval: ## search quality: nDCG@10, Success@10, Recall@10 per query variant beside a naive baseline
	$(CARGO) run --release --locked -p hoclieu-eval -- --check

lint: ## formatting and clippy, warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output (not the data directory)
	$(CARGO) clean
