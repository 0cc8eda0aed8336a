"""``stochamort labels``: a user's game from their module, in-process or on a local Ray cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

GAME_MODULE = textwrap.dedent(
    """
    import torch
    from stochamort.games import BaselineMasker, MaskedModel

    def make_game():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
        return MaskedModel(model, BaselineMasker(), output="logits")
    """
)


def labels(cwd: Path, *options: str, omit_budget: bool = False) -> subprocess.CompletedProcess[str]:
    budget = [] if omit_budget else ["--budget", "24"]
    command = [sys.executable, "-m", "stochamort.cli", "labels", "--game", "usergame:make_game", "--inputs", "x.npy",
               "--oracle", "kernelshap", *budget, "--chunk-size", "10", "--no-progress", *options]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def chunks(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("chunk-*.npz"))}


def test_labels_on_a_local_ray_cluster_match_the_in_process_store(tmp_path: Path) -> None:
    (tmp_path / "usergame.py").write_text(GAME_MODULE)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(35, 5)))
    here = labels(tmp_path, "--out", "here")
    assert here.returncode == 0, here.stderr
    assert "35 points labelled, 4 chunks" in here.stdout
    there = labels(tmp_path, "--out", "ray", "--ray-address", "local", "--workers", "2")
    assert there.returncode == 0, there.stderr
    assert len(chunks(tmp_path / "ray")) == 4 and chunks(tmp_path / "ray") == chunks(tmp_path / "here")
    again = labels(tmp_path, "--out", "ray", "--ray-address", "127.0.0.1:9")  # finished: no cluster needed
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--ray-address", "127.0.0.1:9"), "stochamort: error: --ray-address: no Ray cluster answers at '127.0.0.1:9'"),
        (("--ray-address", "loclal"), "stochamort: error: --ray-address: expected None, 'auto', 'local', 'host:port'"),
        (("--budget", "-"), "stochamort: error: --budget: KernelSHAP needs a budget"),
        (("--inputs", "flat.npy"), "stochamort: error: --inputs: a MaskedModel explains inputs (n_points, *input_shape), got shape (12,)"),
        (("--oracle", "kernel-shapley"), "stochamort: error: --oracle: unknown oracle 'kernel-shapley'"),
        (("--game", "usergame:nothing"), "stochamort: error: --game: module 'usergame' has no attribute 'nothing'"),
        (("--game", "nosuchmodule:make"), "stochamort: error: --game: cannot import 'nosuchmodule'"),
        (("--inputs", "missing.npy"), "stochamort: error: --inputs: missing.npy is not a file"),
        (("--workers", "2"), "stochamort: error: --workers: --workers and --num-gpus need --ray-address"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, options: tuple[str, ...], message: str) -> None:
    (tmp_path / "usergame.py").write_text(GAME_MODULE)
    np.save(tmp_path / "x.npy", np.zeros((12, 5)))
    np.save(tmp_path / "flat.npy", np.zeros(12))
    omit_budget = options == ("--budget", "-")  # stands for: no --budget at all
    run = labels(tmp_path, "--out", "store", *([] if omit_budget else options), omit_budget=omit_budget)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert message in run.stderr
    assert not (tmp_path / "store").exists()  # not even an empty directory is left
