"""`stochamort demo --task tabular --quick` runs end to end and its JSON holds every number."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stochamort.demo.tabular import class_mixtures, mlp_flops, train_model

METRICS = {"squared_error", "normalized_error", "pearson", "spearman", "sign_agreement"}


def test_quick_tabular_demo_writes_figures_and_every_number(tmp_path: Path) -> None:
    output = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "demo", "--task", "tabular", "--quick", "--no-progress", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert "break-even" in run.stdout and "ground truth" in run.stdout
    for name in ("error_vs_compute.png", "break_even.png"):
        assert (output / name).read_bytes().startswith(b"\x89PNG"), name
    metrics = json.loads((output / "metrics.json").read_text())
    truth = metrics["ground_truth"]
    assert truth["expected_squared_error"] > 0 and truth["ratio_to_best"] == pytest.approx(truth["expected_squared_error"] / truth["best_method_squared_error"])
    assert set(metrics["per_example"]) == {"KernelSHAP", "Permutation", "LeverageSHAP", "OddSHAP", "PolySHAP", "RegressionShapley"}
    for rows in metrics["per_example"].values():
        for row in rows:
            assert METRICS <= row.keys() and row["flops_per_point"] > 0
    methods = {record["method"].split(" (")[0].split(" @")[0] for record in metrics["amortized"]}
    assert methods == {"SA, Permutation labels", "SA, KernelSHAP labels", "FastSHAP, equal compute", "FastSHAP, published"}
    for record in metrics["amortized"]:
        assert METRICS <= record["amortizer"].keys()
        assert record["flops_per_point"] > record["training_flops_per_point"] > 0
        assert record["evaluations_per_point"] >= 2
        for comparison in record["equal_error"].values():
            assert comparison["matching_evaluations"] > 0 and comparison["compute_ratio"] > 0
            assert comparison["break_even_points"] > 0 and math.isfinite(comparison["inference_ratio"])
    equal = [r for r in metrics["amortized"] if r["method"].startswith("FastSHAP, equal")][0]
    assert equal["evaluations_per_point"] == 2 * 30  # 58 coalitions + v(∅) + v(all): the permutation labels' 2d
    assert not list(output.glob(".*.tmp")), "a temporary file was left behind"


def test_tabular_options_of_the_synthetic_task_are_refused(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "demo", "--task", "tabular", "--quick", "--oracle", "kernelshap", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--oracle: applies to --task synthetic only" in run.stderr


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # random labels: it cannot converge
def test_mlp_flops_and_class_mixtures() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.integers(0, 2, 60)
    model = train_model(x, y, (7,), seed=0)
    # 5→7→1: 2·(35 + 7) weights' FLOPs + 8 biases, plus the scaler's 2 per feature
    assert mlp_flops(model) == 2 * (35 + 7) + 8 + 10
    groups = np.array([0] * 30 + [1] * 30)
    x = np.concatenate([np.zeros((30, 5)), np.ones((30, 5))])
    mixed = class_mixtures(x, groups, 200, seed=1)
    # mixtures of rows of one group stay that group's rows here (all zeros or all ones)
    assert mixed.shape == (200, 5) and set(np.unique(mixed)) <= {0.0, 1.0}
    np.testing.assert_array_equal(class_mixtures(x, groups, 50, seed=2), class_mixtures(x, groups, 50, seed=2))
