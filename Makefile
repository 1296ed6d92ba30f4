# Loopwright's commands. On a fresh machine: `make demo` and `make test`; nothing else is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test pytest lint typecheck bench format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Loopwright needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[sklearn]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,postgres,sklearn]'
	@touch $@ $(VENV)/.demo-installed

## demo: create .venv, install, and run the demo on the embedded workspace (SQLite + local files)
demo: $(VENV)/.demo-installed
	$(BIN)/loopwright demo

## test: install what the tests need, then lint, type-check and run every test (what CI runs)
test: $(VENV)/.dev-installed
	$(MAKE) --no-print-directory lint typecheck pytest

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest --cov=loopwright --cov-report=term --cov-fail-under=80 -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

## bench: run the benchmarks against the peers (each peer in its own virtual environment)
bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/data.py
	$(BIN)/python benchmarks/pipelines.py
	$(BIN)/python benchmarks/registry.py

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .loopwright .pytest_cache .mypy_cache .ruff_cache .coverage benchmarks/.venvs benchmarks/.work
