"""Data-valuation utility games: U(S) = validation score of a model trained on the subset S.

The players are the N training points. A subset is given as a row of **counts**: ``counts[r, i]``
is the number of copies of training point i in subset r (a bool row is a plain subset), so that
multisets -- points drawn with replacement, as distributional Data Shapley needs -- are subsets
too. :meth:`Utility.evaluate` takes a ``(m, N)`` array of counts and returns the ``m`` utilities.

=============================  ==========================================================
utility                        model trained on each subset
=============================  ==========================================================
:class:`FunctionUtility`       any vectorised function of the counts (synthetic games, tests)
:class:`TorchLogisticUtility`  L2-regularised logistic / softmax regression, thousands of fits
                               at once by batched Newton on the device; exactly the objective of
                               scikit-learn's ``LogisticRegression(C=C)`` with
                               ``sample_weight=counts``
:class:`TorchMLPUtility`       one-hidden-layer ReLU networks, stacked, full-batch Adam
:class:`SklearnUtility`        any scikit-learn classifier, one clone per subset (joblib)
=============================  ==========================================================

Shared rules of the classifier utilities (:class:`ClassifierUtility`):

* **Labels** may be any integers or strings; they are mapped to class indices ``0..K-1`` in the
  order of ``np.unique(y_train)`` (``classes_``). Validation labels must occur in ``y_train``.
* **Degenerate subsets** -- total count 0, or fewer than two distinct classes present -- are not
  fitted: the "model" predicts the subset's Laplace-smoothed class frequencies
  ``p_c = (n_c + 1) / (n + K)`` (uniform for the empty subset) for every validation point. This is
  the same for every utility, and never an error.
* **Metrics**: ``"accuracy"`` (fraction of validation points whose most probable class, ties to
  the lowest class index, is their label), ``"log_likelihood"`` (mean log-probability of the
  validation labels, with probabilities clipped below at :data:`LOG_PROB_FLOOR` = 1e-12 so that a
  class a model rules out costs log(1e-12) ≈ -27.6 instead of -inf), or a callable
  ``metric(probabilities, y_valid) -> (m,)`` taking all validation probabilities of a batch,
  float64 ``(m, n_valid, K)``, and the validation class indices, int64 ``(n_valid,)``.
"""

from __future__ import annotations

import importlib
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal, Union

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from tqdm.auto import tqdm

from stochamort.errors import (
    InvalidArgumentError,
    InvalidDTypeError,
    MissingDependencyError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)

__all__ = [
    "Utility",
    "FunctionUtility",
    "ClassifierUtility",
    "TorchLogisticUtility",
    "TorchMLPUtility",
    "SklearnUtility",
    "Metric",
    "LOG_PROB_FLOOR",
]

Metric = Union[Literal["accuracy", "log_likelihood"], Callable[[NDArray[np.float64], NDArray[np.int64]], Any]]
"""A validation score: ``"accuracy"``, ``"log_likelihood"`` or a batched callable
``metric(probabilities (m, n_valid, K) float64, y_valid (n_valid,) int64) -> (m,)``."""

#: Probabilities are clipped below at this value before the log in ``metric="log_likelihood"``.
LOG_PROB_FLOOR = 1e-12

#: Upper bound on the tensor cells (elements) one chunk of torch fits works on at once.
_MAX_CELLS = 1 << 24
#: Newton is used while a model has at most this many parameters (d + 1 or K (d + 1)).
_NEWTON_MAX_PARAMS = 512
#: Backtracking halvings of the line search before a model is declared stalled.
_MAX_HALVINGS = 60
#: L-BFGS history length.
_LBFGS_HISTORY = 10


def _shown(rows: NDArray[np.int64]) -> str:
    """At most ten row indices, then how many more."""
    text = ", ".join(str(int(r)) for r in rows[:10])
    return text + (f" and {rows.size - 10} more" if rows.size > 10 else "")


def _as_counts(counts: Any, n_data: int) -> NDArray[np.int64]:
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
        raise InvalidArgumentError(f"counts: must be non-negative; negative counts in subset row(s) {_shown(np.flatnonzero(negative))}")
    return array


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{name}: must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or (number == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name}: must be a finite number {bound}, got {value!r}")
    return number


class Utility(ABC):
    """A data-valuation game: the utility U(S) of every subset (or multiset) S of N training points.

    Subsets are rows of counts (see the module docstring); :meth:`evaluate` validates them and
    evaluates them ``batch_size`` rows at a time, counting every evaluated subset in
    :attr:`n_evaluations`.
    """

    def __init__(self) -> None:
        self._n_evaluations = 0

    @property
    @abstractmethod
    def n_data(self) -> int:
        """Number of training points N (the players)."""

    @property
    def n_evaluations(self) -> int:
        """Total number of subsets evaluated so far (each one a model fit for model utilities)."""
        return self._n_evaluations

    @property
    def batch_size(self) -> int | None:
        """Subsets handed to :meth:`_evaluate` at once (``None``: all of them)."""
        return None

    @abstractmethod
    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """Utilities ``(b,)`` of validated counts ``(b, N)``; ``rows`` are their indices in the caller's array."""

    def evaluate(self, counts: Any, *, progress: bool = False) -> NDArray[np.float64]:
        """Utilities of subsets given as counts.

        Args:
            counts: bool or non-negative integer array ``(m, N)``; ``counts[r, i]`` is the number of
                copies of training point i in subset r.
            progress: show a tqdm progress bar over the batches.

        Returns:
            float64 array ``(m,)``.

        Raises:
            ShapeError: if ``counts`` is not ``(m, N)``.
            InvalidDTypeError: if ``counts`` is neither bool nor integer.
            InvalidArgumentError: if a count is negative.
            NonFiniteError: if a utility comes out NaN or infinite (e.g. from a custom metric).
        """
        array = _as_counts(counts, self.n_data)
        m = array.shape[0]
        values = np.empty(m, dtype=np.float64)
        step = max(1, self.batch_size or m)
        with tqdm(total=m, desc=type(self).__name__, unit="subset", disable=not progress, leave=False) as bar:
            for lo in range(0, m, step):
                hi = min(m, lo + step)
                rows = np.arange(lo, hi, dtype=np.int64)
                out = np.asarray(self._evaluate(array[lo:hi], rows), dtype=np.float64)
                if out.shape != (hi - lo,):
                    raise ShapeError(f"values: the utility returned shape {out.shape} for {hi - lo} subsets")
                bad = ~np.isfinite(out)
                if bad.any():
                    raise NonFiniteError(f"values: the utility is NaN or infinite at subset row(s) {_shown(rows[bad])}")
                values[lo:hi] = out
                self._n_evaluations += hi - lo
                bar.update(hi - lo)
        return values

    def __call__(self, counts: Any, *, progress: bool = False) -> NDArray[np.float64]:
        """Same as :meth:`evaluate`."""
        return self.evaluate(counts, progress=progress)

    def with_points(self, x: Any, y: Any) -> Utility:
        """A utility of the same kind whose training set has the points ``(x, y)`` appended.

        The new points are players ``N .. N + len(x) - 1``; everything else (validation set,
        model settings) is unchanged. Only model utilities support it.
        """
        raise InvalidArgumentError(f"x: {type(self).__name__} has no training data to append points to")


