"""Argument checks shared by every module: conversions and checks whose errors name the argument.

Every check raises a class from :mod:`stochamort.errors` with a message that starts with the name
of the offending argument. Pure numpy: the Rust-backed wrappers, the torch layers and the numpy
reference implementations (:mod:`stochamort.reference`) all use these, so an input is judged the
same way on every path.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import (
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    TooManyPlayersError,
)

DISTRIBUTIONS = ("shapley", "banzhaf", "leverage")
"""Names of the coalition distributions, in the order the spec lists them."""

MAX_ENUMERATION_PLAYERS = 20
"""Largest number of players for which the 2^d coalitions may be enumerated."""

MAX_SEED = 2**64
"""Seeds and point offsets must lie in ``[0, 2^64)``."""


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int, refused unless it is an integer in ``[0, 2**64)``."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < MAX_SEED:
        raise InvalidArgumentError(f"{name}: must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def as_array(value: Any, name: str) -> NDArray[Any]:
    """``np.asarray(value)``, with the error for ragged nested lists (or other unconvertible input)
    as an :class:`InvalidArgumentError` naming the argument."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as err:
        raise InvalidArgumentError(f"{name}: cannot be read as an array ({err})") from err


def as_masks(masks: Any, name: str = "masks") -> NDArray[np.bool_]:
    """Return ``masks`` as a bool numpy array; other dtypes are refused rather than guessed."""
    array = as_array(masks, name)
    if array.dtype != np.bool_:
        raise InvalidDTypeError(
            f"{name}: expected a bool array, got dtype {array.dtype} (use .astype(bool) if it holds 0/1)"
        )
    return array


def as_float64(values: Any, name: str) -> NDArray[np.float64]:
    """Return ``values`` as float64, accepting any real numeric dtype (bool, int, float)."""
    array = as_array(values, name)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def as_int64(values: Any, name: str) -> NDArray[np.int64]:
    """Return ``values`` as int64, accepting any integer dtype."""
    array = as_array(values, name)
    if array.dtype.kind not in "iu":
        raise InvalidDTypeError(f"{name}: expected an integer array, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def as_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, checking ``minimum <= value < maximum``."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidDTypeError(f"{name}: must be an integer, got a bool")
    try:
        result = operator.index(value)
    except TypeError:
        raise InvalidDTypeError(f"{name}: must be an integer, got {type(value).__name__}") from None
    if minimum is not None and result < minimum:
        raise InvalidArgumentError(f"{name}: must be >= {minimum}, got {result}")
    if maximum is not None and result >= maximum:
        raise InvalidArgumentError(f"{name}: must be < {maximum}, got {result}")
    return result


def as_bool(name: str, value: Any) -> bool:
    """Return a flag as a Python bool (only real booleans are accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidDTypeError(f"{name}: must be a bool, got {type(value).__name__}")
    return bool(value)


def as_positive_float(name: str, value: Any) -> float:
    """Return a finite, strictly positive float."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidDTypeError(f"{name}: must be a real number, got {type(value).__name__}") from None
    if not np.isfinite(result) or result <= 0.0:
        raise InvalidArgumentError(f"{name}: must be finite and > 0, got {result}")
    return result


def check_distribution(distribution: Any) -> str:
    """Check the name of a coalition distribution."""
    if distribution not in DISTRIBUTIONS:
        raise InvalidArgumentError(
            f"distribution: must be one of {', '.join(map(repr, DISTRIBUTIONS))}, got {distribution!r}"
        )
    return str(distribution)


def check_players_for_distribution(name: str, n_players: int, distribution: str) -> None:
    """"shapley" and "leverage" put no mass on the empty and full sets, so they need two players."""
    minimum = 1 if distribution == "banzhaf" else 2
    if n_players < minimum:
        raise InvalidArgumentError(
            f"{name}: distribution {distribution!r} needs n_players >= {minimum}, got {n_players}"
        )


def check_ndim(name: str, array: NDArray[Any], ndim: int) -> None:
    """Refuse an array without exactly ``ndim`` dimensions."""
    if array.ndim != ndim:
        raise ShapeError(f"{name}: must have {ndim} dimensions, got shape {array.shape}")


def as_mask_array(name: str, masks: Any, ndim: int | None) -> NDArray[np.bool_]:
    """Return a bool array with ``ndim`` dimensions (at least one if ``ndim`` is None)."""
    array = as_masks(masks, name)
    if ndim is not None:
        check_ndim(name, array, ndim)
    elif array.ndim < 1:
        raise ShapeError(f"{name}: must have at least 1 dimension (players last), got a scalar")
    return array


def as_float_array(name: str, values: Any, ndim: int) -> NDArray[np.float64]:
    """Return a float64 copy of a real numeric (bool, integer or floating) array with ``ndim`` dimensions."""
    array = as_float64(values, name)
    check_ndim(name, array, ndim)
    return np.array(array, dtype=np.float64)


def as_integer_array(name: str, values: Any, ndim: int) -> NDArray[np.int64]:
    """Return an int64 copy of an integer array with ``ndim`` dimensions."""
    array = as_int64(values, name)
    check_ndim(name, array, ndim)
    return np.array(array, dtype=np.int64)


def check_shape(name: str, array: NDArray[Any], expected: tuple[int, ...], other: str) -> None:
    """Check that ``array`` has exactly the shape implied by another argument."""
    if array.shape != expected:
        raise ShapeError(f"{name}: expected shape {expected} to match {other}, got {array.shape}")


def check_finite(name: str, array: NDArray[np.float64]) -> None:
    """Raise :class:`NonFiniteError` naming the points (axis 0) that hold NaN or infinity."""
    if array.size == 0 or np.isfinite(array).all():
        return
    bad_points = [point for point in range(array.shape[0]) if not np.isfinite(array[point]).all()]
    shown = ", ".join(str(point) for point in bad_points[:20])
    more = f" and {len(bad_points) - 20} more" if len(bad_points) > 20 else ""
    raise NonFiniteError(f"{name}: NaN or infinite entries at points [{shown}]{more}")


def check_enumeration_players(name: str, n_players: int) -> None:
    """Exact enumeration supports 1 <= n_players <= 20."""
    if n_players < 1:
        raise InvalidArgumentError(f"{name}: must be >= 1, got {n_players}")
    if n_players > MAX_ENUMERATION_PLAYERS:
        raise TooManyPlayersError(
            f"{name}: exact enumeration supports at most {MAX_ENUMERATION_PLAYERS} players, got {n_players}"
        )


def players_from_table_size(name: str, n_coalitions: int) -> int:
    """Return d such that ``n_coalitions == 2**d`` (d >= 1), or raise."""
    if n_coalitions < 2 or n_coalitions & (n_coalitions - 1) != 0:
        raise ShapeError(
            f"{name}: axis 1 must hold 2^n_players coalitions with n_players >= 1, got {n_coalitions}"
        )
    n_players = n_coalitions.bit_length() - 1
    check_enumeration_players(name, n_players)
    return n_players


# Settings objects (e.g. TrainConfig): plain Python values, InvalidArgumentError for any refusal.


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; only ``True``/``False`` (or numpy bools) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def real_values(name: str, raw: Any) -> NDArray[np.float64]:
    """What a user's function returned, as float64; strings, complex numbers, ragged lists and
    other non-numbers are an :class:`InvalidDTypeError` naming ``name``."""
    try:
        if np.iscomplexobj(raw):
            raise TypeError("complex values")
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidDTypeError(f"{name}: must return real numbers, got {type(raw).__name__} ({err})") from err


def check_flag(name: str, value: Any) -> bool:
    """An on/off flag (``progress``): a bool, ``np.bool_`` or integer (``progress=verbose``);
    anything else (``"no"``, whose truth value is True, None, an array) is an
    :class:`InvalidDTypeError` naming it."""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return bool(value)
    raise InvalidDTypeError(f"{name}: must be True or False, got {type(value).__name__} {value!r}"[:200])


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, refused unless it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, *, positive: bool) -> float:
    """``value`` as a float, refused unless it is a finite real number, ``> 0`` if ``positive``
    and ``>= 0`` otherwise."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    try:
        number = float(value) if ok else math.nan
    except OverflowError:  # an int beyond float64
        number = math.inf
    if not math.isfinite(number) or (number <= 0 if positive else number < 0):
        kind = "positive" if positive else "non-negative"
        raise InvalidArgumentError(f"{name}: must be a {kind} finite number, got {value!r}")
    return number


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]``; else InvalidArgumentError."""
    number = check_float(name, value, positive=False)
    if number > 1.0:
        raise InvalidArgumentError(f"{name}: must lie in [0, 1], got {value!r}")
    return number


