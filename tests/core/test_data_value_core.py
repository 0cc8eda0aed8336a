"""The data-valuation combinatorics of the Rust core: permutation data values (Data Shapley, Beta
Shapley, TMC with a starting cardinality), Chan merges, contribution means, truncation points,
semivalue position weights and the multisets of distributional Data Shapley.

Checked against the numpy references (to 1e-9; samplers in distribution only), against exact
semivalues by enumerating every permutation, for bit-identical results across thread counts, and
for typed errors that name the argument.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import stochamort as sm
import stochamort.reference as ref
from stochamort.errors import (
    InsufficientSamplesError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)
from stochamort.results import DataValues

TOLERANCE = 1e-9
IMPLEMENTATIONS = {"rust": sm, "reference": ref}


def assert_same_values(a: DataValues, b: DataValues, tolerance: float = TOLERANCE) -> None:
    """Two results agree to ``tolerance`` (relative to the scale); infinities and counts exactly."""
    for name in ("values", "std_errors", "m2"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == y.shape, name
        assert x.dtype == np.float64, name
        assert np.array_equal(np.isinf(x), np.isinf(y)), name
        finite = np.isfinite(y)
        scale = max(1.0, float(np.abs(y[finite]).max(initial=0.0)))
        np.testing.assert_allclose(x[finite], y[finite], rtol=0, atol=tolerance * scale, err_msg=name)
    assert a.n_contributions.dtype == np.int64
    np.testing.assert_array_equal(a.n_contributions, b.n_contributions)
    assert isinstance(a.total_evaluations, int)
    assert a.total_evaluations == b.total_evaluations


def random_permutations(n_perm: int, n: int, seed: int) -> np.ndarray:
    return sm.sample_permutations(1, n_perm, n, seed=seed)[0]


def chains_of(table: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """``U(first k players)`` for k = 0..N along each permutation: ``(P, N + 1)``."""
    masks = np.cumsum(np.left_shift(1, perms), axis=1)
    return table[np.concatenate([np.zeros((perms.shape[0], 1), dtype=np.int64), masks], axis=1)]


def all_permutations(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)


# ------------------------------------------------------------------------------------------
# Rust equals the reference


@st.composite
def permutation_inputs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    n_perm = draw(st.integers(1, 80))  # beyond one block of 32 permutations
    seed = draw(st.integers(0, 2**32))
    rng = np.random.default_rng(seed)
    weights = draw(st.sampled_from(["none", "random", "beta"]))
    if weights == "random":
        position_weights: Any = rng.normal(size=n)
    elif weights == "beta":
        position_weights = sm.semivalue_position_weights(n, "beta", alpha=4.0, beta=1.0)
    else:
        position_weights = None
    return {
        "permutations": random_permutations(n_perm, n, seed),
        "chain_values": rng.normal(size=(n_perm, n + 1)) * draw(st.sampled_from([1e-3, 1.0, 1e3])),
        "position_weights": position_weights,
        "start": draw(st.integers(0, n - 1)),
    }


@given(inputs=permutation_inputs())
def test_permutation_data_values_match_reference(inputs: dict[str, Any]) -> None:
    rust = sm.permutation_data_values(
        inputs["permutations"], inputs["chain_values"], position_weights=inputs["position_weights"], start=inputs["start"]
    )
    reference = ref.permutation_data_values(
        inputs["permutations"], inputs["chain_values"], position_weights=inputs["position_weights"], start=inputs["start"]
    )
    assert isinstance(rust, DataValues)
    assert_same_values(rust, reference)
    n_perm, n = inputs["permutations"].shape
    assert rust.total_evaluations == n_perm * (n + 1 - inputs["start"])
    assert rust.n_contributions.sum() == n_perm * (n - inputs["start"])


@given(inputs=permutation_inputs(), data=st.data())
def test_merging_two_parts_equals_the_whole(inputs: dict[str, Any], data: st.DataObject) -> None:
    perms, chains = inputs["permutations"], inputs["chain_values"]
    split = data.draw(st.integers(0, perms.shape[0]))
    kwargs = {"position_weights": inputs["position_weights"], "start": inputs["start"]}
    whole = sm.permutation_data_values(perms, chains, **kwargs)
    if split in (0, perms.shape[0]):
        return  # an empty part holds no permutations (an error); covered elsewhere
    first = sm.permutation_data_values(perms[:split], chains[:split], **kwargs)
    second = sm.permutation_data_values(perms[split:], chains[split:], **kwargs)
    for module in (sm, ref):
        merged = module.merge_data_values(first, second)
        assert_same_values(merged, whole, tolerance=1e-12)


@given(
    contributions=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 6), st.integers(1, 30)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    )
)
def test_contribution_values_match_reference(contributions: np.ndarray) -> None:
    rust = sm.contribution_values(contributions)
    assert_same_values(rust, ref.contribution_values(contributions))
    n_points, n_samples = contributions.shape
    np.testing.assert_array_equal(rust.n_contributions, np.full(n_points, n_samples))
    assert rust.total_evaluations == 2 * n_points * n_samples


@given(
    contributions=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 5), st.integers(2, 30)), elements=st.floats(-1e3, 1e3, allow_nan=False)
    ),
    data=st.data(),
)
def test_contribution_values_merge_over_samples(contributions: np.ndarray, data: st.DataObject) -> None:
    split = data.draw(st.integers(1, contributions.shape[1] - 1))
    merged = sm.merge_data_values(
        sm.contribution_values(contributions[:, :split]), sm.contribution_values(contributions[:, split:])
    )
    assert_same_values(merged, sm.contribution_values(contributions), tolerance=1e-12)


@given(
    chain=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 6), st.integers(0, 8)),
        elements=st.sampled_from([-2.0, -1.0, -0.95, 0.0, 0.5, 0.9, 0.95, 1.0, 1.05, 2.0]),
    ),
    target=st.sampled_from([-1.0, 0.0, 1.0, 0.97]),
    tolerance=st.sampled_from([0.0, 0.05, 0.1, 1.0]),
)
def test_truncation_points_match_reference(chain: np.ndarray, target: float, tolerance: float) -> None:
    rust = sm.truncation_points(chain, target, tolerance)
    assert rust.dtype == np.int64 and rust.shape == (chain.shape[0],)
    np.testing.assert_array_equal(rust, ref.truncation_points(chain, target, tolerance))


@given(
    n=st.integers(1, 80),
    kind=st.sampled_from(["shapley", "banzhaf", "beta"]),
    alpha=st.floats(0.1, 32.0),
    beta=st.floats(0.1, 32.0),
)
def test_position_weights_match_reference(n: int, kind: str, alpha: float, beta: float) -> None:
    rust = sm.semivalue_position_weights(n, kind, alpha=alpha, beta=beta)  # type: ignore[arg-type]
    reference = ref.semivalue_position_weights(n, kind, alpha=alpha, beta=beta)
    assert rust.dtype == np.float64 and rust.shape == (n,)
    np.testing.assert_allclose(rust, reference, rtol=1e-9, atol=1e-300)
    # The definition n · C(n−1, k) · w(k), where it does not underflow.
    w = sm.semivalue_weights(n, kind, alpha=alpha, beta=beta)  # type: ignore[arg-type]
    direct = np.array([n * math.comb(n - 1, k) * w[k] for k in range(n)])
    np.testing.assert_allclose(rust, direct, rtol=1e-9, atol=1e-290)
    # A uniformly random position has expected weight one (probabilistic semivalues).
    assert abs(rust.mean() - 1.0) < 1e-9


def test_position_weights_for_many_players_are_finite() -> None:
    assert np.array_equal(sm.semivalue_position_weights(10_000), np.ones(10_000))
    for kind in ("banzhaf", "beta"):
        w = sm.semivalue_position_weights(10_000, kind, alpha=16.0, beta=1.0)  # type: ignore[arg-type]
        assert np.isfinite(w).all() and (w >= 0).all()
        assert abs(w.mean() - 1.0) < 1e-8
    # Beta(16, 1) favours small coalitions: the weight falls with the position.
    w = sm.semivalue_position_weights(50, "beta", alpha=16.0, beta=1.0)
    assert (np.diff(w) < 0).all()


@given(
    n_points=st.integers(0, 4),
    n_samples=st.integers(0, 6),
    n_data=st.integers(1, 9),
    sizes=st.tuples(st.integers(0, 12), st.integers(0, 12)).map(sorted),
    seed=st.integers(0, 2**64 - 1),
)
def test_multisets_have_valid_shape_and_sizes(
    n_points: int, n_samples: int, n_data: int, sizes: list[int], seed: int
) -> None:
    min_size, max_size = sizes
    for module in (sm, ref):
        counts = module.sample_multisets(n_points, n_samples, n_data, min_size=min_size, max_size=max_size, seed=seed)
        assert counts.dtype == np.uint32 and counts.shape == (n_points, n_samples, n_data)
        totals = counts.sum(axis=2)
        assert ((totals >= min_size) & (totals <= max_size)).all()


@pytest.mark.parametrize("module", ["rust", "reference"])
def test_multisets_much_larger_than_the_pool_are_multinomial(module: str) -> None:
    """Sizes above 16 draws per data point come from the multinomial at once (a size of 10**9
    drawn index by index took minutes): counts with mean k/n, variance k(1/n)(1 − 1/n) and, for
    n = 3, correlation −1/2. 12 000 rows: the moments' standard errors are under 1.5 %; tolerance 5 %."""
    sample = IMPLEMENTATIONS[module].sample_multisets
    counts = sample(4, 3000, 3, min_size=100, max_size=100, seed=3).reshape(-1, 3).astype(np.float64)
    assert (counts.sum(axis=1) == 100).all()
    np.testing.assert_allclose(counts.mean(axis=0), 100 / 3, rtol=0.01)
    np.testing.assert_allclose(counts.var(axis=0), 100 * (1 / 3) * (2 / 3), rtol=0.05)
    np.testing.assert_allclose(np.corrcoef(counts.T)[0, 1], -0.5, atol=0.03)
    huge = sample(1, 2, 4, min_size=10**9, max_size=10**9, seed=1)
    assert (huge.sum(axis=2) == 10**9).all()


