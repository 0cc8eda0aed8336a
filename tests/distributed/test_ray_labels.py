"""Label stores made on a local Ray cluster: byte-identical to one process, resumable, fault tolerant."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch import Tensor

from stochamort.distributed import RayExecutor
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.executors import WorkerPool
from stochamort.labels import LabelStore, generate_labels
from stochamort.oracles import KernelSHAP, Permutation
from tests.helpers.torch_models import randn, torch_single_thread  # noqa: F401  (autouse fixture)
from tests.labels.test_labels import D, make_game

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]  # the workers import the tests' helpers from here
N = 48


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def x() -> Tensor:
    return randn(N, D, seed=1)


def chunk_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("chunk-*.npz"))}


def manifest(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "manifest.json").read_text())
    data.pop("created")
    return data


class KillAWorker(RayExecutor):
    """Kills worker 0 (SIGKILL, by pid) once the first chunk is back, while it still holds work."""

    killed: list[int]

    def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
        pool = super().pool(function)
        pids = pool.worker_pids()  # type: ignore[attr-defined]
        run = pool.map_unordered
        self.killed = []

        def map_unordered(items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
            for count, pair in enumerate(run(items)):
                if count == 0:
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed.append(pids[0])
                yield pair

        pool.map_unordered = map_unordered  # type: ignore[method-assign]
        return pool


def test_a_store_made_on_ray_is_byte_identical_and_resumes(cluster: None, x: Tensor, tmp_path: Path) -> None:
    oracle = KernelSHAP(budget=40)
    here = generate_labels(make_game(), x, oracle, tmp_path / "here", seed=5, chunk_size=8, progress=False)
    there = generate_labels(
        make_game(), x, oracle, tmp_path / "ray", seed=5, chunk_size=8, progress=False, executor=RayExecutor(num_workers=2)
    )
    assert there.complete and len(chunk_bytes(tmp_path / "ray")) == 6
    assert chunk_bytes(tmp_path / "ray") == chunk_bytes(tmp_path / "here")
    assert manifest(tmp_path / "ray") == manifest(tmp_path / "here")
    np.testing.assert_array_equal(there.load().values, here.load().values)
    # Resuming a partial store on Ray computes only what is missing (and the result is the same).
    (tmp_path / "ray" / "chunk-00002.npz").unlink()
    (tmp_path / "ray" / "chunk-00004.npz").unlink()
    again = generate_labels(
        make_game(), x, oracle, tmp_path / "ray", seed=5, chunk_size=8, progress=False, executor=RayExecutor(num_workers=2)
    )
    assert again.complete and chunk_bytes(tmp_path / "ray") == chunk_bytes(tmp_path / "here")


def test_a_finished_store_starts_no_workers(cluster: None, x: Tensor, tmp_path: Path) -> None:
    class NoPools(RayExecutor):
        def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
            raise AssertionError("a finished store must compute nothing")

    oracle = KernelSHAP(budget=40)
    generate_labels(make_game(), x, oracle, tmp_path / "s", seed=5, chunk_size=16, progress=False)
    before = chunk_bytes(tmp_path / "s")
    store = generate_labels(make_game(), x, oracle, tmp_path / "s", seed=5, chunk_size=16, progress=False, executor=NoPools())
    assert store.complete and chunk_bytes(tmp_path / "s") == before


def test_a_killed_worker_is_retried_and_the_store_is_complete_and_identical(cluster: None, x: Tensor, tmp_path: Path) -> None:
    oracle = Permutation(budget=62)
    # 50 ms per forward pass: the killed worker is busy with its next chunk when it dies.
    here = generate_labels(make_game(), x, oracle, tmp_path / "here", seed=2, chunk_size=4, progress=False)
    executor = KillAWorker(num_workers=2, max_retries=2)
    there = generate_labels(make_game(0.05), x, oracle, tmp_path / "ray", seed=2, chunk_size=4, progress=False, executor=executor)
    assert executor.killed, "the test did not kill a worker"
    assert there.complete and chunk_bytes(tmp_path / "ray") == chunk_bytes(tmp_path / "here")
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_errors_in_the_workers_reach_the_caller_typed(cluster: None, x: Tensor, tmp_path: Path) -> None:
    def wrong_points(start: int, stop: int) -> Any:
        return make_game().bind(x[start : stop if start == 0 else stop - 4])

    # Chunks 1, 2, ... all fail; whichever comes back first is raised (two are in flight at once).
    with pytest.raises(ShapeError, match=r"^game: the game for points (\d+)\.\.\d+ has 4 points, expected 8"):
        generate_labels(wrong_points, x, KernelSHAP(budget=40), tmp_path / "bad", chunk_size=8, progress=False,
                        executor=RayExecutor(num_workers=1))
    assert LabelStore.open(tmp_path / "bad").completed_chunks() == [0]


def test_bad_executor_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="^num_cpus"):
        RayExecutor(num_cpus=0)
    with pytest.raises(InvalidArgumentError, match="^num_gpus"):
        RayExecutor(num_gpus=-1)
    with pytest.raises(InvalidArgumentError, match="^address"):
        RayExecutor(address="")
    with pytest.raises(InvalidArgumentError, match="^executor"):
        generate_labels(make_game(), randn(4, D, seed=0), KernelSHAP(budget=40), "unused", executor="ray")  # type: ignore[arg-type]



class CountsUnpickling:
    """A function that appends a line to ``path`` every time a copy of it is unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        with open(self.path, "a") as file:
            file.write("unpickled\n")

    def __call__(self, item: int) -> int:
        return item * item


def test_the_function_is_shipped_once_per_worker_not_per_item(cluster: None, tmp_path: Path) -> None:
    log = tmp_path / "unpickled.txt"
    with RayExecutor(num_workers=2).pool(CountsUnpickling(str(log))) as pool:
        results = dict(pool.map_unordered(list(range(20))))
    assert results == {i: i * i for i in range(20)}
    assert log.read_text().count("unpickled") == 2
