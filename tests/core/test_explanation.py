"""Export of estimates and plain arrays to shap.Explanation (shap is a test dependency: nothing skips)."""

from __future__ import annotations

import builtins
import importlib
import sys
from dataclasses import replace as dataclass_replace
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError, StochamortError
from stochamort.explanation import Attributions, MissingDependencyError, to_shap_explanation
from stochamort.results import Estimate
from tests.helpers.shap_export import shap


def _estimate(n: int = 4, d: int = 3, o: int = 2, seed: int = 0) -> Estimate:
    rng = np.random.default_rng(seed)
    return Estimate(rng.normal(size=(n, d, o)), rng.random((n, d, o)), np.full(n, 64, dtype=np.int64))


def test_multi_output_explanation() -> None:
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
    est = _estimate()
    frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["age", "income", "score"])
    exp = to_shap_explanation(est, data=frame, base_values=torch.zeros(4, 2))
    assert list(exp.feature_names) == ["age", "income", "score"]
    np.testing.assert_array_equal(exp.data, frame.to_numpy())
    named = to_shap_explanation(est, data=frame, feature_names=["x", "y", "z"])
    assert list(named.feature_names) == ["x", "y", "z"]


def test_from_a_real_game() -> None:
    """End to end: KernelSHAP on a model game, base values v(∅); values add up to f(x) − v(∅)."""
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
    # The same numbers as Attributions: KernelSHAP is efficient, so the gaps vanish.
    attributions = Attributions(
        values=est.values, std_errors=est.std_errors, n_evaluations=est.n_evaluations,
        base_values=null, outputs=grand, data=x, method="KernelSHAP",
    )
    np.testing.assert_allclose(attributions.efficiency_gaps(), 0.0, atol=1e-8)
    again = attributions.to_shap()
    np.testing.assert_array_equal(again.values, exp.values)
    np.testing.assert_array_equal(again.error_std, est.std_errors)


def test_plain_arrays_carry_no_standard_errors() -> None:
    """An amortizer's predictions are plain arrays: exported as they are, with no error_std (not zeros)."""
    predictions = np.arange(24.0).reshape(4, 3, 2)
    exp = to_shap_explanation(predictions, base_values=np.ones((4, 2)), output_names=["no", "yes"])
    assert exp.shape == (4, 3, 2) and exp.error_std is None
    np.testing.assert_array_equal(exp.values, predictions)
    np.testing.assert_array_equal(exp.base_values, np.ones((4, 2)))
    one_output = to_shap_explanation(predictions[:, :, 0], data=np.zeros((4, 3)), feature_names=["a", "b", "c"])
    assert one_output.shape == (4, 3) and one_output.error_std is None
    np.testing.assert_array_equal(one_output.values, predictions[:, :, 0])
    tensor = to_shap_explanation(torch.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(tensor.values, np.arange(12.0).reshape(4, 3))
    assert tensor.values.dtype == np.float64


def test_attributions_supply_their_fields_and_explicit_arguments_win() -> None:
    values = np.arange(24.0).reshape(4, 3, 2)
    attributions = Attributions(
        values=values, std_errors=None, n_evaluations=np.full(4, 2), base_values=np.ones((4, 2)),
        outputs=np.ones((4, 2)) + values.sum(axis=1), data=np.full((4, 3), 7.0),
        feature_names=("a", "b", "c"), output_names=("no", "yes"), method="amortized",
    )
    exp = to_shap_explanation(attributions)
    assert exp.error_std is None
    np.testing.assert_array_equal(exp.values, values)
    np.testing.assert_array_equal(exp.base_values, np.ones((4, 2)))
    np.testing.assert_array_equal(exp.data, np.full((4, 3), 7.0))
    assert list(exp.feature_names) == ["a", "b", "c"] and list(exp.output_names) == ["no", "yes"]
    overridden = to_shap_explanation(
        attributions, data=np.zeros((4, 3)), base_values=0.5, feature_names=["x", "y", "z"], output_names=["p", "q"]
    )
    np.testing.assert_array_equal(overridden.data, np.zeros((4, 3)))
    np.testing.assert_array_equal(overridden.base_values, np.full((4, 2), 0.5))
    assert list(overridden.feature_names) == ["x", "y", "z"] and list(overridden.output_names) == ["p", "q"]
    # One output, by name: the outputs axis goes, as for shap's own single-output explanations.
    yes = attributions.to_shap(output="yes")
    assert yes.shape == (4, 3) and yes.output_names == "yes"
    np.testing.assert_array_equal(yes.values, values[:, :, 1])
    np.testing.assert_array_equal(yes.base_values, np.ones(4))
    with_errors = dataclass_replace(attributions, std_errors=np.full((4, 3, 2), 0.25), method="Permutation")
    np.testing.assert_array_equal(to_shap_explanation(with_errors).error_std, np.full((4, 3, 2), 0.25))


def test_bad_arguments_name_the_argument() -> None:
    est = _estimate()
    with pytest.raises(ShapeError, match="^attributions:"):
        to_shap_explanation(np.zeros(4))
    with pytest.raises(ShapeError, match="^attributions:"):
        to_shap_explanation(np.zeros((4, 3, 2, 1)))
    with pytest.raises(InvalidDTypeError, match="^attributions:"):
        to_shap_explanation(np.array([["a", "b"]]))
    with pytest.raises(NonFiniteError, match="^attributions:"):
        to_shap_explanation(np.full((4, 3), np.nan))
    with pytest.raises(ShapeError, match="^attributions:"):
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
