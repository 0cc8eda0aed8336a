"""Tensors for training and prediction: inputs and targets checked and converted, devices
resolved, datasets staged on the device, batches gathered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import Estimate

__all__ = [
    "LabelFn",
    "STAGE_ON_DEVICE_BYTES",
    "float_dtype",
    "model_device",
    "resolve_device",
    "as_inputs",
    "as_targets",
    "stage",
    "gather",
]

LabelFn = Callable[[NDArray[np.int64], int], Any]
"""``label_fn(indices, epoch)``: fresh noisy labels ``(len(indices), d, n_outputs)`` for the training
points ``indices`` (a contiguous, increasing range) at ``epoch``; an array, tensor or Estimate."""

#: Datasets up to this size (bytes) are moved to the device once; larger ones batch by batch.
STAGE_ON_DEVICE_BYTES = 1 << 30


def float_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (torch's default without one)."""
    for parameter in model.parameters():
        if parameter.dtype.is_floating_point:
            return parameter.dtype
    return torch.get_default_dtype()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU without one)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def resolve_device(model: nn.Module, device: Any, name: str = "device") -> torch.device:
    """``device`` as a :class:`torch.device`, or the model's device when it is None."""
    if device is None:
        return model_device(model)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidArgumentError(f"{name}: not a torch device: {device!r}") from err


def as_inputs(name: str, x: Any, dtype: torch.dtype) -> Tensor:
    """Inputs as a tensor: floating inputs in the model's dtype, integer ones (token ids) as long."""
    if isinstance(x, Estimate):
        raise InvalidArgumentError(f"{name}: expected model inputs, got an Estimate")
    if isinstance(x, Tensor):
        tensor = x.detach()
    else:
        array = np.asarray(x)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{name}: expected a numeric array or tensor, got dtype {array.dtype}")
        # torch refuses to share read-only memory (e.g. a DataFrame's to_numpy()): copy those.
        tensor = torch.from_numpy(np.array(array, order="C", copy=not array.flags.writeable or None))
    if tensor.ndim < 2:
        raise ShapeError(f"{name}: expected inputs of shape (n, *input_shape), got {tuple(tensor.shape)}")
    if tensor.dtype.is_floating_point:
        tensor = tensor.to(dtype)
        if not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"{name}: holds NaN or infinity")
    elif tensor.dtype != torch.bool:
        tensor = tensor.to(torch.long)
    return tensor


def as_targets(name: str, value: Any, dtype: torch.dtype, n: int | None, ndim: int) -> Tensor:
    """Labels ``(n, d, o)`` (``ndim=3``) or gaps ``(n, o)`` (``ndim=2``) as a float tensor on the CPU."""
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


def stage(tensor: Tensor, device: torch.device) -> Tensor:
    """Move small datasets to the device once; keep large ones on the host (pinned for CUDA)."""
    if device.type == "cpu":
        return tensor
    if tensor.numel() * tensor.element_size() <= STAGE_ON_DEVICE_BYTES:
        return tensor.to(device)
    return tensor.pin_memory() if device.type == "cuda" else tensor


def gather(tensor: Tensor, index: Tensor, device: torch.device) -> Tensor:
    """The rows ``index`` of a staged tensor, on ``device``."""
    rows = tensor[index.to(tensor.device)]
    return rows if rows.device == device else rows.to(device, non_blocking=True)
