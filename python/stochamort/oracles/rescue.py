"""Points whose sampled system is singular (an unlucky draw at a small budget, e.g. a player never
sampled alone): the rest of their chunk is estimated as usual, and each such point is estimated
again on its own, from its own random stream, with 2, 4, then 8 times the budget. The retries are
recorded: ``extras["singular_retries"]`` (doublings, 0 for every other point) and the point's
``n_evaluations`` (which counts the failed attempt too). Only when 8 times the budget is still
singular does the error reach the caller."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import SingularSystemError
from stochamort.results import Estimate

__all__ = ["MAX_DOUBLINGS", "estimate_or_rescue"]

#: Budget doublings tried for a singular point before giving up.
MAX_DOUBLINGS = 3


def estimate_or_rescue(
    estimate: Callable[[NDArray[np.int64]], Estimate],
    global_index: NDArray[np.int64],
    rescue: Callable[[int, SingularSystemError], Estimate],
) -> tuple[Estimate, list[int]]:
    """``estimate(rows)`` for all rows, rows found singular replaced by ``rescue(row, error)``.

    Args:
        estimate: the estimate of some rows (positions into ``global_index``); it raises a
            :class:`SingularSystemError` whose ``points`` are global indices.
        global_index: the global index of each row.
        rescue: the estimate of one row on its own (a one-point Estimate).

    Returns:
        the Estimate of every row, and the rows that were rescued.
    """
    n = len(global_index)
    rescued: dict[int, Estimate] = {}
    parts: list[tuple[NDArray[np.int64], Estimate]] = []

    def solve(rows: NDArray[np.int64]) -> None:
        try:
            parts.append((rows, estimate(rows)))
            return
        except SingularSystemError as err:
            singular = set(err.points)
            bad = [int(r) for r in rows if int(global_index[r]) in singular]
            if not bad:
                raise
            for row in bad:
                rescued[row] = rescue(row, err)
        others = rows[~np.isin(rows, bad)]
        # The core reports the first singular point only: halve the rest, so that k singular
        # points cost O(k log n) estimates of shrinking size rather than k of the whole chunk.
        if others.size:
            for half in np.array_split(others, 2 if others.size > 1 else 1):
                if half.size:
                    solve(half)

    solve(np.arange(n, dtype=np.int64))
    parts += [(np.array([row]), est) for row, est in rescued.items()]
    return _assemble(n, parts), sorted(rescued)


def _assemble(n: int, parts: list[tuple[NDArray[np.int64], Estimate]]) -> Estimate:
    """One Estimate of ``n`` rows from estimates of disjoint sets of rows (missing extras are 0)."""
    first = parts[0][1]
    values = np.zeros((n, *first.values.shape[1:]))
    std_errors = np.zeros_like(values)
    n_evaluations = np.zeros(n, dtype=np.int64)
    extras: dict[str, NDArray[np.generic]] = {"singular_retries": np.zeros(n, dtype=np.int64)}
    for rows, est in parts:
        values[rows], std_errors[rows], n_evaluations[rows] = est.values, est.std_errors, est.n_evaluations
        for name, array in est.extras.items():
            if name not in extras:
                extras[name] = np.zeros((n, *array.shape[1:]), dtype=array.dtype)
            extras[name][rows] = array
    return Estimate(values, std_errors, n_evaluations, extras)
