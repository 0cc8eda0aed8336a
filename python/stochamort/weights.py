"""Kernel and semivalue weights as functions of the coalition size."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from stochamort import _core

__all__ = ["shapley_kernel", "semivalue_weights", "semivalue_position_weights", "lime_kernel"]


def shapley_kernel(n_players: int) -> NDArray[np.float64]:
    """KernelSHAP's kernel per coalition size ``k = 0..n_players``: ``(d−1)/(C(d,k) k (d−k))``.

    Infinite at ``k = 0`` and ``k = d`` (those coalitions enter as constraints, not samples).
    """
    return _core.shapley_kernel(n_players)


def semivalue_weights(
    n_players: int,
    kind: Literal["shapley", "banzhaf", "beta"] = "shapley",
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
) -> NDArray[np.float64]:
    """Weight ``w(k)`` of one coalition of size ``k = 0..n_players−1`` that excludes the player valued.

    The semivalue is ``φ_i = Σ_{S ∌ i} w(|S|) (v(S ∪ {i}) − v(S))``:
    ``"shapley"``: ``k!(d−k−1)!/d!``; ``"banzhaf"``: ``2^−(d−1)``;
    ``"beta"``: Beta Shapley (Kwon & Zou 2022), ``B(k+β, d−1−k+α)/B(α, β)`` (``α = β = 1`` is Shapley;
    large ``α`` emphasises small coalitions).
    """
    return _core.semivalue_weights(n_players, kind, alpha, beta)


def semivalue_position_weights(
    n_players: int,
    kind: Literal["shapley", "banzhaf", "beta"] = "shapley",
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
) -> NDArray[np.float64]:
    """Weight of a marginal contribution at each position of a uniformly random permutation.

    Along a uniformly random order of ``n`` players, the player at position ``k`` (``k = 0..n−1``)
    joins a prefix of ``k`` players that is a uniformly random ``k``-subset of the others, and each
    position has probability ``1/n``. Multiplying its marginal contribution by
    ``n · C(n−1, k) · w(k)`` (``w`` from :func:`semivalue_weights`) therefore gives a contribution whose
    expectation is the semivalue ``Σ_{S ∌ i} w(|S|) (v(S ∪ {i}) − v(S))``: averaging weighted
    contributions over random permutations is **unbiased** for that semivalue (see
    :func:`~stochamort.estimators.permutation_data_values`).

    ``"shapley"``: all ones (exactly); ``"banzhaf"``: ``n`` times the Binomial(n−1, ½) probability of
    ``k``; ``"beta"``: ``n`` times the Beta-binomial(n−1, β, α) probability of ``k`` (Beta Shapley;
    ``α = β = 1`` is Shapley up to rounding). The weights average to one over positions. Computed in
    log space, so they stay finite for any ``n`` (far-tail weights underflow to 0, not overflow).

    Args:
        n_players: number of players ``n >= 1`` (for data valuation, the training points).
        kind: the semivalue.
        alpha: Beta Shapley's α > 0 (only for ``"beta"``).
        beta: Beta Shapley's β > 0 (only for ``"beta"``).

    Returns:
        float64 array ``(n_players,)``.

    Raises:
        InvalidArgumentError: ``n_players < 1``, an unknown ``kind``, or ``alpha``/``beta`` not finite
            and positive with ``kind="beta"``.
    """
    return _core.semivalue_position_weights(n_players, kind, alpha, beta)


def lime_kernel(n_players: int, width: float = 0.25) -> NDArray[np.float64]:
    """LIME's exponential kernel per coalition size: ``exp(−D²/width²)``, ``D = 1 − sqrt(k/d)``.

    ``D`` is the cosine distance between a coalition of size ``k`` and the full coalition, as in
    LIME's image and text explainers (default width 0.25).
    """
    return _core.lime_kernel(n_players, width)
