"""Training rows of a batch of torch models on the device, and the torch settings of the utilities.

:class:`TorchData` holds what a batch of weighted fits reads: either each model's gathered
support (sparse) or the full training set shared by all models with per-model weights (dense).
The solver (:mod:`~stochamort.valuation.utility.solver`) and the MLP utility both work on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from stochamort.errors import InvalidArgumentError, InvalidDTypeError

__all__ = ["MAX_CELLS", "torch_device", "torch_dtype", "to_tensor", "chunks", "outer_products", "TorchData"]

#: Upper bound on the tensor cells (elements) one chunk of torch fits works on at once.
MAX_CELLS = 1 << 24


def torch_device(device: Any) -> torch.device:
    """``device`` as a torch device (``None``: CPU); InvalidArgumentError naming ``device`` if it is not one."""
    if device is None:
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgumentError(f"device: not a torch device: {device!r}") from exc


def torch_dtype(dtype: Any) -> torch.dtype:
    """``dtype`` if it is torch.float32 or torch.float64; else InvalidDTypeError naming ``dtype``."""
    if dtype not in (torch.float32, torch.float64):
        raise InvalidDTypeError(f"dtype: must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[no-any-return]


def to_tensor(array: NDArray[Any], device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """A tensor copy of a numpy array on ``device`` (copied first: the array may be read-only)."""
    return torch.from_numpy(np.array(array, copy=True)).to(device=device, dtype=dtype)


def chunks(n: int, per_model_cells: int, batch: int) -> list[tuple[int, int]]:
    """Ranges of at most ``batch`` models whose working set stays under :data:`MAX_CELLS` cells."""
    size = max(1, min(batch, MAX_CELLS // max(1, per_model_cells)))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def outer_products(x: Tensor) -> Tensor | None:
    """Upper triangles of the row outer products of ``x`` ``(N, d1)``: ``(N, d1 (d1 + 1) / 2)``,
    for dense Hessians by one matmul; ``None`` if that exceeds :data:`MAX_CELLS` cells."""
    n, d1 = int(x.shape[0]), int(x.shape[1])
    if n * d1 * (d1 + 1) // 2 > MAX_CELLS:
        return None
    rows, cols = torch.triu_indices(d1, d1, device=x.device)
    return x[:, rows] * x[:, cols]


class TorchData:
    """Training rows of a batch of models on the device: gathered supports or the dense set.

    Sparse: ``x`` ``(b, n, d1)``, ``y`` ``(b, n)`` (each model's support, padded with weight-0 rows);
    dense: ``x`` ``(N, d1)``, ``y`` ``(N,)`` shared by all models, and optionally ``xx``
    ``(N, d1 (d1 + 1) / 2)`` (the upper triangles of the row outer products, for Hessians by one
    matmul, see :func:`outer_products`). ``w`` ``(b, n or N)`` are the weights; ``y`` holds class
    indices (long).
    """

    def __init__(self, x: Tensor, y: Tensor, w: Tensor, sparse: bool, xx: Tensor | None = None) -> None:
        self.x, self.y, self.w, self.sparse, self.xx = x, y, w, sparse, xx
        self._target: Tensor | None = None
        self._sign: Tensor | None = None

    @classmethod
    def dense(cls, counts: NDArray[np.int64], x: Tensor, y: Tensor, normalise: bool, xx: Tensor | None = None) -> TorchData:
        """All N rows, weighted by ``counts`` ``(b, N)``."""
        data = cls(x, y, to_tensor(counts, x.device, x.dtype), False, xx)
        return data.normalised() if normalise else data

    @classmethod
    def gathered(
        cls, support: tuple[NDArray[np.int64], NDArray[np.int64]], x: Tensor, y: Tensor, normalise: bool
    ) -> TorchData:
        """Each model's support rows, from :meth:`SubsetSupport.padded
        <stochamort.valuation.utility.support.SubsetSupport.padded>`'s indices and counts."""
        index, weight = support
        idx = torch.from_numpy(index).to(x.device)
        data = cls(x[idx], y[idx], torch.from_numpy(weight).to(device=x.device, dtype=x.dtype), True)
        return data.normalised() if normalise else data

    def normalised(self) -> TorchData:
        """Weights scaled to sum to 1 per model (in place; returns ``self``)."""
        self.w = self.w / self.w.sum(dim=1, keepdim=True)
        return self

    def select(self, keep: Tensor) -> TorchData:
        """The models at positions ``keep`` (a long tensor)."""
        if self.sparse:
            return TorchData(self.x[keep], self.y[keep], self.w[keep], True)
        return TorchData(self.x, self.y, self.w[keep], False, self.xx)

    def labels(self, b: int) -> Tensor:
        """Labels ``(b, rows)``."""
        return self.y if self.sparse else self.y.expand(b, -1)

    def target(self, b: int) -> Tensor:
        """Labels as floats (1 for class 1) ``(b, rows)``, for binary problems."""
        if self._target is None:
            self._target = self.y.to(self.w.dtype)
        return self._target if self.sparse else self._target.expand(b, -1)

    def sign(self, b: int) -> Tensor:
        """``1 - 2 y`` ``(b, rows)``, for binary problems."""
        if self._sign is None:
            self._sign = 1.0 - 2.0 * self.y.to(self.w.dtype)
        return self._sign if self.sparse else self._sign.expand(b, -1)

    def logits(self, theta: Tensor) -> Tensor:
        """``theta x_i`` for stacked ``theta`` ``(b, k, d1)`` -> ``(b, k, rows)``."""
        b, k, d1 = theta.shape
        if self.sparse:
            return torch.bmm(theta, self.x.transpose(1, 2))
        return (theta.reshape(b * k, d1) @ self.x.T).reshape(b, k, -1)

    def weighted_sum(self, r: Tensor) -> Tensor:
        """``sum_i r_qi x_i`` per model: ``r`` ``(b, q, rows)`` -> ``(b, q, d1)``."""
        b, q, n = r.shape
        if self.sparse:
            return torch.bmm(r, self.x)
        return (r.reshape(b * q, n) @ self.x).reshape(b, q, -1)

    def weighted_outer(self, a: Tensor) -> Tensor:
        """``sum_i a_qi x_i x_i^T`` per model: ``a`` ``(b, q, rows)`` -> ``(b, q, d1, d1)``."""
        b, q, n = a.shape
        d1 = int(self.x.shape[-1])
        if self.sparse:
            scaled = a[:, :, None, :] * self.x.transpose(1, 2)[:, None, :, :]  # (b, q, d1, n)
            return torch.bmm(scaled.reshape(b, q * d1, n), self.x).reshape(b, q, d1, d1)
        if self.xx is not None:
            upper = (a.reshape(b * q, n) @ self.xx).reshape(b, q, -1)
            rows, cols = torch.triu_indices(d1, d1, device=a.device)
            out = torch.empty((b, q, d1, d1), dtype=a.dtype, device=a.device)
            out[:, :, rows, cols] = upper
            out[:, :, cols, rows] = upper
            return out
        scaled = a[:, :, None, :] * self.x.T[None, None, :, :]
        return (scaled.reshape(b * q * d1, n) @ self.x).reshape(b, q, d1, d1)
