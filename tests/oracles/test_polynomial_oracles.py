"""The PolySHAP and OddSHAP oracles on numpy games: convergence to the exact values within their
standard errors, exactness on a census and on 3-additive games, budget errors that name the
budget, refused settings, determinism and batching of points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.games import FunctionGame
from stochamort.oracles import Exact, OddSHAP, PolySHAP, StoppingRule


def mlp(n_points: int, d: int, seed: int) -> FunctionGame:
    """A tanh network on masked inputs (interactions of every order)."""
    rng = np.random.default_rng(seed)
    w1, b1, w2 = rng.normal(size=(16, d)) * 2 / np.sqrt(d), rng.normal(size=16) * 0.5, rng.normal(size=(16, 2)) / 4
    x = rng.normal(size=(n_points, d))

    def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        return np.asarray(np.tanh((masks * x[points][:, None, :]) @ w1.T + b1) @ w2)

    return FunctionGame(fn, n_points, d, n_outputs=2)


def three_additive(n_points: int, d: int, seed: int) -> FunctionGame:
    rng = np.random.default_rng(seed)
    terms = [list(t) for k in (1, 2, 3) for t in itertools.combinations(range(d), k)]
    coef = rng.normal(size=(n_points, len(terms)))

    def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        features = np.stack([masks[..., t].all(axis=-1) for t in terms], axis=-1)
        return np.asarray(np.einsum("pst,pt->ps", features, coef[points]))[..., None]

    return FunctionGame(fn, n_points, d)


@pytest.mark.parametrize("oracle", [OddSHAP(budget=400), PolySHAP(budget=400, order=3), PolySHAP(budget=400, paired=False)], ids=repr)
def test_estimates_land_within_six_standard_errors(oracle: OddSHAP | PolySHAP) -> None:
    game = mlp(6, 10, seed=1)
    exact = Exact()(game, progress=False).values
    est = oracle(game, seed=3, progress=False)
    assert (np.abs(est.values - exact) <= 6 * est.std_errors + 1e-9).all()
    assert (est.n_evaluations == 400).all()
    assert oracle.target == "shapley" and not oracle.unbiased


def test_a_budget_covering_every_coalition_is_exact() -> None:
    game = mlp(3, 7, seed=2)
    exact = Exact()(game, progress=False).values
    for oracle in (OddSHAP(budget=500), PolySHAP(budget=128)):
        est = oracle(game, progress=False)
        np.testing.assert_allclose(est.values, exact, atol=1e-10)
        assert (est.std_errors == 0).all() and (est.n_evaluations == 128).all()


def test_oddshap_is_exact_for_three_additive_games() -> None:
    game = three_additive(4, 8, seed=3)
    exact = Exact()(game, progress=False).values
    est = OddSHAP(budget=2 + 2 * 97)(game, progress=False)
    np.testing.assert_allclose(est.values, exact, atol=1e-8)
    np.testing.assert_allclose(est.std_errors, 0.0, atol=1e-8)


def test_too_small_budgets_name_the_budget() -> None:
    game = mlp(2, 10, seed=4)
    with pytest.raises(InsufficientSamplesError, match=r"^budget: OddSHAP needs at least 26 evaluations"):
        OddSHAP(budget=25)(game, progress=False)
    # Asking for every term of order <= 5 on a small design leaves no degrees of freedom.
    with pytest.raises(InsufficientSamplesError, match=r"^budget: 60 evaluations per point were not enough for point 0") as info:
        OddSHAP(budget=60, order=5, max_terms=1000)(game, progress=False)
    assert info.value.argument == "budget"


def test_bad_settings_are_refused() -> None:
    game = mlp(2, 6, seed=5)
    for oracle, name in [
        (OddSHAP(budget=100, order=0), "order"),
        (PolySHAP(budget=100, max_terms=-1), "max_terms"),
        (OddSHAP(budget=0), "budget"),
        (OddSHAP(budget=100, stopping=StoppingRule(target_std_error=0.1)), "sampling"),
        (OddSHAP(budget=100, sampling="grid"), "sampling"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(InvalidArgumentError, match=f"^{name}:"):
            oracle(game, progress=False)
    with pytest.raises(InvalidArgumentError, match="^game: OddSHAP needs at least 3 players"):
        OddSHAP(budget=100)(mlp(2, 2, seed=5), progress=False)


def test_same_seed_same_estimate_for_any_batching() -> None:
    whole_game = mlp(5, 9, seed=6)
    oracle = OddSHAP(budget=200)
    whole = oracle(whole_game, seed=11, progress=False)
    np.testing.assert_array_equal(whole.values, oracle(whole_game, seed=11, progress=False).values)
    assert not np.array_equal(whole.values, oracle(whole_game, seed=12, progress=False).values)
    tail = FunctionGame(lambda m, p: whole_game.evaluate(m, p + 2), 3, 9, n_outputs=2)
    part = oracle(tail, seed=11, point_offset=2, progress=False)
    np.testing.assert_array_equal(part.values, whole.values[2:])
    np.testing.assert_array_equal(part.std_errors, whole.std_errors[2:])
    assert oracle.settings() == {
        "oracle": "OddSHAP", "budget": 200, "order": 3, "max_terms": None, "sampling": "design", "stopping": None
    }


def test_iid_draws_serve_a_stopping_target() -> None:
    """With ``sampling="iid"`` the budget is spent in rounds (weights 1/(n·P(S)) over all rounds so
    far) until every standard error meets the target."""
    game = mlp(4, 8, seed=7)
    exact = Exact()(game, progress=False).values
    rule = StoppingRule(target_std_error=2e-3, max_evaluations=20_000)
    est = OddSHAP(budget=150, sampling="iid", stopping=rule)(game, seed=1, progress=False)
    assert (est.std_errors.reshape(4, -1).max(axis=1) <= 2e-3).all()
    assert (est.n_evaluations > 150).all() and ((est.n_evaluations - 2) % 148 == 0).all()
    assert len(set(est.n_evaluations)) > 1  # points stop in different rounds
    assert (np.abs(est.values - exact) <= 6 * est.std_errors + 1e-9).all()
