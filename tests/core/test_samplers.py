"""Samplers: distributions (chi-square), structure of paired/antithetic draws, exact probabilities,
and reproducibility (seeds, point offsets)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from stochamort.errors import InvalidArgumentError

from tests.helpers.games import DISTRIBUTIONS, all_masks, subset_probability

N_DRAWS = 20000
P_MIN = 1e-4


def direct_size_probabilities(d: int, distribution: str) -> np.ndarray:
    """P(|S| = k) written from the spec's definitions."""
    if distribution == "banzhaf":
        return np.array([math.comb(d, k) / 2**d for k in range(d + 1)])
    if distribution == "leverage":
        return np.array([0.0] + [1.0 / (d - 1)] * (d - 1) + [0.0])
    raw = np.array([0.0] + [1.0 / (k * (d - k)) for k in range(1, d)] + [0.0])
    return raw / raw.sum()


def chisquare_pvalue(counts: np.ndarray, probabilities: np.ndarray) -> float:
    """Chi-square goodness of fit; cells with expected count < 5 are pooled into one cell."""
    expected = probabilities * counts.sum()
    small = expected < 5
    observed = list(counts[~small])
    wanted = list(expected[~small])
    if small.any():
        observed.append(counts[small].sum())
        wanted.append(expected[small].sum())
    return float(stats.chisquare(observed, wanted).pvalue)


# ------------------------------------------------------------------------------------------
# coalition samplers


