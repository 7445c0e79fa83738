# The same commands locally and in CI. `make demo` and `make test` are the quick start.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `make demo` installs the runtime only; the test and lint tools come with test, lint, bench.
RUNTIME := $(VENV)/.installed
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint bench install install-dev clean

$(RUNTIME): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME) requirements-dev.lock
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	touch $(DEV)

install: $(RUNTIME)

install-dev: $(DEV)

demo: $(RUNTIME)
	$(BIN)/carbonledger demo

# Starts what is installed here (PostgreSQL, anvil), then the suite; the summary at the
# end names what was skipped and the command that enables it.
test: $(DEV)
	bash -c '. scripts/test-services.sh && exec $(BIN)/python -m pytest'

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(DEV)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
