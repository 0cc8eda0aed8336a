"""Chunks on threads (the GPU pipeline): the same store, models kept in evaluation mode, errors kept."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from stochamort._modes import evaluation
from stochamort.errors import InvalidArgumentError, NonFiniteError
from stochamort.executors import InProcessExecutor, ThreadedExecutor
from stochamort.games import BaselineMasker, FunctionGame, MaskedModel
from stochamort.labels import generate_labels
from stochamort.labels.store import default_executor
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)
from tests.labels.test_labels import ORACLE, SEED, make_game, x  # noqa: F401  (fixture)


def chunk_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("chunk-*.npz"))}


@pytest.mark.parametrize("n_threads", [2, 3])
def test_threaded_store_is_byte_identical(x: Tensor, tmp_path: Path, n_threads: int) -> None:
    one = generate_labels(make_game(), x, ORACLE, tmp_path / "one", seed=SEED, chunk_size=8, progress=False)
    threaded = generate_labels(
        make_game(delay=0.01), x, ORACLE, tmp_path / "threaded", seed=SEED, chunk_size=8, progress=False,
        executor=ThreadedExecutor(n_threads),
    )
    assert chunk_bytes(tmp_path / "threaded") == chunk_bytes(tmp_path / "one")
    assert len(chunk_bytes(tmp_path / "one")) == 5
    np.testing.assert_array_equal(threaded.load().values, one.load().values)


def test_a_module_stays_in_evaluation_mode_until_the_last_thread_leaves() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.train()
    first_inside, second_inside, first_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with evaluation(model):
            first_inside.set()
            second_inside.wait(5)
        first_left.set()

    def second() -> None:
        first_inside.wait(5)
        with evaluation(model):
            second_inside.set()
            first_left.wait(5)
            seen["training_after_first_left"] = model.training or model[1].training
            x = torch.ones(1000, 4)
            seen["dropout_off"] = bool(torch.equal(model[1](x), x))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"training_after_first_left": False, "dropout_off": True}
    assert model.training and model[1].training  # restored once both have left


def test_a_chunk_error_reaches_the_caller_and_no_chunk_is_left_half_written(tmp_path: Path) -> None:
    def values(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        out = masks.sum(axis=2, keepdims=True).astype(float)
        out[points >= 30] = np.nan
        return out

    game = FunctionGame(values, n_points=40, n_players=4)
    with pytest.raises(NonFiniteError, match="point"):
        generate_labels(game, np.zeros((40, 4)), ORACLE, tmp_path / "s", chunk_size=8, progress=False, executor=ThreadedExecutor(2))
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.endswith(".tmp")]
    assert len(list((tmp_path / "s").glob("chunk-*.npz"))) <= 3


def test_models_on_cuda_are_pipelined_by_default() -> None:
    on_cuda = MaskedModel(lambda t: t.sum(dim=1, keepdim=True), BaselineMasker(), output="identity", device="cuda")
    assert isinstance(default_executor(on_cuda), ThreadedExecutor)
    assert isinstance(default_executor(make_game()), InProcessExecutor)
    assert isinstance(default_executor(lambda start, stop: None), InProcessExecutor)  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_thread_count_is_checked(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="n_threads"):
        ThreadedExecutor(bad)  # type: ignore[arg-type]
