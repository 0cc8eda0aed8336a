"""What training produces: the :class:`Amortizer` (the network plus everything that maps inputs to
it and its outputs back to attributions, all in its state), the :class:`TrainResult` with its
:class:`TrainHistory`, and :func:`predict`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort._bundle import read_bundle, write_bundle
from stochamort._checks import check_bool, check_float, check_int
from stochamort._modes import evaluation
from stochamort.amortize.architectures import build_network, network_spec
from stochamort.amortize.data import as_inputs, as_targets, float_dtype, model_device, resolve_device
from stochamort.amortize.models import efficiency_normalize
from stochamort.amortize.standardization import standardize
from stochamort.amortize.state import check_state, floating_dtype, restore_zero_d, state_arrays, state_tensors
from stochamort.errors import InvalidArgumentError, ModelMismatchError, NonFiniteError, SavedFileError, ShapeError

__all__ = ["Amortizer", "TrainHistory", "TrainResult", "predict", "BUNDLE_KIND"]

#: The kind of bundle :meth:`Amortizer.save` writes.
BUNDLE_KIND = "Amortizer"

# Buffers kept in float64 whatever dtype the network is cast to (a cast would round them).
_FLOAT64_BUFFERS = ("target_scale_value", "input_mean", "input_std")
# Buffers whose shape the loaded state decides (empty: no standardisation).
_STANDARDIZATION = ("input_mean", "input_std")


def _standardization(mean: Any, std: Any) -> tuple[Tensor, Tensor]:
    if (mean is None) != (std is None):
        raise InvalidArgumentError(f"{'input_std' if std is None else 'input_mean'}: input_mean and input_std must be given together")
    if mean is None:
        return torch.zeros(0, dtype=torch.float64), torch.ones(0, dtype=torch.float64)
    tensors = []
    for name, value in (("input_mean", mean), ("input_std", std)):
        tensor = torch.as_tensor(value.detach() if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64))
        if not (tensor.dtype.is_floating_point or tensor.dtype in (torch.int32, torch.int64)):
            raise InvalidArgumentError(f"{name}: must hold real numbers, got dtype {tensor.dtype}")
        tensor = tensor.to("cpu", torch.float64).clone()
        if tensor.ndim < 1 or tensor.numel() < 1:
            raise ShapeError(f"{name}: must have the per-input shape (at least one element), got shape {tuple(tensor.shape)}")
        tensors.append(tensor)
    mean_t, std_t = tensors
    if mean_t.shape != std_t.shape:
        raise ShapeError(f"input_std: shape {tuple(std_t.shape)} differs from input_mean's {tuple(mean_t.shape)}")
    problem = _standardization_problem(mean_t, std_t)
    if problem:
        raise NonFiniteError(problem) if "finite" in problem else InvalidArgumentError(problem)
    return mean_t, std_t


def _standardization_problem(mean: Tensor, std: Tensor) -> str | None:
    if not bool(torch.isfinite(mean).all()):
        return "input_mean: must be finite"
    if not bool(torch.isfinite(std).all()):
        return "input_std: must be finite"
    if not bool((std > 0).all()):
        return "input_std: must be positive (fit_standardization gives constant elements std 1)"
    return None


class Amortizer(nn.Module):
    """A trained amortizer: the network plus everything that maps inputs to it and its outputs
    back to attributions, all of it in the module's state.

    :meth:`forward` standardises the inputs (if fitted: ``(x − input_mean) / input_std``, in
    float64, cast to the network's dtype), runs the network, divides its output by
    ``target_scale`` (the network was trained on targets multiplied by it) and, if ``efficiency``
    is set, applies the additive efficiency normalization with the gaps Δ = v(all) − v(∅) (then
    required). The scale, the flag and the standardisation are persistent buffers
    (``target_scale_value`` float64 0-d, ``efficiency_flag`` bool 0-d, ``input_mean`` and
    ``input_std`` float64 of the per-input shape, empty without standardisation): ``state_dict()``
    carries them and ``load_state_dict`` restores them, into any ``Amortizer`` around a network of
    the same architecture. They stay float64 when the module is cast (``.half()``, ``.to(dtype)``).

    :meth:`save` / :meth:`load` write and read a bundle (safetensors + JSON, no pickle);
    :meth:`state_arrays`, :meth:`spec` and :meth:`from_arrays` are the same in memory.

    Args:
        model: network mapping inputs ``(n, *shape)`` to ``(n, n_players, n_outputs)``.
        target_scale: the factor the training targets were multiplied by.
        efficiency: whether predictions are normalized to sum to the gaps.
        input_mean, input_std: the standardisation of the inputs, of the per-input shape (both or
            neither; neither: inputs are passed unchanged); ``input_std`` positive (see
            :func:`~stochamort.amortize.fit_standardization`).

    Raises:
        InvalidArgumentError: a bad argument (the message names it).
    """

    target_scale_value: Tensor
    efficiency_flag: Tensor
    input_mean: Tensor
    input_std: Tensor

    def __init__(
        self,
        model: nn.Module,
        target_scale: float = 1.0,
        efficiency: bool = False,
        *,
        input_mean: Any = None,
        input_std: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
        scale = check_float("target_scale", target_scale, positive=True)
        flag = check_bool("efficiency", efficiency)
        mean, std = _standardization(input_mean, input_std)
        self.model = model
        device = model_device(model)
        self.register_buffer("target_scale_value", torch.tensor(scale, dtype=torch.float64, device=device))
        self.register_buffer("efficiency_flag", torch.tensor(flag, dtype=torch.bool, device=device))
        self.register_buffer("input_mean", mean.to(device))
        self.register_buffer("input_std", std.to(device))

    @property
    def target_scale(self) -> float:
        """The factor the training targets were multiplied by (predictions are divided by it)."""
        return float(self.target_scale_value)

    @property
    def efficiency(self) -> bool:
        """Whether predictions are normalized to sum to the gaps v(all) − v(∅)."""
        return bool(self.efficiency_flag)

    @property
    def standardizes_inputs(self) -> bool:
        """Whether inputs are standardised before the network sees them."""
        return self.input_mean.numel() > 0

    def standardize(self, x: Tensor) -> Tensor:
        """The inputs as the network sees them: ``(x − input_mean) / input_std`` computed in
        float64 and cast to the network's floating dtype, or ``x`` itself without standardisation.

        Raises:
            InvalidArgumentError: integer or bool inputs to an amortizer that standardises.
            ShapeError: inputs whose per-input shape is not the standardisation's.
        """
        if not self.standardizes_inputs:
            return x
        if not x.dtype.is_floating_point:
            raise InvalidArgumentError(
                f"x: this amortizer standardises its inputs, which must be floating point, got integer or bool inputs "
                f"({x.dtype}); convert them first, e.g. x.astype(np.float32)"
            )
        if tuple(x.shape[1:]) != tuple(self.input_mean.shape):
            raise ShapeError(
                f"x: per-input shape {tuple(x.shape[1:])} differs from the standardisation's {tuple(self.input_mean.shape)}"
            )
        return standardize(x, (self.input_mean, self.input_std), float_dtype(self.model))

    def forward(self, x: Tensor, gaps: Tensor | None = None) -> Tensor:
        """Attributions ``(n, d, o)`` in the labels' units (differentiable)."""
        out: Tensor = self.model(self.standardize(x)) / self.target_scale
        if self.efficiency:
            if gaps is None:
                raise InvalidArgumentError("gaps: this amortizer applies efficiency normalization and needs v(all) − v(∅)")
            out = efficiency_normalize(out, gaps)
        return out

    def predict(self, x: Any, gaps: Any = None, *, batch_size: int = 1024) -> NDArray[np.float64]:
        """Attributions ``(n, d, o)`` as float64 numpy, evaluated in batches without autograd."""
        return predict(self, x, gaps=gaps, batch_size=batch_size)

    # ---------------------------------------------------------------------------------------
    # Saving and loading

    def state_arrays(self) -> dict[str, NDArray[Any]]:
        """``state_dict()`` as numpy arrays (CPU, contiguous copies, float16 kept as float16):
        the network's weights and buffers under ``model.`` and the amortizer's own buffers.

        Raises:
            InvalidArgumentError: a bfloat16 tensor (cast the network with ``.float()`` first).
        """
        return state_arrays(self)

    def spec(self) -> dict[str, Any]:
        """What rebuilding this amortizer needs beyond :meth:`state_arrays` (JSON-serialisable):
        ``{"network": the network's spec() or None, "network_class": its class name}``. The spec
        is None for networks that cannot describe themselves (other classes, subclasses of the
        default ones, a PatchAmortizer on another backbone than ViTBackbone): loading then needs
        the network instance."""
        return {"network": network_spec(self.model), "network_class": type(self.model).__qualname__}

    @classmethod
    def from_arrays(cls, spec: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]], network: nn.Module | None = None) -> Amortizer:
        """The amortizer whose :meth:`spec` and :meth:`state_arrays` these are, on the CPU in eval mode.

        The network is built from ``spec`` (:func:`~stochamort.amortize.build_network`) unless
        ``network`` is given; it is cast to the saved weights' floating dtype, and the state is
        loaded only if it fits exactly (names, shapes, dtypes), so no value is silently dropped,
        defaulted or rounded. Entries of shape ``(1,)`` where the state is 0-d are read as 0-d
        (bundles store 0-d arrays that way).

        Args:
            spec: from :meth:`spec`.
            arrays: from :meth:`state_arrays`.
            network: a network of the saved architecture, whose weights are replaced (needed when
                the spec has none; checked against it when it has one).

        Raises:
            InvalidArgumentError: a bad ``spec`` or ``network``, or no network to build.
            ModelMismatchError: ``network``'s own spec differs from the saved one.
            SavedFileError: the arrays do not fit the network (listing every missing or
                unexpected name and every shape or dtype mismatch) or hold invalid values.
        """
        if not isinstance(spec, Mapping) or "network" not in spec:
            raise InvalidArgumentError(f"spec: must be an Amortizer.spec() dict with a 'network' entry, got {spec!r}")
        saved = spec["network"]
        if network is None:
            if saved is None:
                raise InvalidArgumentError(
                    f"network: this amortizer's network ({spec.get('network_class', 'unknown class')}) cannot be rebuilt "
                    f"from a spec; pass an instance of the same architecture as network="
                )
            network = build_network(saved)
        elif not isinstance(network, nn.Module):
            raise InvalidArgumentError(f"network: must be a torch.nn.Module, got {type(network).__name__}")
        elif saved is not None and (given := network_spec(network)) is not None and given != saved:
            raise ModelMismatchError(f"network: its spec {given} differs from the saved one {saved}")
        tensors = state_tensors(arrays)
        dtype = floating_dtype(tensors, "model.")
        if dtype is not None:
            network.to(dtype)
        amortizer = cls(network.cpu())
        tensors = restore_zero_d(amortizer, tensors)  # bundles store 0-d arrays as shape (1,)
        check_state(amortizer, tensors, resizable=_STANDARDIZATION)
        try:
            amortizer.load_state_dict(tensors)
        except RuntimeError as err:
            raise SavedFileError(f"arrays: could not be loaded into the amortizer ({err})") from err
        return amortizer.eval()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save the amortizer as a bundle (a directory: ``weights.safetensors`` and ``config.json``,
        nothing pickled) that :meth:`load` reads back, bit for bit.

        Args:
            path: the bundle's directory (new, or empty).
            overwrite: replace a bundle already at ``path`` (atomically); without it that is refused.

        Returns:
            The bundle's path.

        Raises:
            InvalidArgumentError: ``path`` holds a bundle (and not ``overwrite``) or something
                that is not a bundle, or a bfloat16 tensor in the state.
        """
        return write_bundle(path, BUNDLE_KIND, {"spec": self.spec()}, self.state_arrays(), overwrite=check_bool("overwrite", overwrite))

    @classmethod
    def load(cls, path: str | os.PathLike[str], network: nn.Module | None = None) -> Amortizer:
        """The amortizer saved at ``path`` by :meth:`save`, on the CPU in eval mode.

        Args:
            path: the bundle's directory.
            network: an instance of the saved architecture, needed for networks without a spec
                (see :meth:`spec`); its weights are replaced.

        Raises:
            SavedFileError: not a bundle, another kind of bundle, an edited config, or weights
                that do not fit the network.
            InvalidArgumentError, ModelMismatchError: as for :meth:`from_arrays`, about ``network``.
        """
        config, arrays = read_bundle(path, BUNDLE_KIND)
        spec = config.get("spec")
        if not isinstance(spec, dict) or "network" not in spec:
            raise SavedFileError(f"path: {path} has no amortizer spec in its config")
        if network is None and spec["network"] is not None:
            try:
                network = build_network(spec["network"])
            except InvalidArgumentError as err:
                raise SavedFileError(f"path: {path} holds a network spec that cannot be built ({err})") from err
        try:
            return cls.from_arrays(spec, arrays, network)
        except SavedFileError as err:
            raise SavedFileError(f"path: {path}: {err}") from err

    # ---------------------------------------------------------------------------------------
    # Keeping the state whole through torch's own conversions and loading

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Amortizer:
        kept = {name: self._buffers[name] for name in _FLOAT64_BUFFERS}
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        for name, before in kept.items():
            after = self._buffers[name]
            if before is not None and after is not None and after.dtype != before.dtype:
                self._buffers[name] = before.to(after.device)
        return self

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # The standardisation's shape is part of the state (empty: none): take the incoming one.
        for name in _STANDARDIZATION:
            incoming, current = state_dict.get(prefix + name), self._buffers[name]
            if isinstance(incoming, Tensor) and current is not None and incoming.shape != current.shape:
                self._buffers[name] = torch.empty(incoming.shape, dtype=torch.float64, device=current.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        problem = self._state_problem()
        if problem is not None:
            error_msgs.append(problem)

    def _state_problem(self) -> str | None:
        scale = float(self.target_scale_value)
        if not (np.isfinite(scale) and scale > 0):
            return f"target_scale_value: must be a positive finite number, got {scale}"
        if self.input_mean.shape != self.input_std.shape:
            return f"input_std: shape {tuple(self.input_std.shape)} differs from input_mean's {tuple(self.input_mean.shape)}"
        return _standardization_problem(self.input_mean, self.input_std)


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

    def __repr__(self) -> str:  # a summary: the full lists run to hundreds of numbers
        if not self.train_loss:
            return "TrainHistory(0 epochs)"
        parts = [f"{len(self.train_loss)} epochs", f"train_loss {self.train_loss[0]:.4g} -> {self.train_loss[-1]:.4g}"]
        if self.val_loss:
            parts.append(f"val_loss {self.val_loss[0]:.4g} -> {self.val_loss[-1]:.4g} (best {min(self.val_loss):.4g})")
        return f"TrainHistory({', '.join(parts)}; as_dict() for every epoch)"


@dataclass
class TrainResult:
    """What :func:`~stochamort.amortize.train_amortizer` (and the online and FastSHAP variants) return.

    Attributes:
        amortizer: the trained :class:`Amortizer` (best state loaded, evaluation mode), which
            carries the target scale, the efficiency flag and the input standardisation in its
            state: keep it with :meth:`Amortizer.save` (or its ``state_dict()``), nothing else.
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
        n_evaluations: game evaluations spent by training itself — FastSHAP's sampled
            coalitions, v(∅) and v(all) (:func:`~stochamort.amortize.train_amortizer_fastshap`);
            0 when training on labels, whose evaluations were spent making them.
        objective: the training signal's settings: None for labels,
            :meth:`FastSHAP.settings() <stochamort.amortize.FastSHAP.settings>` for FastSHAP.
    """

    amortizer: Amortizer = field(repr=False)  # a module's repr lists every layer
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
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    n_evaluations: int = 0
    objective: dict[str, Any] | None = None

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

    For an :class:`Amortizer` (or a :class:`TrainResult`'s ``amortizer``), its input
    standardisation, target scale and efficiency flag apply (inputs are then read in float64,
    standardised and cast to the network's dtype, as in training); for a bare network, pass ``target_scale`` (the factor its targets were
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
    standardizing = isinstance(model, Amortizer) and model.standardizes_inputs
    inputs = as_inputs("x", x, torch.float64 if standardizing else float_dtype(network))
    prepare = model.standardize if isinstance(model, Amortizer) else (lambda batch: batch)
    where = resolve_device(network, device)
    if device is not None:
        network.to(where)
    chunks = []
    with evaluation(network):
        for start in range(0, inputs.shape[0], batch_size):
            out = network(prepare(inputs[start : start + batch_size]).to(where))
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
