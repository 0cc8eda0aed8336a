"""Moderated standard errors (stochamort._moderation), on replicates drawn from known normals.

Seeded statistical tests: each coverage is a mean over at least 3 000 intervals (standard error
about 0.004 at 95 %); tolerances are stated per test.
"""

from __future__ import annotations

import numpy as np
import pytest

from stochamort._moderation import moderated_std_errors, trigamma_inverse
from stochamort.errors import InvalidArgumentError
from stochamort.results import DataValues, Estimate


def normal_replicates(
    rng: np.random.Generator, points: int, cells: int, replicates: int, point_sd: float, cell_sd: float, scatter_sd: float
) -> Estimate:
    """Means of ``replicates`` N(0, σ²) draws per cell, log σ² = point + cell effect + scatter."""
    log_var = (
        point_sd * rng.normal(size=(points, 1)) + cell_sd * rng.normal(size=(1, cells)) + scatter_sd * rng.normal(size=(points, cells))
    )
    draws = rng.normal(size=(points, cells, replicates)) * np.exp(log_var / 2)[..., None]
    se = draws.std(axis=-1, ddof=1) / np.sqrt(replicates)
    return Estimate(draws.mean(-1)[..., None], se[..., None], np.full(points, replicates), {"dof": np.full(points, replicates - 1.0)})


def covers_zero(est: Estimate, kind: str = "moderated") -> float:
    lower, upper = est.confidence_interval(0.95, kind)
    return float(((lower <= 0) & (0 <= upper)).mean())


@pytest.mark.parametrize(
    ("replicates", "point_sd", "cell_sd", "scatter_sd"),
    [(2, 0, 0, 0), (2, 1.5, 0, 0), (2, 0, 2, 0), (2, 1, 1, 1), (4, 1, 1, 1), (16, 1, 1, 1)],
)
def test_normal_replicates_are_covered_at_the_nominal_rate(replicates: int, point_sd: float, cell_sd: float, scatter_sd: float) -> None:
    """400 points × 8 cells; measured 0.941–0.956. Tolerance ±2 points."""
    rng = np.random.default_rng(replicates * 100 + int(10 * (point_sd + cell_sd + scatter_sd)))
    coverage = np.mean([covers_zero(normal_replicates(rng, 400, 8, replicates, point_sd, cell_sd, scatter_sd)) for _ in range(2)])
    assert 0.93 <= coverage <= 0.97


def test_a_lone_point_pools_its_own_cells() -> None:
    """One point of 32 cells at a time (measured 0.941 with log-scale scatter 1). Tolerance ±2.5."""
    rng = np.random.default_rng(7)
    coverage = np.mean([covers_zero(normal_replicates(rng, 1, 32, 2, 0, 0, 1.0)) for _ in range(150)])
    assert 0.925 <= coverage <= 0.975


def test_zero_standard_errors_from_samples_get_an_interval_and_exact_values_keep_theirs() -> None:
    rng = np.random.default_rng(3)
    est = normal_replicates(rng, 50, 8, 2, 0, 0, 0)
    est.std_errors[0, 0, 0] = 0.0  # two equal replicates: no spread seen, but the value is not exact
    lower, upper = est.confidence_interval(0.95)
    assert upper[0, 0, 0] > est.values[0, 0, 0]
    lower_t, upper_t = est.confidence_interval(0.95, "t")
    assert upper_t[0, 0, 0] == est.values[0, 0, 0]  # what plain t makes of it
    # Two equal replicates count as one: the standard error of one N(0, 1) replicate, not of two.
    moderated, _ = moderated_std_errors(est.std_errors, est.dof)
    assert 0.8 <= moderated[0, 0, 0] <= 1.25 and np.median(moderated) < 0.85
    exact_and_single = Estimate(
        np.zeros((3, 8, 1)), np.concatenate([np.zeros((1, 8, 1)), np.ones((2, 8, 1))]), np.ones(3, np.int64),
        {"dof": np.array([np.inf, 0.0, 0.0])},
    )
    lower, upper = exact_and_single.confidence_interval()
    np.testing.assert_array_equal(upper[0], 0.0)
    assert np.isinf(upper[1:]).all()


def test_too_little_to_pool_leaves_plain_t() -> None:
    est = Estimate(np.zeros((1, 3, 1)), np.ones((1, 3, 1)), np.full(1, 4), {"dof": np.full(1, 3.0)})
    for a, b in zip(est.confidence_interval(), est.confidence_interval(0.95, "t")):
        np.testing.assert_array_equal(a, b)


def test_pooling_is_the_same_whatever_the_order_of_points() -> None:
    est = normal_replicates(np.random.default_rng(4), 60, 8, 3, 1, 1, 1)
    order = np.random.default_rng(5).permutation(60)
    shuffled = Estimate(est.values[order], est.std_errors[order], est.n_evaluations[order], {"dof": est.extras["dof"][order]})
    se, dof = moderated_std_errors(est.std_errors, est.extras["dof"])
    se_shuffled, dof_shuffled = moderated_std_errors(shuffled.std_errors, shuffled.extras["dof"])
    np.testing.assert_allclose(se_shuffled, se[order], rtol=1e-9)
    np.testing.assert_allclose(dof_shuffled, dof[order], rtol=1e-9)


def test_trigamma_inverse_inverts_trigamma() -> None:
    from scipy.special import polygamma  # type: ignore[import-untyped]

    y = np.array([1e-7, 1e-3, 0.1, 0.5, 1.0, 3.0, 100.0, 1e5, 1e9])
    np.testing.assert_allclose(trigamma_inverse(polygamma(1, y)), y, rtol=1e-7)


def test_data_values_pool_over_points_and_kind_is_checked() -> None:
    rng = np.random.default_rng(8)
    draws = rng.normal(size=(3000, 3))
    values = DataValues(draws.mean(1), draws.std(1, ddof=1) / np.sqrt(3), np.full(3000, 3), 9000)
    lower, upper = values.confidence_interval()
    assert 0.93 <= ((lower <= 0) & (0 <= upper)).mean() <= 0.97
    for bad in ("student", None, 1):
        with pytest.raises(InvalidArgumentError, match="kind"):
            values.confidence_interval(0.95, bad)  # type: ignore[arg-type]


def test_points_that_are_not_poolable_keep_their_own_t_interval() -> None:
    est = normal_replicates(np.random.default_rng(9), 40, 8, 2, 0, 0, 0)
    poolable = np.arange(40) % 2 == 0
    flagged = Estimate(est.values, est.std_errors, est.n_evaluations, {**est.extras, "poolable": poolable})
    (lower, upper), (lower_t, upper_t) = flagged.confidence_interval(), flagged.confidence_interval(0.95, "t")
    np.testing.assert_array_equal(upper[~poolable], upper_t[~poolable])
    assert not np.array_equal(upper[poolable], upper_t[poolable])
    from stochamort.explanation import Attributions

    attributions = Attributions(
        values=est.values, std_errors=est.std_errors, n_evaluations=est.n_evaluations, base_values=np.zeros((40, 1)),
        outputs=np.zeros((40, 1)), method="UnbiasedKernelSHAP", dof=est.extras["dof"], poolable=poolable,
    )
    np.testing.assert_array_equal(attributions.confidence_interval()[1], upper)
    np.testing.assert_array_equal(attributions[1:3].poolable, poolable[1:3])
    with pytest.raises(InvalidArgumentError, match="poolable"):
        Attributions(
            values=est.values, std_errors=est.std_errors, n_evaluations=est.n_evaluations, base_values=np.zeros((40, 1)),
            outputs=np.zeros((40, 1)), method="x", poolable=np.ones(40),
        )
