"""Training amortizers on noisy labels: stochastic amortization (Covert et al., NeurIPS 2024).

The amortizer a(x; θ) is fitted by regression on pairs (x, ã(x)) where ã is a cheap, noisy,
(ideally) unbiased estimate of the attribution a(x). For an unbiased oracle,

    E‖a(x; θ) − ã(x)‖² = E‖a(x; θ) − a(x)‖² + E[tr Cov(ã | x)],

so the noisy loss has the same minimiser as the exact one: noise slows training but does not bias
it, and the amortizer's error ends up well below the labels' own noise. The loss is the paper's:
the squared error summed over players and outputs, averaged over the batch (d × MSE in their code).

Two entry points: :func:`train_amortizer` on stored labels (e.g. from the label store) and
:func:`train_amortizer_online` with fresh labels drawn every epoch. Both return a
:class:`TrainResult` whose :class:`Amortizer` remembers the target scale and the efficiency
normalization, so ``result.amortizer.predict(x)`` gives attributions in the labels' units.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from tqdm.auto import tqdm

from stochamort._modes import evaluation
from stochamort.amortize.models import efficiency_normalize
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import Estimate

__all__ = [
    "Amortizer",
    "TrainHistory",
    "TrainResult",
    "train_amortizer",
    "train_amortizer_online",
    "predict",
    "OracleLabels",
    "epoch_seed",
    "MixedPrecision",
    "LabelFn",
]

MixedPrecision = Optional[Literal["auto", "bf16", "fp16"]]
"""``"auto"`` (bf16 where supported, else fp16, on CUDA with float32 models; off elsewhere),
``"bf16"``, ``"fp16"`` (CUDA only) or ``None`` (full precision)."""

LabelFn = Callable[[NDArray[np.int64], int], Any]
"""``label_fn(indices, epoch)``: fresh noisy labels ``(len(indices), d, n_outputs)`` for the training
points ``indices`` (a contiguous, increasing range) at ``epoch``; an array, tensor or Estimate."""

#: Datasets up to this size (bytes) are moved to the device once; larger ones batch by batch.
_STAGE_ON_DEVICE_BYTES = 1 << 30


# --------------------------------------------------------------------------------------------
# The trained model and what training reports


def _float_dtype(model: nn.Module) -> torch.dtype:
    for parameter in model.parameters():
        if parameter.dtype.is_floating_point:
            return parameter.dtype
    return torch.get_default_dtype()


def _model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


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
        self.target_scale = _check_scale(target_scale)
        self.efficiency = _check_bool("efficiency", efficiency)

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
    """What :func:`train_amortizer` returns.

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
            Pass ``flops_per_sample`` to the trainer for those.
        flops_per_sample: the per-sample training FLOPs used above.
        target_scale: the factor the targets were multiplied by (1/rms of the labels for "auto").
        mixed_precision: the autocast dtype used (``"bf16"``, ``"fp16"``) or None.
        device: the device training ran on.
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

    @property
    def model(self) -> nn.Module:
        """The trained network (outputs in scaled units; prefer :attr:`amortizer` for predictions)."""
        return self.amortizer.model

    def predict(self, x: Any, gaps: Any = None, *, batch_size: int = 1024) -> NDArray[np.float64]:
        """Attributions ``(n, d, o)`` in the labels' units: see :meth:`Amortizer.predict`."""
        return self.amortizer.predict(x, gaps, batch_size=batch_size)


# --------------------------------------------------------------------------------------------
# Argument checks


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, *, positive: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(float(value)) or (float(value) <= 0 if positive else float(value) < 0):
        kind = "positive" if positive else "non-negative"
        raise InvalidArgumentError(f"{name}: must be a {kind} finite number, got {value!r}")
    return float(value)


def _check_scale(value: Any) -> float:
    return _check_float("target_scale", value, positive=True)


