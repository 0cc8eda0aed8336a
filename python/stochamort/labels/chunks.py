"""The unit of work of a label store: one chunk's labels (:class:`ChunkWork`), and how the game
source is bound to a chunk's points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games.base import Game, PointRange
from stochamort.games.model import MaskedModel
from stochamort.oracles.base import Oracle
from stochamort.results import Estimate

__all__ = ["GameSource", "ChunkWork"]

GameSource = Union[MaskedModel, Game, Callable[[int, int], Game]]
"""What :func:`~stochamort.labels.generate_labels` explains: a :class:`~stochamort.games.MaskedModel`
(bound to each chunk of ``x`` in turn), a :class:`~stochamort.games.Game` already bound to all
points, or a factory ``(start, stop) -> Game`` returning the game of points ``start..stop - 1``."""


def chunk_games(game: GameSource, x: Any, n: int) -> Callable[[int, int], Game]:
    if isinstance(game, MaskedModel):
        return lambda start, stop: game.bind(x[start:stop])
    if isinstance(game, Game):
        if game.n_points != n:
            raise ShapeError(f"game: is bound to {game.n_points} points but x has {n}")
        return lambda start, stop: game if (start, stop) == (0, n) else PointRange(game, start, stop)
    if callable(game):
        return game
    raise InvalidArgumentError(
        f"game: must be a MaskedModel, a Game or a callable (start, stop) -> Game, got {type(game).__name__}"
    )


def bind_chunk(games: Callable[[int, int], Game], start: int, stop: int) -> Game:
    game = games(start, stop)
    if not isinstance(game, Game):
        raise InvalidArgumentError(f"game: the factory must return a Game, got {type(game).__name__}")
    if game.n_points != stop - start:
        raise ShapeError(f"game: the game for points {start}..{stop - 1} has {game.n_points} points, expected {stop - start}")
    return game


class ChunkWork:
    """Computes the labels of one chunk: ``work(index)`` is ``oracle(game of the chunk's points,
    seed=seed, point_offset=start)``, the same wherever it runs.

    Picklable (an executor ships it to each worker once) as long as the game source is. The game
    bound to the first chunk is kept for reuse in this process, not shipped.

    Args:
        game: the game source (see :data:`GameSource`).
        x: the inputs of all points.
        oracle: the label oracle.
        seed: its seed.
        chunk_size: points per chunk.
        n_players, n_outputs: what every chunk's game must have (the store's).
        first: the game already bound to chunk 0, if any.
    """

    def __init__(
        self, game: GameSource, x: Any, oracle: Oracle, seed: int, chunk_size: int,
        n_players: int, n_outputs: int, first: Game | None = None,
    ) -> None:
        self.game, self.x, self.oracle, self.seed, self.chunk_size = game, x, oracle, seed, chunk_size
        self.n_points = int(x.shape[0])
        self.n_players, self.n_outputs = n_players, n_outputs
        self._first = first

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_first": None}

    def chunk_range(self, index: int) -> tuple[int, int]:
        """The points ``[start, stop)`` of chunk ``index``."""
        start = index * self.chunk_size
        return start, min(self.n_points, start + self.chunk_size)

    def __call__(self, index: int) -> Estimate:
        start, stop = self.chunk_range(index)
        if index == 0 and self._first is not None:
            game = self._first
        else:
            game = bind_chunk(chunk_games(self.game, self.x, self.n_points), start, stop)
        if (game.n_players, game.n_outputs) != (self.n_players, self.n_outputs):
            raise ShapeError(
                f"game: the game for points {start}..{stop - 1} has {game.n_players} players and {game.n_outputs} "
                f"outputs, but the store has {self.n_players} and {self.n_outputs}"
            )
        return self.oracle(game, seed=self.seed, point_offset=start, progress=False)
