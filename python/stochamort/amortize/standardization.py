"""Input standardisation for amortizers: a per-input-element mean and standard deviation fitted on
the training inputs, the training inputs standardised with them, and the warning for tabular inputs
whose scales are far from standardised (which networks fit poorly, and silently so).

The :class:`~stochamort.amortize.Amortizer` applies the fitted standardisation to every input it
sees; this module holds what the trainer needs before there is an amortizer.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from stochamort.amortize.config import TrainConfig
from stochamort.amortize.data import as_inputs
from stochamort.errors import InvalidArgumentError, ShapeError

__all__ = [
    "Standardization",
    "fit_standardization",
    "standardize",
    "training_inputs",
    "scale_problem",
    "MAX_MEAN_TO_STD",
    "MAX_STD_RATIO",
]

Standardization = tuple[Tensor, Tensor]
"""``(mean, std)``: float64 tensors of the per-input shape; inputs become ``(x − mean) / std``."""

#: A feature whose mean is this many standard deviations away from zero counts as badly scaled.
MAX_MEAN_TO_STD = 10.0
#: Features whose standard deviations differ by more than this factor count as badly scaled.
MAX_STD_RATIO = 100.0


def fit_standardization(x: Any) -> Standardization:
    """The per-input-element mean and standard deviation of inputs ``x``, as the trainer fits them.

    Use it to express a :class:`~stochamort.amortize.GatedMLPAmortizer` baseline in standardised
    units: ``mean, std = fit_standardization(x_train)``, then ``(baseline − mean) / std``.

    Args:
        x: floating inputs ``(n, *input_shape)`` (array or tensor), finite.

    Returns:
        ``(mean, std)``, float64 CPU tensors of shape ``input_shape``: the mean over the points and
        the population standard deviation (``ddof=0``), computed in float64; elements that are
        constant over the points get std 1 (so they are only centred).

    Raises:
        InvalidArgumentError: integer or bool inputs (token ids or categories are not standardised).
        ShapeError: fewer than two dimensions, or no points.
        NonFiniteError: NaN or infinite inputs.
    """
    return _moments("x", as_inputs("x", x, torch.float64))


def _moments(name: str, x: Tensor) -> Standardization:
    if not x.dtype.is_floating_point:
        raise InvalidArgumentError(f"{name}: standardisation needs floating inputs, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ShapeError(f"{name}: needs at least one point to fit a standardisation")
    wide = x.detach().to("cpu", torch.float64)
    std, mean = torch.std_mean(wide, dim=0, correction=0)
    # Constant elements: their std is 0 or a rounding residue of the mean; only centre them.
    constant = wide.amax(dim=0) == wide.amin(dim=0)
    return mean, torch.where(constant | (std == 0), torch.ones_like(std), std)


def scale_problem(x: Tensor) -> str | None:
    """Why the floating tabular inputs ``x`` ``(n, n_features)`` look far from standardised, or None.

    Over the features that are not constant: some feature's mean lies more than
    :data:`MAX_MEAN_TO_STD` standard deviations from zero, or the largest standard deviation
    exceeds the smallest by more than :data:`MAX_STD_RATIO`. Other inputs (images, token ids,
    a single point) give None.
    """
    if x.ndim != 2 or not x.dtype.is_floating_point or x.shape[0] < 2:
        return None
    wide = x.detach().to("cpu", torch.float64)
    std, mean = torch.std_mean(wide, dim=0, correction=0)
    varying = (wide.amax(dim=0) > wide.amin(dim=0)) & (std > 0)
    if not bool(varying.any()):
        return None
    features = varying.nonzero().flatten()
    std, mean = std[features], mean[features]
    offset = mean.abs() / std
    worst = int(offset.argmax())
    if float(offset[worst]) > MAX_MEAN_TO_STD:
        return f"feature {int(features[worst])} has mean {float(mean[worst]):.3g} and standard deviation {float(std[worst]):.3g}"
    ratio = float(std.max() / std.min())
    if ratio > MAX_STD_RATIO:
        return (
            f"the features' standard deviations range from {float(std.min()):.3g} (feature {int(features[std.argmin()])}) "
            f"to {float(std.max()):.3g} (feature {int(features[std.argmax()])})"
        )
    return None


def training_inputs(config: TrainConfig, x_train: Any, x_val: Any, dtype: torch.dtype) -> tuple[Tensor, Any, Standardization | None]:
    """The training inputs (and validation inputs) as the network will see them, and the fitted
    standardisation (None when ``config.standardize_inputs`` is off).

    Standardising: ``x_train`` and ``x_val`` are read in float64, standardised with the mean and
    std of ``x_train`` (:func:`fit_standardization`) and cast to the model's ``dtype``. Off: the
    inputs are converted as before, and floating tabular inputs that :func:`scale_problem` finds
    badly scaled get one :class:`UserWarning` (pointing at the caller of the trainer).

    Raises:
        InvalidArgumentError: ``config.standardize_inputs`` with integer or bool inputs.
        ShapeError: ``x_val``'s per-input shape differs from ``x_train``'s.
    """
    if not config.standardize_inputs:
        x = as_inputs("x_train", x_train, dtype)
        problem = scale_problem(x)
        if problem is not None:
            warnings.warn(
                f"x_train: the inputs are far from standardised ({problem}); amortizers fit such inputs "
                f"poorly. Set TrainConfig(standardize_inputs=True) (predictions then standardise inputs "
                f"the same way), or standardise the inputs yourself",
                UserWarning,
                stacklevel=3,
            )
        return x, x_val, None
    raw = as_inputs("x_train", x_train, torch.float64)
    if not raw.dtype.is_floating_point:
        raise InvalidArgumentError(
            f"TrainConfig.standardize_inputs: needs floating inputs, but x_train has dtype {raw.dtype} "
            f"(token ids or categories cannot be standardised); set standardize_inputs=False"
        )
    standardization = _moments("x_train", raw)
    x = standardize(raw, standardization, dtype)
    if x_val is not None:
        raw_val = as_inputs("x_val", x_val, torch.float64)
        if tuple(raw_val.shape[1:]) != tuple(raw.shape[1:]):
            raise ShapeError(f"x_val: per-input shape {tuple(raw_val.shape[1:])} differs from x_train's {tuple(raw.shape[1:])}")
        if not raw_val.dtype.is_floating_point:
            raise InvalidArgumentError(f"x_val: standardize_inputs needs floating inputs, got dtype {raw_val.dtype}")
        x_val = standardize(raw_val, standardization, dtype)
    return x, x_val, standardization


def standardize(x: Tensor, standardization: Standardization, dtype: torch.dtype) -> Tensor:
    """``(x − mean) / std`` computed in float64 on ``x``'s device, cast to ``dtype``.

    The one formula used by the trainer and by :meth:`Amortizer.standardize
    <stochamort.amortize.Amortizer.standardize>`, so that training and prediction agree bit for bit.
    """
    mean, std = standardization
    return ((x.to(torch.float64) - mean.to(x.device)) / std.to(x.device)).to(dtype)