def _as_inputs(name: str, x: Any, dtype: torch.dtype) -> Tensor:
    """Inputs as a tensor: floating inputs in the model's dtype, integer ones (token ids) as long."""
    if isinstance(x, Estimate):
        raise InvalidArgumentError(f"{name}: expected model inputs, got an Estimate")
    if isinstance(x, Tensor):
        tensor = x.detach()
    else:
        array = np.asarray(x)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{name}: expected a numeric array or tensor, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim < 2:
        raise ShapeError(f"{name}: expected inputs of shape (n, *input_shape), got {tuple(tensor.shape)}")
    if tensor.dtype.is_floating_point:
        tensor = tensor.to(dtype)
        if not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"{name}: holds NaN or infinity")
    elif tensor.dtype != torch.bool:
        tensor = tensor.to(torch.long)
    return tensor


def _as_targets(name: str, value: Any, dtype: torch.dtype, n: int | None, ndim: int) -> Tensor:
    """Labels ``(n, d, o)`` (``ndim=3``) or gaps ``(n, o)`` (``ndim=2``) as a float tensor."""
    if isinstance(value, Estimate):
        value = value.values
    if isinstance(value, Tensor):
        tensor = value.detach().to("cpu", dtype)
    else:
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{name}: expected a numeric array or tensor, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(dtype)
    if tensor.ndim != ndim:
        layout = "(n, n_players, n_outputs)" if ndim == 3 else "(n, n_outputs)"
        raise ShapeError(f"{name}: expected shape {layout}, got {tuple(tensor.shape)}")
    if n is not None and tensor.shape[0] != n:
        raise ShapeError(f"{name}: has {tensor.shape[0]} rows but the inputs have {n}")
    finite = torch.isfinite(tensor.reshape(tensor.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten().tolist()
        shown = ", ".join(str(b) for b in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise NonFiniteError(f"{name}: NaN or infinity at point(s) {shown}")
    return tensor


def _resolve_device(model: nn.Module, device: Any) -> torch.device:
    if device is None:
        return _model_device(model)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidArgumentError(f"device: not a torch device: {device!r}") from err


def _resolve_amp(mixed_precision: Any, device: torch.device, dtype: torch.dtype) -> torch.dtype | None:
    if mixed_precision is None or mixed_precision is False:
        return None
    if mixed_precision not in ("auto", "bf16", "fp16"):
        raise InvalidArgumentError(f"mixed_precision: must be 'auto', 'bf16', 'fp16' or None, got {mixed_precision!r}")
    if mixed_precision == "auto":
        if device.type != "cuda" or dtype != torch.float32:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type != "cuda":
        raise InvalidArgumentError(f"mixed_precision: {mixed_precision!r} autocast is only supported on CUDA, training runs on {device}")
    return torch.bfloat16 if mixed_precision == "bf16" else torch.float16


def _stage(tensor: Tensor, device: torch.device) -> Tensor:
    """Move small datasets to the device once; keep large ones on the host (pinned for CUDA)."""
    if device.type == "cpu":
        return tensor
    if tensor.numel() * tensor.element_size() <= _STAGE_ON_DEVICE_BYTES:
        return tensor.to(device)
    return tensor.pin_memory() if device.type == "cuda" else tensor


def _batch(tensor: Tensor, index: Tensor, device: torch.device) -> Tensor:
    rows = tensor[index.to(tensor.device)]
    return rows if rows.device == device else rows.to(device, non_blocking=True)


def _cosine(total_steps: int, warmup_steps: int, final_lr_ratio: float) -> Callable[[int], float]:
    """Linear warm-up to the base rate, then cosine decay to ``final_lr_ratio`` × base at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return final_lr_ratio + (1.0 - final_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


# --------------------------------------------------------------------------------------------
# Public entry points


def train_amortizer(
    model: nn.Module,
    x_train: Any,
    labels_train: Any,
    *,
    x_val: Any = None,
    labels_val: Any = None,
    gaps_train: Any = None,
    gaps_val: Any = None,
    efficiency: bool = False,
    target_scale: float | Literal["auto"] = 1.0,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_epochs: int = 0,
    final_lr_ratio: float = 0.01,
    max_grad_norm: float | None = None,
    patience: int | None = None,
    device: Any = None,
    mixed_precision: MixedPrecision = "auto",
    seed: int = 0,
    flops_per_sample: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` to predict attributions from noisy labels (stochastic amortization).

    Loss: for a batch of B points, (1/B) Σ_b Σ_{i,k} (f(x_b)_{ik} − s·ã_{b,ik})², the squared
    error summed over players i and outputs k and averaged over points, on targets scaled by s
    (``target_scale``). Optimiser AdamW; learning rate: optional linear warm-up over
    ``warmup_epochs``, then cosine decay per step from ``lr`` to ``final_lr_ratio × lr`` over all
    ``epochs``. After each epoch the loss on the held-out *noisy* labels is computed (evaluation
    mode); the state with the lowest one is kept and loaded at the end — no ground truth needed,
    since for unbiased labels the noisy loss equals the true error plus a constant.

    Args:
        model: network mapping inputs ``(n, *shape)`` to ``(n, n_players, n_outputs)``, e.g.
            :class:`~stochamort.amortize.MLPAmortizer`. Trained in place (moved to ``device``).
        x_train: inputs ``(n, *shape)``: tensor or array (floating inputs are cast to the model's
            dtype; integer ones, e.g. token ids, to int64).
        labels_train: noisy labels ``(n, n_players, n_outputs)``: array, tensor or
            :class:`~stochamort.results.Estimate`.
        x_val, labels_val: held-out inputs and noisy labels for checkpoint selection and early
            stopping (both or neither).
        gaps_train, gaps_val: v(all) − v(∅) per point ``(n, n_outputs)``, needed iff ``efficiency``.
        efficiency: train through the additive efficiency normalization (predictions sum to the gap).
        target_scale: factor s on the targets (predictions are divided by it again), for
            attributions of small norm such as Banzhaf or LIME (the paper uses 100); ``"auto"``
            picks 1 / rms of the training labels.
        epochs: number of passes over the training set.
        batch_size: points per optimisation step (the last batch of an epoch may be smaller).
        lr: peak learning rate.
        weight_decay: AdamW's decoupled weight decay.
        warmup_epochs: epochs of linear learning-rate warm-up (0: none).
        final_lr_ratio: the learning rate at the last step, as a fraction of ``lr``.
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        patience: stop when the validation loss has not improved for this many epochs (None:
            never; needs a validation set).
        device: where to train (default: the device of the model's parameters).
        mixed_precision: autocast dtype on CUDA; see :data:`MixedPrecision`. The loss and the
            efficiency normalization stay in full precision.
        seed: seeds the shuffling and any randomness of the model (dropout) during training,
            without touching the global generator's state afterwards. On CPU, training is
            deterministic for a seed (for a fixed model initialisation and thread count).
        flops_per_sample: training FLOPs per sample for :attr:`TrainResult.train_flops`
            (default 6 × parameters; see there).
        progress: show a progress bar over epochs with the training and validation losses.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InvalidArgumentError: bad settings (the message names the argument).
        ShapeError: inputs, labels, gaps or the model's output disagree in shape.
        NonFiniteError: NaN or infinite inputs or labels, or a diverging loss.
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    dtype = _float_dtype(model)
    x = _as_inputs("x_train", x_train, dtype)
    labels = _as_targets("labels_train", labels_train, dtype, x.shape[0], 3)
    return _fit(
        model,
        x,
        _FixedLabels(labels),
        x_val=x_val,
        labels_val=labels_val,
        gaps_train=gaps_train,
        gaps_val=gaps_val,
        efficiency=efficiency,
        target_scale=target_scale,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        final_lr_ratio=final_lr_ratio,
        max_grad_norm=max_grad_norm,
        patience=patience,
        device=device,
        mixed_precision=mixed_precision,
        seed=seed,
        flops_per_sample=flops_per_sample,
        progress=progress,
    )


def train_amortizer_online(
    model: nn.Module,
    x_train: Any,
    label_fn: LabelFn,
    *,
    label_chunk_size: int | None = None,
    x_val: Any = None,
    labels_val: Any = None,
    gaps_train: Any = None,
    gaps_val: Any = None,
    efficiency: bool = False,
    target_scale: float | Literal["auto"] = 1.0,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_epochs: int = 0,
    final_lr_ratio: float = 0.01,
    max_grad_norm: float | None = None,
    patience: int | None = None,
    device: Any = None,
    mixed_precision: MixedPrecision = "auto",
    seed: int = 0,
    flops_per_sample: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Like :func:`train_amortizer`, but with fresh noisy labels for every training point each epoch.

    At the start of epoch ``e``, ``label_fn(indices, e)`` is called for contiguous chunks of
    ``label_chunk_size`` training points (default: all at once; ``indices`` is
    ``arange(start, stop)``), and must return their labels ``(len(indices), d, n_outputs)`` (an
    array, tensor or Estimate). Each epoch thus sees independent draws, so the effective number
    of label samples grows with the epochs (the paper's "more data, fewer samples" trade-off
    without storing anything). :class:`OracleLabels` builds such a function from an oracle.
    With ``target_scale="auto"`` the scale comes from epoch 0's labels. The validation labels
    (``labels_val``) are fixed, as in :func:`train_amortizer`. Time spent in ``label_fn`` counts
    in ``train_seconds`` but not in ``train_flops``.
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(label_fn):
        raise InvalidArgumentError(f"label_fn: must be callable as label_fn(indices, epoch), got {type(label_fn).__name__}")
    dtype = _float_dtype(model)
    x = _as_inputs("x_train", x_train, dtype)
    n = int(x.shape[0])
    chunk = n if label_chunk_size is None else _check_int("label_chunk_size", label_chunk_size, 1)
    return _fit(
        model,
        x,
        _OnlineLabels(label_fn, n, chunk, dtype),
        x_val=x_val,
        labels_val=labels_val,
        gaps_train=gaps_train,
        gaps_val=gaps_val,
        efficiency=efficiency,
        target_scale=target_scale,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        final_lr_ratio=final_lr_ratio,
        max_grad_norm=max_grad_norm,
        patience=patience,
        device=device,
        mixed_precision=mixed_precision,
        seed=seed,
        flops_per_sample=flops_per_sample,
        progress=progress,
    )


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
        normalize = model.efficiency if efficiency is None else _check_bool("efficiency", efficiency)
    else:
        scale = 1.0 if target_scale is None else _check_scale(target_scale)
        normalize = False if efficiency is None else _check_bool("efficiency", efficiency)
    batch_size = _check_int("batch_size", batch_size, 1)
    dtype = _float_dtype(network)
    inputs = _as_inputs("x", x, dtype)
    where = _resolve_device(network, device)
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
        gap_tensor = _as_targets("gaps", gaps, torch.float64, int(phi.shape[0]), 2)
        phi = efficiency_normalize(phi, gap_tensor)
    elif gaps is not None:
        raise InvalidArgumentError("gaps: given but efficiency normalization is off (pass efficiency=True)")
    result: NDArray[np.float64] = phi.numpy()
    return result


# --------------------------------------------------------------------------------------------
# Online labels from an oracle


class _Bindable(Protocol):
    def bind(self, x: Any) -> Any: ...


def epoch_seed(seed: int, epoch: int) -> int:
    """A 64-bit seed for ``epoch`` derived from ``seed`` (independent streams per epoch)."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)
    return int(state[0])


class OracleLabels:
    """A ``label_fn`` for :func:`train_amortizer_online` that runs an oracle on a model game.

    ``OracleLabels(oracle, family, x, seed=0)(indices, epoch)`` binds ``family`` (e.g. a
    :class:`~stochamort.games.MaskedModel`) to ``x[indices]`` and returns
    ``oracle(game, seed=epoch_seed(seed, epoch), point_offset=indices[0])``: each point's draw
    depends only on (seed, epoch, point index), not on the chunking. The evaluations spent are
    added up in :attr:`n_evaluations` (for a :class:`~stochamort.amortize.ComputeLedger`).
    """

    def __init__(self, oracle: Callable[..., Estimate], family: _Bindable, x: Any, *, seed: int = 0) -> None:
        if not callable(oracle):
            raise InvalidArgumentError(f"oracle: must be an oracle (callable on a game), got {type(oracle).__name__}")
        if not hasattr(family, "bind"):
            raise InvalidArgumentError(f"family: must have .bind(x) (e.g. a MaskedModel), got {type(family).__name__}")
        self.oracle = oracle
        self.family = family
        self.x = x
        self.seed = _check_int("seed", seed, 0)
        self.n_evaluations = 0

    def __call__(self, indices: NDArray[np.int64], epoch: int) -> Estimate:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            raise InvalidArgumentError("indices: must not be empty")
        start = int(indices[0])
        if not np.array_equal(indices, np.arange(start, start + indices.size)):
            raise InvalidArgumentError("indices: must be a contiguous increasing range (point_offset needs it)")
        game = self.family.bind(self.x[start : start + indices.size])
        estimate = self.oracle(game, seed=epoch_seed(self.seed, epoch), point_offset=start, progress=False)
        self.n_evaluations += int(np.sum(estimate.n_evaluations))
        return estimate


# --------------------------------------------------------------------------------------------
# The training loop


class _FixedLabels:
    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __call__(self, epoch: int) -> Tensor:
        return self.labels


class _OnlineLabels:
    def __init__(self, label_fn: LabelFn, n: int, chunk: int, dtype: torch.dtype) -> None:
        self.label_fn, self.n, self.chunk, self.dtype = label_fn, n, chunk, dtype
        self.shape: tuple[int, ...] | None = None

    def __call__(self, epoch: int) -> Tensor:
        parts = []
        for start in range(0, self.n, self.chunk):
            indices = np.arange(start, min(self.n, start + self.chunk), dtype=np.int64)
            part = _as_targets("label_fn", self.label_fn(indices, epoch), self.dtype, len(indices), 3)
            if self.shape is not None and tuple(part.shape[1:]) != self.shape:
                raise ShapeError(f"label_fn: returned labels of shape {tuple(part.shape[1:])} per point, earlier {self.shape}")
            self.shape = tuple(part.shape[1:])
            parts.append(part)
        return torch.cat(parts)


def _loss_sum(pred: Tensor, target: Tensor) -> Tensor:
    """Σ over the batch of the squared error summed over players and outputs."""
    return (pred - target).square().sum()


def _fit(
    model: nn.Module,
    x: Tensor,
    labels_for: Callable[[int], Tensor],
    *,
    x_val: Any,
    labels_val: Any,
    gaps_train: Any,
    gaps_val: Any,
    efficiency: bool,
    target_scale: Any,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    warmup_epochs: int,
    final_lr_ratio: float,
    max_grad_norm: float | None,
    patience: int | None,
    device: Any,
    mixed_precision: Any,
    seed: int,
    flops_per_sample: float | None,
    progress: bool,
) -> TrainResult:
    dtype = _float_dtype(model)
    n = int(x.shape[0])
    if n == 0:
        raise ShapeError("x_train: needs at least one training point")
    # ---- settings
    efficiency = _check_bool("efficiency", efficiency)
    progress = _check_bool("progress", progress)
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    lr = _check_float("lr", lr, positive=True)
    weight_decay = _check_float("weight_decay", weight_decay, positive=False)
    warmup_epochs = _check_int("warmup_epochs", warmup_epochs, 0)
    if warmup_epochs >= epochs and warmup_epochs > 0:
        raise InvalidArgumentError(f"warmup_epochs: must be fewer than epochs ({epochs}), got {warmup_epochs}")
    final_lr_ratio = _check_float("final_lr_ratio", final_lr_ratio, positive=False)
    if final_lr_ratio > 1:
        raise InvalidArgumentError(f"final_lr_ratio: must lie in [0, 1], got {final_lr_ratio}")
    clip = None if max_grad_norm is None else _check_float("max_grad_norm", max_grad_norm, positive=True)
    seed = _check_int("seed", seed, 0)
    if seed >= 2**63:
        raise InvalidArgumentError(f"seed: must be below 2**63, got {seed}")
    if not (isinstance(target_scale, str) and target_scale == "auto"):
        if isinstance(target_scale, str):
            raise InvalidArgumentError(f"target_scale: must be a positive number or 'auto', got {target_scale!r}")
        target_scale = _check_scale(target_scale)
    per_sample = None if flops_per_sample is None else _check_float("flops_per_sample", flops_per_sample, positive=False)
    # ---- validation data and gaps
    if (x_val is None) != (labels_val is None):
        missing = "labels_val" if labels_val is None else "x_val"
        raise InvalidArgumentError(f"{missing}: x_val and labels_val must be given together")
    has_val = x_val is not None
    if patience is not None:
        patience = _check_int("patience", patience, 1)
        if not has_val:
            raise InvalidArgumentError("patience: early stopping needs a validation set (x_val, labels_val)")
    xv = yv = None
    if has_val:
        xv = _as_inputs("x_val", x_val, dtype)
        yv = _as_targets("labels_val", labels_val, dtype, int(xv.shape[0]), 3)
        if xv.shape[0] == 0:
            raise ShapeError("x_val: needs at least one validation point")
        if tuple(xv.shape[1:]) != tuple(x.shape[1:]):
            raise ShapeError(f"x_val: per-input shape {tuple(xv.shape[1:])} differs from x_train's {tuple(x.shape[1:])}")
    gt = gv = None
    if efficiency:
        if gaps_train is None:
            raise InvalidArgumentError("gaps_train: efficiency=True needs v(all) − v(∅) for every training point")
        gt = _as_targets("gaps_train", gaps_train, dtype, n, 2)
        if has_val:
            if gaps_val is None:
                raise InvalidArgumentError("gaps_val: efficiency=True needs v(all) − v(∅) for every validation point")
            assert xv is not None
            gv = _as_targets("gaps_val", gaps_val, dtype, int(xv.shape[0]), 2)
        elif gaps_val is not None:
            raise InvalidArgumentError("gaps_val: given without a validation set")
    else:
        for name, value in (("gaps_train", gaps_train), ("gaps_val", gaps_val)):
            if value is not None:
                raise InvalidArgumentError(f"{name}: given but efficiency=False (pass efficiency=True to use the gaps)")
    # ---- device, precision
    where = _resolve_device(model, device)
    model.to(where)
    amp = _resolve_amp(mixed_precision, where, dtype)
    amp_name = None if amp is None else ("bf16" if amp == torch.bfloat16 else "fp16")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise InvalidArgumentError("model: has no trainable parameters")
    n_params = sum(p.numel() for p in model.parameters())
    per_sample = 6.0 * n_params if per_sample is None else per_sample

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=where.type, dtype=amp)

    x_dev = _stage(x, where)
    xv_dev = None if xv is None else _stage(xv, where)
    yv_dev = None if yv is None else _stage(yv, where)
    gt_dev = None if gt is None else _stage(gt, where)
    gv_dev = None if gv is None else _stage(gv, where)

    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _cosine(epochs * steps_per_epoch, warmup_epochs * steps_per_epoch, final_lr_ratio)
    )
    scaler = torch.amp.GradScaler(where.type) if amp == torch.float16 else None

    history = TrainHistory()
    best_epoch, best_val = -1, math.inf
    best_state: dict[str, Tensor] | None = None
    stopped_early = False
    scale = 1.0
    checked_shape = False
    epochs_run = 0
    val_seen = 0
    began = time.perf_counter()

    def forward(xb: Tensor, gaps: Tensor | None) -> Tensor:
        with autocast():
            pred = model(xb)
        if not isinstance(pred, Tensor):
            raise InvalidArgumentError(f"model: must return a tensor, got {type(pred).__name__}")
        pred = pred.to(dtype)
        if gaps is not None:
            pred = efficiency_normalize(pred, gaps * scale)
        return pred

    def validation_loss() -> float:
        assert xv_dev is not None and yv_dev is not None
        total = torch.zeros((), dtype=torch.float64, device=where)
        with evaluation(model):
            for start in range(0, int(xv_dev.shape[0]), batch_size):
                index = torch.arange(start, min(int(xv_dev.shape[0]), start + batch_size))
                gaps = None if gv_dev is None else _batch(gv_dev, index, where)
                pred = forward(_batch(xv_dev, index, where), gaps)
                total += _loss_sum(pred, _batch(yv_dev, index, where) * scale).to(torch.float64)
        return float(total) / int(xv_dev.shape[0]) / scale**2

    devices = [where.index if where.index is not None else torch.cuda.current_device()] if where.type == "cuda" else []
    bar = tqdm(total=epochs, desc="amortizer", unit="epoch", disable=not progress, leave=False)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            shuffle = torch.Generator().manual_seed(seed)
            for epoch in range(epochs):
                labels = labels_for(epoch)
                if epoch == 0:
                    if yv is not None and tuple(yv.shape[1:]) != tuple(labels.shape[1:]):
                        raise ShapeError(
                            f"labels_val: per-point shape {tuple(yv.shape[1:])} differs from the training labels' {tuple(labels.shape[1:])}"
                        )
                    if gt is not None and gt.shape[1] != labels.shape[2]:
                        raise ShapeError(f"gaps_train: has {gt.shape[1]} outputs but the labels have {labels.shape[2]}")
                    if target_scale == "auto":
                        rms = float(labels.to(torch.float64).square().mean().sqrt())
                        if rms == 0.0:
                            raise InvalidArgumentError("target_scale: 'auto' needs training labels that are not all zero")
                        scale = 1.0 / rms
                    else:
                        scale = float(target_scale)
                labels_dev = _stage(labels, where)
                history.lr.append(float(optimizer.param_groups[0]["lr"]))
                model.train()
                order = torch.randperm(n, generator=shuffle)
                running = torch.zeros((), dtype=torch.float64, device=where)
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    target = _batch(labels_dev, index, where) * scale
                    gaps = None if gt_dev is None else _batch(gt_dev, index, where)
                    pred = forward(_batch(x_dev, index, where), gaps)
                    if not checked_shape:
                        if tuple(pred.shape) != tuple(target.shape):
                            raise ShapeError(
                                f"model: returned shape {tuple(pred.shape)} for a batch whose labels have shape {tuple(target.shape)}"
                            )
                        checked_shape = True
                    batch_sum = _loss_sum(pred, target)
                    loss = batch_sum / index.shape[0]
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                        if clip is not None:
                            scaler.unscale_(optimizer)
                            torch.nn.utils.clip_grad_norm_(parameters, clip)
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()  # type: ignore[no-untyped-call]
                        if clip is not None:
                            torch.nn.utils.clip_grad_norm_(parameters, clip)
                        optimizer.step()
                    schedule.step()
                    running += batch_sum.detach().to(torch.float64)
                train_loss = float(running) / n / scale**2
                if not math.isfinite(train_loss):
                    raise NonFiniteError(
                        f"lr: the training loss became non-finite at epoch {epoch}; lower lr or set target_scale"
                    )
                history.train_loss.append(train_loss)
                epochs_run = epoch + 1
                postfix = {"train": f"{train_loss:.4g}"}
                if has_val:
                    val_loss = validation_loss()
                    val_seen += int(xv_dev.shape[0]) if xv_dev is not None else 0
                    history.val_loss.append(val_loss)
                    postfix["val"] = f"{val_loss:.4g}"
                    if val_loss < best_val:
                        best_epoch, best_val = epoch, val_loss
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                history.seconds.append(time.perf_counter() - began)
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if patience is not None and epoch - best_epoch >= patience:
                    stopped_early = epoch + 1 < epochs
                    break
    finally:
        bar.close()
    if where.type == "cuda":
        torch.cuda.synchronize(where)
    seconds = time.perf_counter() - began
    if has_val:
        if best_state is None:  # every validation loss was NaN
            raise NonFiniteError("labels_val: the validation loss was never finite")
        model.load_state_dict(best_state)
    else:
        best_epoch = epochs_run - 1
    model.eval()
    samples = epochs_run * n
    return TrainResult(
        amortizer=Amortizer(model, target_scale=scale, efficiency=efficiency),
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_val if has_val else None,
        epochs_run=epochs_run,
        stopped_early=stopped_early,
        train_seconds=seconds,
        samples_processed=samples,
        val_samples_processed=val_seen,
        train_flops=per_sample * samples + per_sample / 3.0 * val_seen,
        flops_per_sample=per_sample,
        target_scale=scale,
        mixed_precision=amp_name,
        device=str(where),
    )
