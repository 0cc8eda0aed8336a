"""Running items on a Ray cluster: :class:`RayExecutor`.

A pool is a set of Ray actors, each built from the function once (the function goes into the
object store once, and each actor deserialises it once: the model and the inputs are not sent
again with every item). Items are dealt out a few at a time per actor and results are yielded as
they finish. An actor that dies (its process killed, its node lost) is restarted by Ray and the
item it was running is run again, up to ``max_retries`` times; no item is ever in flight twice.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from stochamort._checks import check_int
from stochamort.errors import ClusterConnectionError, DistributedError, InvalidArgumentError, MissingDependencyError
from stochamort.executors import Executor, WorkerPool

__all__ = ["RayExecutor"]

#: Seconds to wait for a TCP connection to an explicit ``host:port`` before giving up (Ray itself
#: retries for minutes before it fails).
CONNECT_TIMEOUT = 10.0


def _ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise MissingDependencyError("executor: RayExecutor needs Ray; install it with pip install 'stochamort[ray]'") from err
    return ray


class _Worker:
    """A Ray actor running one function, fetched from the object store and deserialised once.

    The function comes with each call as a reference wrapped in a list (Ray resolves only
    top-level references), not as a constructor argument: Ray warns that restarting an actor whose
    constructor arguments live in the object store can fail.
    """

    def __init__(self, n_threads: int) -> None:
        import torch

        torch.set_num_threads(n_threads)  # what the actor was given, not every core of the node
        self._function: Callable[[Any], Any] | None = None

    def run(self, shared: list[Any], item: Any) -> Any:
        if self._function is None:
            import ray

            self._function = ray.get(shared[0])
        return self._function(item)

    def pid(self) -> int:
        return os.getpid()


def _valid_address(address: str) -> bool:
    """Whether Ray can read ``address``: ``auto``, ``local``, or ``[ray://]host:port``."""
    if address in ("auto", "local"):
        return True
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _check_reachable(address: str) -> None:
    """Fail fast (and by name) when an explicit ``host:port`` does not answer."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # not host:port (e.g. "auto", "local"): Ray resolves it and says what it finds
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as err:
        raise ClusterConnectionError(f"address: no Ray cluster answers at {address!r} ({err})") from err


class RayExecutor(Executor):
    """Runs items as Ray actor tasks, with resources per worker (see the module docs).

    Args:
        address: the cluster: None (the one this process is connected to, or else a new local
            cluster on this machine), ``"auto"`` (the one ``ray start`` runs here), or
            ``"host:port"`` / ``"ray://host:port"``. Connecting happens when the first pool starts.
        num_workers: actors per pool (default: as many as the cluster's CPUs (and GPUs, with
            ``num_gpus``) allow at ``num_cpus`` (``num_gpus``) each).
        num_cpus: CPUs reserved per worker (a whole number; torch in the worker uses that many threads).
        num_gpus: GPUs per worker (fractions share one GPU).
        max_retries: times an item is run again after its worker died, before
            :class:`~stochamort.errors.DistributedError` is raised.
        in_flight_per_worker: items queued on each worker at once (2 keeps it busy while a
            result travels back).
        init_kwargs: extra keyword arguments for ``ray.init`` (e.g. ``runtime_env``), used only
            if this process is not connected yet.

    Raises:
        InvalidArgumentError: a bad argument (named).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_workers: int | None = None,
        num_cpus: int = 1,
        num_gpus: float = 0.0,
        max_retries: int = 3,
        in_flight_per_worker: int = 2,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not _valid_address(address)):
            raise InvalidArgumentError(
                f"address: expected None, 'auto', 'local', 'host:port' or 'ray://host:port', got {address!r}"
            )
        self.address = address
        self.num_workers = None if num_workers is None else check_int("num_workers", num_workers, 1)
        self.num_cpus = check_int("num_cpus", num_cpus, 1)
        if isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or not 0 <= num_gpus < float("inf"):
            raise InvalidArgumentError(f"num_gpus: must be a non-negative number, got {num_gpus!r}")
        self.num_gpus = float(num_gpus)
        self.max_retries = check_int("max_retries", max_retries, 0)
        self.in_flight_per_worker = check_int("in_flight_per_worker", in_flight_per_worker, 1)
        if init_kwargs is not None and not isinstance(init_kwargs, dict):
            raise InvalidArgumentError(f"init_kwargs: must be a dict or None, got {type(init_kwargs).__name__}")
        self.init_kwargs = dict(init_kwargs or {})

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_workers={self.num_workers}, num_cpus={self.num_cpus}, "
            f"num_gpus={self.num_gpus}, max_retries={self.max_retries})"
        )

    def connect(self) -> Any:
        """Connect to the cluster (once per process) and return the ``ray`` module.

        Raises:
            MissingDependencyError: Ray is not installed.
            ClusterConnectionError: the cluster cannot be reached.
        """
        ray = _ray()
        if ray.is_initialized():
            return ray
        if self.address not in (None, "auto", "local"):
            _check_reachable(str(self.address))
        try:
            ray.init(address=self.address, include_dashboard=False, **self.init_kwargs)
        except ConnectionError as err:
            raise ClusterConnectionError(f"address: cannot connect to a Ray cluster at {self.address!r} ({err})") from err
        return ray

    @property
    def n_workers(self) -> int:
        if self.num_workers is not None:
            return self.num_workers
        resources = self.connect().cluster_resources()
        count = int(resources.get("CPU", 1) // self.num_cpus)
        if self.num_gpus > 0:
            count = min(count, int(resources.get("GPU", 0) // self.num_gpus))
        if count < 1:
            raise InvalidArgumentError(
                f"num_cpus: the cluster has {resources.get('CPU', 0)} CPUs and {resources.get('GPU', 0)} GPUs, "
                f"not enough for one worker of {self.num_cpus} CPUs and {self.num_gpus} GPUs"
            )
        return count

    def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
        return _RayPool(self, function)


class _RayPool(WorkerPool):
    def __init__(self, executor: RayExecutor, function: Callable[[Any], Any]) -> None:
        self._ray = ray = executor.connect()
        self._executor = executor
        retries = executor.max_retries
        actor = ray.remote(
            num_cpus=executor.num_cpus, num_gpus=executor.num_gpus, max_restarts=retries, max_task_retries=retries
        )(_Worker)
        self._shared = [ray.put(function)]  # once into the object store; each actor deserialises it once
        self.actors = [actor.remote(executor.num_cpus) for _ in range(executor.n_workers)]

    def worker_pids(self) -> list[int]:
        """The process ids of the workers (for monitoring, and for tests that kill one)."""
        return [int(pid) for pid in self._ray.get([a.pid.remote() for a in self.actors])]

    def map_unordered(self, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        queue = deque(range(len(items)))
        pending: dict[Any, tuple[int, Any]] = {}

        def submit(actor: Any) -> None:
            position = queue.popleft()
            pending[actor.run.remote(self._shared, items[position])] = (position, actor)

        for _ in range(self._executor.in_flight_per_worker):
            for actor in self.actors:
                if queue:
                    submit(actor)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                position, actor = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except RayTaskError as err:
                    # The function raised: re-raise its own exception (the message keeps naming the
                    # argument at fault), with the worker's traceback as a note.
                    cause = getattr(err, "cause", None)
                    if not isinstance(cause, Exception):
                        raise
                    add_note = getattr(cause, "add_note", None)  # Python 3.11+
                    if callable(add_note):
                        add_note(f"raised by item {position} in a Ray worker:\n{getattr(err, 'traceback_str', '')}")
                    raise cause from None
                except (RayActorError, WorkerCrashedError) as err:
                    raise DistributedError(
                        f"items: item {position} did not finish: its worker died {self._executor.max_retries + 1} "
                        f"time(s) (max_retries={self._executor.max_retries}); {type(err).__name__}: {err}"
                    ) from err
                if queue:
                    submit(actor)
                yield position, result
        finally:
            for ref in pending:  # closed early (an error, Ctrl-C): drop what has not finished
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
