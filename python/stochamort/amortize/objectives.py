"""What an amortizer is fitted to, epoch by epoch: the two training signals of the loop.

* :class:`LabelTargets` — noisy labels ã(x) ``(n, d, o)``, the signal of stochastic amortization:
  per point, Σ_{i,k} (f_ik − s·ã_ik)².
* :class:`CoalitionTargets` — coalitions z ``(n, m, d)`` and their values y = v(z) − v(∅)
  ``(n, m, o)``, the signal of FastSHAP (Jethani et al., ICLR 2022): per point,
  (1/m) Σ_j Σ_k (s·y_jk − z_j·f_k)², the KernelSHAP objective on the sampled coalitions. With
  coalitions drawn from the Shapley kernel and the efficiency normalization, its minimiser is the
  Shapley value.

Both are in scaled units (``f`` is the network's prediction for targets multiplied by ``s``) and
both sum over the batch; the loop divides by the number of points. They share one interface, so
the trainer, its configuration, checkpointing and the result are the same whichever is used.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

import torch
from torch import Tensor

from stochamort.amortize.data import LabelFn, as_targets, gather, stage
from stochamort.errors import InvalidArgumentError, ShapeError

__all__ = ["Targets", "LabelTargets", "CoalitionTargets", "TargetSource", "FixedLabels", "OnlineLabels"]

TargetSource = Callable[[int], "Targets"]
"""``targets_for(epoch)``: the training targets to fit in ``epoch`` (CPU tensors)."""


class Targets(ABC):
    """A training signal for ``n_points`` points whose attributions have ``per_point`` shape ``(d, o)``."""

    @property
    @abstractmethod
    def n_points(self) -> int:
        """Number of points."""

    @property
    @abstractmethod
    def per_point(self) -> tuple[int, int]:
        """``(n_players, n_outputs)``: the shape of one point's predicted attributions."""

    @abstractmethod
    def staged(self, device: torch.device) -> Targets:
        """The same targets with their tensors staged for ``device`` (see :func:`stage`)."""

    @abstractmethod
    def rows(self, index: Tensor, device: torch.device) -> tuple[Tensor, ...]:
        """The targets of the points ``index``, on ``device``."""

    @abstractmethod
    def loss_sum(self, pred: Tensor, rows: tuple[Tensor, ...], scale: float) -> Tensor:
        """Σ over the batch of the per-point loss of the scaled predictions ``pred`` ``(B, d, o)``
        against ``rows`` (from :meth:`rows`), whose values are multiplied by ``scale``."""

    @abstractmethod
    def auto_scale(self) -> float:
        """The factor ``TrainConfig(target_scale="auto")`` multiplies the targets by."""

    def check_prediction(self, pred: Tensor) -> None:
        """Refuse predictions ``(B, d', o')`` whose per-point shape is not :attr:`per_point`."""
        if pred.ndim != 3 or tuple(pred.shape[1:]) != self.per_point:
            raise ShapeError(
                f"model: returned shape {tuple(pred.shape)} for a batch whose attributions have shape "
                f"(batch, {self.per_point[0]}, {self.per_point[1]})"
            )


def _rms(values: Tensor, what: str) -> float:
    rms = float(values.to(torch.float64).square().mean().sqrt())
    if rms == 0.0 or not math.isfinite(rms):
        raise InvalidArgumentError(f"TrainConfig.target_scale: 'auto' needs {what} that are not all zero")
    return rms


class LabelTargets(Targets):
    """Noisy labels ``(n, d, o)`` (stochastic amortization); ``"auto"`` scale: 1 / rms of the labels."""

    def __init__(self, labels: Tensor) -> None:
        if labels.ndim != 3:
            raise ShapeError(f"labels: expected shape (n, n_players, n_outputs), got {tuple(labels.shape)}")
        self.labels = labels

    @property
    def n_points(self) -> int:
        return int(self.labels.shape[0])

    @property
    def per_point(self) -> tuple[int, int]:
        return int(self.labels.shape[1]), int(self.labels.shape[2])

    def staged(self, device: torch.device) -> LabelTargets:
        return LabelTargets(stage(self.labels, device))

    def rows(self, index: Tensor, device: torch.device) -> tuple[Tensor, ...]:
        return (gather(self.labels, index, device),)

    def loss_sum(self, pred: Tensor, rows: tuple[Tensor, ...], scale: float) -> Tensor:
        return (pred - rows[0] * scale).square().sum()

    def auto_scale(self) -> float:
        return 1.0 / _rms(self.labels, "training labels")


