# Every command of the README and of CI goes through here, so a developer runs exactly
# what CI runs. Each target sets up what it needs (apt packages, virtualenv, build).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(sort $(wildcard proto/cluster/pb/v1/*.proto))
SOURCES := $(shell find cluster tools -name '*.py' 2>/dev/null) pyproject.toml \
	$(wildcard packaging/alerts/*)
PYTEST_ARGS ?=

.PHONY: help dev proto lint test unit zipapp demo bench clean

help:
	@echo "make demo     build the zipapp and run the live demo (root)"
	@echo "make test     lint, type-check, build the zipapp and run every test"
	@echo "make unit     the fast tests only (no root, no zipapp)"
	@echo "make zipapp   build dist/cmcluster.pyz"
	@echo "make proto    regenerate cluster/pb/v1 from proto/"
	@echo "make bench    run the benchmarks (figures, not pass/fail)"
	@echo "make dev      create .venv with the runtime and development dependencies"

$(STAMP): pyproject.toml packaging/host-deps.sh
	packaging/host-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

dev: $(STAMP)

proto: $(STAMP)
	packaging/protoc.sh $(BIN) .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

zipapp: dist/cmcluster.pyz

dist/cmcluster.pyz: $(STAMP) $(SOURCES)
	packaging/build-zipapp.sh $(BIN) $@

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test: lint zipapp
	$(BIN)/pytest $(PYTEST_ARGS)

demo: zipapp
	$(BIN)/python -m tests.demo

bench: zipapp
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/config.py
	$(BIN)/python bench/sim.py
	$(BIN)/python bench/stopnow.py
	$(BIN)/python bench/reform.py
	$(BIN)/python bench/failover.py

clean:
	rm -rf dist build *.egg-info .mypy_cache .ruff_cache .pytest_cache

# The membership core under the deterministic simulator: SEEDS mixed-fault runs over 2 to
# 16 nodes (with and without a quorum server) and BIG runs at 32 to 64 nodes, on every
# core. A failing seed prints the command that replays it with a trace.
SEEDS ?= 2000
BIG ?= 3
.PHONY: sim
sim: $(STAMP)
	$(BIN)/python -m tests.sim.run --seeds $(SEEDS) --big $(BIG)
