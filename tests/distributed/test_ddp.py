"""Amortizer training under torch DDP (torchrun, gloo on CPU) against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def torchrun(out: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               str(HERE / "ddp_script.py"), str(out), "--ddp", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)


def single(out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(HERE / "ddp_script.py"), str(out)], capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def test_two_ranks_train_what_one_process_trains(tmp_path: Path) -> None:
    (tmp_path / "ddp").mkdir()
    (tmp_path / "one").mkdir()
    run = torchrun(tmp_path / "ddp")
    assert run.returncode == 0, run.stderr[-3000:]
    assert single(tmp_path / "one").returncode == 0
    one = np.load(tmp_path / "one" / "predictions-0.npy")
    rank0, rank1 = (np.load(tmp_path / "ddp" / f"predictions-{r}.npy") for r in (0, 1))
    np.testing.assert_array_equal(rank0, rank1)  # the ranks hold one model
    # The same steps on the same batches; only the order of float32 sums differs.
    np.testing.assert_allclose(rank0, one, rtol=0, atol=1e-4 * np.abs(one).max())
    history = json.loads((tmp_path / "ddp" / "history-0.json").read_text())
    val = history["history"]["val_loss"]
    assert val[-1] < 0.6 * val[0]
    reference = json.loads((tmp_path / "one" / "history-0.json").read_text())
    np.testing.assert_allclose(history["history"]["train_loss"], reference["history"]["train_loss"], rtol=1e-4)
    assert history["best_epoch"] == reference["best_epoch"]
