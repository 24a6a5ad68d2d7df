# The two commands a new user needs:
#   make run    run the watchdog on the bundled config (config/watchdog.yaml)
#   make test   install what the tests need (Debian + PyPI packages), lint, type-check, test
# Benchmarks (docs/benchmarks.md): make bench (all: about 30 min, at most 35, after waiting
# up to 5 min for a quiet machine), make bench-one B=B3, make soak (B5 alone: 1M probes, ~12-18 min)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test deps venv lint pytest clean bench bench-one bench-deps soak

$(BIN)/runbook-watchdog: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/runbook-watchdog

deps:
	bash scripts/install-test-deps.sh

run: venv
	RUNBOOK_WATCHDOG_STATE_DIR=$${RUNBOOK_WATCHDOG_STATE_DIR:-$(CURDIR)/.state} \
	  $(BIN)/runbook-watchdog run --config config/watchdog.yaml

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test: deps venv lint pytest

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache

bench-deps: venv
	bash scripts/install-bench-deps.sh
	$(BIN)/pip install -q -e '.[test,bench]'

bench: bench-deps
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.run all

bench-one: bench-deps
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.run $(B)

soak: bench-deps
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.run B5
