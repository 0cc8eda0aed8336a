"""Amortized data valuation: the value network, its training on noisy values, and `stochamort value`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.amortize import TrainConfig
from stochamort.valuation import VALUE_NETWORK_CONFIG, DataValues, ValueNetwork, amortize_data_values, encode_examples
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)


def true_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth value function of (x, y): points on the 'wrong' side of a boundary are harmful."""
    margin = np.tanh(2.0 * x[:, 0] + x[:, 1])
    return 0.01 * np.where(y == 1, margin, -margin)


def test_value_network_trained_on_noisy_values_beats_its_labels() -> None:
    """The paper's core claim for data valuation: noise in unbiased labels averages out."""
    rng = np.random.default_rng(0)
    n, d = 3000, 4
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.int64)
    truth = true_values(x, y)
    noisy = truth + rng.normal(size=n) * 0.02  # noise std twice the values' scale
    labels = DataValues(noisy, np.full(n, 0.02), np.full(n, 5), 10 * n)
    config = VALUE_NETWORK_CONFIG.replace(epochs=30, seed=0, progress=False)
    amortizer = amortize_data_values(x, y, labels, hidden=(64, 64), pretrain_epochs=2, config=config)
    pred = amortizer.predict(x, y)
    label_error = np.mean((noisy - truth) ** 2)
    amortized_error = np.mean((pred - truth) ** 2)
    assert amortized_error < 0.2 * label_error, (amortized_error, label_error)
    # Unseen points: same accuracy.
    x_new = rng.normal(size=(500, d)).astype(np.float32)
    y_new = (rng.random(500) < 0.5).astype(np.int64)
    assert np.mean((amortizer.predict(x_new, y_new) - true_values(x_new, y_new)) ** 2) < 0.3 * label_error
    assert amortizer.train_flops > amortizer.training.train_flops > 0
    # provenance: the settings used, with the value network's own FLOPs count filled in
    settings = amortizer.training.settings
    assert TrainConfig.from_settings(settings) == config.replace(flops_per_sample=settings["flops_per_sample"])
    assert settings["flops_per_sample"] == amortizer.training.flops_per_sample > 0


def test_value_network_reads_the_label_and_starts_at_zero() -> None:
    torch.manual_seed(0)
    net = ValueNetwork(3, 4, hidden=(8,))
    x = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    net.pretrain(x, y, epochs=1)
    inputs = encode_examples(x.numpy(), y.numpy(), 4)
    assert torch.equal(net(inputs), torch.zeros(6, 1, 1))
    with torch.no_grad():
        net.head.bias.copy_(torch.arange(4.0))
    assert torch.equal(net(inputs)[:, 0, 0], y.float())


def test_bad_inputs() -> None:
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ShapeError, match="^y"):
        encode_examples(x, np.zeros(3, dtype=np.int64), 2)
    with pytest.raises(InvalidArgumentError, match="^y"):
        encode_examples(x, np.array([0, 1, 2, 0]), 2)
    with pytest.raises(NonFiniteError, match="^x"):
        encode_examples(np.full((4, 2), np.nan), np.zeros(4, dtype=np.int64), 2)
    quiet = VALUE_NETWORK_CONFIG.replace(progress=False)
    with pytest.raises(ShapeError, match="^labels"):
        amortize_data_values(x, np.zeros(4, dtype=np.int64), np.zeros(3), config=quiet)
    with pytest.raises(InvalidArgumentError, match="^validation_fraction"):
        amortize_data_values(x, np.zeros(4, dtype=np.int64), np.zeros(4), validation_fraction=1.0, config=quiet)
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig\.efficiency"):
        amortize_data_values(x, np.zeros(4, dtype=np.int64), np.zeros(4), config=quiet.replace(efficiency=True))
    with pytest.raises(InvalidArgumentError, match="^config"):
        amortize_data_values(x, np.zeros(4, dtype=np.int64), np.zeros(4), config={"epochs": 1})  # type: ignore[arg-type]


def test_value_job_quick_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "value"
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "value", "--quick", "--no-progress", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "amortized @ 5" in run.stdout and "monte carlo @ 10" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "value_vs_contributions.png").stat().st_size > 1000
    methods = [(r["method"], r["contributions_per_point"]) for r in metrics["rows"]]
    assert methods == [("monte carlo", 5), ("monte carlo", 10), ("amortized", 5)]
    for r in metrics["rows"]:
        for key in ("pearson", "spearman", "normalized_error", "mse"):
            assert np.isfinite(r["training_points"][key])
            assert np.isfinite(r["external_points"][key])
        assert 0.0 <= r["mislabel_detection"]["auroc"] <= 1.0
        assert 0.0 <= r["mislabel_detection"]["auprc"] <= 1.0
    assert metrics["amortizer"]["inference_us_per_point"] > 0
    assert not list(out.glob(".*tmp"))


def test_value_job_refuses_bad_options(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "value", "--quick", "--train-points", "5", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert "n_train" in run.stderr
