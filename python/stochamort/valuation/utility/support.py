"""Per-batch bookkeeping of subsets given as counts: sizes, totals, class counts, supports.

Built once per batch of subsets and shared by the degenerate-subset rule, the grouping of models
for fitting and the gathering of their supports (numpy only; no torch here).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["SubsetSupport"]


class SubsetSupport:
    """Sizes, totals, class counts and (for sparse subsets) the nonzeros of a batch of subsets.

    Built once per batch and shared by the grouping, the gathering of supports and the class
    counts: scanning the dense ``(m, N)`` counts dominated the cost of small fits. The nonzeros are
    listed (row-major COO) only for the subsets that :meth:`groups` puts on the gathered path.

    Attributes:
        counts: the counts ``(m, N)``.
        n_subsets, n_data: m and N.
        sizes: support sizes (distinct points) ``(m,)``.
        totals: total counts as float64 ``(m,)``.
    """

    def __init__(self, counts: NDArray[np.int64]) -> None:
        self.counts = counts
        self.n_subsets, self.n_data = counts.shape
        self.sizes = np.count_nonzero(counts, axis=1)
        self.totals = counts.sum(axis=1, dtype=np.int64).astype(np.float64)
        self._reset_nonzeros()

    def _reset_nonzeros(self) -> None:
        """No subset has its nonzeros listed yet."""
        self._local = np.full(self.n_subsets, -1, dtype=np.int64)
        self._cols = self._values = self._starts = np.zeros(0, dtype=np.int64)

    def class_counts(self, labels: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Copies of each class in each subset, ``(m, K)``."""
        if self.totals.max(initial=0.0) < 2**24:  # float32 sums of integers are exact below 2**24
            onehot = np.eye(n_classes, dtype=np.float32)[labels]
            sums: NDArray[np.float32] = self.counts.astype(np.float32) @ onehot
            return np.rint(sums).astype(np.int64)
        return np.stack([self.counts[:, labels == c].sum(axis=1, dtype=np.int64) for c in range(n_classes)], axis=1)

    def select(self, keep: NDArray[np.bool_]) -> SubsetSupport:
        """The same for the subsets where ``keep`` is true (no rescan of the counts)."""
        out = SubsetSupport.__new__(SubsetSupport)
        out.counts = self.counts[keep]
        out.n_subsets, out.n_data = out.counts.shape
        out.sizes, out.totals = self.sizes[keep], self.totals[keep]
        out._reset_nonzeros()
        return out

    def _list_nonzeros(self, positions: NDArray[np.int64]) -> None:
        """The COO of the subsets at ``positions`` (ascending), for :meth:`padded`."""
        rows = self.counts if positions.size == self.n_subsets else self.counts[positions]
        local_rows, self._cols = np.nonzero(rows)
        self._values = rows[local_rows, self._cols].astype(np.int64)
        sizes = self.sizes[positions]
        self._starts = np.cumsum(sizes) - sizes
        self._local[positions] = np.arange(positions.size)

    def padded(self, positions: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Supports of the subsets at ``positions`` (on the gathered path): indices and counts
        ``(len(positions), K)``, K the largest support among them (padding: index 0, count 0)."""
        if (self._local[positions] < 0).any():
            raise AssertionError("padded() needs subsets that groups() put on the gathered path")
        sizes = self.sizes[positions]
        width = max(1, int(sizes.max(initial=0)))
        row = np.repeat(np.arange(positions.size), sizes)
        within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        source = np.repeat(self._starts[self._local[positions]], sizes) + within
        index = np.zeros((positions.size, width), dtype=np.int64)
        weight = np.zeros((positions.size, width), dtype=np.int64)
        index[row, within] = self._cols[source]
        weight[row, within] = self._values[source]
        return index, weight

    def groups(self, sparse_threshold: float) -> list[tuple[NDArray[np.int64], bool]]:
        """The batch's models grouped for fitting: ``(positions, sparse)`` pairs.

        Models whose support exceeds ``sparse_threshold * N`` form one dense group; the others are
        bucketed by support size (powers of two, at least 16) so that padding at most doubles the rows.
        """
        dense = self.sizes > sparse_threshold * self.n_data
        groups: list[tuple[NDArray[np.int64], bool]] = []
        if dense.any():
            groups.append((np.flatnonzero(dense), False))
        positions = np.flatnonzero(~dense)
        if positions.size:
            self._list_nonzeros(positions)
            key = np.maximum(4, np.ceil(np.log2(np.maximum(self.sizes[positions], 1))).astype(np.int64))
            for value in np.unique(key):
                groups.append((positions[key == value], True))
        return groups
