"""Standard errors: the spec's formulas recomputed here in vectorised form, the ``+inf`` rules,
and a calibration check (reported errors match the spread of estimates over replications)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.helpers.games import DISTRIBUTIONS, Game, games, subset_probability


def _random_masks(rng: np.random.Generator, n_points: int, n_samples: int, d: int, paired: bool) -> np.ndarray:
    """Random non-empty, non-full coalitions (pairs of complements when ``paired``)."""
    n_draws = n_samples // 2 if paired else n_samples
    firsts = np.zeros((n_points, n_draws, d), dtype=bool)
    for p in range(n_points):
        for r in range(n_draws):
            firsts[p, r, rng.choice(d, rng.integers(1, d), replace=False)] = True
    if not paired:
        return firsts
    masks = np.empty((n_points, n_samples, d), dtype=bool)
    masks[:, 0::2], masks[:, 1::2] = firsts, ~firsts
    return masks


def _full_rank(masks: np.ndarray) -> bool:
    z = masks.astype(float)
    return all(np.linalg.matrix_rank(z[p].T @ z[p]) == masks.shape[2] for p in range(masks.shape[0]))


def spec_kernelshap(masks, values, null, grand, *, paired, distribution, unbiased):
    """The spec's KernelSHAP estimate and standard errors, vectorised over points."""
    n_points, n, d = masks.shape
    z = masks.astype(float)
    sizes = masks.sum(axis=2)
    p_shapley = np.vectorize(lambda k: subset_probability(int(k), d, "shapley"))(sizes)
    p_dist = np.vectorize(lambda k: subset_probability(int(k), d, distribution))(sizes)
    w = np.where(p_shapley > 0, p_shapley / np.where(p_dist > 0, p_dist, 1.0), 0.0)
    y = values - null[:, None, :]
    if unbiased:
        p_size = np.array([subset_probability(k, d, "shapley") * _comb(d, k) for k in range(d + 1)])
        k = np.arange(d + 1)
        a_exact = np.full((d, d), (p_size * k * (k - 1)).sum() / (d * (d - 1)))
        np.fill_diagonal(a_exact, (p_size * k).sum() / d)
        a = np.broadcast_to(a_exact, (n_points, d, d))
    else:
        a = np.einsum("pn,pni,pnj->pij", w, z, z) / n
    b = np.einsum("pn,pni,pno->pio", w, z, y) / n
    a_inv = np.linalg.inv(a)
    a_inv_1 = a_inv.sum(axis=2)  # A^-1 1, (P, d)
    denom = a_inv_1.sum(axis=1)  # 1^T A^-1 1, (P,)
    a_inv_b = np.einsum("pij,pjo->pio", a_inv, b)
    total = grand - null
    phi = a_inv_b - a_inv_1[:, :, None] * (a_inv_b.sum(axis=1) - total)[:, None, :] / denom[:, None, None]
    c = a_inv - np.einsum("pi,pj->pij", a_inv_1, a_inv_1) / denom[:, None, None]
    if unbiased:
        g = np.einsum("pn,pni,pno->pnio", w, z, y)
    else:
        residual = y - np.einsum("pni,pio->pno", z, phi)
        g = np.einsum("pn,pni,pno->pnio", w, z, residual)
    h = np.einsum("pij,pnjo->pnio", c, g)
    units = 0.5 * (h[:, 0::2] + h[:, 1::2]) if paired else h
    m = units.shape[1]
    se = units.std(axis=1, ddof=1) / np.sqrt(m) if m >= 2 else np.full(phi.shape, np.inf)
    return phi, se


