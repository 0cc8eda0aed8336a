"""AmortizedExplainer end to end: a scikit-learn model on breast cancer, against shap and itself.

Sizes are reduced (a 30-tree boosting model, 20 background rows) so the file runs in well under a
minute; the defaults (oracle, network, training config) are the ones users get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

from stochamort.amortize import AmortizedExplainer, TrainConfig
from stochamort.errors import InvalidArgumentError, ModelMismatchError, NonFiniteError, SavedFileError, ShapeError
from stochamort.games import MarginalMasker
from stochamort.oracles import Exact, Permutation
from tests.helpers.processes import sigkill_after_first_chunk

ROOT = Path(__file__).resolve().parents[2]
DATA = load_breast_cancer()
ORDER = np.random.default_rng(0).permutation(len(DATA.data))
TRAIN, TEST = ORDER[:455], ORDER[455:]


#: A short training run for tests that check plumbing rather than accuracy.
SHORT = TrainConfig(epochs=2, efficiency=True, standardize_inputs=True, progress=False)


def boosting(n_features: int = 30, seed: int = 0) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=seed).fit(DATA.data[TRAIN, :n_features], DATA.target[TRAIN])


@pytest.fixture(scope="module")
def model() -> GradientBoostingClassifier:
    return boosting()


@pytest.fixture(scope="module")
def background() -> np.ndarray:
    return DATA.data[TRAIN[:20]]


@pytest.fixture(scope="module")
def fitted(model: GradientBoostingClassifier, background: np.ndarray) -> AmortizedExplainer:
    explainer = AmortizedExplainer(model, MarginalMasker(background), feature_names=list(DATA.feature_names))
    return explainer.fit(DATA.data[TRAIN], progress=False)


def test_per_example_path_agrees_with_shap_exact() -> None:
    from tests.helpers.shap_export import shap

    d = 8
    model = boosting(d)
    background = DATA.data[TRAIN[:12], :d]
    rows = DATA.data[TEST[:4], :d]
    explainer = AmortizedExplainer(model, MarginalMasker(background))
    reference = shap.explainers.Exact(model.predict_proba, shap.maskers.Independent(background, max_samples=len(background)))(rows)
    theirs = np.asarray(reference.values)  # (n, d, 2)
    exact = explainer.explain(rows, amortized=False, oracle=Exact())
    np.testing.assert_allclose(exact.values, theirs, atol=1e-10)
    sampled = explainer.explain(rows, amortized=False, oracle=Permutation(2 + 100 * (d - 1)), seed=3)
    assert sampled.std_errors is not None
    z = np.abs(sampled.values - theirs) / np.maximum(sampled.std_errors, 1e-12)
    # 4 standard errors: a false alarm has probability ~6e-5 per value (64 values here).
    assert (z < 4).all(), f"largest |z| = {z.max():.2f}"
    np.testing.assert_allclose(exact.base_values + exact.values.sum(axis=1), model.predict_proba(rows), atol=1e-10)


def test_the_per_example_path_says_which_points_met_a_stopping_target(model: GradientBoostingClassifier, background: np.ndarray) -> None:
    """Found by a new user: the oracle's extras["target_met"] was lost on the way to Attributions."""
    from stochamort.errors import InvalidDTypeError
    from stochamort.oracles import StoppingRule

    explainer = AmortizedExplainer(model, MarginalMasker(background))
    rows = DATA.data[TEST[:12]]
    oracle = Permutation(2 + 2 * 29, stopping=StoppingRule(target_std_error=0.01, max_evaluations=2 + 20 * 29))
    found = explainer.explain(rows, amortized=False, oracle=oracle, seed=1)
    direct = oracle(explainer.game(rows), seed=1, progress=False)
    assert found.target_met is not None and found.target_met.dtype == np.bool_
    np.testing.assert_array_equal(found.target_met, direct.extras["target_met"])
    assert 0 < found.target_met.sum() < len(rows)  # some points met it, some ran out of evaluations
    np.testing.assert_array_equal(found[3:7].target_met, found.target_met[3:7])
    np.testing.assert_array_equal(found.to_estimate().extras["target_met"], found.target_met)
    assert explainer.explain(rows, amortized=False, oracle=Permutation(2 + 2 * 29)).target_met is None
    with pytest.raises(InvalidDTypeError, match="^target_met: must be a bool array"):
        type(found)(**{**{f: getattr(found, f) for f in ("values", "std_errors", "n_evaluations", "base_values", "outputs", "method")}, "target_met": np.ones(12)})


