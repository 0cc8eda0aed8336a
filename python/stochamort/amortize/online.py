"""Labels drawn online from an oracle: :class:`OracleLabels`, a ``label_fn`` for
:func:`~stochamort.amortize.train_amortizer_online`, and :func:`epoch_seed`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import check_int
from stochamort.errors import InvalidArgumentError
from stochamort.results import Estimate

__all__ = ["OracleLabels", "epoch_seed"]


class _Bindable(Protocol):
    def bind(self, x: Any) -> Any: ...


def epoch_seed(seed: int, epoch: int) -> int:
    """A 64-bit seed for ``epoch`` derived from ``seed`` (independent streams per epoch)."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)
    return int(state[0])


class OracleLabels:
    """A ``label_fn`` for :func:`~stochamort.amortize.train_amortizer_online` that runs an oracle on a model game.

    ``OracleLabels(oracle, family, x, seed=0)(indices, epoch)`` binds ``family`` (e.g. a
    :class:`~stochamort.games.MaskedModel`) to ``x[indices]`` and returns
    ``oracle(game, seed=epoch_seed(seed, epoch), point_offset=indices[0])``: each point's draw
    depends only on (seed, epoch, point index), not on the chunking. The evaluations spent are
    added up in :attr:`n_evaluations` (for a :class:`~stochamort.amortize.ComputeLedger`).
    """

    def __init__(self, oracle: Callable[..., Estimate], family: _Bindable, x: Any, *, seed: int = 0) -> None:
        if not callable(oracle):
            raise InvalidArgumentError(f"oracle: must be an oracle (callable on a game), got {type(oracle).__name__}")
        if not hasattr(family, "bind"):
            raise InvalidArgumentError(f"family: must have .bind(x) (e.g. a MaskedModel), got {type(family).__name__}")
        self.oracle = oracle
        self.family = family
        self.x = x
        self.seed = check_int("seed", seed, 0)
        self.n_evaluations = 0

    def __call__(self, indices: NDArray[np.int64], epoch: int) -> Estimate:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            raise InvalidArgumentError("indices: must not be empty")
        start = int(indices[0])
        if not np.array_equal(indices, np.arange(start, start + indices.size)):
            raise InvalidArgumentError("indices: must be a contiguous increasing range (point_offset needs it)")
        game = self.family.bind(self.x[start : start + indices.size])
        estimate = self.oracle(game, seed=epoch_seed(self.seed, epoch), point_offset=start, progress=False)
        self.n_evaluations += int(np.sum(estimate.n_evaluations))
        return estimate
