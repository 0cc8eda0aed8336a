"""Reference data-valuation estimators: one game whose players are the N training points,
one Python loop per contribution (see :mod:`stochamort.estimators` for the contract)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import DataValues
from stochamort._checks import as_float_array, as_int, as_integer_array, check_finite, check_shape

__all__ = ["permutation_data_values", "merge_data_values", "contribution_values", "truncation_points"]


def _moments(contributions: list[float]) -> tuple[float, float, float]:
    """``(mean, m2, std_error)`` of a list of contributions (``0, 0, inf`` when empty)."""
    n = len(contributions)
    if n == 0:
        return 0.0, 0.0, math.inf
    x = np.asarray(contributions, dtype=np.float64)
    mean = float(x.mean())
    m2 = float(((x - mean) ** 2).sum())
    se = math.sqrt(m2 / (n - 1) / n) if n >= 2 else math.inf
    return mean, m2, se


def _data_values(lists: list[list[float]], n_evaluations: int) -> DataValues:
    n = len(lists)
    values, m2, se = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, contributions in enumerate(lists):
        values[i], m2[i], se[i] = _moments(contributions)
    counts = np.array([len(c) for c in lists], dtype=np.int64)
    return DataValues(values, se, counts, n_evaluations, m2)


def permutation_data_values(
    permutations: NDArray[np.integer[Any]],
    chain_values: NDArray[np.floating[Any]],
    *,
    position_weights: NDArray[np.floating[Any]] | None = None,
    start: int = 0,
) -> DataValues:
    """Mean weighted marginal contribution of each player over permutations.

    For each permutation ``p`` and position ``k = start..N-1``, player ``perm[p, k]`` receives
    ``position_weights[k] * (chain_values[p, k + 1] - chain_values[p, k])`` (weights default to one).
    Each player's value is the mean of what it received, ``m2`` the sum of squared deviations and
    ``se = sqrt(m2 / (n - 1) / n)`` (``+inf`` if ``n < 2``; value 0 if ``n = 0``).

    Args:
        permutations: integer ``(P, N)``; rows are permutations of ``0..N-1``.
        chain_values: float ``(P, N + 1)``; columns below ``start`` are not read.
        position_weights: float ``(N,)`` or None.
        start: first recorded position, ``0 <= start <= N - 1``.

    Raises:
        InsufficientSamplesError: no permutations.

    Returns:
        DataValues with ``total_evaluations = P (N + 1 - start)``.
    """
    perms = as_integer_array("permutations", permutations, 2)
    if perms.shape[1] < 1:
        raise InvalidArgumentError(f"permutations: needs n_players >= 1, got shape {perms.shape}")
    expected = np.arange(perms.shape[1])
    for p in range(perms.shape[0]):
        if not np.array_equal(np.sort(perms[p]), expected):
            raise InvalidArgumentError(f"permutations: row {p} is not a permutation of 0..{perms.shape[1] - 1}")
    n_perm, n = perms.shape
    chain = as_float_array("chain_values", chain_values, 2)
    check_shape("chain_values", chain, (n_perm, n + 1), "permutations (n_permutations, n_players + 1)")
    if n_perm < 1:
        raise InsufficientSamplesError("permutations: needs at least 1 permutation, got 0")
    start = as_int("start", start, minimum=0)
    if start > n - 1:
        raise InvalidArgumentError(f"start: must lie in 0..{n - 1} (n_players - 1), got {start}")
    if position_weights is None:
        weights = np.ones(n)
    else:
        weights = as_float_array("position_weights", position_weights, 1)
        check_shape("position_weights", weights, (n,), "permutations (n_players,)")
        if not np.isfinite(weights).all():
            raise InvalidArgumentError("position_weights: must be finite")
    check_finite("chain_values", chain[:, start:])

    lists: list[list[float]] = [[] for _ in range(n)]
    for p in range(n_perm):
        for k in range(start, n):
            lists[int(perms[p, k])].append(float(weights[k] * (chain[p, k + 1] - chain[p, k])))
    return _data_values(lists, n_perm * (n + 1 - start))


def merge_data_values(first: DataValues, second: DataValues) -> DataValues:
    """Chan's merge of two data-valuation results from disjoint contributions, point by point.

    ``n = n_a + n_b``, ``mean = mean_a + (mean_b - mean_a) n_b / n`` and
    ``m2 = m2_a + m2_b + (mean_b - mean_a)^2 n_a n_b / n``; ``total_evaluations`` summed.

    Raises:
        InvalidArgumentError: a result without ``m2``.
        ShapeError: different numbers of points.
    """
    for name, result in (("first", first), ("second", second)):
        if result.m2 is None:
            raise InvalidArgumentError(f"{name}: has no m2 (running moments), so it cannot be merged")
    assert first.m2 is not None and second.m2 is not None
    if first.values.shape != second.values.shape:
        raise ShapeError(f"second: values {second.values.shape} points, but first values {first.values.shape}")
    for name, result, m2_values in (("first", first, first.m2), ("second", second, second.m2)):
        if not (np.isfinite(result.values).all() and np.isfinite(m2_values).all()):
            raise NonFiniteError(f"{name}: values or m2 hold NaN or infinity")
    n = first.values.shape[0]
    values, m2, se = np.zeros(n), np.zeros(n), np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        na, nb = int(first.n_contributions[i]), int(second.n_contributions[i])
        total = na + nb
        counts[i] = total
        if total == 0:
            se[i] = math.inf
            continue
        delta = float(second.values[i] - first.values[i])
        values[i] = first.values[i] + delta * nb / total
        m2[i] = first.m2[i] + second.m2[i] + delta * delta * na * nb / total
        se[i] = math.sqrt(max(m2[i], 0.0) / (total - 1) / total) if total >= 2 else math.inf
    return DataValues(values, se, counts, first.total_evaluations + second.total_evaluations, m2)


def contribution_values(contributions: NDArray[np.floating[Any]]) -> DataValues:
    """Row means of i.i.d. contribution draws ``(n_points, n_samples)`` with their standard errors.

    Raises:
        InsufficientSamplesError: ``n_samples == 0`` with ``n_points >= 1``.

    Returns:
        DataValues with ``total_evaluations = 2 n_points n_samples``.
    """
    c = as_float_array("contributions", contributions, 2)
    n_points, n_samples = c.shape
    if n_samples == 0 and n_points > 0:
        raise InsufficientSamplesError("contributions: holds no samples (axis 1 is empty)")
    check_finite("contributions", c)
    return _data_values([list(map(float, c[i])) for i in range(n_points)], 2 * n_points * n_samples)


def truncation_points(chain_values: NDArray[np.floating[Any]], target: float, tolerance: float) -> NDArray[np.int64]:
    """First column ``c`` of each row with ``|chain_values[p, c] - target| <= tolerance * |target|``, else -1."""
    chain = as_float_array("chain_values", chain_values, 2)
    target_value = _finite_real("target", target)
    tol = _finite_real("tolerance", tolerance)
    if tol < 0:
        raise InvalidArgumentError(f"tolerance: must be >= 0, got {tol}")
    check_finite("chain_values", chain)
    result = np.full(chain.shape[0], -1, dtype=np.int64)
    for p in range(chain.shape[0]):
        for c in range(chain.shape[1]):
            if abs(chain[p, c] - target_value) <= tol * abs(target_value):
                result[p] = c
                break
    return result


def _finite_real(name: str, value: Any) -> float:
    from stochamort.errors import InvalidDTypeError

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidDTypeError(f"{name}: must be a real number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidArgumentError(f"{name}: must be finite, got {result}")
    return result
