"""Reference kernels and semivalue weights, computed term by term from their textbook formulas."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError
from stochamort._checks import as_int, as_positive_float

__all__ = ["shapley_kernel", "semivalue_weights", "semivalue_position_weights", "lime_kernel"]

SEMIVALUE_KINDS = ("shapley", "banzhaf", "beta")


def _log_beta(x: float, y: float) -> float:
    """``log B(x, y) = log Gamma(x) + log Gamma(y) - log Gamma(x + y)``."""
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def shapley_kernel(n_players: int) -> NDArray[np.float64]:
    """KernelSHAP kernel per coalition size ``k = 0..d``.

    ``(d - 1) / (C(d, k) k (d - k))`` for ``1 <= k <= d - 1`` and ``+inf`` at ``k = 0`` and
    ``k = d`` (the empty and full coalitions are enforced as constraints instead).

    Args:
        n_players: number of players ``d >= 1``.

    Returns:
        float64 array of shape ``(d + 1,)``.
    """
    d = as_int("n_players", n_players, minimum=1)
    kernel = np.empty(d + 1, dtype=np.float64)
    for k in range(d + 1):
        if k == 0 or k == d:
            kernel[k] = math.inf
        else:
            kernel[k] = (d - 1) / (math.comb(d, k) * k * (d - k))
    return kernel


def semivalue_weights(
    n_players: int, kind: str = "shapley", *, alpha: float = 1.0, beta: float = 1.0
) -> NDArray[np.float64]:
    """Weight ``w(k)`` of ONE coalition of size ``k`` (``k = 0..d-1``) not containing a player.

    The semivalue of player ``i`` is ``sum_{S not containing i} w(|S|) (v(S + i) - v(S))``.

    * ``"shapley"``: ``w(k) = k! (d - k - 1)! / d!``.
    * ``"banzhaf"``: ``w(k) = 2^-(d-1)``.
    * ``"beta"`` (Beta Shapley, Kwon & Zou 2022):
      ``w(k) = B(k + beta, d - 1 - k + alpha) / B(alpha, beta)``; ``alpha = beta = 1`` is Shapley.

    Args:
        n_players: number of players ``d >= 1``.
        kind: ``"shapley"``, ``"banzhaf"`` or ``"beta"``.
        alpha: first Beta parameter (> 0, finite); only used by ``"beta"``.
        beta: second Beta parameter (> 0, finite); only used by ``"beta"``.

    Returns:
        float64 array of shape ``(d,)``.
    """
    d = as_int("n_players", n_players, minimum=1)
    _check_kind(kind)
    weights = np.empty(d, dtype=np.float64)
    if kind == "shapley":
        for k in range(d):
            # k! (d-k-1)! / d!, computed in log space to stay finite for large d.
            weights[k] = math.exp(math.lgamma(k + 1) + math.lgamma(d - k) - math.lgamma(d + 1))
    elif kind == "banzhaf":
        for k in range(d):
            weights[k] = 2.0 ** (-(d - 1))
    else:
        a = as_positive_float("alpha", alpha)
        b = as_positive_float("beta", beta)
        for k in range(d):
            weights[k] = math.exp(_log_beta(k + b, d - 1 - k + a) - _log_beta(a, b))
    return weights


def semivalue_position_weights(
    n_players: int, kind: str = "shapley", *, alpha: float = 1.0, beta: float = 1.0
) -> NDArray[np.float64]:
    """Weight ``n * C(n - 1, k) * w(k)`` of a marginal contribution at position ``k = 0..n-1``.

    At position ``k`` of a uniformly random permutation a player joins a uniformly random
    ``k``-subset of the others, and every position has probability ``1 / n``, so the weighted
    contribution has the semivalue as its expectation. Each term is computed as
    ``exp(log n + log C(n - 1, k) + log w(k))`` (``"shapley"``: exactly one).

    Args:
        n_players: number of players ``n >= 1``.
        kind: ``"shapley"``, ``"banzhaf"`` or ``"beta"``.
        alpha: first Beta parameter (> 0, finite); only used by ``"beta"``.
        beta: second Beta parameter (> 0, finite); only used by ``"beta"``.

    Returns:
        float64 array of shape ``(n,)``.
    """
    n = as_int("n_players", n_players, minimum=1)
    _check_kind(kind)
    weights = np.ones(n, dtype=np.float64)
    if kind == "shapley":
        return weights
    if kind == "beta":
        a = as_positive_float("alpha", alpha)
        b = as_positive_float("beta", beta)
    for k in range(n):
        log_binomial = math.lgamma(n) - math.lgamma(k + 1) - math.lgamma(n - k)
        if kind == "banzhaf":
            log_w = -(n - 1) * math.log(2.0)
        else:
            log_w = _log_beta(k + b, n - 1 - k + a) - _log_beta(a, b)
        weights[k] = math.exp(math.log(n) + log_binomial + log_w)
    return weights


def lime_kernel(n_players: int, width: float = 0.25) -> NDArray[np.float64]:
    """LIME's exponential kernel per coalition size ``k = 0..d``.

    ``pi(k) = exp(-D(k)^2 / width^2)`` with ``D(k) = 1 - sqrt(k / d)``, the cosine distance between
    a coalition of size ``k`` and the all-ones vector.

    Args:
        n_players: number of players ``d >= 1``.
        width: kernel width (> 0, finite).

    Returns:
        float64 array of shape ``(d + 1,)``; increasing in ``k`` with ``pi(d) = 1``.
    """
    d = as_int("n_players", n_players, minimum=1)
    w = as_positive_float("width", width)
    kernel = np.empty(d + 1, dtype=np.float64)
    for k in range(d + 1):
        distance = 1.0 - math.sqrt(k / d)
        kernel[k] = math.exp(-(distance**2) / w**2)
    return kernel


def _check_kind(kind: str) -> None:
    if kind not in SEMIVALUE_KINDS:
        raise InvalidArgumentError(f"kind: must be one of {', '.join(map(repr, SEMIVALUE_KINDS))}, got {kind!r}")
