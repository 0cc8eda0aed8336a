"""Rank and correlation kernels shared by the attribution and data-value metrics (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import NonFiniteError, ShapeError

__all__ = ["rankdata", "row_correlations"]


def rankdata(values: Any, axis: int = -1) -> NDArray[np.float64]:
    """Ranks 1..k along ``axis``, ties getting the average of the ranks they span (like
    ``scipy.stats.rankdata(method="average")``), vectorised over the other axes."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        raise ShapeError("values: expected at least one dimension")
    if np.isnan(array).any():
        raise NonFiniteError("values: holds NaN (ranks are undefined)")
    moved = np.moveaxis(array, axis, -1)
    shape = moved.shape
    k = shape[-1]
    rows = moved.reshape(-1, k)
    m = rows.shape[0]
    if rows.size == 0:
        return np.zeros(array.shape)
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    starts = np.ones((m, k), dtype=np.bool_)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = np.cumsum(starts.ravel()) - 1  # a new group at each row start and each new value
    position = np.tile(np.arange(k, dtype=np.float64), m)
    mean_position = np.bincount(group, weights=position) / np.bincount(group)
    ranks_sorted = (mean_position[group] + 1.0).reshape(m, k)
    ranks = np.empty((m, k))
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return np.moveaxis(ranks.reshape(shape), -1, axis)


def row_correlations(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlation of the rows of ``a`` and ``b`` ``(m, k)``; NaN where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt(np.square(a).sum(axis=1) * np.square(b).sum(axis=1))
    numerator = (a * b).sum(axis=1)
    out = np.full(a.shape[0], np.nan)
    ok = denominator > 0
    out[ok] = numerator[ok] / denominator[ok]
    clipped: NDArray[np.float64] = np.clip(out, -1.0, 1.0)
    return clipped
