"""SGD-Shapley: convergence to the exact Shapley values, additive games, efficiency, standard errors
and bad inputs, on both implementations (the ``impl`` fixture). Masks come from the Rust sampler
for both: the estimator, not the sampler, is under test here (and the numpy sampler is slow)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stochamort as sm
from stochamort.errors import (
    InsufficientSamplesError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)

from tests.helpers.games import Game, additive_games, games, textbook_shapley_subsets


def default_step(d: int) -> float:
    """1/R^2 with R^2 = max_k k (d - k) / d, the documented default."""
    return d / ((d // 2) * (d - d // 2))


def curvature(d: int) -> float:
    """The Hessian of the objective on the constraint under the Shapley kernel: mu * I, mu = 1/(2 H_{d-1})."""
    return 1.0 / (2.0 * sum(1.0 / k for k in range(1, d)))


# ------------------------------------------------------------------------------------------
# convergence on a random game


D = 6


@pytest.fixture(scope="module")
def random_game() -> Game:
    """Additive part, pairwise interactions and unstructured noise (as in test_exact_expectations)."""
    rng = np.random.default_rng(20240601)
    slopes = rng.normal(0.0, 2.0, (D, 2))
    interactions = rng.normal(0.0, 1.0, (D, D, 2))
    table = np.empty((1, 2**D, 2))
    for s in range(2**D):
        z = np.array([(s >> i) & 1 for i in range(D)], dtype=float)
        table[0, s] = z @ slopes + np.einsum("i,j,ijo->o", z, z, interactions) / D
    table += rng.uniform(-1.0, 1.0, table.shape)
    return Game(table)


def test_converges_to_shapley_as_samples_grow(impl, random_game: Game) -> None:
    game = random_game
    exact = textbook_shapley_subsets(game)
    scale = float(np.abs(game.table - game.table[:, :1]).max())
    masks = sm.sample_coalitions(1, 20000, D, paired=True, seed=7)
    errors, std_errors = [], []
    for n in (512, 20000):  # 64 and 2500 steps per replicate
        est = impl.sgd_shapley(masks[:, :n], game.values_at(masks[:, :n]), game.null, game.grand, paired=True)
        errors.append(float(np.abs(est.values - exact).max()))
        std_errors.append(float(est.std_errors.max()))
        assert np.all(np.isfinite(est.std_errors)) and np.all(est.std_errors > 0)
        np.testing.assert_array_equal(est.n_evaluations, [n + 2])
    small, large = errors
    # Measured: about 4-5% of the scale at 512 samples, 0.2-0.5% at 20000 (seeds 7-9, both samplers).
    assert large <= 0.01 * scale, f"error {large} at 20000 samples vs scale {scale}"
    assert large <= small / 4, f"error {large} at 20000 samples not well below {small} at 512"
    assert std_errors[1] < std_errors[0] / 3


# ------------------------------------------------------------------------------------------
# additive games: the slopes are a fixed point


@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
@given(case=additive_games(max_players=8, max_points=1), seed=st.integers(0, 2**32 - 1))
def test_additive_game_converges_to_its_slopes(impl, case, paired: bool, seed: int) -> None:
    # The slopes zero every residual. From phi_0 = (Delta/d) 1 the error contracts by (1 - eta mu) per
    # step in expectation, so the average of T iterates is off by about |phi_0 - a| / (eta mu T);
    # measured up to 2.7 times that (d = 3; 1.7 for d = 8) over 3000 runs per d, so 4 times is the
    # tolerance: at most 5% of |phi_0 - a| here (d = 8). For d = 2 the error is zero (see below).
    game = case.game
    d = game.n_players
    n_samples, replicates = 1600, 1
    masks = sm.sample_coalitions(game.n_points, n_samples, d, paired=paired, seed=seed)
    est = impl.sgd_shapley(masks, game.values_at(masks), game.null, game.grand, paired=paired, replicates=replicates)
    assert np.all(np.isinf(est.std_errors))
    steps = n_samples // replicates // 2
    for p in range(game.n_points):
        for o in range(game.n_outputs):
            slopes = case.slopes[p, :, o]
            start_error = float(np.linalg.norm(slopes - slopes.mean()))
            tolerance = 4.0 * start_error / (default_step(d) * curvature(d) * steps) + 1e-9
            np.testing.assert_allclose(est.values[p, :, o], slopes, rtol=0, atol=tolerance)


@given(case=additive_games(max_players=2, max_points=2))
def test_two_players_are_exact(impl, case) -> None:
    # d = 2: one free direction, and the default step solves each sample exactly (a Kaczmarz step),
    # so every iterate after the first equals the Shapley value.
    game = case.game
    masks = sm.sample_coalitions(game.n_points, 16, 2, seed=3)
    est = impl.sgd_shapley(masks, game.values_at(masks), game.null, game.grand, batch_size=1)
    np.testing.assert_allclose(est.values, case.slopes, rtol=0, atol=1e-9)
    np.testing.assert_allclose(est.std_errors, 0.0, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------
# efficiency and standard errors


@given(
    game=games(max_players=8),
    paired=st.booleans(),
    factor=st.sampled_from([None, 0.1, 1.0, 1.9]),
    batch_size=st.integers(1, 4),
    replicates=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_estimate_is_efficient(
    impl, game: Game, paired: bool, factor: float | None, batch_size: int, replicates: int, seed: int
) -> None:
    d = game.n_players
    n_samples = replicates * math.lcm(batch_size, 2) * 5
    masks = sm.sample_coalitions(game.n_points, n_samples, d, paired=paired, seed=seed)
    step_size = None if factor is None else factor * default_step(d)
    est = impl.sgd_shapley(
        masks,
        game.values_at(masks),
        game.null,
        game.grand,
        paired=paired,
        step_size=step_size,
        batch_size=batch_size,
        replicates=replicates,
    )
    scale = max(1.0, float(np.abs(game.table).max()))
    np.testing.assert_allclose(est.values.sum(axis=1), game.grand - game.null, rtol=0, atol=1e-9 * scale)
    assert est.values.shape == est.std_errors.shape == (game.n_points, d, game.n_outputs)
    if replicates == 1:
        assert np.all(np.isinf(est.std_errors))
    else:
        assert np.all(np.isfinite(est.std_errors)) and np.all(est.std_errors >= 0)
    np.testing.assert_array_equal(est.n_evaluations, np.full(game.n_points, n_samples + 2))


def test_std_error_is_the_spread_of_the_replicates(impl, random_game: Game) -> None:
    game = random_game
    masks = sm.sample_coalitions(1, 96, D, paired=True, seed=5)
    values = game.values_at(masks)
    est = impl.sgd_shapley(masks, values, game.null, game.grand, paired=True, replicates=3)
    blocks = [slice(r * 32, (r + 1) * 32) for r in range(3)]
    runs = np.stack(
        [
            impl.sgd_shapley(masks[:, b], values[:, b], game.null, game.grand, paired=True, replicates=1).values
            for b in blocks
        ]
    )
    np.testing.assert_allclose(est.values, runs.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(est.std_errors, runs.std(axis=0, ddof=1) / math.sqrt(3), rtol=0, atol=1e-12)


def test_result_does_not_depend_on_parallelism(random_game: Game) -> None:
    game = random_game
    masks = sm.sample_coalitions(5, 800, D, paired=True, seed=11)
    table = np.repeat(game.table, 5, axis=0)
    batch = Game(table)
    enabled = sm.parallelism_enabled()
    try:
        sm.set_parallelism(True)
        parallel = sm.sgd_shapley(masks, batch.values_at(masks), batch.null, batch.grand, paired=True)
        sm.set_parallelism(False)
        serial = sm.sgd_shapley(masks, batch.values_at(masks), batch.null, batch.grand, paired=True)
    finally:
        sm.set_parallelism(enabled)
    np.testing.assert_array_equal(parallel.values, serial.values)
    np.testing.assert_array_equal(parallel.std_errors, serial.std_errors)


# ------------------------------------------------------------------------------------------
# bad inputs


N_POINTS, N_SAMPLES, N_OUTPUTS = 3, 16, 2


def _call(impl, masks=None, values=None, null=None, grand=None, **kwargs):
    masks = sm.sample_coalitions(N_POINTS, N_SAMPLES, 4, paired=True, seed=0) if masks is None else masks
    rng = np.random.default_rng(1)
    values = rng.normal(size=masks.shape[:2] + (N_OUTPUTS,)) if values is None else values
    null = rng.normal(size=(masks.shape[0], N_OUTPUTS)) if null is None else null
    grand = rng.normal(size=(masks.shape[0], N_OUTPUTS)) if grand is None else grand
    return impl.sgd_shapley(masks, values, null, grand, **kwargs)


def _not_complements() -> np.ndarray:
    masks = sm.sample_coalitions(N_POINTS, N_SAMPLES, 4, paired=True, seed=0)
    masks[1, 3] = masks[1, 2]
    return masks


def _nonfinite_values() -> np.ndarray:
    values = np.zeros((N_POINTS, N_SAMPLES, N_OUTPUTS))
    values[2, 5, 1] = np.nan
    return values


BAD_INPUTS = [
    # (id, keyword arguments of _call, error class, argument named first in the message)
    ("step-zero", {"step_size": 0.0}, InvalidArgumentError, "step_size"),
    ("step-negative", {"step_size": -0.5}, InvalidArgumentError, "step_size"),
    ("step-nan", {"step_size": float("nan")}, InvalidArgumentError, "step_size"),
    ("step-inf", {"step_size": float("inf")}, InvalidArgumentError, "step_size"),
    ("step-str", {"step_size": "fast"}, InvalidDTypeError, "step_size"),
    # Far beyond the stability limit 2/R^2: the iterates overflow within a few hundred steps.
    (
        "step-diverges",
        {"masks": sm.sample_coalitions(N_POINTS, 2000, 4, paired=True, seed=0), "step_size": 1e3, "replicates": 1},
        InvalidArgumentError,
        "step_size",
    ),
    ("batch-zero", {"batch_size": 0}, InvalidArgumentError, "batch_size"),
    ("batch-negative", {"batch_size": -2}, InvalidArgumentError, "batch_size"),
    ("replicates-zero", {"replicates": 0}, InvalidArgumentError, "replicates"),
    ("replicates-negative", {"replicates": -1}, InvalidArgumentError, "replicates"),
    # 16 samples: 3 blocks do not divide them; blocks of 4 cannot hold a batch of 8; with pairs,
    # 16 blocks would split them.
    ("blocks-uneven", {"replicates": 3, "batch_size": 1}, InsufficientSamplesError, "masks"),
    ("block-below-batch", {"replicates": 4, "batch_size": 8}, InsufficientSamplesError, "masks"),
    ("blocks-split-pairs", {"paired": True, "replicates": 16, "batch_size": 1}, InsufficientSamplesError, "masks"),
    ("batches-split-blocks", {"replicates": 2, "batch_size": 3}, InsufficientSamplesError, "masks"),
    ("no-samples", {"masks": np.zeros((N_POINTS, 0, 4), dtype=bool)}, InsufficientSamplesError, "masks"),
    ("paired-not-complements", {"masks": _not_complements(), "paired": True}, InvalidArgumentError, "masks"),
    ("masks-int", {"masks": np.ones((N_POINTS, N_SAMPLES, 4), dtype=np.int64)}, InvalidDTypeError, "masks"),
    ("masks-one-player", {"masks": np.ones((N_POINTS, N_SAMPLES, 1), dtype=bool)}, InvalidArgumentError, "masks"),
    ("values-nonfinite", {"values": _nonfinite_values()}, NonFiniteError, "values"),
    ("null-shape", {"null": np.zeros((N_POINTS, N_OUTPUTS + 1))}, ShapeError, "null_values"),
    ("grand-ndim", {"grand": np.zeros(N_POINTS)}, ShapeError, "grand_values"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_raises_documented_error(impl, kwargs: dict, error: type[Exception], argument: str) -> None:
    with pytest.raises(error) as excinfo:
        _call(impl, **kwargs)
    assert isinstance(excinfo.value, StochamortError)
    assert re.match(rf"{argument}\b", str(excinfo.value)), str(excinfo.value)


def test_valid_baseline_does_not_raise(impl) -> None:
    """The inputs the cases above corrupt are themselves valid."""
    _call(impl)
    _call(impl, paired=True)
    _call(impl, replicates=16, batch_size=1)
    _call(impl, paired=True, replicates=2, batch_size=4)
