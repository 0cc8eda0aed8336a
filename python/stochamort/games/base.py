"""What an oracle needs from a game: values of coalitions for a batch of bound points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import real_values
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError

__all__ = ["Game", "FunctionGame", "PointRange", "check_game_values"]


class Game(ABC):
    """A cooperative game v_x(S) for each of ``n_points`` points x, with vector values.

    Oracles ask for values of many coalitions of many points at once through :meth:`evaluate`;
    implementations evaluate them in large batches (on the model's device for model games).
    """

    @property
    @abstractmethod
    def n_points(self) -> int:
        """Number of points the game is bound to."""

    @property
    @abstractmethod
    def n_players(self) -> int:
        """Number of players d (features, feature groups, patches or tokens)."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """Number of outputs (e.g. classes) valued at once."""

    @abstractmethod
    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        """Values ``(len(points), n_coalitions, n_outputs)`` of ``masks`` ``(len(points), n_coalitions, d)``."""

    def evaluate(self, masks: Any, points: Any = None) -> NDArray[np.float64]:
        """Values of coalitions for some of the bound points.

        Args:
            masks: bool array ``(n, n_coalitions, n_players)``; ``True`` marks a present player.
            points: indices ``(n,)`` of the bound points the masks belong to (default: all points,
                in order).

        Returns:
            float64 array ``(n, n_coalitions, n_outputs)``.

        Raises:
            NonFiniteError: if a value is NaN or infinite; the message names the offending points.
        """
        masks = np.asarray(masks)
        if masks.dtype != np.bool_:
            from stochamort.errors import InvalidDTypeError

            raise InvalidDTypeError(f"masks: expected a bool array, got dtype {masks.dtype}")
        if points is None:
            points = np.arange(self.n_points)
        points = np.asarray(points, dtype=np.int64)
        if masks.ndim != 3 or masks.shape[0] != points.shape[0] or masks.shape[2] != self.n_players:
            raise ShapeError(
                f"masks: expected shape ({points.shape[0]}, n_coalitions, {self.n_players}), got {masks.shape}"
            )
        if points.size and (points.min() < 0 or points.max() >= self.n_points):
            raise InvalidArgumentError(f"points: indices must lie in [0, {self.n_points}), got {points.min()}..{points.max()}")
        values = self._evaluate(masks, points)
        check_game_values(values, points)
        return values

    def endpoints(self, points: Any = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """v(∅) and v(all players) for the given points, ``(n, n_outputs)`` each."""
        n = self.n_points if points is None else len(np.asarray(points))
        masks = np.zeros((n, 2, self.n_players), dtype=np.bool_)
        masks[:, 1] = True
        values = self.evaluate(masks, points)
        return values[:, 0], values[:, 1]


def check_game_values(values: NDArray[np.float64], points: NDArray[np.int64]) -> None:
    """Refuse NaN or infinite game values, naming the (global) points that produced them."""
    bad = ~np.isfinite(values).reshape(values.shape[0], -1).all(axis=1)
    if bad.any():
        offenders = points[bad]
        shown = ", ".join(str(p) for p in offenders[:10]) + (f" and {len(offenders) - 10} more" if len(offenders) > 10 else "")
        raise NonFiniteError(f"values: the game returned NaN or infinity at point(s) {shown}")


class FunctionGame(Game):
    """A game given by a vectorised function ``fn(masks, points) -> values``.

    Useful for synthetic games and tests: ``fn`` receives bool masks ``(n, n_coalitions, d)`` and
    the point indices ``(n,)``, and returns values ``(n, n_coalitions, n_outputs)``.
    """

    def __init__(
        self,
        fn: Callable[[NDArray[np.bool_], NDArray[np.int64]], Any],
        n_points: int,
        n_players: int,
        n_outputs: int = 1,
    ) -> None:
        for name, value, minimum in (("n_points", n_points, 0), ("n_players", n_players, 1), ("n_outputs", n_outputs, 1)):
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
        self._fn = fn
        self._n_points, self._n_players, self._n_outputs = int(n_points), int(n_players), int(n_outputs)

    @property
    def n_points(self) -> int:
        return self._n_points

    @property
    def n_players(self) -> int:
        return self._n_players

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        values = real_values("fn", self._fn(masks, points))
        expected = (masks.shape[0], masks.shape[1], self._n_outputs)
        if values.shape != expected:
            raise ShapeError(f"fn: must return values of shape {expected}, got {values.shape}")
        return values


class PointRange(Game):
    """Points ``start..stop - 1`` of a game bound to more points, as a game of its own.

    Call an oracle on it with ``point_offset=start`` to get exactly the estimates of those points
    in a call over the whole game (the draws follow the global point index).


    Raises:
        InvalidArgumentError: naming ``parent``, ``start`` or ``stop`` for anything but a game and
            integers with ``0 <= start < stop <= parent.n_points``.
    """

    def __init__(self, parent: Game, start: int, stop: int) -> None:
        if not isinstance(parent, Game):
            raise InvalidArgumentError(f"parent: must be a Game, got {type(parent).__name__}")
        for name, value in (("start", start), ("stop", stop)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise InvalidArgumentError(f"{name}: must be an integer, got {value!r}")
        if not 0 <= start < stop <= parent.n_points:
            raise InvalidArgumentError(f"start: need 0 <= start < stop <= {parent.n_points}, got start={start}, stop={stop}")
        self._parent, self._start, self._stop = parent, int(start), int(stop)

    @property
    def n_points(self) -> int:
        return self._stop - self._start

    @property
    def n_players(self) -> int:
        return self._parent.n_players

    @property
    def n_outputs(self) -> int:
        return self._parent.n_outputs

    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._parent.evaluate(masks, points + self._start)
