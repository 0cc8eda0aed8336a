"""Export estimates to other libraries: :func:`to_shap_explanation` builds a ``shap.Explanation``.

shap is optional (``pip install shap``); it is imported only when the export is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, MissingDependencyError, NonFiniteError, ShapeError
from stochamort.results import Estimate

__all__ = ["MissingDependencyError", "to_shap_explanation"]


def _import_shap() -> Any:
    try:
        return importlib.import_module("shap")
    except ImportError as err:
        raise MissingDependencyError(
            "shap: to_shap_explanation needs the optional dependency shap, which is not installed; "
            "install it with `pip install shap`"
        ) from err


def _to_numpy(value: Any, name: str) -> NDArray[Any]:
    """An array from numpy data, a torch tensor (any device) or a pandas object."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:
        raise InvalidArgumentError(f"{name}: cannot be converted to an array ({err})") from err


def _names(value: Any, name: str, expected: int, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{name}: expected a sequence of {expected} names, got {type(value).__name__}")
    names = [str(v) for v in value]
    if len(names) != expected:
        raise ShapeError(f"{name}: expected {expected} names (one per {what}), got {len(names)}")
    return names


def _base_values(value: Any, n: int, o: int) -> NDArray[np.float64]:
    """Base values as ``(n, o)``: from a scalar, ``(n,)`` (when o == 1), ``(o,)`` or ``(n, o)``."""
    array = _to_numpy(value, "base_values")
    if array.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"base_values: expected numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if o == 1 and array.shape == (n,):
        array = array[:, None]
    if array.ndim > 2 or array.shape not in ((), (o,), (n, o)):
        accepted = f"(), ({n},), ({n}, 1)" if o == 1 else f"(), ({o},), ({n}, {o})"
        raise ShapeError(
            f"base_values: expected one value per point and output, shape {accepted}, got {array.shape} "
            "(e.g. v(∅) from game.endpoints())"
        )
    if not np.isfinite(array).all():
        raise NonFiniteError("base_values: holds NaN or infinity")
    return np.ascontiguousarray(np.broadcast_to(array, (n, o)))


def to_shap_explanation(
    estimate: Estimate,
    *,
    data: Any = None,
    base_values: Any = None,
    feature_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> Any:
    """A ``shap.Explanation`` of an :class:`~stochamort.results.Estimate`, for shap's plots and tools.

    ``values`` are ``(n_points, n_players, n_outputs)``, or ``(n_points, n_players)`` when the
    estimate has one output (as shap's own explainers return them). The standard errors go to the
    explanation's ``error_std`` (same shape as ``values``; shap slices it along with the values).

    Args:
        estimate: the attributions (e.g. from an oracle or an amortized model).
        data: the explained inputs, ``(n_points, ...)``; for shap's plots (beeswarm, scatter,
            waterfall) they should be ``(n_points, n_players)``, one value per player. A pandas
            DataFrame also supplies ``feature_names`` when none are given.
        base_values: the value the attributions start from, typically v(∅) — for a model game,
            ``game.endpoints()[0]`` — as a scalar, ``(n_points,)`` for one output, ``(n_outputs,)``
            or ``(n_points, n_outputs)``. Shapley values then add up to f(x) − base value.
        feature_names: one name per player.
        output_names: one name per output (default ``"Output 0"``, ... for several outputs).

    Returns:
        a ``shap.Explanation``.

    Raises:
        MissingDependencyError: (an ``ImportError``) if shap is not installed.
        ShapeError: if ``data``, ``base_values`` or the names do not match the estimate.
    """
    if not isinstance(estimate, Estimate):
        raise InvalidArgumentError(f"estimate: must be a stochamort Estimate, got {type(estimate).__name__}")
    values = np.asarray(estimate.values, dtype=np.float64)
    std_errors = np.asarray(estimate.std_errors, dtype=np.float64)
    if values.ndim != 3:
        raise ShapeError(f"estimate: values must be (n_points, n_players, n_outputs), got shape {values.shape}")
    if std_errors.shape != values.shape:
        raise ShapeError(f"estimate: std_errors have shape {std_errors.shape} but values have {values.shape}")
    n, d, o = values.shape

    data_array: NDArray[Any] | None = None
    if data is not None:
        columns = getattr(data, "columns", None)
        if feature_names is None and columns is not None and len(columns) == d:
            feature_names = [str(c) for c in columns]
        data_array = _to_numpy(data, "data")
        if data_array.ndim < 1 or data_array.shape[0] != n:
            raise ShapeError(f"data: expected one row per explained point, {n}, got shape {data_array.shape}")
    names = _names(feature_names, "feature_names", d, "player")
    outputs = _names(output_names, "output_names", o, "output")
    base = None if base_values is None else _base_values(base_values, n, o)

    shap = _import_shap()
    if o == 1:
        return shap.Explanation(
            values[:, :, 0],
            base_values=None if base is None else base[:, 0],
            data=data_array,
            feature_names=names,
            output_names=None if outputs is None else outputs[0],
            error_std=std_errors[:, :, 0],
        )
    # Naming the outputs always tells shap which axis holds them, whatever the shape of ``data``.
    return shap.Explanation(
        values,
        base_values=base,
        data=data_array,
        feature_names=names,
        output_names=outputs if outputs is not None else [f"Output {k}" for k in range(o)],
        error_std=std_errors,
    )
