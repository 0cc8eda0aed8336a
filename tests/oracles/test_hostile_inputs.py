"""Oracles given what a hostile or careless user passes: huge budgets, numpy scalars, one-player
games, games whose finite values overflow the estimators, merges of non-estimates."""

from __future__ import annotations

import numpy as np
import pytest

from stochamort import estimators, sampling
from stochamort.errors import InvalidArgumentError, NonFiniteError, RequestTooLargeError
from stochamort.games import FunctionGame
from stochamort.oracles import KernelSHAP, MSRBanzhaf, Permutation
from stochamort.results import Estimate

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
    other = estimators.permutation_shapley(np.array([[[1, 0, 2], [2, 0, 1]]]), chains, antithetic=True)
    merged = estimators.merge_permutation_estimates(est, other)
    assert merged.dof is not None and merged.dof[0] == 1.0  # two antithetic pairs
    with pytest.raises(InvalidArgumentError, match="^second: repeats first's permutations"):
        estimators.merge_permutation_estimates(est, est)


def test_merging_an_estimate_with_a_copy_of_itself_is_refused() -> None:
    """Found by a new user: the same draws merged twice halved the variance with no new data."""
    perms = sampling.sample_permutations(3, 4, 5, antithetic=True, seed=1)
    chains = np.cumsum(np.random.default_rng(0).normal(size=(3, 4, 6, 1)), axis=2)
    est = estimators.permutation_shapley(perms, chains, antithetic=True)
    copy = Estimate(est.values.copy(), est.std_errors.copy(), est.n_evaluations.copy(), {k: v.copy() for k, v in est.extras.items()})
    with pytest.raises(InvalidArgumentError, match="^second: repeats first's permutations"):
        estimators.merge_permutation_estimates(est, copy)
    later = estimators.permutation_shapley(sampling.sample_permutations(3, 4, 5, antithetic=True, seed=2), chains, antithetic=True)
    assert estimators.merge_permutation_estimates(est, later).dof.tolist() == [3.0, 3.0, 3.0]


def test_progress_must_be_a_flag() -> None:
    """Found by a new user: progress="no" (whose truth value is True) showed a progress bar."""
    from stochamort.errors import InvalidDTypeError
    from stochamort.valuation import FunctionUtility, TMCShapley

    game = FunctionGame(lambda m, p: m.sum(axis=2, keepdims=True) * 1.0, 2, 3)
    for bad in ("no", None, [True]):
        with pytest.raises(InvalidDTypeError, match="^progress: must be True or False"):
            Permutation(budget=10)(game, progress=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidDTypeError, match="^progress: must be True or False"):
            TMCShapley(n_permutations=2)(FunctionUtility(lambda c: c.sum(axis=1) * 1.0, 4), progress=bad)  # type: ignore[arg-type]
    assert Permutation(budget=10)(game, progress=np.False_).n_points == 2  # numpy bools and ints are flags
    assert Permutation(budget=10)(game, progress=0).n_points == 2


def test_valuation_utilities_whose_differences_overflow_are_refused() -> None:
    """Found by the long fuzz run: TMCShapley and BetaShapley returned NaN values with zero
    standard errors for finite utilities ±1e308 apart; DistributionalShapley warned of overflow."""
    from stochamort.valuation import BetaShapley, DistributionalShapley, FunctionUtility, TMCShapley

    utility = FunctionUtility(lambda c: np.where(c.sum(axis=1) % 2 == 1, 1e308, -1e308), 4)
    for oracle in (TMCShapley(n_permutations=2), BetaShapley(n_permutations=2), DistributionalShapley(n_contributions=2, min_size=0, max_size=3)):
        with pytest.raises(NonFiniteError, match=r"^utility: its values differ by more than float64 holds"):
            oracle(utility, progress=False)
    chains = np.array([[-1e308, 1e308, -1e308, 1e308, -1e308]] * 2)
    with pytest.raises(NonFiniteError, match=r"^chain_values: consecutive values differ .* data point\(s\) 0, 1, 2, 3"):
        estimators.permutation_data_values(np.array([[0, 1, 2, 3], [3, 2, 1, 0]]), chains)
