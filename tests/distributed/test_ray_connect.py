"""Connecting to a cluster that is not there fails fast, typed, naming ``address``."""

from __future__ import annotations

import time

import pytest

from stochamort.distributed import RayExecutor
from stochamort.errors import ClusterConnectionError, DistributedError

ray = pytest.importorskip("ray")


@pytest.fixture(autouse=True)
def not_connected() -> None:
    if ray.is_initialized():
        ray.shutdown()


def test_an_address_that_does_not_answer() -> None:
    started = time.monotonic()
    with pytest.raises(ClusterConnectionError, match="^address: no Ray cluster answers at '127.0.0.1:9'") as info:
        RayExecutor(address="127.0.0.1:9").connect()
    assert isinstance(info.value, (DistributedError, ConnectionError))
    assert time.monotonic() - started < 30  # not Ray's minutes of retries
    assert not ray.is_initialized()


def test_auto_without_a_running_cluster() -> None:
    with pytest.raises(ClusterConnectionError, match="^address: cannot connect to a Ray cluster at 'auto'"):
        RayExecutor(address="auto").connect()
