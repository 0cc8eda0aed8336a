"""Shared machinery of the oracles: settings, stopping rules, chunking of points, progress."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from stochamort._checks import check_flag, check_seed
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, NonFiniteError, RequestTooLargeError, StochamortError
from stochamort.limits import memory_limit
from stochamort.results import Estimate
from stochamort.games.base import Game

__all__ = ["Oracle", "StoppingRule", "MAX_CHUNK_CELLS", "global_points"]

#: Upper bound on mask cells (points × coalitions × players) held at once per chunk of points.
MAX_CHUNK_CELLS = 1 << 25


#: The point indices in a core error's message: "point(s) 1, 3" or "point 3".
_POINTS_IN_MESSAGE = re.compile(r"\b(points?(?:\(s\))? )(\d+(?:, \d+)*)")


@contextmanager
def global_points(indices: NDArray[np.int64]) -> Iterator[None]:
    """Renumber the points of a core error raised inside: the call's point ``i`` is ``indices[i]``.

    Oracles call the core on a chunk of points (or the chunk's still active points); wrapped in
    this, an error about points is re-raised as the same class, chained, with its ``points``
    attribute and its message giving the global indices, so the failing points can be found.
    """
    try:
        yield
    except StochamortError as err:
        if not err.points:
            raise

        def renumber(match: re.Match[str]) -> str:
            return match.group(1) + ", ".join(str(int(indices[int(p)])) for p in match.group(2).split(", "))

        message = _POINTS_IN_MESSAGE.sub(renumber, str(err), count=1)
        raise retold(err, message, points=tuple(int(indices[p]) for p in err.points)) from err


def retold(
    err: StochamortError, message: str, *, argument: str | None = None, points: tuple[int, ...] | None = None
) -> StochamortError:
    """``err``'s class with a new message, keeping its attributes unless given anew."""
    new = type(err)(message)
    new.argument = err.argument if argument is None else argument
    new.points = err.points if points is None else points
    return new


@dataclass(frozen=True)
class StoppingRule:
    """Ask for a precision rather than a number of samples.

    The oracle spends its budget in rounds; after each round, points whose largest standard error
    (over players and outputs) is at most ``target_std_error`` stop, once that standard error rests
    on at least ``min_replicates`` independent replicates (a standard error from two or three
    replicates is itself too noisy to stop on: it is often far too small by chance). No point ever
    uses more than ``max_evaluations`` game evaluations: a round that would exceed it is not started.
    With a target, the estimate's ``extras["target_met"]`` says which points reached it.

    Args:
        target_std_error: stop a point once every standard error is at most this (None: no target).
        max_evaluations: hard cap on evaluations per point (None: 64 rounds' worth when a target is set).
        min_replicates: replicates (permutations, pairs, samples, folds: what the estimator's
            degrees of freedom count, plus one) a point needs before its standard error can stop it.
    """

    target_std_error: float | None = None
    max_evaluations: int | None = None
    min_replicates: int = 10

    def __post_init__(self) -> None:
        t = self.target_std_error
        if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise InvalidArgumentError(f"target_std_error: must be a positive finite number, got {t!r}")
        m = self.max_evaluations
        if m is not None and (isinstance(m, (bool, np.bool_)) or not (isinstance(m, (int, np.integer)) and m >= 1)):
            raise InvalidArgumentError(f"max_evaluations: must be a positive integer, got {m!r}")
        if m is not None:
            object.__setattr__(self, "max_evaluations", int(m))
        r = self.min_replicates
        if isinstance(r, (bool, np.bool_)) or not (isinstance(r, (int, np.integer)) and r >= 1):
            raise InvalidArgumentError(f"min_replicates: must be a positive integer, got {r!r}")
        object.__setattr__(self, "min_replicates", int(r))

    def limit(self, round_cost: int, fixed_cost: int) -> int:
        """The largest number of rounds allowed for a point."""
        cap = self.max_evaluations
        if cap is None:
            return 64 if self.target_std_error is not None else 1
        rounds = (cap - fixed_cost) // round_cost
        if rounds < 1:
            raise InsufficientSamplesError(
                f"max_evaluations: {cap} cannot pay for one round ({fixed_cost + round_cost} evaluations per point)"
            )
        return rounds if self.target_std_error is not None else min(rounds, 1)

    def done(self, std_errors: NDArray[np.float64], dof: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
        """Which points ``(n,)`` meet the target, from standard errors ``(n, d, n_outputs)`` and
        their degrees of freedom ``(n,)`` or per cell (the fewest of a point's cells count; None:
        unknown, the target alone decides)."""
        if self.target_std_error is None or std_errors.shape[0] == 0:
            return np.zeros(std_errors.shape[0], dtype=np.bool_)
        worst: NDArray[np.float64] = std_errors.reshape(std_errors.shape[0], -1).max(axis=1)
        met = worst <= self.target_std_error
        if dof is not None:
            dof = np.asarray(dof, dtype=np.float64).reshape(std_errors.shape[0], -1).min(axis=1, initial=np.inf)
            met &= dof + 1 >= self.min_replicates
        return np.asarray(met, dtype=np.bool_)


@dataclass(frozen=True)
class Oracle(ABC):
    """A noisy estimator of every point's attribution in a game, batched over points.

    Call it as ``oracle(game, seed=0)`` to get an :class:`~stochamort.results.Estimate` with
    values, standard errors and evaluations per point. ``point_offset`` is the global index of the
    game's first point, so that a dataset explained in several games gets the same draws as one.
    """

    #: The attribution the oracle estimates: "shapley", "banzhaf" or "lime".
    target: ClassVar[str]
    #: Whether E[estimate] equals the target exactly (for any budget).
    unbiased: ClassVar[bool]

    stopping: StoppingRule | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        # numpy scalars (np.uint8(12), np.True_) become Python ones once, here: kept as numpy, a
        # budget would overflow in the arithmetic that sizes rounds and chunks.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.bool_):
                object.__setattr__(self, f.name, bool(value))
            elif isinstance(value, np.integer):
                object.__setattr__(self, f.name, int(value))
            elif isinstance(value, np.floating):
                object.__setattr__(self, f.name, float(value))

    def settings(self) -> dict[str, Any]:
        """The oracle's name and settings, e.g. for a label store's manifest."""
        return {"oracle": type(self).__name__, **asdict(self)}

    def __call__(
        self, game: Game, *, seed: int = 0, point_offset: int = 0, progress: bool = True
    ) -> Estimate:
        """Estimate the attributions of all of ``game``'s points."""
        if not isinstance(game, Game):
            raise InvalidArgumentError(f"game: must be a stochamort.games.Game, got {type(game).__name__}")
        check_seed(seed)
        progress = check_flag("progress", progress)
        if not isinstance(point_offset, (int, np.integer)) or point_offset < 0:
            raise InvalidArgumentError(f"point_offset: must be a non-negative integer, got {point_offset!r}")
        if int(point_offset) + game.n_points >= 2**63:  # global point indices are int64
            raise InvalidArgumentError(
                f"point_offset: point_offset + the game's {game.n_points} points must stay below 2**63, got {point_offset!r}"
            )
        if self.stopping is not None and not isinstance(self.stopping, StoppingRule):
            raise InvalidArgumentError(f"stopping: must be a StoppingRule or None, got {type(self.stopping).__name__}")
        self._validate(game)
        n, d, o = game.n_points, game.n_players, game.n_outputs
        cells = self._cells_per_point(game)
        if cells > memory_limit():
            raise RequestTooLargeError(
                f"budget: {type(self).__name__} would hold {cells} mask cells ({cells / 2**30:.1f} GiB) for one point "
                f"of this {d}-player game, more than the memory limit of {memory_limit() / 2**30:.1f} GiB; lower the budget "
                "(or raise the limit with stochamort.set_memory_limit)"
            )
        result_bytes = 2 * 8 * n * d * o  # values and standard errors, float64
        if result_bytes > memory_limit():
            raise RequestTooLargeError(
                f"game: the estimates of its {n} points x {d} players x {o} outputs would take {result_bytes / 2**30:.1f} GiB, "
                f"more than the memory limit of {memory_limit() / 2**30:.1f} GiB; explain fewer points at a time "
                "(e.g. with stochamort.games.PointRange, or raise the limit with stochamort.set_memory_limit)"
            )
        out = _Accumulator(n, d, o)
        chunk = max(1, MAX_CHUNK_CELLS // max(1, cells))
        with tqdm(total=n, desc=type(self).__name__, unit="pt", disable=not progress, leave=False) as bar:
            for start in range(0, n, chunk):
                points = np.arange(start, min(n, start + chunk), dtype=np.int64)
                est = self._estimate_chunk(game, points, int(seed), int(point_offset))
                check_finite_estimate(est, points + int(point_offset))
                out.put(points, est)
                bar.update(len(points))
        result = out.result()
        if self.stopping is not None and self.stopping.target_std_error is not None:
            # Which points reached the target before max_evaluations (or 64 rounds) ran out.
            result.extras["target_met"] = self.stopping.done(result.std_errors, result.dof)
        return result

    def _validate(self, game: Game) -> None:
        """Check that the oracle can run on this game (budget large enough, ...)."""

    @abstractmethod
    def _cells_per_point(self, game: Game) -> int:
        """Mask cells one point needs per round (sizes the chunks of points)."""

    @abstractmethod
    def _estimate_chunk(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int) -> Estimate:
        """The estimate for a chunk of the game's points."""


def check_finite_estimate(est: Estimate, points: NDArray[np.int64]) -> None:
    """Refuse estimates that overflowed float64 (finite game values whose differences or squares
    do not fit), naming the points: an infinite or NaN attribution is never a result. Infinite
    standard errors are allowed (too few samples for a variance), NaN ones are not."""
    bad = ~np.isfinite(est.values).reshape(est.n_points, -1).all(axis=1) | np.isnan(est.std_errors).reshape(est.n_points, -1).any(axis=1)
    if bad.any():
        where = ", ".join(str(int(p)) for p in points[bad][:10])
        raise NonFiniteError(
            f"values: the estimate overflowed float64 at point(s) {where} (the game's values or their differences are "
            "too large); rescale the game's outputs"
        )


class _Accumulator:
    """Collects per-chunk estimates into arrays for all points."""

    def __init__(self, n: int, d: int, o: int) -> None:
        self.values = np.zeros((n, d, o))
        self.std_errors = np.zeros((n, d, o))
        self.n_evaluations = np.zeros(n, dtype=np.int64)
        self.extras: dict[str, NDArray[Any]] = {}

    def put(self, points: NDArray[np.int64], est: Estimate) -> None:
        self.values[points] = est.values
        self.std_errors[points] = est.std_errors
        self.n_evaluations[points] = est.n_evaluations
        for name, array in est.extras.items():
            if name not in self.extras:
                self.extras[name] = np.zeros((self.values.shape[0], *array.shape[1:]), dtype=array.dtype)
            self.extras[name][points] = array

    def result(self) -> Estimate:
        return Estimate(self.values, self.std_errors, self.n_evaluations, self.extras)