@pytest.mark.parametrize("module", ["rust", "reference"])
def test_multiset_sizes_and_indices_are_uniform(module: str) -> None:
    sample = IMPLEMENTATIONS[module].sample_multisets
    counts = sample(4, 1500, 10, min_size=3, max_size=9, seed=11)
    sizes = counts.sum(axis=2).ravel()
    observed = np.bincount(sizes, minlength=10)[3:10]
    assert observed.sum() == 6000
    assert stats.chisquare(observed).pvalue > 1e-4  # fixed seed: deterministic, not flaky
    per_index = counts.sum(axis=(0, 1))
    assert stats.chisquare(per_index).pvalue > 1e-4
    # With replacement: two draws from three indices give the six multisets with P = 1/9 or 2/9.
    pairs = sample(2, 4500, 3, min_size=2, max_size=2, seed=5).reshape(-1, 3)
    keys = [tuple(int(c) for c in row) for row in pairs]
    cells = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    assert set(keys) <= set(cells)
    observed_pairs = np.array([keys.count(c) for c in cells])
    expected = np.array([1, 1, 1, 2, 2, 2]) / 9 * len(keys)
    assert stats.chisquare(observed_pairs, expected).pvalue > 1e-4


def test_multisets_do_not_depend_on_batching() -> None:
    whole = sm.sample_multisets(7, 12, 6, min_size=0, max_size=20, seed=99)
    points = np.concatenate(
        [sm.sample_multisets(k, 12, 6, min_size=0, max_size=20, seed=99, point_offset=o) for o, k in ((0, 3), (3, 1), (4, 3))]
    )
    np.testing.assert_array_equal(whole, points)
    rounds = np.concatenate(
        [sm.sample_multisets(7, k, 6, min_size=0, max_size=20, seed=99, sample_offset=o) for o, k in ((0, 5), (5, 7))],
        axis=1,
    )
    np.testing.assert_array_equal(whole, rounds)
    corner = sm.sample_multisets(2, 4, 6, min_size=0, max_size=20, seed=99, point_offset=5, sample_offset=8)
    np.testing.assert_array_equal(whole[5:7, 8:12], corner)
    assert not np.array_equal(whole, sm.sample_multisets(7, 12, 6, min_size=0, max_size=20, seed=100))
    # A single index can only be drawn k times.
    assert sm.sample_multisets(1, 1, 1, min_size=5, max_size=5)[0, 0, 0] == 5


