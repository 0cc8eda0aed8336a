# Set-up and checks. `make demo` and `make test` do everything on a fresh machine (Rust, Python 3.11
# and pip are all they need); `.venv` is created and filled on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
VPY := $(BIN)/python
export VIRTUAL_ENV := $(abspath $(VENV))
# Quick hypothesis profile in CI, a longer one locally (see tests/conftest.py).
export STOCHAMORT_HYPOTHESIS_PROFILE ?= $(if $(CI),ci,dev)

.PHONY: all venv deps build test rust-test architecture typecheck py-test wheel wheel-check demo bench clean

all: test

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

venv: $(VPY)

# Runtime and test requirements come from pyproject.toml; reinstalled when it changes.
$(VENV)/.deps-test: pyproject.toml scripts/requirements.py | $(VPY)
	$(VPY) -m pip install --quiet "maturin>=1.5,<2" "uv>=0.4" -r <($(VPY) scripts/requirements.py test demo)
	touch $@

$(VENV)/.deps-bench: pyproject.toml scripts/requirements.py $(VENV)/.deps-test
	$(VPY) -m pip install --quiet -r <($(VPY) scripts/requirements.py bench)
	touch $@

deps: $(VENV)/.deps-test

# The extension in release mode, installed editable into .venv (cargo rebuilds only what changed).
build: deps
	$(BIN)/maturin develop --release --quiet

rust-test:
	cargo test -p stochamort-core --quiet

# Layers only look down: the import contracts in pyproject.toml ([tool.importlinter]).
architecture: deps
	$(BIN)/lint-imports

typecheck: build
	$(VPY) -m mypy.stubtest stochamort._core
	$(VPY) -m mypy

py-test: build
	$(VPY) -m pytest -q

wheel: deps
	rm -rf dist
	$(BIN)/maturin build --release --quiet --out dist

# The way users install it: the abi3 wheel into a brand-new environment, then import and run it.
wheel-check: wheel
	scripts/check_wheel.sh dist $(PYTHON) $(BIN)/uv

test: rust-test architecture typecheck py-test wheel-check
	@echo "make test: all checks passed"

demo: build
	$(BIN)/stochamort demo --output demo-results

bench: build $(VENV)/.deps-bench
	$(VPY) benches/bench_core.py --no-progress
	$(VPY) benches/bench_oracles.py
	$(VPY) benches/bench_utility.py
	$(VPY) benches/bench_valuation.py

clean:
	rm -rf target dist $(VENV) .pytest_cache .hypothesis .mypy_cache python/stochamort/_core*.so
