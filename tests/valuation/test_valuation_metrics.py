"""Metrics of data values: correlations, normalized error, mislabel detection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.valuation import DataValues, detection_auprc, detection_auroc, detection_metrics, value_metrics


@st.composite
def scored_flags(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 40))
    # Few distinct values so that ties are common.
    values = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=np.float64) / 4
    flags = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    flags[0], flags[1] = True, False
    return values, flags


@settings(max_examples=60, deadline=None)
@given(case=scored_flags())
def test_detection_matches_pair_counting_and_sklearn(case: tuple[np.ndarray, np.ndarray]) -> None:
    values, flags = case
    bad, good = values[flags], values[~flags]
    pairs = (bad[:, None] < good[None, :]).mean() + 0.5 * (bad[:, None] == good[None, :]).mean()
    assert detection_auroc(values, flags) == pytest.approx(pairs, abs=1e-12)
    assert detection_auroc(values, flags) == pytest.approx(roc_auc_score(flags, -values), abs=1e-12)
    assert detection_auprc(values, flags) == pytest.approx(average_precision_score(flags, -values), abs=1e-12)


def test_perfect_and_reversed_detection() -> None:
    flags = np.array([True, True, False, False, False])
    assert detection_metrics(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), flags) == {"auroc": 1.0, "auprc": 1.0}
    assert detection_auroc(np.array([2.0, 1.0, 0.0, -1.0, -2.0]), flags) == 0.0


def test_value_metrics_match_scipy() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=50)
    pred = truth + rng.normal(size=50) * 0.5
    m = value_metrics(pred, truth)
    assert m["pearson"] == pytest.approx(scipy.stats.pearsonr(pred, truth)[0], abs=1e-12)
    assert m["spearman"] == pytest.approx(scipy.stats.spearmanr(pred, truth)[0], abs=1e-12)
    assert m["mse"] == pytest.approx(np.mean((pred - truth) ** 2))
    assert m["normalized_error"] == pytest.approx(m["mse"] / truth.var())
    assert value_metrics(truth, truth)["normalized_error"] == 0.0
    assert value_metrics(np.full(50, truth.mean()), truth)["normalized_error"] == pytest.approx(1.0)


def test_metric_input_errors() -> None:
    with pytest.raises(ShapeError, match="^pred"):
        value_metrics(np.zeros(3), np.zeros(4))
    with pytest.raises(InvalidArgumentError, match="^pred"):
        value_metrics(np.zeros(1), np.zeros(1))
    with pytest.raises(InvalidArgumentError, match="^mislabelled"):
        detection_auroc(np.zeros(3), np.array([1, 0, 1]))
    with pytest.raises(InvalidArgumentError, match="^mislabelled"):
        detection_auprc(np.zeros(3), np.zeros(3, dtype=bool))
    with pytest.raises(ShapeError, match=r"^mislabelled: expected one flag per value, shape \(2,\)"):
        detection_auroc(np.zeros(2), np.array([True, False, True]))
    with pytest.raises(ShapeError, match="^values"):
        detection_auroc(np.zeros((2, 2)), np.array([True, False]))
    with pytest.raises(InvalidArgumentError, match="^values: expected an array of numbers or DataValues"):
        detection_auroc({"a": 1}, np.array([True, False]))
    with pytest.raises(InvalidArgumentError, match="^truth"):
        value_metrics(np.zeros(2), "ab")


def test_metrics_take_data_values() -> None:
    """The oracles' and baselines' results go in as they are (their values are what is scored)."""
    values = np.array([0.3, -0.2, 0.1, -0.4])
    result = DataValues(values, np.full(4, 0.01), np.full(4, 5, dtype=np.int64), 20)
    flags = np.array([False, True, False, True])
    assert detection_auroc(result, flags) == detection_auroc(values, flags) == 1.0
    assert detection_metrics(result, flags) == detection_metrics(values, flags)
    assert value_metrics(result, result) == value_metrics(values, values)


def test_data_values_are_array_like_as_their_values() -> None:
    """np.argsort(DataValues) once ranked one object ([0]) without an error; now it ranks the values."""
    values = np.array([0.3, -0.2, 0.1, -0.4])
    result = DataValues(values, np.full(4, 0.01), np.full(4, 5, dtype=np.int64), 20)
    np.testing.assert_array_equal(np.argsort(result), np.argsort(values))
    np.testing.assert_array_equal(np.asarray(result), values)
    assert np.asarray(result, dtype=np.float32).dtype == np.float32
    assert sorted(result) == sorted(values.tolist()) and len(list(result)) == 4
    assert float(np.mean(result)) == float(values.mean())