# ------------------------------------------------------------------------------------------
# exact expectations: every permutation, each once


@st.composite
def utility_tables(draw: st.DrawFn, max_players: int = 6) -> np.ndarray:
    n = draw(st.integers(1, max_players))
    return draw(hnp.arrays(np.float64, 2**n, elements=st.floats(-100, 100, allow_nan=False)))


def _exact(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    values: np.ndarray = sm.exact_semivalue(table[None, :, None], weights).values[0, :, 0]
    return values


@pytest.mark.parametrize("module", ["rust", "reference"])
@given(table=utility_tables(), kind=st.sampled_from(["shapley", "banzhaf", "beta"]), alpha=st.floats(0.2, 20), beta=st.floats(0.2, 20))
def test_mean_over_all_permutations_is_the_semivalue(
    module: str, table: np.ndarray, kind: str, alpha: float, beta: float
) -> None:
    impl = IMPLEMENTATIONS[module]
    n = int(table.shape[0]).bit_length() - 1
    perms = all_permutations(n)
    chains = chains_of(table, perms)
    weights = None if kind == "shapley" else impl.semivalue_position_weights(n, kind, alpha=alpha, beta=beta)
    result = impl.permutation_data_values(perms, chains, position_weights=weights)
    expected = _exact(table, sm.semivalue_weights(n, kind, alpha=alpha, beta=beta))  # type: ignore[arg-type]
    np.testing.assert_allclose(result.values, expected, rtol=0, atol=TOLERANCE * max(1.0, np.abs(table).max()))
    np.testing.assert_array_equal(result.n_contributions, np.full(n, math.factorial(n)))


@given(table=utility_tables(max_players=4))
def test_single_permutation_calls_average_to_the_shapley_value(table: np.ndarray) -> None:
    n = int(table.shape[0]).bit_length() - 1
    perms = all_permutations(n)
    chains = chains_of(table, perms)
    singles = [sm.permutation_data_values(perms[r : r + 1], chains[r : r + 1]) for r in range(perms.shape[0])]
    mean = np.mean([s.values for s in singles], axis=0)
    expected = _exact(table, sm.semivalue_weights(n, "shapley"))
    np.testing.assert_allclose(mean, expected, rtol=0, atol=TOLERANCE * max(1.0, np.abs(table).max()))
    merged = singles[0]
    for s in singles[1:]:
        merged = sm.merge_data_values(merged, s)
    np.testing.assert_allclose(merged.values, expected, rtol=0, atol=TOLERANCE * max(1.0, np.abs(table).max()))


@pytest.mark.parametrize("module", ["rust", "reference"])
@given(table=utility_tables(), data=st.data())
def test_starting_cardinality_gives_the_truncated_semivalue(module: str, table: np.ndarray, data: st.DataObject) -> None:
    impl = IMPLEMENTATIONS[module]
    n = int(table.shape[0]).bit_length() - 1
    s = data.draw(st.integers(0, n - 1))
    perms = all_permutations(n)
    result = impl.permutation_data_values(perms, chains_of(table, perms), start=s)
    weights = np.array([1.0 / ((n - s) * math.comb(n - 1, k)) if k >= s else 0.0 for k in range(n)])
    np.testing.assert_allclose(
        result.values, _exact(table, weights), rtol=0, atol=TOLERANCE * max(1.0, np.abs(table).max())
    )
    # Every player sits at positions s..n−1 in (n − s)/n of the permutations.
    np.testing.assert_array_equal(result.n_contributions, np.full(n, math.factorial(n) * (n - s) // n))
    assert result.total_evaluations == math.factorial(n) * (n + 1 - s)


# ------------------------------------------------------------------------------------------
# hand-made cases


@pytest.mark.parametrize("module", ["rust", "reference"])
def test_truncation_points_by_hand(module: str) -> None:
    f = IMPLEMENTATIONS[module].truncation_points
    chain = np.array(
        [
            [0.0, 0.5, 0.96, 1.0, 0.97],  # first within 5%: column 2
            [0.0, 0.1, 0.2, 0.3, 0.4],  # never close
            [1.0, 1.0, 1.0, 1.0, 1.0],  # ties: the first column
            [0.0, 1.2, 0.96, 0.96, 1.0],  # the first of two equal hits
        ]
    )
    np.testing.assert_array_equal(f(chain, 1.0, 0.05), [2, -1, 0, 2])
    np.testing.assert_array_equal(f(chain, 1.0, 0.0), [3, -1, 0, 4])  # tolerance 0: exact hits only
    np.testing.assert_array_equal(f(chain, 1.0, 0.25), [2, -1, 0, 1])
    np.testing.assert_array_equal(f(chain, 5.0, 0.1), [-1, -1, -1, -1])  # no hit anywhere
    negative = np.array([[0.0, -0.5, -0.92, -1.0], [-2.0, -1.05, -0.5, 0.0]])
    np.testing.assert_array_equal(f(negative, -1.0, 0.1), [2, 1])  # |target| scales the tolerance
    np.testing.assert_array_equal(f(negative, 0.0, 0.5), [0, 3])  # target 0: exact zeros only
    np.testing.assert_array_equal(f(np.zeros((3, 0)), 1.0, 0.1), [-1, -1, -1])
    assert f(np.zeros((0, 4)), 1.0, 0.1).shape == (0,)


@pytest.mark.parametrize("module", ["rust", "reference"])
def test_permutation_data_values_by_hand(module: str) -> None:
    f = IMPLEMENTATIONS[module].permutation_data_values
    perms = np.array([[0, 1, 2], [2, 0, 1]])
    chains = np.array([[0.0, 1.0, 3.0, 6.0], [0.0, 4.0, 4.5, 6.5]])
    # Contributions: perm 0: p0 +1, p1 +2, p2 +3; perm 1: p2 +4, p0 +0.5, p1 +2.
    result = f(perms, chains)
    np.testing.assert_allclose(result.values, [0.75, 2.0, 3.5])
    np.testing.assert_allclose(result.m2, [0.125, 0.0, 0.5])
    np.testing.assert_allclose(result.std_errors, np.sqrt(np.array([0.125, 0.0, 0.5]) / 2))
    assert result.total_evaluations == 8
    # start=2: only the last position is recorded (p2 +3 and p1 +2); p0 gets nothing.
    tail = f(perms, chains, start=2)
    np.testing.assert_allclose(tail.values, [0.0, 2.0, 3.0])
    np.testing.assert_array_equal(tail.n_contributions, [0, 1, 1])
    assert np.isinf(tail.std_errors).all()
    assert tail.total_evaluations == 2 * 2
    # Columns below start are not read.
    unread = chains.copy()
    unread[:, :2] = np.nan
    np.testing.assert_array_equal(f(perms, unread, start=2).values, tail.values)
    weighted = f(perms, chains, position_weights=np.array([2.0, 0.0, -1.0]))
    np.testing.assert_allclose(weighted.values, [1.0, -1.0, 2.5])  # p0: 2·1, 0·0.5; p1: 0·2, −1·2; p2: −1·3, 2·4


# ------------------------------------------------------------------------------------------
# determinism across thread counts

FINGERPRINT = r"""
import hashlib, numpy as np, stochamort as sm
h = hashlib.sha256()
perms = sm.sample_permutations(1, 1000, 50, seed=3)[0]
chains = np.sin(np.cumsum(np.c_[np.zeros(1000), np.cos(perms + 0.5)], axis=1) * 1.7)
w = sm.semivalue_position_weights(50, "beta", alpha=16.0, beta=1.0)
contributions = np.sin(np.arange(300 * 64.0)).reshape(300, 64)
results = [sm.permutation_data_values(perms, chains), sm.permutation_data_values(perms, chains, position_weights=w, start=7),
           sm.contribution_values(contributions)]
results.append(sm.merge_data_values(results[0], results[0]))
for r in results:
    for a in (r.values, r.std_errors, r.m2, r.n_contributions):
        h.update(np.ascontiguousarray(a).tobytes())
for a in (sm.truncation_points(chains, float(chains[0, -1]), 0.1), w,
          sm.sample_multisets(40, 30, 25, min_size=1, max_size=40, seed=8)):
    h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def _fingerprint(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", FINGERPRINT], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_bit_identical_for_any_thread_count_and_serial_mode() -> None:
    one = _fingerprint(RAYON_NUM_THREADS="1")
    assert _fingerprint(RAYON_NUM_THREADS="2") == one
    assert _fingerprint(RAYON_NUM_THREADS="4") == one
    assert _fingerprint(RAYON_NUM_THREADS="2", STOCHAMORT_PARALLELISM="0") == one


# ------------------------------------------------------------------------------------------
# typed errors naming the argument


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Any], Any]
    error: type[Exception]
    argument: str
    contains: tuple[str, ...] = ()


PERMS = np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0]])
CHAINS = np.random.default_rng(0).normal(size=(3, 4))


def _perm_case(id: str, error: type[Exception], argument: str, *, perms: Any = PERMS, chains: Any = CHAINS, contains: tuple[str, ...] = (), **kwargs: Any) -> Case:
    return Case(f"permutation_data_values-{id}", lambda m: m.permutation_data_values(perms, chains, **kwargs), error, argument, contains)


def _with(array: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    out = array.copy()
    out[index] = value
    return out


def _result(m2: bool = True, n: int = 3) -> DataValues:
    return DataValues(np.zeros(n), np.full(n, np.inf), np.ones(n, dtype=np.int64), 4, np.zeros(n) if m2 else None)


def _multiset_case(id: str, error: type[Exception], argument: str, *args: Any, **kwargs: Any) -> Case:
    kwargs = {"min_size": 1, "max_size": 3, **kwargs}
    return Case(f"sample_multisets-{id}", lambda m: m.sample_multisets(*args, **kwargs), error, argument)


CASES = [
    _perm_case("not-a-permutation", InvalidArgumentError, "permutations", perms=_with(PERMS, (1, 2), 0), contains=("1",)),
    _perm_case("out-of-range", InvalidArgumentError, "permutations", perms=_with(PERMS, (0, 0), 3)),
    _perm_case("negative-index", InvalidArgumentError, "permutations", perms=_with(PERMS, (2, 1), -1)),
    _perm_case("float-permutations", InvalidDTypeError, "permutations", perms=PERMS.astype(float)),
    _perm_case("permutations-ndim", ShapeError, "permutations", perms=PERMS[None]),
    _perm_case("chain-rows", ShapeError, "chain_values", chains=CHAINS[:2]),
    _perm_case("chain-columns", ShapeError, "chain_values", chains=CHAINS[:, :3]),
    _perm_case("chain-ndim", ShapeError, "chain_values", chains=CHAINS[None]),
    _perm_case("chain-nan", NonFiniteError, "chain_values", chains=_with(CHAINS, (2, 3), np.nan), contains=("2",)),
    _perm_case("chain-inf", NonFiniteError, "chain_values", chains=_with(CHAINS, (1, 1), np.inf), start=1, contains=("1",)),
    _perm_case("chain-str", InvalidDTypeError, "chain_values", chains=CHAINS.astype(str)),
    _perm_case("no-permutations", InsufficientSamplesError, "permutations", perms=PERMS[:0], chains=CHAINS[:0]),
    _perm_case("start-too-large", InvalidArgumentError, "start", start=3),
    _perm_case("start-negative", InvalidArgumentError, "start", start=-1),
    _perm_case("weights-length", ShapeError, "position_weights", position_weights=np.ones(4)),
    _perm_case("weights-ndim", ShapeError, "position_weights", position_weights=np.ones((3, 1))),
    _perm_case("weights-nan", InvalidArgumentError, "position_weights", position_weights=np.array([1.0, np.nan, 1.0])),
    _perm_case("weights-inf", InvalidArgumentError, "position_weights", position_weights=np.array([1.0, 1.0, -np.inf])),
    Case("merge-first-no-m2", lambda m: m.merge_data_values(_result(m2=False), _result()), InvalidArgumentError, "first"),
    Case("merge-second-no-m2", lambda m: m.merge_data_values(_result(), _result(m2=False)), InvalidArgumentError, "second"),
    Case("merge-lengths", lambda m: m.merge_data_values(_result(), _result(n=4)), ShapeError, "second"),
    Case(
        "merge-nonfinite",
        lambda m: m.merge_data_values(_result(), DataValues(np.array([0.0, np.nan, 0.0]), np.zeros(3), np.ones(3, dtype=np.int64), 1, np.zeros(3))),
        NonFiniteError,
        "second",
    ),
    Case("contributions-nan", lambda m: m.contribution_values(_with(CHAINS, (2, 0), np.nan)), NonFiniteError, "contributions", ("2",)),
    Case("contributions-ndim", lambda m: m.contribution_values(CHAINS[None]), ShapeError, "contributions"),
    Case("contributions-empty", lambda m: m.contribution_values(CHAINS[:, :0]), InsufficientSamplesError, "contributions"),
    Case("contributions-str", lambda m: m.contribution_values(CHAINS.astype(str)), InvalidDTypeError, "contributions"),
    Case("truncation-target-nan", lambda m: m.truncation_points(CHAINS, np.nan, 0.1), InvalidArgumentError, "target"),
    Case("truncation-target-inf", lambda m: m.truncation_points(CHAINS, np.inf, 0.1), InvalidArgumentError, "target"),
    Case("truncation-target-str", lambda m: m.truncation_points(CHAINS, "1", 0.1), InvalidDTypeError, "target"),
    Case("truncation-tolerance-negative", lambda m: m.truncation_points(CHAINS, 1.0, -0.1), InvalidArgumentError, "tolerance"),
    Case("truncation-tolerance-inf", lambda m: m.truncation_points(CHAINS, 1.0, np.inf), InvalidArgumentError, "tolerance"),
    Case("truncation-chain-nan", lambda m: m.truncation_points(_with(CHAINS, (1, 2), np.nan), 1.0, 0.1), NonFiniteError, "chain_values", ("1",)),
    Case("truncation-chain-ndim", lambda m: m.truncation_points(CHAINS[0], 1.0, 0.1), ShapeError, "chain_values"),
    Case("position-weights-no-players", lambda m: m.semivalue_position_weights(0), InvalidArgumentError, "n_players"),
    Case("position-weights-negative-players", lambda m: m.semivalue_position_weights(-2), InvalidArgumentError, "n_players"),
    Case("position-weights-kind", lambda m: m.semivalue_position_weights(4, "owen"), InvalidArgumentError, "kind"),
    Case("position-weights-alpha", lambda m: m.semivalue_position_weights(4, "beta", alpha=-1.0), InvalidArgumentError, "alpha"),
    Case("position-weights-beta", lambda m: m.semivalue_position_weights(4, "beta", beta=np.inf), InvalidArgumentError, "beta"),
    _multiset_case("no-data", InvalidArgumentError, "n_data", 2, 3, 0),
    _multiset_case("min-above-max", InvalidArgumentError, "min_size", 2, 3, 4, min_size=4, max_size=3),
    _multiset_case("max-size-2-32", InvalidArgumentError, "max_size", 2, 3, 4, max_size=2**32),
    _multiset_case("negative-min-size", InvalidArgumentError, "min_size", 2, 3, 4, min_size=-1),
    _multiset_case("negative-points", InvalidArgumentError, "n_points", -1, 3, 4),
    _multiset_case("negative-samples", InvalidArgumentError, "n_samples", 2, -3, 4),
    _multiset_case("negative-seed", InvalidArgumentError, "seed", 2, 3, 4, seed=-1),
    _multiset_case("negative-point-offset", InvalidArgumentError, "point_offset", 2, 3, 4, point_offset=-1),
    _multiset_case("negative-sample-offset", InvalidArgumentError, "sample_offset", 2, 3, 4, sample_offset=-1),
    _multiset_case("too-many-cells", InvalidArgumentError, "n_samples", 2**16, 2**10, 2**5),
]


@pytest.mark.parametrize("module", ["rust", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_typed_error_naming_the_argument(module: str, case: Case) -> None:
    with pytest.raises(case.error) as excinfo:
        case.call(IMPLEMENTATIONS[module])
    error = excinfo.value
    assert isinstance(error, StochamortError) and isinstance(error, ValueError)
    if isinstance(error, InvalidDTypeError):
        assert isinstance(error, TypeError)
    message = str(error)
    assert re.match(rf"{re.escape(case.argument)}\b", message), f"message does not start with {case.argument!r}: {message!r}"
    for fragment in case.contains:
        assert re.search(rf"\b{re.escape(fragment)}\b", message), f"{fragment!r} missing from {message!r}"


@pytest.mark.parametrize("module", ["rust", "reference"])
def test_valid_baselines_do_not_raise(module: str) -> None:
    """The inputs the cases above corrupt are themselves valid (so each case tests one defect)."""
    m = IMPLEMENTATIONS[module]
    m.permutation_data_values(PERMS, CHAINS)
    m.permutation_data_values(PERMS, CHAINS, position_weights=np.ones(3), start=2)
    m.merge_data_values(_result(), _result())
    m.contribution_values(CHAINS)
    m.truncation_points(CHAINS, 1.0, 0.1)
    m.semivalue_position_weights(4, "beta", alpha=2.0, beta=3.0)
    m.sample_multisets(2, 3, 4, min_size=0, max_size=3)
    m.sample_multisets(0, 3, 4, min_size=2**32 - 1, max_size=2**32 - 1)  # the largest size (no cells to fill)
