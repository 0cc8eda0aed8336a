"""Seeded samplers of coalitions and permutations, and exact coalition probabilities.

Every sampler derives one random stream per (point, sample) from ``seed``, the point's global
index ``point_offset + i`` and the sample's index ``sample_offset + j``, so the output does not
depend on the number of threads, and one call equals several calls over batches of points (matching
``point_offset``) or rounds of samples (matching ``sample_offset``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from stochamort import _core
from stochamort._checks import as_int64, as_masks
from stochamort.results import CoalitionDesign

__all__ = [
    "CoalitionDistribution",
    "sample_coalitions",
    "CoalitionDesign",
    "sample_design",
    "size_probabilities",
    "coalition_probabilities",
    "sample_permutations",
    "permutation_chain_masks",
    "enumerate_coalitions",
    "sample_multisets",
]

CoalitionDistribution = Literal["shapley", "banzhaf", "leverage"]
"""``"shapley"``: size k ∈ 1..d−1 with P(k) ∝ 1/(k(d−k)) then a uniform subset (KernelSHAP);
``"banzhaf"``: each player present with probability 1/2 (MSR, LIME);
``"leverage"``: size uniform over 1..d−1 then a uniform subset (Leverage SHAP)."""


def sample_coalitions(
    n_points: int,
    n_samples: int,
    n_players: int,
    *,
    distribution: CoalitionDistribution = "shapley",
    paired: bool = False,
    seed: int = 0,
    point_offset: int = 0,
    sample_offset: int = 0,
) -> NDArray[np.bool_]:
    """Sample coalitions for a batch of points.

    Args:
        n_points: number of points (each gets its own independent draws).
        n_samples: coalitions per point; must be even when ``paired``.
        n_players: number of players d (at least 2 for ``"shapley"``/``"leverage"``).
        distribution: the coalition distribution (see :data:`CoalitionDistribution`).
        paired: if True, rows ``2j`` and ``2j+1`` are complements (paired sampling).
        seed: the random seed, an integer in ``[0, 2**64)``.
        point_offset: global index of the first point, for sampling a dataset in batches.
        sample_offset: number of samples already drawn per point (even when ``paired``): the call
            then returns the next ``n_samples`` of the same streams, for drawing in rounds.

    Returns:
        bool array ``(n_points, n_samples, n_players)``; ``True`` marks a present player.
    """
    return _core.sample_coalitions(
        n_points, n_samples, n_players, distribution, paired, seed, point_offset, sample_offset
    )


def sample_design(
    n_points: int,
    n_samples: int,
    n_players: int,
    *,
    distribution: CoalitionDistribution = "shapley",
    paired: bool = True,
    replace: bool = False,
    seed: int = 0,
    point_offset: int = 0,
) -> CoalitionDesign:
    """Sample coalitions that waste no evaluations: whole sizes enumerated, the rest without repeats.

    The design for a budget of ``n_samples`` rows per point, from the outside in: the sizes ``k`` and
    ``d − k`` are enumerated (every coalition once, weight 1) while the expected number of draws of
    those sizes under ``distribution`` reaches their number of coalitions (the "border trick" of
    shap's KernelExplainer and shapiq; sizes 1 and d − 1 first, as they carry the most kernel weight
    per coalition). The remaining rows are drawn from ``distribution`` restricted to the other sizes
    (never ∅ or the full coalition):

    * ``replace=False`` (default): stratified by size (by pair of complementary sizes when
      ``paired``), each stratum's units distinct; the number of units of a stratum is its expected
      count rounded up or down by randomised systematic rounding, so the weights are exact
      Horvitz–Thompson weights (unbiased). No coalition appears twice for a point.
    * ``replace=True``: i.i.d. units (a pair ``(S, N∖S)`` when paired) with weight
      ``1 / (n_random_rows · q(S))``, q the restricted distribution. For estimators that need
      independent units (cross-fitting).

    A budget that covers every coalition returns the census alone: ``2^d − 2`` rows, fewer than asked.
    Streams come from ``(seed, point_offset + point)``: independent of threads and batching.

    Args:
        n_points: number of points (each gets its own independent draws).
        n_samples: rows per point (even when ``paired``).
        n_players: number of players d (2 to ``MAX_DESIGN_PLAYERS``).
        distribution: the size distribution to follow (see :data:`CoalitionDistribution`).
        paired: rows come in complementary pairs.
        replace: i.i.d. units instead of distinct ones.
        seed: the random seed, an integer in ``[0, 2**64)``.
        point_offset: global index of the first point, for sampling a dataset in batches.

    Returns:
        A :class:`CoalitionDesign`.
    """
    masks, weights, n_enumerated = _core.sample_design(
        n_points, n_samples, n_players, distribution, paired, replace, seed, point_offset
    )
    return CoalitionDesign(masks, weights, int(n_enumerated))


def size_probabilities(n_players: int, distribution: CoalitionDistribution = "shapley") -> NDArray[np.float64]:
    """Exact probability of each coalition size ``k = 0..n_players`` under ``distribution``."""
    return _core.size_probabilities(n_players, distribution)


def coalition_probabilities(masks: Any, distribution: CoalitionDistribution = "shapley") -> NDArray[np.float64]:
    """Exact probability of each coalition under ``distribution``.

    Args:
        masks: bool array ``(..., n_players)``; each row along the last axis is one coalition.
        distribution: the coalition distribution.

    Returns:
        float64 array of shape ``masks.shape[:-1]``.
    """
    array = as_masks(masks)
    if array.ndim == 0:
        from stochamort.errors import ShapeError

        raise ShapeError("masks: expected at least 1 dimension (..., n_players), got a scalar")
    flat = np.ascontiguousarray(array.reshape(math.prod(array.shape[:-1]), array.shape[-1]))
    return _core.coalition_probabilities(flat, distribution).reshape(array.shape[:-1])


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
    """Sample uniformly random orders of the players for a batch of points.

    Args:
        n_points: number of points.
        n_permutations: permutations per point; must be even when ``antithetic``.
        n_players: number of players d.
        antithetic: if True, permutation ``2j+1`` is the reverse of permutation ``2j``.
        seed: the random seed, an integer in ``[0, 2**64)``.
        point_offset: global index of the first point, for sampling a dataset in batches.
        sample_offset: number of permutations already drawn per point (even when ``antithetic``).

    Returns:
        int64 array ``(n_points, n_permutations, n_players)``.
    """
    return _core.sample_permutations(
        n_points, n_permutations, n_players, antithetic, seed, point_offset, sample_offset
    )


def permutation_chain_masks(permutations: Any, *, interior: bool = False) -> NDArray[np.bool_]:
    """The coalitions along each permutation, to evaluate the game on.

    Args:
        permutations: integer array ``(n_points, n_permutations, n_players)``, each row a permutation.
        interior: return only rows ``1 .. n_players − 1``: the empty and full coalitions are the same
            for every permutation, so they can be evaluated once per point.

    Returns:
        bool array ``(n_points, n_permutations, n_players + 1, n_players)`` whose row ``j`` holds the
        first ``j`` players of the order (row 0 is empty, row ``n_players`` is full); with
        ``interior``, ``(n_points, n_permutations, n_players − 1, n_players)`` holding rows ``1..d−1``.
    """
    return _core.permutation_chain_masks(np.ascontiguousarray(as_int64(permutations, "permutations")), bool(interior))


def enumerate_coalitions(n_players: int) -> NDArray[np.bool_]:
    """All ``2**n_players`` coalitions (``n_players <= 20``); row ``s`` holds player ``i`` iff bit ``i`` of ``s``."""
    return _core.enumerate_coalitions(n_players)


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
    """Sample multisets of data points (with replacement), as counts, for distributional Data Shapley.

    For each (point ``i``, sample ``j``): a size ``k`` uniform on ``min_size..=max_size``, then ``k``
    indices drawn uniformly **with replacement** from ``0..n_data``; ``counts[i, j, t]`` is how often
    index ``t`` was drawn (so ``counts[i, j].sum() == k``). This is the random dataset D of
    distributional Data Shapley (Ghorbani, Kim & Zou 2020), for which ``U(D ∪ {i}) − U(D)`` is an
    unbiased draw of point ``i``'s value (see :func:`~stochamort.estimators.contribution_values`).

    Streams are derived from ``(seed, point_offset + i, sample_offset + j)`` like the other samplers,
    so the output does not depend on the number of threads, and one call equals several calls over
    batches of points (matching ``point_offset``) or rounds of samples (matching ``sample_offset``).

    Args:
        n_points: number of points valued (each gets its own independent draws).
        n_samples: multisets per point.
        n_data: size of the pool the indices are drawn from (``>= 1``).
        min_size: smallest multiset size (``>= 0``).
        max_size: largest multiset size (``min_size <= max_size < 2**32``).
        seed: the random seed, an integer in ``[0, 2**64)``.
        point_offset: global index of the first point, for sampling in batches of points.
        sample_offset: multisets already drawn per point: the call returns the next ``n_samples``.

    Returns:
        uint32 array ``(n_points, n_samples, n_data)`` of multiplicities.

    Raises:
        InvalidArgumentError: ``n_data < 1``, ``min_size > max_size``, ``max_size >= 2**32``, a
            negative count, seed or offset, or an output of more than ``2**30`` cells (draw it in
            batches with ``point_offset`` / ``sample_offset``, which continue the same streams).
    """
    return _core.sample_multisets(
        n_points, n_samples, n_data, min_size, max_size, seed, point_offset, sample_offset
    )
