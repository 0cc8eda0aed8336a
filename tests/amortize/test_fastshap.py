"""FastSHAP as an amortization objective (``stochamort.amortize.fastshap``).

* Exact: with every coalition of sizes 1 … d − 1 repeated in proportion to the Shapley kernel,
  the FastSHAP loss (through the efficiency normalization) has zero gradient at the exact Shapley
  values of random games (hypothesis, d ≤ 8; the loss is a convex quadratic on the efficient
  plane, so that is its minimiser) and a non-zero one elsewhere.
* The sampled coalitions: paired complements, never ∅ or all, independent of the chunking, fresh
  per epoch only with ``resample``, evaluations counted.
* Training: an MLP trained with FastSHAP on a game with known Shapley values (additive plus one
  pairwise interaction) approaches them (stated tolerance), deterministically; typed errors; the
  explainer fits, explains, saves and loads with ``objective=FastSHAP()``.
"""

from __future__ import annotations

import math
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from numpy.typing import NDArray

from stochamort.amortize import AmortizedExplainer, FastSHAP, MLPAmortizer, TrainConfig, train_amortizer_fastshap
from stochamort.amortize import fastshap as fastshap_module
from stochamort.amortize.fastshap import SampledCoalitions
from stochamort.amortize.models import efficiency_normalize
from stochamort.amortize.objectives import CoalitionTargets
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games import BaselineMasker, FunctionGame
from stochamort.oracles import Exact
from tests.helpers.games import Game, all_masks, games
from tests.helpers.torch_models import shapley_from_table, torch_single_thread  # noqa: F401  (autouse fixture)

#: Relative squared error ‖φ̂ − φ‖² / ‖φ‖² the trained amortizer must reach on held-out points
#: (observed ≈ 0.005 with these settings; the labels-free signal still finds the Shapley values).
TRAINED_TOL = 0.05


