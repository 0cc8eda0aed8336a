"""Reference estimators: the spec's formulas written out literally, one point at a time.

Everything here favours readability over speed: dense ``d x d`` matrices, explicit inverses and
plain loops over points and samples. These functions are the oracles the Rust core is tested
against, and the "pure Python" side of the benchmarks.

Shapes (``P`` points, ``n`` samples, ``d`` players, ``o`` outputs):

* ``masks``: bool ``(P, n, d)``; ``values``: float ``(P, n, o)``;
* ``null_values`` = v(empty) and ``grand_values`` = v(all players): float ``(P, o)``;
* results: :class:`~stochamort.results.Estimate` with ``values`` and ``std_errors`` of shape
  ``(P, d, o)`` and ``n_evaluations`` of shape ``(P,)``.
"""


from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import Estimate
from stochamort._checks import as_bool, as_float_array, check_finite, check_shape, players_from_table_size
from stochamort.reference.sampling import check_permutations
from stochamort.reference.weights import semivalue_weights
from stochamort.reference.coalitions import (
    kernelshap,
    lime,
    msr_banzhaf,
    sgd_shapley,
    standard_errors_over_units,
    unbiased_kernelshap,
)
from stochamort.reference.valuation import (
    contribution_values,
    merge_data_values,
    permutation_data_values,
    truncation_points,
)

__all__ = [
    "kernelshap",
    "unbiased_kernelshap",
    "sgd_shapley",
    "msr_banzhaf",
    "lime",
    "permutation_shapley",
    "exact_semivalue",
    "exact_shapley",
    "exact_banzhaf",
    "permutation_data_values",
    "merge_data_values",
    "contribution_values",
    "truncation_points",
]


def permutation_shapley(
    permutations: NDArray[np.integer[Any]],
    chain_values: NDArray[np.floating[Any]],
    *,
    antithetic: bool = False,
) -> Estimate:
    """Permutation-sampling Shapley values.

    ``chain_values[p, r, j] = v({perm[0..j)})``; the contribution of player ``perm[j]`` is
    ``chain_values[j + 1] - chain_values[j]``. The estimate is the mean over units (permutations,
    or antithetic pairs ``(2j, 2j + 1)`` averaged) and ``se = sqrt(var / m)`` (``+inf`` if ``m < 2``).

    Args:
        permutations: integer ``(P, R, d)``; rows are permutations of ``0..d-1``.
        chain_values: float ``(P, R, d + 1, o)``.
        antithetic: permutation ``2j + 1`` is the reverse of ``2j``; pairs are the units.

    Raises:
        InsufficientSamplesError: no permutations.

    Returns:
        Estimate with ``n_evaluations = R (d + 1)``.
    """
    perms = check_permutations(permutations)
    n_points, n_perm, d = perms.shape
    chain = as_float_array("chain_values", chain_values, 4)
    check_shape(
        "chain_values", chain, (n_points, n_perm, d + 1, chain.shape[3]), "permutations (n_points, n_perm, d + 1)"
    )
    check_finite("chain_values", chain)
    antithetic = as_bool("antithetic", antithetic)
    if antithetic:
        if n_perm % 2 != 0:
            raise InvalidArgumentError(
                f"permutations: antithetic=True needs an even number of permutations, got {n_perm}"
            )
        for point in range(n_points):
            for j in range(n_perm // 2):
                if not np.array_equal(perms[point, 2 * j + 1], perms[point, 2 * j][::-1]):
                    raise InvalidArgumentError(
                        f"permutations: antithetic=True but permutation {2 * j + 1} of point {point} "
                        f"is not the reverse of permutation {2 * j}"
                    )
    if n_perm < 1:
        raise InsufficientSamplesError("permutations: needs at least 1 permutation per point, got 0")
    n_outputs = chain.shape[3]

    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    for point in range(n_points):
        contributions = np.zeros((n_perm, d, n_outputs))
        for r in range(n_perm):
            for j in range(d):
                player = perms[point, r, j]
                contributions[r, player] = chain[point, r, j + 1] - chain[point, r, j]
        units = 0.5 * (contributions[0::2] + contributions[1::2]) if antithetic else contributions
        phi[point] = units.mean(axis=0)
        se[point] = standard_errors_over_units(contributions, antithetic)
    n_evaluations = np.full(n_points, n_perm * (d + 1), dtype=np.int64)
    return Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations)


def exact_semivalue(values: NDArray[np.floating[Any]], weights: NDArray[np.floating[Any]]) -> Estimate:
    """Exact semivalue by enumeration: ``phi_i = sum_{S not containing i} w(|S|) (v(S + i) - v(S))``.

    Args:
        values: float ``(P, 2^d, o)``; coalition ``s`` holds player ``i`` iff bit ``i`` of ``s`` is set.
        weights: float ``(d,)``, weight of one coalition of each size ``0..d-1``
            (see :func:`~stochamort.reference.weights.semivalue_weights`).

    Raises:
        ShapeError: axis 1 of ``values`` is not a power of two, or ``weights`` is not ``(d,)``.
        TooManyPlayersError: ``d > 20``.

    Returns:
        Estimate with zero standard errors and ``n_evaluations = 2^d``.
    """
    table = as_float_array("values", values, 3)
    d = players_from_table_size("values", table.shape[1])
    check_finite("values", table)
    w = as_float_array("weights", weights, 1)
    check_shape("weights", w, (d,), "values (n_players)")
    if not np.isfinite(w).all():
        bad = [k for k in range(d) if not math.isfinite(w[k])]
        raise NonFiniteError(f"weights: NaN or infinite entries at sizes {bad}")

    n_points, n_coalitions, n_outputs = table.shape
    phi = np.zeros((n_points, d, n_outputs))
    for s in range(n_coalitions):
        size = bin(s).count("1")
        for i in range(d):
            if (s >> i) & 1 == 0:
                with_i = s | (1 << i)
                phi[:, i] += w[size] * (table[:, with_i] - table[:, s])
    n_evaluations = np.full(n_points, n_coalitions, dtype=np.int64)
    return Estimate(values=phi, std_errors=np.zeros_like(phi), n_evaluations=n_evaluations)


def exact_shapley(values: NDArray[np.floating[Any]]) -> Estimate:
    """Exact Shapley values: :func:`exact_semivalue` with ``w(k) = k! (d - k - 1)! / d!``."""
    table = as_float_array("values", values, 3)
    d = players_from_table_size("values", table.shape[1])
    return exact_semivalue(table, semivalue_weights(d, "shapley"))


def exact_banzhaf(values: NDArray[np.floating[Any]]) -> Estimate:
    """Exact Banzhaf values: :func:`exact_semivalue` with ``w(k) = 2^-(d-1)``."""
    table = as_float_array("values", values, 3)
    d = players_from_table_size("values", table.shape[1])
    return exact_semivalue(table, semivalue_weights(d, "banzhaf"))
