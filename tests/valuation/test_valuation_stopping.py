"""Stopping rules and mergeable results for the data-valuation oracles.

Rounds draw the samples a single larger run would draw (the round's index offsets the random
streams), so R merged rounds must equal one run R times as large, up to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, ShapeError
from stochamort.results import DataValues
from stochamort.valuation import (
    BetaShapley,
    DataBanzhaf,
    DistributionalShapley,
    ExactDataValues,
    FunctionUtility,
    TMCShapley,
    ValuationStopping,
    merge_values,
)

N = 12


def utility(seed: int = 0) -> FunctionUtility:
    """A non-additive utility of a multiset: concave in a weighted count, plus a pair term."""
    a = np.random.default_rng(seed).uniform(0.1, 1.0, N)
    return FunctionUtility(lambda c: np.sqrt(1.0 + c.astype(np.float64) @ a) + 0.3 * np.minimum(c[:, 0], c[:, 1]), N)


def assert_same_values(merged: DataValues, single: DataValues) -> None:
    np.testing.assert_allclose(merged.values, single.values, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(merged.std_errors, single.std_errors, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(merged.n_contributions, single.n_contributions)


@pytest.mark.parametrize(
    ("small", "large", "fits_per_round"),
    [
        (TMCShapley(n_permutations=4), TMCShapley(n_permutations=12), 2 + 4 * (N - 1)),
        (TMCShapley(n_permutations=4, truncation_tolerance=0.2), TMCShapley(n_permutations=12, truncation_tolerance=0.2), 2 + 4 * (N - 1)),
        (BetaShapley(n_permutations=4, alpha=4.0), BetaShapley(n_permutations=12, alpha=4.0), 2 + 4 * (N - 1)),
        (DataBanzhaf(n_samples=16), DataBanzhaf(n_samples=48), 16),
        (DistributionalShapley(n_contributions=3, min_size=1, max_size=6), DistributionalShapley(n_contributions=9, min_size=1, max_size=6), 2 * 3 * N),
    ],
    ids=["tmc", "tmc-truncated", "beta", "banzhaf", "distributional"],
)
def test_three_rounds_equal_one_run_three_times_as_large(small, large, fits_per_round: int) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    rounds = replace(small, stopping=ValuationStopping(max_fits=3 * fits_per_round))
    merged, single = rounds(utility(), seed=3, progress=False), large(utility(), seed=3, progress=False)
    assert merged.extras["rounds"] == 3
    assert_same_values(merged, single)
    if "truncated_at" in single.extras:
        np.testing.assert_array_equal(merged.extras["truncated_at"], single.extras["truncated_at"])
    if "contributions" in single.extras:
        np.testing.assert_allclose(merged.extras["contributions"], single.extras["contributions"])
    if isinstance(small, DataBanzhaf):
        assert merged.total_evaluations == single.total_evaluations
        np.testing.assert_array_equal(merged.extras["n_inside"], single.extras["n_inside"])


@pytest.mark.parametrize(
    "oracle",
    [TMCShapley(n_permutations=8), DataBanzhaf(n_samples=32), DistributionalShapley(n_contributions=8, min_size=1, max_size=6)],
    ids=["tmc", "banzhaf", "distributional"],
)
def test_a_target_standard_error_is_met_by_every_point(oracle) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    loose, tight = (replace(oracle, stopping=ValuationStopping(target_std_error=t, min_contributions=10)) for t in (0.05, 0.02))
    first, second = loose(utility(), progress=False), tight(utility(), progress=False)
    for result, target in ((first, 0.05), (second, 0.02)):
        assert result.std_errors.max() <= target and result.n_contributions.min() >= 10
    assert second.total_evaluations > first.total_evaluations and second.extras["rounds"] > first.extras["rounds"]


def test_distributional_values_stop_point_by_point() -> None:
    noisy = np.r_[np.full(6, 3.0), np.full(6, 0.1)]  # the first six points' contributions vary 30× more
    rng_a = np.random.default_rng(0).uniform(0.1, 1.0, N)

    def fn(c: np.ndarray) -> np.ndarray:
        return np.sqrt(1.0 + c.astype(np.float64) @ rng_a) * (1 + (c.astype(np.float64) @ noisy) % 1.7)

    oracle = DistributionalShapley(n_contributions=10, min_size=1, max_size=8, stopping=ValuationStopping(target_std_error=0.1))
    result = oracle(FunctionUtility(fn, N), progress=False)
    assert result.std_errors.max() <= 0.1 and result.extras["target_met"].all()
    assert len(set(result.n_contributions.tolist())) > 1  # not every point needed the same rounds
    assert result.total_evaluations == 2 * int(result.n_contributions.sum())


def test_max_fits_is_never_exceeded_and_must_pay_for_a_round() -> None:
    result = DataBanzhaf(n_samples=20, stopping=ValuationStopping(target_std_error=1e-9, max_fits=70))(utility(), progress=False)
    assert result.total_evaluations == 60 and result.extras["rounds"] == 3
    assert not result.extras["target_met"].any()  # the fits ran out first, and the result says so
    with pytest.raises(InsufficientSamplesError, match="max_fits"):
        TMCShapley(n_permutations=10, stopping=ValuationStopping(max_fits=50))(utility(), progress=False)


def test_stopping_rules_name_their_bad_arguments() -> None:
    for kwargs, name in [
        ({}, "target_std_error"),
        ({"target_std_error": 0.0}, "target_std_error"),
        ({"target_std_error": float("nan")}, "target_std_error"),
        ({"target_std_error": True}, "target_std_error"),
        ({"max_fits": 0}, "max_fits"),
        ({"max_fits": 2.5}, "max_fits"),
        ({"max_fits": 10, "min_contributions": 0}, "min_contributions"),
        ({"max_fits": 10, "min_contributions": None}, "min_contributions"),  # found by the long fuzz
    ]:
        with pytest.raises(InvalidArgumentError, match=name):
            ValuationStopping(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="stopping"):
        TMCShapley(n_permutations=2, stopping=0.01)(utility(), progress=False)  # type: ignore[arg-type]
    assert ValuationStopping(max_fits=np.int64(40)).max_fits == 40


def test_settings_with_a_stopping_rule_build_the_same_oracle() -> None:
    oracle = DataBanzhaf(n_samples=16, stopping=ValuationStopping(target_std_error=0.1, max_fits=100))
    settings = oracle.settings()
    assert settings["stopping"] == {"target_std_error": 0.1, "max_fits": 100, "min_contributions": 10}
    settings.pop("oracle")
    assert DataBanzhaf(**settings) == oracle


def test_results_of_two_seeds_merge_into_the_pooled_moments() -> None:
    for oracle in (TMCShapley(n_permutations=6), DataBanzhaf(n_samples=24), DistributionalShapley(n_contributions=4, min_size=1, max_size=5)):
        a, b = oracle(utility(), seed=0, progress=False), oracle(utility(), seed=1, progress=False)
        merged = merge_values(a, b)
        np.testing.assert_array_equal(merged.n_contributions, a.n_contributions + b.n_contributions)
        assert merged.total_evaluations == a.total_evaluations + b.total_evaluations
        weights = a.n_contributions / (a.n_contributions + b.n_contributions)
        if isinstance(oracle, DataBanzhaf):  # the means inside and outside pool, not the values
            n_in = a.extras["n_inside"] + b.extras["n_inside"]
            inside = (a.extras["mean_inside"] * a.extras["n_inside"] + b.extras["mean_inside"] * b.extras["n_inside"]) / n_in
            np.testing.assert_allclose(merged.extras["mean_inside"], inside, rtol=1e-12)
        else:
            np.testing.assert_allclose(merged.values, weights * a.values + (1 - weights) * b.values, rtol=1e-12)
        assert (merged.std_errors < np.maximum(a.std_errors, b.std_errors)).all()


def test_merge_refuses_what_cannot_be_merged() -> None:
    tmc, banzhaf = TMCShapley(n_permutations=4)(utility(), progress=False), DataBanzhaf(n_samples=16)(utility(), progress=False)
    exact = ExactDataValues()(FunctionUtility(lambda c: c.sum(1).astype(float), 4), progress=False)
    with pytest.raises(InvalidArgumentError, match="first"):
        merge_values(exact, exact)
    with pytest.raises(InvalidArgumentError, match="second"):
        merge_values(tmc, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="second"):
        merge_values(banzhaf, tmc)
    with pytest.raises(ShapeError):
        merge_values(tmc, TMCShapley(n_permutations=4)(FunctionUtility(lambda c: c.sum(1).astype(float), 5), seed=1, progress=False))


def test_merge_refuses_the_same_samples_twice_and_other_estimators() -> None:
    tmc = TMCShapley(n_permutations=4)
    first, second = tmc(utility(), seed=0, progress=False), TMCShapley(n_permutations=9)(utility(), seed=1, progress=False)
    merged = merge_values(first, second)  # other sample counts estimate the same values
    np.testing.assert_array_equal(merged.extras["seeds"], [0, 1])
    for other, why in [
        (tmc(utility(), seed=0, progress=False), "seed 0"),
        (first, "seed 0"),
        (TMCShapley(n_permutations=4, min_cardinality=3)(utility(), seed=5, progress=False), "min_cardinality"),
        (TMCShapley(n_permutations=4, truncation_tolerance=0.1)(utility(), seed=5, progress=False), "truncation_tolerance"),
        (DistributionalShapley(n_contributions=3)(utility(), seed=5, progress=False), "DistributionalShapley"),
    ]:
        with pytest.raises(InvalidArgumentError, match=f"^second: .*{why}"):
            merge_values(first, other)
    with pytest.raises(InvalidArgumentError, match="seed 1"):
        merge_values(merged, TMCShapley(n_permutations=2)(utility(), seed=1, progress=False))
    banzhaf = DataBanzhaf(n_samples=16)
    with pytest.raises(InvalidArgumentError, match="seed 2"):
        merge_values(banzhaf(utility(), seed=2, progress=False), banzhaf(utility(), seed=2, progress=False))
    assert "TMCShapley(min_cardinality=0" in first.extras["estimator"]


def test_distributional_datasets_far_larger_than_the_pool_are_quick() -> None:
    """Found by a new user: max_size=10**9 over 20 points drew 10**9 indices per dataset (minutes).
    Counts near 2**32 are refused: a dataset's counts are uint32 and the valued point adds one."""
    utility = FunctionUtility(lambda c: np.log1p(c.sum(axis=1).astype(np.float64)), 20)
    values = DistributionalShapley(n_contributions=3, min_size=10**9, max_size=10**9)(utility, progress=False)
    np.testing.assert_allclose(values.values, np.log1p(10**9 + 1) - np.log1p(10**9), rtol=1e-9)
    with pytest.raises(InvalidArgumentError, match="^max_size: must be below 2\\*\\*32 - 1"):
        DistributionalShapley(n_contributions=1, min_size=0, max_size=2**32 - 1)(utility, progress=False)
