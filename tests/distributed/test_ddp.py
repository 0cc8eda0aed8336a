"""Amortizer training under torch DDP (torchrun, gloo on CPU) against one process, and a torchrun
job killed mid-way that resumes from its training state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.amortize.test_resume import saved_epoch
from tests.distributed.ddp_script import CONFIG
from tests.helpers.processes import sigkill_tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def torchrun_command(out: Path, *args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            str(HERE / "ddp_script.py"), str(out), "--ddp", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}


def torchrun(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(torchrun_command(out, *args), capture_output=True, text=True, timeout=300, env=environment(), check=False)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unbroken two-rank run's outputs."""
    out = tmp_path_factory.mktemp("ddp")
    run = torchrun(out)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def test_two_ranks_train_what_one_process_trains(unbroken: Path, tmp_path: Path) -> None:
    single = subprocess.run([sys.executable, str(HERE / "ddp_script.py"), str(tmp_path)], capture_output=True, text=True,
                            timeout=300, env=environment(), check=False)
    assert single.returncode == 0, single.stderr[-3000:]
    one = np.load(tmp_path / "predictions-0.npy")
    rank0, rank1 = (np.load(unbroken / f"predictions-{r}.npy") for r in (0, 1))
    np.testing.assert_array_equal(rank0, rank1)  # the ranks hold one model
    # The same steps on the same batches; only the order of float32 sums differs.
    np.testing.assert_allclose(rank0, one, rtol=0, atol=1e-4 * np.abs(one).max())
    history = json.loads((unbroken / "history-0.json").read_text())
    val = history["history"]["val_loss"]
    assert val[-1] < 0.6 * val[0]
    reference = json.loads((tmp_path / "history-0.json").read_text())
    np.testing.assert_allclose(history["history"]["train_loss"], reference["history"]["train_loss"], rtol=1e-4)
    assert history["best_epoch"] == reference["best_epoch"]


def test_a_killed_torchrun_job_resumes_to_the_unbroken_result(unbroken: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.pt"
    # Slowed by a pause before each forward pass, so that the kill lands mid-run.
    job = subprocess.Popen(torchrun_command(tmp_path, "--resume", str(state), "--delay", "0.02"), env=environment(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while saved_epoch(state) < 3 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sigkill_tree(job.pid)  # torchrun and both ranks (each in a session of its own)
    _, errors = job.communicate()
    stopped_at = saved_epoch(state)
    assert 3 <= stopped_at < CONFIG.epochs, errors[-3000:]
    assert not (tmp_path / "predictions-0.npy").exists()
    resumed = torchrun(tmp_path, "--resume", str(state))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for rank in (0, 1):
        np.testing.assert_array_equal(np.load(tmp_path / f"predictions-{rank}.npy"), np.load(unbroken / "predictions-0.npy"))
    history, reference = (json.loads((root / "history-0.json").read_text()) for root in (tmp_path, unbroken))
    for key in ("train_loss", "val_loss"):
        assert history["history"][key] == reference["history"][key]
    assert history["best_epoch"] == reference["best_epoch"]
    assert saved_epoch(state) == CONFIG.epochs
