"""The cheap data-valuation baselines a practitioner tries first, as :class:`DataValues`.

* :func:`leave_one_out`: U(N) − U(N ∖ {i}) for any utility (N + 1 fits).
* :func:`knn_shapley`: the exact Shapley values of the K-nearest-neighbour utility, in closed
  form (Jia et al. 2019); no model is fitted.
* :func:`data_oob`: Data-OOB (Kwon & Zou 2023), the out-of-bag accuracy of a bagged model on each
  point.
* :func:`out_of_fold_probability`: the probability a cross-validated model gives each point's own
  label.

They are not semivalues of a model utility (only leave-one-out is a marginal contribution), but
they rank mislabelled points well and cost a few fits; see the README's "Cheap baselines".
Labels may be integers or strings, features an array or a DataFrame.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from stochamort._checks import check_int, check_seed
from stochamort.errors import InvalidArgumentError, MissingDependencyError, ShapeError, StochamortError
from stochamort.results import DataValues
from stochamort.valuation._examples import as_examples, as_labels, class_indices
from stochamort.valuation.utility import Utility

__all__ = ["leave_one_out", "knn_shapley", "data_oob", "out_of_fold_probability"]

# Rows of the (subsets × N) leave-one-out matrix built at once, and the largest
# (validation points × N × features) block of the KNN distances: both bound memory, never results.
_LOO_ROWS = 1024
_KNN_BLOCK = 1 << 22


def _sklearn(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("estimator: the default estimators need scikit-learn; pip install scikit-learn") from exc


def _training_data(x: Any, y: Any) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[Any]]:
    """Features, class indices and the sorted classes of a training set (≥ 2 classes)."""
    features, _ = as_examples("x_train", x)
    labels = as_labels("y_train", y, features.shape[0], "x_train")
    classes = np.unique(labels)
    if classes.size < 2:
        raise InvalidArgumentError(f"y_train: needs at least 2 classes, got {classes.size}")
    return features, class_indices("y_train", labels, classes), classes


def leave_one_out(utility: Utility, *, progress: bool = True) -> DataValues:
    """Leave-one-out values U(N) − U(N ∖ {i}) of every training point.

    Args:
        utility: any :class:`~stochamort.valuation.Utility`; it is evaluated N + 1 times.
        progress: show a progress bar over the fits.

    Returns:
        :class:`DataValues` with zero standard errors (the values are exact for this utility; a
        utility that trains with randomness gives the noise of its fits), ``n_contributions`` 1 and
        ``extras["full_utility"]`` = U(N).
    """
    if not isinstance(utility, Utility):
        raise InvalidArgumentError(f"utility: expected a stochamort.valuation.Utility, got {type(utility).__name__}")
    n = utility.n_data
    before = utility.n_evaluations
    full = float(utility.evaluate(np.ones((1, n), dtype=np.bool_))[0])
    without = np.empty(n, dtype=np.float64)
    with tqdm(total=n, desc="leave_one_out", unit="fit", disable=not progress, leave=False) as bar:
        for lo in range(0, n, _LOO_ROWS):
            hi = min(n, lo + _LOO_ROWS)
            counts = np.ones((hi - lo, n), dtype=np.bool_)
            counts[np.arange(hi - lo), np.arange(lo, hi)] = False
            without[lo:hi] = utility.evaluate(counts)
            bar.update(hi - lo)
    return DataValues(
        full - without,
        np.zeros(n),
        np.ones(n, dtype=np.int64),
        utility.n_evaluations - before,
        extras={"full_utility": full},
    )


def _knn_block(order: NDArray[np.int64], matches: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Exact KNN-Shapley values ``(b, N)`` for ``b`` validation points (Jia et al. 2019, Thm. 1).

    ``order[v]`` ranks the training points by distance to validation point v (nearest first) and
    ``matches[v, j]`` is 1 where the j-th nearest has v's label. With s the values in rank order,
    s_N = m_N · min(K, N) / (N K) (m_N / N once N ≥ K) and s_i = s_{i+1} + (m_i − m_{i+1}) / K · min(K, i) / i: a reversed cumulative sum.
    """
    n = order.shape[1]
    ranks = np.arange(1, n, dtype=np.float64)
    steps = (matches[:, :-1] - matches[:, 1:]) / k * np.minimum(k, ranks) / ranks
    in_rank_order = np.empty_like(matches)
    in_rank_order[:, -1] = matches[:, -1] * min(k, n) / (n * k)
    in_rank_order[:, :-1] = in_rank_order[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
    values = np.empty_like(in_rank_order)
    np.put_along_axis(values, order, in_rank_order, axis=1)
    return values


def knn_shapley(x_train: Any, y_train: Any, x_valid: Any, y_valid: Any, *, n_neighbors: int = 5, progress: bool = False) -> DataValues:
    """Exact Shapley values of the K-nearest-neighbour utility (Jia et al. 2019), no fitting.

    The utility of a subset S on a validation point is the fraction of its K nearest neighbours in
    S (Euclidean distance; ties broken by training index) that carry the point's label, with K in
    the denominator even when |S| < K; a training point's value is its exact Shapley value averaged
    over the validation points. O(n_valid · N log N) time. Standardise features whose scales differ.

    Args:
        x_train, y_train: the training points ``(N, d)`` and their labels ``(N,)``.
        x_valid, y_valid: the validation points ``(n_valid, d)`` and labels; labels must occur in ``y_train``.
        n_neighbors: K ≥ 1.
        progress: show a progress bar over blocks of validation points.

    Returns:
        :class:`DataValues` with zero standard errors (the values are exact), zero model fits,
        and ``extras["validation_std_errors"]``: the standard error of each value over the
        validation points (how much another validation set of that size could move it).
    """
    features, codes, classes = _training_data(x_train, y_train)
    valid, _ = as_examples("x_valid", x_valid)
    if valid.shape[1] != features.shape[1]:
        raise ShapeError(f"x_valid: has {valid.shape[1]} features but x_train has {features.shape[1]}")
    valid_codes = class_indices("y_valid", as_labels("y_valid", y_valid, valid.shape[0], "x_valid"), classes)
    k = check_int("n_neighbors", n_neighbors, 1)
    n, n_valid = features.shape[0], valid.shape[0]
    total = np.zeros(n, dtype=np.float64)
    total_sq = np.zeros(n, dtype=np.float64)
    block = max(1, _KNN_BLOCK // (n * features.shape[1]))
    for lo in tqdm(range(0, n_valid, block), desc="knn_shapley", disable=not progress, leave=False):
        hi = min(n_valid, lo + block)
        distances = ((valid[lo:hi, None, :] - features[None, :, :]) ** 2).sum(axis=2)
        order = np.argsort(distances, axis=1, kind="stable")
        matches = (codes[order] == valid_codes[lo:hi, None]).astype(np.float64)
        values = _knn_block(order, matches, k)
        total += values.sum(axis=0)
        total_sq += (values**2).sum(axis=0)
    mean = total / n_valid
    spread = np.sqrt(np.maximum(total_sq / n_valid - mean**2, 0.0) / max(1, n_valid - 1)) if n_valid > 1 else np.full(n, np.inf)
    return DataValues(mean, np.zeros(n), np.zeros(n, dtype=np.int64), 0, extras={"validation_std_errors": spread})


def _with_seed(estimator: Any, seed: int) -> Any:
    """A fresh clone of ``estimator``, seeded where it takes a ``random_state``."""
    model = _sklearn("sklearn.base").clone(estimator)
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return model


def _fit(model: Any, x: NDArray[np.float64], y: NDArray[np.int64], what: str) -> Any:
    try:
        return model.fit(x, y)
    except Exception as exc:
        raise StochamortError(f"estimator: fitting failed on {what}: {type(exc).__name__}: {exc}") from exc


def data_oob(
    x_train: Any,
    y_train: Any,
    *,
    estimator: Any = None,
    n_estimators: int = 800,
    seed: int = 0,
    progress: bool = True,
) -> DataValues:
    """Data-OOB (Kwon & Zou 2023): each point's accuracy under the bagged models that did not see it.

    ``n_estimators`` bootstrap samples of the training set are drawn; a clone of ``estimator`` is
    fitted on each; a point's value is the fraction of the models whose bootstrap sample left it
    out that predict its label. Mislabelled points score low. The validation set is not used.

    Args:
        x_train, y_train: the training points ``(N, d)`` and labels ``(N,)``.
        estimator: a scikit-learn-style classifier (``fit``/``predict``; cloned per bag and seeded
            where it has ``random_state``); default a fully grown decision tree, as in the paper.
        n_estimators: bags B ≥ 2 (the paper uses 800; each point is out of bag in about 37 %).
        seed: seeds the bootstrap samples and the estimators.
        progress: show a progress bar over the fits.

    Returns:
        :class:`DataValues`: the out-of-bag accuracies, their standard errors over the bags that
        left each point out, ``n_contributions`` those bag counts, and ``n_estimators`` fits.

    Raises:
        InvalidArgumentError: a point was in every bag (raise ``n_estimators``).
        StochamortError: the estimator failed to fit or predict.
    """
    features, codes, _ = _training_data(x_train, y_train)
    n_bags = check_int("n_estimators", n_estimators, 2)
    rng = np.random.default_rng(check_seed(seed))
    if estimator is None:
        estimator = _sklearn("sklearn.tree").DecisionTreeClassifier()
    n = features.shape[0]
    correct = np.zeros(n, dtype=np.float64)
    out_of_bag = np.zeros(n, dtype=np.int64)
    for bag in tqdm(range(n_bags), desc="data_oob", unit="fit", disable=not progress, leave=False):
        rows = rng.integers(0, n, size=n)
        model_seed = int(rng.integers(0, 2**31 - 1))
        left_out = np.bincount(rows, minlength=n) == 0
        model = _fit(_with_seed(estimator, model_seed), features[rows], codes[rows], f"bag {bag}")
        try:
            predicted = np.asarray(model.predict(features[left_out])).astype(np.int64)
        except Exception as exc:
            raise StochamortError(f"estimator: predicting failed on bag {bag}: {type(exc).__name__}: {exc}") from exc
        correct[left_out] += predicted == codes[left_out]
        out_of_bag += left_out
    never = np.flatnonzero(out_of_bag == 0)
    if never.size:
        raise InvalidArgumentError(f"n_estimators: {n_bags} bags left no model out of bag for {never.size} point(s); raise n_estimators")
    accuracy = correct / out_of_bag
    # Bernoulli outcomes: the sample variance is k/(k−1)·p(1−p), so the SE is sqrt(p(1−p)/(k−1)).
    with np.errstate(divide="ignore", invalid="ignore"):
        std_errors = np.where(out_of_bag > 1, np.sqrt(accuracy * (1 - accuracy) / (out_of_bag - 1)), np.inf)
    return DataValues(accuracy, std_errors, out_of_bag, n_bags)


def _default_probability_model() -> Any:
    pipeline = _sklearn("sklearn.pipeline")
    scaler = _sklearn("sklearn.preprocessing").StandardScaler()
    return pipeline.make_pipeline(scaler, _sklearn("sklearn.linear_model").LogisticRegression(max_iter=1000))


def _own_label_probability(
    model: Any, x: NDArray[np.float64], codes: NDArray[np.int64], n_classes: int, what: str
) -> NDArray[np.float64]:
    """Probability of each point's class index under ``model`` (0 for a class its fit never saw)."""
    try:
        proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    except Exception as exc:
        raise StochamortError(f"estimator: predict_proba failed on {what}: {type(exc).__name__}: {exc}") from exc
    columns = np.asarray(model.classes_, dtype=np.int64)
    full = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    full[:, columns] = proba
    return full[np.arange(x.shape[0]), codes]


def out_of_fold_probability(
    x_train: Any,
    y_train: Any,
    *,
    estimator: Any = None,
    n_folds: int = 5,
    n_repeats: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> DataValues:
    """The probability a cross-validated model gives each training point's own label.

    The training set is split into ``n_folds`` stratified folds; a clone of ``estimator`` fitted
    on the other folds gives the held-out points' class probabilities, and a point's value is the
    probability of its given label (low: the label looks wrong). With ``n_repeats`` > 1 the
    splits are redrawn and the values averaged.

    Args:
        x_train, y_train: the training points ``(N, d)`` and labels ``(N,)``.
        estimator: a scikit-learn-style classifier with ``predict_proba`` (cloned per fold and
            seeded where it has ``random_state``); default standardisation + logistic regression.
        n_folds: folds ≥ 2; every class needs at least this many points.
        n_repeats: independent splits ≥ 1.
        seed: seeds the splits and the estimators.
        progress: show a progress bar over the fits.

    Returns:
        :class:`DataValues`: the mean probabilities, standard errors over the repeats (``inf``
        with one repeat), ``n_contributions`` = ``n_repeats``, and ``n_folds · n_repeats`` fits.
    """
    features, codes, classes = _training_data(x_train, y_train)
    folds = check_int("n_folds", n_folds, 2)
    repeats = check_int("n_repeats", n_repeats, 1)
    smallest = int(np.bincount(codes).min())
    if smallest < folds:
        raise InvalidArgumentError(f"n_folds: {folds} stratified folds need ≥ {folds} points per class; the rarest class has {smallest}")
    rng = np.random.default_rng(check_seed(seed))
    model_selection = _sklearn("sklearn.model_selection")
    if estimator is None:
        estimator = _default_probability_model()
    n = features.shape[0]
    probabilities = np.empty((repeats, n), dtype=np.float64)
    with tqdm(total=folds * repeats, desc="out_of_fold_probability", unit="fit", disable=not progress, leave=False) as bar:
        for r in range(repeats):
            splitter = model_selection.StratifiedKFold(folds, shuffle=True, random_state=int(rng.integers(0, 2**31 - 1)))
            for f, (fit_rows, held_out) in enumerate(splitter.split(features, codes)):
                what = f"repeat {r}, fold {f}"
                model = _fit(_with_seed(estimator, int(rng.integers(0, 2**31 - 1))), features[fit_rows], codes[fit_rows], what)
                probabilities[r, held_out] = _own_label_probability(model, features[held_out], codes[held_out], classes.size, what)
                bar.update(1)
    values = probabilities.mean(axis=0)
    std_errors = probabilities.std(axis=0, ddof=1) / np.sqrt(repeats) if repeats > 1 else np.full(n, np.inf)
    return DataValues(values, std_errors, np.full(n, repeats, dtype=np.int64), folds * repeats, extras={"classes": classes})
