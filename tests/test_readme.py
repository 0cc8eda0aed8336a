"""The README's tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_tour_runs_and_is_right() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    est, exact = namespace["est"], namespace["exact"]
    # Antithetic pairs make permutation sampling exact for this quadratic game.
    np.testing.assert_allclose(est.values[:10], exact.values, atol=1e-9)  # type: ignore[attr-defined]


def test_readme_model_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README lost its model example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[1], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    est = namespace["est"]
    assert est.values.shape == (100, 8, 3)  # type: ignore[attr-defined]
    assert (est.std_errors.reshape(100, -1).max(axis=1) <= 1e-3).any()  # type: ignore[attr-defined]


def test_readme_valuation_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3, "the README lost its data-valuation example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[2], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    values, flipped = np.asarray(namespace["values"]), np.asarray(namespace["flipped"])
    assert values.shape == (500,) and flipped.shape == (5,)
    assert np.isfinite(values).all() and np.isfinite(flipped).all()
