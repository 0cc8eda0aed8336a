"""Oracles given what a hostile or careless user passes: huge budgets, numpy scalars, one-player
games, games whose finite values overflow the estimators, merges of non-estimates."""

from __future__ import annotations

import numpy as np
import pytest

from stochamort import estimators
from stochamort.errors import InvalidArgumentError, NonFiniteError, RequestTooLargeError
from stochamort.games import FunctionGame
from stochamort.oracles import KernelSHAP, MSRBanzhaf, Permutation

D = 6


def additive(n_players: int = D, scale: float = 1.0) -> FunctionGame:
    return FunctionGame(lambda m, p: scale * m.sum(axis=2, keepdims=True) * 1.0, 3, n_players)


@pytest.mark.parametrize("oracle", [Permutation(budget=10**12), KernelSHAP(budget=10**12, sampling="iid"), MSRBanzhaf(budget=10**13)], ids=repr)
def test_a_budget_too_large_for_memory_is_refused_by_name_before_sampling(oracle: object) -> None:
    with pytest.raises(RequestTooLargeError, match=r"^budget: .* more than the memory limit") as info:
        oracle(additive(), progress=False)  # type: ignore[operator]
    assert isinstance(info.value, MemoryError)


def test_a_budget_above_the_census_is_spent_on_the_census() -> None:
    est = KernelSHAP(budget=10**12)(additive(), progress=False)  # 2^6 coalitions: no memory needed
    np.testing.assert_allclose(est.values, 1.0, rtol=1e-12)


@pytest.mark.parametrize("budget", [np.uint8(200), np.int16(30000), np.uint64(64)])
def test_numpy_integer_budgets_behave_as_python_ints(budget: np.integer) -> None:
    for cls in (KernelSHAP, MSRBanzhaf, Permutation):
        ours, plain = cls(budget=budget), cls(budget=int(budget))
        assert ours == plain and type(ours.budget) is int
        np.testing.assert_array_equal(ours(additive(), seed=1, progress=False).values, plain(additive(), seed=1, progress=False).values)


@pytest.mark.parametrize("budget", [True, 2.5, "64", 0])
def test_budgets_that_are_not_positive_integers_are_refused(budget: object) -> None:
    with pytest.raises(InvalidArgumentError, match="^budget"):
        KernelSHAP(budget=budget)(additive(), progress=False)  # type: ignore[arg-type]


def test_one_player_games_name_the_game() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^game: KernelSHAP needs at least 2 players, the game has 1"):
        KernelSHAP(budget=64)(additive(1), progress=False)
    np.testing.assert_allclose(Permutation(budget=64)(additive(1), progress=False).values, 1.0)


def test_finite_values_whose_differences_overflow_are_refused_not_returned_as_inf() -> None:
    # v(S) = ±1e308 by the parity of |S|: every marginal contribution is ±2e308 = inf in float64.
    game = FunctionGame(lambda m, p: np.where(m.sum(axis=2, keepdims=True) % 2 == 1, 1e308, -1e308), 2, D)
    for oracle in (Permutation(budget=2 + 4 * (D - 1)), MSRBanzhaf(budget=64)):
        with pytest.raises(NonFiniteError, match=r"^values: the estimate overflowed float64 at point\(s\) 0, 1"):
            oracle(game, progress=False)


def test_merging_what_is_not_a_permutation_estimate_is_refused_by_name() -> None:
    perms = np.array([[[0, 1, 2], [2, 1, 0]]])
    chains = np.cumsum(np.ones((1, 2, 4, 1)), axis=2)
    est = estimators.permutation_shapley(perms, chains, antithetic=True)
    with pytest.raises(InvalidArgumentError, match="^first: must be an Estimate"):
        estimators.merge_permutation_estimates(None, est)  # type: ignore[arg-type]
    broken = estimators.permutation_shapley(perms, chains, antithetic=True)
    broken.values[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="^second: its values hold NaN"):
        estimators.merge_permutation_estimates(est, broken)
    merged = estimators.merge_permutation_estimates(est, est)
    assert merged.dof is not None and merged.dof[0] == 1.0  # two antithetic pairs
