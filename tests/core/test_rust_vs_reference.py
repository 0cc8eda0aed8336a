"""The Rust estimators equal the numpy references to 1e-9 on identical masks and values."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import stochamort as sm
import stochamort.reference as ref
from stochamort.errors import StochamortError

TOLERANCE = 1e-9


def assert_same(rust: sm.Estimate, reference: sm.Estimate, tolerance: float = TOLERANCE) -> None:
    """Values and standard errors agree to ``tolerance`` (relative to the scale); infinities agree exactly."""
    for name in ("values", "std_errors"):
        a, b = getattr(rust, name), getattr(reference, name)
        assert a.shape == b.shape, name
        assert np.array_equal(np.isinf(a), np.isinf(b)), name
        finite = np.isfinite(a)
        scale = max(1.0, float(np.abs(b[finite]).max(initial=0.0)))
        np.testing.assert_allclose(a[finite], b[finite], rtol=0, atol=tolerance * scale, err_msg=name)
    np.testing.assert_array_equal(rust.n_evaluations, reference.n_evaluations)


def run_both(call: Callable[[Any], sm.Estimate]) -> tuple[sm.Estimate, sm.Estimate] | None:
    """Run a call on both implementations; if one raises, the other must raise the same class."""
    outcomes = []
    for module in (sm, ref):
        try:
            outcomes.append(call(module))
        except StochamortError as err:
            outcomes.append(err)
    rust, reference = outcomes
    if isinstance(rust, Exception) or isinstance(reference, Exception):
        # The same class, or one a special case of the other (a singular system is too few samples).
        same_family = isinstance(rust, type(reference)) or isinstance(reference, type(rust))
        assert same_family, f"rust: {rust!r}, reference: {reference!r}"
        return None
    return rust, reference


@st.composite
def sampled_games(draw: st.DrawFn, distribution: str, paired: bool) -> dict[str, Any]:
    """Masks drawn by the Rust sampler and arbitrary values for them."""
    d = draw(st.integers(2, 10))
    n_points = draw(st.integers(1, 4))
    n_samples = 2 * draw(st.integers(1, 40)) if paired else draw(st.integers(1, 80))
    n_outputs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32))
    masks = sm.sample_coalitions(n_points, n_samples, d, distribution=distribution, paired=paired, seed=seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    return {
        "masks": masks,
        "values": rng.normal(size=(n_points, n_samples, n_outputs)),
        "null": rng.normal(size=(n_points, n_outputs)),
        "grand": rng.normal(size=(n_points, n_outputs)),
    }


@pytest.mark.parametrize("distribution", ["shapley", "banzhaf", "leverage"])
@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("estimator", ["kernelshap", "unbiased_kernelshap"])
@given(data=st.data())
def test_kernelshap_matches_reference(distribution: str, paired: bool, estimator: str, data: st.DataObject) -> None:
    game = data.draw(sampled_games(distribution, paired))
    both = run_both(
        lambda m: getattr(m, estimator)(
            game["masks"], game["values"], game["null"], game["grand"], paired=paired, distribution=distribution
        )
    )
    if both is not None:
        assert_same(*both)


@given(data=st.data(), paired=st.booleans())
def test_sgd_shapley_matches_reference(data: st.DataObject, paired: bool) -> None:
    d = data.draw(st.integers(2, 10), label="n_players")
    n_points = data.draw(st.integers(1, 3), label="n_points")
    n_outputs = data.draw(st.integers(1, 3), label="n_outputs")
    replicates = data.draw(st.integers(1, 4), label="replicates")
    batch_size = data.draw(st.integers(1, 4), label="batch_size")
    blocks = data.draw(st.integers(1, 12), label="batches_per_block")
    # Now and then a sample count that does not split into whole blocks: both must refuse it.
    extra = data.draw(st.sampled_from([0, 0, 0, 2]), label="extra_samples")
    n_samples = replicates * math.lcm(batch_size, 2 if paired else 1) * blocks + extra
    # Multiples of the default step 1/R^2, all below the stability limit 2/R^2.
    factor = data.draw(st.sampled_from([None, 0.25, 1.0, 1.5]), label="step_factor")
    step_size = None if factor is None else factor * d / ((d // 2) * (d - d // 2))
    seed = data.draw(st.integers(0, 2**32), label="seed")
    masks = sm.sample_coalitions(n_points, n_samples, d, paired=paired, seed=seed)
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_points, n_samples, n_outputs))
    null, grand = rng.normal(size=(n_points, n_outputs)), rng.normal(size=(n_points, n_outputs))
    both = run_both(
        lambda m: m.sgd_shapley(
            masks,
            values,
            null,
            grand,
            paired=paired,
            step_size=step_size,
            batch_size=batch_size,
            replicates=replicates,
        )
    )
    if both is not None:
        assert_same(*both)
    else:
        assert extra != 0


@given(game=sampled_games("banzhaf", False))
def test_msr_banzhaf_matches_reference(game: dict[str, Any]) -> None:
    both = run_both(lambda m: m.msr_banzhaf(game["masks"], game["values"]))
    if both is not None:
        assert_same(*both)


def lime_condition(masks: np.ndarray, width: float) -> float:
    """The largest condition number over points of LIME's weighted normal equations ``X^T W X``."""
    kernel = sm.lime_kernel(masks.shape[2], width)
    worst = 1.0
    for point in masks:
        x = np.column_stack([np.ones(len(point)), point.astype(np.float64)])
        gram = x.T @ (kernel[point.sum(axis=1)][:, None] * x)
        worst = max(worst, float(np.linalg.cond(gram)))
    return worst


