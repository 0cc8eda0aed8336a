"""Games of numpy models: scikit-learn estimators against predict_proba computed by hand, default
and guarded output transforms, DataFrames, and typed errors for models that misbehave."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.svm import LinearSVC
from torch import nn

from stochamort.errors import (
    DeviceMismatchError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
)
from stochamort.games import BaselineMasker, MarginalMasker, MaskedModel, NumpyModel, TokenMasker
from stochamort.oracles import Exact

from tests.games.tabular_models import breast_cancer, gradient_boosting, logistic_regression
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

MODELS = {"gbc": gradient_boosting, "logreg": logistic_regression}


def random_masks(n: int, k: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, k, d)) < 0.5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_output_gives_predict_proba_exactly(name: str) -> None:
    model = MODELS[name]()
    _, x, _ = breast_cancer()
    baseline = x.mean(axis=0)
    game = MaskedModel(model, BaselineMasker(baseline)).bind(x[:20])
    assert game.family.output == "identity" and game.family.model.output_kind == "probabilities"
    null, grand = game.endpoints()
    np.testing.assert_array_equal(grand, model.predict_proba(x[:20]))
    np.testing.assert_array_equal(null, np.repeat(model.predict_proba(baseline[None]), 20, axis=0))


def test_baseline_game_matches_predict_proba_of_hybrid_rows() -> None:
    model = gradient_boosting()
    _, x, _ = breast_cancer()
    baseline = x[100]
    masks = random_masks(4, 6, 30, seed=1)
    got = MaskedModel(model, BaselineMasker(baseline)).bind(x[:4]).evaluate(masks)
    hybrid = np.where(masks, x[:4, None, :], baseline)
    expected = model.predict_proba(hybrid.reshape(-1, 30)).reshape(4, 6, 2)
    np.testing.assert_array_equal(got, expected)


def test_marginal_game_is_the_mean_over_background_rows() -> None:
    model = logistic_regression()
    _, x, _ = breast_cancer()
    background = x[200:210]
    masks = random_masks(3, 5, 30, seed=2)
    got = MaskedModel(model, MarginalMasker(background), batch_size=64).bind(x[:3]).evaluate(masks)
    hybrid = np.where(masks[:, :, None, :], x[:3, None, None, :], background[None, None])  # (3, 5, 10, 30)
    expected = model.predict_proba(hybrid.reshape(-1, 30)).reshape(3, 5, 10, 2).mean(axis=2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


def test_groups_mask_whole_blocks_of_features() -> None:
    model = gradient_boosting()
    _, x, _ = breast_cancer()
    groups = [list(range(start, start + 6)) for start in range(0, 30, 6)]
    family = MaskedModel(model, BaselineMasker(x.mean(axis=0)), groups=groups)
    game = family.bind(x[:5])
    assert game.n_players == 5
    masks = random_masks(5, 8, 5, seed=3)
    expanded = np.repeat(masks, 6, axis=2)
    plain = MaskedModel(model, BaselineMasker(x.mean(axis=0))).bind(x[:5])
    np.testing.assert_array_equal(game.evaluate(masks), plain.evaluate(expanded))
    exact = Exact()(game, progress=False)
    null, grand = game.endpoints()
    np.testing.assert_allclose(exact.values.sum(axis=1), grand - null, atol=1e-12)


def test_dataframes_keep_feature_names_for_an_estimator_fitted_on_one() -> None:
    model = gradient_boosting(on_frame=True)
    frame, x, _ = breast_cancer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn warns about missing or unexpected feature names
        from_frames = MaskedModel(model, MarginalMasker(frame.iloc[50:56])).bind(frame.iloc[:4])
        from_arrays = MaskedModel(model, MarginalMasker(x[50:56])).bind(x[:4])
        masks = random_masks(4, 6, 30, seed=4)
        np.testing.assert_array_equal(from_frames.evaluate(masks), from_arrays.evaluate(masks))
        # the mean of six equal copies may differ from the copy in the last bit
        np.testing.assert_allclose(from_frames.endpoints()[1], model.predict_proba(frame.iloc[:4]), rtol=1e-15)
    assert from_frames.model.columns == list(frame.columns)


def test_dataframe_inputs_rebuild_frames_for_a_plain_function() -> None:
    frame, _, _ = breast_cancer()
    seen: list[Any] = []

    def mean_radius(table: Any) -> np.ndarray:
        seen.append(table)
        return table["mean radius"].to_numpy()

    game = MaskedModel(NumpyModel(mean_radius), BaselineMasker(0.0)).bind(frame.iloc[:3])
    np.testing.assert_array_equal(game.endpoints()[1][:, 0], frame["mean radius"].to_numpy()[:3])
    assert type(seen[-1]) is type(frame) and list(seen[-1].columns) == list(frame.columns)


def test_reordered_columns_are_refused_not_mixed_up() -> None:
    frame, _, _ = breast_cancer()
    reordered = frame[list(frame.columns[::-1])]
    with pytest.raises(ShapeError, match=r"^x: has columns"):
        MaskedModel(gradient_boosting(on_frame=True), BaselineMasker(0.0)).bind(reordered.iloc[:3])
    with pytest.raises(ShapeError, match=r"^x: has columns .* masker's data"):
        MaskedModel(gradient_boosting(), MarginalMasker(frame.iloc[:4])).bind(reordered.iloc[:3])


def test_non_numeric_columns_are_refused_by_name() -> None:
    frame, _, _ = breast_cancer()
    labelled = frame.iloc[:5].assign(kind=["a", "b", "a", "b", "a"])
    with pytest.raises(InvalidDTypeError, match=r"^x: .*'kind'"):
        MaskedModel(gradient_boosting(), BaselineMasker(0.0)).bind(labelled)
    with pytest.raises(InvalidDTypeError, match=r"^background: .*'kind'"):
        MarginalMasker(labelled)
    with pytest.raises(InvalidDTypeError, match=r"^baseline: .*'kind'"):
        BaselineMasker(labelled.iloc[:1])


def test_softmax_is_refused_on_a_torch_model_that_returns_probabilities() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)).double()
    x = np.random.default_rng(0).normal(size=(6, 4))
    for output in (None, "probabilities", "log_odds"):
        with pytest.raises(InvalidArgumentError, match=r"^output: the model's outputs already look like probabilities"):
            MaskedModel(model, BaselineMasker(0.0), output=output).bind(x)  # type: ignore[arg-type]
    game = MaskedModel(model, BaselineMasker(0.0), output="identity").bind(x)
    np.testing.assert_allclose(game.endpoints()[1], model(torch.from_numpy(x)).detach().numpy(), rtol=1e-15)


def test_logits_pass_the_guard_and_a_single_output_in_unit_range_warns() -> None:
    torch.manual_seed(0)
    x = np.random.default_rng(1).normal(size=(6, 4))
    MaskedModel(nn.Linear(4, 3).double(), BaselineMasker(0.0)).bind(x)  # logits: no complaint
    sigmoid = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid()).double()
    with pytest.warns(UserWarning, match=r"^output: the model's single output lies in \[0, 1\]"):
        MaskedModel(sigmoid, BaselineMasker(0.0)).bind(x)


def test_softmax_is_refused_on_predict_proba_wrapped_by_hand() -> None:
    model = gradient_boosting()
    _, x, _ = breast_cancer()
    by_hand = lambda t: torch.from_numpy(model.predict_proba(t.numpy()))  # noqa: E731  (as users wrote it before)
    with pytest.raises(InvalidArgumentError, match=r"^output: the model's outputs already look like probabilities"):
        MaskedModel(by_hand, BaselineMasker(0.0)).bind(x[:5])


def test_explicit_softmax_on_predict_proba_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^output: the model's outputs already look like probabilities"):
        MaskedModel(gradient_boosting(), BaselineMasker(0.0), output="probabilities")


def test_log_odds_of_predict_proba_are_the_log_odds_of_its_probabilities() -> None:
    model = gradient_boosting()
    _, x, _ = breast_cancer()
    game = MaskedModel(model, BaselineMasker(x.mean(axis=0)), output="log_odds").bind(x[:5])
    p = np.clip(model.predict_proba(x[:5]), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(game.endpoints()[1], np.log(p / (1 - p)), rtol=1e-12)


def test_from_estimator_picks_and_names_methods() -> None:
    model = gradient_boosting()
    _, x, _ = breast_cancer()
    scores = NumpyModel.from_estimator(model, method="decision_function")
    assert scores.output_kind == "raw"
    game = MaskedModel(scores, BaselineMasker(0.0)).bind(x[:4])
    np.testing.assert_array_equal(game.endpoints()[1][:, 0], model.decision_function(x[:4]))
    with pytest.raises(InvalidArgumentError, match=r"^method: GradientBoostingClassifier has no method 'transform'"):
        NumpyModel.from_estimator(model, method="transform")
    with pytest.raises(InvalidArgumentError, match=r"^estimator: object has neither"):
        NumpyModel.from_estimator(object())
    with pytest.raises(InvalidArgumentError, match=r"^model: must be"):
        MaskedModel(object(), BaselineMasker(0.0))


def test_a_classifier_without_predict_proba_warns_that_labels_are_explained() -> None:
    _, x, y = breast_cancer()
    svc = LinearSVC().fit(x[:100] / x.std(axis=0), y[:100])
    with pytest.warns(UserWarning, match=r"^estimator: LinearSVC is a classifier without predict_proba"):
        MaskedModel(svc, BaselineMasker(0.0))


def test_a_regressor_is_used_as_is() -> None:
    _, x, y = breast_cancer()
    model = GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0).fit(x, y.astype(np.float64))
    game = MaskedModel(model, BaselineMasker(0.0)).bind(x[:5])  # outputs in [0, 1]: no sigmoid, no warning
    assert game.n_outputs == 1
    np.testing.assert_array_equal(game.endpoints()[1][:, 0], model.predict(x[:5]))


def test_numpy_models_get_float64_batches_on_the_cpu() -> None:
    calls: list[tuple[np.dtype[Any], int]] = []

    def total(a: np.ndarray) -> np.ndarray:
        calls.append((a.dtype, a.shape[0]))
        return a.sum(axis=1)

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    family = MaskedModel(NumpyModel(total), BaselineMasker(0.5), batch_size=5)
    game = family.bind(x)
    calls.clear()
    values = game.evaluate(np.ones((4, 3, 3), dtype=np.bool_))
    np.testing.assert_array_equal(values[..., 0], np.repeat(x.astype(np.float64).sum(axis=1)[:, None], 3, axis=1))
    assert {dtype for dtype, _ in calls} == {np.dtype(np.float64)}
    assert [size for _, size in calls] == [5, 5, 2]
    with pytest.raises(DeviceMismatchError, match=r"^device: a NumpyModel runs on the CPU"):
        MaskedModel(NumpyModel(total), BaselineMasker(0.0), device="cuda")


@pytest.mark.parametrize(
    "fn, error, message",
    [
        (lambda a: np.zeros((a.shape[0], 2, 1)), ShapeError, r"^model: returned shape \(5, 2, 1\) for 5 inputs; expected \(5,\) or \(5, n_outputs\)"),
        (lambda a: np.zeros(a.shape[0] + 1), ShapeError, r"^model: returned shape \(6,\) for 5 inputs"),
        (lambda a: np.where(a[:, 0] > 2, np.nan, 1.0), NonFiniteError, r"^model: returned NaN or infinity for input row\(s\) 2, 3, 4"),
        (lambda a: np.array(["yes"] * a.shape[0]), InvalidDTypeError, r"^model: returned dtype <U3"),
    ],
)
def test_misbehaving_models_raise_typed_errors_naming_model(fn: Any, error: type[Exception], message: str) -> None:
    x = np.arange(10.0).reshape(5, 2)
    with pytest.raises(error, match=message):
        MaskedModel(NumpyModel(fn), BaselineMasker(0.0)).bind(x)


def test_numpy_model_arguments_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^fn: must be callable"):
        NumpyModel(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^columns: must be a sequence"):
        NumpyModel(np.sum, columns="abc")
    with pytest.raises(InvalidArgumentError, match=r"^frame_type: "):
        NumpyModel(np.sum, frame_type=dict)
    with pytest.raises(InvalidArgumentError, match=r"^output_kind: "):
        NumpyModel(np.sum, output_kind="logits")  # type: ignore[arg-type]


def test_integer_inputs_become_float64_unless_the_players_are_tokens() -> None:
    seen: list[np.dtype[Any]] = []

    def first(a: np.ndarray) -> np.ndarray:
        seen.append(a.dtype)
        return a[:, 0]

    counts = np.arange(6).reshape(3, 2)
    values = MaskedModel(NumpyModel(first), BaselineMasker(0.5)).bind(counts).evaluate(np.zeros((3, 1, 2), dtype=np.bool_))
    np.testing.assert_array_equal(values, np.full((3, 1, 1), 0.5))  # the baseline is not truncated to 0
    MaskedModel(NumpyModel(first), TokenMasker(mask_token_id=0)).bind(counts)
    assert seen[0] == np.float64 and seen[-1] == np.int64
