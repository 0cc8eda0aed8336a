"""The base of the model utilities, :class:`ClassifierUtility`: data, labels, the degenerate-subset
rule and the validation metrics shared by every classifier utility (rules in
:mod:`stochamort.valuation.utility`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Literal, Union

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError
from stochamort.valuation.utility.base import Utility
from stochamort._checks import as_counts, shown_rows
from stochamort.valuation.utility.support import SubsetSupport

__all__ = ["Metric", "LOG_PROB_FLOOR", "ClassifierUtility"]

Metric = Union[Literal["accuracy", "log_likelihood"], Callable[[NDArray[np.float64], NDArray[np.int64]], Any]]
"""A validation score: ``"accuracy"``, ``"log_likelihood"`` or a batched callable
``metric(probabilities (m, n_valid, K) float64, y_valid (n_valid,) int64) -> (m,)``."""

#: Probabilities are clipped below at this value before the log in ``metric="log_likelihood"``.
LOG_PROB_FLOOR = 1e-12


def _features(x: Any, name: str) -> NDArray[np.float64]:
    """A read-only float64 copy of a 2-D feature array; NaN/inf rows are refused."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array (n_points, n_features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise InvalidArgumentError(f"{name}: is empty; at least one point is needed")
    if array.shape[1] == 0:
        raise ShapeError(f"{name}: has no features")
    array = np.array(array, dtype=np.float64, copy=True)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise NonFiniteError(f"{name}: holds NaN or infinity in row(s) {shown_rows(np.flatnonzero(bad))}")
    array.setflags(write=False)
    return array


def _labels(y: Any, name: str, n_rows: int, x_name: str) -> NDArray[Any]:
    """Labels as a 1-D integer or string array of length ``n_rows``."""
    array = np.asarray(y)
    if array.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array of labels, got shape {array.shape}")
    if array.shape[0] != n_rows:
        raise ShapeError(f"{name}: has {array.shape[0]} labels but {x_name} has {n_rows} rows")
    if array.dtype.kind == "O":
        array = np.array(array.tolist())
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise InvalidArgumentError(f"{name}: labels must be integers or strings, got non-integer values")
        array = array.astype(np.int64)
    if array.dtype.kind not in "biuUS":
        raise InvalidArgumentError(f"{name}: labels must be integers or strings, got dtype {array.dtype}")
    return array


def _encode(y_train: NDArray[Any], y_valid: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64]]:
    """``classes_`` and the class indices of the training and validation labels."""
    if (y_train.dtype.kind in "US") != (y_valid.dtype.kind in "US"):
        raise InvalidArgumentError(
            f"y_valid: labels are of dtype {y_valid.dtype} but y_train's are of dtype {y_train.dtype}; use one kind"
        )
    classes = np.unique(y_train)
    if classes.size < 2:
        raise InvalidArgumentError(f"y_train: needs at least 2 classes, got {classes.size}")
    codes_train = np.searchsorted(classes, y_train).astype(np.int64)
    codes_valid = np.searchsorted(classes, y_valid).astype(np.int64)
    clipped = np.minimum(codes_valid, classes.size - 1)
    unseen = classes[clipped] != y_valid
    if unseen.any():
        raise InvalidArgumentError(f"y_valid: classes {np.unique(y_valid[unseen])[:10].tolist()} do not occur in y_train")
    for array in (classes, codes_train, codes_valid):
        array.setflags(write=False)
    return classes, codes_train, codes_valid


def _check_metric(metric: Any) -> Metric:
    if callable(metric) or metric in ("accuracy", "log_likelihood"):
        return metric  # type: ignore[no-any-return]
    raise InvalidArgumentError(f"metric: expected 'accuracy', 'log_likelihood' or a callable, got {metric!r}")


