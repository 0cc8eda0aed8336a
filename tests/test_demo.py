"""`stochamort demo --quick` runs end to end and its JSON holds every metric."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stochamort.cli import DEMO_ORACLES
from stochamort.demo import LABEL_ORACLES, default_label_budget
from stochamort.errors import InvalidArgumentError

METRICS = {"squared_error", "normalized_error", "pearson", "spearman", "sign_agreement"}


@pytest.mark.parametrize("oracle", ["permutation", "permutation-single", "kernelshap", "regression-shapley"])
def test_quick_demo_writes_figures_and_every_metric(tmp_path: Path, oracle: str) -> None:
    output = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "demo", "--quick", "--no-progress", "--oracle", oracle, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert "less compute" in run.stdout and "per point" in run.stdout
    for name in ("error_vs_compute.png", "error_vs_label_budget.png"):
        assert (output / name).read_bytes().startswith(b"\x89PNG"), name
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["config"]["oracle"] == oracle
    assert metrics["config"]["label_budget"] == default_label_budget(oracle, metrics["config"]["n_features"])
    for rows in metrics["per_example"].values():
        assert len(rows) >= 2
        for row in rows:
            assert METRICS <= row.keys() and row["flops_per_point"] > 0
    for record in metrics["amortized"]:
        assert METRICS <= record["amortizer"].keys() and METRICS <= record["label_noise"].keys()
        assert record["flops_per_point"] > record["training_flops_per_point"] > 0
    assert set(metrics["speedup_at_equal_error"]) == {"KernelSHAP", "Permutation", "RegressionShapley"}
    assert metrics["inference_ms_per_unseen_point"] > 0
    assert not list(output.glob(".*.tmp")), "a temporary file was left behind"


def test_demo_refuses_bad_options(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "demo", "--quick", "--label-budget", "0", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "label_budget" in run.stderr


def test_default_label_budgets_are_one_complete_round() -> None:
    assert default_label_budget("permutation", 12) == 24  # one antithetic pair of orders: 2(d - 1) + 2
    assert default_label_budget("permutation-single", 12) == 13  # one order: (d - 1) + 2
    assert default_label_budget("unbiased-kernelshap", 10) == 20
    assert default_label_budget("kernelshap", 8) == 64 and default_label_budget("leverage", 12) == 96
    assert default_label_budget("regression-shapley", 12) == 60  # 5d: where its surrogate pays for itself
    assert set(LABEL_ORACLES) == {
        "permutation", "permutation-single", "kernelshap", "unbiased-kernelshap", "leverage", "regression-shapley"
    }
    assert set(DEMO_ORACLES) == set(LABEL_ORACLES)  # the CLI's copy, kept so that --help does not load torch
    with pytest.raises(InvalidArgumentError, match="oracle"):
        default_label_budget("shap", 10)


def test_demo_reruns_into_the_same_directory(tmp_path: Path) -> None:
    """Other settings get their own label store; the same settings resume theirs."""
    for seed in ("0", "1", "0"):
        run = subprocess.run(
            [sys.executable, "-m", "stochamort.cli", "demo", "--quick", "--no-progress", "--seed", seed, "--output", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        )
        assert run.returncode == 0, run.stderr
    stores = sorted(p.name for p in tmp_path.glob("labels-permutation-*"))
    assert len(stores) == 2 * 2, stores  # (main + one sweep budget) x two seeds