@pytest.mark.parametrize("d", [5, 12])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_sample_coalitions_size_histogram_and_marginals(impl, distribution: str, d: int) -> None:
    masks = impl.sample_coalitions(1, N_DRAWS, d, distribution=distribution, seed=1234)
    assert masks.shape == (1, N_DRAWS, d) and masks.dtype == np.bool_
    sizes = masks[0].sum(axis=1)
    counts = np.bincount(sizes, minlength=d + 1)
    probabilities = direct_size_probabilities(d, distribution)
    assert np.all(counts[probabilities == 0] == 0), "a size of probability zero was drawn"
    support = probabilities > 0
    assert chisquare_pvalue(counts[support], probabilities[support]) > P_MIN

    # Per-player inclusion frequency against the exact marginal sum_k P(k) k / d.
    marginal = sum(probabilities[k] * k / d for k in range(d + 1))
    included = masks[0].sum(axis=0)
    sd = math.sqrt(N_DRAWS * marginal * (1 - marginal))
    assert np.all(np.abs(included - N_DRAWS * marginal) <= 5 * sd), included


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_sample_coalitions_given_size_is_uniform(impl, distribution: str) -> None:
    # Within each size, every subset must be equally likely: chi-square over all 2^d coalitions
    # against P(S) = P(|S|) / C(d, |S|).
    d = 4
    masks = impl.sample_coalitions(2, N_DRAWS // 2, d, distribution=distribution, seed=99)
    index = (masks.reshape(-1, d).astype(np.int64) << np.arange(d)).sum(axis=1)
    counts = np.bincount(index, minlength=2**d)
    probabilities = np.array([subset_probability(int(m.sum()), d, distribution) for m in all_masks(d)])
    assert np.all(counts[probabilities == 0] == 0)
    support = probabilities > 0
    assert chisquare_pvalue(counts[support], probabilities[support]) > P_MIN


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_paired_rows_are_complements(impl, distribution: str) -> None:
    d = 7
    masks = impl.sample_coalitions(3, 400, d, distribution=distribution, paired=True, seed=5)
    assert masks.shape == (3, 400, d)
    np.testing.assert_array_equal(masks[:, 1::2], ~masks[:, 0::2])
    # The first rows of pairs still follow the distribution's support.
    sizes = masks[:, 0::2].sum(axis=2)
    if distribution != "banzhaf":
        assert sizes.min() >= 1 and sizes.max() <= d - 1
    # ... and are not all the same coalition.
    assert len({tuple(row) for row in masks[0, 0::2]}) > 10


def test_paired_size_histogram(impl) -> None:
    d = 6
    masks = impl.sample_coalitions(1, N_DRAWS, d, distribution="shapley", paired=True, seed=77)
    counts = np.bincount(masks[0, 0::2].sum(axis=1), minlength=d + 1)
    probabilities = direct_size_probabilities(d, "shapley")
    assert chisquare_pvalue(counts[1:d], probabilities[1:d]) > P_MIN


# ------------------------------------------------------------------------------------------
# permutation samplers


def test_sample_permutations_rows_are_permutations(impl) -> None:
    perms = impl.sample_permutations(4, 50, 9, seed=3)
    assert perms.shape == (4, 50, 9) and perms.dtype == np.int64
    np.testing.assert_array_equal(np.sort(perms, axis=2), np.broadcast_to(np.arange(9), perms.shape))


def test_antithetic_permutations_are_reversals(impl) -> None:
    perms = impl.sample_permutations(3, 60, 7, antithetic=True, seed=3)
    np.testing.assert_array_equal(perms[:, 1::2], perms[:, 0::2, ::-1])
    np.testing.assert_array_equal(np.sort(perms, axis=2), np.broadcast_to(np.arange(7), perms.shape))
    assert len({tuple(row) for row in perms[0, 0::2]}) > 10


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
def test_permutations_are_uniform(impl, antithetic: bool) -> None:
    d = 4
    perms = impl.sample_permutations(2, 12000, d, antithetic=antithetic, seed=21)
    rows = perms.reshape(-1, d)
    if antithetic:
        rows = rows[0::2]  # the reversals are determined by the first of each pair
    orders = {order: k for k, order in enumerate(itertools.permutations(range(d)))}
    counts = np.bincount([orders[tuple(int(x) for x in row)] for row in rows], minlength=len(orders))
    assert stats.chisquare(counts).pvalue > P_MIN


def test_permutation_chain_masks(impl) -> None:
    perms = impl.sample_permutations(2, 5, 6, seed=8)
    chains = impl.permutation_chain_masks(perms)
    assert chains.shape == (2, 5, 7, 6) and chains.dtype == np.bool_
    for p in range(2):
        for r in range(5):
            for j in range(7):
                expected = np.zeros(6, dtype=bool)
                expected[list(perms[p, r, :j])] = True
                np.testing.assert_array_equal(chains[p, r, j], expected)


# ------------------------------------------------------------------------------------------
# exact probabilities and enumeration


@pytest.mark.parametrize("d", [1, 2, 3, 8])
def test_enumerate_coalitions_bit_layout(impl, d: int) -> None:
    coalitions = impl.enumerate_coalitions(d)
    assert coalitions.shape == (2**d, d) and coalitions.dtype == np.bool_
    for s in range(2**d):
        assert [bool(coalitions[s, i]) for i in range(d)] == [bool(s & (1 << i)) for i in range(d)]


@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_size_and_coalition_probabilities(impl, distribution: str, d: int) -> None:
    sizes = impl.size_probabilities(d, distribution)
    assert sizes.shape == (d + 1,)
    np.testing.assert_allclose(sizes, direct_size_probabilities(d, distribution), rtol=0, atol=1e-15)

    coalitions = impl.enumerate_coalitions(d)
    probabilities = impl.coalition_probabilities(coalitions, distribution)
    assert probabilities.shape == (2**d,)
    assert abs(probabilities.sum() - 1.0) < 1e-12
    expected = np.array([subset_probability(int(c.sum()), d, distribution) for c in coalitions])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-13, atol=0)


def test_coalition_probabilities_keeps_leading_axes(impl) -> None:
    d = 5
    masks = impl.sample_coalitions(2, 3, d, distribution="banzhaf", seed=0)
    probabilities = impl.coalition_probabilities(masks, "shapley")
    assert probabilities.shape == (2, 3)
    expected = [[subset_probability(int(m.sum()), d, "shapley") for m in row] for row in masks]
    np.testing.assert_allclose(probabilities, expected, rtol=1e-13)


