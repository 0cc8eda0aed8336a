"""Argument conversion shared by the public wrappers: dtype checks with errors naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidDTypeError


def as_masks(masks: Any, name: str = "masks") -> NDArray[np.bool_]:
    """Return ``masks`` as a bool numpy array; other dtypes are refused rather than guessed."""
    array = np.asarray(masks)
    if array.dtype != np.bool_:
        raise InvalidDTypeError(
            f"{name}: expected a bool array, got dtype {array.dtype} (use .astype(bool) if it holds 0/1)"
        )
    return array


def as_float64(values: Any, name: str) -> NDArray[np.float64]:
    """Return ``values`` as float64, accepting any real numeric dtype (bool, int, float)."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def as_int64(values: Any, name: str) -> NDArray[np.int64]:
    """Return ``values`` as int64, accepting any integer dtype."""
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise InvalidDTypeError(f"{name}: expected an integer array, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def evaluations(n_points: int, per_point: int) -> NDArray[np.int64]:
    """The same evaluation count for every point."""
    return np.full(n_points, per_point, dtype=np.int64)