def test_amortized_attributions_correlate_with_per_example(fitted: AmortizedExplainer) -> None:
    held_out = DATA.data[TEST[:40]]
    scores = fitted.score(held_out, Permutation(2 + 40 * 29), seed=5)
    assert scores["pearson"] >= 0.9, scores
    explained = fitted.explain(held_out)
    assert explained.std_errors is None and explained.method == "amortized"
    assert explained.feature_names == tuple(DATA.feature_names)
    assert explained.output_names == ("0", "1")
    np.testing.assert_allclose(explained.values.sum(axis=1), explained.outputs - explained.base_values, atol=1e-9)
    np.testing.assert_allclose(explained.outputs, fitted.model.predict_proba(held_out), atol=1e-12)
    assert len(fitted.history.train_loss) == fitted.training.epochs_run


def test_dataframe_inputs_name_features_without_warnings(background: np.ndarray) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(DATA.data[TRAIN[:60]], columns=DATA.feature_names)
    model = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(frame, DATA.target[TRAIN[:60]])
    explainer = AmortizedExplainer(model, frame.iloc[:10], config=SHORT)
    explainer.fit(frame, validation_fraction=0.2, progress=False)
    explained = explainer.explain(frame.iloc[:3])
    assert explained.feature_names == tuple(DATA.feature_names)


SAVED_RUN = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tests.amortize.test_explainer import DATA, TEST, boosting
    from stochamort.amortize import AmortizedExplainer
    explainer = AmortizedExplainer.load(sys.argv[1], model=boosting())
    np.save(sys.argv[2], explainer.explain(DATA.data[TEST[:20]]).values)
    """
)


def test_save_load_in_a_fresh_process_is_bit_identical(fitted: AmortizedExplainer, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "explainer")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    out = tmp_path / "values.npy"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", SAVED_RUN, str(path), str(out)], check=True, env=env, cwd=ROOT)
    np.testing.assert_array_equal(np.load(out), fitted.explain(DATA.data[TEST[:20]]).values)


def test_load_refuses_another_model_and_an_edited_config(fitted: AmortizedExplainer, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "explainer")
    with pytest.raises(ModelMismatchError, match="^model: "):
        AmortizedExplainer.load(path, model=boosting(seed=1).set_params(n_estimators=30))
    config = json.loads((path / "config.json").read_text())
    config["amortizer"]["network"]["hidden"] = [64, 64]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedFileError, match="modified"):
        AmortizedExplainer.load(path, model=fitted.model)


KILLED_FIT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from tests.amortize.test_explainer import DATA, TRAIN, boosting
    from stochamort.amortize import AmortizedExplainer
    from stochamort.games import MarginalMasker
    model = boosting(5)
    def slow(x):
        time.sleep(0.05)
        return model.predict_proba(x)
    AmortizedExplainer(slow, MarginalMasker(DATA.data[TRAIN[:5], :5])).fit(
        DATA.data[TRAIN[:64], :5], labels_dir=sys.argv[1], label_chunk_size=8, progress=False)
    """
)


