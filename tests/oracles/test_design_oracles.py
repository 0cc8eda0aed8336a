"""The KernelSHAP oracles on designs without repeats (``sampling="design"``, the default): no
coalition evaluated twice, the census when the budget covers it, more accurate than i.i.d. draws at
the same budget, honest standard errors, determinism, and the unbiased one unbiased."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from stochamort.errors import InvalidArgumentError
from stochamort.games import BaselineMasker, FunctionGame, Game, MaskedModel
from stochamort.oracles import Exact, KernelSHAP, LeverageSHAP, Oracle, SGDShapley, StoppingRule, UnbiasedKernelSHAP
from tests.helpers.torch_models import mlp, randn, torch_single_thread  # noqa: F401  (autouse fixture)

D = 10
DESIGN_ORACLES: dict[str, Any] = {
    "KernelSHAP": lambda budget, **kw: KernelSHAP(budget=budget, **kw),
    "KernelSHAP-unpaired": lambda budget, **kw: KernelSHAP(budget=budget, paired=False, **kw),
    "UnbiasedKernelSHAP": lambda budget, **kw: UnbiasedKernelSHAP(budget=budget, **kw),
    "LeverageSHAP": lambda budget, **kw: LeverageSHAP(budget=budget, **kw),
}


def _factory(name: str) -> Any:
    return DESIGN_ORACLES[name]


def mlp_game(n_points: int, seed: int = 0) -> Game:
    model = mlp(D, seed=seed)
    return MaskedModel(model, BaselineMasker(randn(D, seed=seed + 1)), output="logits").bind(randn(n_points, D, seed=seed + 2))


def run(oracle: Oracle, game: Game, seed: int = 0, **kwargs: Any) -> Any:
    return oracle(game, seed=seed, progress=False, **kwargs)


def counting_game(table: np.ndarray) -> tuple[Game, list[list[bytes]]]:
    """A game on a table of values that records every coalition it evaluates, per point."""
    n_points, d = table.shape[0], table.shape[1].bit_length() - 1
    seen: list[list[bytes]] = [[] for _ in range(n_points)]
    bits = 1 << np.arange(d)

    def value(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        for rows, p in zip(masks, points):
            seen[int(p)].extend(m.tobytes() for m in rows)
        return table[points[:, None], (masks * bits).sum(axis=-1)][..., None]

    return FunctionGame(value, n_points, d), seen


@pytest.mark.parametrize("name", list(DESIGN_ORACLES))
def test_no_coalition_is_evaluated_twice(name: str) -> None:
    game, seen = counting_game(np.random.default_rng(1).normal(size=(3, 2**D)))
    est = run(_factory(name)(400), game, seed=2)
    for p in range(3):
        assert len(set(seen[p])) == len(seen[p]) == 400, "a coalition was evaluated twice"
    np.testing.assert_array_equal(est.n_evaluations, 400)


@pytest.mark.parametrize("name", list(DESIGN_ORACLES))
def test_a_budget_covering_every_coalition_gives_the_exact_values(name: str) -> None:
    game = mlp_game(2, seed=3)
    est = run(_factory(name)(2**D + 100), game)
    np.testing.assert_allclose(est.values, run(Exact(), game).values, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(est.n_evaluations, 2**D)
    np.testing.assert_array_equal(est.std_errors, 0.0)


@pytest.mark.parametrize("name", ["KernelSHAP", "LeverageSHAP", "UnbiasedKernelSHAP"])
def test_designs_beat_iid_draws_at_the_same_budget(name: str) -> None:
    game = mlp_game(24, seed=5)
    exact = run(Exact(), game).values
    factory = _factory(name)
    errors = {}
    for sampling in ("design", "iid"):
        squares = [((run(factory(300, sampling=sampling), game, seed=s).values - exact) ** 2).mean() for s in range(3)]
        errors[sampling] = float(np.mean(squares))
    assert errors["design"] < errors["iid"], errors


@pytest.mark.parametrize("name", list(DESIGN_ORACLES))
def test_standard_errors_cover_the_error(name: str) -> None:
    # Seeded: |error| / se over 2 x 10 x 2 attributions and 4 seeds; a z-score above 4 would be a
    # sign of standard errors far too small (tolerance: the 99.9th percentile of |z| may reach 4).
    game = mlp_game(2, seed=7)
    exact = run(Exact(), game).values
    z = np.concatenate([
        (np.abs(est.values - exact) / est.std_errors).ravel()
        for est in (run(_factory(name)(200), game, seed=s) for s in range(4))
    ])
    assert np.isfinite(z).all()
    assert np.quantile(z, 0.999) < 4.0 and np.median(z) < 1.5


def test_unbiased_kernelshap_on_designs_is_unbiased() -> None:
    # Mean over 400 seeds within 4 standard errors of that mean (a seeded statistical test).
    game = mlp_game(1, seed=9)
    exact = run(Exact(), game).values
    estimates = np.stack([run(UnbiasedKernelSHAP(budget=60), game, seed=s).values for s in range(400)])
    mean, se = estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(400)
    assert np.all(np.abs(mean - exact) <= 4 * se + 1e-12)


@pytest.mark.parametrize("name", list(DESIGN_ORACLES))
def test_designs_are_deterministic_and_split_by_points(name: str) -> None:
    oracle = _factory(name)(180)
    model, x, b = mlp(D, seed=11), randn(5, D, seed=12), randn(D, seed=13)
    family = MaskedModel(model, BaselineMasker(b), output="logits")
    whole = run(oracle, family.bind(x), seed=3)
    np.testing.assert_array_equal(whole.values, run(oracle, family.bind(x), seed=3).values)
    first, second = run(oracle, family.bind(x[:2]), seed=3), run(oracle, family.bind(x[2:]), seed=3, point_offset=2)
    np.testing.assert_allclose(np.concatenate([first.values, second.values]), whole.values, rtol=1e-12, atol=1e-14)
    assert not np.allclose(run(oracle, family.bind(x), seed=4).values, whole.values)


def test_a_stopping_target_needs_iid_sampling() -> None:
    rule = StoppingRule(target_std_error=0.01, max_evaluations=1000)
    with pytest.raises(InvalidArgumentError) as info:
        run(KernelSHAP(budget=100, stopping=rule), mlp_game(1))
    assert str(info.value).startswith("sampling:")
    run(KernelSHAP(budget=100, stopping=rule, sampling="iid"), mlp_game(1))
    with pytest.raises(InvalidArgumentError) as bad:
        run(KernelSHAP(budget=100, sampling="random"), mlp_game(1))  # type: ignore[arg-type]
    assert str(bad.value).startswith("sampling:")
    with pytest.raises(InvalidArgumentError) as sgd:
        run(SGDShapley(budget=100, sampling="design"), mlp_game(1))
    assert str(sgd.value).startswith("sampling:")