def _comb(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


@pytest.mark.parametrize("unbiased", [False, True], ids=["kernelshap", "unbiased"])
@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@given(game=games(min_players=2, max_players=7), seed=st.integers(0, 2**32 - 1), factor=st.integers(2, 6))
def test_kernelshap_matches_spec_formulas(impl, game: Game, seed, factor, distribution, paired, unbiased) -> None:
    d = game.n_players
    masks = _random_masks(np.random.default_rng(seed), game.n_points, 2 * factor * d, d, paired)
    if not unbiased:
        assume(_full_rank(masks))
    values = game.values_at(masks)
    function = impl.unbiased_kernelshap if unbiased else impl.kernelshap
    est = function(masks, values, game.null, game.grand, paired=paired, distribution=distribution)
    phi, se = spec_kernelshap(
        masks, values, game.null, game.grand, paired=paired, distribution=distribution, unbiased=unbiased
    )
    np.testing.assert_allclose(est.values, phi, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(est.std_errors, se, rtol=1e-6, atol=1e-8)


@given(game=games(min_players=1, max_players=6), seed=st.integers(0, 2**32 - 1), n_samples=st.integers(4, 40))
def test_msr_banzhaf_matches_spec_formulas(impl, game: Game, seed: int, n_samples: int) -> None:
    d = game.n_players
    masks = np.random.default_rng(seed).random((game.n_points, n_samples, d)) < 0.5
    inside = masks.sum(axis=1)  # (P, d)
    assume(np.all(inside >= 1) and np.all(inside <= n_samples - 1))
    values = game.values_at(masks)
    est = impl.msr_banzhaf(masks, values)
    z = masks[..., None]  # (P, n, d, 1)
    v = values[:, :, None, :]  # (P, n, 1, o)
    n_in = inside[..., None]
    n_out = n_samples - n_in
    mean_in = np.where(z, v, 0).sum(axis=1) / n_in
    mean_out = np.where(~z, v, 0).sum(axis=1) / n_out
    with np.errstate(divide="ignore", invalid="ignore"):
        var_in = np.where(z, (v - mean_in[:, None]) ** 2, 0).sum(axis=1) / (n_in - 1)
        var_out = np.where(~z, (v - mean_out[:, None]) ** 2, 0).sum(axis=1) / (n_out - 1)
        se = np.sqrt(var_in / n_in + var_out / n_out)
    se = np.where((n_in < 2) | (n_out < 2), np.inf, se)
    np.testing.assert_allclose(est.values, mean_in - mean_out, rtol=1e-10, atol=1e-10)
    # Two-pass variances: a constant group has a standard error of exactly 0 up to rounding.
    np.testing.assert_allclose(est.std_errors, se, rtol=1e-9, atol=1e-12)


@given(game=games(min_players=1, max_players=6), seed=st.integers(0, 2**32 - 1), extra=st.integers(0, 30))
def test_lime_matches_spec_formulas(impl, game: Game, seed: int, extra: int) -> None:
    d = game.n_players
    rng = np.random.default_rng(seed)
    n = d + 1 + extra
    masks = rng.random((game.n_points, n, d)) < 0.5
    x = np.concatenate([np.ones((game.n_points, n, 1)), masks.astype(float)], axis=2)
    width = 0.5
    w = np.exp(-((1 - np.sqrt(masks.sum(axis=2) / d)) ** 2) / width**2)  # (P, n)
    xtwx = np.einsum("pn,pni,pnj->pij", w, x, x)
    # Well-posed designs only: near-singular ones amplify rounding beyond any fixed tolerance.
    assume(all(np.linalg.cond(xtwx[p]) < 1e6 for p in range(game.n_points)))
    values = game.values_at(masks)
    est = impl.lime(masks, values, kernel_width=width)
    h = np.linalg.inv(xtwx)
    beta = np.einsum("pij,pn,pnj,pno->pio", h, w, x, values)
    residual = values - np.einsum("pnj,pjo->pno", x, beta)
    meat = np.einsum("pn,pno,pni,pnj->poij", w**2, residual**2, x, x)
    p_params = d + 1
    if n > p_params:
        covariance = np.einsum("pij,pojk,pkl->poil", h, meat, h) * (n / (n - p_params))
        se = np.sqrt(np.maximum(np.diagonal(covariance, axis1=2, axis2=3), 0.0))  # (P, o, p)
        se = np.moveaxis(se, 1, 2)[:, 1:]
    else:  # n == d + 1: no residual degrees of freedom
        se = np.full(beta[:, 1:].shape, np.inf)
    np.testing.assert_allclose(est.values, beta[:, 1:], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(est.extras["intercept"], beta[:, 0], rtol=1e-7, atol=1e-7)
    if n == p_params:
        assert np.all(np.isposinf(est.std_errors))
    else:
        # Compare variances: where the exact variance is 0 (a coefficient fixed by zero-residual
        # rows), rounding of order eps * cond * scale^2 becomes its square root in the se.
        variance_scale = max(1.0, float((se**2).max()))
        np.testing.assert_allclose(est.std_errors**2, se**2, rtol=1e-6, atol=1e-8 * variance_scale)


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
@given(game=games(min_players=1, max_players=7), seed=st.integers(0, 2**32 - 1), n_units=st.integers(1, 12))
def test_permutation_shapley_matches_spec_formulas(impl, game: Game, seed, n_units, antithetic) -> None:
    d = game.n_players
    rng = np.random.default_rng(seed)
    firsts = np.array([[rng.permutation(d) for _ in range(n_units)] for _ in range(game.n_points)])
    if antithetic:
        perms = np.empty((game.n_points, 2 * n_units, d), dtype=np.int64)
        perms[:, 0::2], perms[:, 1::2] = firsts, firsts[:, :, ::-1]
    else:
        perms = firsts.astype(np.int64)
    chain = game.chain_values(perms)
    # Add noise to the chain so that the chain values are not consistent across permutations.
    chain = chain + rng.normal(0, 0.1, chain.shape)
    est = impl.permutation_shapley(perms, chain, antithetic=antithetic)
    position = np.argsort(perms, axis=2)  # position[p, r, i] = where player i stands
    before = np.take_along_axis(chain, position[..., None], axis=2)
    after = np.take_along_axis(chain, position[..., None] + 1, axis=2)
    contributions = after - before  # (P, R, d, o)
    units = 0.5 * (contributions[:, 0::2] + contributions[:, 1::2]) if antithetic else contributions
    np.testing.assert_allclose(est.values, units.mean(axis=1), rtol=1e-10, atol=1e-10)
    if n_units >= 2:
        se = units.std(axis=1, ddof=1) / np.sqrt(n_units)
        np.testing.assert_allclose(est.std_errors, se, rtol=1e-9, atol=1e-10)
    else:
        assert np.all(np.isposinf(est.std_errors))
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, perms.shape[1] * (d + 1)))


# ------------------------------------------------------------------------------------------
# +inf rules


def test_infinite_standard_errors_when_undefined(impl) -> None:
    rng = np.random.default_rng(0)
    d = 3
    table = rng.normal(size=(1, 2**d, 2))
    game = Game(table)

    # unbiased KernelSHAP with one sample, or one pair: estimate defined, variance not.
    for masks, paired in [(np.array([[[True, False, False]]]), False), (np.array([[[True, False, True], [False, True, False]]]), True)]:
        est = impl.unbiased_kernelshap(masks, game.values_at(masks), game.null, game.grand, paired=paired)
        assert np.all(np.isfinite(est.values)) and np.all(np.isposinf(est.std_errors))

    # MSR: player 0 in exactly one sample -> inf for player 0 only.
    masks = np.array([[[True, True, False], [False, True, True], [False, False, True], [False, False, False], [False, True, True]]])
    est = impl.msr_banzhaf(masks, game.values_at(masks))
    assert np.all(np.isposinf(est.std_errors[0, 0]))
    assert np.all(np.isfinite(est.std_errors[0, 1:]))

    # LIME with exactly d + 1 samples: exact fit, no degrees of freedom.
    masks = np.array([[[False, False, False], [True, False, False], [False, True, False], [False, False, True]]])
    est = impl.lime(masks, game.values_at(masks))
    assert np.all(np.isfinite(est.values)) and np.all(np.isposinf(est.std_errors))

    # Permutations: a single permutation, or a single antithetic pair.
    perms = np.array([[[2, 0, 1]]], dtype=np.int64)
    assert np.all(np.isposinf(impl.permutation_shapley(perms, game.chain_values(perms)).std_errors))
    perms = np.array([[[2, 0, 1], [1, 0, 2]]], dtype=np.int64)
    assert np.all(np.isposinf(impl.permutation_shapley(perms, game.chain_values(perms), antithetic=True).std_errors))


def test_exact_methods_have_zero_standard_errors(impl) -> None:
    table = np.random.default_rng(1).normal(size=(2, 2**5, 3))
    for est in (impl.exact_shapley(table), impl.exact_banzhaf(table), impl.exact_semivalue(table, np.full(5, 0.1))):
        assert est.std_errors.shape == (2, 5, 3)
        assert np.all(est.std_errors == 0.0)


# ------------------------------------------------------------------------------------------
# calibration: reported standard errors match the spread over independent replications

N_REPLICATIONS = 200
D_CALIBRATION = 4


@pytest.fixture(scope="module")
def calibration_game() -> Game:
    rng = np.random.default_rng(77)
    d = D_CALIBRATION
    table = np.empty((1, 2**d, 1))
    slopes = rng.normal(0, 1, d)
    for s in range(2**d):
        z = np.array([(s >> i) & 1 for i in range(d)], dtype=float)
        table[0, s, 0] = z @ slopes + 2.0 * z[0] * z[1] - 1.5 * z[1] * z[2] * z[3]
    table += rng.normal(0, 0.3, table.shape)
    return Game(table)


def _assert_calibrated(est) -> None:
    spread = est.values.std(axis=0, ddof=1)  # (d, o) over replications
    reported = np.sqrt((est.std_errors**2).mean(axis=0))
    ratio = reported / spread
    # Each spread has ~5% relative error with 200 replications; a wrong unit (samples instead of
    # pairs) or a missing factor moves the ratio far outside these bounds.
    assert np.all((ratio > 0.75) & (ratio < 1.33)), ratio.ravel()
    assert 0.85 < np.exp(np.log(ratio).mean()) < 1.18, ratio.ravel()


@pytest.mark.parametrize(
    "estimator,paired", [("kernelshap", True), ("unbiased_kernelshap", True), ("unbiased_kernelshap", False)]
)
def test_kernelshap_standard_errors_are_calibrated(impl, calibration_game: Game, estimator, paired) -> None:
    game = calibration_game.repeat_points(0, N_REPLICATIONS)
    masks = impl.sample_coalitions(N_REPLICATIONS, 120, D_CALIBRATION, distribution="shapley", paired=paired, seed=5)
    est = getattr(impl, estimator)(masks, game.values_at(masks), game.null, game.grand, paired=paired)
    _assert_calibrated(est)


def test_msr_standard_errors_are_calibrated(impl, calibration_game: Game) -> None:
    game = calibration_game.repeat_points(0, N_REPLICATIONS)
    masks = impl.sample_coalitions(N_REPLICATIONS, 120, D_CALIBRATION, distribution="banzhaf", seed=6)
    _assert_calibrated(impl.msr_banzhaf(masks, game.values_at(masks)))


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
def test_permutation_standard_errors_are_calibrated(impl, calibration_game: Game, antithetic: bool) -> None:
    game = calibration_game.repeat_points(0, N_REPLICATIONS)
    perms = impl.sample_permutations(N_REPLICATIONS, 40, D_CALIBRATION, antithetic=antithetic, seed=7)
    _assert_calibrated(impl.permutation_shapley(perms, game.chain_values(perms), antithetic=antithetic))
