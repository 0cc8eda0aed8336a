"""Exact identities: exact solvers against textbook definitions, and estimators whose expectation
(taken by enumerating every possible sample, weighted by its probability) must equal the target."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.helpers.games import (
    DISTRIBUTIONS,
    Game,
    additive_games,
    all_masks,
    games,
    subset_probability,
    textbook_banzhaf,
    textbook_semivalue,
    textbook_shapley_permutations,
    textbook_shapley_subsets,
)

ATOL = 1e-9


def assert_close(actual, expected, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=0.0, atol=atol)


# ------------------------------------------------------------------------------------------
# exact solvers


@given(game=games(max_players=6))
def test_exact_shapley_matches_permutation_definition(impl, game: Game) -> None:
    est = impl.exact_shapley(game.table)
    assert est.values.shape == (game.n_points, game.n_players, game.n_outputs)
    assert_close(est.values, textbook_shapley_permutations(game))
    assert_close(est.std_errors, 0.0, atol=0.0)
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, 2**game.n_players))
    assert est.n_evaluations.dtype == np.int64


@given(game=games(max_players=8))
def test_exact_shapley_matches_subset_formula_and_is_efficient(impl, game: Game) -> None:
    phi = impl.exact_shapley(game.table).values
    assert_close(phi, textbook_shapley_subsets(game))
    assert_close(phi.sum(axis=1), game.grand - game.null)


@given(game=games(max_players=8))
def test_exact_banzhaf_matches_subset_formula(impl, game: Game) -> None:
    est = impl.exact_banzhaf(game.table)
    assert_close(est.values, textbook_banzhaf(game))
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, 2**game.n_players))


@given(game=games(min_players=1, max_players=8))
def test_exact_semivalue_with_beta_one_one_is_shapley(impl, game: Game) -> None:
    weights = impl.semivalue_weights(game.n_players, "beta", alpha=1.0, beta=1.0)
    assert_close(impl.exact_semivalue(game.table, weights).values, textbook_shapley_subsets(game))


@given(game=games(min_players=1, max_players=7), seed=st.integers(0, 2**32 - 1))
def test_exact_semivalue_with_arbitrary_weights(impl, game: Game, seed: int) -> None:
    # Distinct weights per size catch any mix-up between |S| and |S + i|.
    weights = np.random.default_rng(seed).uniform(-1.0, 1.0, game.n_players)
    expected = textbook_semivalue(game, list(weights))
    assert_close(impl.exact_semivalue(game.table, weights).values, expected)


# ------------------------------------------------------------------------------------------
# permutation sampling: the average over all d! orders is the Shapley value


def _all_orders(d: int, n_points: int, antithetic: bool) -> np.ndarray:
    rows = []
    for order in itertools.permutations(range(d)):
        rows.append(order)
        if antithetic:
            rows.append(order[::-1])
    return np.repeat(np.array(rows, dtype=np.int64)[None], n_points, axis=0)


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
@given(game=games(max_players=6))
def test_permutation_shapley_over_all_orders_is_exact(impl, game: Game, antithetic: bool) -> None:
    perms = _all_orders(game.n_players, game.n_points, antithetic)
    est = impl.permutation_shapley(perms, game.chain_values(perms), antithetic=antithetic)
    assert_close(est.values, textbook_shapley_permutations(game))
    n_perm = perms.shape[1]
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, n_perm * (game.n_players + 1)))
    assert np.all(np.isfinite(est.std_errors)) and np.all(est.std_errors >= 0)


# ------------------------------------------------------------------------------------------
# unbiased KernelSHAP: sum over S of P(S) * (single-sample estimate) = Shapley value


@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@given(game=games(max_players=8, max_points=2))
def test_unbiased_kernelshap_exact_expectation(impl, game: Game, distribution: str, paired: bool) -> None:
    d = game.n_players
    coalitions = all_masks(d)
    probabilities = np.array([subset_probability(int(c.sum()), d, distribution) for c in coalitions])
    support = probabilities > 0
    coalitions, probabilities = coalitions[support], probabilities[support]
    assert math.isclose(probabilities.sum(), 1.0, rel_tol=0, abs_tol=1e-12)

    # One "point" per (game point, coalition): the single sample S, or the single pair (S, not S).
    if paired:
        samples = np.stack([coalitions, ~coalitions], axis=1)  # (K, 2, d)
    else:
        samples = coalitions[:, None, :]  # (K, 1, d)
    n_coalitions = coalitions.shape[0]
    for p in range(game.n_points):
        batch = game.repeat_points(p, n_coalitions)
        est = impl.unbiased_kernelshap(
            samples, batch.values_at(samples), batch.null, batch.grand, paired=paired, distribution=distribution
        )
        expectation = np.einsum("k,kio->io", probabilities, est.values)
        assert_close(expectation, textbook_shapley_subsets(game)[p])
        np.testing.assert_array_equal(est.n_evaluations, np.full(n_coalitions, samples.shape[1] + 2))


# ------------------------------------------------------------------------------------------
# MSR Banzhaf: unbiased conditionally on every player being both in and out of the sample


@given(game=games(max_players=3, max_points=2))
def test_msr_banzhaf_exact_conditional_expectation(impl, game: Game) -> None:
    # Why this is exact: with 3 i.i.d. uniform coalitions, the event E = "every player is in at
    # least one sample and out of at least one" factorises over players (columns of the 3 x d
    # sample matrix). Conditionally on E each column is uniform over the non-constant columns, a
    # set closed under complement, so within any one sample the other players are independent fair
    # coins, independent of player i's column. Hence E[mean{v(S): i in S} | E] is the average of
    # v(T + i) over T not containing i, likewise for "out", and the difference is Banzhaf.
    d = game.n_players
    n_samples = 3
    coalitions = all_masks(d)
    tuples = [
        np.stack(choice)
        for choice in itertools.product(coalitions, repeat=n_samples)
        if np.stack(choice).any(axis=0).all() and (~np.stack(choice)).any(axis=0).all()
    ]
    samples = np.array(tuples)  # (T, 3, d)
    for p in range(game.n_points):
        batch = game.repeat_points(p, samples.shape[0])
        est = impl.msr_banzhaf(samples, batch.values_at(samples))
        assert_close(est.values.mean(axis=0), textbook_banzhaf(game)[p])
        np.testing.assert_array_equal(est.n_evaluations, np.full(samples.shape[0], n_samples))


# ------------------------------------------------------------------------------------------
# censuses: every coalition exactly once


@given(game=games(max_players=8), seed=st.integers(0, 2**32 - 1))
def test_kernelshap_census_with_banzhaf_weights_is_exact(impl, game: Game, seed: int) -> None:
    # Under "banzhaf" every coalition has probability 2^-d, so the importance weights are
    # proportional to the Shapley kernel: the regression over all coalitions is the exact one.
    d = game.n_players
    inner = all_masks(d)[1:-1]
    order = np.random.default_rng(seed).permutation(inner.shape[0])
    masks = np.repeat(inner[order][None], game.n_points, axis=0)
    est = impl.kernelshap(masks, game.values_at(masks), game.null, game.grand, distribution="banzhaf")
    assert_close(est.values, textbook_shapley_subsets(game))
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, inner.shape[0] + 2))


@given(game=games(min_players=3, max_players=8))
def test_kernelshap_paired_census_is_exact(impl, game: Game) -> None:
    d = game.n_players
    # Each non-trivial coalition once: S holding player 0 followed by its complement.
    firsts = [m for m in all_masks(d)[1:-1] if m[0]]
    masks = np.array([row for m in firsts for row in (m, ~m)])
    masks = np.repeat(masks[None], game.n_points, axis=0)
    est = impl.kernelshap(masks, game.values_at(masks), game.null, game.grand, paired=True, distribution="banzhaf")
    assert_close(est.values, textbook_shapley_subsets(game))


def _lime_atol(width: float) -> float:
    # LIME's default kernel gives the empty coalition weight exp(-1/width^2) (1e-7 at width 0.25),
    # so the intercept is ill-conditioned; rounding errors grow like 1/weight.
    return 1e-9 if width >= 0.5 else 1e-7


@given(game=games(min_players=1, max_players=8), width=st.sampled_from([0.25, 0.5, 1.0, 3.0]))
def test_lime_census_is_weighted_least_squares(impl, game: Game, width: float) -> None:
    d = game.n_players
    census = all_masks(d)
    masks = np.repeat(census[None], game.n_points, axis=0)
    est = impl.lime(masks, game.values_at(masks), kernel_width=width)

    sizes = census.sum(axis=1)
    weights = np.exp(-((1.0 - np.sqrt(sizes / d)) ** 2) / width**2)
    design = np.column_stack([np.ones(2**d), census.astype(float)])
    root_w = np.sqrt(weights)[:, None]
    for p in range(game.n_points):
        solution, *_ = np.linalg.lstsq(design * root_w, game.table[p] * root_w, rcond=None)
        assert_close(est.extras["intercept"][p], solution[0], atol=_lime_atol(width))
        assert_close(est.values[p], solution[1:], atol=_lime_atol(width))
    assert est.extras["intercept"].shape == (game.n_points, game.n_outputs)
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, 2**d))


# ------------------------------------------------------------------------------------------
# additive games: every estimator recovers the slopes exactly


def _random_inner_coalitions(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """``n`` random coalitions that are neither empty nor full."""
    out = np.zeros((n, d), dtype=bool)
    for row in range(n):
        size = rng.integers(1, d)
        out[row, rng.choice(d, size, replace=False)] = True
    return out


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@given(case=additive_games(), seed=st.integers(0, 2**32 - 1))
def test_additive_game_paired_kernelshap_is_exact(impl, case, distribution: str, seed: int) -> None:
    game = case.game
    d = game.n_players
    rng = np.random.default_rng(seed)
    masks = np.empty((game.n_points, 16 * d, d), dtype=bool)
    for p in range(game.n_points):
        firsts = _random_inner_coalitions(rng, 8 * d, d)
        masks[p, 0::2], masks[p, 1::2] = firsts, ~firsts
        assume(np.linalg.matrix_rank(masks[p].T.astype(float) @ masks[p].astype(float)) == d)
    est = impl.kernelshap(masks, game.values_at(masks), game.null, game.grand, paired=True, distribution=distribution)
    assert_close(est.values, case.slopes)
    assert_close(est.std_errors, 0.0)


@given(case=additive_games(), seed=st.integers(0, 2**32 - 1), n_pairs=st.integers(1, 6))
def test_additive_game_antithetic_permutations_are_exact(impl, case, seed: int, n_pairs: int) -> None:
    game = case.game
    rng = np.random.default_rng(seed)
    perms = np.empty((game.n_points, 2 * n_pairs, game.n_players), dtype=np.int64)
    for p in range(game.n_points):
        for j in range(n_pairs):
            perms[p, 2 * j] = rng.permutation(game.n_players)
            perms[p, 2 * j + 1] = perms[p, 2 * j][::-1]
    est = impl.permutation_shapley(perms, game.chain_values(perms), antithetic=True)
    assert_close(est.values, case.slopes)
    if n_pairs >= 2:
        assert_close(est.std_errors, 0.0)
    else:
        assert np.all(np.isinf(est.std_errors))


@given(case=additive_games(), seed=st.integers(0, 2**32 - 1), copies=st.integers(1, 2))
def test_additive_game_msr_banzhaf_on_census_is_exact(impl, case, seed: int, copies: int) -> None:
    game = case.game
    rng = np.random.default_rng(seed)
    census = np.concatenate([all_masks(game.n_players)] * copies)
    masks = np.stack([census[rng.permutation(census.shape[0])] for _ in range(game.n_points)])
    est = impl.msr_banzhaf(masks, game.values_at(masks))
    assert_close(est.values, case.slopes)


@given(
    case=additive_games(min_players=1),
    seed=st.integers(0, 2**32 - 1),
    extra=st.integers(1, 20),
    width=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_additive_game_lime_is_exact(impl, case, seed: int, extra: int, width: float) -> None:
    game = case.game
    d = game.n_players
    rng = np.random.default_rng(seed)
    rows = np.concatenate([all_masks(d), rng.random((extra, d)) < 0.5])
    masks = np.stack([rows[rng.permutation(rows.shape[0])] for _ in range(game.n_points)])
    est = impl.lime(masks, game.values_at(masks), kernel_width=width)
    # Rounding scales with the values too (measured: 1.1e-7 on slopes near 10 at width 0.25).
    scale = max(1.0, float(np.abs(case.slopes).max()), float(np.abs(case.intercept).max()))
    assert_close(est.values, case.slopes, atol=_lime_atol(width) * scale)
    assert_close(est.extras["intercept"], case.intercept, atol=_lime_atol(width) * scale)
    assert_close(est.std_errors, 0.0, atol=1e-6)


# ------------------------------------------------------------------------------------------
# convergence on a random game: estimate within 6 standard errors, and the errors are small


D_CONVERGENCE = 6


@pytest.fixture(scope="module")
def convergence_game() -> Game:
    rng = np.random.default_rng(20240601)
    d = D_CONVERGENCE
    # A structured game (additive + pairwise interactions) plus unstructured noise.
    slopes = rng.normal(0.0, 2.0, (d, 2))
    interactions = rng.normal(0.0, 1.0, (d, d, 2))
    table = np.empty((1, 2**d, 2))
    for s in range(2**d):
        z = np.array([(s >> i) & 1 for i in range(d)], dtype=float)
        table[0, s] = z @ slopes + np.einsum("i,j,ijo->o", z, z, interactions) / d
    table += rng.uniform(-1.0, 1.0, table.shape)
    return Game(table)


def _assert_converged(est, expected: np.ndarray, scale: float, fraction: float = 0.05) -> None:
    """Within 6 standard errors, and within ``fraction * scale`` in absolute terms (so that
    absurdly large standard errors cannot make the first check vacuous)."""
    error = np.abs(est.values - expected)
    se = est.std_errors
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    assert np.all(se < fraction * scale / 2), f"standard errors too large: {se.max()} vs scale {scale}"
    assert np.all(error <= np.maximum(6.0 * se, 1e-6)), f"max |error|/se = {(error / se).max()}"
    assert np.all(error <= fraction * scale), f"max error {error.max()} vs scale {scale}"


def _scale(game: Game) -> float:
    return float(np.abs(game.table - game.table[:, :1]).max())


@pytest.mark.parametrize("estimator", ["kernelshap", "unbiased_kernelshap"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_kernelshap_converges(impl, convergence_game: Game, estimator: str, distribution: str) -> None:
    game = convergence_game
    masks = impl.sample_coalitions(1, 20000, D_CONVERGENCE, distribution=distribution, paired=True, seed=7)
    est = getattr(impl, estimator)(
        masks, game.values_at(masks), game.null, game.grand, paired=True, distribution=distribution
    )
    # Without the residual, the unbiased estimator's variance is driven by v - v0 itself: several
    # times that of the regression estimator, hence the looser absolute bound.
    fraction = 0.05 if estimator == "kernelshap" else 0.15
    _assert_converged(est, textbook_shapley_subsets(game), _scale(game), fraction)


def test_msr_banzhaf_converges(impl, convergence_game: Game) -> None:
    game = convergence_game
    masks = impl.sample_coalitions(1, 20000, D_CONVERGENCE, distribution="banzhaf", seed=11)
    est = impl.msr_banzhaf(masks, game.values_at(masks))
    _assert_converged(est, textbook_banzhaf(game), _scale(game))


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
def test_permutation_shapley_converges(impl, convergence_game: Game, antithetic: bool) -> None:
    game = convergence_game
    perms = impl.sample_permutations(1, 2000, D_CONVERGENCE, antithetic=antithetic, seed=13)
    est = impl.permutation_shapley(perms, game.chain_values(perms), antithetic=antithetic)
    _assert_converged(est, textbook_shapley_permutations(game), _scale(game))
