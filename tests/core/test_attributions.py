"""Attributions, the result type explainers return: checked fields, row selection, intervals, estimates."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

import stochamort
from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError
from stochamort.explanation import Attributions, to_shap_explanation
from stochamort.results import Estimate
from tests.helpers.shap_export import shap

# Three points, two players, two outputs; by hand, with base + sum(values) == outputs except point 2.
VALUES = np.array(
    [
        [[1.0, -1.0], [2.0, 0.5]],
        [[0.0, 3.0], [-4.0, 1.0]],
        [[0.5, 0.5], [0.5, 0.5]],
    ]
)
BASE = np.array([[10.0, 20.0], [10.0, 20.0], [0.0, 0.0]])
OUTPUTS = np.array([[13.0, 19.5], [6.0, 24.0], [1.5, 1.0]])


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        values=VALUES,
        std_errors=np.full((3, 2, 2), 0.5),
        n_evaluations=np.array([64, 128, 256]),
        base_values=BASE,
        outputs=OUTPUTS,
        data=np.arange(6.0).reshape(3, 2),
        feature_names=["age", "income"],
        output_names=["no", "yes"],
        method="Permutation",
    )
    fields.update(changes)
    return fields


def _attributions(**changes: Any) -> Attributions:
    return Attributions(**_fields(**changes))


def test_fields_are_converted_and_counted() -> None:
    attributions = _attributions(
        values=VALUES.astype(np.float32), n_evaluations=np.array([64, 128, 256], dtype=np.int32)
    )
    assert attributions.values.dtype == np.float64 and attributions.n_evaluations.dtype == np.int64
    assert attributions.std_errors is not None and attributions.std_errors.dtype == np.float64
    assert attributions.feature_names == ("age", "income") and attributions.output_names == ("no", "yes")
    assert (attributions.n_points, attributions.n_players, attributions.n_outputs) == (3, 2, 2)
    assert len(attributions) == 3
    assert repr(attributions) == (
        "Attributions(method='Permutation', n_points=3, n_players=2, n_outputs=2, std_errors=yes)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        attributions.method = "other"  # type: ignore[misc]


def test_a_dataframe_names_the_players() -> None:
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2), columns=["height", "weight"])
    attributions = _attributions(data=frame, feature_names=None)
    assert attributions.feature_names == ("height", "weight")
    np.testing.assert_array_equal(attributions.data, frame.to_numpy())
    assert _attributions(data=frame).feature_names == ("age", "income")  # given names win


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        (dict(values=np.zeros((3, 2))), ShapeError, "values"),
        (dict(values=np.zeros((3, 0, 2))), ShapeError, "values"),
        (dict(values=np.full((3, 2, 2), np.nan)), NonFiniteError, "values"),
        (dict(values=np.full((3, 2, 2), "x")), InvalidDTypeError, "values"),
        (dict(std_errors=np.ones((3, 2, 1))), ShapeError, "std_errors"),
        (dict(std_errors=np.full((3, 2, 2), np.nan)), NonFiniteError, "std_errors"),
        (dict(std_errors=np.full((3, 2, 2), -1.0)), InvalidArgumentError, "std_errors"),
        (dict(method="amortized"), InvalidArgumentError, "std_errors"),  # zeros or not: amortized has none
        (dict(method=""), InvalidArgumentError, "method"),
        (dict(method=None), InvalidArgumentError, "method"),
        (dict(n_evaluations=np.array([1, 2])), ShapeError, "n_evaluations"),
        (dict(n_evaluations=np.array([1.0, 2.0, 3.0])), InvalidDTypeError, "n_evaluations"),
        (dict(n_evaluations=np.array([1, -2, 3])), InvalidArgumentError, "n_evaluations"),
        (dict(base_values=np.zeros(3)), ShapeError, "base_values"),
        (dict(base_values=np.zeros((3, 1))), ShapeError, "base_values"),
        (dict(outputs=np.full((3, 2), np.inf)), NonFiniteError, "outputs"),
        (dict(outputs=np.zeros((2, 2))), ShapeError, "outputs"),
        (dict(data=np.zeros((4, 2))), ShapeError, "data"),
        (dict(feature_names=["age"]), ShapeError, "feature_names"),
        (dict(feature_names="ab"), InvalidArgumentError, "feature_names"),
        (dict(output_names=["no", "yes", "maybe"]), ShapeError, "output_names"),
        (dict(patch_size=(1, 1), data=None), InvalidArgumentError, "patch_size"),
        (dict(patch_size=(1, 1)), ShapeError, "data"),  # (n, 2) is no image batch
        (dict(patch_size=(0, 1), data=np.zeros((3, 1, 2, 2))), InvalidArgumentError, "patch_size"),
        (dict(patch_size="2x2", data=np.zeros((3, 1, 2, 2))), InvalidArgumentError, "patch_size"),
        (dict(patch_size=(2, 2), data=np.zeros((3, 1, 4, 3))), ShapeError, "patch_size"),  # 3 % 2 != 0
        (dict(patch_size=(1, 1), data=np.zeros((3, 1, 2, 2))), ShapeError, "patch_size"),  # 4 patches, 2 players
        (dict(patch_size=(2, 1), data=np.full((3, 1, 2, 2), "x")), InvalidDTypeError, "data"),
    ],
)
def test_a_bad_field_is_named(changes: dict[str, Any], error: type[Exception], field: str) -> None:
    with pytest.raises(error, match=f"^{field}:"):
        _attributions(**changes)


def test_patches_tile_the_images() -> None:
    # Two players: 2x1 patches of 2x2 images in row-major order (left column, right column).
    attributions = _attributions(data=np.zeros((3, 3, 2, 2)), patch_size=[2, 1], feature_names=None)
    assert attributions.patch_size == (2, 1)
    assert _attributions(data=np.zeros((3, 1, 2, 4)), patch_size=2, feature_names=None).patch_size == (2, 2)


def test_amortized_predictions_have_no_standard_errors() -> None:
    amortized = _attributions(std_errors=None, method="amortized", n_evaluations=np.full(3, 2))
    assert amortized.std_errors is None
    assert "std_errors=None" in repr(amortized)
    with pytest.raises(InvalidArgumentError, match="^std_errors: confidence_interval needs standard errors"):
        amortized.confidence_interval()
    with pytest.raises(InvalidArgumentError, match="^std_errors: to_estimate needs.*no per-point standard errors"):
        amortized.to_estimate()


def test_efficiency_gaps() -> None:
    gaps = _attributions().efficiency_gaps()
    np.testing.assert_array_equal(gaps, [[0.0, 0.0], [0.0, 0.0], [0.5, 0.0]])


def test_confidence_interval_and_estimate() -> None:
    attributions = _attributions()
    lower, upper = attributions.confidence_interval(0.95)
    np.testing.assert_allclose(lower, VALUES - 1.959963984540054 * 0.5)
    np.testing.assert_allclose(upper, VALUES + 1.959963984540054 * 0.5)
    with pytest.raises(InvalidArgumentError, match="^level:"):
        attributions.confidence_interval(1.0)
    estimate = attributions.to_estimate()
    assert isinstance(estimate, Estimate)
    np.testing.assert_array_equal(estimate.values, VALUES)
    np.testing.assert_array_equal(estimate.std_errors, np.full((3, 2, 2), 0.5))
    np.testing.assert_array_equal(estimate.n_evaluations, [64, 128, 256])
    assert estimate.values is not attributions.values  # a copy: the estimate cannot change the attributions


@pytest.mark.parametrize(
    ("index", "rows"),
    [
        (1, [1]),
        (-1, [2]),
        (slice(1, None), [1, 2]),
        (slice(None, None, -1), [2, 1, 0]),
        (np.array([2, 0]), [2, 0]),
        ([0, 0], [0, 0]),
        (np.array([True, False, True]), [0, 2]),
        (slice(3, None), []),
    ],
)
def test_rows_are_selected_in_every_per_point_field(index: Any, rows: list[int]) -> None:
    attributions = _attributions()
    selected = attributions[index]
    assert isinstance(selected, Attributions) and selected.n_points == len(rows)
    np.testing.assert_array_equal(selected.values, VALUES[rows])
    assert selected.std_errors is not None
    np.testing.assert_array_equal(selected.std_errors, np.full((len(rows), 2, 2), 0.5))
    np.testing.assert_array_equal(selected.n_evaluations, np.array([64, 128, 256])[rows])
    np.testing.assert_array_equal(selected.base_values, BASE[rows])
    np.testing.assert_array_equal(selected.outputs, OUTPUTS[rows])
    assert selected.data is not None
    np.testing.assert_array_equal(selected.data, np.arange(6.0).reshape(3, 2)[rows])
    assert (selected.feature_names, selected.output_names, selected.method) == (
        ("age", "income"),
        ("no", "yes"),
        "Permutation",
    )


def test_row_selection_of_amortized_images() -> None:
    images = np.arange(3 * 1 * 2 * 2, dtype=np.float64).reshape(3, 1, 2, 2)
    amortized = _attributions(
        std_errors=None, method="amortized", data=images, patch_size=(2, 1), feature_names=None
    )
    first = amortized[0]
    assert first.std_errors is None and first.patch_size == (2, 1)
    assert first.data is not None
    np.testing.assert_array_equal(first.data, images[:1])


@pytest.mark.parametrize("index", [3, -4, (0, 1), np.array([True, False]), "a", 1.5, None])
def test_bad_row_indices_are_index_errors(index: Any) -> None:
    with pytest.raises(IndexError, match="^index:"):
        _attributions()[index]


def test_iterating_yields_one_point_each() -> None:
    points = list(_attributions())
    assert [p.n_points for p in points] == [1, 1, 1]
    np.testing.assert_array_equal(points[2].values[0], VALUES[2])


def test_select_output() -> None:
    attributions = _attributions()
    for output in (1, "yes"):
        yes = attributions.select_output(output)
        assert yes.n_outputs == 1 and yes.output_names == ("yes",)
        np.testing.assert_array_equal(yes.values, VALUES[:, :, 1:])
        np.testing.assert_array_equal(yes.base_values, BASE[:, 1:])
        np.testing.assert_array_equal(yes.outputs, OUTPUTS[:, 1:])
    with pytest.raises(InvalidArgumentError, match="^output:"):
        attributions.select_output(2)
    with pytest.raises(InvalidArgumentError, match="^output:"):
        attributions.select_output("maybe")
    with pytest.raises(InvalidArgumentError, match="^output:"):
        attributions.select_output(-1)


def test_select_output_refuses_an_integer_that_names_another_output() -> None:
    """Classes 1 and 2: select_output(1) could mean class 1 (position 0) or position 1 (class 2)."""
    classes = dataclasses.replace(_attributions(), output_names=("1", "2"))
    with pytest.raises(InvalidArgumentError, match="^output: 1 is ambiguous.*output='2' or output='1'"):
        classes.select_output(1)
    np.testing.assert_array_equal(classes.select_output("1").values, VALUES[:, :, :1])
    np.testing.assert_array_equal(classes.select_output(0).values, VALUES[:, :, :1])  # 0 names no output
    with pytest.raises(InvalidArgumentError, match="^output: 1 is ambiguous"):
        classes.to_shap(1)
    agreeing = dataclasses.replace(_attributions(), output_names=("0", "1"))  # classes 0, 1: names are positions
    np.testing.assert_array_equal(agreeing.select_output(1).values, agreeing.select_output("1").values)


def test_to_shap_keeps_endpoints_and_standard_errors() -> None:
    exp = _attributions().to_shap()
    assert isinstance(exp, shap.Explanation) and exp.shape == (3, 2, 2)
    np.testing.assert_array_equal(exp.values, VALUES)
    np.testing.assert_array_equal(exp.error_std, np.full((3, 2, 2), 0.5))
    np.testing.assert_array_equal(exp.base_values, BASE)
    no = _attributions().to_shap(output=0)
    assert no.shape == (3, 2) and no.output_names == "no"
    np.testing.assert_array_equal(no.base_values, BASE[:, 0])
    np.testing.assert_array_equal(no[0].values, VALUES[0, :, 0])


def test_exported_from_the_root_without_importing_torch_or_shap() -> None:
    assert stochamort.Attributions is Attributions and stochamort.to_shap_explanation is to_shap_explanation
    assert {"Attributions", "to_shap_explanation"} <= set(stochamort.__all__)
    assert len(stochamort.__all__) == len(set(stochamort.__all__))
    script = "import sys, stochamort; print(sorted({'torch', 'shap'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
