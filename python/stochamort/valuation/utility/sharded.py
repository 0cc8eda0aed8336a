"""Model fits farmed out to workers: :class:`ShardedUtility` wraps any utility and evaluates each
batch of subsets as shards on an :class:`~stochamort.executors.Executor` (e.g. a Ray cluster)."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import check_int
from stochamort.errors import InvalidArgumentError
from stochamort.executors import Executor, WorkerPool
from stochamort.valuation.utility.base import Utility

__all__ = ["ShardedUtility"]


class _EvaluateShard:
    """What each worker holds: the wrapped utility (shipped once), evaluating one shard of counts."""

    def __init__(self, utility: Utility) -> None:
        self.utility = utility

    def __call__(self, counts: NDArray[Any]) -> NDArray[np.float64]:
        return self.utility.evaluate(counts)


class ShardedUtility(Utility):
    """The utility ``utility``, its subsets evaluated in shards by ``executor``'s workers.

    Every call of :meth:`evaluate` splits its subsets into shards of about ``shard_size`` rows,
    evaluates them on the workers (each holds its own copy of ``utility``, shipped once) and puts
    the values back in order, so an oracle given this utility returns the same data values as
    with ``utility`` itself, as long as a subset's utility does not depend on which other
    subsets share its batch (true of the library's utilities: each model is fitted on its own).
    The workers start at the first evaluation and stay up until :meth:`close` (or the end of a
    ``with`` block).

    Args:
        utility: the utility to evaluate (picklable: a model utility with its data).
        executor: where to evaluate, e.g. :class:`stochamort.distributed.RayExecutor`.
        shard_size: subsets per shard (default: each batch split into 4 shards per worker,
            so that a slow shard does not hold up the rest).

    Example::

        with ShardedUtility(TorchLogisticUtility(x, y, x_val, y_val), RayExecutor()) as utility:
            values = DistributionalShapley(5)(utility, seed=0)
    """

    def __init__(self, utility: Utility, executor: Executor, *, shard_size: int | None = None) -> None:
        super().__init__()
        if not isinstance(utility, Utility):
            raise InvalidArgumentError(f"utility: must be a stochamort.valuation.Utility, got {type(utility).__name__}")
        if not isinstance(executor, Executor):
            raise InvalidArgumentError(f"executor: must be a stochamort.executors.Executor, got {type(executor).__name__}")
        self.utility, self.executor = utility, executor
        self.shard_size = None if shard_size is None else check_int("shard_size", shard_size, 1)
        self._pool: WorkerPool | None = None

    @property
    def n_data(self) -> int:
        return self.utility.n_data

    def _evaluate(self, counts: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.float64]:
        if self._pool is None:
            self._pool = self.executor.pool(_EvaluateShard(self.utility))
        m = counts.shape[0]
        size = self.shard_size or max(1, math.ceil(m / (4 * self.executor.n_workers)))
        starts = list(range(0, m, size))
        values = np.empty(m, dtype=np.float64)
        for position, shard in self._pool.map_unordered([counts[lo : lo + size] for lo in starts]):
            values[starts[position] : starts[position] + size] = shard
        return values

    def with_points(self, x: Any, y: Any) -> ShardedUtility:
        """The wrapped utility with ``(x, y)`` appended, sharded on the same executor (new workers)."""
        return ShardedUtility(self.utility.with_points(x, y), self.executor, shard_size=self.shard_size)

    def close(self) -> None:
        """Stop the workers (they start again at the next evaluation)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> ShardedUtility:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": None}
