""":class:`SklearnUtility`: any scikit-learn-style classifier, one clone fitted per subset (joblib)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, MissingDependencyError, StochamortError
from stochamort._checks import check_int
from stochamort.valuation.utility.classifier import ClassifierUtility, Metric
from stochamort.valuation.utility.support import SubsetSupport

__all__ = ["SklearnUtility"]


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(f"estimator: SklearnUtility needs {name.split('.')[0]}; pip install scikit-learn") from exc


def _fit_chunk(
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
    degenerate subsets follow the package's rule (:mod:`stochamort.valuation.utility`) and are
    not fitted. A fit that raises is re-raised as a :class:`~stochamort.errors.StochamortError`
    naming the subset row.

    Args:
        estimator: an unfitted scikit-learn-style classifier (``fit`` and ``predict_proba`` or
            ``predict``).
        x_train, y_train, x_valid, y_valid: as for
            :class:`~stochamort.valuation.utility.TorchLogisticUtility`.
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
        self._batch_size = check_int("batch_size", batch_size, 1)

    @property
    def batch_size(self) -> int:
        """Subsets per call of joblib."""
        return self._batch_size

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> SklearnUtility:
        return SklearnUtility(
            self.estimator, x_train, y_train, self.x_valid, self.classes_[self.y_valid], metric=self.metric,
            n_jobs=self.n_jobs, batch_size=self._batch_size,
        )

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: SubsetSupport | None = None
    ) -> NDArray[np.float64]:
        args = (self.estimator, self.x_train, self.y_train, self.x_valid)
        if self.n_jobs == 1 or counts.shape[0] == 1:
            return _fit_chunk(*args, counts, rows, self.n_classes, self.use_proba)
        joblib = _import("joblib")
        workers = int(joblib.effective_n_jobs(self.n_jobs))
        parts = np.array_split(np.arange(counts.shape[0]), min(workers, counts.shape[0]))
        results = joblib.Parallel(n_jobs=self.n_jobs)(
            joblib.delayed(_fit_chunk)(*args, counts[part], rows[part], self.n_classes, self.use_proba)
            for part in parts
        )
        return np.concatenate(results, axis=0)
