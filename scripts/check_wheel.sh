#!/usr/bin/env bash
# Install stochamort from dist/ into a clean virtual environment (dependencies resolved from PyPI, as a
# user's `pip install` would) and run a small end-to-end check outside the source tree.
#
#   check_wheel.sh DIST PYTHON UV            install the abi3 wheel
#   check_wheel.sh DIST PYTHON UV sdist      build the sdist (isolated build, maturin from PyPI, the
#                                            locked crates) and install what it builds
set -euo pipefail
dist=$1 python=$2 uv=$3 from=${4:-wheel}
case $from in
    wheel) package=$(ls "$dist"/stochamort-*-abi3-*.whl) ;;
    # Rebuilt every time (uv would reuse a wheel it built from an earlier sdist), with Cargo.lock
    # as shipped; CARGO_TARGET_DIR, when set, keeps the compiled dependencies between runs.
    sdist) package=$(ls "$dist"/stochamort-*.tar.gz)
           export MATURIN_PEP517_ARGS="--locked" ;;
    *) echo "check_wheel.sh: install from 'wheel' or 'sdist', not '$from'" >&2; exit 2 ;;
esac
package=$(realpath "$package")
env_dir=$(mktemp -d)
trap 'rm -rf "$env_dir"' EXIT
"$uv" venv --quiet --python "$python" "$env_dir/venv"
"$uv" pip install --quiet --refresh-package stochamort --python "$env_dir/venv/bin/python" "$package"
cd "$env_dir"
FROM=$from "$env_dir/venv/bin/python" - <<'PY'
import os
from pathlib import Path

import numpy as np
import stochamort as sm

masks = sm.sample_coalitions(4, 64, 6, paired=True, seed=0)
weights = np.arange(1.0, 7.0)
values = (masks @ weights)[..., None]
est = sm.kernelshap(masks, values, np.zeros((4, 1)), np.full((4, 1), weights.sum()), paired=True)
assert np.allclose(est.values[..., 0], weights), est.values
assert "site-packages" in sm.__file__, sm.__file__
package = Path(sm.__file__).parent
for typing_file in ("py.typed", "_core.pyi"):  # type checkers of users' code need both
    assert (package / typing_file).is_file(), f"{typing_file} not installed"
import torch  # the runtime dependency resolves and imports

print(f"{os.environ['FROM']} check: stochamort {sm.__version__} installed from the {os.environ['FROM']} and ran ({sm.__file__})")
PY
