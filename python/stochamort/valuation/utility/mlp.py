""":class:`TorchMLPUtility`: one-hidden-layer ReLU networks trained on each subset, stacked and
trained together by full-batch Adam."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from stochamort._checks import check_float, check_int
from stochamort.valuation.utility.classifier import Metric
from stochamort.valuation.utility.rows import TorchData, to_tensor
from stochamort.valuation.utility.support import SubsetSupport
from stochamort.valuation.utility.torch_classifier import TorchClassifierUtility

__all__ = ["TorchMLPUtility"]


class TorchMLPUtility(TorchClassifierUtility):
    """Validation score of a one-hidden-layer ReLU network trained on each subset, many at once.

    The networks ``softmax(W2 relu(W1 x + b1) + b2)`` (K outputs, also for two classes) of a batch
    are trained together with stacked parameters and batched matmuls. Every subset starts from the
    same initial parameters, drawn from ``seed`` (PyTorch's ``nn.Linear`` initialisation,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))), and takes exactly ``epochs`` full-batch Adam steps
    (``torch.optim.Adam(lr, weight_decay)``, weight decay on all parameters) on the count-weighted
    mean cross-entropy. Adam acts elementwise, so U is a deterministic function of the subset:
    batch size and batch companions only change float rounding of the matmuls. Degenerate
    subsets follow the package's rule (:mod:`stochamort.valuation.utility`); no feature scaling
    is applied.

    Args:
        x_train, y_train, x_valid, y_valid: as for
            :class:`~stochamort.valuation.utility.TorchLogisticUtility`.
        hidden: hidden units.
        epochs: Adam steps (full batch) per subset.
        lr: Adam learning rate.
        weight_decay: Adam's L2 weight decay.
        seed: seed of the shared initial parameters.
        metric: ``"accuracy"``, ``"log_likelihood"`` or a callable.
        batch_size: subsets trained together (also bounded by memory).
        device: torch device (default CPU).
        dtype: torch.float32 (default) or torch.float64.
        sparse_threshold: as for :class:`~stochamort.valuation.utility.TorchLogisticUtility`.
    """

    def __init__(
        self,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        hidden: int = 32,
        epochs: int = 100,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
        metric: Metric = "accuracy",
        batch_size: int = 512,
        device: Any = None,
        dtype: torch.dtype = torch.float32,
        sparse_threshold: float = 0.2,
    ) -> None:
        super().__init__(x_train, y_train, x_valid, y_valid, metric)
        self.hidden = check_int("hidden", hidden, 1)
        self.epochs = check_int("epochs", epochs, 0)
        self.lr = check_float("lr", lr, positive=True)
        self.weight_decay = check_float("weight_decay", weight_decay, positive=False)
        self.seed = check_int("seed", seed, 0)
        self._set_torch_settings(batch_size, device, dtype, sparse_threshold)
        generator = torch.Generator().manual_seed(self.seed)
        d, h, k = self.n_features, self.hidden, self.n_classes

        def uniform(shape: tuple[int, ...], fan_in: int) -> Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            values = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * bound
            return values.to(device=self.device, dtype=self.dtype)

        self._initial = (uniform((d, h), d), uniform((h,), d), uniform((h, k), h), uniform((k,), h))
        self._x = to_tensor(self.x_train, self.device, self.dtype)
        self._xv = to_tensor(self.x_valid, self.device, self.dtype)
        self._y = to_tensor(self.y_train, self.device)

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> TorchMLPUtility:
        return TorchMLPUtility(
            x_train, y_train, self.x_valid, self.classes_[self.y_valid], hidden=self.hidden, epochs=self.epochs,
            lr=self.lr, weight_decay=self.weight_decay, seed=self.seed, metric=self.metric,
            batch_size=self._batch_size, device=self.device, dtype=self.dtype, sparse_threshold=self.sparse_threshold,
        )

    @staticmethod
    def _forward(x: Tensor, sparse: bool, params: list[Tensor]) -> Tensor:
        w1, b1, w2, b2 = params
        hidden = torch.bmm(x, w1) if sparse else torch.matmul(x, w1)
        hidden = torch.relu(hidden + b1[:, None, :])
        return torch.bmm(hidden, w2) + b2[:, None, :]

    def _cells_per_model(self, n_rows: int, sparse: bool) -> int:
        return (n_rows + self.n_valid) * (6 * self.hidden + 6 * self.n_classes + self.n_features + 2)

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: SubsetSupport | None = None
    ) -> NDArray[np.float64]:
        out = np.empty((counts.shape[0], self.n_valid, self.n_classes), dtype=np.float64)
        for part, data in self._training_chunks(counts, support or SubsetSupport(counts)):
            out[part] = self._train_chunk(data)
        return out

    def _train_chunk(self, data: TorchData) -> NDArray[np.float64]:
        b = data.w.shape[0]
        labels = data.labels(b)[:, :, None]
        params = [p.expand(b, *p.shape).clone().requires_grad_(True) for p in self._initial]
        with torch.enable_grad():
            optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.epochs):
                optimiser.zero_grad(set_to_none=True)
                logp = torch.log_softmax(self._forward(data.x, data.sparse, params), dim=2)
                loss = -(data.w * logp.gather(2, labels)[:, :, 0]).sum()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
        with torch.no_grad():
            probabilities = torch.softmax(self._forward(self._xv, False, [p.detach() for p in params]).double(), dim=2)
        return np.asarray(probabilities.cpu().numpy(), dtype=np.float64)
