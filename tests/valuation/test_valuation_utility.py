"""Data-valuation utilities: batched logistic regression against scikit-learn, the degenerate-subset
rule, batch-size and path independence, the batched MLP, the scikit-learn utility, typed errors.

Tolerances: TorchLogisticUtility solves each fit to a gradient max-norm of 1e-10 (scaled objective),
scikit-learn's lbfgs (tol=1e-10, max_iter=10_000) stops on its own criteria a little earlier; their
validation probabilities agree within ``PROB_TOL = 1e-5`` (observed ~1e-7). Runs of the same
utility that differ only in batching or in the sparse/dense path agree to float rounding:
accuracies exactly, log-likelihoods within 1e-12.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from stochamort.errors import (
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)
from stochamort.valuation.utility import (
    LOG_PROB_FLOOR,
    FunctionUtility,
    SklearnUtility,
    TorchLogisticUtility,
    TorchMLPUtility,
    Utility,
)

from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402

#: TorchLogisticUtility vs scikit-learn's LogisticRegression: validation probabilities.
PROB_TOL = 1e-5
#: Same utility, different batching or path: log-likelihood values.
ROUNDING_TOL = 1e-12
#: TorchMLPUtility in float32, different batch sizes.
MLP_TOL = 1e-5

N_TRAIN, N_VALID, D = 60, 40, 4


def dataset(n_classes: int, seed: int = 0, n_train: int = N_TRAIN, n_valid: int = N_VALID, sep: float = 1.0) -> tuple[Any, ...]:
    """Gaussian classes with overlapping clouds, features of unit scale."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=sep, size=(n_classes, D))
    n = n_train + n_valid
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    x = centres[y] + rng.normal(size=(n, D))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def random_counts(
    m: int, n: int, seed: int, *, multiset: bool, low: int = 12, high: int = 45, y: NDArray[np.int64] | None = None
) -> NDArray[np.int64]:
    """Random subsets (or multisets, drawn with replacement) of sizes low..high; with ``y`` every
    class is present in every subset."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((m, n), dtype=np.int64)
    for r in range(m):
        size = int(rng.integers(low, high + 1))
        idx = rng.integers(0, n, size) if multiset else rng.permutation(n)[:size]
        np.add.at(counts[r], idx, 1)
        if y is not None:
            for c in np.unique(y):
                if counts[r][y == c].sum() == 0:
                    counts[r, rng.choice(np.flatnonzero(y == c))] += 1
    return counts


def sklearn_probabilities(x: Any, y: Any, xv: Any, counts: NDArray[np.int64], C: float = 1.0) -> NDArray[np.float64]:
    out = []
    for row in counts:
        keep = row > 0
        model = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x[keep], y[keep], sample_weight=row[keep])
        out.append(model.predict_proba(xv))
    return np.stack(out)


def accuracies(probabilities: NDArray[np.float64], y_valid: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.asarray((probabilities.argmax(axis=2) == y_valid).mean(axis=1))


def raises_typed(cls: type[Exception], argument: str) -> Any:
    """``pytest.raises(cls)`` whose message must start with ``argument:``."""
    return pytest.raises(cls, match=rf"^{argument}:")


# ------------------------------------------------------------------------------------------------
# TorchLogisticUtility against scikit-learn


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("multiset", [False, True])
def test_logistic_matches_sklearn(n_classes: int, multiset: bool) -> None:
    x, y, xv, yv = dataset(n_classes, seed=n_classes)
    counts = random_counts(12, N_TRAIN, seed=7 + n_classes, multiset=multiset, y=y)
    C = 0.7
    utility = TorchLogisticUtility(x, y, xv, yv, C=C)
    ours = utility.validation_probabilities(counts)
    theirs = sklearn_probabilities(x, y, xv, counts, C=C)
    assert np.abs(ours - theirs).max() < PROB_TOL
    expected = accuracies(theirs, yv)
    np.testing.assert_array_equal(utility(counts), expected)
    assert utility.n_evaluations == 2 * counts.shape[0]
    # scikit-learn's own predict agrees with the accuracies too
    row = counts[0]
    model = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x[row > 0], y[row > 0], sample_weight=row[row > 0])
    assert utility(counts[:1])[0] == model.score(xv, yv)


def test_logistic_matches_sklearn_without_intercept_and_log_likelihood() -> None:
    x, y, xv, yv = dataset(3, seed=11)
    counts = random_counts(6, N_TRAIN, seed=3, multiset=False, y=y)
    utility = TorchLogisticUtility(x, y, xv, yv, C=2.0, fit_intercept=False, metric="log_likelihood")
    theirs = []
    for row in counts:
        keep = row > 0
        model = LogisticRegression(C=2.0, fit_intercept=False, tol=1e-10, max_iter=10_000)
        theirs.append(model.fit(x[keep], y[keep], sample_weight=row[keep]).predict_proba(xv))
    probabilities = np.stack(theirs)
    assert np.abs(utility.validation_probabilities(counts) - probabilities).max() < PROB_TOL
    expected = np.log(probabilities[:, np.arange(N_VALID), yv]).mean(axis=1)
    np.testing.assert_allclose(utility(counts), expected, atol=1e-4)


def test_string_labels_map_like_integers() -> None:
    x, y, xv, yv = dataset(3, seed=2)
    names = np.array(["ant", "bee", "cat"])
    counts = random_counts(5, N_TRAIN, seed=1, multiset=True)
    a = TorchLogisticUtility(x, y, xv, yv, metric="log_likelihood")
    b = TorchLogisticUtility(x, names[y], xv, names[yv], metric="log_likelihood")
    np.testing.assert_array_equal(a(counts), b(counts))
    assert list(b.classes_) == ["ant", "bee", "cat"] and b.n_classes == 3
    assert b.y_train.dtype == np.int64 and np.array_equal(b.y_train, y)


def test_lbfgs_fallback_agrees_with_newton() -> None:
    x, y, xv, yv = dataset(3, seed=5)
    counts = random_counts(6, N_TRAIN, seed=2, multiset=True, y=y)
    newton = TorchLogisticUtility(x, y, xv, yv, solver="newton").validation_probabilities(counts)
    lbfgs = TorchLogisticUtility(x, y, xv, yv, solver="lbfgs", max_iter=3000).validation_probabilities(counts)
    assert np.abs(newton - lbfgs).max() < 1e-7


def test_float32_is_close_to_float64() -> None:
    x, y, xv, yv = dataset(2, seed=4)
    counts = random_counts(6, N_TRAIN, seed=2, multiset=False, y=y)
    p64 = TorchLogisticUtility(x, y, xv, yv).validation_probabilities(counts)
    p32 = TorchLogisticUtility(x, y, xv, yv, dtype=torch.float32).validation_probabilities(counts)
    assert np.abs(p64 - p32).max() < 1e-4


def test_unconverged_fits_warn() -> None:
    x, y, xv, yv = dataset(2, seed=4)
    utility = TorchLogisticUtility(x, y, xv, yv, max_iter=1)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        utility(np.ones((2, N_TRAIN), dtype=np.bool_))
    assert utility.n_unconverged == 2


def test_fit_returns_parameters_of_sklearn() -> None:
    x, y, xv, yv = dataset(2, seed=9)
    counts = random_counts(3, N_TRAIN, seed=4, multiset=True, y=y)
    theta = TorchLogisticUtility(x, y, xv, yv).fit(counts).numpy()
    assert theta.shape == (3, 1, D + 1)
    for row, params in zip(counts, theta):
        keep = row > 0
        model = LogisticRegression(tol=1e-10, max_iter=10_000).fit(x[keep], y[keep], sample_weight=row[keep])
        np.testing.assert_allclose(params[0, :D], model.coef_[0], atol=1e-5)
        np.testing.assert_allclose(params[0, D], model.intercept_[0], atol=1e-5)


# ------------------------------------------------------------------------------------------------
# degenerate subsets and missing classes


def degenerate_utilities(metric: str) -> list[Utility]:
    x, y, xv, yv = dataset(3, seed=0)
    return [
        TorchLogisticUtility(x, y, xv, yv, metric=metric),
        TorchMLPUtility(x, y, xv, yv, metric=metric, epochs=2),
        SklearnUtility(LogisticRegression(), x, y, xv, yv, metric=metric),
    ]


@pytest.mark.parametrize("metric", ["accuracy", "log_likelihood"])
def test_degenerate_subsets_predict_smoothed_frequencies(metric: str) -> None:
    x, y, xv, yv = dataset(3, seed=0)
    counts = np.zeros((3, N_TRAIN), dtype=np.int64)
    class1 = np.flatnonzero(y == 1)
    counts[1, class1[:2]] = [2, 1]  # three copies of class 1: p = (1, 4, 1) / 6
    counts[2, class1[0]] = 5  # one point, five copies: p = (1, 6, 1) / 8
    p = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 6, 4 / 6, 1 / 6], [1 / 8, 6 / 8, 1 / 8]])
    if metric == "accuracy":
        # empty: uniform, ties to class 0; single-class subsets: the present class
        expected = np.array([np.mean(yv == 0), np.mean(yv == 1), np.mean(yv == 1)])
    else:
        expected = np.array([np.log(p[r, yv]).mean() for r in range(3)])
    for utility in degenerate_utilities(metric):
        values = utility(counts)
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-15, err_msg=type(utility).__name__)
        assert isinstance(utility, (TorchLogisticUtility, TorchMLPUtility, SklearnUtility))
        probabilities = utility.validation_probabilities(counts)
        np.testing.assert_allclose(probabilities, np.broadcast_to(p[:, None, :], probabilities.shape), rtol=0, atol=1e-15)


def test_degenerate_binary_and_exact_fractions() -> None:
    x, y, xv, yv = dataset(2, seed=1)
    utility = TorchLogisticUtility(x, y, xv, yv, metric="log_likelihood")
    counts = np.zeros((2, N_TRAIN), dtype=np.int64)
    counts[1, np.flatnonzero(y == 0)[:3]] = 1  # p = (4, 1) / 5
    values = utility(counts)
    assert values[0] == math.log(0.5)
    assert values[1] == np.log(np.where(yv == 0, 4 / 5, 1 / 5)).mean()


def test_missing_classes_are_excluded_from_the_softmax() -> None:
    x, y, xv, yv = dataset(3, seed=3)
    counts = np.zeros((1, N_TRAIN), dtype=np.int64)
    counts[0, np.flatnonzero(y != 2)[:20]] = 1  # classes 0 and 1 only
    utility = TorchLogisticUtility(x, y, xv, yv, metric="log_likelihood")
    probabilities = utility.validation_probabilities(counts)
    assert np.all(probabilities[..., 2] == 0.0)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1.0, atol=1e-12)
    theta = utility.fit(counts).numpy()
    assert np.all(theta[0, 2] == 0.0)
    # validation points of the absent class cost log(1e-12), as documented
    value = utility(counts)[0]
    expected = np.log(np.maximum(probabilities[0, np.arange(N_VALID), yv], LOG_PROB_FLOOR)).mean()
    assert value == pytest.approx(expected, abs=1e-12)
    # the fit is the minimiser of the two-class softmax objective: compare with a direct solve
    keep = counts[0] > 0
    xs, ys = torch.tensor(x[keep]), torch.tensor(y[keep])
    w = torch.zeros((2, D + 1), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500, tolerance_grad=1e-12, tolerance_change=0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = xs @ w[:, :D].T + w[:, D]
        loss = torch.nn.functional.cross_entropy(logits, ys, reduction="sum") + 0.5 * w[:, :D].square().sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)
    with torch.no_grad():
        direct = torch.softmax(torch.tensor(xv) @ w[:, :D].T + w[:, D], dim=1).numpy()
    assert np.abs(direct - probabilities[0, :, :2]).max() < 1e-6


# ------------------------------------------------------------------------------------------------
# batching and paths


def test_batch_size_independence_and_paths() -> None:
    x, y, xv, yv = dataset(3, seed=8, n_train=80)
    rng = np.random.default_rng(0)
    small = random_counts(10, 80, seed=1, multiset=True, low=3, high=20)
    large = (rng.random((10, 80)) < 0.8).astype(np.int64)
    counts = np.concatenate([small, large, np.zeros((1, 80), dtype=np.int64)])
    for metric in ("accuracy", "log_likelihood"):
        reference = TorchLogisticUtility(x, y, xv, yv, metric=metric, batch_size=1)(counts)
        for kwargs in ({"batch_size": 7}, {"batch_size": 1024}, {"sparse_threshold": 0.0}, {"sparse_threshold": 1.0}):
            values = TorchLogisticUtility(x, y, xv, yv, metric=metric, **kwargs)(counts)  # type: ignore[arg-type]
            if metric == "accuracy":
                np.testing.assert_array_equal(values, reference, err_msg=str(kwargs))
            else:
                np.testing.assert_allclose(values, reference, rtol=0, atol=ROUNDING_TOL, err_msg=str(kwargs))


def test_counts_dtypes_and_progress() -> None:
    x, y, xv, yv = dataset(2, seed=6)
    utility = TorchLogisticUtility(x, y, xv, yv, batch_size=3)
    masks = np.random.default_rng(0).random((7, N_TRAIN)) < 0.5
    expected = utility(masks)
    for dtype in (np.int8, np.uint32, np.int64, np.uint64):
        np.testing.assert_array_equal(utility.evaluate(masks.astype(dtype), progress=True), expected)
    readonly = masks.astype(np.int64)
    readonly.setflags(write=False)
    np.testing.assert_array_equal(utility(readonly), expected)
    assert utility(np.zeros((0, N_TRAIN), dtype=np.bool_)).shape == (0,)
    assert utility.n_evaluations == 7 * 6


def test_with_points_appends_players() -> None:
    x, y, xv, yv = dataset(2, seed=6)
    utility = TorchLogisticUtility(x[:50], y[:50], xv, yv, metric="log_likelihood")
    extended = utility.with_points(x[50:], y[50:])
    assert extended.n_data == N_TRAIN and isinstance(extended, TorchLogisticUtility)
    counts = random_counts(4, N_TRAIN, seed=3, multiset=True)
    np.testing.assert_allclose(
        extended(counts), TorchLogisticUtility(x, y, xv, yv, metric="log_likelihood")(counts), rtol=0, atol=ROUNDING_TOL
    )
    counts[:, 50:] = 0
    np.testing.assert_allclose(extended(counts), utility(counts[:, :50]), rtol=0, atol=ROUNDING_TOL)
    with raises_typed(InvalidArgumentError, "y"):
        utility.with_points(x[:1], [7])
    with raises_typed(ShapeError, "x"):
        utility.with_points(x[:1, :2], y[:1])
    with raises_typed(InvalidArgumentError, "x"):
        FunctionUtility(lambda c: c.sum(1), 3).with_points(x[:1], y[:1])


def test_custom_metric_is_batched() -> None:
    x, y, xv, yv = dataset(3, seed=1)
    counts = random_counts(5, N_TRAIN, seed=0, multiset=False)
    calls: list[tuple[int, ...]] = []

    def brier(probabilities: NDArray[np.float64], labels: NDArray[np.int64]) -> NDArray[np.float64]:
        calls.append(probabilities.shape)
        assert probabilities.dtype == np.float64 and labels.dtype == np.int64
        onehot = np.eye(probabilities.shape[2])[labels]
        return np.asarray(-((probabilities - onehot) ** 2).sum(axis=2).mean(axis=1))

    utility = TorchLogisticUtility(x, y, xv, yv, metric=brier)
    values = utility(counts)
    assert calls == [(5, N_VALID, 3)]
    p = TorchLogisticUtility(x, y, xv, yv).validation_probabilities(counts)
    np.testing.assert_allclose(values, -((p - np.eye(3)[yv]) ** 2).sum(axis=2).mean(axis=1), atol=1e-12)
    with raises_typed(ShapeError, "metric"):
        TorchLogisticUtility(x, y, xv, yv, metric=lambda p, labels: np.zeros(3))(counts)
    with raises_typed(NonFiniteError, "values"):
        TorchLogisticUtility(x, y, xv, yv, metric=lambda p, labels: np.full(p.shape[0], np.nan))(counts)


# ------------------------------------------------------------------------------------------------
# TorchMLPUtility


def test_mlp_deterministic_batch_independent_and_trains() -> None:
    x, y, xv, yv = dataset(2, seed=3, sep=3.0)
    counts = np.concatenate([random_counts(9, N_TRAIN, seed=2, multiset=True), np.ones((1, N_TRAIN), dtype=np.int64)])
    settings: dict[str, Any] = {"epochs": 60, "metric": "log_likelihood"}
    a = TorchMLPUtility(x, y, xv, yv, **settings)(counts)
    b = TorchMLPUtility(x, y, xv, yv, **settings)(counts)
    np.testing.assert_array_equal(a, b)
    for batch_size in (1, 4):
        c = TorchMLPUtility(x, y, xv, yv, batch_size=batch_size, **settings)(counts)
        np.testing.assert_allclose(c, a, rtol=0, atol=MLP_TOL)
    other_seed = TorchMLPUtility(x, y, xv, yv, seed=1, **settings)(counts)
    assert np.abs(other_seed - a).max() > 1e-4
    full = TorchMLPUtility(x, y, xv, yv, epochs=100)(np.ones((1, N_TRAIN), dtype=np.bool_))
    assert full[0] > 0.9


def test_mlp_multiclass_and_dense_path() -> None:
    x, y, xv, yv = dataset(3, seed=4, sep=3.0)
    counts = random_counts(4, N_TRAIN, seed=5, multiset=False, low=30, high=55)
    sparse = TorchMLPUtility(x, y, xv, yv, epochs=20, sparse_threshold=1.0).validation_probabilities(counts)
    dense = TorchMLPUtility(x, y, xv, yv, epochs=20, sparse_threshold=0.0).validation_probabilities(counts)
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=MLP_TOL)
    np.testing.assert_allclose(sparse.sum(axis=2), 1.0, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# SklearnUtility


def test_sklearn_utility_matches_torch_logistic_and_parallel() -> None:
    x, y, xv, yv = dataset(3, seed=12)
    counts = random_counts(8, N_TRAIN, seed=9, multiset=True, y=y)
    counts = np.concatenate([counts, np.zeros((1, N_TRAIN), dtype=np.int64)])
    estimator = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
    serial = SklearnUtility(estimator, x, y, xv, yv, metric="log_likelihood")
    torch_utility = TorchLogisticUtility(x, y, xv, yv, metric="log_likelihood")
    p_sk = serial.validation_probabilities(counts)
    p_torch = torch_utility.validation_probabilities(counts)
    assert np.abs(p_sk - p_torch).max() < PROB_TOL
    accuracy_sk = SklearnUtility(estimator, x, y, xv, yv)(counts)
    np.testing.assert_array_equal(accuracy_sk, TorchLogisticUtility(x, y, xv, yv)(counts))
    parallel = SklearnUtility(estimator, x, y, xv, yv, metric="log_likelihood", n_jobs=2, batch_size=4)
    np.testing.assert_array_equal(parallel(counts), serial(counts))


def test_sklearn_predict_only_and_unseen_classes() -> None:
    from sklearn.linear_model import RidgeClassifier

    x, y, xv, yv = dataset(3, seed=2)
    counts = np.zeros((1, N_TRAIN), dtype=np.int64)
    counts[0, np.flatnonzero(y != 1)[:10]] = 1  # classes 0 and 2 only
    utility = SklearnUtility(RidgeClassifier(), x, y, xv, yv)
    probabilities = utility.validation_probabilities(counts)
    assert set(np.unique(probabilities)) <= {0.0, 1.0} and np.all(probabilities[..., 1] == 0)
    model = RidgeClassifier().fit(x[counts[0] > 0], y[counts[0] > 0])
    assert utility(counts)[0] == model.score(xv, yv)
    with raises_typed(InvalidArgumentError, "metric"):
        SklearnUtility(RidgeClassifier(), x, y, xv, yv, metric="log_likelihood")
    # predict_proba columns of a fit that saw two classes land in the right places
    lr = SklearnUtility(LogisticRegression(), x, y, xv, yv).validation_probabilities(counts)
    assert np.all(lr[..., 1] == 0) and np.allclose(lr.sum(axis=2), 1.0)


class Exploding:
    """A classifier whose fit fails on subsets with more than 20 points."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def set_params(self, **params: Any) -> Exploding:
        return self

    def fit(self, x: Any, y: Any) -> Exploding:
        if len(x) > 20:
            raise RuntimeError("too many points")
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x: Any) -> Any:
        return np.full((len(x), len(self.classes_)), 1.0 / len(self.classes_))