# Player 0 appears in one sample only (leverage 1) and the empty coalition weighs e^-16, so
# cond(X^T W X) ~ 3e7. Forming the sandwich as H @ M @ H lost ~cond^2 * eps in the reference
# (se 0.683488 vs 0.683581894 from a 60-digit fit); summing squared influences does not.
@example(
    game={
        "masks": np.array([[[False, False], [True, True], [False, True], [False, False], [False, True]]]),
        "values": np.array([[[0.91842557], [-0.74618038], [-0.78577209], [0.39346612], [0.31864044]]]),
    },
    width=0.25,
)
@given(game=sampled_games("banzhaf", False), width=st.sampled_from([0.25, 0.5, 1.0]))
def test_lime_matches_reference(game: dict[str, Any], width: float) -> None:
    both = run_both(lambda m: m.lime(game["masks"], game["values"], kernel_width=width))
    if both is not None:
        rust, reference = both
        # At width 0.25 the empty coalition's weight is e^-16, so X^T W X can be ill-conditioned. Each
        # backward-stable solver is then accurate to ~cond * eps (measured <= 0.41 * cond * eps against a
        # 50-digit fit, coefficients and HC1 errors alike); allow 8 * cond * eps, and never less than 1e-9.
        tolerance = max(TOLERANCE, 8 * lime_condition(game["masks"], width) * np.finfo(np.float64).eps)
        assert_same(rust, reference, tolerance=tolerance)
        intercept_scale = max(1.0, float(np.abs(reference.extras["intercept"]).max()))
        np.testing.assert_allclose(
            rust.extras["intercept"], reference.extras["intercept"], rtol=0, atol=tolerance * intercept_scale
        )


@given(
    d=st.integers(1, 9),
    n_points=st.integers(1, 3),
    half=st.integers(1, 12),
    n_outputs=st.integers(1, 3),
    antithetic=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_permutation_matches_reference(
    d: int, n_points: int, half: int, n_outputs: int, antithetic: bool, seed: int
) -> None:
    perms = sm.sample_permutations(n_points, 2 * half, d, antithetic=antithetic, seed=seed)
    np.testing.assert_array_equal(sm.permutation_chain_masks(perms), ref.permutation_chain_masks(perms))
    np.testing.assert_array_equal(
        sm.permutation_chain_masks(perms, interior=True), sm.permutation_chain_masks(perms)[:, :, 1:d]
    )
    np.testing.assert_array_equal(
        sm.permutation_chain_masks(perms, interior=True), ref.permutation_chain_masks(perms, interior=True)
    )
    chains = np.random.default_rng(seed).normal(size=(n_points, 2 * half, d + 1, n_outputs))
    both = run_both(lambda m: m.permutation_shapley(perms, chains, antithetic=antithetic))
    assert both is not None
    assert_same(*both)


@given(d=st.integers(1, 8), n_points=st.integers(1, 3), n_outputs=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_exact_values_match_reference(d: int, n_points: int, n_outputs: int, seed: int) -> None:
    table = np.random.default_rng(seed).normal(size=(n_points, 2**d, n_outputs))
    for name in ("exact_shapley", "exact_banzhaf"):
        both = run_both(lambda m: getattr(m, name)(table))
        assert both is not None
        assert_same(*both)
    for alpha, beta in [(1.0, 1.0), (16.0, 1.0), (0.5, 2.0)]:
        np.testing.assert_allclose(
            sm.semivalue_weights(d, "beta", alpha=alpha, beta=beta),
            ref.semivalue_weights(d, "beta", alpha=alpha, beta=beta),
            rtol=1e-12,
        )


@pytest.mark.parametrize("d", [2, 5, 17])
def test_weights_and_probabilities_match_reference(d: int) -> None:
    np.testing.assert_allclose(sm.shapley_kernel(d), ref.shapley_kernel(d), rtol=1e-12)
    np.testing.assert_allclose(sm.lime_kernel(d, 0.3), ref.lime_kernel(d, 0.3), rtol=1e-12)
    masks = sm.sample_coalitions(1, 50, d, distribution="banzhaf", seed=d)[0]
    for distribution in ("shapley", "banzhaf", "leverage"):
        np.testing.assert_allclose(sm.size_probabilities(d, distribution), ref.size_probabilities(d, distribution), rtol=1e-12)
        np.testing.assert_allclose(
            sm.coalition_probabilities(masks, distribution), ref.coalition_probabilities(masks, distribution), rtol=1e-12
        )
