# Loopwright's commands. On a fresh machine: `make demo` and `make test`; nothing else is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test pytest promtool lint typecheck bench format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Loopwright needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[sklearn,server]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,postgres,sklearn]'
	@touch $@ $(VENV)/.demo-installed

## demo: create .venv, install, and run the fraud demo (the whole loop, a few minutes) on the embedded
## workspace (SQLite + local files)
demo: $(VENV)/.demo-installed
	$(BIN)/loopwright demo fraud

## test: install what the tests need, then lint, type-check and run every test (what CI runs)
test: $(VENV)/.dev-installed
	$(MAKE) --no-print-directory lint typecheck pytest

pytest: $(VENV)/.dev-installed promtool
	$(BIN)/pytest --cov=loopwright --cov-report=term --cov-fail-under=80 -q

# promtool (Debian's `prometheus` package) checks /metrics in tests/monitoring/test_prometheus.py, which
# fails under CI=true without it. Installed non-interactively when missing; the Prometheus service the
# package enables is stopped again, since only the promtool binary is wanted.
SUDO := $(shell if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then echo sudo; fi)

promtool:
	@if ! command -v promtool >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "Installing promtool (apt-get install prometheus)"; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				prometheus >/dev/null || exit 1; \
			if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then \
				$(SUDO) systemctl disable --now prometheus >/dev/null 2>&1 || true; \
			fi; \
		else \
			echo "promtool is missing and apt-get is not available: install Prometheus' promtool by hand"; \
		fi; \
	fi

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
	$(BIN)/python benchmarks/monitoring.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/serving_load.py

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .loopwright .pytest_cache .mypy_cache .ruff_cache .coverage benchmarks/.venvs benchmarks/.work
