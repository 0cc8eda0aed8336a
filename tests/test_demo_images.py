"""`stochamort demo --task images --quick` runs end to end; its parts (data, networks, FLOP
counts, shifted copies) do what they say."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from stochamort.demo.images import DigitCNN, MaskedDigitCNN, PatchTokens, load_mnist, measured_flops, shifted_copies

METRICS = {"squared_error", "normalized_error", "pearson", "spearman", "sign_agreement"}


def test_quick_images_demo_writes_figures_and_every_number(tmp_path: Path) -> None:
    output = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "stochamort.cli", "demo", "--task", "images", "--quick", "--no-progress", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=400,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert "break-even" in run.stdout and "ground truth" in run.stdout and "49 patches" in run.stdout
    for name in ("error_vs_compute.png", "break_even.png"):
        assert (output / name).read_bytes().startswith(b"\x89PNG"), name
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["data"]["n_players"] == 49
    truth = metrics["ground_truth"]
    assert truth["expected_squared_error"] > 0 and truth["ratio_to_best"] == truth["expected_squared_error"] / truth["best_method_squared_error"]
    assert metrics["model"]["flops_per_evaluation"] > 1e6  # the surrogate CNN, measured (not 2 x parameters)
    for rows in metrics["per_example"].values():
        for row in rows:
            assert METRICS <= row.keys() and row["flops_per_point"] == row["evaluations"] * metrics["model"]["flops_per_evaluation"]
    methods = {record["method"].split(" (")[0].split(" @")[0] for record in metrics["amortized"]}
    assert methods == {"SA, Permutation labels", "SA, KernelSHAP labels", "FastSHAP, equal compute", "FastSHAP, published"}
    for record in metrics["amortized"]:
        assert METRICS <= record["amortizer"].keys() and math.isfinite(record["amortizer"]["squared_error"])
        assert record["flops_per_point"] > record["training_flops_per_point"] > 0
        for comparison in record["equal_error"].values():
            assert comparison["matching_evaluations"] > 0 and comparison["compute_ratio"] > 0
    equal = [r for r in metrics["amortized"] if r["method"].startswith("FastSHAP, equal")][0]
    assert equal["evaluations_per_point"] == 2 * 49  # 96 coalitions + v(∅) + v(all): the permutation labels' 2d
    assert not list(output.glob(".*.tmp")), "a temporary file was left behind"


def test_mnist_digits_come_from_the_installed_package_shuffled_by_seed() -> None:
    images, labels = load_mnist(200, seed=3)
    assert images.shape == (200, 1, 28, 28) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.9
    assert len(np.unique(labels)) == 10  # the file is sorted by class; the seeded order mixes them
    again, same = load_mnist(200, seed=3)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(same, labels)


def test_surrogate_network_starts_as_the_classifier_on_blanked_images() -> None:
    torch.manual_seed(0)
    classifier = DigitCNN().eval()
    surrogate = MaskedDigitCNN(classifier).eval()
    x = torch.rand(3, 1, 28, 28)
    mask = torch.rand(3, 49) < 0.5
    blanked = x * mask.reshape(3, 1, 7, 7).repeat_interleave(4, 2).repeat_interleave(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(surrogate(blanked, mask.float()), classifier(blanked))
        tokens = PatchTokens(surrogate)(x)
    assert tokens.shape == (3, 49, 64)


def test_measured_flops_count_the_convolutions() -> None:
    conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    # 28·28 outputs x 4 channels x 9 multiply-adds x 2
    assert measured_flops(conv, torch.zeros(1, 1, 28, 28)) == 28 * 28 * 4 * 9 * 2


def test_shifted_copies_move_digits_without_wrapping() -> None:
    images = np.zeros((1, 1, 28, 28), dtype=np.float32)
    images[0, 0, 0, :] = 1.0  # the top row lit
    copies = shifted_copies(images, 64, seed=0, max_shift=2)
    assert copies.shape == (64, 1, 28, 28)
    lit_rows = {int(np.flatnonzero(c[0].sum(axis=1))[0]) if c.any() else -1 for c in copies}
    # shifted down by 0..2 rows, or up and out of the frame (nothing wraps to the bottom)
    assert lit_rows <= {-1, 0, 1, 2} and len(lit_rows) > 1
    assert all(c[0, 26:].sum() == 0 for c in copies)