def test_fit_killed_while_labelling_resumes_finished_chunks(tmp_path: Path) -> None:
    directory = tmp_path / "labels"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", KILLED_FIT, str(directory)], env=env, cwd=ROOT, stderr=subprocess.PIPE)
    sigkill_after_first_chunk(child, directory, timeout=120)
    finished = {p.name: p.stat().st_mtime_ns for p in directory.glob("chunk-*.npz")}
    assert 1 <= len(finished) < 8, "the kill should land mid-run"
    model = boosting(5)
    explainer = AmortizedExplainer(model.predict_proba, MarginalMasker(DATA.data[TRAIN[:5], :5]), config=SHORT)
    explainer.fit(DATA.data[TRAIN[:64], :5], labels_dir=directory, label_chunk_size=8, progress=False)
    assert {name: (directory / name).stat().st_mtime_ns for name in finished} == finished
    assert len(list(directory.glob("chunk-*.npz"))) == 8
    fresh = AmortizedExplainer(model.predict_proba, MarginalMasker(DATA.data[TRAIN[:5], :5]), config=SHORT)
    fresh.fit(DATA.data[TRAIN[:64], :5], labels_dir=tmp_path / "fresh", label_chunk_size=8, progress=False)
    assert explainer.labels is not None and fresh.labels is not None
    np.testing.assert_array_equal(explainer.labels.values, fresh.labels.values)


def test_bad_arguments_raise_typed_errors_naming_them(model: GradientBoostingClassifier, background: np.ndarray) -> None:
    x = DATA.data[TRAIN[:40]]
    with pytest.raises(InvalidArgumentError, match="^model: "):
        AmortizedExplainer(42, background)
    with pytest.raises(InvalidArgumentError, match="^oracle: "):
        AmortizedExplainer(model, background, oracle="permutation")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="^x_train: each input has shape \\(30,\\), but the masker's background rows have \\(5,\\)"):
        AmortizedExplainer(model, MarginalMasker(background[:, :5])).fit(x, progress=False)
    with pytest.raises(ShapeError, match="^x: each input has shape \\(4,\\)"):
        AmortizedExplainer(model, background).explain(x[:3, :4], amortized=False)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NonFiniteError, match="^x_train: .*3"):
        AmortizedExplainer(model, background).fit(bad, progress=False)
    with pytest.raises(ShapeError, match="^model: "):
        AmortizedExplainer(lambda rows: np.zeros((len(rows), 2, 2)), background).fit(x, progress=False)
    with pytest.raises(InvalidArgumentError, match="^validation_fraction: "):
        AmortizedExplainer(model, background).fit(x, validation_fraction=1.5, progress=False)
    with pytest.raises(ShapeError, match="^feature_names: "):
        AmortizedExplainer(model, background, feature_names=["a", "b"], config=SHORT).fit(x, progress=False)
    with pytest.raises(InvalidArgumentError, match="^fit: "):
        AmortizedExplainer(model, background).explain(x)
    with pytest.raises(InvalidArgumentError, match="^output: "):
        AmortizedExplainer(model, background, output="softmax").fit(x, progress=False)  # type: ignore[arg-type]


def test_explain_refuses_inputs_unlike_the_training_ones(fitted: AmortizedExplainer) -> None:
    with pytest.raises(ShapeError, match="^x: "):
        fitted.explain(DATA.data[TEST[:3], :10])
    with pytest.raises(InvalidArgumentError, match="^reference: "):
        fitted.score(DATA.data[TEST[:3]], "exact")  # 30 players: too many to enumerate


