"""Reference coalition distributions and samplers: one plain loop per point and per sample.

Randomness: draw ``j`` of point ``p`` comes from its own generator
``numpy.random.default_rng([seed, point_offset + p, sample_offset_units + j])``, so the output never
depends on how points are split into calls or samples into rounds. The streams are NOT bit-compatible with the Rust samplers;
only their distributions agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError
from stochamort._checks import (
    MAX_SEED,
    as_bool,
    as_int,
    as_integer_array,
    as_mask_array,
    check_distribution,
    check_enumeration_players,
    check_players_for_distribution,
)

__all__ = [
    "size_probabilities",
    "coalition_probabilities",
    "sample_coalitions",
    "sample_permutations",
    "permutation_chain_masks",
    "enumerate_coalitions",
    "sample_multisets",
]


def size_probabilities(n_players: int, distribution: str = "shapley") -> NDArray[np.float64]:
    """Probability ``P(|S| = k)`` of each coalition size ``k = 0..d`` under a distribution.

    * ``"shapley"``: ``P(k) ∝ 1 / (k (d - k))`` on ``1..d-1`` (needs ``d >= 2``).
    * ``"banzhaf"``: every player in independently with probability 1/2, ``P(k) = C(d, k) / 2^d``.
    * ``"leverage"``: ``P(k) = 1 / (d - 1)`` on ``1..d-1`` (needs ``d >= 2``).

    Args:
        n_players: number of players ``d``.
        distribution: ``"shapley"``, ``"banzhaf"`` or ``"leverage"``.

    Returns:
        float64 array of shape ``(d + 1,)`` summing to one.
    """
    distribution = check_distribution(distribution)
    d = as_int("n_players", n_players)
    check_players_for_distribution("n_players", d, distribution)
    probabilities = np.zeros(d + 1, dtype=np.float64)
    if distribution == "shapley":
        normaliser = sum(1.0 / (j * (d - j)) for j in range(1, d))
        for k in range(1, d):
            probabilities[k] = (1.0 / (k * (d - k))) / normaliser
    elif distribution == "banzhaf":
        for k in range(d + 1):
            probabilities[k] = math.comb(d, k) / 2.0**d
    else:
        for k in range(1, d):
            probabilities[k] = 1.0 / (d - 1)
    return probabilities


def coalition_probabilities(masks: NDArray[np.bool_], distribution: str = "shapley") -> NDArray[np.float64]:
    """Exact probability ``P(S)`` of each coalition under a distribution.

    Every distribution draws a size and then a uniform subset of that size, so
    ``P(S) = P(|S|) / C(d, |S|)``.

    Args:
        masks: bool array ``(..., d)``; the last axis holds the players.
        distribution: ``"shapley"``, ``"banzhaf"`` or ``"leverage"``.

    Returns:
        float64 array of shape ``masks.shape[:-1]``.
    """
    masks = as_mask_array("masks", masks, None)
    distribution = check_distribution(distribution)
    d = masks.shape[-1]
    check_players_for_distribution("masks", d, distribution)
    per_size = size_probabilities(d, distribution)
    flat = masks.reshape(-1, d)
    result = np.empty(flat.shape[0], dtype=np.float64)
    for row in range(flat.shape[0]):
        k = int(flat[row].sum())
        result[row] = per_size[k] / math.comb(d, k)
    return result.reshape(masks.shape[:-1])


def _check_seed(seed: Any, point_offset: Any, n_points: int) -> tuple[int, int]:
    seed = as_int("seed", seed, minimum=0, maximum=MAX_SEED)
    point_offset = as_int("point_offset", point_offset, minimum=0, maximum=MAX_SEED)
    if point_offset + n_points > MAX_SEED:
        raise InvalidArgumentError(f"point_offset: point_offset + n_points must be <= 2^64, got {point_offset}")
    return seed, point_offset


def _draw_offset(sample_offset: Any, grouped: bool, flag: str) -> int:
    """The index of the first draw (a pair counts once when ``grouped``)."""
    offset = as_int("sample_offset", sample_offset, minimum=0, maximum=MAX_SEED)
    if grouped and offset % 2 != 0:
        raise InvalidArgumentError(f"sample_offset: must be even when {flag}=True, got {offset}")
    return offset // 2 if grouped else offset


def sample_coalitions(
    n_points: int,
    n_samples: int,
    n_players: int,
    *,
    distribution: str = "shapley",
    paired: bool = False,
    seed: int = 0,
    point_offset: int = 0,
    sample_offset: int = 0,
) -> NDArray[np.bool_]:
    """Draw random coalitions for each point.

    Each draw picks a size ``k`` from :func:`size_probabilities` and then ``k`` distinct players
    uniformly. With ``paired=True`` only ``n_samples / 2`` coalitions are drawn; row ``2j + 1`` is
    the complement of row ``2j``.

    Args:
        n_points: number of points (>= 0).
        n_samples: coalitions per point (>= 0; even when ``paired``).
        n_players: number of players ``d`` (>= 1, >= 2 for ``"shapley"`` and ``"leverage"``).
        distribution: ``"shapley"``, ``"banzhaf"`` or ``"leverage"``.
        paired: interleave each coalition with its complement.
        seed: seed in ``[0, 2^64)``.
        point_offset: global index of the first point, so batches of points can be drawn separately.
        sample_offset: samples already drawn per point (even when ``paired``); continues the streams.

    Returns:
        bool array ``(n_points, n_samples, d)``.
    """
    n_points = as_int("n_points", n_points, minimum=0)
    n_samples = as_int("n_samples", n_samples, minimum=0)
    distribution = check_distribution(distribution)
    d = as_int("n_players", n_players)
    check_players_for_distribution("n_players", d, distribution)
    paired = as_bool("paired", paired)
    if paired and n_samples % 2 != 0:
        raise InvalidArgumentError(f"n_samples: must be even when paired=True, got {n_samples}")
    seed, point_offset = _check_seed(seed, point_offset, n_points)
    first_draw = _draw_offset(sample_offset, paired, "paired")

    per_size = size_probabilities(d, distribution)
    masks = np.zeros((n_points, n_samples, d), dtype=np.bool_)
    for point in range(n_points):
        n_draws = n_samples // 2 if paired else n_samples
        for draw in range(n_draws):
            rng = np.random.default_rng([seed, point_offset + point, first_draw + draw])
            size = int(rng.choice(d + 1, p=per_size))
            members = rng.choice(d, size=size, replace=False)
            coalition = np.zeros(d, dtype=np.bool_)
            coalition[members] = True
            if paired:
                masks[point, 2 * draw] = coalition
                masks[point, 2 * draw + 1] = ~coalition
            else:
                masks[point, draw] = coalition
    return masks


def sample_permutations(
    n_points: int,
    n_permutations: int,
    n_players: int,
    *,
    antithetic: bool = False,
    seed: int = 0,
    point_offset: int = 0,
    sample_offset: int = 0,
) -> NDArray[np.int64]:
    """Draw uniformly random orderings of the players for each point.

    With ``antithetic=True`` permutation ``2j + 1`` is the reverse of permutation ``2j``.

    Args:
        n_points: number of points (>= 0).
        n_permutations: permutations per point (>= 0; even when ``antithetic``).
        n_players: number of players ``d >= 1``.
        antithetic: follow each permutation with its reverse.
        seed: seed in ``[0, 2^64)``.
        point_offset: global index of the first point.
        sample_offset: permutations already drawn per point (even when ``antithetic``).

    Returns:
        int64 array ``(n_points, n_permutations, d)``; each row is a permutation of ``0..d-1``.
    """
    n_points = as_int("n_points", n_points, minimum=0)
    n_permutations = as_int("n_permutations", n_permutations, minimum=0)
    d = as_int("n_players", n_players, minimum=1)
    antithetic = as_bool("antithetic", antithetic)
    if antithetic and n_permutations % 2 != 0:
        raise InvalidArgumentError(f"n_permutations: must be even when antithetic=True, got {n_permutations}")
    seed, point_offset = _check_seed(seed, point_offset, n_points)
    first_draw = _draw_offset(sample_offset, antithetic, "antithetic")

    permutations = np.zeros((n_points, n_permutations, d), dtype=np.int64)
    for point in range(n_points):
        n_draws = n_permutations // 2 if antithetic else n_permutations
        for draw in range(n_draws):
            rng = np.random.default_rng([seed, point_offset + point, first_draw + draw])
            order = rng.permutation(d)
            if antithetic:
                permutations[point, 2 * draw] = order
                permutations[point, 2 * draw + 1] = order[::-1]
            else:
                permutations[point, draw] = order
    return permutations


def check_permutations(permutations: Any, *, name: str = "permutations") -> NDArray[np.int64]:
    """Validate an int array ``(n_points, n_perm, d)`` whose rows are permutations of ``0..d-1``."""
    perms = as_integer_array(name, permutations, 3)
    n_points, n_perm, d = perms.shape
    if d < 1:
        raise InvalidArgumentError(f"{name}: needs n_players >= 1, got shape {perms.shape}")
    expected = np.arange(d)
    for point in range(n_points):
        for r in range(n_perm):
            if not np.array_equal(np.sort(perms[point, r]), expected):
                raise InvalidArgumentError(
                    f"{name}: row {r} of point {point} is not a permutation of 0..{d - 1}"
                )
    return perms


def permutation_chain_masks(permutations: NDArray[np.int64], *, interior: bool = False) -> NDArray[np.bool_]:
    """Coalitions along each permutation: row ``j`` holds the players ``perm[0..j)``.

    Args:
        permutations: integer array ``(n_points, n_perm, d)`` of permutations of ``0..d-1``.
        interior: keep only rows ``1..d-1`` (drop the empty and full coalitions).

    Returns:
        bool array ``(n_points, n_perm, d + 1, d)``; row 0 is empty, row ``d`` is full
        (``(n_points, n_perm, d - 1, d)`` with ``interior``).
    """
    perms = check_permutations(permutations)
    n_points, n_perm, d = perms.shape
    chains = np.zeros((n_points, n_perm, d + 1, d), dtype=np.bool_)
    for point in range(n_points):
        for r in range(n_perm):
            for j in range(1, d + 1):
                chains[point, r, j] = chains[point, r, j - 1]
                chains[point, r, j, perms[point, r, j - 1]] = True
    return chains[:, :, 1:d].copy() if interior else chains


def enumerate_coalitions(n_players: int) -> NDArray[np.bool_]:
    """All ``2^d`` coalitions; row ``s`` has player ``i`` present iff bit ``i`` of ``s`` is set.

    Args:
        n_players: number of players, ``1 <= d <= 20``.

    Returns:
        bool array ``(2^d, d)``.
    """
    d = as_int("n_players", n_players)
    check_enumeration_players("n_players", d)
    index = np.arange(2**d, dtype=np.int64)
    coalitions = np.zeros((2**d, d), dtype=np.bool_)
    for i in range(d):
        coalitions[:, i] = (index >> i) & 1 == 1
    return coalitions


MAX_MULTISET_CELLS = 2**30
"""Largest output of :func:`sample_multisets` in one call (as in the Rust core)."""


def sample_multisets(
    n_points: int,
    n_samples: int,
    n_data: int,
    *,
    min_size: int,
    max_size: int,
    seed: int = 0,
    point_offset: int = 0,
    sample_offset: int = 0,
) -> NDArray[np.uint32]:
    """Draw multisets of data indices (with replacement) as counts.

    Draw ``j`` of point ``p``: a size ``k`` uniform on ``min_size..max_size`` (inclusive), then ``k``
    indices uniform on ``0..n_data-1`` with replacement; ``counts[p, j, t]`` = multiplicity of ``t``.

    Args:
        n_points: number of points (>= 0).
        n_samples: multisets per point (>= 0).
        n_data: pool size (>= 1).
        min_size: smallest size (>= 0).
        max_size: largest size (``min_size <= max_size < 2^32``).
        seed: seed in ``[0, 2^64)``.
        point_offset: global index of the first point.
        sample_offset: multisets already drawn per point.

    Returns:
        uint32 array ``(n_points, n_samples, n_data)``.
    """
    n_points = as_int("n_points", n_points, minimum=0)
    n_samples = as_int("n_samples", n_samples, minimum=0)
    n_data = as_int("n_data", n_data, minimum=1)
    min_size = as_int("min_size", min_size, minimum=0)
    max_size = as_int("max_size", max_size, minimum=0, maximum=2**32)
    if min_size > max_size:
        raise InvalidArgumentError(f"min_size: must not exceed max_size ({max_size}), got {min_size}")
    if n_points * n_samples * n_data > MAX_MULTISET_CELLS:
        raise InvalidArgumentError(
            f"n_samples: an output of shape {(n_points, n_samples, n_data)} has more than "
            f"{MAX_MULTISET_CELLS} cells; draw in batches with point_offset / sample_offset"
        )
    seed, point_offset = _check_seed(seed, point_offset, n_points)
    first_draw = as_int("sample_offset", sample_offset, minimum=0, maximum=MAX_SEED)

    counts = np.zeros((n_points, n_samples, n_data), dtype=np.uint32)
    for point in range(n_points):
        for draw in range(n_samples):
            rng = np.random.default_rng([seed, point_offset + point, first_draw + draw])
            size = int(rng.integers(min_size, max_size, endpoint=True))
            if size > 16 * n_data:  # as the core: the multinomial at once, not one index at a time
                counts[point, draw] = rng.multinomial(size, np.full(n_data, 1.0 / n_data))
            else:
                counts[point, draw] = np.bincount(rng.integers(0, n_data, size=size), minlength=n_data)
    return counts
