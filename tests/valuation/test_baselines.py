"""The cheap baselines: KNN-Shapley against enumeration, leave-one-out against known marginals,
Data-OOB and out-of-fold probabilities against their definitions, determinism and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.valuation import (
    ExactDataValues,
    FunctionUtility,
    data_oob,
    detection_auroc,
    knn_shapley,
    leave_one_out,
    out_of_fold_probability,
)


def knn_utility(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray, k: int) -> FunctionUtility:
    """The KNN utility by brute force: for each subset and validation point, the share of its
    K nearest members (ties by index) with the point's label, over K."""
    distances = ((x_valid[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=2)

    def fn(counts: np.ndarray) -> np.ndarray:
        out = np.zeros(counts.shape[0])
        for r, row in enumerate(counts > 0):
            members = np.flatnonzero(row)
            for v in range(x_valid.shape[0]):
                nearest = members[np.argsort(distances[v, members], kind="stable")][:k]
                out[r] += (y_train[nearest] == y_valid[v]).sum() / k
        return out / x_valid.shape[0]

    return FunctionUtility(fn, x_train.shape[0])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 8),
    n_valid=st.integers(1, 4),
    k=st.integers(1, 6),
    n_classes=st.integers(2, 3),
    seed=st.integers(0, 2**31 - 1),
)
def test_knn_shapley_equals_enumerated_shapley_values_of_the_knn_utility(n: int, n_valid: int, k: int, n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x_train, x_valid = rng.normal(size=(n, 3)), rng.normal(size=(n_valid, 3))
    y_train = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, size=max(0, n - n_classes))])[:n]
    if np.unique(y_train).size < 2:
        y_train = np.array([0, 1] * n)[:n] if n > 1 else y_train
    if np.unique(y_train).size < 2:
        return  # one training point has one class; the refusal is tested below
    y_valid = rng.choice(np.unique(y_train), size=n_valid)
    exact = ExactDataValues()(knn_utility(x_train, y_train, x_valid, y_valid, k), progress=False)
    result = knn_shapley(x_train, y_train, x_valid, y_valid, n_neighbors=k)
    np.testing.assert_allclose(result.values, exact.values, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(result.std_errors, 0.0)
    assert result.total_evaluations == 0


def test_knn_shapley_is_efficient_and_takes_string_labels() -> None:
    rng = np.random.default_rng(3)
    x_train, x_valid = rng.normal(size=(40, 2)), rng.normal(size=(7, 2))
    y_train = np.where(x_train[:, 0] > 0, "pos", "neg")
    y_valid = np.where(x_valid[:, 0] > 0, "pos", "neg")
    result = knn_shapley(x_train, y_train, x_valid, y_valid, n_neighbors=3)
    # Efficiency: the values sum to U(N) − U(∅), the full-set KNN accuracy (U(∅) = 0).
    distances = ((x_valid[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :3]
    assert result.values.sum() == pytest.approx((y_train[nearest] == y_valid[:, None]).mean(), abs=1e-12)
    assert result.extras["validation_std_errors"].shape == (40,)
    assert np.isfinite(result.extras["validation_std_errors"]).all()


def test_knn_shapley_blocks_of_validation_points_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from stochamort.valuation import baselines

    rng = np.random.default_rng(0)
    x_train, x_valid = rng.normal(size=(30, 2)), rng.normal(size=(11, 2))
    y_train, y_valid = rng.integers(0, 2, 30), rng.integers(0, 2, 11)
    whole = knn_shapley(x_train, y_train, x_valid, y_valid).values
    monkeypatch.setattr(baselines, "_KNN_BLOCK", 120)  # 30 points × 2 features: two validation points per block
    np.testing.assert_allclose(knn_shapley(x_train, y_train, x_valid, y_valid).values, whole, atol=1e-14)


def test_leave_one_out_gives_the_marginal_contributions(monkeypatch: pytest.MonkeyPatch) -> None:
    from stochamort.valuation import baselines

    weights = np.array([0.5, -1.0, 2.0, 0.25, 3.0])
    utility = FunctionUtility(lambda c: (c.astype(float) @ weights) ** 2, 5)
    monkeypatch.setattr(baselines, "_LOO_ROWS", 2)
    result = leave_one_out(utility, progress=False)
    full = weights.sum() ** 2
    np.testing.assert_allclose(result.values, full - (weights.sum() - weights) ** 2, atol=1e-12)
    assert result.total_evaluations == 6 and result.extras["full_utility"] == pytest.approx(full)
    np.testing.assert_array_equal(result.n_contributions, 1)


def noisy_blobs(seed: int, n: int = 120, flip: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two separated Gaussian blobs with a share of the labels flipped, and which ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) + 3.0 * y[:, None]
    flipped = rng.permutation(n) < int(flip * n)
    return x, np.where(flipped, 1 - y, y), flipped


def test_data_oob_is_the_out_of_bag_accuracy_and_flags_flipped_labels() -> None:
    x, y, flipped = noisy_blobs(0)
    result = data_oob(x, y, n_estimators=200, seed=1, progress=False)
    assert result.total_evaluations == 200
    assert (result.values >= 0).all() and (result.values <= 1).all()
    # About 37 % of the bags leave each point out.
    assert 0.3 < result.n_contributions.mean() / 200 < 0.44
    p, k = result.values, result.n_contributions
    np.testing.assert_allclose(result.std_errors, np.sqrt(p * (1 - p) / (k - 1)))
    assert detection_auroc(result.values, flipped) > 0.9
    again = data_oob(x, y, n_estimators=200, seed=1, progress=False)
    np.testing.assert_array_equal(again.values, result.values)
    assert not np.array_equal(data_oob(x, y, n_estimators=200, seed=2, progress=False).values, result.values)


def test_data_oob_takes_any_classifier_and_refuses_too_few_bags() -> None:
    from sklearn.neighbors import KNeighborsClassifier  # type: ignore[import-untyped]

    x, y, flipped = noisy_blobs(1)
    labels = np.where(y == 1, "b", "a")
    result = data_oob(x, labels, estimator=KNeighborsClassifier(5), n_estimators=100, progress=False)
    assert detection_auroc(result.values, flipped) > 0.9
    with pytest.raises(InvalidArgumentError, match="n_estimators"):
        data_oob(x, y, n_estimators=2, progress=False)


def test_out_of_fold_probability_is_the_held_out_probability_of_the_given_label() -> None:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    x, y, flipped = noisy_blobs(2)
    result = out_of_fold_probability(x, y, estimator=LogisticRegression(), n_folds=4, seed=5, progress=False)
    assert result.total_evaluations == 4 and np.isinf(result.std_errors).all()
    assert detection_auroc(result.values, flipped) > 0.9
    # Each value is the probability of a model that never saw the point: refit one fold by hand.
    seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
    fit_rows, held_out = next(StratifiedKFold(4, shuffle=True, random_state=seed).split(x, y))
    model = LogisticRegression().fit(x[fit_rows], y[fit_rows])
    expected = model.predict_proba(x[held_out])[np.arange(held_out.size), y[held_out]]
    np.testing.assert_allclose(result.values[held_out], expected, atol=1e-8)


def test_out_of_fold_probability_repeats_give_standard_errors() -> None:
    x, y, _ = noisy_blobs(3)
    result = out_of_fold_probability(x, y.astype(str), n_repeats=3, seed=0, progress=False)
    assert result.total_evaluations == 15 and np.isfinite(result.std_errors).all()
    np.testing.assert_array_equal(result.n_contributions, 3)
    assert (result.values >= 0).all() and (result.values <= 1).all()


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda x, y: out_of_fold_probability(x, y, n_folds=200), "n_folds"),
        (lambda x, y: out_of_fold_probability(x, np.zeros(len(y))), "y_train"),
        (lambda x, y: data_oob(x[:, 0], y), "x_train"),
        (lambda x, y: data_oob(x, y[:-1]), "y_train"),
        (lambda x, y: knn_shapley(x, y, x[:, :1], y), "x_valid"),
        (lambda x, y: knn_shapley(x, y, x, y + 5), "y_valid"),
        (lambda x, y: knn_shapley(x, y, x, y, n_neighbors=0), "n_neighbors"),
        (lambda x, y: leave_one_out(x), "utility"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, argument: str) -> None:  # type: ignore[no-untyped-def]
    x, y, _ = noisy_blobs(4, n=30)
    with pytest.raises((InvalidArgumentError, ShapeError), match=argument):
        call(x, y)


def test_knn_shapley_of_one_neighbour_matches_a_hand_computed_case() -> None:
    # Points at 0, 2, 5 labelled 1, 1, 0; one validation point at 0.5 labelled 1; K = 1.
    # U(S) = 1 when S's nearest member is labelled 1: U({0}) = U({1}) = 1, U({2}) = 0 and every
    # pair or more is 1. Point 0: 1/3·1 + 1/6·0 + 1/6·1 + 1/3·0 = 1/2; point 1 likewise; point 2: 0.
    values = knn_shapley([[0.0], [2.0], [5.0]], [1, 1, 0], [[0.5]], [1], n_neighbors=1).values
    np.testing.assert_allclose(values, [0.5, 0.5, 0.0], atol=1e-15)
