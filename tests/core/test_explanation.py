"""Export of estimates to shap.Explanation (shap is optional: those tests skip without it)."""

from __future__ import annotations

import builtins
import importlib
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError, StochamortError
from stochamort.results import Estimate
from stochamort.explanation import MissingDependencyError, to_shap_explanation


def _shap() -> ModuleType:
    # shap 0.51's import touches a matplotlib API that warns; the tests turn warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module: ModuleType = pytest.importorskip("shap")
        return module


def _estimate(n: int = 4, d: int = 3, o: int = 2, seed: int = 0) -> Estimate:
    rng = np.random.default_rng(seed)
    return Estimate(rng.normal(size=(n, d, o)), rng.random((n, d, o)), np.full(n, 64, dtype=np.int64))


def test_multi_output_explanation() -> None:
    shap = _shap()
    est = _estimate()
    data = np.arange(12.0).reshape(4, 3)
    null = np.random.default_rng(1).random((4, 2))
    exp = to_shap_explanation(est, data=data, base_values=null, feature_names=["a", "b", "c"], output_names=["no", "yes"])
    assert isinstance(exp, shap.Explanation)
    assert exp.shape == (4, 3, 2)
    np.testing.assert_array_equal(exp.values, est.values)
    np.testing.assert_array_equal(exp.error_std, est.std_errors)
    np.testing.assert_array_equal(exp.base_values, null)
    np.testing.assert_array_equal(exp.data, data)
    assert list(exp.feature_names) == ["a", "b", "c"]
    assert list(exp.output_names) == ["no", "yes"]
    # shap's slicing keeps values, standard errors and base values aligned.
    one = exp[1, :, 1]
    np.testing.assert_array_equal(one.values, est.values[1, :, 1])
    np.testing.assert_array_equal(one.error_std, est.std_errors[1, :, 1])
    assert one.base_values == pytest.approx(null[1, 1])
    np.testing.assert_array_equal(exp[:, :, 0].base_values, null[:, 0])


def test_defaults_and_broadcast_base_values() -> None:
    _shap()
    est = _estimate()
    exp = to_shap_explanation(est)
    assert exp.shape == (4, 3, 2) and exp.base_values is None and exp.data is None
    assert list(exp.output_names) == ["Output 0", "Output 1"]
    assert exp[0].shape == (3, 2)
    per_output = to_shap_explanation(est, base_values=[0.25, 0.75])
    np.testing.assert_array_equal(per_output.base_values, np.tile([0.25, 0.75], (4, 1)))
    scalar = to_shap_explanation(est, base_values=0.5)
    np.testing.assert_array_equal(scalar.base_values, np.full((4, 2), 0.5))
    # Data need not be one value per player (e.g. images with patch players).
    images = to_shap_explanation(est, data=np.zeros((4, 1, 4, 4)), base_values=0.0)
    assert images.shape == (4, 3, 2) and images.data.shape == (4, 1, 4, 4)


def test_single_output_drops_the_output_axis() -> None:
    _shap()
    est = _estimate(o=1)
    exp = to_shap_explanation(est, base_values=np.arange(4.0), output_names=["p"])
    assert exp.shape == (4, 3)
    np.testing.assert_array_equal(exp.values, est.values[:, :, 0])
    np.testing.assert_array_equal(exp.error_std, est.std_errors[:, :, 0])
    np.testing.assert_array_equal(exp.base_values, np.arange(4.0))
    assert exp.output_names == "p"
    column = to_shap_explanation(est, base_values=np.ones((4, 1)))
    np.testing.assert_array_equal(column.base_values, np.ones(4))
    assert exp[2].base_values == 2.0 and exp[2].shape == (3,)


def test_dataframe_and_tensor_inputs() -> None:
    _shap()
    pd = pytest.importorskip("pandas")
    est = _estimate()
    frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["age", "income", "score"])
    exp = to_shap_explanation(est, data=frame, base_values=torch.zeros(4, 2))
    assert list(exp.feature_names) == ["age", "income", "score"]
    np.testing.assert_array_equal(exp.data, frame.to_numpy())
    named = to_shap_explanation(est, data=frame, feature_names=["x", "y", "z"])
    assert list(named.feature_names) == ["x", "y", "z"]


def test_from_a_real_game() -> None:
    """End to end: KernelSHAP on a model game, base values v(∅); values add up to f(x) − v(∅)."""
    _shap()
    from stochamort.games import BaselineMasker, MaskedModel
    from stochamort.oracles import KernelSHAP

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    game = MaskedModel(model, BaselineMasker(0.0)).bind(x)
    est = KernelSHAP(budget=64)(game, progress=False)
    null, grand = game.endpoints()
    exp = to_shap_explanation(est, data=x, base_values=null, feature_names=[f"f{i}" for i in range(5)])
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, grand, atol=1e-8)


def test_bad_arguments_name_the_argument() -> None:
    est = _estimate()
    with pytest.raises(InvalidArgumentError, match="^estimate:"):
        to_shap_explanation(np.zeros((4, 3, 2)))  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="^estimate:"):
        to_shap_explanation(Estimate(np.zeros((4, 3)), np.zeros((4, 3)), np.zeros(4, dtype=np.int64)))
    with pytest.raises(ShapeError, match="^data:"):
        to_shap_explanation(est, data=np.zeros((5, 3)))
    with pytest.raises(ShapeError, match="^base_values:"):
        to_shap_explanation(est, base_values=np.zeros(4))  # (n,) is ambiguous with several outputs
    with pytest.raises(ShapeError, match="^base_values:"):
        to_shap_explanation(est, base_values=np.zeros((4, 3)))
    with pytest.raises(NonFiniteError, match="^base_values:"):
        to_shap_explanation(est, base_values=np.full((4, 2), np.nan))
    with pytest.raises(InvalidArgumentError, match="^base_values:"):
        to_shap_explanation(est, base_values=np.array(["a", "b"]))
    with pytest.raises(ShapeError, match="^feature_names:"):
        to_shap_explanation(est, feature_names=["a", "b"])
    with pytest.raises(InvalidArgumentError, match="^feature_names:"):
        to_shap_explanation(est, feature_names="abc")
    with pytest.raises(ShapeError, match="^output_names:"):
        to_shap_explanation(est, output_names=["only one"])


def test_missing_shap_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without shap installed the export says what to install; nothing else needs shap."""
    real_import = builtins.__import__
    real_import_module = importlib.import_module

    def no_shap(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "shap" or name.startswith("shap."):
            raise ModuleNotFoundError("No module named 'shap'", name="shap")
        return real_import(name, *args, **kwargs)

    def no_shap_module(name: str, package: str | None = None) -> ModuleType:
        if name == "shap" or name.startswith("shap."):
            raise ModuleNotFoundError("No module named 'shap'", name="shap")
        return real_import_module(name, package)

    monkeypatch.setitem(sys.modules, "shap", None)
    monkeypatch.setattr(builtins, "__import__", no_shap)
    monkeypatch.setattr(importlib, "import_module", no_shap_module)
    with pytest.raises(MissingDependencyError, match=r"pip install shap") as info:
        to_shap_explanation(_estimate())
    assert isinstance(info.value, ImportError) and isinstance(info.value, StochamortError)
    # Argument errors still come first and do not need shap.
    with pytest.raises(ShapeError):
        to_shap_explanation(_estimate(), feature_names=["a"])
