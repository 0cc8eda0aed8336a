"""The README's tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
#: The quick start's two examples come first; the tour's start after them.
FIRST_TOUR = 2


def test_readme_quick_start_scikit_learn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # it saves an explainer into the working directory
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    attributions, model, x = namespace["attributions"], namespace["model"], namespace["x"]
    assert attributions.values.shape == (169, 30, 2)  # type: ignore[attr-defined]
    np.testing.assert_allclose(attributions.outputs, model.predict_proba(x[400:]), atol=1e-12)  # type: ignore[attr-defined]
    assert (tmp_path / "bc-explainer" / "config.json").is_file()


def test_readme_quick_start_torch_images() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, object] = {}
    exec(compile(blocks[1], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    attributions = namespace["attributions"]
    assert attributions.values.shape == (10, 16, 10)  # type: ignore[attr-defined]
    assert namespace["pixels"].values.shape == (10, 8, 8, 1, 10)  # type: ignore[attr-defined]


def test_readme_tour_runs_and_is_right() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[FIRST_TOUR], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    est, exact = namespace["est"], namespace["exact"]
    # Antithetic pairs make permutation sampling exact for this quadratic game.
    np.testing.assert_allclose(est.values[:10], exact.values, atol=1e-9)  # type: ignore[attr-defined]


def test_readme_model_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= FIRST_TOUR + 2, "the README lost its model example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[FIRST_TOUR + 1], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    est = namespace["est"]
    assert est.values.shape == (100, 8, 3)  # type: ignore[attr-defined]
    assert (est.std_errors.reshape(100, -1).max(axis=1) <= 1e-3).any()  # type: ignore[attr-defined]


def test_readme_valuation_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= FIRST_TOUR + 3, "the README lost its data-valuation example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[FIRST_TOUR + 2], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    values, flipped = np.asarray(namespace["values"]), np.asarray(namespace["flipped"])
    assert values.shape == (500,) and flipped.shape == (5,)
    assert np.isfinite(values).all() and np.isfinite(flipped).all()


def test_readme_valuation_stopping_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, object] = {}
    exec(compile(blocks[FIRST_TOUR + 2], str(README), "exec"), namespace)  # noqa: S102 - the utility it uses
    exec(compile(blocks[FIRST_TOUR + 3], str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    values, more = namespace["values"], namespace["more"]
    assert values.total_evaluations <= 2048  # type: ignore[attr-defined]
    assert values.extras["target_met"].all() or values.total_evaluations > 2048 - 64  # type: ignore[attr-defined]
    assert more.total_evaluations == values.total_evaluations + 256  # type: ignore[attr-defined]
