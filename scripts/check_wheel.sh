#!/usr/bin/env bash
# Install the built wheel into a clean virtual environment (dependencies resolved from PyPI, as a
# user's `pip install` would) and run a small end-to-end check outside the source tree.
set -euo pipefail
dist=$1 python=$2 uv=$3
wheel=$(ls "$dist"/stochamort-*-abi3-*.whl)
env_dir=$(mktemp -d)
trap 'rm -rf "$env_dir"' EXIT
"$uv" venv --quiet --python "$python" "$env_dir/venv"
"$uv" pip install --quiet --python "$env_dir/venv/bin/python" "$wheel"
cd "$env_dir"
"$env_dir/venv/bin/python" - <<'PY'
import numpy as np
import stochamort as sm

masks = sm.sample_coalitions(4, 64, 6, paired=True, seed=0)
weights = np.arange(1.0, 7.0)
values = (masks @ weights)[..., None]
est = sm.kernelshap(masks, values, np.zeros((4, 1)), np.full((4, 1), weights.sum()), paired=True)
assert np.allclose(est.values[..., 0], weights), est.values
assert "site-packages" in sm.__file__, sm.__file__
import torch  # the runtime dependency resolves and imports

print(f"wheel check: stochamort {sm.__version__} installed from the wheel and ran ({sm.__file__})")
PY
