"""A training run killed after an epoch resumes from its state file and ends where an unbroken run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stochamort.errors import InvalidArgumentError
from tests.distributed.ddp_script import CONFIG, data, train

ROOT = Path(__file__).resolve().parents[2]

TRAIN_FOREVER = textwrap.dedent(
    """
    import sys, torch
    from tests.distributed.ddp_script import CONFIG, train
    torch.set_num_threads(1)
    train(CONFIG.replace(epochs=int(sys.argv[2]), resume_path=sys.argv[1]))
    """
)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def saved_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["next_epoch"])
    except (FileNotFoundError, RuntimeError, EOFError):
        return 0


def test_a_killed_run_resumes_to_the_unbroken_result(tmp_path: Path) -> None:
    epochs = 400
    state = tmp_path / "state.pt"
    child = subprocess.Popen(
        [sys.executable, "-c", TRAIN_FOREVER, str(state), str(epochs)], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while saved_epoch(state) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    _, errors = child.communicate()
    assert child.returncode == -signal.SIGKILL, errors
    stopped_at = saved_epoch(state)
    assert 3 <= stopped_at < epochs
    config = CONFIG.replace(epochs=epochs)
    resumed = train(config.replace(resume_path=str(state)))
    unbroken = train(config)
    np.testing.assert_array_equal(resumed[0], unbroken[0])
    assert resumed[1] == {k: v for k, v in unbroken[1].items()} | {"seconds": resumed[1]["seconds"]}
    assert resumed[2] == unbroken[2]
    assert saved_epoch(state) == epochs
    # A finished run's file: running again trains nothing and gives the same model.
    started = time.perf_counter()
    again = train(config.replace(resume_path=str(state)))
    np.testing.assert_array_equal(again[0], unbroken[0])
    assert time.perf_counter() - started < 5


def test_writing_the_state_changes_nothing(tmp_path: Path) -> None:
    with_file = train(CONFIG.replace(resume_path=str(tmp_path / "s.pt")))
    without = train(CONFIG)
    np.testing.assert_array_equal(with_file[0], without[0])


def test_a_state_for_another_run_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s.pt"
    train(CONFIG.replace(epochs=3, resume_path=str(state)))
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig.resume_path: .*other settings, data or model \(what differs: lr: saved 0.003, this run 0.01\)"):
        train(CONFIG.replace(epochs=3, lr=1e-2, resume_path=str(state)))
    from stochamort.amortize import MLPAmortizer, train_amortizer

    x, labels, x_val, labels_val = data()
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig.resume_path: .*other settings, data or model \(what differs: labels\)"):
        train_amortizer(MLPAmortizer(6, 6, 2, hidden=(32, 32)), x, labels + 1, x_val=x_val, labels_val=labels_val,
                        config=CONFIG.replace(epochs=3, resume_path=str(state)))
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig.resume_path: .*\(what differs: the model's layout\)"):
        train_amortizer(MLPAmortizer(6, 6, 2, hidden=(16,)), x, labels, x_val=x_val, labels_val=labels_val,
                        config=CONFIG.replace(epochs=3, resume_path=str(state)))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidArgumentError, match="^TrainConfig.resume_path: .*is not a training state"):
        train(CONFIG.replace(resume_path=str(tmp_path / "junk.pt")))
    with pytest.raises(InvalidArgumentError, match="^TrainConfig.resume_path"):
        CONFIG.replace(resume_path=3)