def test_torch_image_model_end_to_end(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from sklearn.datasets import load_digits

    from stochamort.games import ImagePatchMasker
    from tests.helpers.shap_export import shap

    torch.manual_seed(0)
    digits = load_digits()
    images = torch.tensor(digits.images[:300, None] / 16, dtype=torch.float32)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10))
    explainer = AmortizedExplainer(cnn, ImagePatchMasker(2), config=TrainConfig(epochs=2, efficiency=True, progress=False))
    explainer.fit(images[:200], progress=False)
    explained = explainer.explain(images[200:203])
    assert explained.values.shape == (3, 16, 10) and explained.patch_size == (2, 2)
    np.testing.assert_allclose(explained.values.sum(axis=1), explained.outputs - explained.base_values, atol=1e-5)
    shap.plots.image(explained[:2].select_output(3).to_shap(), show=False)
    plt.savefig(tmp_path / "image.png")
    plt.close("all")
    assert (tmp_path / "image.png").stat().st_size > 0
    path = explainer.save(tmp_path / "cnn")
    reloaded = AmortizedExplainer.load(path, model=cnn)
    np.testing.assert_array_equal(reloaded.explain(images[200:203]).values, explained.values)
    channels_last = images[:5].permute(0, 2, 3, 1)
    with pytest.raises(ShapeError, match="^x: "):
        explainer.explain(channels_last)


def test_a_config_without_efficiency_warns_for_shapley_values(model: GradientBoostingClassifier, background: np.ndarray) -> None:
    explainer = AmortizedExplainer(model, background, config=SHORT.replace(efficiency=False))
    with pytest.warns(UserWarning, match="^config: efficiency=False"):
        explainer.fit(DATA.data[TRAIN[:40]], progress=False)


def test_default_oracle_is_the_best_unbiased_one_for_the_label_budget() -> None:
    """Permutation pairs while the budget is below 5d evaluations per point, RegressionShapley from there on
    (the measurements are in default_oracle's docstring); both spend the same budget."""
    from stochamort.amortize import default_oracle
    from stochamort.amortize.explainer import DEFAULT_LABEL_EVALUATIONS, REGRESSION_MIN_BUDGET_PER_PLAYER
    from stochamort.oracles import RegressionShapley

    d = 12
    large = default_oracle(10 * DEFAULT_LABEL_EVALUATIONS, d)  # one pair of orders: 2d evaluations
    assert type(large) is Permutation and large.budget == 2 * d
    two_pairs = default_oracle(DEFAULT_LABEL_EVALUATIONS // (2 * 2 * d) + 1, d)  # just enough points for 2 pairs
    assert type(two_pairs) is Permutation and two_pairs.budget == 2 + 2 * 2 * (d - 1) < REGRESSION_MIN_BUDGET_PER_PLAYER * d
    three_pairs = default_oracle(DEFAULT_LABEL_EVALUATIONS // (3 * 2 * d) + 1, d)
    assert type(three_pairs) is RegressionShapley and three_pairs.budget == 2 + 3 * 2 * (d - 1)
    assert default_oracle(1, d).budget == 2 + 16 * 2 * (d - 1)  # at most 16 pairs
    assert type(default_oracle(1, 1)) is Permutation  # RegressionShapley needs two players
    with pytest.raises(InvalidArgumentError, match="^n_points: "):
        default_oracle(0, d)


def test_torch_inputs_of_another_float_dtype_and_misplaced_arguments() -> None:
    """Found by a new user: a float64 tensor failed inside a float32 model (the same array worked),
    an empty tensor escaped as torch's reshape error, and an oracle given to the amortized path
    was silently ignored."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)  # logits
    background = np.random.default_rng(0).normal(size=(8, 4))
    explainer = AmortizedExplainer(model, MarginalMasker(background))
    rows = np.random.default_rng(1).normal(size=(3, 4))
    from_array = explainer.explain(rows, amortized=False, oracle=Exact())
    from_tensor = explainer.explain(torch.as_tensor(rows, dtype=torch.float64), amortized=False, oracle=Exact())
    np.testing.assert_array_equal(from_tensor.values, from_array.values)
    with pytest.raises(ShapeError, match="^x: expected inputs .* at least one point"):
        explainer.explain(torch.zeros((0, 4)), amortized=False)
    with pytest.raises(InvalidArgumentError, match="^oracle: runs on the per-example path only"):
        explainer.explain(rows, oracle=Exact())
