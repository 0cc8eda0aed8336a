"""Where independent pieces of work run: in this process, or on an engine such as Ray.

A job that splits into independent items (the chunks of a label store, shards of subsets to fit)
hands an :class:`Executor` one picklable *function* and a list of items. The executor starts a
:class:`WorkerPool` for that function, shipping it (the model, the inputs, the oracle it holds)
to each worker once, and yields ``(position, result)`` pairs as items finish, in any order. The
caller, in this process, does everything with side effects (writing files), so what is computed
does not depend on where it ran.

:class:`InProcessExecutor` is the default: one item after another, here.
:class:`ThreadedExecutor` runs a few items at once on threads of this process, so that one item's
CPU work (sampling coalitions, solving estimators, both in the Rust core without the GIL) overlaps
another's forward pass on a GPU.
:class:`stochamort.distributed.RayExecutor` runs the items as tasks on a Ray cluster.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any

from stochamort.errors import InvalidArgumentError

__all__ = ["Executor", "WorkerPool", "InProcessExecutor", "ThreadedExecutor"]


class WorkerPool(ABC):
    """Workers that each hold a copy of one function; use as a context manager (or :meth:`close`)."""

    @abstractmethod
    def map_unordered(self, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(position, function(items[position]))`` for every item, as each finishes.

        Every item is computed exactly once unless its worker fails, in which case it is computed
        again (up to the executor's retry limit); a result is yielded once. Closing the iterator
        early cancels what has not finished.
        """

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Executor(ABC):
    """Runs a function over items somewhere: see the module docs."""

    @abstractmethod
    def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
        """A :class:`WorkerPool` whose workers each hold ``function`` (shipped once per worker)."""

    @property
    def n_workers(self) -> int:
        """How many items run at once (for sizing shards)."""
        return 1


class _InProcessPool(WorkerPool):
    def __init__(self, function: Callable[[Any], Any]) -> None:
        self._function = function

    def map_unordered(self, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for position, item in enumerate(items):
            yield position, self._function(item)


class InProcessExecutor(Executor):
    """Runs every item here, one after another, in order (the default everywhere)."""

    def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
        return _InProcessPool(function)

    def __repr__(self) -> str:
        return "InProcessExecutor()"


class _ThreadPool(WorkerPool):
    def __init__(self, function: Callable[[Any], Any], n_threads: int) -> None:
        self._function, self._n_threads = function, n_threads
        self._threads = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="stochamort")

    def map_unordered(self, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        pending: dict[Future[Any], int] = {}
        following = iter(range(len(items)))

        def submit_next() -> None:
            position = next(following, None)
            if position is not None:
                pending[self._threads.submit(self._function, items[position])] = position

        for _ in range(self._n_threads):  # no more in flight than threads: memory stays bounded
            submit_next()
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    position = pending.pop(future)
                    result = future.result()
                    submit_next()
                    yield position, result
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)


class ThreadedExecutor(Executor):
    """Runs ``n_threads`` items at once on threads of this process, sharing one ``function``.

    Made for a model on a GPU: while one chunk's forward pass runs on the device, another chunk's
    coalitions are sampled and its estimator solved on the CPU (the Rust core and torch release
    the GIL), so the device is not left waiting. :func:`~stochamort.labels.generate_labels` uses it
    by default for a model on CUDA. Results do not depend on it (each item is computed the same
    way wherever it runs); on a CPU-only machine it mostly competes with torch's own threads.

    The function is not copied, so it must be safe to call from several threads at once (label
    chunks are: each binds its own game; models run in evaluation mode without autograd).

    Args:
        n_threads: items in flight at once (2 overlaps one forward pass with one item's CPU work).

    Raises:
        InvalidArgumentError: naming ``n_threads`` unless it is a positive integer.
    """

    def __init__(self, n_threads: int = 2) -> None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
            raise InvalidArgumentError(f"n_threads: must be a positive integer, got {n_threads!r}")
        self._n_threads: int = int(n_threads)

    def pool(self, function: Callable[[Any], Any]) -> WorkerPool:
        return _ThreadPool(function, self._n_threads)

    @property
    def n_workers(self) -> int:
        return self._n_threads

    def __repr__(self) -> str:
        return f"ThreadedExecutor(n_threads={self._n_threads})"