def test_size_probabilities_banzhaf_single_player(impl) -> None:
    np.testing.assert_allclose(impl.size_probabilities(1, "banzhaf"), [0.5, 0.5], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------
# reproducibility


def test_coalition_seed_determinism(impl) -> None:
    first = impl.sample_coalitions(3, 40, 8, distribution="shapley", seed=42)
    again = impl.sample_coalitions(3, 40, 8, distribution="shapley", seed=42)
    other = impl.sample_coalitions(3, 40, 8, distribution="shapley", seed=43)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Different points get different streams.
    assert not np.array_equal(first[0], first[1])


def test_permutation_seed_determinism(impl) -> None:
    first = impl.sample_permutations(3, 40, 8, seed=42)
    again = impl.sample_permutations(3, 40, 8, seed=42)
    other = impl.sample_permutations(3, 40, 8, seed=43)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_coalition_point_offset_consistency(impl, distribution: str, paired: bool) -> None:
    kwargs = dict(distribution=distribution, paired=paired, seed=2024)
    whole = impl.sample_coalitions(10, 30, 6, **kwargs)
    head = impl.sample_coalitions(5, 30, 6, **kwargs)
    tail = impl.sample_coalitions(5, 30, 6, point_offset=5, **kwargs)
    np.testing.assert_array_equal(whole, np.concatenate([head, tail]))
    np.testing.assert_array_equal(impl.sample_coalitions(1, 30, 6, point_offset=7, **kwargs)[0], whole[7])


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
def test_permutation_point_offset_consistency(impl, antithetic: bool) -> None:
    kwargs = dict(antithetic=antithetic, seed=2024)
    whole = impl.sample_permutations(10, 30, 6, **kwargs)
    head = impl.sample_permutations(5, 30, 6, **kwargs)
    tail = impl.sample_permutations(5, 30, 6, point_offset=5, **kwargs)
    np.testing.assert_array_equal(whole, np.concatenate([head, tail]))


def test_more_samples_extend_the_same_stream(impl) -> None:
    # Streams are per (point, sample): asking for more samples only appends.
    short = impl.sample_coalitions(2, 10, 6, distribution="leverage", seed=9)
    long = impl.sample_coalitions(2, 30, 6, distribution="leverage", seed=9)
    np.testing.assert_array_equal(long[:, :10], short)
    short_perms = impl.sample_permutations(2, 10, 6, seed=9)
    np.testing.assert_array_equal(impl.sample_permutations(2, 30, 6, seed=9)[:, :10], short_perms)


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "paired"])
def test_sample_offset_continues_the_streams(impl, grouped: bool) -> None:
    whole = impl.sample_coalitions(3, 30, 7, distribution="shapley", paired=grouped, seed=5)
    rounds = [
        impl.sample_coalitions(3, 10, 7, distribution="shapley", paired=grouped, seed=5, sample_offset=0),
        impl.sample_coalitions(3, 20, 7, distribution="shapley", paired=grouped, seed=5, sample_offset=10),
    ]
    np.testing.assert_array_equal(whole, np.concatenate(rounds, axis=1))
    perms = impl.sample_permutations(3, 12, 7, antithetic=grouped, seed=5)
    later = impl.sample_permutations(3, 8, 7, antithetic=grouped, seed=5, sample_offset=4)
    np.testing.assert_array_equal(perms[:, 4:], later)


def test_odd_sample_offset_with_pairs_is_refused(impl) -> None:
    with pytest.raises(InvalidArgumentError, match="sample_offset"):
        impl.sample_coalitions(1, 4, 5, paired=True, sample_offset=3)
    with pytest.raises(InvalidArgumentError, match="sample_offset"):
        impl.sample_permutations(1, 4, 5, antithetic=True, sample_offset=1)
