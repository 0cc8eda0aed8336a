"""The regression-adjusted Monte Carlo oracles on a numpy tanh-MLP game: unbiased over independent
draws, calibrated standard errors, exact on a census, budgets, stopping rules, batching, errors.

Independent draws come from repeating one point many times (every point gets its own stream), so
each statistical test is one seeded call."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import stochamort as sm
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.games import FunctionGame, Game
from stochamort.oracles import Oracle, RegressionBanzhaf, RegressionSemivalue, RegressionShapley, StoppingRule

D = 6


class CountingGame(FunctionGame):
    """A tanh MLP on masked inputs (two outputs); counts the evaluations of each point."""

    def __init__(self, x: np.ndarray, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        d = x.shape[1]
        w1, b1, w2 = rng.normal(size=(d, 8)) * 1.5, rng.normal(size=8) * 0.5, rng.normal(size=(8, 2))
        self.x = x
        self.calls = np.zeros(x.shape[0], dtype=np.int64)

        def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
            np.add.at(self.calls, points, masks.shape[1])
            return np.tanh((masks * x[points][:, None, :]) @ w1 + b1) @ w2

        super().__init__(fn, x.shape[0], d, 2)

    def table(self) -> np.ndarray:
        coalitions = sm.enumerate_coalitions(self.n_players)
        return self._fn(np.broadcast_to(coalitions, (self.n_points, *coalitions.shape)).copy(), np.arange(self.n_points))


def repeated_game(n_copies: int, n_points: int = 2, seed: int = 0) -> CountingGame:
    x = np.random.default_rng(100 + seed).normal(size=(n_points, D))
    return CountingGame(np.repeat(x, n_copies, axis=0), seed=seed)


def exact_of(oracle: Oracle, game: CountingGame) -> np.ndarray:
    weights = oracle._weights(game.n_players)  # type: ignore[attr-defined]
    return sm.exact_semivalue(game.table(), weights).values


ORACLES: dict[str, Any] = {
    "RegressionShapley": lambda b: RegressionShapley(budget=b),
    "RegressionShapley-unpaired": lambda b: RegressionShapley(budget=b, paired=False),
    "RegressionBanzhaf": lambda b: RegressionBanzhaf(budget=b),
    "RegressionSemivalue": lambda b: RegressionSemivalue(budget=b, alpha=4.0, beta=1.0),
}


@pytest.mark.parametrize("name", list(ORACLES))
def test_unbiased_over_independent_draws(name: str) -> None:
    """Budget 20 (d = 6): 600 independent draws of each of 2 points; the mean is within 4 standard
    errors of the exact value for every player and output."""
    oracle = ORACLES[name](20)
    assert oracle.unbiased
    game = repeated_game(600)
    est = oracle(game, seed=1, progress=False)
    exact = exact_of(oracle, game)
    values = est.values.reshape(2, 600, D, 2)
    spread = values.std(axis=1, ddof=1) / np.sqrt(600)
    assert spread.min() > 1e-6  # really random at this budget
    z = np.abs(values.mean(axis=1) - exact.reshape(2, 600, D, 2)[:, 0]) / spread
    assert z.max() < 4.0, z.max()


@pytest.mark.parametrize("name", list(ORACLES))
def test_standard_errors_are_calibrated(name: str) -> None:
    """Budget 48 (d = 6, of 64 coalitions): 300 draws × 2 points × 6 players × 2 outputs nominal 95 % intervals, of
    which 85–99 % cover the exact value."""
    oracle = ORACLES[name](48)
    game = repeated_game(300, seed=2)
    est = oracle(game, seed=3, progress=False)
    lower, upper = est.confidence_interval(0.95)
    exact = exact_of(oracle, game)
    coverage = float(np.mean((lower <= exact) & (exact <= upper)))
    assert 0.85 <= coverage <= 0.99, coverage


def test_a_budget_that_covers_every_coalition_is_exact() -> None:
    game = repeated_game(1)
    for oracle in (RegressionShapley(budget=2**D), RegressionBanzhaf(budget=500)):
        est = oracle(game, progress=False)
        np.testing.assert_allclose(est.values, exact_of(oracle, game), atol=1e-12)
        np.testing.assert_array_equal(est.std_errors, 0.0)
        np.testing.assert_array_equal(est.n_evaluations, 2**D)


@pytest.mark.parametrize("budget,expected", [(10, 10), (33, 32), (48, 48), (61, 61)])
def test_the_budget_counts_every_evaluation(budget: int, expected: int) -> None:
    """v(∅) and v(all) included; an odd budget loses one evaluation to pairing (61 is unpaired:
    large enough for the pairwise surrogate)."""
    game = repeated_game(2)
    est = RegressionShapley(budget=budget)(game, progress=False)
    np.testing.assert_array_equal(est.n_evaluations, expected)
    np.testing.assert_array_equal(game.calls, est.n_evaluations)


def test_paired_by_default_unpaired_once_a_pairwise_surrogate_fits() -> None:
    game = repeated_game(2)
    small, large = RegressionShapley(budget=40)(game, progress=False), RegressionShapley(budget=400)(game, progress=False)
    np.testing.assert_array_equal(small.extras["degree"], 1)
    np.testing.assert_array_equal(large.extras["degree"], 2)  # only an unpaired design chooses degree 2
    # A Beta semivalue that is not symmetric may use pairwise terms under pairing too.
    forced = RegressionSemivalue(budget=400, alpha=4.0, paired=True)(game, progress=False)
    np.testing.assert_array_equal(forced.extras["degree"], 2)


def test_stopping_rule_meets_the_target_or_the_cap() -> None:
    game = repeated_game(3, n_points=3, seed=4)
    base = RegressionShapley(budget=40)
    one_round = base(game, progress=False)
    target = float(np.median(one_round.std_errors.reshape(9, -1).max(axis=1))) / 2
    cap = 400
    est = dataclasses.replace(base, stopping=StoppingRule(target_std_error=target, max_evaluations=cap))(game, progress=False)
    worst = est.std_errors.reshape(9, -1).max(axis=1)
    assert np.all((worst <= target) | (est.n_evaluations > cap - 38)), (worst, est.n_evaluations)
    assert est.n_evaluations.max() <= cap and est.n_evaluations.max() > 40
    np.testing.assert_array_equal(game.calls, one_round.n_evaluations + est.n_evaluations)
    # Later rounds add fresh units: the estimate stays unbiased (checked on many draws).
    many = repeated_game(400, n_points=1, seed=5)
    rule = StoppingRule(target_std_error=1e-9, max_evaluations=60)
    stopped = RegressionShapley(budget=24, stopping=rule)(many, seed=2, progress=False)
    assert np.all(stopped.n_evaluations > 24)
    spread = stopped.values.std(axis=0, ddof=1) / np.sqrt(400)
    z = np.abs(stopped.values.mean(axis=0) - exact_of(RegressionShapley(budget=24), many)[0]) / spread
    assert z.max() < 4.0, z.max()


def test_split_games_equal_one_game() -> None:
    x = np.random.default_rng(9).normal(size=(5, D))
    oracle = RegressionShapley(budget=48)
    whole = oracle(CountingGame(x), seed=3, progress=False)
    first = oracle(CountingGame(x[:2]), seed=3, progress=False)
    rest = oracle(CountingGame(x[2:]), seed=3, point_offset=2, progress=False)
    np.testing.assert_array_equal(whole.values, np.concatenate([first.values, rest.values]))
    np.testing.assert_array_equal(whole.std_errors, np.concatenate([first.std_errors, rest.std_errors]))


@pytest.mark.parametrize(
    "oracle,argument",
    [
        (RegressionShapley(budget=5), "budget"),
        (RegressionShapley(budget=0), "budget"),
        (RegressionShapley(budget=2.5), "budget"),  # type: ignore[arg-type]
        (RegressionShapley(budget=40, folds=30), "budget"),
        (RegressionShapley(budget=40, paired="yes"), "paired"),  # type: ignore[arg-type]
        (RegressionShapley(budget=40, ridge=-1.0), "ridge"),
        (RegressionSemivalue(budget=40, alpha=0.0), "alpha"),
    ],
)
def test_bad_settings_are_refused_with_the_argument_named(oracle: Oracle, argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        oracle(repeated_game(1), progress=False)
    assert str(info.value).startswith(f"{argument}: "), str(info.value)


def test_too_few_units_for_the_folds_is_a_budget_error() -> None:
    with pytest.raises(InsufficientSamplesError, match="^budget: 40 evaluations"):
        RegressionShapley(budget=40, folds=30)(repeated_game(1), progress=False)


def test_one_player_is_refused() -> None:
    game: Game = FunctionGame(lambda m, p: m.astype(float), 2, 1, 1)
    with pytest.raises(InvalidArgumentError, match="^game: RegressionShapley needs at least 2 players"):
        RegressionShapley(budget=10)(game, progress=False)


def test_targets_and_settings() -> None:
    assert (RegressionShapley.target, RegressionBanzhaf.target, RegressionSemivalue.target) == ("shapley", "banzhaf", "beta")
    assert RegressionShapley(budget=64).settings() == {
        "oracle": "RegressionShapley", "stopping": None, "budget": 64, "paired": None, "folds": None, "degree": None, "ridge": 1e-3,
    }
