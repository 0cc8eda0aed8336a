"""Where independent pieces of work run: in this process, or on an engine such as Ray.

A job that splits into independent items (the chunks of a label store, shards of subsets to fit)
hands an :class:`Executor` one picklable *function* and a list of items. The executor starts a
:class:`WorkerPool` for that function, shipping it (the model, the inputs, the oracle it holds)
to each worker once, and yields ``(position, result)`` pairs as items finish, in any order. The
caller, in this process, does everything with side effects (writing files), so what is computed
does not depend on where it ran.

:class:`InProcessExecutor` is the default: one item after another, here.
:class:`stochamort.distributed.RayExecutor` runs the items as tasks on a Ray cluster.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

__all__ = ["Executor", "WorkerPool", "InProcessExecutor"]


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
