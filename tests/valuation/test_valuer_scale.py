"""The valuer and the value network do not depend on the features' units (standardisation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer

from stochamort._bundle import read_bundle, write_bundle
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.valuation import VALUE_NETWORK_CONFIG, AmortizedValuer, DataValues, ValueNetwork, amortize_data_values
from stochamort.valuation import detection_auroc
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)
from tests.valuation.test_valuer import SMALL, Split, breast_cancer

# Raw breast-cancer units: areas in the thousands next to smoothness ratios near 0.1.
RAW = load_breast_cancer().data


def in_raw_units(split: Split) -> Split:
    mean, std = RAW.mean(axis=0), RAW.std(axis=0)
    return Split(
        split.x * std + mean, split.y, split.flipped, split.x_valid * std + mean, split.y_valid,
        split.x_new * std + mean, split.y_new, split.flipped_new,
    )


def test_values_do_not_depend_on_the_features_units() -> None:
    """The same examples in raw and in standardised units give the same values, not a silently worse ranking."""
    standard = breast_cancer(seed=2, n_train=80)
    raw = in_raw_units(standard)
    values = {}
    for name, split in (("standard", standard), ("raw", raw)):
        valuer = AmortizedValuer("logistic", **SMALL).fit(split.x, split.y, x_valid=split.x_valid, y_valid=split.y_valid, progress=False)
        assert valuer.noisy_values is not None
        values[name] = (valuer.noisy_values.values, valuer.value(split.x_new, split.y_new))
    # Validation accuracies of identical standardised fits: equal up to float32 rounding of the inputs.
    np.testing.assert_allclose(values["raw"][0], values["standard"][0], atol=1e-9)
    scale = np.abs(values["standard"][1]).max()
    np.testing.assert_allclose(values["raw"][1], values["standard"][1], atol=1e-3 * scale)
    assert detection_auroc(values["raw"][1], standard.flipped_new) > 0.8


def test_without_standardisation_raw_units_change_the_values() -> None:
    """The switch is real: turned off, the utility sees raw features and the values change."""
    raw = in_raw_units(breast_cancer(seed=2, n_train=80))
    options: dict[str, Any] = {**SMALL, "standardize_features": False, "utility_options": {"max_iter": 5}}
    with pytest.warns(RuntimeWarning, match="standardise the features or raise max_iter"):
        off = AmortizedValuer("logistic", **options).fit(raw.x, raw.y, x_valid=raw.x_valid, y_valid=raw.y_valid, progress=False)
    on = AmortizedValuer("logistic", **SMALL).fit(raw.x, raw.y, x_valid=raw.x_valid, y_valid=raw.y_valid, progress=False)
    assert off.noisy_values is not None and on.noisy_values is not None
    assert not np.allclose(off.noisy_values.values, on.noisy_values.values)
    assert off.amortizer is not None
    assert torch.equal(off.amortizer.network.feature_scale, torch.ones(30))


def test_network_standardisation_is_fitted_saved_and_loaded(tmp_path: Any) -> None:
    raw = in_raw_units(breast_cancer(seed=3, n_train=60))
    valuer = AmortizedValuer("logistic", **SMALL).fit(raw.x, raw.y, x_valid=raw.x_valid, y_valid=raw.y_valid, progress=False)
    assert valuer.amortizer is not None
    network = valuer.amortizer.network
    np.testing.assert_allclose(network.feature_mean.numpy(), raw.x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(network.feature_scale.numpy(), raw.x.std(axis=0), rtol=1e-5)
    path = valuer.save(tmp_path / "valuer")
    loaded = AmortizedValuer.load(path)
    np.testing.assert_array_equal(loaded.value(raw.x_new, raw.y_new), valuer.value(raw.x_new, raw.y_new))
    assert loaded.standardize_features


def test_bundles_from_before_standardisation_load_as_trained(tmp_path: Any) -> None:
    """A bundle without the buffers or the setting was trained on raw features: identity standardisation."""
    split = breast_cancer(seed=4, n_train=40)
    valuer = AmortizedValuer("logistic", **{**SMALL, "standardize_features": False}).fit(
        split.x, split.y, x_valid=split.x_valid, y_valid=split.y_valid, progress=False
    )
    settings, arrays = read_bundle(valuer.save(tmp_path / "new"), "AmortizedValuer")
    del settings["valuer"]["standardize_features"], settings["valuer"]["utility_options"]
    old = {k: v for k, v in arrays.items() if not k.startswith("network.feature_")}
    write_bundle(tmp_path / "old", "AmortizedValuer", settings, old)
    loaded = AmortizedValuer.load(tmp_path / "old")
    assert not loaded.standardize_features
    np.testing.assert_array_equal(loaded.value(split.x_new, split.y_new), valuer.value(split.x_new, split.y_new))


def test_utility_options_reach_the_utility_and_are_saved(tmp_path: Any) -> None:
    split = breast_cancer(seed=5, n_train=40)
    options = {"max_iter": 60, "C": 0.5, "dtype": torch.float64, "metric": "log_likelihood"}
    valuer = AmortizedValuer("logistic", **SMALL, utility_options=options).fit(
        split.x, split.y, x_valid=split.x_valid, y_valid=split.y_valid, progress=False
    )
    utility = valuer.utility_
    assert utility is not None
    assert (utility.max_iter, utility.C, utility.dtype, utility.metric) == (60, 0.5, torch.float64, "log_likelihood")  # type: ignore[attr-defined]
    loaded = AmortizedValuer.load(valuer.save(tmp_path / "valuer"))
    assert loaded.utility_options == {"max_iter": 60, "C": 0.5, "dtype": "float64", "metric": "log_likelihood"}


@pytest.mark.parametrize(
    ("utility", "options", "message"),
    [
        ("logistic", {"max_iters": 5}, "has no option 'max_iters'"),
        ("logistic", {"x_train": 5}, "has no option 'x_train'"),
        ("logistic", {"dtype": "float16"}, "dtype must be"),
        ("logistic", {"metric": len}, "metric must be"),
        ("logistic", {"C": float("inf")}, "C must be"),
        ("logistic", [("C", 1.0)], "must be a dict"),
        ("mlp", {"max_iter": 5}, "TorchMLPUtility has no option"),
    ],
)
def test_bad_utility_options_are_refused(utility: str, options: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^utility_options: .*{message}"):
        AmortizedValuer(utility, utility_options=options)


def test_utility_options_need_a_built_in_utility() -> None:
    from sklearn.naive_bayes import GaussianNB  # type: ignore[import-untyped]

    with pytest.raises(InvalidArgumentError, match="^utility_options: only for the built-in"):
        AmortizedValuer(GaussianNB(), utility_options={"C": 1.0})


def test_value_network_standardisation() -> None:
    network = ValueNetwork(2, 2, hidden=(4,))
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    network.fit_standardization(x)
    assert torch.allclose(network.feature_mean, torch.tensor([3.0, 5.0]))
    assert torch.allclose(network.feature_scale, torch.tensor([(8 / 3) ** 0.5, 1.0]))  # constant feature: scale 1
    with pytest.raises(ShapeError, match="^x"):
        network.fit_standardization(torch.zeros(3, 3))
    with pytest.raises(ShapeError, match="^x"):
        network.fit_standardization(torch.zeros(0, 2))
    labels = DataValues(np.zeros(3), np.zeros(3), np.ones(3, dtype=np.int64), 3)
    with pytest.raises(InvalidArgumentError, match="^standardize_features"):
        amortize_data_values(x.numpy(), np.array([0, 1, 0]), labels, standardize_features="yes", config=VALUE_NETWORK_CONFIG)  # type: ignore[arg-type]
