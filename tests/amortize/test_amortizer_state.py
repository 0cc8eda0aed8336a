"""The Amortizer carries its whole state: target scale, efficiency flag and input standardisation
are buffers that ``state_dict`` / ``load_state_dict`` round-trip (the reload that once made
predictions 101.9x too large), and training standardises inputs on request and warns about badly
scaled tabular inputs otherwise. CPU, one torch thread, fixed seeds."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from stochamort.amortize import Amortizer, MLPAmortizer, TrainConfig, fit_standardization, train_amortizer, train_amortizer_online
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

D = 4
# A badly scaled tabular problem: feature scales from 1e-2 to 1e3, offsets far from zero; the
# attributions are a smooth function of the standardised features.
SCALES = np.array([1e-2, 1.0, 30.0, 1e3])
OFFSETS = np.array([0.5, -3.0, 400.0, 5e4])
WEIGHTS = np.array([1.0, -2.0, 1.5, 0.5])


def badly_scaled(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.random.default_rng(seed).normal(size=(n, D))
    return z * SCALES + OFFSETS, (WEIGHTS * np.tanh(z))[:, :, None]


def mlp(seed: int, n_outputs: int = 2) -> MLPAmortizer:
    torch.manual_seed(seed)
    return MLPAmortizer(D, D, n_outputs, hidden=(16,))


def quick(**settings: Any) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 32, "progress": False, **settings})


# --------------------------------------------------------------------------------------------
# The state round trip


def test_load_state_dict_restores_scale_efficiency_and_standardisation_bit_for_bit() -> None:
    x, _ = badly_scaled(64, 0)
    mean, std = fit_standardization(x)
    saved = Amortizer(mlp(0), target_scale=101.9, efficiency=True, input_mean=mean, input_std=std)
    fresh = Amortizer(mlp(1))  # another initialisation, default scale, no efficiency, no standardisation
    assert fresh.load_state_dict(saved.state_dict()) is not None
    assert fresh.target_scale == 101.9 and type(fresh.target_scale) is float
    assert fresh.efficiency is True and fresh.standardizes_inputs
    assert torch.equal(fresh.input_mean, mean) and torch.equal(fresh.input_std, std)
    gaps = np.random.default_rng(1).normal(size=(64, 2))
    assert np.array_equal(fresh.predict(x, gaps), saved.predict(x, gaps))
    assert set(saved.state_dict()) >= {"target_scale_value", "efficiency_flag", "input_mean", "input_std"}
    # the other way: a state without standardisation removes it
    saved.load_state_dict(Amortizer(mlp(2)).state_dict())
    assert not saved.standardizes_inputs and saved.target_scale == 1.0 and not saved.efficiency
    assert np.array_equal(saved.predict(x), Amortizer(mlp(2)).predict(x))


def test_a_state_without_the_scale_is_refused_not_defaulted() -> None:
    """A state saved before the scale was a buffer (only the network's keys) must not load into an
    amortizer with the default scale 1."""
    old_style = {f"model.{key}": value for key, value in mlp(0).state_dict().items()}
    with pytest.raises(RuntimeError, match="target_scale_value"):
        Amortizer(mlp(1)).load_state_dict(old_style)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("target_scale_value", torch.tensor(-1.0, dtype=torch.float64), "target_scale_value: must be a positive"),
        ("input_std", torch.zeros(D, dtype=torch.float64), "input_std: must be positive"),
        ("input_std", torch.ones(D - 1, dtype=torch.float64), "input_std: shape"),
        ("input_mean", torch.full((D,), np.nan, dtype=torch.float64), "input_mean: must be finite"),
    ],
)
def test_a_state_with_impossible_values_is_refused(key: str, value: torch.Tensor, message: str) -> None:
    x, _ = badly_scaled(32, 0)
    state = Amortizer(mlp(0), input_mean=fit_standardization(x)[0], input_std=fit_standardization(x)[1]).state_dict()
    state[key] = value
    with pytest.raises(RuntimeError, match=re.escape(message)):
        Amortizer(mlp(0)).load_state_dict(state)


def test_casting_the_module_keeps_the_scale_and_standardisation_in_float64() -> None:
    x, _ = badly_scaled(32, 0)
    mean, std = fit_standardization(x)
    amortizer = Amortizer(mlp(0), target_scale=1 / 3, input_mean=mean, input_std=std)
    for cast in (amortizer.half, amortizer.float, amortizer.double, lambda: amortizer.to(torch.float32)):
        cast()
        assert amortizer.target_scale_value.dtype == torch.float64 and amortizer.target_scale == 1 / 3
        assert torch.equal(amortizer.input_mean, mean) and torch.equal(amortizer.input_std, std)
    assert amortizer.model.net[0].weight.dtype == torch.float32 and amortizer.efficiency_flag.dtype == torch.bool


def test_bad_standardisation_arguments_name_themselves() -> None:
    with pytest.raises(InvalidArgumentError, match="^input_std: input_mean and input_std must be given together"):
        Amortizer(mlp(0), input_mean=np.zeros(D))
    with pytest.raises(InvalidArgumentError, match="^input_mean: input_mean and input_std"):
        Amortizer(mlp(0), input_std=np.ones(D))
    with pytest.raises(ShapeError, match="^input_std: shape"):
        Amortizer(mlp(0), input_mean=np.zeros(D), input_std=np.ones(D + 1))
    with pytest.raises(InvalidArgumentError, match="^input_std: must be positive"):
        Amortizer(mlp(0), input_mean=np.zeros(D), input_std=np.zeros(D))
    with pytest.raises(NonFiniteError, match="^input_mean: must be finite"):
        Amortizer(mlp(0), input_mean=np.full(D, np.inf), input_std=np.ones(D))
    with pytest.raises(ShapeError, match="^input_mean: must have the per-input shape"):
        Amortizer(mlp(0), input_mean=0.0, input_std=1.0)
    standardizing = Amortizer(mlp(0), input_mean=np.zeros(D), input_std=np.ones(D))
    with pytest.raises(ShapeError, match="^x: per-input shape"):
        standardizing.predict(np.zeros((3, D + 1)))
    with pytest.raises(InvalidArgumentError, match="^x: this amortizer standardises"):
        standardizing.predict(np.zeros((3, D), dtype=np.int64))


# --------------------------------------------------------------------------------------------
# Standardisation fitted in training and applied in prediction


def test_fitted_standardisation_is_numpys_mean_and_std_with_constant_features_only_centred() -> None:
    x, labels = badly_scaled(200, 0)
    x[:, 1] = 7.3  # constant: std 1, so it is only centred
    mean, std = fit_standardization(x)
    expected_std = np.std(x, axis=0)
    expected_std[1] = 1.0
    np.testing.assert_allclose(mean.numpy(), np.mean(x, axis=0), rtol=1e-13)
    np.testing.assert_allclose(std.numpy(), expected_std, rtol=1e-12)
    assert mean.dtype == std.dtype == torch.float64
    result = train_amortizer(mlp(0, 1), x, labels, config=quick(standardize_inputs=True))
    amortizer = result.amortizer
    assert torch.equal(amortizer.input_mean, mean) and torch.equal(amortizer.input_std, std)
    # predict standardises exactly as the trainer did: float64 arithmetic, then the network's dtype
    network = amortizer.model
    with torch.no_grad():
        raw = network(torch.from_numpy((x - mean.numpy()) / std.numpy()).float())
        assert torch.equal(amortizer(torch.from_numpy(x)), raw / amortizer.target_scale)
    assert np.array_equal(amortizer.predict(x), (raw.double() / amortizer.target_scale).numpy())


def test_standardisation_refuses_integer_inputs_naming_the_setting() -> None:
    ids = np.random.default_rng(0).integers(0, 10, size=(16, D))
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig\.standardize_inputs: needs floating inputs"):
        train_amortizer(mlp(0, 1), ids, np.zeros((16, D, 1)), config=quick(standardize_inputs=True))
    with pytest.raises(InvalidArgumentError, match="^x: standardisation needs floating inputs"):
        fit_standardization(ids)


def test_validation_inputs_are_standardised_with_the_training_statistics() -> None:
    """The validation loss must be the loss of the returned amortizer on the held-out points."""
    x, labels = badly_scaled(160, 0)
    result = train_amortizer(
        mlp(0, 1), x[:128], labels[:128], x_val=x[128:], labels_val=labels[128:], config=quick(standardize_inputs=True)
    )
    loss = np.mean(np.sum((result.predict(x[128:]) - labels[128:]) ** 2, axis=(1, 2)))
    assert result.best_val_loss == pytest.approx(loss, rel=1e-5)
    with pytest.raises(ShapeError, match="^x_val: per-input shape"):
        train_amortizer(mlp(0, 1), x, labels, x_val=x[:, :2], labels_val=labels, config=quick(standardize_inputs=True))


def test_badly_scaled_inputs_warn_once_and_standardised_ones_do_not() -> None:
    x, labels = badly_scaled(128, 0)
    with pytest.warns(UserWarning, match=r"^x_train: the inputs are far from standardised.*standardize_inputs=True") as record:
        train_amortizer(mlp(0, 1), x, labels, config=quick())
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller
    # features of similar scale whose stds differ by more than 100x also warn
    spread = np.random.default_rng(1).normal(size=(128, D)) * np.array([1.0, 1.0, 1.0, 200.0])
    with pytest.warns(UserWarning, match="standard deviations range from"):
        train_amortizer_online(mlp(0, 1), spread, lambda i, e: labels[i], config=quick())
    standardised = (x - x.mean(0)) / x.std(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_amortizer(mlp(0, 1), standardised, labels, config=quick())
        train_amortizer(mlp(0, 1), x, labels, config=quick(standardize_inputs=True))
        images = np.random.default_rng(2).normal(size=(16, 1, 2, 2)) * 1e3 + 1e5  # not tabular: no warning
        train_amortizer(MLPAmortizer(4, 4, 1, hidden=()), images, labels[:16], config=quick())


def test_standardising_inputs_fits_a_badly_scaled_problem_far_better() -> None:
    """Same network, seed and schedule; raw inputs leave the network near the constant predictor
    (error ≈ 3.3, the labels' variance ≈ 2.9), standardised ones fit (≈ 0.06)."""
    x, labels = badly_scaled(1024, 0)
    x_test, exact = badly_scaled(512, 1)
    errors = {}
    for standardize in (False, True):
        config = TrainConfig(epochs=20, batch_size=64, lr=3e-3, progress=False, standardize_inputs=standardize)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the raw run warns, as tested above
            torch.manual_seed(0)
            result = train_amortizer(MLPAmortizer(D, D, 1, hidden=(32, 32)), x, labels, config=config)
        errors[standardize] = float(np.mean(np.sum((result.predict(x_test) - exact) ** 2, axis=(1, 2))))
    assert errors[True] < 0.2 * errors[False], errors
