"""Permutation sampling and exact enumeration as oracles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from stochamort import estimators
from stochamort._checks import as_bool
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, TooManyPlayersError
from stochamort.results import Estimate
from stochamort.games.base import Game
from stochamort.oracles.base import MAX_CHUNK_CELLS, Oracle, StoppingRule, global_points
from stochamort.sampling import enumerate_coalitions, permutation_chain_masks, sample_permutations
from stochamort.weights import semivalue_weights

__all__ = ["Permutation", "Exact"]


@dataclass(frozen=True)
class Permutation(Oracle):
    """Shapley values by permutation sampling (Castro et al. 2009): marginal contributions along orders.

    Each order costs d − 1 evaluations (v(∅) and v(all) are shared), so a round uses
    ``(budget − 2) // (d − 1)`` orders per point (even when ``antithetic``: each order is followed
    by its reverse). **Unbiased**; antithetic pairs make it exact for games with at most pairwise
    interactions. Standard errors from the running variance over orders (or pairs).
    """

    budget: int
    antithetic: bool = True
    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = True

    def _orders_per_round(self, d: int) -> int:
        if d == 1:
            return 2 if self.antithetic else 1
        orders = (self.budget - 2) // (d - 1)
        return orders - orders % 2 if self.antithetic else orders

    def _validate(self, game: Game) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise InvalidArgumentError(f"budget: must be a positive integer, got {self.budget!r}")
        as_bool("antithetic", self.antithetic)  # as the core would, before it is used below
        d = game.n_players
        needed = 2 if self.antithetic else 1
        if self._orders_per_round(d) < needed:
            raise InsufficientSamplesError(
                f"budget: {needed} order(s) of {d} players need {2 + needed * (d - 1)} evaluations per point, got {self.budget}"
            )

    def _cells_per_point(self, game: Game) -> int:
        d = game.n_players
        return self._orders_per_round(d) * (d + 1) * d

    def _estimate_chunk(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int) -> Estimate:
        n, d = len(points), game.n_players
        orders = self._orders_per_round(d)
        per_round = orders * (d - 1)
        rule = self.stopping or StoppingRule()
        rounds = rule.limit(max(per_round, 1), 2)
        null, grand = game.endpoints(points)
        result: Estimate | None = None
        active = np.arange(n)
        for r in range(rounds):
            perms = sample_permutations(
                n,
                orders,
                d,
                antithetic=self.antithetic,
                seed=seed,
                point_offset=point_offset + int(points[0]),
                sample_offset=r * orders,
            )[active]
            inner = permutation_chain_masks(perms, interior=True).reshape(len(active), orders * (d - 1), d)
            chain_values = np.empty((len(active), orders, d + 1, game.n_outputs))
            chain_values[:, :, 0] = null[active, None]
            chain_values[:, :, d] = grand[active, None]
            if d > 1:
                chain_values[:, :, 1:d] = game.evaluate(inner, points[active]).reshape(len(active), orders, d - 1, -1)
            with global_points(point_offset + points[active]):
                est = estimators.permutation_shapley(perms, chain_values, antithetic=self.antithetic)
            if result is None:
                result = est
            else:
                previous = _subset(result, active)
                merged = estimators.merge_permutation_estimates(previous, est)
                result = _assign(result, active, merged)
            result.n_evaluations[active] = 2 + (r + 1) * per_round
            active = active[~rule.done(result.std_errors[active], None if result.dof is None else result.dof[active])]
            if active.size == 0:
                break
        assert result is not None
        return result


def _subset(est: Estimate, rows: NDArray[np.int64]) -> Estimate:
    return Estimate(
        est.values[rows], est.std_errors[rows], est.n_evaluations[rows], {k: v[rows] for k, v in est.extras.items()}
    )


def _assign(est: Estimate, rows: NDArray[np.int64], part: Estimate) -> Estimate:
    est.values[rows] = part.values
    est.std_errors[rows] = part.std_errors
    for name, array in part.extras.items():
        est.extras[name][rows] = array
    return est


@dataclass(frozen=True)
class Exact(Oracle):
    """Exact semivalues by evaluating all 2^d coalitions of each point (d ≤ 20).

    ``kind`` is ``"shapley"``, ``"banzhaf"`` or ``"beta"`` (Beta(alpha, beta) Shapley). Standard
    errors are zero. Coalitions are evaluated in slices so memory stays bounded.
    """

    kind: Literal["shapley", "banzhaf", "beta"] = "shapley"
    alpha: float = 1.0
    beta: float = 1.0
    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = True

    def _validate(self, game: Game) -> None:
        if game.n_players > 20:
            raise TooManyPlayersError(f"game: exact enumeration supports at most 20 players, got {game.n_players}")
        semivalue_weights(game.n_players, self.kind, alpha=self.alpha, beta=self.beta)

    def _cells_per_point(self, game: Game) -> int:
        return (1 << game.n_players) * game.n_players

    def _estimate_chunk(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int) -> Estimate:
        d, n = game.n_players, len(points)
        coalitions = enumerate_coalitions(d)
        table = np.empty((n, 1 << d, game.n_outputs))
        step = max(1, MAX_CHUNK_CELLS // max(1, n * d))
        for start in range(0, 1 << d, step):
            block = coalitions[start : start + step]
            table[:, start : start + step] = game.evaluate(np.broadcast_to(block, (n, *block.shape)), points)
        weights = semivalue_weights(d, self.kind, alpha=self.alpha, beta=self.beta)
        with global_points(point_offset + points):
            return estimators.exact_semivalue(table, weights)
