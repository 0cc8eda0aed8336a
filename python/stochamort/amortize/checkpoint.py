"""Validation on held-out *noisy* labels, and keeping the best state (checkpoint selection).

For unbiased labels the noisy validation loss is the true error plus a constant (the labels'
noise), so the epoch with the lowest one is also the one with the lowest true error in
expectation: no ground truth is needed to pick the checkpoint or to stop early.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import Tensor, nn

from stochamort._modes import evaluation
from stochamort.amortize.data import gather, stage
from stochamort.amortize.objectives import Targets
from stochamort.errors import NonFiniteError

__all__ = ["Forward", "ValidationSet", "BestCheckpoint"]

Forward = Callable[[Tensor, Optional[Tensor]], Tensor]
"""``forward(inputs, gaps)``: the model's scaled predictions for a batch (gaps already on device)."""


class ValidationSet:
    """Held-out inputs, targets (noisy labels, or FastSHAP's coalition values) and (with
    efficiency) gaps, staged on ``device``.

    Args:
        x: inputs ``(n, *shape)`` (CPU).
        targets: the held-out :class:`~stochamort.amortize.objectives.Targets` (CPU).
        gaps: v(all) − v(∅) ``(n, o)`` or None.
        device: the training device.
    """

    def __init__(self, x: Tensor, targets: Targets, gaps: Tensor | None, device: torch.device) -> None:
        self.n = int(x.shape[0])
        self.device = device
        self._x = stage(x, device)
        self._targets = targets.staged(device)
        self._gaps = None if gaps is None else stage(gaps, device)

    def loss(self, model: nn.Module, forward: Forward, scale: float, batch_size: int) -> float:
        """Mean over the points of the targets' loss (for labels: the squared error summed over
        players and outputs), in the targets' units, with ``model`` in evaluation mode and
        without autograd."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with evaluation(model):
            for start in range(0, self.n, batch_size):
                index = torch.arange(start, min(self.n, start + batch_size))
                gaps = None if self._gaps is None else gather(self._gaps, index, self.device)
                pred = forward(gather(self._x, index, self.device), gaps)
                total += self._targets.loss_sum(pred, self._targets.rows(index, self.device), scale).to(torch.float64)
        return float(total) / self.n / scale**2


class BestCheckpoint:
    """The state of the epoch with the lowest validation loss so far, and early stopping.

    Args:
        patience: stop once this many epochs have passed without a new best (None: never).
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        #: The epoch of the best state (-1 before any finite loss).
        self.epoch = -1
        #: Its validation loss (infinity before any finite loss).
        self.loss = math.inf
        self._state: dict[str, Tensor] | None = None

    def update(self, epoch: int, loss: float, model: nn.Module) -> None:
        """Keep a copy of ``model``'s state if ``loss`` is a new best (NaN never is)."""
        if loss < self.loss:
            self.epoch, self.loss = epoch, loss
            self._state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def exhausted(self, epoch: int) -> bool:
        """Whether training should stop after ``epoch``: ``patience`` epochs without a new best."""
        return self.patience is not None and epoch - self.epoch >= self.patience

    def state(self) -> dict[str, Any]:
        """What :meth:`load_state` needs to continue (for a resume file)."""
        return {"epoch": self.epoch, "loss": self.loss, "state": self._state}

    def load_state(self, state: dict[str, Any], device: torch.device) -> None:
        """Continue from :meth:`state`'s output (the kept state moved to ``device``)."""
        self.epoch, self.loss = int(state["epoch"]), float(state["loss"])
        kept = state["state"]
        self._state = None if kept is None else {k: v.to(device) for k, v in kept.items()}

    def restore(self, model: nn.Module) -> None:
        """Load the best state into ``model``.

        Raises:
            NonFiniteError: no validation loss was ever finite, so there is no best state.
        """
        if self._state is None:
            raise NonFiniteError("labels_val: the validation loss was never finite")
        model.load_state_dict(self._state)
