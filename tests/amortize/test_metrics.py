"""Accuracy metrics against hand-computed values and scipy, and compute accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from stochamort.amortize import (
    ComputeLedger,
    count_evaluations,
    evaluate_attributions,
    evaluation_flops,
    forward_flops,
    normalized_error,
    pearson_correlation,
    rankdata,
    sign_agreement,
    spearman_correlation,
    squared_error,
)
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import Estimate
from stochamort.games import BaselineMasker, MarginalMasker, MaskedModel
from stochamort.oracles import Permutation

from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)


def random_attributions(seed: int, shape: tuple[int, ...] = (30, 7, 3)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def test_perfect_prediction() -> None:
    truth = random_attributions(0)
    metrics = evaluate_attributions(truth.copy(), truth)
    assert metrics["squared_error"] == 0 and metrics["normalized_error"] == 0
    for name in ("pearson", "pearson_global", "spearman", "spearman_global"):
        assert metrics[name] == pytest.approx(1.0, abs=1e-12), name
    assert metrics["sign_agreement"] == 1.0


def test_mean_prediction_has_normalized_error_one() -> None:
    truth = random_attributions(1)
    mean = np.broadcast_to(truth.mean(axis=0), truth.shape)
    assert normalized_error(mean, truth) == pytest.approx(1.0, abs=1e-12)
    assert normalized_error(mean + 0.1, truth) > 1.0
    # normalized error = 1 − R² pooled over all entries
    pred = truth + 0.3 * random_attributions(2)
    residual = np.sum((pred - truth) ** 2)
    total = np.sum((truth - truth.mean(axis=0)) ** 2)
    assert normalized_error(pred, truth) == pytest.approx(residual / total, rel=1e-12)
    assert math.isnan(normalized_error(np.zeros((3, 2)), np.ones((3, 2))))  # constant truth


def test_hand_computed_values() -> None:
    # 2 points, 3 players, 1 output
    truth = np.array([[1.0, -2.0, 0.0], [3.0, 1.0, -1.0]])
    pred = np.array([[1.5, -2.0, 1.0], [2.0, -1.0, -1.0]])
    # per point: 0.25 + 0 + 1 = 1.25 and 1 + 4 + 0 = 5; mean 3.125
    assert squared_error(pred, truth) == pytest.approx(3.125)
    # squared_error averages over outputs: duplicate the output axis, nothing changes
    both = np.stack([pred, pred], axis=2), np.stack([truth, truth], axis=2)
    assert squared_error(*both) == pytest.approx(3.125)
    # signs: truth non-zero at 5 entries; pred agrees at (0,0), (0,1), (1,0), (1,2) but not (1,1)
    assert sign_agreement(pred, truth) == pytest.approx(4 / 5)
    assert sign_agreement(np.zeros((1, 3)), np.array([[1.0, 0.0, -1.0]])) == 0.0  # predicted 0 disagrees
    assert math.isnan(sign_agreement(np.ones((2, 2)), np.zeros((2, 2))))
    # pearson per point: correlation across the 3 players of each point, averaged
    expected = np.mean([np.corrcoef(pred[i], truth[i])[0, 1] for i in range(2)])
    assert pearson_correlation(pred, truth) == pytest.approx(expected, rel=1e-12)
    assert pearson_correlation(pred, truth, per_point=False) == pytest.approx(
        np.corrcoef(pred.ravel(), truth.ravel())[0, 1], rel=1e-12
    )
    assert pearson_correlation(-truth, truth) == pytest.approx(-1.0)


def test_correlations_skip_points_without_variance() -> None:
    truth = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    pred = np.array([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    assert pearson_correlation(pred, truth) == pytest.approx(0.5)  # only the first point counts
    assert spearman_correlation(pred, truth) == pytest.approx(0.5)
    assert math.isnan(pearson_correlation(np.ones((2, 3)), truth))


@pytest.mark.parametrize("seed", range(5))
def test_rankdata_and_spearman_match_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # small integer ranges: many ties within rows and across the whole array
    truth = rng.integers(-3, 4, size=(25, 8, 2)).astype(np.float64)
    pred = truth + rng.integers(-2, 3, size=truth.shape)
    np.testing.assert_array_equal(rankdata(truth, axis=1), scipy.stats.rankdata(truth, axis=1))
    np.testing.assert_array_equal(rankdata(truth.ravel()), scipy.stats.rankdata(truth.ravel()))
    np.testing.assert_array_equal(rankdata(truth, axis=0), scipy.stats.rankdata(truth, axis=0))
    global_rho = scipy.stats.spearmanr(pred.ravel(), truth.ravel()).statistic
    assert spearman_correlation(pred, truth, per_point=False) == pytest.approx(global_rho, rel=1e-12)
    per_point = [
        scipy.stats.spearmanr(pred[p, :, k], truth[p, :, k]).statistic
        for p in range(truth.shape[0])
        for k in range(truth.shape[2])
        if np.ptp(pred[p, :, k]) > 0 and np.ptp(truth[p, :, k]) > 0
    ]
    assert spearman_correlation(pred, truth) == pytest.approx(np.mean(per_point), rel=1e-12)
    # continuous data (no ties) as well, against scipy's pearsonr on the same entries
    a, b = rng.normal(size=(40, 5, 1)), rng.normal(size=(40, 5, 1))
    assert spearman_correlation(a, b, per_point=False) == pytest.approx(
        scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic, rel=1e-12
    )
    assert pearson_correlation(a, b, per_point=False) == pytest.approx(
        scipy.stats.pearsonr(a.ravel(), b.ravel()).statistic, rel=1e-12
    )


def test_inputs_may_be_tensors_and_estimates() -> None:
    truth = random_attributions(3)
    estimate = Estimate(truth, np.zeros_like(truth), np.full(truth.shape[0], 10, dtype=np.int64))
    assert squared_error(torch.as_tensor(truth, dtype=torch.float32), estimate) < 1e-10


def test_metric_errors_name_the_argument() -> None:
    truth = random_attributions(4)
    with pytest.raises(ShapeError, match="^pred:"):
        squared_error(truth[:, :3], truth)
    with pytest.raises(ShapeError, match="^truth:"):
        squared_error(truth, np.zeros(5))
    with pytest.raises(NonFiniteError, match="^pred:"):
        pearson_correlation(np.full_like(truth, np.nan), truth)
    with pytest.raises(InvalidArgumentError, match="^truth:"):
        sign_agreement(truth, np.array([["a"]]))
    with pytest.raises(NonFiniteError, match="^values:"):
        rankdata(np.array([1.0, np.nan]))


def test_forward_flops_of_mlps() -> None:
    mlp = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    assert forward_flops(mlp) == 2 * 6 * 16 + 16 + 2 * 16 * 2 + 2
    assert forward_flops(nn.Linear(10, 3, bias=False)) == 60
    with pytest.raises(InvalidArgumentError, match="^model:.*Conv2d"):
        forward_flops(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 1)))
    with pytest.raises(InvalidArgumentError, match="^model:"):
        forward_flops(nn.Tanh())
    # a coalition of a background-averaging game costs one forward pass per background row
    family = MaskedModel(mlp, MarginalMasker(np.zeros((5, 6), dtype=np.float32)))
    assert evaluation_flops(family) == 5 * forward_flops(mlp)
    assert evaluation_flops(MaskedModel(mlp, BaselineMasker())) == forward_flops(mlp)
    assert evaluation_flops(nn.Conv2d(1, 1, 1), flops_per_forward=123.0) == 123.0
    with pytest.raises(InvalidArgumentError, match="^flops_per_forward:"):
        evaluation_flops(mlp, flops_per_forward=-1.0)


def test_compute_ledger_counts_evaluations_and_flops() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).double()
    family = MaskedModel(model, BaselineMasker(), output="logits")
    game = family.bind(np.random.default_rng(0).normal(size=(10, 4)))
    labels = Permutation(budget=8)(game, seed=0, progress=False)  # 2 + 2 orders × 3 = 8 per point
    assert count_evaluations(labels) == 80
    assert count_evaluations(np.array([3, 4])) == 7 and count_evaluations(5) == 5
    ledger = ComputeLedger()
    ledger.add_labels(labels)
    ledger.add_estimation(np.full(10, 1000))
    ledger.add_training(1e6)
    ledger.add_training(type("Result", (), {"train_flops": 5e5})())
    ledger.add_inference(2.0 * 10 * 50)
    assert ledger.label_evaluations == 80 and ledger.estimation_evaluations == 10_000
    assert ledger.summary() == {
        "label_evaluations": 80.0,
        "estimation_evaluations": 10_000.0,
        "training_flops": 1.5e6,
        "inference_flops": 1000.0,
    }
    with pytest.raises(InvalidArgumentError, match="^flops_per_evaluation:"):
        _ = ledger.label_flops
    ledger.flops_per_evaluation = evaluation_flops(family)
    per = forward_flops(model)
    assert ledger.label_flops == 80 * per and ledger.estimation_flops == 10_000 * per
    assert ledger.amortized_flops == 80 * per + 1.5e6 + 1000.0
    assert ledger.summary()["amortized_flops"] == ledger.amortized_flops
    with pytest.raises(InvalidArgumentError, match="^flops_per_evaluation:"):
        ComputeLedger(flops_per_evaluation=-2.0)
    with pytest.raises(InvalidArgumentError, match="^result:"):
        ledger.add_training("lots")
    with pytest.raises(InvalidArgumentError, match="^estimate:"):
        ledger.add_labels(np.array([-1]))
