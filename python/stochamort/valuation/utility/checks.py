"""Argument checks shared by the utilities and the solver: errors name the offending argument."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, InvalidDTypeError, ShapeError

__all__ = ["shown_rows", "as_counts", "check_int", "check_positive_float", "check_fraction"]


def shown_rows(rows: NDArray[np.int64]) -> str:
    """At most ten row indices, then how many more (for error messages and warnings)."""
    text = ", ".join(str(int(r)) for r in rows[:10])
    return text + (f" and {rows.size - 10} more" if rows.size > 10 else "")


def as_counts(counts: Any, n_data: int) -> NDArray[np.int64]:
    """``counts`` as an integer array ``(m, n_data)``; bool or non-negative integer arrays only.

    Unsigned inputs keep their dtype (no copy: converting a large uint32 batch to int64 costs
    more than fitting it); bool becomes uint8, uint64 is checked against the int64 range.
    """
    array = np.asarray(counts)
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif array.dtype.kind in "iu":
        if array.dtype == np.uint64 and array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise InvalidArgumentError("counts: a count exceeds the int64 range")
    else:
        raise InvalidDTypeError(
            f"counts: expected a bool or integer array of copies per training point, got dtype {array.dtype}"
            + (" (use .astype(np.int64) if it holds whole numbers)" if array.dtype.kind == "f" else "")
        )
    if array.ndim != 2 or array.shape[1] != n_data:
        raise ShapeError(f"counts: expected shape (n_subsets, {n_data}), got {array.shape}")
    negative = (array < 0).any(axis=1) if array.dtype.kind == "i" else np.zeros(array.shape[0], dtype=np.bool_)
    if negative.any():
        raise InvalidArgumentError(
            f"counts: must be non-negative; negative counts in subset row(s) {shown_rows(np.flatnonzero(negative))}"
        )
    return array


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is an integer (not a bool) ``>= minimum``; else InvalidArgumentError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite real number > 0 (``>= 0`` with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{name}: must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or (number == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name}: must be a finite number {bound}, got {value!r}")
    return number


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]``; else InvalidArgumentError."""
    number = check_positive_float(name, value, allow_zero=True)
    if number > 1.0:
        raise InvalidArgumentError(f"{name}: must lie in [0, 1], got {value!r}")
    return number
