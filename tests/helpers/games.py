"""Random cooperative games for the tests, and textbook solution concepts written from scratch.

Nothing here imports stochamort: the expected values the tests compare against are computed
independently of the code under test.

A game with ``d`` players is stored as a full value table of shape ``(n_points, 2^d, n_outputs)``;
entry ``s`` is the value of the coalition that holds player ``i`` iff bit ``i`` of ``s`` is set.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

DISTRIBUTIONS = ("shapley", "banzhaf", "leverage")


@dataclass(frozen=True)
class Game:
    """A batch of ``n_points`` games on the same ``d`` players with ``n_outputs`` outputs."""

    table: NDArray[np.float64]

    @property
    def n_points(self) -> int:
        return int(self.table.shape[0])

    @property
    def n_players(self) -> int:
        return int(self.table.shape[1]).bit_length() - 1

    @property
    def n_outputs(self) -> int:
        return int(self.table.shape[2])

    @property
    def null(self) -> NDArray[np.float64]:
        """v(empty set), ``(n_points, n_outputs)``."""
        return self.table[:, 0, :].copy()

    @property
    def grand(self) -> NDArray[np.float64]:
        """v(all players), ``(n_points, n_outputs)``."""
        return self.table[:, -1, :].copy()

    def values_at(self, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
        """``v`` of each mask: masks ``(n_points, n_samples, d)`` -> ``(n_points, n_samples, n_outputs)``."""
        index = coalition_index(masks)
        out = np.empty(index.shape + (self.n_outputs,))
        for p in range(index.shape[0]):
            out[p] = self.table[p][index[p]]
        return out

    def chain_values(self, permutations: NDArray[np.int64]) -> NDArray[np.float64]:
        """``v({perm[0..j)})`` for ``j = 0..d``: ``(n_points, n_perm, d + 1, n_outputs)``."""
        n_points, n_perm, d = permutations.shape
        out = np.empty((n_points, n_perm, d + 1, self.n_outputs))
        for p in range(n_points):
            for r in range(n_perm):
                s = 0
                out[p, r, 0] = self.table[p, s]
                for j, player in enumerate(permutations[p, r]):
                    s |= 1 << int(player)
                    out[p, r, j + 1] = self.table[p, s]
        return out

    def repeat_points(self, point: int, count: int) -> Game:
        """A game made of ``count`` copies of point ``point``."""
        return Game(np.repeat(self.table[point : point + 1], count, axis=0))


def coalition_index(masks: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Row index of each mask in the value table (bit ``i`` <=> player ``i``); masks ``(..., d)``."""
    masks = np.asarray(masks, dtype=bool)
    powers = np.array([1 << i for i in range(masks.shape[-1])], dtype=np.int64)
    return (masks.astype(np.int64) * powers).sum(axis=-1)


def all_masks(d: int) -> NDArray[np.bool_]:
    """All ``2^d`` coalitions as masks, in table order."""
    return np.array([[(s >> i) & 1 == 1 for i in range(d)] for s in range(2**d)], dtype=bool).reshape(2**d, d)


def subset_probability(size: int, d: int, distribution: str) -> float:
    """P(S) for one coalition of the given size, written from the definitions of the spec."""
    if distribution == "banzhaf":
        return 0.5**d
    if size == 0 or size == d:
        return 0.0
    if distribution == "shapley":
        total = sum(1.0 / (k * (d - k)) for k in range(1, d))
        p_size = 1.0 / (size * (d - size)) / total
    elif distribution == "leverage":
        p_size = 1.0 / (d - 1)
    else:
        raise AssertionError(distribution)
    return p_size / math.comb(d, size)


# --------------------------------------------------------------------------------------------
# strategies


