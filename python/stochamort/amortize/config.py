"""The settings of an amortizer's training run, in one frozen, validated object.

:class:`TrainConfig` holds everything :func:`~stochamort.amortize.train_amortizer`,
:func:`~stochamort.amortize.train_amortizer_online` and the value network
(:func:`~stochamort.valuation.amortize_data_values`) need to know about *how* to train; the data
(model, inputs, labels, validation set, gaps) stay arguments of those functions. A config is
checked when it is made (a bad value raises :class:`~stochamort.errors.InvalidArgumentError`
naming the field, e.g. ``"TrainConfig.lr: must be a positive finite number, got -1"``), is
immutable and hashable, and :meth:`TrainConfig.settings` gives a JSON-serialisable dict for
provenance (as the oracles' ``settings()`` do) that :meth:`TrainConfig.from_settings` reads back.

Change a setting with :meth:`TrainConfig.replace` (or :func:`dataclasses.replace`, the same
thing), which validates the new config again::

    config = TrainConfig(epochs=30, lr=2e-3)
    longer = config.replace(epochs=60)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import numpy as np
import torch

from stochamort._checks import check_bool, check_float, check_int
from stochamort.errors import InvalidArgumentError

__all__ = ["TrainConfig", "MixedPrecision", "TargetScale"]

MixedPrecision = Optional[Literal["auto", "bf16", "fp16"]]
"""``"auto"`` (bf16 where supported, else fp16, on CUDA with float32 models; off elsewhere),
``"bf16"``, ``"fp16"`` (CUDA only) or ``None`` (full precision)."""

TargetScale = Union[float, Literal["auto"]]
"""A positive factor on the training targets, or ``"auto"`` (1 / rms of the training labels)."""

_PREFIX = "TrainConfig."


def _field(name: str) -> str:
    return _PREFIX + name


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train an amortizer: optimiser, schedule, scaling, checkpointing, device, seed.

    Training minimises, for a batch of B points, (1/B) Σ_b Σ_{i,k} (f(x_b)_{ik} − s·ã_{b,ik})²,
    the squared error summed over players i and outputs k and averaged over points, on targets
    scaled by s (``target_scale``), with AdamW; the learning rate warms up linearly over
    ``warmup_epochs``, then decays per step on a cosine from ``lr`` to ``final_lr_ratio × lr``.
    With a validation set, the state with the lowest loss on the held-out *noisy* labels is kept.

    Every field is checked on construction (and again by :meth:`replace`); numbers are stored as
    plain Python ``int``/``float`` and the device as its string (``"cuda:0"``), so that equal
    settings compare and hash equal. Settings that depend on the data or the model (``patience``
    without a validation set, ``mixed_precision`` on a CPU model) are checked when training starts,
    with messages naming the field the same way.

    Attributes:
        efficiency: train through the additive efficiency normalization (predictions sum to
            v(all) − v(∅), which the trainer then needs as ``gaps_train``/``gaps_val``).
        target_scale: factor s on the targets (predictions are divided by it again), for
            attributions of small norm such as Banzhaf or LIME (the paper uses 100); ``"auto"``
            picks 1 / rms of the training labels (of epoch 0's labels when they are drawn online).
        standardize_inputs: fit a mean and a standard deviation per input element on
            ``x_train`` (float64; population std, 1 for constant elements; see
            :func:`~stochamort.amortize.fit_standardization`), train on ``(x − mean) / std``, and
            return an :class:`~stochamort.amortize.Amortizer` that standardises every input it is
            given the same way (in ``forward`` and ``predict``; saved with its state). Floating
            inputs only: integer inputs (token ids) are refused. The network sees standardised
            inputs, so a :class:`~stochamort.amortize.GatedMLPAmortizer`'s baseline must then be
            given in standardised units, ``(baseline − mean) / std``. Off (the default), training
            on floating tabular inputs whose scales are far from standardised warns.
        epochs: number of passes over the training set (``>= 1``).
        batch_size: points per optimisation step (the last batch of an epoch may be smaller).
        lr: peak learning rate (positive).
        weight_decay: AdamW's decoupled weight decay (non-negative).
        warmup_epochs: epochs of linear learning-rate warm-up (0: none; fewer than ``epochs``).
        final_lr_ratio: the learning rate at the last step, as a fraction of ``lr``, in [0, 1].
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        patience: stop when the validation loss has not improved for this many epochs (None:
            never; needs a validation set).
        device: where to train, as a string (default None: the device of the model's parameters);
            anything :class:`torch.device` accepts is taken and stored as ``str(torch.device(...))``.
        mixed_precision: autocast dtype on CUDA; see :data:`MixedPrecision` (``False`` is read as
            None). The loss and the efficiency normalization stay in full precision.
        seed: seeds the shuffling and any randomness of the model (dropout) during training,
            without touching the global generator's state afterwards; an integer in [0, 2**63).
            On CPU, training is deterministic for a seed (for a fixed model initialisation and
            thread count).
        flops_per_sample: training FLOPs per sample for
            :attr:`~stochamort.amortize.TrainResult.train_flops` (None: 6 × parameters).
        progress: show a progress bar over epochs with the training and validation losses.
        resume_path: a file for the whole training state, written after every epoch; a run
            that finds it resumes from it (see :mod:`~stochamort.amortize.resume`: it is refused
            if made for other settings, data or another model). None (the default): no file.
    """

    efficiency: bool = False
    target_scale: TargetScale = 1.0
    standardize_inputs: bool = False
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: int = 0
    final_lr_ratio: float = 0.01
    max_grad_norm: float | None = None
    patience: int | None = None
    device: str | torch.device | None = None
    mixed_precision: MixedPrecision = "auto"
    seed: int = 0
    flops_per_sample: float | None = None
    progress: bool = True
    resume_path: str | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("efficiency", check_bool(_field("efficiency"), self.efficiency))
        put("progress", check_bool(_field("progress"), self.progress))
        put("standardize_inputs", check_bool(_field("standardize_inputs"), self.standardize_inputs))
        put("target_scale", _check_target_scale(self.target_scale))
        put("epochs", check_int(_field("epochs"), self.epochs, 1))
        put("batch_size", check_int(_field("batch_size"), self.batch_size, 1))
        put("lr", check_float(_field("lr"), self.lr, positive=True))
        put("weight_decay", check_float(_field("weight_decay"), self.weight_decay, positive=False))
        warmup = check_int(_field("warmup_epochs"), self.warmup_epochs, 0)
        if warmup >= self.epochs and warmup > 0:
            raise InvalidArgumentError(f"{_field('warmup_epochs')}: must be fewer than epochs ({self.epochs}), got {warmup}")
        put("warmup_epochs", warmup)
        ratio = check_float(_field("final_lr_ratio"), self.final_lr_ratio, positive=False)
        if ratio > 1:
            raise InvalidArgumentError(f"{_field('final_lr_ratio')}: must lie in [0, 1], got {ratio}")
        put("final_lr_ratio", ratio)
        if self.max_grad_norm is not None:
            put("max_grad_norm", check_float(_field("max_grad_norm"), self.max_grad_norm, positive=True))
        if self.patience is not None:
            put("patience", check_int(_field("patience"), self.patience, 1))
        put("device", _check_device(self.device))
        put("mixed_precision", _check_mixed_precision(self.mixed_precision))
        seed = check_int(_field("seed"), self.seed, 0)
        if seed >= 2**63:
            raise InvalidArgumentError(f"{_field('seed')}: must be below 2**63, got {seed}")
        put("seed", seed)
        if self.resume_path is not None:
            if not isinstance(self.resume_path, (str, os.PathLike)) or not str(self.resume_path):
                raise InvalidArgumentError(f"{_field('resume_path')}: must be a file path or None, got {self.resume_path!r}")
            put("resume_path", os.fspath(self.resume_path))
        if self.flops_per_sample is not None:
            put("flops_per_sample", check_float(_field("flops_per_sample"), self.flops_per_sample, positive=False))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and validated again (:func:`dataclasses.replace`).

        Raises:
            InvalidArgumentError: a changed value is bad (the message names the field).
            TypeError: a name that is not a field.
        """
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (field name → value), for provenance.

        ``TrainConfig.from_settings(json.loads(json.dumps(config.settings()))) == config``.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrainConfig:
        """The config whose :meth:`settings` are ``settings`` (missing fields take their defaults).

        Raises:
            InvalidArgumentError: a key that is not a field, or a bad value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise InvalidArgumentError(f"TrainConfig: unknown setting(s) {', '.join(map(repr, unknown))}")
        return cls(**dict(settings))


def _check_target_scale(value: Any) -> TargetScale:
    if isinstance(value, str):
        if value == "auto":
            return "auto"
        raise InvalidArgumentError(f"{_field('target_scale')}: must be a positive number or 'auto', got {value!r}")
    return check_float(_field("target_scale"), value, positive=True)


def _check_device(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{_field('device')}: not a torch device: {value!r}")
    try:
        return str(torch.device(value))
    except (RuntimeError, TypeError) as err:
        raise InvalidArgumentError(f"{_field('device')}: not a torch device: {value!r}") from err


def _check_mixed_precision(value: Any) -> MixedPrecision:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        if value == "auto":
            return "auto"
        if value == "bf16":
            return "bf16"
        if value == "fp16":
            return "fp16"
    raise InvalidArgumentError(f"{_field('mixed_precision')}: must be 'auto', 'bf16', 'fp16' or None, got {value!r}")
