"""Data-valuation oracles on utilities with known values: exactness, unbiasedness, settings, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stochamort import exact_semivalue, sample_permutations, semivalue_weights
from stochamort.errors import InvalidArgumentError, StochamortError, TooManyPlayersError
from stochamort.valuation import (
    BetaShapley,
    DataBanzhaf,
    DistributionalShapley,
    ExactDataValues,
    FunctionUtility,
    TMCShapley,
    TorchLogisticUtility,
)


def additive(a: np.ndarray) -> FunctionUtility:
    """U(S) = Σ_{i∈S} count_i · a_i: every marginal contribution of i is exactly a_i."""
    return FunctionUtility(lambda counts: counts.astype(np.float64) @ a, len(a))


def table_utility(table: np.ndarray) -> FunctionUtility:
    """U(S) = table[bitmask of S] for 0/1 subsets (the layout of exact_semivalue)."""
    n = int(math.log2(table.size))
    powers = 1 << np.arange(n)

    def fn(counts: np.ndarray) -> np.ndarray:
        return table[(counts > 0).astype(np.int64) @ powers]

    return FunctionUtility(fn, n)


def random_table(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # A non-additive utility: a random function of the subset plus a concave term in its size.
    sizes = np.array([bin(s).count("1") for s in range(1 << n)])
    return rng.normal(size=1 << n) * 0.3 + np.sqrt(sizes)


def exact(table: np.ndarray, kind: str = "shapley", alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    n = int(math.log2(table.size))
    return exact_semivalue(table[None, :, None], semivalue_weights(n, kind, alpha=alpha, beta=beta)).values[0, :, 0]


# --- exact enumeration ---------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_exact_data_values_match_exact_semivalue(seed: int, n: int) -> None:
    table = random_table(seed, n)
    for kind, alpha, beta in (("shapley", 1.0, 1.0), ("banzhaf", 1.0, 1.0), ("beta", 4.0, 1.0)):
        result = ExactDataValues(kind, alpha=alpha, beta=beta)(table_utility(table), progress=False)  # type: ignore[arg-type]
        np.testing.assert_allclose(result.values, exact(table, kind, alpha, beta), atol=1e-12)
        assert result.total_evaluations == 1 << n
        assert (result.std_errors == 0).all()


def test_exact_refuses_more_than_20_points() -> None:
    with pytest.raises(TooManyPlayersError, match="utility"):
        ExactDataValues()(additive(np.ones(21)))


# --- permutation oracles -------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 9))
def test_tmc_is_exact_on_additive_utilities(seed: int, n: int) -> None:
    a = np.random.default_rng(seed).normal(size=n)
    result = TMCShapley(6)(additive(a), seed=seed, progress=False)
    np.testing.assert_allclose(result.values, a, atol=1e-12)
    np.testing.assert_allclose(result.std_errors, 0.0, atol=1e-12)
    assert (result.n_contributions == 6).all()
    assert result.total_evaluations == 2 + 6 * (n - 1)


@pytest.mark.parametrize("oracle_kind", ["tmc", "beta", "banzhaf"])
def test_permutation_and_msr_oracles_converge_to_exact_values(oracle_kind: str) -> None:
    """Seeded statistical test: every estimate within 4.5 standard errors of the exact value, and
    the errors shrink like 1/√samples (one check that would fail for a biased estimator)."""
    table = random_table(7, 6)
    utility = table_utility(table)
    if oracle_kind == "tmc":
        small, large, truth = TMCShapley(400), TMCShapley(6400), exact(table)
    elif oracle_kind == "beta":
        small, large, truth = BetaShapley(400, alpha=4.0, beta=1.0), BetaShapley(6400, alpha=4.0, beta=1.0), exact(table, "beta", 4.0, 1.0)
    else:
        small, large, truth = DataBanzhaf(800), DataBanzhaf(12800), exact(table, "banzhaf")
    for oracle in (small, large):
        result = oracle(utility, seed=3, progress=False)
        z = np.abs(result.values - truth) / result.std_errors
        assert z.max() < 4.5, (oracle, result.values, truth)
    err_small = np.abs(small(utility, seed=3, progress=False).values - truth).mean()
    err_large = np.abs(large(utility, seed=3, progress=False).values - truth).mean()
    assert err_large < err_small


def test_beta_weights_change_the_estimate() -> None:
    """Beta(4,1) and Shapley differ on a non-additive utility; the oracle follows its weights."""
    table = random_table(11, 5)
    shapley, beta = exact(table), exact(table, "beta", 4.0, 1.0)
    assert np.abs(shapley - beta).max() > 0.05
    result = BetaShapley(20000, alpha=4.0, beta=1.0)(table_utility(table), seed=0, progress=False)
    assert np.abs(result.values - beta).max() < np.abs(result.values - shapley).max()
    assert (np.abs(result.values - beta) < 4.5 * result.std_errors).all()


def test_beta_with_alpha_beta_one_is_tmc() -> None:
    table = random_table(5, 5)
    a = BetaShapley(50, alpha=1.0, beta=1.0)(table_utility(table), seed=9, progress=False)
    b = TMCShapley(50)(table_utility(table), seed=9, progress=False)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


def test_truncation_zeroes_contributions_after_the_cut_and_saves_fits() -> None:
    n, n_perm, tolerance = 8, 5, 0.4
    a = np.linspace(1.0, 2.0, n)
    result = TMCShapley(n_perm, truncation_tolerance=tolerance, block_size=1)(additive(a), seed=4, progress=False)
    # The same permutations by hand: contributions are a_i until the prefix utility first comes
    # within tolerance × U(all) of U(all) (that prefix's last contribution is kept), 0 after.
    perms = sample_permutations(1, n_perm, n, seed=4)[0]
    grand = a.sum()
    sums, counts, fits = np.zeros(n), np.zeros(n), 2
    for perm in perms:
        prefix = np.cumsum(a[perm])
        cut = int(np.nonzero(np.abs(prefix - grand) <= tolerance * abs(grand))[0][0]) + 1
        fits += min(cut, n - 1)
        for k, player in enumerate(perm):
            sums[player] += a[player] if k < cut else 0.0
            counts[player] += 1
    np.testing.assert_allclose(result.values, sums / counts, atol=1e-12)
    assert result.total_evaluations == fits < 2 + n_perm * (n - 1)
    assert (result.extras["truncated_at"] < n).all()


def test_no_truncation_with_zero_tolerance_on_a_strictly_increasing_utility() -> None:
    a = np.linspace(1.0, 2.0, 6)
    result = TMCShapley(4, truncation_tolerance=0.0, block_size=2)(additive(a), seed=1, progress=False)
    np.testing.assert_allclose(result.values, a, atol=1e-12)
    assert (result.extras["truncated_at"] == 6).all()


def test_min_cardinality_skips_the_starting_set() -> None:
    n, n_perm, start = 7, 30, 3
    a = np.arange(1.0, n + 1)
    result = TMCShapley(n_perm, min_cardinality=start)(additive(a), seed=2, progress=False)
    perms = sample_permutations(1, n_perm, n, seed=2)[0]
    expected_counts = np.bincount(perms[:, start:].ravel(), minlength=n)
    np.testing.assert_array_equal(result.n_contributions, expected_counts)
    seen = expected_counts > 0
    np.testing.assert_allclose(result.values[seen], a[seen], atol=1e-12)
    # Starting sets cost one fit per permutation; then n − 1 − start interior prefixes each.
    assert result.total_evaluations == 1 + n_perm + n_perm * (n - 1 - start)


def test_min_cardinality_estimates_the_sizes_from_it_up() -> None:
    """With a starting set of m points the mean contribution weights sizes m..N−1 uniformly."""
    n, start = 6, 2
    table = random_table(3, n)
    weights = np.array([1.0 / ((n - start) * math.comb(n - 1, k)) if k >= start else 0.0 for k in range(n)])
    truth = exact_semivalue(table[None, :, None], weights).values[0, :, 0]
    result = TMCShapley(8000, min_cardinality=start)(table_utility(table), seed=5, progress=False)
    assert (np.abs(result.values - truth) < 4.5 * result.std_errors).all()
    assert np.abs(result.values - exact(table)).max() > np.abs(result.values - truth).max()


# --- distributional Data Shapley -----------------------------------------------------------------


def multiset_utility(a: np.ndarray) -> FunctionUtility:
    """A non-additive utility of a multiset: concave in the weighted count, plus a pair term."""
    return FunctionUtility(
        lambda c: np.sqrt(1.0 + c.astype(np.float64) @ a) + 0.3 * np.minimum(c[:, 0], c[:, 1]), len(a)
    )


def exact_distributional(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """E_k E_{D ~ Unif(data)^k}[U(D + e_i) − U(D)] by enumerating all ordered draws."""
    n = len(a)
    fn = multiset_utility(a)
    values = np.zeros(n)
    for k in range(lo, hi + 1):
        draws = np.array(list(itertools.product(range(n), repeat=k)), dtype=np.int64).reshape(n**k, k)
        counts = np.zeros((len(draws), n), dtype=np.int64)
        for j in range(k):
            counts[np.arange(len(draws)), draws[:, j]] += 1
        base = fn(counts)
        for i in range(n):
            plus = counts.copy()
            plus[:, i] += 1
            values[i] += (fn(plus) - base).mean() / (hi - lo + 1)
    return values


def test_distributional_converges_to_its_exact_expectation() -> None:
    a = np.array([0.5, 2.0, 1.0, 0.1])
    truth = exact_distributional(a, 0, 3)
    result = DistributionalShapley(20000, min_size=0, max_size=3)(multiset_utility(a), seed=0, progress=False)
    assert (np.abs(result.values - truth) < 4.5 * result.std_errors).all(), (result.values, truth)
    assert (result.n_contributions == 20000).all()
    assert result.total_evaluations == 2 * 20000 * len(a)


def test_distributional_training_subset_matches_the_full_call() -> None:
    a = np.array([0.5, 2.0, 1.0, 0.1, 0.7])
    oracle = DistributionalShapley(50, min_size=1, max_size=4)
    full = oracle(multiset_utility(a), seed=8, progress=False)
    part = oracle.value_training_points(multiset_utility(a), np.array([1, 2, 3]), seed=8, progress=False)
    np.testing.assert_array_equal(part.values, full.values[1:4])
    scattered = oracle.value_training_points(multiset_utility(a), np.array([4, 0]), seed=8, progress=False)
    np.testing.assert_array_equal(scattered.values, full.values[[4, 0]])
    np.testing.assert_allclose(full.extras["contributions"].mean(axis=1), full.values, rtol=1e-14)


def test_oracle_results_are_deterministic_for_a_seed() -> None:
    table = random_table(2, 5)
    for oracle in (TMCShapley(10), BetaShapley(10), DataBanzhaf(20), DistributionalShapley(10, min_size=0, max_size=4)):
        first = oracle(table_utility(table), seed=12, progress=False)
        second = oracle(table_utility(table), seed=12, progress=False)
        np.testing.assert_array_equal(first.values, second.values)
        other = oracle(table_utility(table), seed=13, progress=False)
        assert not np.array_equal(first.values, other.values)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: TMCShapley(0), "n_permutations"),
        (lambda: TMCShapley(5, min_cardinality=4), "min_cardinality"),
        (lambda: TMCShapley(5, min_cardinality=-1), "min_cardinality"),
        (lambda: TMCShapley(5, truncation_tolerance=-0.1), "truncation_tolerance"),
        (lambda: TMCShapley(5, truncation_tolerance=float("nan")), "truncation_tolerance"),
        (lambda: TMCShapley(5, block_size=0), "block_size"),
        (lambda: BetaShapley(5, alpha=0.0), "alpha"),
        (lambda: DataBanzhaf(1), "n_samples"),
        (lambda: DistributionalShapley(0), "n_contributions"),
        (lambda: DistributionalShapley(5, min_size=5, max_size=4), "max_size"),
    ],
)
def test_bad_settings_raise_typed_errors(make, argument: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match=f"^{argument}"):
        make()(additive(np.ones(4)), progress=False)


def test_bad_call_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="^utility"):
        TMCShapley(3)("not a utility")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^seed"):
        TMCShapley(3)(additive(np.ones(3)), seed=-1)
    with pytest.raises(InvalidArgumentError, match="^points"):
        DistributionalShapley(3).value_training_points(additive(np.ones(3)), np.array([0, 3]))
    assert issubclass(InvalidArgumentError, StochamortError) and issubclass(InvalidArgumentError, ValueError)


# --- real utilities ------------------------------------------------------------------------------


def tiny_logistic(n: int = 7, seed: int = 0) -> TorchLogisticUtility:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 40, 2))
    y = (x[:, 0] + 0.7 * rng.normal(size=n + 40) > 0).astype(np.int64)
    y[:2] = [0, 1]  # both classes among the training points
    return TorchLogisticUtility(x[:n], y[:n], x[n:], y[n:], metric="log_likelihood")


def test_oracles_on_a_tiny_dataset_match_exact_data_shapley() -> None:
    """On 7 training points every subset can be fitted: Monte Carlo agrees with enumeration."""
    utility = tiny_logistic()
    exact_values = ExactDataValues()(utility, progress=False).values
    estimate = TMCShapley(1500)(utility, seed=0, progress=False)
    assert (np.abs(estimate.values - exact_values) < 4.5 * estimate.std_errors).all()
    banzhaf = ExactDataValues("banzhaf")(utility, progress=False).values
    msr = DataBanzhaf(3000)(utility, seed=0, progress=False)
    assert (np.abs(msr.values - banzhaf) < 4.5 * msr.std_errors).all()


def test_distributional_values_external_points_like_training_points() -> None:
    """A copy of a training point, valued as an external point, has that point's value in expectation."""
    utility = tiny_logistic(n=12, seed=1)
    oracle = DistributionalShapley(3000, min_size=2, max_size=6)
    inside = oracle.value_training_points(utility, np.array([3]), seed=0, progress=False)
    outside = oracle.value_points(utility, utility.x_train[3:4], utility.classes_[utility.y_train[3:4]], seed=0, progress=False)
    diff = inside.values[0] - outside.values[0]
    assert abs(diff) < 4.5 * math.hypot(inside.std_errors[0], outside.std_errors[0])
    assert outside.n_contributions[0] == 3000