class CoalitionTargets(Targets):
    """Sampled coalitions ``masks`` ``(n, m, d)`` (bool) and their values ``values`` ``(n, m, o)``,
    y = v(S) − v(∅) (FastSHAP).

    ``"auto"`` scale: √(d/2) / rms(y), one over the player-effect size of an additive game with
    values of that size (|S| ≈ d/2 players, each of rms σ, give rms(y) ≈ σ·√(d/2)), so the scaled
    attributions are of order one as with labels.
    """

    def __init__(self, masks: Tensor, values: Tensor) -> None:
        if masks.ndim != 3 or values.ndim != 3 or masks.shape[:2] != values.shape[:2]:
            raise ShapeError(
                f"masks, values: expected (n, m, n_players) and (n, m, n_outputs), got {tuple(masks.shape)} and {tuple(values.shape)}"
            )
        if masks.shape[1] == 0:
            raise ShapeError("masks: needs at least one coalition per point")
        self.masks = masks
        self.values = values

    @property
    def n_points(self) -> int:
        return int(self.masks.shape[0])

    @property
    def n_coalitions(self) -> int:
        """Coalitions per point (m)."""
        return int(self.masks.shape[1])

    @property
    def per_point(self) -> tuple[int, int]:
        return int(self.masks.shape[2]), int(self.values.shape[2])

    def staged(self, device: torch.device) -> CoalitionTargets:
        return CoalitionTargets(stage(self.masks, device), stage(self.values, device))

    def rows(self, index: Tensor, device: torch.device) -> tuple[Tensor, ...]:
        return gather(self.masks, index, device), gather(self.values, index, device)

    def loss_sum(self, pred: Tensor, rows: tuple[Tensor, ...], scale: float) -> Tensor:
        masks, values = rows
        # z_j · φ for every coalition j and output: (B, m, d) @ (B, d, o) -> (B, m, o).
        predicted = torch.bmm(masks.to(pred.dtype), pred)
        return (predicted - values.to(pred.dtype) * scale).square().sum() / masks.shape[1]

    def auto_scale(self) -> float:
        d = self.per_point[0]
        return math.sqrt(d / 2.0) / _rms(self.values, "coalition values v(S) − v(∅)")


class FixedLabels:
    """The same stored labels ``(n, d, o)`` every epoch: ``FixedLabels(labels)(epoch)``."""

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __call__(self, epoch: int) -> LabelTargets:
        return LabelTargets(self.labels)


class OnlineLabels:
    """Fresh labels every epoch from ``label_fn(indices, epoch)``, called on contiguous chunks of
    ``chunk`` of the ``n`` training points and concatenated; every chunk must give the same
    per-point shape."""

    def __init__(self, label_fn: LabelFn, n: int, chunk: int, dtype: torch.dtype) -> None:
        self.label_fn, self.n, self.chunk, self.dtype = label_fn, n, chunk, dtype
        self.shape: tuple[int, ...] | None = None

    def __call__(self, epoch: int) -> LabelTargets:
        parts = []
        for start in range(0, self.n, self.chunk):
            indices = np.arange(start, min(self.n, start + self.chunk), dtype=np.int64)
            part = as_targets("label_fn", self.label_fn(indices, epoch), self.dtype, len(indices), 3)
            if self.shape is not None and tuple(part.shape[1:]) != self.shape:
                raise ShapeError(f"label_fn: returned labels of shape {tuple(part.shape[1:])} per point, earlier {self.shape}")
            self.shape = tuple(part.shape[1:])
            parts.append(part)
        return LabelTargets(torch.cat(parts))