@st.composite
def games(
    draw: st.DrawFn,
    *,
    min_players: int = 2,
    max_players: int = 8,
    max_points: int = 3,
    max_outputs: int = 3,
) -> Game:
    """Random games: values in [-10, 10] from a numpy Generator seeded by hypothesis.

    A few flavours broaden the search: continuous values, small integers (many ties and exact
    cancellations) and sparse tables (most coalitions worth 0).
    """
    d = draw(st.integers(min_players, max_players), label="n_players")
    n_points = draw(st.integers(1, max_points), label="n_points")
    n_outputs = draw(st.integers(1, max_outputs), label="n_outputs")
    flavour = draw(st.sampled_from(["uniform", "integer", "sparse"]), label="flavour")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    shape = (n_points, 2**d, n_outputs)
    if flavour == "uniform":
        table = rng.uniform(-10.0, 10.0, shape)
    elif flavour == "integer":
        table = rng.integers(-3, 4, shape).astype(np.float64)
    else:
        table = rng.uniform(-10.0, 10.0, shape) * (rng.random(shape) < 0.2)
    return Game(table)


@dataclass(frozen=True)
class AdditiveGame:
    """``v(S) = c + sum_{i in S} a_i`` (per point and output)."""

    game: Game
    intercept: NDArray[np.float64]  # (n_points, n_outputs)
    slopes: NDArray[np.float64]  # (n_points, d, n_outputs)


@st.composite
def additive_games(
    draw: st.DrawFn, *, min_players: int = 2, max_players: int = 8, max_points: int = 3, max_outputs: int = 3
) -> AdditiveGame:
    """Random additive games; every Shapley/Banzhaf value equals the slope ``a_i``."""
    d = draw(st.integers(min_players, max_players), label="n_players")
    n_points = draw(st.integers(1, max_points), label="n_points")
    n_outputs = draw(st.integers(1, max_outputs), label="n_outputs")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    intercept = rng.uniform(-10.0, 10.0, (n_points, n_outputs))
    slopes = rng.uniform(-10.0, 10.0, (n_points, d, n_outputs))
    table = np.empty((n_points, 2**d, n_outputs))
    for s in range(2**d):
        members = [i for i in range(d) if (s >> i) & 1]
        table[:, s] = intercept + slopes[:, members].sum(axis=1)
    return AdditiveGame(Game(table), intercept, slopes)


# --------------------------------------------------------------------------------------------
# textbook solution concepts


def textbook_shapley_permutations(game: Game) -> NDArray[np.float64]:
    """Shapley values by their definition: average marginal contribution over all ``d!`` orders."""
    d = game.n_players
    if d > 6:
        raise ValueError("enumerating d! orders is only meant for d <= 6")
    phi = np.zeros((game.n_points, d, game.n_outputs))
    for order in itertools.permutations(range(d)):
        before = 0
        for player in order:
            after = before | (1 << player)
            phi[:, player] += game.table[:, after] - game.table[:, before]
            before = after
    return phi / math.factorial(d)


def textbook_semivalue(game: Game, weight_of_size: list[float]) -> NDArray[np.float64]:
    """``phi_i = sum_{S not containing i} w(|S|) (v(S + i) - v(S))``, looping over subsets of the others."""
    d = game.n_players
    phi = np.zeros((game.n_points, d, game.n_outputs))
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for size in range(d):
            for subset in itertools.combinations(others, size):
                s = sum(1 << j for j in subset)
                phi[:, i] += weight_of_size[size] * (game.table[:, s | (1 << i)] - game.table[:, s])
    return phi


def textbook_shapley_subsets(game: Game) -> NDArray[np.float64]:
    """Shapley values by the subset formula with weights ``|S|! (d - |S| - 1)! / d!``."""
    d = game.n_players
    weights = [math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)]
    return textbook_semivalue(game, weights)


def textbook_banzhaf(game: Game) -> NDArray[np.float64]:
    """Banzhaf values: the plain average marginal contribution over the ``2^(d-1)`` subsets of the others."""
    d = game.n_players
    return textbook_semivalue(game, [1.0 / 2 ** (d - 1)] * d)