def test_sklearn_fit_errors_name_the_subset_row() -> None:
    x, y, xv, yv = dataset(2, seed=2)
    counts = np.zeros((3, N_TRAIN), dtype=np.int64)
    counts[:, :10] = 1
    counts[2, :30] = 1
    utility = SklearnUtility(Exploding(), x, y, xv, yv)
    with pytest.raises(StochamortError, match=r"^estimator: .*subset row 2.*too many points"):
        utility(counts)
    with pytest.raises(StochamortError, match=r"subset row 4"):
        utility.evaluate(np.concatenate([counts[:2], counts]), progress=False)


# ------------------------------------------------------------------------------------------------
# FunctionUtility and bad input


def test_function_utility() -> None:
    weights = np.arange(5.0)
    utility = FunctionUtility(lambda counts: counts @ weights, 5, batch_size=2)
    counts = np.array([[1, 0, 2, 0, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(utility(counts), [4.0, 4.0, 10.0])
    assert utility.n_data == 5 and utility.n_evaluations == 3
    bad = FunctionUtility(lambda counts: np.zeros((len(counts), 2)), 5)
    with raises_typed(ShapeError, "fn"):
        bad(counts)
    with raises_typed(NonFiniteError, "values"):
        FunctionUtility(lambda counts: np.full(len(counts), np.inf), 5)(counts)


GOOD = dataset(2, seed=0)


def _replace(index: int, value: Any) -> tuple[Any, ...]:
    data = list(GOOD)
    data[index] = value
    return tuple(data)


def _nan_train() -> tuple[Any, ...]:
    x = GOOD[0].copy()
    x[3, 1] = np.nan
    return _replace(0, x)


BAD_DATA: list[tuple[str, Callable[[], tuple[Any, ...]], dict[str, Any], type[Exception], str]] = [
    ("y length", lambda: _replace(1, GOOD[1][:-1]), {}, ShapeError, "y_train"),
    ("valid y length", lambda: _replace(3, GOOD[3][:-1]), {}, ShapeError, "y_valid"),
    ("feature count", lambda: _replace(2, GOOD[2][:, :2]), {}, ShapeError, "x_valid"),
    ("1-D features", lambda: _replace(0, GOOD[0][:, 0]), {}, ShapeError, "x_train"),
    ("nan features", _nan_train, {}, NonFiniteError, "x_train"),
    ("inf valid", lambda: _replace(2, np.full_like(GOOD[2], np.inf)), {}, NonFiniteError, "x_valid"),
    ("string features", lambda: _replace(0, GOOD[0].astype(str)), {}, InvalidDTypeError, "x_train"),
    ("float labels", lambda: _replace(1, GOOD[1] + 0.5), {}, InvalidArgumentError, "y_train"),
    ("unseen valid class", lambda: _replace(3, np.where(GOOD[3] == 1, 5, GOOD[3])), {}, InvalidArgumentError, "y_valid"),
    ("mixed label kinds", lambda: _replace(3, GOOD[3].astype(str)), {}, InvalidArgumentError, "y_valid"),
    ("one class", lambda: _replace(1, np.zeros_like(GOOD[1])), {}, InvalidArgumentError, "y_train"),
    ("empty train", lambda: (GOOD[0][:0], GOOD[1][:0], GOOD[2], GOOD[3]), {}, InvalidArgumentError, "x_train"),
    ("empty valid", lambda: (GOOD[0], GOOD[1], GOOD[2][:0], GOOD[3][:0]), {}, InvalidArgumentError, "x_valid"),
    ("metric", lambda: GOOD, {"metric": "f1"}, InvalidArgumentError, "metric"),
    ("C zero", lambda: GOOD, {"C": 0.0}, InvalidArgumentError, "C"),
    ("C negative", lambda: GOOD, {"C": -1.0}, InvalidArgumentError, "C"),
    ("max_iter", lambda: GOOD, {"max_iter": 0}, InvalidArgumentError, "max_iter"),
    ("batch_size", lambda: GOOD, {"batch_size": 0}, InvalidArgumentError, "batch_size"),
    ("dtype", lambda: GOOD, {"dtype": torch.int64}, InvalidDTypeError, "dtype"),
    ("sparse_threshold", lambda: GOOD, {"sparse_threshold": 2.0}, InvalidArgumentError, "sparse_threshold"),
    ("solver", lambda: GOOD, {"solver": "sgd"}, InvalidArgumentError, "solver"),
]


@pytest.mark.parametrize("case", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_construction(case: tuple[str, Callable[[], tuple[Any, ...]], dict[str, Any], type[Exception], str]) -> None:
    _, data, kwargs, error, argument = case
    with raises_typed(error, argument):
        TorchLogisticUtility(*data(), **kwargs)
    if set(kwargs) <= {"metric", "batch_size", "dtype", "sparse_threshold"}:
        with raises_typed(error, argument):
            TorchMLPUtility(*data(), **kwargs)
    if set(kwargs) <= {"metric", "batch_size"}:
        with raises_typed(error, argument):
            SklearnUtility(LogisticRegression(), *data(), **kwargs)


@pytest.mark.parametrize(
    "counts, error",
    [
        (np.ones((2, N_TRAIN - 1), dtype=np.int64), ShapeError),
        (np.ones(N_TRAIN, dtype=np.int64), ShapeError),
        (np.ones((1, 2, N_TRAIN), dtype=np.int64), ShapeError),
        (-np.ones((2, N_TRAIN), dtype=np.int64), InvalidArgumentError),
        (np.full((2, N_TRAIN), 0.5), InvalidDTypeError),
        (np.ones((2, N_TRAIN)), InvalidDTypeError),
        (np.full((2, N_TRAIN), "1"), InvalidDTypeError),
    ],
)
def test_bad_counts(counts: Any, error: type[Exception]) -> None:
    utilities: list[Utility] = [
        TorchLogisticUtility(*GOOD),
        FunctionUtility(lambda c: c.sum(axis=1), N_TRAIN),
    ]
    for utility in utilities:
        with raises_typed(error, "counts"):
            utility(counts)
    with raises_typed(error, "counts"):
        TorchLogisticUtility(*GOOD).validation_probabilities(counts)
    assert utilities[0].n_evaluations == 0


def test_bad_settings_of_other_utilities() -> None:
    with raises_typed(InvalidArgumentError, "fn"):
        FunctionUtility(3, 4)  # type: ignore[arg-type]
    with raises_typed(InvalidArgumentError, "n_data"):
        FunctionUtility(lambda c: c.sum(1), -1)
    for kwargs, argument in (
        ({"hidden": 0}, "hidden"),
        ({"epochs": -1}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"seed": -1}, "seed"),
        ({"device": "nonsense"}, "device"),
    ):
        with raises_typed(InvalidArgumentError, argument):
            TorchMLPUtility(*GOOD, **kwargs)
    with raises_typed(InvalidArgumentError, "estimator"):
        SklearnUtility(object(), *GOOD)
    with raises_typed(InvalidArgumentError, "n_jobs"):
        SklearnUtility(LogisticRegression(), *GOOD, n_jobs=0)


def test_errors_are_value_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError):
            TorchLogisticUtility(*GOOD, C=-1.0)
        with pytest.raises(TypeError):
            TorchLogisticUtility(*GOOD)(np.ones((1, N_TRAIN)))


def test_fit_intercept_must_be_a_bool() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(InvalidArgumentError, match="^fit_intercept: must be True or False"):
        TorchLogisticUtility(x, y, x, y, fit_intercept="no")  # type: ignore[arg-type]
    assert not TorchLogisticUtility(x, y, x, y, fit_intercept=False).fit_intercept