class ClassifierUtility(Utility):
    """Base of the model utilities: U(S) = ``metric`` on the validation set of a classifier fitted on S.

    Holds the data (read-only float64 features, labels encoded as class indices), applies the
    degenerate-subset rule and the metric; subclasses fit the non-degenerate subsets in
    :meth:`_fit_predict` and rebuild themselves on another training set in :meth:`_with_train`.

    Attributes:
        x_train, x_valid: float64 features ``(N, d)``, ``(n_valid, d)``.
        y_train, y_valid: int64 class indices into ``classes_``, ``(N,)`` and ``(n_valid,)``.
        classes_: the distinct training labels, sorted (``np.unique(y_train)``).
        n_classes: K = ``len(classes_)``.
        metric: the validation score.
    """

    def __init__(self, x_train: Any, y_train: Any, x_valid: Any, y_valid: Any, metric: Any) -> None:
        super().__init__()
        self.x_train = _features(x_train, "x_train")
        self.x_valid = _features(x_valid, "x_valid")
        if self.x_valid.shape[1] != self.x_train.shape[1]:
            raise ShapeError(f"x_valid: has {self.x_valid.shape[1]} features but x_train has {self.x_train.shape[1]}")
        labels_train = _labels(y_train, "y_train", self.x_train.shape[0], "x_train")
        labels_valid = _labels(y_valid, "y_valid", self.x_valid.shape[0], "x_valid")
        self.classes_, self.y_train, self.y_valid = _encode(labels_train, labels_valid)
        self.n_classes = int(self.classes_.size)
        self.metric: Metric = _check_metric(metric)

    @property
    def n_data(self) -> int:
        """Number of training points N."""
        return int(self.x_train.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features d."""
        return int(self.x_train.shape[1])

    @property
    def n_valid(self) -> int:
        """Number of validation points."""
        return int(self.x_valid.shape[0])

    @abstractmethod
    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: SubsetSupport | None = None
    ) -> NDArray[np.float64]:
        """Validation probabilities ``(b, n_valid, K)`` of models fitted on non-degenerate counts
        ``(b, N)``; ``support`` is their :class:`SubsetSupport` when the caller has it."""

    @abstractmethod
    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> ClassifierUtility:
        """The same utility (same settings and validation set) on another training set."""

    def _class_counts(self, counts: NDArray[np.int64], support: SubsetSupport | None = None) -> NDArray[np.int64]:
        """Copies of each class in each subset, ``(m, K)``."""
        return (support or SubsetSupport(counts)).class_counts(self.y_train, self.n_classes)

    def _probabilities(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        support = SubsetSupport(counts)
        class_counts = support.class_counts(self.y_train, self.n_classes)
        total = class_counts.sum(axis=1)
        degenerate = (total == 0) | ((class_counts > 0).sum(axis=1) < 2)
        probabilities = np.empty((counts.shape[0], self.n_valid, self.n_classes), dtype=np.float64)
        if degenerate.any():
            smoothed = (class_counts[degenerate] + 1.0) / (total[degenerate, None] + self.n_classes)
            probabilities[degenerate] = smoothed[:, None, :]
        fitted = ~degenerate
        if fitted.all():
            probabilities[:] = self._fit_predict(counts, rows, support)
        elif fitted.any():
            subset = support.select(fitted)
            probabilities[fitted] = self._fit_predict(subset.counts, rows[fitted], subset)
        return probabilities

    def _score(self, probabilities: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.metric == "accuracy":
            return np.asarray((probabilities.argmax(axis=2) == self.y_valid).mean(axis=1), dtype=np.float64)
        if self.metric == "log_likelihood":
            index = np.broadcast_to(self.y_valid[None, :, None], (probabilities.shape[0], self.n_valid, 1))
            picked = np.take_along_axis(probabilities, index, axis=2)[:, :, 0]
            return np.asarray(np.log(np.maximum(picked, LOG_PROB_FLOOR)).mean(axis=1), dtype=np.float64)
        assert callable(self.metric)
        values = np.asarray(self.metric(probabilities, self.y_valid.copy()), dtype=np.float64)
        if values.shape != (probabilities.shape[0],):
            raise ShapeError(f"metric: must return shape ({probabilities.shape[0]},) for a batch of subsets, got {values.shape}")
        return values

    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._score(self._probabilities(counts, rows))

    def validation_probabilities(self, counts: Any, *, progress: bool = False) -> NDArray[np.float64]:
        """Class probabilities the model fitted on each subset gives the validation points.

        Args:
            counts: bool or non-negative integer array ``(m, N)`` (see :meth:`evaluate`).
            progress: show a tqdm progress bar over the batches.

        Returns:
            float64 ``(m, n_valid, K)``, columns in the order of ``classes_``; degenerate subsets
            give their Laplace-smoothed class frequencies. Every subset counts as an evaluation.
        """
        array = as_counts(counts, self.n_data)
        out = np.empty((array.shape[0], self.n_valid, self.n_classes), dtype=np.float64)
        for lo, hi in self._batches(array.shape[0], progress):
            out[lo:hi] = self._probabilities(array[lo:hi], np.arange(lo, hi, dtype=np.int64))
        return out

    def with_points(self, x: Any, y: Any) -> ClassifierUtility:
        """A utility with the same settings and validation set whose training set has ``(x, y)`` appended.

        Args:
            x: features ``(n_new, d)``.
            y: labels ``(n_new,)``; each must be one of ``classes_``.

        Returns:
            a new utility with ``N + n_new`` training points; the new points are players ``N..``.
        """
        features = _features(x, "x")
        if features.shape[1] != self.n_features:
            raise ShapeError(f"x: has {features.shape[1]} features but x_train has {self.n_features}")
        labels = _labels(y, "y", features.shape[0], "x")
        if (labels.dtype.kind in "US") != (self.classes_.dtype.kind in "US"):
            raise InvalidArgumentError(f"y: labels are of dtype {labels.dtype} but y_train's are of dtype {self.classes_.dtype}")
        unseen = ~np.isin(labels, self.classes_)
        if unseen.any():
            raise InvalidArgumentError(f"y: classes {np.unique(labels[unseen])[:10].tolist()} do not occur in y_train")
        return self._with_train(
            np.concatenate([self.x_train, features]), np.concatenate([self.classes_[self.y_train], labels])
        )