# Data valuation: subsets of training points as rows of counts.


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


# Tables: pandas DataFrames and Series, read by duck typing so that pandas is never imported.


def is_table(value: Any) -> bool:
    """Whether ``value`` looks like a pandas DataFrame (it has ``to_numpy`` and ``columns``)."""
    return hasattr(value, "to_numpy") and hasattr(value, "columns")


def table_columns(value: Any) -> list[str] | None:
    """The column names of a DataFrame-like ``value`` as strings; None for anything else (Series too)."""
    return [str(column) for column in value.columns] if is_table(value) else None


def as_numeric_array(name: str, value: Any) -> NDArray[Any]:
    """``value`` as a real numeric numpy array; DataFrames and Series become float64.

    Arrays keep their dtype (integer token ids stay integers). Object, string, datetime and
    categorical data are refused rather than guessed at; for a DataFrame the message lists the
    offending columns. Missing values of pandas' nullable dtypes become NaN.

    Raises:
        InvalidDTypeError: if the data (or a column of it) is not real numeric.
    """
    if is_table(value):
        bad = [str(column) for column, dtype in zip(value.columns, value.dtypes) if _dtype_kind(dtype) not in "biuf"]
        if bad:
            shown = ", ".join(repr(column) for column in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            raise InvalidDTypeError(
                f"{name}: the DataFrame has non-numeric column(s) {shown}; encode them as numbers first "
                "(e.g. one-hot or ordinal codes) or drop them"
            )
        return np.asarray(value.to_numpy(dtype=np.float64, na_value=np.nan))
    if hasattr(value, "to_numpy") and hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        if _dtype_kind(value.dtype) not in "biuf":
            raise InvalidDTypeError(f"{name}: the Series has dtype {value.dtype}; expected real numbers")
        return np.asarray(value.to_numpy(dtype=np.float64, na_value=np.nan))
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    return array


def _dtype_kind(dtype: Any) -> str:
    """numpy's one-letter kind of a numpy or pandas dtype ("O" when it has none)."""
    kind = getattr(dtype, "kind", "O")
    return kind if isinstance(kind, str) else "O"