class FunctionUtility(Utility):
    """A utility given by a vectorised function of the counts, for synthetic games and tests.

    Args:
        fn: ``fn(counts)`` with counts int64 ``(m, n_data)``, returning ``(m,)`` utilities.
        n_data: number of training points N.
        batch_size: subsets per call of ``fn`` (default: all at once).
    """

    def __init__(self, fn: Callable[[NDArray[np.int64]], Any], n_data: int, *, batch_size: int | None = None) -> None:
        super().__init__()
        if not callable(fn):
            raise InvalidArgumentError(f"fn: must be callable, got {type(fn).__name__}")
        self._fn = fn
        self._n_data = _check_int("n_data", n_data, 0)
        self._batch_size = None if batch_size is None else _check_int("batch_size", batch_size, 1)

    @property
    def n_data(self) -> int:
        return self._n_data

    @property
    def batch_size(self) -> int | None:
        return self._batch_size

    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        values = np.asarray(self._fn(counts), dtype=np.float64)
        if values.shape != (counts.shape[0],):
            raise ShapeError(f"fn: must return values of shape ({counts.shape[0]},), got {values.shape}")
        return values


# ------------------------------------------------------------------------------------------------
# data and labels


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
        raise NonFiniteError(f"{name}: holds NaN or infinity in row(s) {_shown(np.flatnonzero(bad))}")
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
    :meth:`_fit_predict`.

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
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: _Support | None = None
    ) -> NDArray[np.float64]:
        """Validation probabilities ``(b, n_valid, K)`` of models fitted on non-degenerate counts
        ``(b, N)``; ``support`` is their :class:`_Support` when the caller has it."""

    @abstractmethod
    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> ClassifierUtility:
        """The same utility (same settings and validation set) on another training set."""

    def _class_counts(self, counts: NDArray[np.int64], support: _Support | None = None) -> NDArray[np.int64]:
        """Copies of each class in each subset, ``(m, K)``."""
        return (support or _Support(counts)).class_counts(self.y_train, self.n_classes)

    def _probabilities(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        support = _Support(counts)
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
        array = _as_counts(counts, self.n_data)
        m = array.shape[0]
        out = np.empty((m, self.n_valid, self.n_classes), dtype=np.float64)
        step = max(1, self.batch_size or m)
        with tqdm(total=m, desc=type(self).__name__, unit="subset", disable=not progress, leave=False) as bar:
            for lo in range(0, m, step):
                hi = min(m, lo + step)
                out[lo:hi] = self._probabilities(array[lo:hi], np.arange(lo, hi, dtype=np.int64))
                self._n_evaluations += hi - lo
                bar.update(hi - lo)
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


# ------------------------------------------------------------------------------------------------
# torch helpers


def _torch_device(device: Any) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgumentError(f"device: not a torch device: {device!r}") from exc


def _torch_dtype(dtype: Any) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise InvalidDTypeError(f"dtype: must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[no-any-return]


def _tensor(array: NDArray[Any], device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """A tensor copy of a numpy array on ``device`` (copied first: the array may be read-only)."""
    return torch.from_numpy(np.array(array, copy=True)).to(device=device, dtype=dtype)


class _Support:
    """Sizes, totals, class counts and (for sparse subsets) the nonzeros of a batch of subsets.

    Built once per batch and shared by the grouping, the gathering of supports and the class
    counts: scanning the dense ``(m, N)`` counts dominated the cost of small fits. The nonzeros are
    listed (row-major COO) only for the subsets that :meth:`groups` puts on the gathered path.
    """

    def __init__(self, counts: NDArray[np.int64]) -> None:
        self.counts = counts
        self.n_subsets, self.n_data = counts.shape
        self.sizes = np.count_nonzero(counts, axis=1)
        self.totals = counts.sum(axis=1, dtype=np.int64).astype(np.float64)
        self._local = np.full(self.n_subsets, -1, dtype=np.int64)
        self._cols = self._values = self._starts = np.zeros(0, dtype=np.int64)

    def class_counts(self, labels: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Copies of each class in each subset, ``(m, K)``."""
        if self.totals.max(initial=0.0) < 2**24:  # float32 sums of integers are exact below 2**24
            onehot = np.eye(n_classes, dtype=np.float32)[labels]
            sums: NDArray[np.float32] = self.counts.astype(np.float32) @ onehot
            return np.rint(sums).astype(np.int64)
        return np.stack([self.counts[:, labels == c].sum(axis=1, dtype=np.int64) for c in range(n_classes)], axis=1)

    def select(self, keep: NDArray[np.bool_]) -> _Support:
        """The same for the subsets where ``keep`` is true (no rescan of the counts)."""
        out = _Support.__new__(_Support)
        out.counts = self.counts[keep]
        out.n_subsets, out.n_data = out.counts.shape
        out.sizes, out.totals = self.sizes[keep], self.totals[keep]
        out._local = np.full(out.n_subsets, -1, dtype=np.int64)
        out._cols = out._values = out._starts = np.zeros(0, dtype=np.int64)
        return out

    def _list_nonzeros(self, positions: NDArray[np.int64]) -> None:
        """The COO of the subsets at ``positions`` (ascending), for :meth:`padded`."""
        rows = self.counts if positions.size == self.n_subsets else self.counts[positions]
        local_rows, self._cols = np.nonzero(rows)
        self._values = rows[local_rows, self._cols].astype(np.int64)
        sizes = self.sizes[positions]
        self._starts = np.cumsum(sizes) - sizes
        self._local[positions] = np.arange(positions.size)

    def padded(self, positions: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Supports of the subsets at ``positions`` (on the gathered path): indices and counts
        ``(len(positions), K)``, K the largest support among them (padding: index 0, count 0)."""
        if (self._local[positions] < 0).any():
            raise AssertionError("padded() needs subsets that groups() put on the gathered path")
        sizes = self.sizes[positions]
        width = max(1, int(sizes.max(initial=0)))
        row = np.repeat(np.arange(positions.size), sizes)
        within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        source = np.repeat(self._starts[self._local[positions]], sizes) + within
        index = np.zeros((positions.size, width), dtype=np.int64)
        weight = np.zeros((positions.size, width), dtype=np.int64)
        index[row, within] = self._cols[source]
        weight[row, within] = self._values[source]
        return index, weight

    def groups(self, sparse_threshold: float) -> list[tuple[NDArray[np.int64], bool]]:
        """The batch's models grouped for fitting: ``(positions, sparse)`` pairs.

        Models whose support exceeds ``sparse_threshold * N`` form one dense group; the others are
        bucketed by support size (powers of two, at least 16) so that padding at most doubles the rows.
        """
        dense = self.sizes > sparse_threshold * self.n_data
        groups: list[tuple[NDArray[np.int64], bool]] = []
        if dense.any():
            groups.append((np.flatnonzero(dense), False))
        positions = np.flatnonzero(~dense)
        if positions.size:
            self._list_nonzeros(positions)
            key = np.maximum(4, np.ceil(np.log2(np.maximum(self.sizes[positions], 1))).astype(np.int64))
            for value in np.unique(key):
                groups.append((positions[key == value], True))
        return groups


def _chunks(n: int, per_model_cells: int, batch: int) -> list[tuple[int, int]]:
    """Ranges of at most ``batch`` models whose working set stays under ``_MAX_CELLS`` cells."""
    size = max(1, min(batch, _MAX_CELLS // max(1, per_model_cells)))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


class _TorchData:
    """Training rows of a batch of models on the device: gathered supports or the dense set.

    Sparse: ``x`` ``(b, n, d1)``, ``y`` ``(b, n)`` (each model's support, padded with weight-0 rows);
    dense: ``x`` ``(N, d1)``, ``y`` ``(N,)`` shared by all models, and optionally ``xx``
    ``(N, d1 (d1 + 1) / 2)`` (the upper triangles of the row outer products, for Hessians by one
    matmul). ``w`` ``(b, n or N)`` are the weights.
    """

    def __init__(self, x: Tensor, y: Tensor, w: Tensor, sparse: bool, xx: Tensor | None = None) -> None:
        self.x, self.y, self.w, self.sparse, self.xx = x, y, w, sparse, xx
        self._target: Tensor | None = None
        self._sign: Tensor | None = None

    @classmethod
    def dense(cls, counts: NDArray[np.int64], x: Tensor, y: Tensor, normalise: bool, xx: Tensor | None = None) -> _TorchData:
        """All N rows, weighted by ``counts`` ``(b, N)``."""
        data = cls(x, y, _tensor(counts, x.device, x.dtype), False, xx)
        return data.normalised() if normalise else data

    @classmethod
    def gathered(
        cls, support: tuple[NDArray[np.int64], NDArray[np.int64]], x: Tensor, y: Tensor, normalise: bool
    ) -> _TorchData:
        """Each model's support rows, from :meth:`_Support.padded`'s indices and counts."""
        index, weight = support
        idx = torch.from_numpy(index).to(x.device)
        data = cls(x[idx], y[idx], torch.from_numpy(weight).to(device=x.device, dtype=x.dtype), True)
        return data.normalised() if normalise else data

    def normalised(self) -> _TorchData:
        """Weights scaled to sum to 1 per model."""
        self.w = self.w / self.w.sum(dim=1, keepdim=True)
        return self

    def select(self, keep: Tensor) -> _TorchData:
        """The models at positions ``keep`` (a long tensor)."""
        if self.sparse:
            return _TorchData(self.x[keep], self.y[keep], self.w[keep], True)
        return _TorchData(self.x, self.y, self.w[keep], False, self.xx)

    def labels(self, b: int) -> Tensor:
        """Labels ``(b, rows)``."""
        return self.y if self.sparse else self.y.expand(b, -1)

    def target(self, b: int) -> Tensor:
        """Labels as floats (1 for class 1) ``(b, rows)``, for binary problems."""
        if self._target is None:
            self._target = self.y.to(self.w.dtype)
        return self._target if self.sparse else self._target.expand(b, -1)

    def sign(self, b: int) -> Tensor:
        """``1 - 2 y`` ``(b, rows)``, for binary problems."""
        if self._sign is None:
            self._sign = 1.0 - 2.0 * self.y.to(self.w.dtype)
        return self._sign if self.sparse else self._sign.expand(b, -1)

    def logits(self, theta: Tensor) -> Tensor:
        """``theta x_i`` for stacked ``theta`` ``(b, k, d1)`` -> ``(b, k, rows)``."""
        b, k, d1 = theta.shape
        if self.sparse:
            return torch.bmm(theta, self.x.transpose(1, 2))
        return (theta.reshape(b * k, d1) @ self.x.T).reshape(b, k, -1)

    def weighted_sum(self, r: Tensor) -> Tensor:
        """``sum_i r_qi x_i`` per model: ``r`` ``(b, q, rows)`` -> ``(b, q, d1)``."""
        b, q, n = r.shape
        if self.sparse:
            return torch.bmm(r, self.x)
        return (r.reshape(b * q, n) @ self.x).reshape(b, q, -1)

    def weighted_outer(self, a: Tensor) -> Tensor:
        """``sum_i a_qi x_i x_i^T`` per model: ``a`` ``(b, q, rows)`` -> ``(b, q, d1, d1)``."""
        b, q, n = a.shape
        d1 = int(self.x.shape[-1])
        if self.sparse:
            scaled = a[:, :, None, :] * self.x.transpose(1, 2)[:, None, :, :]  # (b, q, d1, n)
            return torch.bmm(scaled.reshape(b, q * d1, n), self.x).reshape(b, q, d1, d1)
        if self.xx is not None:
            upper = (a.reshape(b * q, n) @ self.xx).reshape(b, q, -1)
            rows, cols = torch.triu_indices(d1, d1, device=a.device)
            out = torch.empty((b, q, d1, d1), dtype=a.dtype, device=a.device)
            out[:, :, rows, cols] = upper
            out[:, :, cols, rows] = upper
            return out
        scaled = a[:, :, None, :] * self.x.T[None, None, :, :]
        return (scaled.reshape(b * q * d1, n) @ self.x).reshape(b, q, d1, d1)


# ------------------------------------------------------------------------------------------------
# batched logistic regression


class _LogisticBatch:
    """The scaled objectives of a batch of L2-regularised logistic / softmax regressions.

    For model r with weights ``w_i = counts_i / S`` (S = total count), parameters ``theta``
    ``(k_out, d1)`` (last column the intercept when fitted), the objective is scikit-learn's divided
    by ``C S``::

        f(theta) = sum_i w_i CE_i + ||W||^2 / (2 C S) [+ gauge (sum of present intercepts)^2 / 2]

    Binary problems use one weight vector and a sigmoid (``k_out = 1``); K >= 3 classes the softmax
    over the classes present in the subset (absent classes: logit -inf, parameters pinned at 0).
    The gauge term fixes the softmax's free shift of the intercepts (their sum stays 0, predictions
    are unchanged) so that the Hessian is positive definite. Logits are laid out ``(b, k_out, rows)``.
    """

    def __init__(
        self, data: _TorchData, inv_cs: Tensor, present: Tensor | None, penalty: Tensor, intercept: bool
    ) -> None:
        self.data = data
        self.inv_cs = inv_cs
        self.present = present
        self.penalty = penalty
        self.intercept = intercept

    def select(self, keep: Tensor) -> _LogisticBatch:
        present = None if self.present is None else self.present[keep]
        return _LogisticBatch(self.data.select(keep), self.inv_cs[keep], present, self.penalty, self.intercept)

    def logits(self, theta: Tensor) -> Tensor:
        """``(b, k_out, rows)``; absent classes at -inf."""
        z = self.data.logits(theta)
        if self.present is not None:
            z = z.masked_fill(~self.present[:, :, None], -math.inf)
        return z

    def _gauge(self, theta: Tensor) -> Tensor | None:
        if self.present is None or not self.intercept:
            return None
        return (theta[:, :, -1] * self.present).sum(dim=1)

    def objective(self, theta: Tensor, z: Tensor) -> Tensor:
        """``(b,)``."""
        w = self.data.w
        if self.present is None:
            # CE = softplus(z) - y z = softplus((1 - 2y) z); the linear cut-off at 50 is exact in float64
            ce = torch.nn.functional.softplus(self.data.sign(theta.shape[0]) * z[:, 0, :], threshold=50.0)
        else:
            y = self.data.labels(theta.shape[0])
            ce = -torch.log_softmax(z, dim=1).gather(1, y[:, None, :])[:, 0, :]
            ce = torch.where(w > 0, ce, torch.zeros((), dtype=ce.dtype, device=ce.device))
        f = (w * ce).sum(dim=1) + 0.5 * self.inv_cs * (theta.square() * self.penalty).sum(dim=(1, 2))
        gauge = self._gauge(theta)
        if gauge is not None:
            f = f + 0.5 * gauge.square()
        return f

    def _probabilities(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z) if self.present is None else torch.softmax(z, dim=1)

    def gradient(self, theta: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """The gradient ``(b, k_out, d1)`` and the probabilities ``(b, k_out, rows)`` behind it."""
        p = self._probabilities(z)
        if self.present is None:
            residual = p - self.data.target(theta.shape[0])[:, None, :]
        else:
            y = self.data.labels(theta.shape[0])
            residual = p.scatter_add(1, y[:, None, :], torch.full_like(p[:, :1, :], -1.0))
        g = self.data.weighted_sum(self.data.w[:, None, :] * residual)
        g = g + self.inv_cs[:, None, None] * theta * self.penalty
        gauge = self._gauge(theta)
        if gauge is not None and self.present is not None:
            g[:, :, -1] += gauge[:, None] * self.present
        if self.present is not None:
            g = g * self.present[:, :, None]
        return g, p

    def hessian(self, theta: Tensor, p: Tensor) -> Tensor:
        """``(b, P, P)`` with P = k_out d1, parameters ordered class-major; ``p`` from :meth:`gradient`."""
        b, k, d1 = theta.shape
        w = self.data.w
        if self.present is None:
            a = (w * p[:, 0, :] * (1 - p[:, 0, :]))[:, None, :]
        else:
            outer = torch.diag_embed(p.transpose(1, 2)).permute(0, 2, 3, 1) - p[:, :, None, :] * p[:, None, :, :]
            a = (w[:, None, None, :] * outer).reshape(b, k * k, -1)
        blocks = self.data.weighted_outer(a)  # (b, k*k, d1, d1)
        h = blocks.reshape(b, k, k, d1, d1).permute(0, 1, 3, 2, 4).reshape(b, k * d1, k * d1)
        diagonal = (self.inv_cs[:, None, None] * self.penalty).expand(b, k, d1).reshape(b, k * d1)
        h = h + torch.diag_embed(diagonal)
        if self.present is not None:
            mask = self.present.to(h.dtype)
            if self.intercept:
                ends = torch.arange(k, device=h.device) * d1 + (d1 - 1)
                h[:, ends[:, None], ends[None, :]] += mask[:, :, None] * mask[:, None, :]
            a_mask = mask[:, :, None].expand(b, k, d1).reshape(b, k * d1)
            h = h * a_mask[:, :, None] * a_mask[:, None, :] + torch.diag_embed(1 - a_mask)
        return h


def _cholesky(h: Tensor) -> Tensor:
    """Cholesky factors of SPD matrices ``(b, P, P)``; those that fail get Levenberg damping."""
    factor, info = torch.linalg.cholesky_ex(h)
    failed = torch.nonzero(info != 0).flatten()
    if failed.numel():
        scale = h[failed].diagonal(dim1=1, dim2=2).abs().amax(dim=1).clamp_min(torch.finfo(h.dtype).tiny)
        eye = torch.eye(h.shape[1], dtype=h.dtype, device=h.device)
        damping = 1e-12
        while failed.numel() and damping < 1e3:
            trial, trial_info = torch.linalg.cholesky_ex(h[failed] + (damping * scale)[:, None, None] * eye)
            ok = trial_info == 0
            factor[failed[ok]] = trial[ok]
            failed, scale = failed[~ok], scale[~ok]
            damping *= 100.0
        if failed.numel():  # give up on curvature: a gradient step
            factor[failed] = eye
    out: Tensor = factor
    return out


def _max_norm(g: Tensor) -> Tensor:
    """Gradient max-norm per model."""
    return g.abs().amax(dim=(1, 2))


class _SolveState:
    """Per-model bookkeeping of the batched solvers: final parameters and convergence."""

    def __init__(self, n: int, k: int, d1: int, dtype: torch.dtype, device: torch.device) -> None:
        self.theta = torch.zeros((n, k, d1), dtype=dtype, device=device)
        self.gradient_norm = torch.zeros(n, dtype=dtype, device=device)

    def freeze(self, positions: Tensor, theta: Tensor, gradient_norm: Tensor) -> None:
        self.theta[positions] = theta
        self.gradient_norm[positions] = gradient_norm


def _line_search(
    batch: _LogisticBatch, theta: Tensor, f: Tensor, g: Tensor, direction: Tensor, slack: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Per-model backtracking (Armijo, c = 1e-4) from step 1.

    Returns the new parameters and objective values, which models moved, and the logits at the
    new parameters when every model took the full step (else ``None``).

    ``slack`` tolerates rounding in f near the optimum, where the decrease is below float precision.
    """
    n = theta.shape[0]
    flat_g, flat_d = g.reshape(n, -1), direction.reshape(n, -1)
    slope = (flat_g * flat_d).sum(dim=1)
    descent = slope < 0
    direction = torch.where(descent[:, None, None], direction, -g)
    slope = torch.where(descent, slope, -(flat_g * flat_g).sum(dim=1))
    step = torch.ones(n, dtype=theta.dtype, device=theta.device)
    new = theta.clone()
    new_f = f.clone()
    pending = torch.arange(n, device=theta.device)
    sub = batch
    first_logits: Tensor | None = None
    for halving in range(_MAX_HALVINGS):
        trial = theta[pending] + step[pending, None, None] * direction[pending]
        logits = sub.logits(trial)
        value = sub.objective(trial, logits)
        ok = value <= f[pending] + 1e-4 * step[pending] * slope[pending] + slack[pending]
        new[pending[ok]] = trial[ok]
        new_f[pending[ok]] = value[ok]
        if halving == 0 and bool(ok.all()):
            first_logits = logits
        keep = torch.nonzero(~ok).flatten()
        pending = pending[keep]
        if not pending.numel():
            break
        step[pending] *= 0.5
        sub = sub.select(keep)
    moved = torch.ones(n, dtype=torch.bool, device=theta.device)
    moved[pending] = False
    return new, new_f, moved, first_logits


def _solve_logistic(
    batch: _LogisticBatch, theta: Tensor, *, tol: float, max_iter: int, solver: str
) -> tuple[Tensor, Tensor]:
    """Minimise every model's objective from ``theta`` ``(b, k, d1)``; returns the parameters and
    the final gradient max-norms.

    Models stop independently (gradient max-norm ≤ tol, ``max_iter`` steps, or a failed line
    search) and are frozen, so a model's result does not depend on the rest of the batch.
    """
    n, k, d1 = theta.shape
    dtype, device = batch.inv_cs.dtype, batch.inv_cs.device
    state = _SolveState(n, k, d1, dtype, device)
    active = torch.arange(n, device=device)
    eps = torch.finfo(dtype).eps
    history_s: list[Tensor] = []
    history_y: list[Tensor] = []
    history_rho: list[Tensor] = []
    gamma = torch.ones(n, dtype=dtype, device=device)
    previous_g: Tensor | None = None
    previous_theta = theta
    iteration = 0
    z = batch.logits(theta)
    f = batch.objective(theta, z)
    while True:
        g, p = batch.gradient(theta, z)
        norm = _max_norm(g)
        if solver == "lbfgs" and previous_g is not None:
            s = (theta - previous_theta).reshape(theta.shape[0], -1)
            yv = (g - previous_g).reshape(theta.shape[0], -1)
            sy = (s * yv).sum(dim=1)
            yy = (yv * yv).sum(dim=1)
            good = sy > 1e-10 * torch.sqrt((s * s).sum(dim=1) * yy).clamp_min(torch.finfo(dtype).tiny)
            rho = torch.where(good, 1.0 / torch.where(good, sy, torch.ones_like(sy)), torch.zeros_like(sy))
            history_s.append(torch.where(good[:, None], s, torch.zeros_like(s)))
            history_y.append(torch.where(good[:, None], yv, torch.zeros_like(yv)))
            history_rho.append(rho)
            gamma = torch.where(good, sy / torch.where(good, yy, torch.ones_like(yy)), gamma)
            if len(history_s) > _LBFGS_HISTORY:
                del history_s[0], history_y[0], history_rho[0]
        done = (norm <= tol) | torch.tensor(iteration >= max_iter, device=device)
        if done.any():
            state.freeze(active[done], theta[done], norm[done])
            keep = torch.nonzero(~done).flatten()
            active, theta, z, f, g, p = active[keep], theta[keep], z[keep], f[keep], g[keep], p[keep]
            gamma = gamma[keep]
            history_s = [h[keep] for h in history_s]
            history_y = [h[keep] for h in history_y]
            history_rho = [h[keep] for h in history_rho]
            batch = batch.select(keep)
        if not active.numel():
            break
        m = theta.shape[0]
        if solver == "newton":
            factor = _cholesky(batch.hessian(theta, p))
            direction = -torch.cholesky_solve(g.reshape(m, -1, 1), factor).reshape(theta.shape)
        else:
            q = g.reshape(m, -1).clone()
            alphas = []
            for s_i, y_i, rho_i in zip(reversed(history_s), reversed(history_y), reversed(history_rho)):
                alpha = rho_i * (s_i * q).sum(dim=1)
                q = q - alpha[:, None] * y_i
                alphas.append(alpha)
            if history_s:
                r = gamma[:, None] * q
            else:
                r = q / torch.linalg.vector_norm(q, dim=1, keepdim=True).clamp_min(1.0)
            for s_i, y_i, rho_i, alpha in zip(history_s, history_y, history_rho, reversed(alphas)):
                beta = rho_i * (y_i * r).sum(dim=1)
                r = r + s_i * (alpha - beta)[:, None]
            direction = -r.reshape(theta.shape)
        slack = 1e3 * eps * (1.0 + f.abs())
        new_theta, new_f, moved, new_logits = _line_search(batch, theta, f, g, direction, slack)
        if not bool(moved.all()):  # stalled: no acceptable step, keep the current point
            stalled = torch.nonzero(~moved).flatten()
            state.freeze(active[stalled], theta[stalled], _max_norm(g[stalled]))
            keep = torch.nonzero(moved).flatten()
            active, theta, new_theta, new_f, g = active[keep], theta[keep], new_theta[keep], new_f[keep], g[keep]
            gamma = gamma[keep]
            history_s = [h[keep] for h in history_s]
            history_y = [h[keep] for h in history_y]
            history_rho = [h[keep] for h in history_rho]
            batch = batch.select(keep)
            if not active.numel():
                break
        previous_theta, previous_g = theta, g
        theta, f = new_theta, new_f
        z = batch.logits(theta) if new_logits is None else new_logits
        iteration += 1
    return state.theta, state.gradient_norm


def _solve_binary_newton(batch: _LogisticBatch, *, tol: float, max_iter: int) -> tuple[Tensor, Tensor]:
    """Newton's method for a batch of binary logistic regressions, from zero; the lean twin of
    :func:`_solve_logistic` for one weight vector per model (the common case in data valuation).

    The full Newton step is taken where it satisfies Armijo's condition (almost always for this
    objective); only the rest fall back to the per-model backtracking search. Converged models
    are masked rather than removed, and the batch is compacted only when fewer than half remain,
    which saves copying the gathered rows every step. Each model's iterates are the same as
    alone (no model reads another's numbers), so results do not depend on the batch.
    """
    data = batch.data
    n = batch.inv_cs.shape[0]
    d1 = int(data.x.shape[-1])
    dtype, device = batch.inv_cs.dtype, batch.inv_cs.device
    eps = torch.finfo(dtype).eps
    theta_out = torch.zeros((n, 1, d1), dtype=dtype, device=device)
    norm_out = torch.zeros(n, dtype=dtype, device=device)
    index = torch.arange(n, device=device)  # positions in the output of the batch's rows
    theta = torch.zeros((n, 1, d1), dtype=dtype, device=device)
    z = batch.logits(theta)
    f = batch.objective(theta, z)
    running = torch.ones(n, dtype=torch.bool, device=device)
    for iteration in range(max_iter + 1):
        g, p = batch.gradient(theta, z)
        norm = _max_norm(g)
        stop = running & ((norm <= tol) | (iteration >= max_iter))
        if bool(stop.any()):
            theta_out[index[stop]] = theta[stop]
            norm_out[index[stop]] = norm[stop]
            running = running & ~stop
        alive = int(running.sum())
        if alive == 0:
            break
        if alive < running.numel() // 2:
            keep = torch.nonzero(running).flatten()
            batch, index, theta, z, f, g, p = batch.select(keep), index[keep], theta[keep], z[keep], f[keep], g[keep], p[keep]
            running = torch.ones(keep.numel(), dtype=torch.bool, device=device)
        factor = _cholesky(batch.hessian(theta, p))
        step = torch.cholesky_solve(g.reshape(theta.shape[0], d1, 1), factor).reshape(theta.shape)
        trial = theta - step
        trial_z = batch.logits(trial)
        trial_f = batch.objective(trial, trial_z)
        slope = -(g * step).sum(dim=(1, 2))
        slack = 1e3 * eps * (1.0 + f.abs())
        ok = (trial_f <= f + 1e-4 * slope + slack) & (slope < 0)
        retry = torch.nonzero(running & ~ok).flatten()
        theta = torch.where(ok[:, None, None], trial, theta)
        z = torch.where(ok[:, None, None], trial_z, z)
        f = torch.where(ok, trial_f, f)
        if retry.numel():
            sub = batch.select(retry)
            new_theta, new_f, moved, _ = _line_search(sub, theta[retry], f[retry], g[retry], -step[retry], slack[retry])
            theta[retry], f[retry] = new_theta, new_f
            z[retry] = sub.logits(new_theta)
            stalled = retry[~moved]
            if stalled.numel():  # no acceptable step: keep the current point
                theta_out[index[stalled]] = theta[stalled]
                norm_out[index[stalled]] = norm[stalled]
                running[stalled] = False
    return theta_out, norm_out


class TorchLogisticUtility(ClassifierUtility):
    """Validation score of L2-regularised logistic regression fitted on each subset, thousands at once.

    Each subset's model minimises exactly the objective of scikit-learn's
    ``LogisticRegression(C=C, fit_intercept=fit_intercept)`` fitted with ``sample_weight=counts``::

        C * sum_i counts_i * CE_i + ||W||^2 / 2        (intercept not penalised)

    with one weight vector and a sigmoid for two classes, and the multinomial softmax for K >= 3
    classes (scikit-learn's default). No feature scaling is applied. The fits of a batch run
    together on ``device``: stacked parameters, batched damped Newton (Hessians by batched matmuls,
    batched Cholesky solves, per-model backtracking line search), each model stopping when the
    max-norm of the gradient of the objective divided by ``C * sum(counts)`` (scikit-learn's
    scaling) is at most ``tol``, or after ``max_iter`` steps. Stopped models are frozen, so a model
    does not depend on which other subsets share its batch (up to float rounding of differently
    shaped matmuls, ~1e-15). Models with more than 512 parameters use batched L-BFGS instead (then
    ``max_iter`` may need raising). A :class:`RuntimeWarning` reports models that stop with a
    gradient above ``tol``; in float32 ``tol`` is raised to at least ``100 * eps``.

    Subsets whose support (distinct points) is at most ``sparse_threshold * N`` are fitted on
    their gathered support: a padded ``(m, K)`` index/weight tensor per group of subsets with
    supports of similar size (powers of two), K the group's largest support. Larger ones use the
    dense path: all N rows with count weights (zero outside the subset), Hessians by one matmul
    with the cached row outer products.

    Multiclass subsets missing some classes: the absent classes are excluded from that subset's
    softmax (logit -inf, probability 0, parameters 0), so the fit is well defined. scikit-learn
    would refit on the present classes only (and, with two present, switch to the binary
    parameterisation), so agreement with scikit-learn holds when all classes are present (binary:
    for every non-degenerate subset). Degenerate subsets follow the module's rule.

    Args:
        x_train, y_train: training features ``(N, d)`` and labels ``(N,)`` (ints or strings).
        x_valid, y_valid: validation features and labels; every validation label must occur in
            ``y_train``.
        C: inverse regularisation strength (> 0), as in scikit-learn.
        fit_intercept: fit an unpenalised intercept.
        metric: ``"accuracy"``, ``"log_likelihood"`` or a callable (see :data:`Metric`).
        max_iter: Newton steps per model at most.
        tol: gradient max-norm tolerance (scaled objective, see above).
        batch_size: subsets fitted together (also bounded by memory, 2**24 cells per chunk).
        device: torch device of the fits (default CPU).
        dtype: torch.float64 (default) or torch.float32.
        sparse_threshold: support fraction up to which a subset uses the gathered (sparse) path;
            0 always dense, 1 always sparse. The default 0.2 is about where the two cost the same on
            CPU (gathered rows go through small batched matmuls; the dense path through one large one).
        solver: ``"auto"`` (Newton up to 512 parameters, else L-BFGS), ``"newton"`` or ``"lbfgs"``.
    """

    def __init__(
        self,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        metric: Metric = "accuracy",
        max_iter: int = 100,
        tol: float = 1e-10,
        batch_size: int = 1024,
        device: Any = None,
        dtype: torch.dtype = torch.float64,
        sparse_threshold: float = 0.2,
        solver: Literal["auto", "newton", "lbfgs"] = "auto",
    ) -> None:
        super().__init__(x_train, y_train, x_valid, y_valid, metric)
        self.C = _check_positive_float("C", C)
        self.fit_intercept = bool(fit_intercept)
        self.max_iter = _check_int("max_iter", max_iter, 1)
        self.tol = _check_positive_float("tol", tol, allow_zero=True)
        self._batch_size = _check_int("batch_size", batch_size, 1)
        self.device = _torch_device(device)
        self.dtype = _torch_dtype(dtype)
        threshold = _check_positive_float("sparse_threshold", sparse_threshold, allow_zero=True)
        if threshold > 1.0:
            raise InvalidArgumentError(f"sparse_threshold: must lie in [0, 1], got {sparse_threshold!r}")
        self.sparse_threshold = threshold
        if solver not in ("auto", "newton", "lbfgs"):
            raise InvalidArgumentError(f"solver: expected 'auto', 'newton' or 'lbfgs', got {solver!r}")
        self.k_out = 1 if self.n_classes == 2 else self.n_classes
        self.n_parameters = self.k_out * (self.n_features + int(self.fit_intercept))
        self.solver: Literal["newton", "lbfgs"] = (
            solver if solver != "auto" else ("newton" if self.n_parameters <= _NEWTON_MAX_PARAMS else "lbfgs")
        )
        self._x = self._design(self.x_train)
        self._xv = self._design(self.x_valid)
        self._y = _tensor(self.y_train, self.device)
        penalty = torch.ones(self.n_features + int(self.fit_intercept), dtype=self.dtype, device=self.device)
        if self.fit_intercept:
            penalty[-1] = 0.0
        self._penalty = penalty
        self._xx: Tensor | None = None
        self.n_unconverged = 0
        """Models so far that stopped with a gradient above ``tol`` (each also warned about)."""

    def _design(self, x: NDArray[np.float64]) -> Tensor:
        tensor = _tensor(x, self.device, self.dtype)
        if self.fit_intercept:
            tensor = torch.cat([tensor, torch.ones((tensor.shape[0], 1), dtype=self.dtype, device=self.device)], dim=1)
        return tensor

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> TorchLogisticUtility:
        return TorchLogisticUtility(
            x_train, y_train, self.x_valid, self.classes_[self.y_valid], C=self.C, fit_intercept=self.fit_intercept,
            metric=self.metric, max_iter=self.max_iter, tol=self.tol, batch_size=self._batch_size,
            device=self.device, dtype=self.dtype, sparse_threshold=self.sparse_threshold, solver=self.solver,
        )

    def fit(self, counts: Any) -> Tensor:
        """Parameters ``(m, k_out, d + fit_intercept)`` of the models fitted on each subset (on the device).

        ``k_out`` is 1 for two classes (the weights of class 1), else K; the last column is the
        intercept. Degenerate subsets get zeros (they are not fitted). Does not count evaluations.
        """
        array = _as_counts(counts, self.n_data)
        out = torch.zeros((array.shape[0], self.k_out, self._x.shape[1]), dtype=self.dtype, device=self.device)
        class_counts = self._class_counts(array)
        fitted = np.flatnonzero((class_counts > 0).sum(axis=1) >= 2)
        for lo in range(0, fitted.size, self._batch_size):
            rows = fitted[lo : lo + self._batch_size]
            out[torch.from_numpy(rows).to(self.device)] = self._fit(array[rows], rows)
        return out

    def _fit(self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: _Support | None = None) -> Tensor:
        k, d1 = self.k_out, int(self._x.shape[1])
        tol = max(self.tol, 100.0 * torch.finfo(self.dtype).eps)
        out = torch.zeros((counts.shape[0], k, d1), dtype=self.dtype, device=self.device)
        support = support or _Support(counts)
        present_all = support.class_counts(self.y_train, self.n_classes) > 0 if self.k_out > 1 else None
        for positions, sparse in support.groups(self.sparse_threshold):
            n_rows = int(support.sizes[positions].max()) if sparse else self.n_data
            # cells per model: logits, probabilities, weights, residuals; Hessian weights (times
            # d1 unless the dense outer products are cached); gathered rows; Hessian and factor.
            dense_outer = not sparse and self._outer_products() is not None
            per_row = k * k * (1 if dense_outer else d1 + 1) + 6 * k + 4 + (2 * d1 if sparse else 0)
            per_model = n_rows * per_row + 6 * (k * d1) ** 2
            for lo, hi in _chunks(positions.size, per_model, self._batch_size):
                part = positions[lo:hi]
                if sparse:
                    data = _TorchData.gathered(support.padded(part), self._x, self._y, normalise=True)
                else:
                    data = _TorchData.dense(counts[part], self._x, self._y, normalise=True, xx=self._outer_products())
                totals = torch.from_numpy(support.totals[part]).to(device=self.device, dtype=self.dtype)
                present = None if present_all is None else torch.from_numpy(present_all[part]).to(self.device)
                batch = _LogisticBatch(data, 1.0 / (self.C * totals), present, self._penalty, self.fit_intercept)
                if k == 1 and self.solver == "newton":
                    theta, norm = _solve_binary_newton(batch, tol=tol, max_iter=self.max_iter)
                else:
                    start = torch.zeros((hi - lo, k, d1), dtype=self.dtype, device=self.device)
                    theta, norm = _solve_logistic(batch, start, tol=tol, max_iter=self.max_iter, solver=self.solver)
                bad = (norm > tol).cpu().numpy()
                if bad.any():
                    self.n_unconverged += int(bad.sum())
                    warnings.warn(
                        f"TorchLogisticUtility: {int(bad.sum())} fit(s) stopped with gradient max-norm above "
                        f"tol = {tol:g} (subset row(s) {_shown(rows[part][bad])}); raise max_iter",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                out[torch.from_numpy(part).to(self.device)] = theta
        return out

    def _outer_products(self) -> Tensor | None:
        """Upper triangles of the row outer products ``(N, d1 (d1 + 1) / 2)``, for dense Hessians
        (None if too large)."""
        d1 = int(self._x.shape[1])
        if self._xx is None and self.n_data * d1 * (d1 + 1) // 2 <= _MAX_CELLS:
            rows, cols = torch.triu_indices(d1, d1, device=self.device)
            self._xx = self._x[:, rows] * self._x[:, cols]
        return self._xx

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: _Support | None = None
    ) -> NDArray[np.float64]:
        support = support or _Support(counts)
        theta = self._fit(counts, rows, support)
        z = torch.matmul(self._xv, theta.transpose(1, 2))  # (b, n_valid, k_out)
        if self.k_out == 1:
            probabilities = torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=2)
        else:
            present = torch.from_numpy(self._class_counts(counts, support) > 0).to(self.device)
            probabilities = torch.softmax(z.masked_fill(~present[:, None, :], -math.inf), dim=2)
        return np.asarray(probabilities.to(torch.float64).cpu().numpy(), dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# batched MLPs


class TorchMLPUtility(ClassifierUtility):
    """Validation score of a one-hidden-layer ReLU network trained on each subset, many at once.

    The networks ``softmax(W2 relu(W1 x + b1) + b2)`` (K outputs, also for two classes) of a batch
    are trained together with stacked parameters and batched matmuls. Every subset starts from the
    same initial parameters, drawn from ``seed`` (PyTorch's ``nn.Linear`` initialisation,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))), and takes exactly ``epochs`` full-batch Adam steps
    (``torch.optim.Adam(lr, weight_decay)``, weight decay on all parameters) on the count-weighted
    mean cross-entropy. Adam acts elementwise, so U is a deterministic function of the subset:
    batch size and batch companions only change float rounding of the matmuls. Degenerate
    subsets follow the module's rule; no feature scaling is applied.

    Args:
        x_train, y_train, x_valid, y_valid: as for :class:`TorchLogisticUtility`.
        hidden: hidden units.
        epochs: Adam steps (full batch) per subset.
        lr: Adam learning rate.
        weight_decay: Adam's L2 weight decay.
        seed: seed of the shared initial parameters.
        metric: ``"accuracy"``, ``"log_likelihood"`` or a callable.
        batch_size: subsets trained together (also bounded by memory).
        device: torch device (default CPU).
        dtype: torch.float32 (default) or torch.float64.
        sparse_threshold: as for :class:`TorchLogisticUtility`.
    """

    def __init__(
        self,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        hidden: int = 32,
        epochs: int = 100,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
        metric: Metric = "accuracy",
        batch_size: int = 512,
        device: Any = None,
        dtype: torch.dtype = torch.float32,
        sparse_threshold: float = 0.2,
    ) -> None:
        super().__init__(x_train, y_train, x_valid, y_valid, metric)
        self.hidden = _check_int("hidden", hidden, 1)
        self.epochs = _check_int("epochs", epochs, 0)
        self.lr = _check_positive_float("lr", lr)
        self.weight_decay = _check_positive_float("weight_decay", weight_decay, allow_zero=True)
        self.seed = _check_int("seed", seed, 0)
        self._batch_size = _check_int("batch_size", batch_size, 1)
        self.device = _torch_device(device)
        self.dtype = _torch_dtype(dtype)
        threshold = _check_positive_float("sparse_threshold", sparse_threshold, allow_zero=True)
        if threshold > 1.0:
            raise InvalidArgumentError(f"sparse_threshold: must lie in [0, 1], got {sparse_threshold!r}")
        self.sparse_threshold = threshold
        generator = torch.Generator().manual_seed(self.seed)
        d, h, k = self.n_features, self.hidden, self.n_classes

        def uniform(shape: tuple[int, ...], fan_in: int) -> Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            values = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * bound
            return values.to(device=self.device, dtype=self.dtype)

        self._initial = (uniform((d, h), d), uniform((h,), d), uniform((h, k), h), uniform((k,), h))
        self._x = _tensor(self.x_train, self.device, self.dtype)
        self._xv = _tensor(self.x_valid, self.device, self.dtype)
        self._y = _tensor(self.y_train, self.device)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> TorchMLPUtility:
        return TorchMLPUtility(
            x_train, y_train, self.x_valid, self.classes_[self.y_valid], hidden=self.hidden, epochs=self.epochs,
            lr=self.lr, weight_decay=self.weight_decay, seed=self.seed, metric=self.metric,
            batch_size=self._batch_size, device=self.device, dtype=self.dtype, sparse_threshold=self.sparse_threshold,
        )

    @staticmethod
    def _forward(x: Tensor, sparse: bool, params: list[Tensor]) -> Tensor:
        w1, b1, w2, b2 = params
        hidden = torch.bmm(x, w1) if sparse else torch.matmul(x, w1)
        hidden = torch.relu(hidden + b1[:, None, :])
        return torch.bmm(hidden, w2) + b2[:, None, :]

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: _Support | None = None
    ) -> NDArray[np.float64]:
        out = np.empty((counts.shape[0], self.n_valid, self.n_classes), dtype=np.float64)
        support = support or _Support(counts)
        for positions, sparse in support.groups(self.sparse_threshold):
            n_rows = int(support.sizes[positions].max()) if sparse else self.n_data
            per_model = (n_rows + self.n_valid) * (6 * self.hidden + 6 * self.n_classes + self.n_features + 2)
            for lo, hi in _chunks(positions.size, per_model, self._batch_size):
                part = positions[lo:hi]
                if sparse:
                    data = _TorchData.gathered(support.padded(part), self._x, self._y, normalise=True)
                else:
                    data = _TorchData.dense(counts[part], self._x, self._y, normalise=True)
                out[part] = self._train_chunk(data)
        return out

    def _train_chunk(self, data: _TorchData) -> NDArray[np.float64]:
        b = data.w.shape[0]
        labels = data.labels(b)[:, :, None]
        params = [p.expand(b, *p.shape).clone().requires_grad_(True) for p in self._initial]
        with torch.enable_grad():
            optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.epochs):
                optimiser.zero_grad(set_to_none=True)
                logp = torch.log_softmax(self._forward(data.x, data.sparse, params), dim=2)
                loss = -(data.w * logp.gather(2, labels)[:, :, 0]).sum()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
        with torch.no_grad():
            probabilities = torch.softmax(self._forward(self._xv, False, [p.detach() for p in params]).double(), dim=2)
        return np.asarray(probabilities.cpu().numpy(), dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# scikit-learn


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(f"estimator: SklearnUtility needs {name.split('.')[0]}; pip install scikit-learn") from exc


def _sklearn_fit_chunk(
    estimator: Any,
    x_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
    x_valid: NDArray[np.float64],
    counts: NDArray[np.int64],
    rows: NDArray[np.int64],
    n_classes: int,
    use_proba: bool,
) -> NDArray[np.float64]:
    """Validation probabilities ``(b, n_valid, K)`` of one clone of ``estimator`` fitted per subset."""
    clone = _import("sklearn.base").clone
    out = np.zeros((counts.shape[0], x_valid.shape[0], n_classes), dtype=np.float64)
    for j in range(counts.shape[0]):
        index = np.repeat(np.arange(counts.shape[1]), counts[j])
        model = clone(estimator)
        try:
            model.fit(x_train[index], y_train[index])
            if use_proba:
                proba = np.asarray(model.predict_proba(x_valid), dtype=np.float64)
                columns = np.asarray(getattr(model, "classes_", np.unique(y_train[index])), dtype=np.int64)
                out[j][:, columns] = proba
            else:
                predicted = np.asarray(model.predict(x_valid), dtype=np.int64)
                out[j][np.arange(x_valid.shape[0]), predicted] = 1.0
        except Exception as exc:
            raise StochamortError(
                f"estimator: fitting or predicting failed on subset row {int(rows[j])}: {type(exc).__name__}: {exc}"
            ) from exc
    return out


class SklearnUtility(ClassifierUtility):
    """Validation score of any scikit-learn-style classifier fitted on each subset.

    For each subset, ``sklearn.base.clone(estimator)`` is fitted on the training rows repeated by
    their counts, with labels given as class indices ``0..K-1``; its ``predict_proba`` columns are
    mapped to the utility's full class list (classes the fit never saw get probability 0).
    Estimators without ``predict_proba`` predict one-hot probabilities and support only
    ``metric="accuracy"``. Subsets are fitted in chunks by ``joblib.Parallel(n_jobs)``;
    degenerate subsets follow the module's rule and are not fitted. A fit that raises is re-raised
    as a :class:`~stochamort.errors.StochamortError` naming the subset row.

    Args:
        estimator: an unfitted scikit-learn-style classifier (``fit`` and ``predict_proba`` or
            ``predict``).
        x_train, y_train, x_valid, y_valid: as for :class:`TorchLogisticUtility`.
        metric: ``"accuracy"``, ``"log_likelihood"`` or a callable (the last two need
            ``predict_proba``).
        n_jobs: joblib workers (1: in process; -1: all cores).
        batch_size: subsets per call of joblib (split into ``n_jobs`` chunks).
    """

    def __init__(
        self,
        estimator: Any,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        metric: Metric = "accuracy",
        n_jobs: int = 1,
        batch_size: int = 256,
    ) -> None:
        super().__init__(x_train, y_train, x_valid, y_valid, metric)
        if not callable(getattr(estimator, "fit", None)):
            raise InvalidArgumentError(f"estimator: must have a fit method, got {type(estimator).__name__}")
        clone = _import("sklearn.base").clone
        try:
            clone(estimator)
        except Exception as exc:
            raise InvalidArgumentError(f"estimator: cannot be cloned by sklearn.base.clone: {exc}") from exc
        self.use_proba = callable(getattr(estimator, "predict_proba", None))
        if not self.use_proba:
            if not callable(getattr(estimator, "predict", None)):
                raise InvalidArgumentError(f"estimator: needs predict_proba or predict, {type(estimator).__name__} has neither")
            if self.metric != "accuracy":
                raise InvalidArgumentError(
                    f"metric: {self.metric!r} needs predict_proba, which {type(estimator).__name__} lacks; use metric='accuracy'"
                )
        self.estimator = estimator
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
            raise InvalidArgumentError(f"n_jobs: must be a non-zero integer (joblib semantics), got {n_jobs!r}")
        self.n_jobs = int(n_jobs)
        self._batch_size = _check_int("batch_size", batch_size, 1)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> SklearnUtility:
        return SklearnUtility(
            self.estimator, x_train, y_train, self.x_valid, self.classes_[self.y_valid], metric=self.metric,
            n_jobs=self.n_jobs, batch_size=self._batch_size,
        )

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: _Support | None = None
    ) -> NDArray[np.float64]:
        args = (self.estimator, self.x_train, self.y_train, self.x_valid)
        if self.n_jobs == 1 or counts.shape[0] == 1:
            return _sklearn_fit_chunk(*args, counts, rows, self.n_classes, self.use_proba)
        joblib = _import("joblib")
        workers = int(joblib.effective_n_jobs(self.n_jobs))
        parts = np.array_split(np.arange(counts.shape[0]), min(workers, counts.shape[0]))
        results = joblib.Parallel(n_jobs=self.n_jobs)(
            joblib.delayed(_sklearn_fit_chunk)(*args, counts[part], rows[part], self.n_classes, self.use_proba)
            for part in parts
        )
        return np.concatenate(results, axis=0)
