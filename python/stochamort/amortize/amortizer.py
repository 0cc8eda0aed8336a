"""What training produces: the :class:`Amortizer` (the network plus how its outputs map back to
attributions), the :class:`TrainResult` with its :class:`TrainHistory`, and :func:`predict`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort._modes import evaluation
from stochamort._checks import check_bool, check_float, check_int
from stochamort.amortize.data import as_inputs, as_targets, float_dtype, resolve_device
from stochamort.amortize.models import efficiency_normalize
from stochamort.errors import InvalidArgumentError, ShapeError

__all__ = ["Amortizer", "TrainHistory", "TrainResult", "predict"]


class Amortizer(nn.Module):
    """A trained amortizer: the network plus how its outputs map back to attributions.

    The network is trained on targets multiplied by ``target_scale``; :meth:`forward` divides its
    output back and, if ``efficiency`` is set, applies the additive efficiency normalization with
    the gaps Δ = v(all) − v(∅) (then required). Being a module, it moves with ``.to(device)`` and
    saves with ``state_dict()`` (the scale and flag are plain attributes: keep them alongside).

    Args:
        model: network mapping inputs ``(n, *shape)`` to ``(n, n_players, n_outputs)``.
        target_scale: the factor the training targets were multiplied by.
        efficiency: whether predictions are normalized to sum to the gaps.
    """

    def __init__(self, model: nn.Module, target_scale: float = 1.0, efficiency: bool = False) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.target_scale = check_float("target_scale", target_scale, positive=True)
        self.efficiency = check_bool("efficiency", efficiency)

    def forward(self, x: Tensor, gaps: Tensor | None = None) -> Tensor:
        """Attributions ``(n, d, o)`` in the labels' units (differentiable)."""
        out: Tensor = self.model(x) / self.target_scale
        if self.efficiency:
            if gaps is None:
                raise InvalidArgumentError("gaps: this amortizer applies efficiency normalization and needs v(all) − v(∅)")
            out = efficiency_normalize(out, gaps)
        return out

    def predict(self, x: Any, gaps: Any = None, *, batch_size: int = 1024) -> NDArray[np.float64]:
        """Attributions ``(n, d, o)`` as float64 numpy, evaluated in batches without autograd."""
        return predict(self, x, gaps=gaps, batch_size=batch_size)


@dataclass
class TrainHistory:
    """Per-epoch records of a training run (losses in the labels' units, i.e. divided by the
    squared target scale): the mean training loss over the epoch's batches (in training mode),
    the loss on the held-out noisy labels (empty without a validation set), the learning rate at
    the start of the epoch, and the seconds elapsed since training began at the epoch's end."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        """The records as a dict of lists (e.g. for ``pandas.DataFrame``)."""
        return {"train_loss": self.train_loss, "val_loss": self.val_loss, "lr": self.lr, "seconds": self.seconds}


@dataclass
class TrainResult:
    """What :func:`~stochamort.amortize.train_amortizer` (and the online variant) return.

    Attributes:
        amortizer: the trained :class:`Amortizer` (best state loaded, evaluation mode).
        history: per-epoch losses and learning rates.
        best_epoch: the epoch (0-based) whose state was kept: lowest validation loss on the noisy
            held-out labels, or the last epoch without a validation set.
        best_val_loss: that epoch's validation loss (None without a validation set).
        epochs_run: epochs actually trained (fewer than asked when early stopping triggered).
        stopped_early: whether early stopping ended training.
        train_seconds: wall-clock seconds of the training loop (labels drawn online included).
        samples_processed: training samples seen (epochs_run × n_train).
        val_samples_processed: validation samples evaluated.
        train_flops: estimated FLOPs of training: ``flops_per_sample`` × samples_processed plus a
            third of it × val_samples_processed (forward only). By default ``flops_per_sample`` is
            6 × parameters: 2 per parameter for the forward pass (a multiply and an add) and 4 for
            the backward pass (gradients with respect to activations and weights). This is the
            standard estimate for dense networks whose parameters are each used once per sample
            (MLPs); it undercounts networks that reuse parameters within a sample (convolutions,
            transformers, per-patch heads: ≈ 6 × parameters × tokens) and overcounts frozen ones.
            Set :attr:`TrainConfig.flops_per_sample <stochamort.amortize.TrainConfig.flops_per_sample>`
            for those.
        flops_per_sample: the per-sample training FLOPs used above.
        target_scale: the factor the targets were multiplied by (1/rms of the labels for "auto").
        mixed_precision: the autocast dtype used (``"bf16"``, ``"fp16"``) or None.
        device: the device training ran on.
        settings: the :meth:`TrainConfig.settings() <stochamort.amortize.TrainConfig.settings>`
            of the run (JSON-serialisable provenance; ``TrainConfig.from_settings`` rebuilds it).
    """

    amortizer: Amortizer
    history: TrainHistory
    best_epoch: int
    best_val_loss: float | None
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    samples_processed: int
    val_samples_processed: int
    train_flops: float
    flops_per_sample: float
    target_scale: float
    mixed_precision: str | None
    device: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> nn.Module:
        """The trained network (outputs in scaled units; prefer :attr:`amortizer` for predictions)."""
        return self.amortizer.model

    def predict(self, x: Any, gaps: Any = None, *, batch_size: int = 1024) -> NDArray[np.float64]:
        """Attributions ``(n, d, o)`` in the labels' units: see :meth:`Amortizer.predict`."""
        return self.amortizer.predict(x, gaps, batch_size=batch_size)


