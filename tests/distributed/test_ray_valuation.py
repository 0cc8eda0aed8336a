"""Data valuation with the model fits on a local Ray cluster gives the same DataValues as in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from stochamort.distributed import RayExecutor
from stochamort.errors import InvalidArgumentError
from stochamort.executors import InProcessExecutor
from stochamort.valuation import DistributionalShapley, ShardedUtility, TMCShapley, TorchLogisticUtility
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)
from tests.valuation.test_valuer import breast_cancer

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}, log_to_driver=False)
    yield
    ray.shutdown()


def utility() -> TorchLogisticUtility:
    split = breast_cancer(seed=0, n_train=40)
    return TorchLogisticUtility(split.x, split.y, split.x_valid, split.y_valid, dtype=torch.float64)


@pytest.mark.parametrize("oracle", [DistributionalShapley(4, min_size=5, max_size=30), TMCShapley(3)])
def test_values_on_ray_equal_the_in_process_ones(cluster: None, oracle: object) -> None:
    here = oracle(utility(), seed=3, progress=False)  # type: ignore[operator]
    with ShardedUtility(utility(), RayExecutor(num_workers=2), shard_size=37) as sharded:
        there = oracle(sharded, seed=3, progress=False)  # type: ignore[operator]
        assert sharded.n_evaluations == there.total_evaluations == here.total_evaluations
    np.testing.assert_array_equal(there.values, here.values)
    np.testing.assert_array_equal(there.std_errors, here.std_errors)


def test_new_points_are_valued_the_same_way(cluster: None) -> None:
    split = breast_cancer(seed=1, n_train=40)
    oracle = DistributionalShapley(3, min_size=5, max_size=30)
    here = oracle.value_points(utility(), split.x_new[:6], split.y_new[:6], seed=1, progress=False)
    with ShardedUtility(utility(), RayExecutor(num_workers=2)) as sharded:
        there = oracle.value_points(sharded, split.x_new[:6], split.y_new[:6], seed=1, progress=False)
    np.testing.assert_array_equal(there.values, here.values)


def test_sharding_in_process_changes_nothing() -> None:
    counts = np.random.default_rng(0).random((50, 40)) < 0.5
    with ShardedUtility(utility(), InProcessExecutor(), shard_size=7) as sharded:
        np.testing.assert_array_equal(sharded.evaluate(counts), utility().evaluate(counts))
        assert sharded.n_evaluations == 50


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="^utility"):
        ShardedUtility("logistic", InProcessExecutor())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^executor"):
        ShardedUtility(utility(), "ray")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^shard_size"):
        ShardedUtility(utility(), InProcessExecutor(), shard_size=0)
