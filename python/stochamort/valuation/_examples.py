"""Labelled examples as the valuer takes them: features and labels from arrays or pandas objects.

pandas is duck-typed (anything with ``to_numpy``) and never imported. Every refusal names the
argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import check_finite
from stochamort.errors import InvalidArgumentError, InvalidDTypeError, ShapeError

__all__ = ["as_examples", "as_labels", "class_indices", "check_feature_names"]


def as_examples(name: str, x: Any, *, allow_empty: bool = False) -> tuple[NDArray[np.float64], list[str] | None]:
    """Features ``(n, d)`` as float64, and the column names when ``x`` is a DataFrame.

    Raises:
        InvalidDTypeError: non-numeric features (e.g. a DataFrame with a text column).
        ShapeError: not 2-D, or no features; InvalidArgumentError: no rows (unless ``allow_empty``).
        NonFiniteError: NaN or infinity (the message lists the rows).
    """
    names = None
    if hasattr(x, "to_numpy"):
        columns = getattr(x, "columns", None)
        names = None if columns is None else [str(c) for c in columns]
        x = x.to_numpy()
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"{name}: expected real numeric features, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ShapeError(f"{name}: expected features of shape (n, n_features), got shape {array.shape}")
    if array.shape[1] == 0:
        raise ShapeError(f"{name}: has no features")
    if array.shape[0] == 0 and not allow_empty:
        raise InvalidArgumentError(f"{name}: is empty; at least one example is needed")
    features = array.astype(np.float64)
    check_finite(name, features)
    return features, names


def as_labels(name: str, y: Any, n_rows: int, x_name: str) -> NDArray[Any]:
    """Labels ``(n_rows,)`` as an integer, bool or str array (integral floats become int64).

    Raises:
        ShapeError: not 1-D or not one label per row of ``x_name``.
        InvalidArgumentError: labels that are neither integers nor strings.
    """
    array = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if array.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array of labels, got shape {array.shape}")
    if array.shape[0] != n_rows:
        raise ShapeError(f"{name}: has {array.shape[0]} labels but {x_name} has {n_rows} rows")
    if array.dtype.kind == "O":
        array = np.array(array.tolist())
    if array.dtype.kind == "S":
        array = array.astype(str)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise InvalidArgumentError(f"{name}: labels must be integers or strings, got non-integer values")
        array = array.astype(np.int64)
    if array.dtype.kind not in "biuU":
        raise InvalidArgumentError(f"{name}: labels must be integers or strings, got dtype {array.dtype}")
    return array


def class_indices(name: str, labels: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.int64]:
    """The index of each label in the sorted ``classes``; labels that are not classes are refused.

    Raises:
        InvalidArgumentError: a label is not one of ``classes`` (or of another kind: text vs numbers).
    """
    if (labels.dtype.kind == "U") != (classes.dtype.kind == "U"):
        raise InvalidArgumentError(f"{name}: labels are of dtype {labels.dtype} but the classes {classes.tolist()} are of dtype {classes.dtype}")
    codes = np.searchsorted(classes, labels).astype(np.int64)
    unseen = classes[np.minimum(codes, classes.size - 1)] != labels
    if unseen.any():
        raise InvalidArgumentError(
            f"{name}: labels {np.unique(labels[unseen])[:10].tolist()} are not among the classes {classes.tolist()[:20]} "
            f"of the training labels"
        )
    return codes


def check_feature_names(name: str, names: list[str] | None, expected: list[str] | None) -> None:
    """Refuse a DataFrame whose columns differ from the training columns (names or order).

    Plain arrays (``names`` None), or a valuer fitted on arrays, are not checked: columns are then
    matched by position.
    """
    if names is None or expected is None or names == expected:
        return
    if sorted(names) == sorted(expected):
        raise InvalidArgumentError(f"{name}: has the training columns in another order; reorder it as {expected[:20]}")
    missing = [c for c in expected if c not in names][:10]
    extra = [c for c in names if c not in expected][:10]
    raise InvalidArgumentError(f"{name}: columns differ from the training columns (missing {missing}, unexpected {extra})")