def predict(
    model: nn.Module,
    x: Any,
    *,
    gaps: Any = None,
    efficiency: bool | None = None,
    target_scale: float | None = None,
    batch_size: int = 1024,
    device: Any = None,
) -> NDArray[np.float64]:
    """Attributions ``(n, d, o)`` (float64) of inputs ``x`` from an amortizer, in batches.

    For an :class:`Amortizer` (or a :class:`TrainResult`'s ``amortizer``), its target scale and
    efficiency flag apply; for a bare network, pass ``target_scale`` (the factor its targets were
    multiplied by; default 1) and ``efficiency``. The division by the scale and the efficiency
    normalization are done in float64, so with ``efficiency`` the outputs sum to ``gaps`` up to
    float64 rounding. Evaluation mode and no autograd; the modules' modes are restored after.
    """
    if isinstance(model, TrainResult):
        model = model.amortizer
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module or an Amortizer, got {type(model).__name__}")
    network = model.model if isinstance(model, Amortizer) else model
    if isinstance(model, Amortizer):
        if target_scale is not None and float(target_scale) != model.target_scale:
            raise InvalidArgumentError(
                f"target_scale: the Amortizer was trained with scale {model.target_scale}; do not pass another ({target_scale!r})"
            )
        scale = model.target_scale
        normalize = model.efficiency if efficiency is None else check_bool("efficiency", efficiency)
    else:
        scale = 1.0 if target_scale is None else check_float("target_scale", target_scale, positive=True)
        normalize = False if efficiency is None else check_bool("efficiency", efficiency)
    batch_size = check_int("batch_size", batch_size, 1)
    dtype = float_dtype(network)
    inputs = as_inputs("x", x, dtype)
    where = resolve_device(network, device)
    if device is not None:
        network.to(where)
    chunks = []
    with evaluation(network):
        for start in range(0, inputs.shape[0], batch_size):
            out = network(inputs[start : start + batch_size].to(where))
            chunks.append(out.detach().to("cpu", torch.float64))
    if chunks:
        raw = torch.cat(chunks)
    else:
        raw = torch.zeros((0, 0, 0), dtype=torch.float64)
    if raw.ndim != 3:
        raise ShapeError(f"model: must return (n, n_players, n_outputs), got shape {tuple(raw.shape)}")
    phi = raw / scale
    if normalize:
        if gaps is None:
            raise InvalidArgumentError("gaps: efficiency normalization needs v(all) − v(∅) for every point")
        gap_tensor = as_targets("gaps", gaps, torch.float64, int(phi.shape[0]), 2)
        phi = efficiency_normalize(phi, gap_tensor)
    elif gaps is not None:
        raise InvalidArgumentError("gaps: given but efficiency normalization is off (pass efficiency=True)")
    result: NDArray[np.float64] = phi.numpy()
    return result
