"""The :class:`Utility` ABC every data-valuation utility derives from, and :class:`FunctionUtility`.

A utility takes subsets as rows of counts (see :mod:`stochamort.valuation.utility`), validates
them, evaluates them in batches and counts every evaluated subset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort._checks import as_counts, check_int, real_values, shown_rows

__all__ = ["Utility", "FunctionUtility"]


class Utility(ABC):
    """A data-valuation game: the utility U(S) of every subset (or multiset) S of N training points.

    Subsets are rows of counts (see :mod:`stochamort.valuation.utility`); :meth:`evaluate`
    validates them and evaluates them ``batch_size`` rows at a time, counting every evaluated
    subset in :attr:`n_evaluations`.
    """

    def __init__(self) -> None:
        self._n_evaluations = 0

    @property
    @abstractmethod
    def n_data(self) -> int:
        """Number of training points N (the players)."""

    @property
    def n_evaluations(self) -> int:
        """Total number of subsets evaluated so far (each one a model fit for model utilities)."""
        return self._n_evaluations

    @property
    def batch_size(self) -> int | None:
        """Subsets handed to :meth:`_evaluate` at once (``None``: all of them)."""
        return None

    @abstractmethod
    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """Utilities ``(b,)`` of validated counts ``(b, N)``; ``rows`` are their indices in the caller's array."""

    def _batches(self, m: int, progress: bool) -> Iterator[tuple[int, int]]:
        """Row ranges ``[lo, hi)`` of ``batch_size`` subsets out of ``m``, under a tqdm bar.

        A batch counts towards :attr:`n_evaluations` once the caller's loop body has finished
        with it (not when that body raises).
        """
        step = max(1, self.batch_size or m)
        with tqdm(total=m, desc=type(self).__name__, unit="subset", disable=not progress, leave=False) as bar:
            for lo in range(0, m, step):
                hi = min(m, lo + step)
                yield lo, hi
                self._n_evaluations += hi - lo
                bar.update(hi - lo)

    def evaluate(self, counts: Any, *, progress: bool = False) -> NDArray[np.float64]:
        """Utilities of subsets given as counts.

        Args:
            counts: bool or non-negative integer array ``(m, N)``; ``counts[r, i]`` is the number of
                copies of training point i in subset r.
            progress: show a tqdm progress bar over the batches.

        Returns:
            float64 array ``(m,)``.

        Raises:
            ShapeError: if ``counts`` is not ``(m, N)``.
            InvalidDTypeError: if ``counts`` is neither bool nor integer.
            InvalidArgumentError: if a count is negative.
            NonFiniteError: if a utility comes out NaN or infinite (e.g. from a custom metric).
        """
        array = as_counts(counts, self.n_data)
        values = np.empty(array.shape[0], dtype=np.float64)
        for lo, hi in self._batches(array.shape[0], progress):
            rows = np.arange(lo, hi, dtype=np.int64)
            out = np.asarray(self._evaluate(array[lo:hi], rows), dtype=np.float64)
            if out.shape != (hi - lo,):
                raise ShapeError(f"values: the utility returned shape {out.shape} for {hi - lo} subsets")
            bad = ~np.isfinite(out)
            if bad.any():
                raise NonFiniteError(f"values: the utility is NaN or infinite at subset row(s) {shown_rows(rows[bad])}")
            values[lo:hi] = out
        return values

    def __call__(self, counts: Any, *, progress: bool = False) -> NDArray[np.float64]:
        """Same as :meth:`evaluate`."""
        return self.evaluate(counts, progress=progress)

    def with_points(self, x: Any, y: Any) -> Utility:
        """A utility of the same kind whose training set has the points ``(x, y)`` appended.

        The new points are players ``N .. N + len(x) - 1``; everything else (validation set,
        model settings) is unchanged. Only model utilities support it.
        """
        raise InvalidArgumentError(f"x: {type(self).__name__} has no training data to append points to")


class FunctionUtility(Utility):
    """A utility given by a vectorised function of the counts, for synthetic games and tests.

    Args:
        fn: ``fn(counts)`` with counts int64 ``(m, n_data)``, returning ``(m,)`` utilities.
        n_data: number of training points N.
        batch_size: subsets per call of ``fn`` (default: all at once).
    """

    def __init__(self, fn: Callable[[NDArray[np.int64]], Any], n_data: int, *, batch_size: int | None = None) -> None:
        super().__init__()
        if not callable(fn):
            raise InvalidArgumentError(f"fn: must be callable, got {type(fn).__name__}")
        self._fn = fn
        self._n_data = check_int("n_data", n_data, 0)
        self._batch_size = None if batch_size is None else check_int("batch_size", batch_size, 1)

    @property
    def n_data(self) -> int:
        """Number of training points N."""
        return self._n_data

    @property
    def batch_size(self) -> int | None:
        """Subsets per call of ``fn`` (``None``: all at once)."""
        return self._batch_size

    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        values = real_values("fn", self._fn(counts))
        if values.shape != (counts.shape[0],):
            raise ShapeError(f"fn: must return values of shape ({counts.shape[0]},), got {values.shape}")
        return values
