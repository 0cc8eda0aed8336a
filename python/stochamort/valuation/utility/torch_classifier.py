"""The base of the torch utilities (:class:`TorchClassifierUtility`): batch size, device, dtype,
the sparse/dense threshold, and the training rows of each chunk of models fitted together."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from stochamort._checks import check_fraction, check_int
from stochamort.valuation.utility.classifier import ClassifierUtility
from stochamort.valuation.utility.rows import TorchData, chunks, torch_device, torch_dtype
from stochamort.valuation.utility.support import SubsetSupport

__all__ = ["TorchClassifierUtility"]


class TorchClassifierUtility(ClassifierUtility):
    """Base of the classifier utilities that fit a batch of torch models together on a device.

    A batch's non-degenerate subsets are grouped (:meth:`SubsetSupport.groups
    <stochamort.valuation.utility.support.SubsetSupport.groups>`): subsets whose support is at most
    ``sparse_threshold * N`` are fitted on their gathered support rows, larger ones on all N rows
    with count weights; each group is cut into chunks of at most ``batch_size`` models whose
    working set stays under :data:`~stochamort.valuation.utility.rows.MAX_CELLS` cells.

    Subclasses call :meth:`_set_torch_settings` in their ``__init__`` and set ``_x`` (training
    features on the device, as the models read them) and ``_y`` (training class indices).
    """

    _x: Tensor
    _y: Tensor
    device: torch.device
    dtype: torch.dtype
    sparse_threshold: float

    def _set_torch_settings(self, batch_size: Any, device: Any, dtype: Any, sparse_threshold: Any) -> None:
        """Check and set ``batch_size``, ``device``, ``dtype`` and ``sparse_threshold`` (in [0, 1])."""
        self._batch_size = check_int("batch_size", batch_size, 1)
        self.device = torch_device(device)
        self.dtype = torch_dtype(dtype)
        self.sparse_threshold = check_fraction("sparse_threshold", sparse_threshold)

    @property
    def batch_size(self) -> int:
        """Subsets evaluated (and fitted) together at most."""
        return self._batch_size

    @abstractmethod
    def _cells_per_model(self, n_rows: int, sparse: bool) -> int:
        """Tensor cells one model of a chunk works on, with ``n_rows`` training rows."""

    def _dense_outer(self) -> Tensor | None:
        """Row outer products handed to the dense path's :class:`TorchData` (default: none)."""
        return None

    def _training_chunks(
        self, counts: NDArray[np.int64], support: SubsetSupport
    ) -> Iterator[tuple[NDArray[np.int64], TorchData]]:
        """The chunks of models fitted together: their positions in ``counts`` and their rows
        (weights normalised to sum to 1 per model)."""
        for positions, sparse in support.groups(self.sparse_threshold):
            n_rows = int(support.sizes[positions].max()) if sparse else self.n_data
            per_model = self._cells_per_model(n_rows, sparse)
            for lo, hi in chunks(positions.size, per_model, self._batch_size):
                part = positions[lo:hi]
                if sparse:
                    data = TorchData.gathered(support.padded(part), self._x, self._y, normalise=True)
                else:
                    data = TorchData.dense(counts[part], self._x, self._y, normalise=True, xx=self._dense_outer())
                yield part, data
