"""The inputs an explainer is given, as one checked form: tensors kept, tables read, NaN refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from stochamort._checks import as_numeric_array, shown_rows, table_columns
from stochamort.errors import InvalidDTypeError, NonFiniteError, ShapeError

__all__ = ["ExplainedInputs", "as_explained_inputs", "player_names", "probe_inputs", "N_PROBES"]

#: Synthetic probe rows whose game values are stored to recognise the model on load.
N_PROBES = 16


@dataclass(frozen=True)
class ExplainedInputs:
    """Inputs ``(n, *shape)``: a tensor (left where it is) or a numpy array, plus what a table said.

    Attributes:
        array: the inputs; a DataFrame becomes a float64 array.
        columns: a DataFrame's column names (None otherwise).
        frame_type: the DataFrame's type, to rebuild frames for models fitted on them.
    """

    array: Any
    columns: tuple[str, ...] | None = None
    frame_type: type | None = None

    @property
    def n_points(self) -> int:
        return int(self.array.shape[0])

    @property
    def is_float(self) -> bool:
        """Whether the inputs are floating point (tabular or image data, not token ids)."""
        if isinstance(self.array, torch.Tensor):
            return bool(self.array.dtype.is_floating_point)
        return bool(np.asarray(self.array).dtype.kind == "f")

    def numpy(self) -> NDArray[Any]:
        """The inputs as a numpy array (copied to the CPU for tensors elsewhere)."""
        if isinstance(self.array, torch.Tensor):
            return self.array.detach().cpu().numpy()
        return np.asarray(self.array)


def as_explained_inputs(x: Any, name: str) -> ExplainedInputs:
    """Check and convert inputs ``(n, *shape)``; NaN or infinite values are refused, naming rows.

    Raises:
        ShapeError: fewer than two dimensions, or no points.
        InvalidDTypeError: not numeric (e.g. a DataFrame with text columns).
        NonFiniteError: NaN or infinity, with the offending rows.
    """
    columns = table_columns(x)
    frame_type = type(x) if columns is not None else None
    if isinstance(x, torch.Tensor):
        array: Any = x
        if x.dtype == torch.bool or x.is_complex():
            raise InvalidDTypeError(f"{name}: expected real numbers, got a tensor of dtype {x.dtype}")
    else:
        array = as_numeric_array(name, x)
    if array.ndim < 2 or array.shape[0] == 0:  # before the rows are reshaped: (0, -1) is no shape
        raise ShapeError(f"{name}: expected inputs (n_points, *input_shape) with at least one point, got shape {tuple(array.shape)}")
    if isinstance(array, torch.Tensor):
        finite = torch.isfinite(array.reshape(array.shape[0], -1)).all(dim=1).cpu().numpy() if array.dtype.is_floating_point else None
    else:
        finite = np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1) if array.dtype.kind == "f" else None
    if finite is not None and not finite.all():
        raise NonFiniteError(f"{name}: holds NaN or infinity in row(s) {shown_rows(np.flatnonzero(~finite))}")
    return ExplainedInputs(array, None if columns is None else tuple(columns), frame_type)


def player_names(given: Sequence[str] | None, columns: Sequence[str] | None, n_players: int) -> tuple[str, ...] | None:
    """One name per player: the given names (checked), else the table's columns, else None."""
    if given is not None:
        if len(given) != n_players:
            raise ShapeError(f"feature_names: {len(given)} names for {n_players} players")
        return tuple(given)
    if columns is not None and len(columns) == n_players:
        return tuple(columns)
    return None


def probe_inputs(x: Any) -> NDArray[Any]:
    """Synthetic inputs like ``x``: per-element mean + spread × seeded normal noise (same dtype).

    Integer inputs (token ids) get seeded integers between the smallest and largest id seen.
    """
    array = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    rng = np.random.default_rng(0)
    shape = (N_PROBES, *array.shape[1:])
    if array.dtype.kind in "iu":
        return rng.integers(int(array.min()), int(array.max()) + 1, size=shape).astype(array.dtype)
    wide = array.astype(np.float64)
    mean, std = wide.mean(axis=0), wide.std(axis=0)
    probe: NDArray[Any] = (mean + std * rng.standard_normal(shape)).astype(array.dtype)
    return probe