def kernel_weighted_coalitions(d: int) -> NDArray[np.bool_]:
    """Every coalition of sizes 1 … d − 1, repeated ∝ its Shapley-kernel probability
    (d − 1) / (C(d, s) s (d − s)) — integer multiplicities M / (C(d, s) s (d − s))."""
    denominators = {s: math.comb(d, s) * s * (d - s) for s in range(1, d)}
    total = reduce(math.lcm, denominators.values())
    masks = all_masks(d)
    sizes = masks.sum(axis=1)
    rows = [np.repeat(masks[sizes == s], total // denominators[s], axis=0) for s in range(1, d)]
    return np.concatenate(rows)


def loss_gradient(game: Game, phi: NDArray[np.float64]) -> NDArray[np.float64]:
    """∂/∂f of the FastSHAP loss of efficiency_normalize(f) at f = ``phi`` over the weighted coalitions."""
    masks = kernel_weighted_coalitions(game.n_players)
    batch = np.broadcast_to(masks, (game.n_points, *masks.shape)).copy()
    values = game.values_at(batch) - game.null[:, None, :]
    targets = CoalitionTargets(torch.from_numpy(batch), torch.from_numpy(values))
    f = torch.tensor(phi, dtype=torch.float64, requires_grad=True)
    pred = efficiency_normalize(f, torch.from_numpy(game.grand - game.null))
    targets.loss_sum(pred, targets.rows(torch.arange(game.n_points), torch.device("cpu")), 1.0).backward()  # type: ignore[no-untyped-call]
    assert f.grad is not None
    return f.grad.numpy()


@settings(max_examples=40, deadline=None)
@given(games(min_players=2, max_players=8))
def test_loss_is_minimised_at_the_exact_shapley_values(game: Game) -> None:
    phi = shapley_from_table(game.table)
    scale = max(1.0, float(np.abs(game.table).max()))
    np.testing.assert_allclose(loss_gradient(game, phi), 0.0, atol=1e-9 * scale)


def test_loss_gradient_is_not_zero_away_from_the_shapley_values() -> None:
    rng = np.random.default_rng(0)
    game = Game(rng.normal(size=(2, 2**5, 2)))
    phi = shapley_from_table(game.table)
    shift = rng.normal(size=phi.shape)
    shift -= shift.mean(axis=1, keepdims=True)  # stays efficient: only the loss can push back
    assert np.abs(loss_gradient(game, phi + shift)).max() > 1e-3


# --------------------------------------------------------------------------------------------
# a game with known Shapley values


D = 6
WEIGHTS = np.array([1.5, -2.0, 0.7, 1.1, -0.4, 0.9])
PAIR = 1.2


def interaction_game(x: NDArray[np.float64]) -> FunctionGame:
    """v_x(S) = Σ_{i∈S} w_i x_i + c x_0 x_1 1[0, 1 ∈ S]: φ_i = w_i x_i (+ c x_0 x_1 / 2 for i = 0, 1)."""

    def fn(masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        rows = x[points][:, None, :]
        additive = (masks * rows * WEIGHTS).sum(axis=2)
        pair = PAIR * rows[..., 0] * rows[..., 1] * (masks[..., 0] & masks[..., 1])
        return (additive + pair)[..., None]

    return FunctionGame(fn, len(x), D)


def interaction_shapley(x: NDArray[np.float64]) -> NDArray[np.float64]:
    phi = x * WEIGHTS
    phi[:, :2] += PAIR * x[:, :1] * x[:, 1:2] / 2
    return phi[..., None]


def inputs(n: int, seed: int) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(size=(n, D))


def config(**changes: object) -> TrainConfig:
    base = TrainConfig(efficiency=True, target_scale="auto", epochs=40, batch_size=64, lr=3e-3, weight_decay=0.0, seed=3, progress=False)
    return base.replace(**changes)


def network(seed: int = 0) -> MLPAmortizer:
    torch.manual_seed(seed)
    return MLPAmortizer(D, D, 1, hidden=(64, 64))


def test_trained_amortizer_approaches_the_exact_shapley_values() -> None:
    x, xv, xt = inputs(512, 0), inputs(128, 1), inputs(256, 2)
    objective = FastSHAP(n_samples=16)
    result = train_amortizer_fastshap(network(), x, interaction_game(x), x_val=xv, game_val=interaction_game(xv), objective=objective, config=config())
    game_t = interaction_game(xt)
    null, grand = game_t.endpoints()
    predicted = result.amortizer.predict(xt, grand - null)
    truth = interaction_shapley(xt)
    relative = float(((predicted - truth) ** 2).sum() / (truth**2).sum())
    assert relative < TRAINED_TOL
    assert result.history.val_loss[-1] < result.history.val_loss[0]
    # every epoch drew 16 coalitions per training point; the validation set once; endpoints of both
    assert result.n_evaluations == 512 * (2 + 16 * result.epochs_run) + 128 * (2 + 16)
    assert result.objective == {"objective": "fastshap", "n_samples": 16, "paired": True, "resample": True}


def test_same_seed_same_amortizer_and_fixed_draws_cost_one_budget() -> None:
    x = inputs(96, 5)
    objective = FastSHAP(n_samples=8, resample=False)
    runs = [
        train_amortizer_fastshap(network(1), x, interaction_game(x), objective=objective, config=config(epochs=3, batch_size=32))
        for _ in range(2)
    ]
    gaps = np.subtract(*interaction_game(x).endpoints()[::-1])
    np.testing.assert_array_equal(runs[0].amortizer.predict(x, gaps), runs[1].amortizer.predict(x, gaps))
    assert runs[0].n_evaluations == 96 * (2 + 8)


def test_sampled_coalitions_are_paired_chunk_independent_and_fresh_per_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    x = inputs(20, 7)
    game = interaction_game(x)
    null = game.endpoints()[0]
    fresh = SampledCoalitions(game, null, FastSHAP(n_samples=6), seed=11, split=0, dtype=torch.float64)
    first, second = fresh(0), fresh(1)
    masks = first.masks.numpy()
    np.testing.assert_array_equal(masks[:, 0::2], ~masks[:, 1::2])
    sizes = masks.sum(axis=2)
    assert sizes.min() >= 1 and sizes.max() <= D - 1
    assert not torch.equal(first.masks, second.masks)
    np.testing.assert_allclose(first.values.numpy(), game.evaluate(masks) - null[:, None, :])
    assert fresh.n_evaluations == 2 * 20 * 6
    monkeypatch.setattr(fastshap_module, "_CHUNK_MASK_BYTES", 6 * D * 3)  # 3 points per chunk
    chunked = SampledCoalitions(game, null, FastSHAP(n_samples=6), seed=11, split=0, dtype=torch.float64)
    assert torch.equal(chunked(0).masks, first.masks)
    fixed = SampledCoalitions(game, null, FastSHAP(n_samples=6, resample=False), seed=11, split=0, dtype=torch.float64)
    assert fixed(0) is fixed(5) and fixed.n_evaluations == 20 * 6


def test_bad_arguments_raise_typed_errors_naming_them() -> None:
    x = inputs(16, 0)
    game = interaction_game(x)
    with pytest.raises(InvalidArgumentError, match="^n_samples:"):
        FastSHAP(n_samples=7)
    with pytest.raises(InvalidArgumentError, match="^n_samples:"):
        FastSHAP(n_samples=0, paired=False)
    with pytest.raises(InvalidArgumentError, match="^resample:"):
        FastSHAP(resample=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^config: FastSHAP needs TrainConfig\\(efficiency=True\\)"):
        train_amortizer_fastshap(network(), x, game, config=TrainConfig(efficiency=False))
    with pytest.raises(InvalidArgumentError, match="^game_train:"):
        train_amortizer_fastshap(network(), x, np.zeros(3), config=config())  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="^game_train: is bound to 16 points"):
        train_amortizer_fastshap(network(), x[:8], game, config=config())
    with pytest.raises(InvalidArgumentError, match="^game_val:"):
        train_amortizer_fastshap(network(), x, game, x_val=x, config=config())
    with pytest.raises(InvalidArgumentError, match="^objective:"):
        train_amortizer_fastshap(network(), x, game, objective="fastshap", config=config())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^settings:"):
        FastSHAP.from_settings({"objective": "labels"})


def test_explainer_with_fastshap_fits_explains_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    coef = rng.normal(size=8)

    def model(rows: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.tanh(rows @ coef + 0.5 * rows[:, 0] * rows[:, 1])

    x = rng.normal(size=(300, 8))
    masker = BaselineMasker(np.zeros(8))
    train_config = TrainConfig(
        efficiency=True, target_scale="auto", epochs=30, batch_size=32, lr=3e-3, weight_decay=0.0, seed=0, progress=False
    )
    explainer = AmortizedExplainer(model, masker, objective=FastSHAP(n_samples=16), config=train_config)
    explainer.fit(x, progress=False)
    assert explainer.labels is None and explainer.training is not None and explainer.training.n_evaluations > 0
    scores = explainer.score(x[:50], Exact())
    assert scores["pearson"] > 0.9
    attributions = explainer.explain(x[:5])
    np.testing.assert_allclose(attributions.values.sum(axis=1), attributions.outputs - attributions.base_values, atol=1e-9)
    path = explainer.save(tmp_path / "explainer")
    loaded = AmortizedExplainer.load(path, model=model)
    assert loaded.objective == FastSHAP(n_samples=16)
    assert loaded.training is not None and loaded.training.n_evaluations == explainer.training.n_evaluations
    np.testing.assert_array_equal(loaded.explain(x[:5]).values, attributions.values)
    with pytest.raises(InvalidArgumentError, match="^labels_dir:"):
        explainer.fit(x, labels_dir=tmp_path / "labels", progress=False)
