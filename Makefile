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

.PHONY: all venv deps build test rust-test architecture typecheck py-test wheel wheel-check sdist-check demo bench fuzz clean

all: test

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

venv: $(VPY)

# Runtime, test and build requirements (maturin, zig, auditwheel, uv) come from pyproject.toml;
# reinstalled when it changes.
$(VENV)/.deps-test: pyproject.toml scripts/requirements.py | $(VPY)
	$(VPY) -m pip install --quiet -r <($(VPY) scripts/requirements.py test demo --group build)
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

# Layers only look down: the import contracts in pyproject.toml ([tool.importlinter]). Read from the
# sources (python/), so it needs no build.
architecture: deps
	PYTHONPATH=python $(BIN)/lint-imports --no-cache

typecheck: build
	$(VPY) -m mypy.stubtest stochamort._core
	$(VPY) -m mypy

py-test: build
	$(VPY) -m pytest -q

# The long fuzzing run (tests/fuzz): every public function of the bottom layer for FUZZ_MINUTES
# (12 by default), random seeds; make test runs the short, derandomised pass.
FUZZ_MINUTES ?= 12
fuzz: build
	STOCHAMORT_FUZZ_MINUTES=$(FUZZ_MINUTES) $(VPY) -m pytest -q -s -p no:cacheprovider tests/fuzz

# dist/: the abi3 wheel for Python >= 3.10 on any Linux with glibc >= 2.17 on this machine's
# architecture (manylinux2014: zig links it against glibc 2.17's symbols; auditwheel confirms), and
# the sdist. The wheel has its own cargo target directory (target/<triple>/), so the first build
# compiles the dependencies again.
wheel: deps
	rm -rf dist
	CARGO_ZIGBUILD_PYTHON_PATH=$(abspath $(VPY)) \
	  $(BIN)/maturin build --release --quiet --locked --zig --compatibility manylinux2014 --out dist
	$(BIN)/maturin sdist --out dist
	$(VPY) scripts/check_dist.py dist

# The way users install it: the abi3 wheel into a brand-new environment, then import and run it.
wheel-check: wheel
	scripts/check_wheel.sh dist $(PYTHON) $(BIN)/uv

# The way users without a matching wheel install it: build the sdist in a brand-new environment (an
# isolated build, maturin from PyPI, the host's own compiler and glibc), then import and run it.
# Slow: a release build (≈ 8 min the first time on 2 cores, then ≈ 2 min: its own target directory
# keeps the compiled dependencies; our two crates are always rebuilt from the unpacked sdist). Run by
# .ci/run after `make test`.
sdist-check: wheel
	rm -rf target/sdist-check/release/.fingerprint/stochamort-*
	CARGO_TARGET_DIR=$(abspath target/sdist-check) scripts/check_wheel.sh dist $(PYTHON) $(BIN)/uv sdist

test: rust-test architecture typecheck py-test wheel-check
	@echo "make test: all checks passed"

demo: build
	$(BIN)/stochamort demo --output demo-results

bench: build $(VENV)/.deps-bench
	$(VPY) benches/bench_core.py --no-progress
	$(VPY) benches/bench_oracles.py
	$(VPY) benches/bench_utility.py
	$(VPY) benches/bench_valuation.py
	$(VPY) benches/bench_explainer.py --no-progress
	$(VPY) benches/bench_tabular.py
	$(VPY) benches/bench_images.py
	$(VPY) benches/bench_valuation_real.py
	$(VPY) benches/bench_intervals.py
	$(VPY) benches/bench_ray_labels.py
	$(VPY) benches/bench_gpu_labels.py
	$(VPY) benches/bench_accuracy.py

clean:
	rm -rf target dist $(VENV) .pytest_cache .hypothesis .mypy_cache python/stochamort/_core*.so
